"""Text normalisation for Chinese/English social-media text, as vectorized Polars expressions.

The original text is never modified: these functions build *derived* columns.

``normalize_expr`` (the "normalised" text; input to the sentiment model and to display of hits)
applies, in order:

1. **NFKC**: full-width Latin, digits and punctuation become half-width (``ＡＤ１００％`` ->
   ``AD100%``, ``［赞R］`` -> ``[赞R]``), compatibility forms are folded (``①`` -> ``1``).
2. **Invisible characters removed**: zero-width spaces/joiners, bidi controls, soft hyphen, BOM
   and emoji variation selectors (``广\\u200b告`` -> ``广告``); they are the classic way to
   break keyword filters.
3. **XHS emoji codes to tokens**: ``[赞R]`` -> ``<emo_赞>``, ``[哭惹R]`` -> ``<emo_哭惹>``
   (suffix R or H; known names from ``lexicons/emoji_codes.yaml`` also without suffix, e.g.
   ``[doge]``). The token keeps the emoji's identity, so its polarity can be looked up
   (:func:`emoji_polarity`), instead of leaving ``R]`` fragments in n-grams.
4. **Lower case** for Latin script (``#AD`` -> ``#ad``).
5. **Traditional to simplified** for common characters (``lexicons/t2s.yaml``, one-to-one folds
   only): ``過敏`` -> ``过敏``.
6. **Whitespace collapsed** to single spaces and trimmed.

``compact_expr`` (the view lexicons are matched on) further:

7. replaces emoji tokens with a space (they are filler for matching: ``广[赞R]告``), drops
   XHS topic markers ``[话题]`` and any ``#`` touching a Chinese character (hashtag syntax:
   ``#广#告`` -> ``广告``; Latin tags such as ``#ad`` keep theirs), and
8. deletes *filler* characters (whitespace, ``# * - _ . · • / \\ | ~ + = ^`` and the like)
   sitting between two Chinese characters, so ``广 告``, ``#广#告``, ``广-告`` become ``广告``.
   Sentence punctuation (``，。！？``) is kept: it is real structure, and deleting it would glue
   words across sentences.

``core_expr`` keeps only Chinese characters, Latin letters and digits of the compact view: the
"what was actually said" of a short comment, used to match bot templates exactly
(``好好看！！！[赞R]`` -> ``好好看``).
"""

from __future__ import annotations

import functools

import polars as pl

from kol_vetting.text.lexicons import load_lexicon

# Zero-width and other invisible format characters, plus variation selectors (U+FE00-FE0F)
# which only style the preceding emoji.
_INVISIBLE = "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\u00ad\u180e\ufe00-\ufe0f]"
# An XHS emoji code: 1-6 Chinese characters or 2-10 Latin letters, then R or H, in brackets.
_EMOJI_CODE = r"\[(\p{Han}{1,6}|[A-Za-z]{2,10})[RrHh]\]"
EMOJI_TOKEN = r"<emo_[^<>\s]{1,12}>"
# Filler that spacing tricks put between characters of a word.
_FILLER = r"[\s#*\-_.·•・/\\|~+=^`'\"“”‘’]"


@functools.lru_cache(maxsize=1)
def _t2s_table() -> tuple[list[str], list[str]]:
    pairs = load_lexicon("t2s").group("chars").extra["pairs"].split()
    return [p[0] for p in pairs], [p[1] for p in pairs]


@functools.lru_cache(maxsize=1)
def _bare_emoji_regex() -> str:
    """Known emoji names that XHS also writes without the R suffix (e.g. ``[doge]``)."""
    lex = load_lexicon("emoji_codes")
    names = sorted(
        {t for g in lex.groups.values() for t in g.terms if t.isascii()}, key=len, reverse=True
    )
    return r"(?i)\[(" + "|".join(names) + r")\]"


def _col(expr: pl.Expr | str) -> pl.Expr:
    return pl.col(expr) if isinstance(expr, str) else expr


