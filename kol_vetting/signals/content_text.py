"""Shared text machinery of the content-risk signals (controversy, disclosure, claims, check-text).

Every content-risk signal and the pre-publication check read text the same way, through the
functions here, so a phrase is judged identically in the pipeline and in ``check-text``:

* :func:`with_text_views` adds the *normalised* and *compact* views of a text column once
  (:func:`kol_vetting.text.normalize.normalize_expr` / ``compact_expr``); lexicon matching then
  reuses them instead of re-normalising per lexicon group.
* :func:`lexicon_hits` is :func:`kol_vetting.text.lexicons.match_terms` on those precomputed
  views (same regexes, exclusions and views, built by the lexicon module's own helpers), which
  makes matching many groups ~6x cheaper. ``tests/test_content_risk.py`` checks it returns
  exactly what ``match_terms`` returns.
* :func:`model_view_expr` is :func:`kol_vetting.text.sentiment.model_text_expr` on the
  precomputed views (same emoji symbols and cue markers).
* :class:`FastCharScorer` scores a linear character n-gram TF-IDF model (the committed sentiment
  and offensive artifacts) with numpy: n-grams are packed into 64-bit keys from the code points
  and looked up in the sorted vocabulary, counts are summed in a sparse matrix. It gives the
  same probabilities as ``SentimentModel.negative_probability`` (to 1e-9) at 10-30x the speed,
  because the Python loop over n-grams is gone. :func:`model_probability` wraps it.

All functions take and return Polars expressions or Series; nothing loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from kol_vetting.text import lexicons as _lex
from kol_vetting.text import normalize as _normalize
from kol_vetting.text.normalize import EMOJI_TOKEN, compact_expr, core_expr, normalize_expr
from kol_vetting.text.sentiment import (
    CUE_GROUPS,
    CUE_SYMBOLS,
    EMOJI_SYMBOLS,
    SentimentModel,
    _emoji_replacements,
)

#: Column names of the views added by :func:`with_text_views` (prefix + suffix).
NORM = "_norm"
COMPACT = "_compact"


def with_text_views(
    frame: pl.DataFrame | pl.LazyFrame, text_col: str, prefix: str = ""
) -> pl.DataFrame | pl.LazyFrame:
    """Add ``{prefix}_norm`` and ``{prefix}_compact`` (normalised and matching views) of a text column.

    In: a frame with a String column ``text_col``. Out: the same frame plus the two views
    (nulls stay null). Compute once, then pass the views to :func:`lexicon_hits`.
    """
    norm = f"{prefix}{NORM}"
    return frame.with_columns(normalize_expr(pl.col(text_col)).alias(norm)).with_columns(
        compact_expr(pl.col(norm), normalized=True).alias(f"{prefix}{COMPACT}")
    )


#: Columns of :func:`note_text_views`.
NOTE_VIEW_COLUMNS = ("note_id", "norm", "compact", "text_norm", "text_compact")
NOTE_VIEWS_SCHEMA = pl.Schema({c: pl.String() for c in NOTE_VIEW_COLUMNS})


def note_full_text(title: pl.Expr, body: pl.Expr, tags: pl.Expr | None, separator: str = "\n") -> pl.Expr:
    """A note's whole text: title, body and ``#tag1 #tag2`` joined (disclosure's ``_full``)."""
    parts = [title.fill_null(""), body.fill_null("")]
    if tags is not None:
        parts.append(tag_pile(tags))
    return pl.concat_str(parts, separator=separator)


def tag_pile(tags: pl.Expr) -> pl.Expr:
    """``#tag1 #tag2`` of a tag list ("" for none)."""
    tl = tags.fill_null([])
    return pl.when(tl.list.len() > 0).then(pl.lit("#") + tl.list.join(" #")).otherwise(pl.lit(""))


def note_body_text(title: pl.Expr, body: pl.Expr) -> pl.Expr:
    """Title and body joined by a newline (the text controversy reads)."""
    return pl.concat_str([title.fill_null(""), body.fill_null("")], separator="\n")


