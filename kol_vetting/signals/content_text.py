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


class FastCharScorer:
    """Vectorized scorer of a :class:`~kol_vetting.text.sentiment.SentimentModel` with a
    character n-gram analyzer (n <= 3), equal to its ``predict_proba_model_texts``.

    In: model-view strings (see :func:`model_view_expr`). Out: P(positive class) per string.
    """

    def __init__(self, model: SentimentModel) -> None:
        lo, hi = model.ngram_range
        if model.analyzer_name != "char" or hi > 3 or lo < 1:
            raise ValueError("FastCharScorer handles character 1-3 gram models only")
        self.model = model
        self.lo, self.hi = lo, hi
        terms = list(model.vocabulary)
        # n-grams with a NUL cannot occur (NUL separates texts) and longer ones are never produced
        ok = [t for t in terms if lo <= len(t) <= hi and "\x00" not in t]
        keys = np.fromiter((_pack([ord(ch) for ch in t]) for t in ok), dtype=np.uint64, count=len(ok))
        feats = np.fromiter((model.vocabulary[t] for t in ok), dtype=np.int64, count=len(ok))
        order = np.argsort(keys)
        self.keys = keys[order]
        self.feats = feats[order]
        # unigram table by code point; longer n-grams joined on their packed key
        self.uni = np.full(0x110000, -1, dtype=np.int32)
        one = np.array([len(t) == 1 for t in ok], dtype=bool)
        self.uni[keys[one].astype(np.int64)] = feats[one]
        self.vocab_frame = pl.DataFrame({"k": keys[~one], "f": feats[~one].astype(np.uint64)})
        self.row_shift = max(len(model.vocabulary).bit_length(), 1)
        self.idf = np.asarray(model.idf, dtype=np.float64)
        self.coef = np.asarray(model.coef, dtype=np.float64)
        self.intercept = float(model.intercept)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Raw margins (intercept + w . tfidf) of model-view strings."""
        m = len(texts)
        if m == 0:
            return np.zeros(0)
        joined = "\x00".join(t.replace("\x00", "") for t in texts) + "\x00"
        cp32 = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        nz = cp32 != 0
        row = np.cumsum(~nz) - (~nz)  # text index of each position (separator counts for the next)
        cp = cp32.astype(np.uint64)
        L = len(cp)
        shift = np.uint64(self.row_shift)
        combos = []  # (text index << row_shift) | feature index, per in-vocabulary n-gram occurrence
        for n in range(self.lo, self.hi + 1):
            if L < n:
                continue
            span = L - n + 1
            valid = nz[:span].copy()
            for j in range(1, n):
                valid &= nz[j : j + span]
            r = row[:span][valid].astype(np.uint64)
            if n == 1:  # unigrams: a direct table indexed by code point
                f = self.uni[cp32[:span][valid]]
                hit = f >= 0
                combos.append((r[hit] << shift) | f[hit].astype(np.uint64))
                continue
            key = cp[:span].copy()
            for j in range(1, n):
                key = (key << np.uint64(_BITS)) | cp[j : j + span]
            # hash join against the vocabulary (faster than a binary search per n-gram)
            hit = pl.DataFrame({"k": key[valid], "r": r}).join(self.vocab_frame, on="k", how="inner")
            combos.append((hit["r"].to_numpy() << shift) | hit["f"].to_numpy())
        if not combos:
            return np.full(m, self.intercept)
        # term counts per (text, feature): sort the packed pairs and count runs
        s = pl.Series(np.concatenate(combos)).sort().to_numpy()
        if not len(s):
            return np.full(m, self.intercept)
        first = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
        counts = np.diff(np.append(first, len(s))).astype(np.float64)
        pair = s[first]
        r = (pair >> shift).astype(np.int64)
        f = (pair & np.uint64((1 << self.row_shift) - 1)).astype(np.int64)
        tf = 1.0 + np.log(counts) if self.model.sublinear_tf else counts
        w = tf * self.idf[f]
        num = np.bincount(r, weights=w * self.coef[f], minlength=m)
        norm = np.sqrt(np.bincount(r, weights=w * w, minlength=m))
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