# ---------------------------------------------------------------------------------------------
# Speed: NFKC and lower case only where they can change something.
#
# NFKC and lower-casing rebuild every string and are the costliest steps. Most social-media
# text is Chinese characters, ASCII, emoji and full-width punctuation, on which NFKC is the
# identity except for the full-width forms, and lower case the identity except for a few Latin
# letters. So, with identical results:
#
# * a row made only of *NFKC-inert* characters (NFKC quick-check Yes, combining class 0, never
#   the second half of a canonical composition: such a string is already in NFKC) and of
#   full-width punctuation and digits skips NFKC; those full-width characters are folded to
#   their NFKC form later, in the same pass as traditional->simplified (nothing in between looks
#   at them: the emoji-code patterns need ``[``, ``]`` and letters, so rows with full-width
#   brackets or letters take the full NFKC path). Every other row is NFKC-normalised as before.
# * lower case runs only on rows holding a character that lower-casing changes (Unicode
#   property Changes_When_Lowercased, or unassigned in the regex tables: a newer character).
#
# ``tests/test_text.py`` checks the inert set against Polars' own NFKC, character by character.

#: Full-width forms whose fold is left to the traditional->simplified pass (not letters or brackets).
_FW_LATE = [chr(c) for c in range(0xFF01, 0xFF5F) if not (0xFF21 <= c <= 0xFF3D or 0xFF41 <= c <= 0xFF5A)]
_FW_LATE.append("\u3000")
_NEEDS_LOWER = r"[\p{Changes_When_Lowercased}\p{Cn}]"


def _ranges_class(cps: list[int]) -> str:
    """A regex character class body (no brackets) for sorted code points."""
    out, i = [], 0
    esc = lambda c: f"\\x{{{c:x}}}"
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        out.append(esc(cps[i]) if i == j else f"{esc(cps[i])}-{esc(cps[j])}")
        i = j + 1
    return "".join(out)


@functools.lru_cache(maxsize=1)
def nfkc_inert_codepoints() -> list[int]:
    """Code points on which NFKC is the identity whatever surrounds them (see above), among the
    blocks social-media text uses (the BMP, the emoji and CJK planes): Polars' own NFKC leaves
    them unchanged, and they are no mark (every combining character and every second half of
    a canonical composition is a mark, ``\\p{M}``), no Hangul jamo (composed algorithmically)
    and assigned (a newer character goes the full NFKC path)."""
    blocks = [range(0xD800), range(0xE000, 0x10000), range(0x1F000, 0x1FB00), range(0x20000, 0x2F800)]
    cps = pl.Series("cp", [c for b in blocks for c in b], dtype=pl.UInt32)
    ch = pl.Series("ch", [chr(c) for c in cps.to_list()], dtype=pl.String)
    ok = (
        (ch.str.normalize("NFKC") == ch)
        & ~ch.str.contains(r"[\p{M}\p{Cn}\x{1100}-\x{11ff}]")
    )
    return cps.filter(ok).to_list()


@functools.lru_cache(maxsize=1)
def _needs_nfkc_regex() -> str:
    """Rows matching this need the full NFKC (a character neither inert nor late-folded)."""
    inert = set(nfkc_inert_codepoints()) | {ord(c) for c in _FW_LATE}
    return "[^" + _ranges_class(sorted(inert)) + "]"


def _where(rows: pl.Series, need: pl.Series, fn) -> pl.Series:
    """``fn`` applied to the rows where ``need`` is true, the others unchanged."""
    idx = need.fill_null(False).arg_true()
    if idx.len() == 0:
        return rows
    if idx.len() == rows.len():
        return fn(rows)
    return rows.clone().scatter(idx, fn(rows.gather(idx)))


def _nfkc_rows(s: pl.Series) -> pl.Series:
    return _where(s, s.str.contains(_needs_nfkc_regex()), lambda x: x.str.normalize("NFKC"))


def _lower_rows(s: pl.Series) -> pl.Series:
    return _where(s, s.str.contains(_NEEDS_LOWER), lambda x: x.str.to_lowercase())


@functools.lru_cache(maxsize=1)
def _fold_table() -> tuple[list[str], list[str]]:
    """Traditional->simplified pairs plus the late full-width folds (all single characters)."""
    import unicodedata

    src, dst = _t2s_table()
    return src + _FW_LATE, dst + [unicodedata.normalize("NFKC", c) for c in _FW_LATE]