def note_text_views(notes: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Text views of every note, computed once and shared by the content signals.

    In: notes (contract columns ``note_id``, ``title``, ``body``, ``tags``; other columns are
    ignored). Out: :data:`NOTE_VIEWS_SCHEMA`, one row per input row, same order:

    * ``norm`` / ``compact``: normalised and matching views of title, body and ``#tags``
      (:func:`note_full_text`), what :func:`kol_vetting.signals.disclosure.audit_disclosure`
      and :func:`kol_vetting.signals.alignment.score_alignment` read;
    * ``text_norm`` / ``text_compact``: the same of title and body only (:func:`note_body_text`),
      what :func:`kol_vetting.signals.controversy.detect_controversy` reads.

    Pass the frame as ``views=`` to those functions (all three accept it; without it each
    computes the views itself, with identical results). Normalisation is local up to whitespace
    (no step looks across a whitespace character; whitespace is collapsed last), so the view of
    the whole text is the view of title and body joined by one space to the view of the tag
    pile: the title and body are normalised once for both.
    """
    if isinstance(notes, pl.LazyFrame):
        notes = notes.collect()
    if notes.height == 0:
        return pl.DataFrame(schema=NOTE_VIEWS_SCHEMA)
    has_tags = "tags" in notes.columns
    t = pl.col("title") if "title" in notes.columns else pl.lit(None, dtype=pl.String)
    b = pl.col("body") if "body" in notes.columns else pl.lit(None, dtype=pl.String)
    tag_piece = tag_pile(pl.col("tags")) if has_tags else pl.lit("", dtype=pl.String)
    df = notes.select(
        pl.col("note_id").cast(pl.String),
        normalize_expr(note_body_text(t, b)).alias("text_norm"),
        normalize_expr(tag_piece).alias("_tag_norm"),
    ).with_columns(
        compact_expr(pl.col("text_norm"), normalized=True).alias("text_compact"),
        compact_expr(pl.col("_tag_norm"), normalized=True).alias("_tag_compact"),
    )
    tn, gn = pl.col("text_norm"), pl.col("_tag_norm")
    return df.select(
        "note_id",
        pl.when(gn == "").then(tn).when(tn == "").then(gn).otherwise(pl.concat_str([tn, gn], separator=" ")).alias("norm"),
        _join_compact(pl.col("text_compact"), pl.col("_tag_compact")).alias("compact"),
        "text_norm",
        "text_compact",
    )


def _join_compact(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """Compact view of ``norm(A) + " " + norm(B)`` from the compact views ``a``, ``b`` of A and B.

    Compacting only deletes characters, never across whitespace except in one step: a run of
    filler characters (whitespace included) with a Chinese character on both sides is deleted.
    So the joined view is ``a + " " + b``, except that the run around the joining space (the
    filler ending ``a``, the space, the filler starting ``b``) goes when a Chinese character
    precedes it in ``a`` and one follows it in ``b``. An empty view (its text was only
    whitespace, emoji tokens or topic markers) leaves the other alone.
    """
    fill = _normalize._FILLER
    glue = a.str.contains(r"\p{Han}" + fill + r"*$") & b.str.contains(r"^" + fill + r"*\p{Han}")
    glued = pl.concat_str([a.str.replace(fill + r"+$", ""), b.str.replace(r"^" + fill + r"+", "")])
    return (
        pl.when(b == "")
        .then(a)
        .when(a == "")
        .then(b)
        .when(glue)
        .then(glued)
        .otherwise(pl.concat_str([a, b], separator=" "))
    )


def attach_views(
    frame: pl.DataFrame,
    text: pl.Expr,
    *,
    views: pl.DataFrame | None = None,
    source: tuple[str, str] = ("norm", "compact"),
    names: tuple[str, str] = (NORM, COMPACT),
    recompute: pl.Expr | None = None,
) -> pl.DataFrame:
    """``frame`` plus the normalised and compact views of ``text``, named ``names``.

    Without ``views`` they are computed (as :func:`with_text_views`). With ``views`` (the output
    of :func:`note_text_views` for the same notes) the ``source`` columns are joined on
    ``note_id``; rows the views do not cover, and rows where ``recompute`` is true (a text that
    differs from the shared one), are computed here, so the result is the same either way.
    Views that repeat a ``note_id`` of the frame are not used (they cannot be joined
    unambiguously). Views in the frame's own row order (same ``note_id`` column) are taken as
    they are, without a join.
    """
    n_name, c_name = names

    def own(df: pl.DataFrame) -> pl.DataFrame:
        return df.with_columns(normalize_expr(text).alias(n_name)).with_columns(
            compact_expr(pl.col(n_name), normalized=True).alias(c_name)
        )

    if views is None or "note_id" not in frame.columns or frame.height == 0:
        return own(frame)
    v = views.select(
        pl.col("note_id").cast(pl.String), pl.col(source[0]).alias(n_name), pl.col(source[1]).alias(c_name)
    )
    if v.height == frame.height and v["note_id"].equals(frame["note_id"].cast(pl.String), check_names=False):
        out = frame.with_columns(v[n_name], v[c_name])  # the same notes in the same order
    else:
        out = frame.join(v, on="note_id", how="left", maintain_order="left")
        if out.height != frame.height:  # a note id repeated in the views: not joinable
            return own(frame)
    need = pl.col(n_name).is_null()
    if recompute is not None:
        need = need | recompute.fill_null(False)
    idx = out.select(need.alias("_need")).to_series().arg_true()
    if idx.len():
        sub = out[idx].select(normalize_expr(text).alias(n_name)).with_columns(
            compact_expr(pl.col(n_name), normalized=True).alias(c_name)
        )
        out = out.with_columns(
            out[n_name].scatter(idx, sub[n_name]), out[c_name].scatter(idx, sub[c_name])
        )
    return out


def lexicon_hits(
    lexicon_name: str,
    group: str | Sequence[str] | None = None,
    *,
    norm: pl.Expr | str = NORM,
    compact: pl.Expr | str = COMPACT,
    unique: bool = True,
) -> pl.Expr:
    """Matched lexicon terms per row (``List[str]``), from precomputed views.

    Same result as ``match_terms(text, lexicon_name, group, unique=unique)`` on the raw text, given
    ``norm`` = normalised and ``compact`` = compact view of that text (column names or
    expressions). Groups are matched in file order; each on its own view (compact, normalized,
    or core, which is derived from compact here).
    """
    lex = _lex.load_lexicon(lexicon_name)
    names = [group] if isinstance(group, str) else list(group or lex.groups)
    n = pl.col(norm) if isinstance(norm, str) else norm
    c = pl.col(compact) if isinstance(compact, str) else compact
    views = {"normalized": n, "compact": c, "core": core_expr(c, compacted=True)}
    pieces: list[pl.Expr] = []
    for gname in names:
        g = lex.group(gname)
        rx = _lex._group_regex(g)
        if rx is None:
            continue
        view = "core" if g.whole_text and g.view == "compact" else g.view
        pieces.append(views[view].str.extract_all(rx).list.eval(pl.element().filter(_lex._keep_expr(g))))
    if not pieces:
        return pl.when(n.is_null()).then(None).otherwise(pl.lit([], dtype=pl.List(pl.String)))
    out = pieces[0] if len(pieces) == 1 else pl.concat_list(pieces)
    if unique:
        out = out.list.unique(maintain_order=True)
    return out


def model_view_expr(norm: pl.Expr | str = NORM, compact: pl.Expr | str = COMPACT) -> pl.Expr:
    """The sentiment/offensive model's text view from precomputed views.

    Identical to ``kol_vetting.text.sentiment.model_text_expr`` on the raw text: emoji tokens as
    polarity symbols, then one cue marker per complaint / praise cue hit. Nulls become "".
    """
    n = (pl.col(norm) if isinstance(norm, str) else norm).fill_null("")
    c = (pl.col(compact) if isinstance(compact, str) else compact).fill_null("")
    src, dst = _emoji_replacements()
    view = n.str.replace_many(src, dst).str.replace_all(EMOJI_TOKEN, EMOJI_SYMBOLS["neutral"])
    for kind, spec in CUE_GROUPS.items():
        hits = pl.concat_list(
            [lexicon_hits(lex, groups, norm=n, compact=c, unique=False) for lex, groups in spec.items()]
        ).list.len()
        view = view + pl.lit(" " + CUE_SYMBOLS[kind]).repeat_by(hits).list.join("")
    return view


# ---------------------------------------------------------------------------------------------
# Fast scoring of the linear character n-gram models

_BITS = 21  # every Unicode code point fits in 21 bits, so three fit in one uint64


def _pack(cps: Sequence[int]) -> int:
    key = 0
    for cp in cps:
        key = (key << _BITS) | cp
    return key


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class _HashIndex:
    """Open-addressing hash table (linear probing, load <= 1/4) from int64 keys to int64
    values, built and queried with whole-array numpy operations (no Python loop per key)."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        n = len(keys)
        self.bits = max(4, int(4 * n - 1).bit_length())
        size = 1 << self.bits
        self.mask = size - 1
        self.tkeys = np.full(size, -1, dtype=np.int64)
        self.tvals = np.full(size, -1, dtype=np.int64)
        keys = np.asarray(keys, dtype=np.int64)
        values = np.asarray(values, dtype=np.int64)
        pending = np.arange(n)
        slot = self._slot(keys)
        while pending.size:
            sl = slot[pending]
            free = self.tkeys[sl] == -1
            # one key per free slot in this round; the others probe on
            taken, first = np.unique(sl[free], return_index=True)
            win = pending[free][first]
            self.tkeys[taken] = keys[win]
            self.tvals[taken] = values[win]
            placed = np.zeros(n, dtype=bool)
            placed[win] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & self.mask

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * _GOLDEN) >> np.uint64(64 - self.bits)).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """Value per key, -1 where absent."""
        out = np.full(len(keys), -1, dtype=np.int64)
        idx = np.arange(len(keys))
        slot = self._slot(keys)
        k = keys
        while idx.size:
            tk = self.tkeys[slot]
            hit = tk == k
            out[idx[hit]] = self.tvals[slot[hit]]
            more = (tk != -1) & ~hit
            idx, k, slot = idx[more], k[more], (slot[more] + 1) & self.mask
        return out


