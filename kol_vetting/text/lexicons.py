"""Versioned term lists (lexicons) stored as YAML data files, and vectorized term matching.

Every word list the product uses lives in ``kol_vetting/text/lexicons/<name>.yaml`` with a
``version``, an ``updated`` date and, per group, a ``source`` note. Code never hard-codes terms:
it asks :func:`load_lexicon` for them.

A lexicon file looks like::

    name: disclosure
    version: "1.0.0"
    updated: "2026-11-23"
    description: ...
    groups:
      explicit:
        source: where the terms come from
        terms: [广告, "#ad", ...]        # literal terms
        patterns: ['最(?:好|佳)']        # optional regexes (Rust `regex` syntax, no look-around)
        exclude: [不是广告, ...]          # optional phrases that veto a hit (see match_terms)
        whole_text: false                # optional: terms must equal the whole comment core
        view: compact                    # optional: compact (default), normalized or core

:func:`match_terms` turns a text column into the list of matched terms per row, matching on a
derived *view* of the text (see :mod:`kol_vetting.text.normalize`); the original is untouched.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml

LEXICON_DIR = Path(__file__).with_name("lexicons")

View = Literal["compact", "normalized", "core"]
_VIEWS: tuple[str, ...] = ("compact", "normalized", "core")

# Characters that count as "inside a Latin word": a Latin-edged term only hits when it is not
# glued to more of these (so `#ad` does not hit `#adidas`, `sp` not `spf`).
_LATIN_WORD = "[a-z0-9]"


class LexiconError(ValueError):
    """A lexicon file is missing or malformed."""


@dataclass(frozen=True)
class LexiconGroup:
    """One named list inside a lexicon.

    ``terms``/``exclude`` are NFKC-folded and lower-cased at load time, like the text they are
    matched against. ``extra`` keeps any other keys of the group (e.g. ``unicode``, ``pairs``).
    """

    name: str
    source: str
    terms: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    whole_text: bool = False
    view: View = "compact"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Lexicon:
    """A versioned lexicon: metadata plus its groups, in file order."""

    name: str
    version: str
    updated: str
    description: str
    groups: dict[str, LexiconGroup]
    path: Path

    def terms(self, group: str | None = None) -> list[str]:
        """Literal terms of one group, or of all groups (deduplicated, file order)."""
        groups = [self.group(group)] if group else list(self.groups.values())
        seen: dict[str, None] = {}
        for g in groups:
            seen.update(dict.fromkeys(g.terms))
        return list(seen)

    def group(self, name: str) -> LexiconGroup:
        """One group by name; raises KeyError naming the groups that exist."""
        try:
            return self.groups[name]
        except KeyError:
            raise KeyError(
                f"lexicon {self.name!r} has no group {name!r}; groups: {sorted(self.groups)}"
            ) from None


def fold_term(term: str) -> str:
    """Fold a lexicon term the way text is folded before matching (NFKC, lower case)."""
    return unicodedata.normalize("NFKC", str(term)).lower().strip()


def lexicon_names() -> list[str]:
    """Names of all lexicons shipped with the package (file stems)."""
    return sorted(p.stem for p in LEXICON_DIR.glob("*.yaml"))


@functools.cache
def load_lexicon(name: str) -> Lexicon:
    """Load ``lexicons/<name>.yaml`` into a :class:`Lexicon` (cached).

    Raises :class:`LexiconError` when the file is absent or lacks ``version``, ``groups`` or a
    group's ``source``, and when a pattern is not a valid regex.
    """
    path = LEXICON_DIR / f"{name}.yaml"
    if not path.is_file():
        raise LexiconError(f"no lexicon {name!r} in {LEXICON_DIR}; have: {lexicon_names()}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for key in ("version", "groups"):
        if not raw.get(key):
            raise LexiconError(f"lexicon {path.name} lacks {key!r}")
    groups: dict[str, LexiconGroup] = {}
    for gname, spec in raw["groups"].items():
        spec = dict(spec or {})
        source = str(spec.pop("source", "") or "").strip()
        if not source:
            raise LexiconError(f"lexicon {path.name} group {gname!r} lacks a 'source' note")
        view = spec.pop("view", "compact")
        if view not in _VIEWS:
            raise LexiconError(f"lexicon {path.name} group {gname!r}: view must be one of {_VIEWS}")
        patterns = tuple(str(p) for p in spec.pop("patterns", []) or [])
        for p in patterns:  # compile with the engine that will run it (Rust regex)
            try:
                pl.Series([""]).str.contains(p)
            except Exception as exc:
                raise LexiconError(f"lexicon {path.name} bad pattern {p!r}: {exc}") from exc
        groups[str(gname)] = LexiconGroup(
            name=str(gname),
            source=source,
            terms=tuple(
                dict.fromkeys(fold_term(t) for t in spec.pop("terms", []) or [] if str(t).strip())
            ),
            patterns=patterns,
            exclude=tuple(dict.fromkeys(fold_term(t) for t in spec.pop("exclude", []) or [])),
            whole_text=bool(spec.pop("whole_text", False)),
            view=view,
            extra=spec,
        )
    return Lexicon(
        name=str(raw.get("name", name)),
        version=str(raw["version"]),
        updated=str(raw.get("updated", "")),
        description=str(raw.get("description", "")),
        groups=groups,
        path=path,
    )


def _literal_regex(term: str) -> str:
    """Escaped regex for a literal term; Latin-edged terms also swallow glued Latin characters,
    so the match can be checked for exact equality afterwards (a word-boundary test without
    look-around, which the Rust regex engine lacks)."""
    rx = re.escape(term)
    head, tail = term[:1], term[-1:]
    if head.isascii() and head.isalpha():
        rx = f"{_LATIN_WORD}*{rx}"
    elif head.isascii() and head.isdigit():
        rx = f"[0-9.]*{rx}"  # `100%` must not hit inside `1100%`, but may follow letters
    if tail.isascii() and tail.isalpha():
        rx = f"{rx}{_LATIN_WORD}*"
    elif tail.isascii() and tail.isdigit():
        rx = f"{rx}[0-9]*"
    return rx


def _group_regex(group: LexiconGroup) -> str | None:
    """One alternation for a group: exclusions first, then terms, longest first, then patterns.

    The regex engine is leftmost-first: at a given position the first alternative that matches
    wins, so listing exclusions (and longer terms) first makes `不过敏` consume the text before
    `过敏` can, and `全网最低` win over a shorter term inside it.
    """
    literals = sorted(set(group.exclude), key=len, reverse=True)
    literals += sorted(set(group.terms) - set(group.exclude), key=len, reverse=True)
    parts = [_literal_regex(t) for t in literals] + [f"(?:{p})" for p in group.patterns]
    if not parts:
        return None
    body = "|".join(parts)
    if group.whole_text:
        return f"^(?:{body})$"
    return body


def _keep_expr(group: LexiconGroup) -> pl.Expr:
    """Predicate over matched strings: an exact term or a full pattern match, and no exclusion."""
    el = pl.element()
    keep = el.is_in(list(group.terms)) if group.terms else pl.lit(False)
    if group.patterns:
        keep = keep | el.str.contains("^(?:" + "|".join(f"(?:{p})" for p in group.patterns) + ")$")
    if group.exclude:
        keep = keep & ~el.is_in(list(group.exclude))
    return keep


def match_terms(
    expr: pl.Expr | str,
    lexicon_name: str,
    group: str | list[str] | None = None,
    *,
    normalized: bool = False,
    unique: bool = True,
) -> pl.Expr:
    """Matched lexicon terms per row, as a ``List[str]`` expression.

    ``expr`` is a text column (raw, or already normalised when ``normalized=True``, i.e. the
    output of :func:`kol_vetting.text.normalize.normalize_expr`). Each group is matched on its
    view of the normalised text (``compact`` by default, so spacing/punctuation tricks such as
    ``#广#告`` still hit ``广告``). A hit is returned as the term (or, for a pattern, the matched
    text such as ``最好``). Exclusions veto overlapping hits that start at or after them
    (``最近`` is not an absolute claim, ``不过敏`` not an allergy complaint). With
    ``unique=True`` each term appears once per row, in order of first occurrence.
    Nulls give nulls.
    """
    from kol_vetting.text.normalize import compact_expr, core_expr, normalize_expr

    lex = load_lexicon(lexicon_name)
    names = [group] if isinstance(group, str) else list(group or lex.groups)
    text = pl.col(expr) if isinstance(expr, str) else expr
    norm = text if normalized else normalize_expr(text)
    views = {"normalized": norm, "compact": compact_expr(norm, normalized=True)}
    views["core"] = core_expr(views["compact"], compacted=True)

    pieces: list[pl.Expr] = []
    for gname in names:
        g = lex.group(gname)
        rx = _group_regex(g)
        if rx is None:
            continue
        view = "core" if g.whole_text and g.view == "compact" else g.view
        pieces.append(views[view].str.extract_all(rx).list.eval(pl.element().filter(_keep_expr(g))))
    if not pieces:
        out = pl.lit([], dtype=pl.List(pl.String))
        return pl.when(norm.is_null()).then(None).otherwise(out)
    out = pieces[0] if len(pieces) == 1 else pl.concat_list(pieces)
    if unique:
        out = out.list.unique(maintain_order=True)
    return out


def match_groups(expr: pl.Expr | str, lexicon_name: str, *, normalized: bool = False) -> pl.Expr:
    """Matched terms per group, as a Struct with one ``List[str]`` field per group."""
    lex = load_lexicon(lexicon_name)
    return pl.struct(
        [match_terms(expr, lexicon_name, g, normalized=normalized).alias(g) for g in lex.groups]
    )