def normalize_expr(expr: pl.Expr | str) -> pl.Expr:
    """Normalised text (steps 1-6 in the module doc) of a ``String`` column; nulls stay null.

    Also takes a ``Series`` (and then returns one)."""
    if isinstance(expr, pl.Series):
        return pl.select(normalize_expr(pl.lit(expr))).to_series().alias(expr.name)
    src, dst = _fold_table()
    return (
        _col(expr)
        .map_batches(_nfkc_rows, return_dtype=pl.String, is_elementwise=True)
        .str.replace_all(_INVISIBLE, "")
        .str.replace_all(_EMOJI_CODE, "<emo_${1}>")
        .str.replace_all(_bare_emoji_regex(), "<emo_${1}>")
        .map_batches(_lower_rows, return_dtype=pl.String, is_elementwise=True)
        .str.replace_many(src, dst)
        # runs of whitespace other than a single space (a lone space needs no rewrite)
        .str.replace_all(r"\s{2,}|[\s&&[^ ]]", " ")
        .str.strip_chars()
    )


def normalize_expr_reference(expr: pl.Expr | str) -> pl.Expr:
    """The plain definition of :func:`normalize_expr` (every step on every row); for tests."""
    src, dst = _t2s_table()
    return (
        _col(expr)
        .str.normalize("NFKC")
        .str.replace_all(_INVISIBLE, "")
        .str.replace_all(_EMOJI_CODE, "<emo_${1}>")
        .str.replace_all(_bare_emoji_regex(), "<emo_${1}>")
        .str.to_lowercase()
        .str.replace_many(src, dst)
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def compact_expr(expr: pl.Expr | str, *, normalized: bool = False) -> pl.Expr:
    """Matching view (steps 7-8): emoji tokens dropped, filler between Chinese characters removed.

    ``expr`` is raw text, or normalised text when ``normalized=True``.
    """
    norm = _col(expr) if normalized else normalize_expr(expr)
    glued = r"(\p{Han})" + _FILLER + r"+(\p{Han})"
    return (
        norm.str.replace_all(EMOJI_TOKEN, " ")
        # XHS topic hashtags are written `#护肤[话题]#`: the marker is markup, not text.
        .str.replace_all(r"\[话题\]", "")
        # A `#` glued to Chinese is hashtag syntax, never part of a word (Latin `#ad` keeps it).
        .str.replace_all(r"#+(\p{Han})", "${1}")
        .str.replace_all(r"(\p{Han})#+", "${1}")
        # Two passes: a match consumes the Han character on its right, so the gap after it is
        # only reachable on a second pass; after that no gap is left (they cannot be adjacent).
        .str.replace_all(glued, "${1}${2}")
        .str.replace_all(glued, "${1}${2}")
        .str.replace_all(r"\s{2,}|[\s&&[^ ]]", " ")  # = \s+ -> " ", skipping lone spaces
        .str.strip_chars()
    )


def core_expr(expr: pl.Expr | str, *, compacted: bool = False) -> pl.Expr:
    """Core of a short text: only Chinese characters, Latin letters and digits of the compact view.

    ``expr`` is raw text, or the compact view when ``compacted=True``.
    """
    comp = _col(expr) if compacted else compact_expr(expr)
    return comp.str.replace_all(r"[^\p{Han}a-z0-9]+", "")


def _scalar(fn, text: str | None) -> str | None:
    if text is None:
        return None
    return pl.select(fn(pl.lit(text, dtype=pl.String))).item()


def normalize_text(text: str | None) -> str | None:
    """Normalise one string; same result as :func:`normalize_expr` on a column."""
    return _scalar(normalize_expr, text)


def compact_text(text: str | None) -> str | None:
    """Matching view of one string; same result as :func:`compact_expr`."""
    return _scalar(compact_expr, text)


def core_text(text: str | None) -> str | None:
    """Core of one string; same result as :func:`core_expr`."""
    return _scalar(core_expr, text)


@functools.lru_cache(maxsize=1)
def emoji_polarity() -> dict[str, str]:
    """Emoji token or pictograph -> ``positive`` / ``negative`` / ``neutral``.

    Keys are the normalised tokens (``<emo_赞>``) and the Unicode pictographs listed in
    ``lexicons/emoji_codes.yaml`` (variation selectors stripped, as normalisation does).
    """
    lex = load_lexicon("emoji_codes")
    out: dict[str, str] = {}
    for polarity, group in lex.groups.items():
        for name in group.terms:
            out[f"<emo_{name}>"] = polarity
        for ch in group.extra.get("unicode", []) or []:
            out[str(ch).replace("\ufe0f", "")] = polarity
    return out


def emoji_tokens(expr: pl.Expr | str, *, normalized: bool = False) -> pl.Expr:
    """List of emoji tokens (``<emo_赞>``) per row of a text column."""
    norm = _col(expr) if normalized else normalize_expr(expr)
    return norm.str.extract_all(EMOJI_TOKEN)