class FastCharScorer:
    """Vectorized scorer of a :class:`~kol_vetting.text.sentiment.SentimentModel` with a
    character n-gram analyzer (n <= 3), equal to its ``predict_proba_model_texts``.

    In: model-view strings (see :func:`model_view_expr`). Out: P(positive class) per string.

    How: the characters of the vocabulary are numbered densely (an *alphabet* of K); an n-gram
    is the base-K number of its characters' numbers, looked up in a :class:`_HashIndex` of the
    vocabulary. Positions holding a character outside the alphabet start no n-gram; when the
    vocabulary is closed under prefixes and suffixes (every sub-n-gram of a term is a term, as
    a min-df cut makes it), trigrams are looked up only where both of their bigrams hit. Counts
    per (text, feature) come from sorting the packed pairs; the sums run in feature order per
    text, so the margins are bit-for-bit those of the previous implementation.
    """

    def __init__(self, model: SentimentModel) -> None:
        lo, hi = model.ngram_range
        if model.analyzer_name != "char" or hi > 3 or lo < 1:
            raise ValueError("FastCharScorer handles character 1-3 gram models only")
        self.model = model
        self.lo, self.hi = lo, hi
        terms = list(model.vocabulary)
        feats_all = np.fromiter(model.vocabulary.values(), dtype=np.int64, count=len(terms))
        lens = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        # n-grams with a NUL cannot occur (NUL separates texts) and longer ones are never produced
        keep = (lens >= lo) & (lens <= hi)
        if "\x00" in "".join(terms):
            keep &= np.array(["\x00" not in t for t in terms], dtype=bool)
        alphabet = sorted(set("".join(t for t, k in zip(terms, keep) if k)))
        K = len(alphabet)
        if K >= 1 << 20:
            raise ValueError("alphabet too large for packed trigram keys")
        self.K = K
        self.dense = np.full(0x110000, -1, dtype=np.int64)  # code point -> alphabet number
        if K:
            self.dense[np.array([ord(c) for c in alphabet], dtype=np.int64)] = np.arange(K)
        self.uni = np.full(max(K, 1), -1, dtype=np.int64)  # alphabet number -> unigram feature
        self.index: dict[int, _HashIndex] = {}
        for n in (1, 2, 3):
            sel = np.flatnonzero(keep & (lens == n))
            if not len(sel):
                continue
            cps = np.frombuffer("".join([terms[i] for i in sel]).encode("utf-32-le"), dtype=np.uint32)
            d = self.dense[cps].reshape(len(sel), n)
            if n == 1:
                self.uni[d[:, 0]] = feats_all[sel]
                continue
            key = d[:, 0]
            for c in range(1, n):
                key = key * K + d[:, c]
            self.index[n] = _HashIndex(key, feats_all[sel])
            if n == 3:
                # closed under prefixes and suffixes: every trigram's two bigrams are terms
                two = self.index.get(2)
                self.closed = two is not None and bool(
                    (two.get(d[:, 0] * K + d[:, 1]) >= 0).all() and (two.get(d[:, 1] * K + d[:, 2]) >= 0).all()
                )
        self.closed = getattr(self, "closed", False)
        self.row_shift = max(len(model.vocabulary).bit_length(), 1)
        self.idf = np.asarray(model.idf, dtype=np.float64)
        self.coef = np.asarray(model.coef, dtype=np.float64)
        self.idf_coef = self.idf * self.coef
        self.idf_sq = self.idf * self.idf
        self.intercept = float(model.intercept)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Raw margins (intercept + w . tfidf) of model-view strings."""
        m = len(texts)
        if m == 0:
            return np.zeros(0)
        joined = "\x00".join(t.replace("\x00", "") for t in texts) + "\x00"
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        sep = cp == 0
        # (text index << row_shift) of each position: the high half of a packed (text, feature)
        base = ((np.cumsum(sep) - sep) << self.row_shift).view(np.uint64)
        d = self.dense[cp]  # -1: separator or a character in no term
        L, K = len(cp), self.K
        combos = []  # (text index << row_shift) | feature index, per in-vocabulary n-gram occurrence

        def add(pos: np.ndarray, f: np.ndarray) -> None:
            hit = f >= 0
            combos.append(base[pos[hit]] | f[hit].view(np.uint64))

        known = d >= 0
        if self.lo <= 1:
            pos = np.flatnonzero(known)
            add(pos, self.uni[d[pos]])
        f2 = None
        if self.hi >= 2 and L >= 2 and 2 in self.index:
            pos2 = np.flatnonzero(known[:-1] & known[1:])
            f2 = self.index[2].get(d[pos2] * K + d[pos2 + 1])
            if self.lo <= 2:
                add(pos2, f2)
        if self.hi >= 3 and L >= 3 and 3 in self.index:
            if self.closed and f2 is not None:
                # a trigram can only be a term where both of its bigrams are
                has2 = np.zeros(L, dtype=bool)
                has2[pos2[f2 >= 0]] = True
                pos3 = np.flatnonzero(has2[:-2] & has2[1:-1])
            else:
                pos3 = np.flatnonzero(known[:-2] & known[1:-1] & known[2:])
            add(pos3, self.index[3].get((d[pos3] * K + d[pos3 + 1]) * K + d[pos3 + 2]))
        if not combos:
            return np.full(m, self.intercept)
        # term counts per (text, feature): sort the packed pairs and count runs
        s = np.sort(np.concatenate(combos))
        if not len(s):
            return np.full(m, self.intercept)
        first = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
        counts = np.diff(first, append=len(s)).astype(np.float64)
        pair = s[first]
        r = (pair >> np.uint64(self.row_shift)).view(np.int64)
        f = (pair & np.uint64((1 << self.row_shift) - 1)).view(np.int64)
        # most pairs occur once: tf = 1 (1 + log 1 = 1 exactly), so w = idf and the products are
        # the precomputed idf * coef and idf * idf; the same floating-point operations either way
        wc, ww = self.idf_coef[f], self.idf_sq[f]
        rep = np.flatnonzero(counts != 1.0)
        if len(rep):
            c = counts[rep]
            tf = 1.0 + np.log(c) if self.model.sublinear_tf else c
            w = tf * self.idf[f[rep]]
            wc[rep] = w * self.coef[f[rep]]
            ww[rep] = w * w
        num = np.bincount(r, weights=wc, minlength=m)
        norm = np.sqrt(np.bincount(r, weights=ww, minlength=m))
        norm[norm == 0] = 1.0
        return num / norm + self.intercept

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """P(positive class) per model-view string."""
        z = self.decision_function(texts)
        return 1.0 / (1.0 + np.exp(-z))


# id(model) -> (model, scorer); the model is kept so its id cannot be reused while cached.
_SCORERS: dict[int, tuple[SentimentModel, FastCharScorer | None]] = {}


def fast_scorer(model: SentimentModel) -> FastCharScorer | None:
    """Cached :class:`FastCharScorer` of a model, or None when its analyzer is not supported."""
    hit = _SCORERS.get(id(model))
    if hit is None or hit[0] is not model:
        try:
            scorer: FastCharScorer | None = FastCharScorer(model)
        except ValueError:
            scorer = None
        if len(_SCORERS) > 8:
            _SCORERS.clear()
        hit = _SCORERS[id(model)] = (model, scorer)
    return hit[1]


def model_probability(
    model: SentimentModel,
    texts: pl.Series | None = None,
    *,
    views: pl.DataFrame | None = None,
) -> pl.Series:
    """P(positive class) of ``model`` per text; null for null or blank text.

    Same values as ``model.negative_probability(texts)``. Give either ``texts`` (raw strings) or
    ``views``: a frame with the ``_norm`` and ``_compact`` columns of :func:`with_text_views`
    (saves normalising twice when the caller already has them).
    """
    if views is None:
        if texts is None:
            raise ValueError("give texts or views")
        views = with_text_views(pl.DataFrame({"t": texts.cast(pl.String)}), "t")
    frame = views.select(
        model_view_expr(NORM, COMPACT).alias("view"),
        (pl.col(NORM).is_null() | (pl.col(NORM).str.strip_chars() == "")).alias("empty"),
    )
    scorer = fast_scorer(model) if model.text_view == "sentiment" else None
    if scorer is None:  # unsupported model: its own (slower) path
        if texts is None:
            raise ValueError("this model needs the raw texts")
        return model.negative_probability(texts)
    proba = scorer.predict_proba(frame["view"].to_list())
    out = pl.Series("p", proba, dtype=pl.Float64)
    return frame.select(pl.when(pl.col("empty")).then(None).otherwise(out).alias("p")).to_series()
