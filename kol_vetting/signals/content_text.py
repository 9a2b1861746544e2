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
  and offensive artifacts): n-grams are numbered from the code points and looked up in hash
  tables of the vocabulary by a numba kernel, one pass over each text (a String Series is read
  from its Arrow buffers, no Python string per row), or by whole-array numpy when numba is
  missing. Both paths give the same margins bit for bit and the same probabilities as
  ``SentimentModel.negative_probability`` (to 1e-9); the kernel is ~4x the numpy path, itself
  10-30x the model's own Python loop over n-grams. :func:`model_probability` wraps it.

All functions take and return Polars expressions or Series; nothing loops over rows in Python.
"""

from __future__ import annotations

import os
import threading
import warnings
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
        self.max_key = int(keys.max()) if n else 0

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

    def packed(self, vbits: int) -> np.ndarray:
        """The same table with one int64 per slot, ``key << vbits | value`` (-1: empty), for
        the JIT kernel: one memory access per probe instead of two."""
        return np.where(self.tkeys >= 0, (self.tkeys << vbits) | self.tvals, -1)


def _ctz(x):  # trailing zeros of a nonzero uint64 (the kernel gets numba's one-instruction one)
    return (int(x) & -int(x)).bit_length() - 1


#: Texts with at most this many distinct features are summed after an insertion sort of
#: their features; longer ones through the bitmap (fewer steps for long texts).
_SMALL_SORT = 24


def _char_ngram_margins(raw, cp, utf8, offsets, dense, uni, tab2, bits2, tab3, bits3, K, vbits, lo,
                        hi, closed, idf_coef, tf, intercept, out):  # fmt: skip
    """Margins of the texts ``offsets[i]:offsets[i + 1]`` of ``raw`` (``utf8``) or ``cp`` into
    ``out``: the arithmetic of :meth:`FastCharScorer.decision_function_numpy`, one pass per text.

    Compiled by numba (:func:`_jit_kernel`). ``raw``: UTF-8 bytes (as Arrow stores strings;
    well-formed), ``cp``: code points (UTF-32). ``dense``/``uni``: the alphabet and
    unigram maps; ``tab2``/``tab3``: :meth:`_HashIndex.packed` bigram and trigram tables of
    ``bits2``/``bits3`` bits (0: none); ``idf_coef``: idf and coef of each feature, interleaved;
    ``tf[c]``: the tf weight of a count ``c`` (up to the number of characters of a text).

    Counts go to a scratch array indexed by feature. The numpy path sums each text's terms in
    increasing feature order, so the kernel does too (the same additions in the same order:
    bit-for-bit the same margins): a few features are insertion-sorted, more are put in a
    two-level bitmap (one bit per feature, one per 64-feature word) that is walked in order.
    """
    m = offsets.shape[0] - 1
    nfeat = idf_coef.shape[0] // 2
    nw0 = (nfeat + 63) >> 6
    nw1 = (nw0 + 63) >> 6
    cnt = np.zeros(max(nfeat, 1), np.int32)
    bm0 = np.zeros(max(nw0, 1), np.uint64)
    bm1 = np.zeros(max(nw1, 1), np.uint64)
    longest = 0  # characters in the longest text, at most
    for i in range(m):
        longest = max(longest, offsets[i + 1] - offsets[i])
    d = np.empty(longest + 1, np.int32)  # alphabet number per position, -1: in no term
    h2 = np.empty(longest + 1, np.int32)  # bigram feature per position, -1: none
    hits = np.empty(3 * longest + 1, np.int32)  # feature per n-gram occurrence, then distinct
    ncp = dense.shape[0]
    one = np.uint64(1)
    vmask = (np.int64(1) << vbits) - 1
    mask2 = (np.int64(1) << bits2) - 1
    mask3 = (np.int64(1) << bits3) - 1
    sh2 = np.uint64(64 - bits2)
    sh3 = np.uint64(64 - bits3)
    use2 = hi >= 2 and bits2 > 0
    use3 = hi >= 3 and bits3 > 0
    for i in range(m):
        n = 0
        if utf8:
            p = offsets[i]
            stop = offsets[i + 1]
            while p < stop:
                c = np.int64(raw[p])
                if c < 0x80:
                    p += 1
                elif c < 0xE0 and p + 2 <= stop:
                    c = ((c & 0x1F) << 6) | (np.int64(raw[p + 1]) & 0x3F)
                    p += 2
                elif c < 0xF0 and p + 3 <= stop:
                    c = ((c & 0x0F) << 12) | ((np.int64(raw[p + 1]) & 0x3F) << 6)
                    c |= np.int64(raw[p + 2]) & 0x3F
                    p += 3
                elif p + 4 <= stop:
                    c = ((c & 0x07) << 18) | ((np.int64(raw[p + 1]) & 0x3F) << 12)
                    c |= ((np.int64(raw[p + 2]) & 0x3F) << 6) | (np.int64(raw[p + 3]) & 0x3F)
                    p += 4
                else:  # cut off (not from valid UTF-8): a character in no term
                    c = ncp
                    p = stop
                if c != 0:  # NUL characters are dropped, as in the numpy path
                    d[n] = dense[c] if c < ncp else -1
                    n += 1
        else:
            for p in range(offsets[i], offsets[i + 1]):
                c = np.int64(cp[p])
                if c != 0:
                    d[n] = dense[c] if c < ncp else -1
                    n += 1
        nh = 0
        if lo <= 1:
            for j in range(n):
                a = d[j]
                if a >= 0:
                    f = uni[a]
                    if f >= 0:
                        hits[nh] = f
                        nh += 1
        if use2:
            for j in range(n - 1):
                a = d[j]
                b = d[j + 1]
                g = -1
                if a >= 0 and b >= 0:
                    key = a * K + b
                    slot = np.int64((np.uint64(key) * _GOLDEN) >> sh2)
                    while True:
                        ent = tab2[slot]
                        if ent < 0:
                            break
                        if (ent >> vbits) == key:
                            g = ent & vmask
                            break
                        slot = (slot + 1) & mask2
                h2[j] = g
                if g >= 0 and lo <= 2:
                    hits[nh] = g
                    nh += 1
        if use3:
            for j in range(n - 2):
                if closed:  # a trigram can only be a term where both of its bigrams are
                    ok = h2[j] >= 0 and h2[j + 1] >= 0
                else:
                    ok = d[j] >= 0 and d[j + 1] >= 0 and d[j + 2] >= 0
                if ok:
                    key = (d[j] * K + d[j + 1]) * K + d[j + 2]
                    slot = np.int64((np.uint64(key) * _GOLDEN) >> sh3)
                    while True:
                        ent = tab3[slot]
                        if ent < 0:
                            break
                        if (ent >> vbits) == key:
                            hits[nh] = ent & vmask
                            nh += 1
                            break
                        slot = (slot + 1) & mask3
        # counts; the distinct features move to the front of hits
        nt = 0
        for k in range(nh):
            f = hits[k]
            if cnt[f] == 0:
                hits[nt] = f
                nt += 1
            cnt[f] += 1
        num = 0.0
        den = 0.0
        if nt <= _SMALL_SORT:
            for k in range(1, nt):
                f = hits[k]
                j = k - 1
                while j >= 0 and hits[j] > f:
                    hits[j + 1] = hits[j]
                    j -= 1
                hits[j + 1] = f
            for k in range(nt):
                f = hits[k]
                w = tf[cnt[f]] * idf_coef[2 * f]
                cnt[f] = 0
                num += w * idf_coef[2 * f + 1]
                den += w * w
        else:
            lo1 = nw1
            hi1 = -1
            for k in range(nt):
                f = hits[k]
                bm0[f >> 6] |= one << np.uint64(f & 63)
                bm1[f >> 12] |= one << np.uint64((f >> 6) & 63)
                lo1 = min(lo1, f >> 12)
                hi1 = max(hi1, f >> 12)
            for w1 in range(lo1, hi1 + 1):
                x = bm1[w1]
                bm1[w1] = 0
                while x != 0:
                    w0 = (w1 << 6) + np.int64(_ctz(x))
                    x &= x - one
                    y = bm0[w0]
                    bm0[w0] = 0
                    while y != 0:
                        f = (w0 << 6) + np.int64(_ctz(y))
                        y &= y - one
                        w = tf[cnt[f]] * idf_coef[2 * f]
                        cnt[f] = 0
                        num += w * idf_coef[2 * f + 1]
                        den += w * w
        norm = np.sqrt(den)
        if norm == 0.0:
            norm = 1.0
        out[i] = num / norm + intercept


def _jit_signature(nb):
    """Argument types of :func:`_char_ngram_margins` (the text bytes are read-only buffers of
    ``np.frombuffer``; every other array is the scorer's own)."""
    t = nb.types
    i64, f64 = t.int64, t.float64
    arr = lambda dtype: t.Array(dtype, 1, "C")
    return t.void(
        t.Array(t.uint8, 1, "C", readonly=True), t.Array(t.uint32, 1, "C", readonly=True),
        t.boolean, arr(i64), arr(t.int32), arr(t.int32),
        arr(i64), i64, arr(i64), i64, i64, i64, i64, i64, t.boolean,
        arr(f64), arr(f64), f64, arr(f64),
    )  # fmt: skip


#: Batches of fewer characters (UTF-8 bytes for a Series) do not load numba: importing it and
#: loading the cached kernel cost ~0.6 s CPU once per process (~3 s when the kernel has to be
#: compiled), so a one-off check of a few texts stays on numpy.
_JIT_MIN_SIZE = 4096
_KERNEL: object = None  # None: not loaded yet; False: no numba (numpy path); else the kernel
_KERNEL_LOCK = threading.Lock()


def _jit_kernel(load: bool = True):
    """The compiled :func:`_char_ngram_margins`, or None when numba is missing, fails, or is
    switched off with ``KOL_VETTING_NUMBA=0``. Loaded on first use, from numba's on-disk cache
    when it has one; ``load=False`` only returns an already-loaded kernel."""
    global _KERNEL
    if _KERNEL is None and load:
        with _KERNEL_LOCK:
            if _KERNEL is None:
                _KERNEL = _compile_kernel()
    return _KERNEL or None


def _compile_kernel():
    if os.environ.get("KOL_VETTING_NUMBA", "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    global _ctz
    try:
        import numba
        from numba.cpython.unsafe.numbers import trailing_zeros
    except Exception:  # noqa: BLE001 - not installed, or broken against this numpy: numpy path
        return False
    _ctz = trailing_zeros  # compiles to one instruction (tzcnt)
    for cache in (True, False):  # no usable cache directory: compile in memory
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numba's cache warnings
                sig = _jit_signature(numba)
                return numba.njit(sig, cache=cache, nogil=True)(_char_ngram_margins)
        except Exception:  # noqa: BLE001, S112 - the numpy path serves instead
            continue
    return False


_NO_BYTES = np.zeros(0, dtype=np.uint8)
_NO_BYTES.flags.writeable = False
_NO_CODEPOINTS = np.zeros(0, dtype=np.uint32)
_NO_CODEPOINTS.flags.writeable = False


def _utf8_buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes (read-only, no copy) and int64 byte offsets of a String Series' texts
    (null as ""), from its Arrow buffers."""
    import pyarrow as pa

    s = texts.cast(pl.String)
    if s.null_count():
        s = s.fill_null("")
    arr = s.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    _, off, data = arr.buffers()
    offsets = np.frombuffer(off, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1].copy()
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else _NO_BYTES
    if raw.flags.writeable:
        raw = raw.view()
        raw.flags.writeable = False
    return raw, offsets


class FastCharScorer:
    """Fast scorer of a :class:`~kol_vetting.text.sentiment.SentimentModel` with a character
    n-gram analyzer (n <= 3), equal to its ``predict_proba_model_texts``.

    In: model-view strings (see :func:`model_view_expr`). Out: P(positive class) per string.

    How: the characters of the vocabulary are numbered densely (an *alphabet* of K); an n-gram
    is the base-K number of its characters' numbers, looked up in a :class:`_HashIndex` of the
    vocabulary. Positions holding a character outside the alphabet start no n-gram; when the
    vocabulary is closed under prefixes and suffixes (every sub-n-gram of a term is a term, as
    a min-df cut makes it), trigrams are looked up only where both of their bigrams hit.

    :meth:`decision_function` runs a numba kernel (:func:`_char_ngram_margins`: one pass over
    each text's code points, counts in a scratch array) when numba is available, else
    :meth:`decision_function_numpy` (whole-array numpy: counts per (text, feature) from sorting
    the packed pairs). Both sum per text in feature order, so they give the same margins bit
    for bit, and equal those of the model's own (per-n-gram Python) scorer to ~1e-15.
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
        self._feat_max = int(feats_all.max()) if len(feats_all) else 0
        # a character in no term, to stand for a NUL that must split n-grams (model_probability)
        self.no_term_char = next((c for c in "\ufffd\uffff\U0010ffff" if self.dense[ord(c)] < 0), None)
        self._jit_tables: tuple | None = None
        self._tf_table = np.zeros(0)

    def _jit_args(self) -> tuple | None:
        """The kernel's tables (built once), or None when they cannot hold this model."""
        if self._jit_tables is None:
            vbits = max(self._feat_max.bit_length(), 1)
            if any((ix.max_key << vbits) >= 1 << 63 for ix in self.index.values()) or (
                len(self.idf) >= 1 << 31 or self._feat_max >= len(self.idf)
            ):
                self._jit_tables = ()
            else:
                empty = np.full(1, -1, dtype=np.int64)
                two, three = self.index.get(2), self.index.get(3)
                self._jit_tables = (
                    self.dense.astype(np.int32),
                    self.uni.astype(np.int32),
                    two.packed(vbits) if two else empty,
                    two.bits if two else 0,
                    three.packed(vbits) if three else empty,
                    three.bits if three else 0,
                    self.K,
                    vbits,
                    self.lo,
                    self.hi,
                    bool(self.closed),
                    np.stack([self.idf, self.coef], axis=1).astype(np.float64).ravel(),
                )
        return self._jit_tables or None

    def _tf(self, longest: int) -> np.ndarray:
        """tf weight per count 0..longest: ``1 + log(count)`` (sublinear) or the count, made by
        numpy like the numpy path's, so both paths use the same numbers."""
        table = self._tf_table
        if len(table) <= longest:
            c = np.arange(max(longest + 1, 2 * len(table), 1024), dtype=np.float64)
            if self.model.sublinear_tf:
                with np.errstate(divide="ignore"):
                    table = 1.0 + np.log(c)
                table[0] = 0.0
            else:
                table = c
            self._tf_table = table
        return table

    def decision_function(self, texts: Sequence[str] | pl.Series) -> np.ndarray:
        """Raw margins (intercept + w . tfidf) of model-view strings (a list, or a String
        Series: read from its Arrow buffers, no Python string per row; null counts as "").
        The numba kernel, or :meth:`decision_function_numpy` without numba (the same values,
        bit for bit)."""
        m = len(texts)
        if m == 0:
            return np.zeros(0)
        if isinstance(texts, pl.Series):
            raw, offsets = _utf8_buffers(texts)
            size = int(offsets[-1] - offsets[0])
        else:
            lens = np.fromiter(map(len, texts), dtype=np.int64, count=m)
            size = int(lens.sum())
        kernel = _jit_kernel(load=size >= _JIT_MIN_SIZE)
        tables = self._jit_args() if kernel is not None else None
        if tables is None:
            return self.decision_function_numpy(texts)
        utf8 = isinstance(texts, pl.Series)
        if utf8:
            cp = _NO_CODEPOINTS
            longest = int(np.diff(offsets).max())  # bytes: at least the characters
        else:
            raw = _NO_BYTES
            cp = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            offsets = np.zeros(m + 1, dtype=np.int64)
            np.cumsum(lens, out=offsets[1:])
            longest = int(lens.max())
        out = np.empty(m, dtype=np.float64)
        kernel(raw, cp, utf8, offsets, *tables, self._tf(longest), self.intercept, out)
        return out

    def decision_function_numpy(self, texts: Sequence[str] | pl.Series) -> np.ndarray:
        """:meth:`decision_function` in whole-array numpy (the reference, and the path
        without numba)."""
        m = len(texts)
        if m == 0:
            return np.zeros(0)
        if isinstance(texts, pl.Series):
            texts = texts.cast(pl.String).fill_null("").to_list()
        joined = "\x00".join(t.replace("\x00", "") for t in texts) + "\x00"
        cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
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

    def predict_proba(self, texts: Sequence[str] | pl.Series) -> np.ndarray:
        """P(positive class) per model-view string (see :meth:`decision_function`)."""
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
    (saves normalising twice when the caller already has them). Models on the ``"sentiment"``
    view (comment sentiment) and on the ``"normalized"`` view (offensive language) both run on
    :class:`FastCharScorer`.
    """
    if views is None:
        if texts is None:
            raise ValueError("give texts or views")
        views = with_text_views(pl.DataFrame({"t": texts.cast(pl.String)}), "t")
    if model.text_view == "sentiment":
        view: pl.Expr | None = model_view_expr(NORM, COMPACT)
    elif model.text_view == "normalized":  # SentimentModel.view_expr: normalize_expr, "" for null
        view = pl.col(NORM).fill_null("")
    else:
        view = None
    scorer = fast_scorer(model) if view is not None else None
    if scorer is None:  # unsupported model: its own (slower) path
        if texts is None:
            raise ValueError("this model needs the raw texts")
        return model.negative_probability(texts)
    frame = views.select(
        view.alias("view"),
        (pl.col(NORM).is_null() | (pl.col(NORM).str.strip_chars() == "")).alias("empty"),
    )
    view_texts = frame["view"]
    if scorer.no_term_char is not None and view_texts.str.contains("\x00", literal=True).any():
        # the scorer drops NULs; the model's own analyzer keeps them as characters in no term
        view_texts = view_texts.str.replace_all("\x00", scorer.no_term_char, literal=True)
    proba = scorer.predict_proba(view_texts)
    out = pl.Series("p", proba, dtype=pl.Float64)
    return frame.select(pl.when(pl.col("empty")).then(None).otherwise(out).alias("p")).to_series()
