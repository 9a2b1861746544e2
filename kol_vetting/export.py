"""Procurement exports of a brief's scorecard: Excel, CSV, Parquet and one HTML dossier per creator.

Procurement never opens Dagster; these files are what they read. :func:`export_scorecard` takes

* the scorecard (:data:`kol_vetting.scorecard.SCORECARD_SCHEMA`, one row per creator of one brief),
* the evidence behind it (:data:`EVIDENCE_SCHEMA`, one row per note/comment/follower/date cited),
* the :class:`~kol_vetting.brief.Brief` (its fields and decision rules go into the method sheet),
* optionally follower history and notes (contract tables) for the two dossier plots,

and writes ``scorecard.xlsx``, ``scorecard.csv``, ``scorecard.parquet`` and ``dossiers/`` under the
output folder, returning their paths.

Everything a creator or a commenter wrote is untrusted: spreadsheet cells that could start a
formula get a leading ``'`` (xlsx and csv), HTML is escaped and carries a script-blocking CSP,
links are emitted only for http(s) URLs, dossier file names cannot leave their folder, and ids
of followers and comments are replaced by salted pseudonyms. Files are built in a temporary
folder next to the output and swapped in at the end, so a failed export leaves the previous
files whole.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import xlsxwriter

from kol_vetting.brief import SIGNALS, Brief, Thresholds
from kol_vetting.scorecard import DECISION_LABELS, DECISIONS, SCORECARD_SCHEMA

EVIDENCE_KINDS = ("note", "comment", "follower", "date", "other")
EVIDENCE_SCHEMA = pl.Schema(
    {
        "brief": pl.String(),
        "creator_id": pl.String(),
        "signal": pl.String(),  # authenticity, controversy, disclosure, claims or alignment
        "reason": pl.String(),  # the scorecard reason this item supports
        "evidence_id": pl.String(),  # note id, comment id, follower id, a date, ...
        "kind": pl.String(),  # one of EVIDENCE_KINDS
        "url": pl.String(),  # link to the note, when known
        "date": pl.Datetime("us"),  # when the note/comment was published, when known
    }
)
# Evidence kinds that identify a private person (a follower, a commenter): pseudonymised.
PERSONAL_KINDS = ("follower", "comment")

# Severity order of the exports: what needs attention first.
# reject 0, manual_review 1, approve_with_conditions 2, approve 3 (same order as the scorecard).
DECISION_ORDER = {d: i for i, d in enumerate(reversed(DECISIONS))}

SIGNAL_LABELS = {
    "authenticity": "Authenticity",
    "controversy": "Controversy",
    "disclosure": "Disclosure",
    "claims": "Claims",
    "alignment": "Alignment",
}
SIGNAL_MEANINGS = {
    "authenticity": "Fake followers and bought engagement: quality of a follower sample, follower jumps no "
    "viral note explains, engagement rate against the tier, like/collect/comment ratios real audiences "
    "do not produce.",
    "controversy": "Past scandals, apologies, plagiarism, backlash waves in the comments and 'avoid this' "
    "notes (翻车, 塌房, 避雷), recent and severe weighing most.",
    "disclosure": "Sponsored notes without the platform's partner label or a #广告-style disclosure, and "
    "'无广/自费' (not an ad) on notes that look paid.",
    "claims": "Advertising-Law risks in the creator's own claims: absolute words (最, 第一, 顶级), medical "
    "or efficacy claims for cosmetics and food, promised returns in finance.",
    "alignment": "Fit with this brief: content category, banned topics, brand values, recent paid work "
    "for a competitor.",
}
GRADE_COLOURS = {  # fill, font
    "A": ("#C6EFCE", "#006100"),
    "B": ("#E2F0D9", "#375623"),
    "C": ("#FFEB9C", "#7F6000"),
    "D": ("#F8CBAD", "#843C0C"),
    "F": ("#FFC7CE", "#9C0006"),
    "?": ("#E7E6E6", "#3A3838"),
}
DECISION_COLOURS = {
    "reject": ("#FFC7CE", "#9C0006"),
    "manual_review": ("#FCE4D6", "#843C0C"),
    "approve_with_conditions": ("#FFEB9C", "#7F6000"),
    "approve": ("#C6EFCE", "#006100"),
}

# Spreadsheet formula triggers (OWASP CSV injection): a cell starting with one of these is quoted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_RE = r"^[=+\-@\t\r]"
_SAFE_URL_RE = re.compile(r"https?://[^\s<>\"'`\\\x00-\x1f\x7f]+", re.IGNORECASE)
_SAFE_NAME_RE = re.compile(r"[a-z0-9_-]{1,80}")
_HASHED_NAME_RE = re.compile(r".*-[0-9a-f]{12}")  # the shape of the names dossier_filename hashes
_MAX_CELL = 32_000  # Excel's hard limit is 32,767 characters per cell
_MAX_URL = 2_000  # Excel ignores hyperlinks longer than 2,079 characters
_MAX_URLS_PER_SHEET = 65_000  # Excel's limit is 65,530
_MAX_EVIDENCE_PER_DOSSIER = 60


# ---------------------------------------------------------------------------------------------
# Small, separately testable guards.


def neutralise_cell(value: str | None) -> str | None:
    """A string made safe for a spreadsheet cell: a leading ``'`` when it could start a formula.

    ``=HYPERLINK(...)``, ``+1``, ``-2+3``, ``@SUM(A1)`` and strings starting with a tab or a
    carriage return become text in Excel, LibreOffice and Google Sheets. None stays None.
    """
    if value is None:
        return None
    return "'" + value if value.startswith(_FORMULA_START) else value


def neutralise_expr(col: str) -> pl.Expr:
    """Polars version of :func:`neutralise_cell` over a String column."""
    c = pl.col(col)
    return pl.when(c.str.contains(_FORMULA_START_RE)).then(pl.lit("'") + c).otherwise(c).alias(col)


def safe_url(url: str | None) -> str | None:
    """The URL when it is a plain http(s) link (no whitespace, quotes or control characters), else None.

    ``javascript:``, ``data:``, ``file:`` and look-alikes such as ``java\\tscript:`` are refused.
    """
    if not url:
        return None
    url = url.strip()
    if len(url) > _MAX_URL or not _SAFE_URL_RE.fullmatch(url):
        return None
    return url


def dossier_filename(creator_id: str) -> str:
    """A file name for a creator's dossier that cannot leave its folder or collide with ``index``.

    Ids made only of lower-case letters, digits, ``_`` and ``-`` (XHS ids are hex) are used as
    they are; anything else keeps its safe characters and gets a hash of the full id, so
    ``../../etc/passwd`` becomes ``etcpasswd-<hash>.html`` and distinct ids stay distinct even
    on case-insensitive file systems. A safe id that itself ends like a hashed name
    (``-`` and 12 hex digits) is hashed too, so that no crafted id can take another creator's
    file name (``etcpasswd-<hash of ../../etc/passwd>`` would otherwise overwrite that dossier).
    """
    if (
        _SAFE_NAME_RE.fullmatch(creator_id)
        and creator_id != "index"
        and not _HASHED_NAME_RE.fullmatch(creator_id)
    ):
        return creator_id + ".html"
    stem = re.sub(r"[^a-z0-9_-]", "", creator_id.lower())[:40]
    digest = hashlib.sha256(creator_id.encode("utf-8")).hexdigest()[:12]
    return f"{stem}-{digest}.html" if stem else f"id-{digest}.html"


def pseudonym(value: str, salt: str) -> str:
    """A stable salted pseudonym for a personal id: ``anon-`` plus 12 hex digits of SHA-256."""
    return "anon-" + hashlib.sha256(f"kol-vetting\x00{salt}\x00{value}".encode()).hexdigest()[:12]


def pseudonymise_ids(
    scorecard: pl.DataFrame, evidence: pl.DataFrame, salt: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Replace follower and comment ids by salted pseudonyms everywhere they appear.

    In: a scorecard and its evidence (EVIDENCE_SCHEMA). Ids of evidence rows of kind
    ``follower`` or ``comment`` are replaced in the evidence ids, in the scorecard's evidence
    id lists, and inside reason/condition/strength texts that quote them. Follower URLs (a
    profile link identifies the person) are dropped; comment URLs are kept only without the
    part that carries the comment id. Note ids (public content) stay as they are.
    Out: (scorecard, evidence) with the same schemas.
    """
    personal = evidence.filter(
        pl.col("kind").is_in(PERSONAL_KINDS) & pl.col("evidence_id").is_not_null()
    )
    ids = personal.get_column("evidence_id").unique().to_list()
    if not ids:
        return scorecard, evidence
    mapping = {i: pseudonym(i, salt) for i in ids}
    # Longest first so an id that is a prefix of another never splits it.
    old = sorted(mapping, key=len, reverse=True)
    new = [mapping[o] for o in old]

    def scrub_text(expr: pl.Expr) -> pl.Expr:
        return expr.str.replace_many(old, new, leftmost=True)

    def scrub_url(row: dict[str, Any]) -> str | None:
        url, raw, kind = row["url"], row["evidence_id"], row["kind"]
        if url is None or kind == "follower":
            return None
        if raw not in url:
            return url
        base = re.split(r"[?#]", url, maxsplit=1)[0]
        return None if raw in base else base

    urls = personal.select(
        "evidence_id",
        "kind",
        pl.struct("url", "evidence_id", "kind")
        .map_elements(scrub_url, return_dtype=pl.String)
        .alias("_url"),
    ).unique(["evidence_id", "kind"])
    ev = (
        evidence.join(urls, on=["evidence_id", "kind"], how="left")
        .with_columns(
            pl.when(pl.col("kind").is_in(PERSONAL_KINDS))
            .then(pl.col("_url"))
            .otherwise(pl.col("url"))
            .alias("url"),
            pl.when(pl.col("kind").is_in(PERSONAL_KINDS))
            .then(pl.col("evidence_id").replace(mapping))
            .otherwise(pl.col("evidence_id"))
            .alias("evidence_id"),
            scrub_text(pl.col("reason")).alias("reason"),
        )
        .select(evidence.columns)
    )
    sc = scorecard.with_columns(
        pl.col("evidence_ids").list.eval(pl.element().replace(mapping)),
        *[
            pl.col(c).list.eval(scrub_text(pl.element()))
            for c in ("reasons", "conditions", "strengths")
        ],
    )
    return sc, ev


# ---------------------------------------------------------------------------------------------
# Input preparation.


def _prepare(
    scorecard: pl.DataFrame, evidence: pl.DataFrame, brief: Brief
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check and order the inputs: scorecard in SCORECARD_SCHEMA sorted by severity, evidence in EVIDENCE_SCHEMA."""
    missing = [c for c in SCORECARD_SCHEMA.names() if c not in scorecard.columns]
    if missing:
        raise ValueError(
            f"scorecard lacks columns {missing}; expected kol_vetting.scorecard.SCORECARD_SCHEMA"
        )
    sc = scorecard.select(list(SCORECARD_SCHEMA.names())).cast(dict(SCORECARD_SCHEMA))
    others = (
        sc.filter(pl.col("brief").is_not_null() & (pl.col("brief") != brief.name))
        .get_column("brief")
        .unique()
        .to_list()
    )
    if others:
        raise ValueError(f"scorecard rows belong to brief(s) {sorted(others)}, not {brief.name!r}")
    dupes = (
        sc.filter(pl.col("creator_id").is_duplicated()).get_column("creator_id").unique().to_list()
    )
    if dupes:
        raise ValueError(
            f"scorecard has several rows for creator(s) {sorted(dupes)[:10]}; expected one per creator"
        )
    if sc.get_column("creator_id").null_count():
        raise ValueError("scorecard has rows without creator_id")
    sc = (
        sc.with_columns(
            pl.col("decision")
            .replace_strict(DECISION_ORDER, default=len(DECISION_ORDER), return_dtype=pl.Int32)
            .alias("_order")
        )
        .sort(
            ["_order", "overall_risk", "creator_id"],
            descending=[False, True, False],
            nulls_last=True,
        )
        .drop("_order")
    )

    ev = evidence
    for name, dtype in EVIDENCE_SCHEMA.items():
        if name not in ev.columns:
            if name in ("creator_id", "evidence_id"):
                raise ValueError(
                    f"evidence lacks column {name!r}; expected kol_vetting.export.EVIDENCE_SCHEMA"
                )
            ev = ev.with_columns(pl.lit(None, dtype).alias(name))
    ev = ev.select(list(EVIDENCE_SCHEMA.names())).cast(dict(EVIDENCE_SCHEMA))
    ev = ev.with_columns(
        pl.when(pl.col("kind").is_in(EVIDENCE_KINDS))
        .then(pl.col("kind"))
        .otherwise(pl.lit("other"))
        .alias("kind")
    )
    order = sc.select("creator_id", pl.int_range(pl.len(), dtype=pl.Int32).alias("_pos"))
    ev = (
        ev.filter(pl.col("brief").is_null() | (pl.col("brief") == brief.name))
        .join(order, on="creator_id", how="inner")
        .sort(
            ["_pos", "signal", "date", "evidence_id"],
            descending=[False, False, True, False],
            nulls_last=True,
        )
        .drop("_pos")
        .with_columns(pl.lit(brief.name).alias("brief"))
    )
    return sc, ev


# ---------------------------------------------------------------------------------------------
# The summary table shared by Excel and CSV.


@dataclass(frozen=True)
class _Col:
    header: str
    expr: pl.Expr
    kind: str  # text | int | money | float1 | float2 | float3 | pct | datetime
    width: float


def _summary_columns(brief: Brief, currency_header: str) -> list[_Col]:
    def joined(c: str) -> pl.Expr:
        return pl.col(c).list.join("; ")

    label = pl.col("decision").replace_strict(
        DECISION_LABELS, default=pl.col("decision"), return_dtype=pl.String
    )
    why = pl.coalesce(
        pl.col("reasons").list.first(),
        pl.col("conditions").list.first(),
        pl.col("strengths").list.first(),
        pl.lit(""),
    ).str.slice(0, 300)
    cols = [
        _Col("Creator", pl.coalesce("display_name", "handle", "creator_id"), "text", 22),
        _Col("Handle", pl.col("handle"), "text", 16),
        _Col("Decision", label, "text", 22),
        _Col("Why", why, "text", 60),
        _Col("Grade", pl.col("grade"), "text", 7),
        _Col("Overall risk (0–100)", pl.col("overall_risk"), "float1", 11),
        _Col("Confidence (0–1)", pl.col("confidence"), "float2", 11),
        _Col(f"Price ({currency_header})", pl.col("quoted_price"), "money", 12),
        _Col("Cost per engagement", pl.col("cpe"), "float2", 12),
        _Col("Expected engagement per note", pl.col("expected_engagement"), "int", 13),
        _Col("Engagement rate", pl.col("engagement_rate"), "pct", 11),
        _Col("Followers", pl.col("follower_count"), "int", 12),
        _Col("Tier", pl.col("tier"), "text", 8),
        _Col("Platform", pl.col("platform"), "text", 12),
        _Col("Category", pl.col("category"), "text", 11),
    ]
    for s in SIGNALS:
        lab = SIGNAL_LABELS[s]
        cols += [
            _Col(f"{lab} risk (0–100)", pl.col(f"{s}_risk"), "float1", 11),
            _Col(f"{lab} peer percentile", pl.col(f"{s}_percentile"), "float1", 11),
            _Col(f"{lab} confidence", pl.col(f"{s}_confidence"), "float2", 11),
        ]
    cols += [
        _Col("Reasons", joined("reasons"), "text", 70),
        _Col("Conditions", joined("conditions"), "text", 50),
        _Col("Strengths", joined("strengths"), "text", 40),
        _Col("Not assessed", joined("not_assessed"), "text", 16),
        _Col("Evidence ids", joined("evidence_ids"), "text", 30),
        _Col("Data as of", pl.col("data_as_of"), "datetime", 17),
        _Col("Currency", pl.col("currency"), "text", 9),
        _Col("Creator ID", pl.col("creator_id"), "text", 26),
        _Col("Dossier", pl.col("_dossier"), "text", 30),
        _Col("Brief", pl.lit(brief.name), "text", 14),
    ]
    return cols


def _currency_header(sc: pl.DataFrame, brief: Brief) -> str:
    currencies = sc.get_column("currency").drop_nulls().unique().to_list()
    if len(currencies) > 1:
        return "see Currency"
    return currencies[0] if currencies else brief.currency


def summary_table(
    scorecard: pl.DataFrame, brief: Brief, dossier_links: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """The scorecard as procurement reads it: human headers, lists joined with "; ", formula-safe text.

    In: a scorecard in SCORECARD_SCHEMA (already sorted the way it should be shown), the brief,
    and optionally creator_id -> relative dossier path. Out: one row per creator, the exact
    rows and columns of the Excel "Scorecard" sheet and of the CSV.
    """
    links = dict(dossier_links or {})
    sc = scorecard.with_columns(
        pl.col("creator_id")
        .replace_strict(links, default=pl.lit(""), return_dtype=pl.String)
        .alias("_dossier")
        if links
        else pl.lit("").alias("_dossier")
    )
    cols = _summary_columns(brief, _currency_header(sc, brief))
    out = sc.select([c.expr.alias(c.header) for c in cols])
    return out.with_columns([neutralise_expr(c.header) for c in cols if c.kind == "text"])


# ---------------------------------------------------------------------------------------------
# Excel.


def _formats(wb: xlsxwriter.Workbook) -> dict[str, Any]:
    base = {"valign": "top", "font_size": 10}
    return {
        "header": wb.add_format(
            {
                **base,
                "bold": True,
                "text_wrap": True,
                "bg_color": "#1F3864",
                "font_color": "#FFFFFF",
                "border": 1,
            }
        ),
        "text": wb.add_format(base),
        "int": wb.add_format({**base, "num_format": "#,##0"}),
        "money": wb.add_format({**base, "num_format": "#,##0.00"}),
        "float1": wb.add_format({**base, "num_format": "0.0"}),
        "float2": wb.add_format({**base, "num_format": "0.00"}),
        "float3": wb.add_format({**base, "num_format": "0.000"}),
        "pct": wb.add_format({**base, "num_format": "0.00%"}),
        "datetime": wb.add_format({**base, "num_format": "yyyy-mm-dd hh:mm"}),
        "wrap": wb.add_format({**base, "text_wrap": True}),
        "title": wb.add_format({"bold": True, "font_size": 14}),
        "section": wb.add_format({"bold": True, "font_size": 11, "bg_color": "#D9E1F2"}),
        "key": wb.add_format({**base, "bold": True}),
    }


def _write_cell(ws: Any, row: int, col: int, value: Any, kind: str, fmt: Mapping[str, Any]) -> None:
    """Write one value with the writer its type calls for; strings never become formulas or links."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        ws.write_blank(row, col, None, fmt["text"])
    elif kind == "datetime" and isinstance(value, (dt.datetime, dt.date)):
        ws.write_datetime(row, col, value, fmt["datetime"])
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, fmt["text"])
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, fmt.get(kind, fmt["text"]))
    else:
        ws.write_string(row, col, neutralise_cell(str(value))[:_MAX_CELL], fmt["text"])


def _write_table(
    ws: Any,
    table: pl.DataFrame,
    kinds: Sequence[str],
    widths: Sequence[float],
    fmt: Mapping[str, Any],
) -> None:
    for c, header in enumerate(table.columns):
        ws.write_string(0, c, header, fmt["header"])
        ws.set_column(c, c, widths[c])
    for r, row in enumerate(table.iter_rows(), start=1):
        for c, value in enumerate(row):
            _write_cell(ws, r, c, value, kinds[c], fmt)
    ws.freeze_panes(1, 1)  # header row and the creator column stay visible
    ws.autofilter(0, 0, max(table.height, 1), table.width - 1)
    ws.set_row(0, 42)


def _colour_rule(
    wb: xlsxwriter.Workbook, ws: Any, col: int, nrows: int, value: str, colours: tuple[str, str]
) -> None:
    fill, font = colours
    ws.conditional_format(
        1,
        col,
        max(nrows, 1),
        col,
        {
            "type": "cell",
            "criteria": "equal to",
            "value": '"' + value.replace('"', '""') + '"',
            "format": wb.add_format({"bg_color": fill, "font_color": font, "bold": True}),
        },
    )


def _write_scorecard_sheet(
    wb: xlsxwriter.Workbook,
    table: pl.DataFrame,
    cols: Sequence[_Col],
    dossier_col: str,
    fmt: Mapping[str, Any],
) -> None:
    ws = wb.add_worksheet("Scorecard")
    _write_table(ws, table, [c.kind for c in cols], [c.width for c in cols], fmt)
    headers = table.columns
    for grade, colours in GRADE_COLOURS.items():
        _colour_rule(wb, ws, headers.index("Grade"), table.height, grade, colours)
    for decision, colours in DECISION_COLOURS.items():
        _colour_rule(
            wb, ws, headers.index("Decision"), table.height, DECISION_LABELS[decision], colours
        )
    # Dossier cells link to the local HTML file; the path is ours (sanitised), never data.
    d = headers.index(dossier_col)
    for r, path in enumerate(table.get_column(dossier_col).to_list(), start=1):
        if path:
            ws.write_url(r, d, "external:" + path, string=path, tip="Open the creator's dossier")


def _write_evidence_sheet(
    wb: xlsxwriter.Workbook, sc: pl.DataFrame, ev: pl.DataFrame, fmt: Mapping[str, Any]
) -> None:
    ws = wb.add_worksheet("Evidence")
    names = sc.select(
        "creator_id",
        pl.coalesce("display_name", "handle", "creator_id").alias("_name"),
        pl.col("decision")
        .replace_strict(DECISION_LABELS, default=pl.col("decision"), return_dtype=pl.String)
        .alias("_decision"),
    )
    rows = ev.join(names, on="creator_id", how="left", maintain_order="left")
    table = rows.select(
        pl.col("_name").alias("Creator"),
        pl.col("_decision").alias("Decision"),
        pl.col("signal")
        .replace_strict(SIGNAL_LABELS, default=pl.col("signal"), return_dtype=pl.String)
        .alias("Signal"),
        pl.col("reason").alias("Supports reason"),
        pl.col("kind").alias("Kind"),
        pl.col("evidence_id").alias("Evidence id"),
        pl.col("date").alias("Date"),
        pl.col("url").alias("Link"),
        pl.col("creator_id").alias("Creator ID"),
    )
    kinds = ["text", "text", "text", "text", "text", "text", "datetime", "text", "text"]
    widths = [22, 20, 13, 70, 9, 28, 17, 45, 26]
    link_col = table.columns.index("Link")
    for c, header in enumerate(table.columns):
        ws.write_string(0, c, header, fmt["header"])
        ws.set_column(c, c, widths[c])
    n_links = 0
    for r, row in enumerate(table.iter_rows(), start=1):
        for c, value in enumerate(row):
            if c == link_col:
                url = safe_url(value)
                if url is not None and n_links < _MAX_URLS_PER_SHEET:
                    n_links += 1
                    ws.write_url(r, c, url, string=url, tip="Open the note")
                    continue
                # Not a safe http(s) link: show it as inert text, never as a hyperlink.
            _write_cell(ws, r, c, value, kinds[c], fmt)
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, max(table.height, 1), table.width - 1)
    ws.set_row(0, 30)


def _fmt_list(items: Sequence[str]) -> str:
    return ", ".join(items) if items else "(none)"


def _brief_rows(brief: Brief) -> list[tuple[str, str]]:
    comp = [
        f"{c.name} ({', '.join(c.aliases)})" if c.aliases else c.name for c in brief.competitors
    ]
    tiers = [f"{t}: {v.min_share:.0%}–{v.max_share:.0%}" for t, v in brief.tier_targets.items()]
    follower_range = (
        f"{brief.min_followers:,} – {brief.max_followers:,}"
        if brief.max_followers
        else f"{brief.min_followers:,} and more"
    )
    return [
        ("Brief", brief.name),
        ("Brand", brief.brand),
        ("Aliases", _fmt_list(brief.aliases)),
        ("Category", brief.category),
        ("Regulated category", brief.regulated_category),
        ("Budget", f"{brief.budget:,.2f} {brief.currency}"),
        ("Competitors", _fmt_list(comp)),
        ("Banned topics", _fmt_list(brief.banned_topics)),
        ("Brand values", _fmt_list(brief.values)),
        ("Keywords", _fmt_list(brief.keywords)),
        (
            "Candidate categories",
            _fmt_list(brief.candidate_categories or []) if brief.candidate_categories else "all",
        ),
        ("Followers vetted", follower_range),
        ("Budget split by tier", _fmt_list(tiers)),
        ("Largest share of budget per creator", f"{brief.max_share_per_creator:.0%}"),
        ("Highest average risk of the portfolio", f"{brief.max_average_risk:g}"),
        ("Highest risk of any one creator in the portfolio", f"{brief.max_creator_risk:g}"),
    ]


def _method_rows(brief: Brief) -> list[tuple[str, list[tuple[str, str]]]]:
    cfg = brief.scorecard_config()
    weights = cfg.weights.normalised()
    th = cfg.thresholds
    bands = sorted(cfg.grade_bands.items(), key=lambda kv: kv[1])
    band_rows: list[tuple[str, str]] = []
    lower = 0.0
    for i, (grade, upper) in enumerate(bands):
        text = (
            f"overall risk up to {upper:g}"
            if i == 0
            else f"overall risk above {lower:g}, up to {upper:g}"
        )
        band_rows.append((f"Grade {grade}", text))
        lower = upper
    band_rows.append(("Grade ?", "no sub-score could be assessed"))
    th_rows = [
        (name.replace("_", " "), f"{getattr(th, name):g} — {field.description}")
        for name, field in Thresholds.model_fields.items()
    ]
    return [
        (
            "How to read the scores",
            [
                ("Risk", "Every score is a risk on 0–100: higher is riskier."),
                (
                    "Overall risk",
                    "Weighted mean of the assessed sub-scores (weights below, renormalised over what was assessed).",
                ),
                (
                    "Peer percentile",
                    "Where the creator's sub-score sits among creators of the same platform and tier (90 = riskier than 90% of peers).",
                ),
                (
                    "Confidence",
                    "0–1: how much data stands behind a score. The overall confidence counts sub-scores that were not assessed as 0.",
                ),
                (
                    "Not assessed",
                    "The data a sub-score needs was missing (e.g. no follower sample). It is never guessed: it is left out of the overall risk, lowers confidence, and a missing authenticity score sends the creator to manual review.",
                ),
                (
                    "Cost per engagement",
                    f"Quoted price divided by the median engagement (likes + collects + comments) of the creator's notes of the last {cfg.recent_notes_days} days (all notes if none).",
                ),
                ("Engagement rate", "Expected engagement per note divided by followers."),
                (
                    "Evidence",
                    "Every reason points at notes, comments, follower accounts or dates on the Evidence sheet and in the dossiers.",
                ),
                (
                    "Pseudonymised ids",
                    "Follower and commenter ids are shown as stable pseudonyms (anon-…), salted with the brief name; note ids are public content and kept.",
                ),
            ],
        ),
        (
            "Sub-scores",
            [
                (f"{SIGNAL_LABELS[s]} (weight {weights[s]:.0%})", SIGNAL_MEANINGS[s])
                for s in SIGNALS
            ],
        ),
        (
            "Decision rules",
            [
                (
                    "Reject",
                    f"Overall risk ≥ {th.reject_at:g}, or any sub-score ≥ {th.reject_signal_at:g}.",
                ),
                (
                    "Manual review",
                    f"Not rejected, and: nothing assessed, authenticity not assessed, confidence < {th.min_confidence:g}, or sub-scores {th.disagreement:g}+ points apart.",
                ),
                (
                    "Approve with conditions",
                    f"Otherwise, overall risk ≥ {th.approve_below:g} or any sub-score ≥ {th.condition_signal_at:g}; each high sub-score adds its condition.",
                ),
                (
                    "Approve",
                    f"Otherwise (overall risk < {th.approve_below:g} and every sub-score < {th.condition_signal_at:g}).",
                ),
            ],
        ),
        ("Thresholds", th_rows),
        ("Grade bands", band_rows),
        (
            "Look-back windows",
            [
                ("Competitor work", f"{cfg.competitor_lookback_days} days"),
                ("Recent notes (expected engagement)", f"{cfg.recent_notes_days} days"),
            ],
        ),
    ]


def _write_brief_sheet(
    wb: xlsxwriter.Workbook, brief: Brief, data_as_of: dt.datetime | None, fmt: Mapping[str, Any]
) -> None:
    ws = wb.add_worksheet("Brief & method")
    ws.set_column(0, 0, 38)
    ws.set_column(1, 1, 110)
    ws.write_string(0, 0, "Brand brief", fmt["title"])
    r = 2
    for key, value in _brief_rows(brief):
        ws.write_string(r, 0, key, fmt["key"])
        ws.write_string(r, 1, neutralise_cell(value)[:_MAX_CELL], fmt["wrap"])
        r += 1
    if data_as_of is not None:
        ws.write_string(r, 0, "Data as of (latest)", fmt["key"])
        ws.write_datetime(r, 1, data_as_of, fmt["datetime"])
        r += 1
    r += 1
    ws.write_string(r, 0, "Method", fmt["title"])
    r += 2
    for section, rows in _method_rows(brief):
        ws.write_string(r, 0, section, fmt["section"])
        ws.write_blank(r, 1, None, fmt["section"])
        r += 1
        for key, value in rows:
            ws.write_string(r, 0, key, fmt["key"])
            ws.write_string(r, 1, neutralise_cell(value), fmt["wrap"])
            r += 1
        r += 1


def _write_portfolio_sheet(wb: xlsxwriter.Workbook, doc: Mapping[str, Any], fmt: Mapping[str, Any]) -> None:
    """Sheet "Portfolio": the recommended selection, totals, runners-up and the naive baselines.

    ``doc`` is :meth:`kol_vetting.portfolio.PortfolioResult.to_json` output; every string goes
    through the same neutralising cell writer as the other sheets.
    """
    ws = wb.add_worksheet("Portfolio")
    ws.set_column(0, 0, 26)
    ws.set_column(1, 6, 16)
    ws.set_column(7, 7, 80)
    ws.write_string(0, 0, "Recommended portfolio", fmt["title"])
    facts = [
        ("Status", doc.get("status")),
        ("Budget", doc.get("budget")),
        ("Total cost", doc.get("total_cost")),
        ("Expected engagement", doc.get("expected_engagement")),
        ("Expected unique reach", doc.get("expected_unique_reach")),
        ("Average frequency", doc.get("average_frequency")),
        ("Average risk", doc.get("average_risk")),
        ("Optimality gap", doc.get("optimality_gap")),
    ]
    row = 2
    for key, value in facts:
        ws.write_string(row, 0, key, fmt["key"])
        _write_cell(ws, row, 1, value, "money" if isinstance(value, float) else "text", fmt)
        row += 1
    if doc.get("infeasible"):
        ws.write_string(row, 0, "Infeasible", fmt["key"])
        _write_cell(ws, row, 1, json.dumps(doc["infeasible"], ensure_ascii=False, default=str), "text", fmt)
        row += 1
    row += 1
    header = ["Creator", "Name", "Tier", "Cost", "Expected engagement", "Risk", "", "Why chosen"]
    ws.write_row(row, 0, header, fmt["header"])
    ws.freeze_panes(row + 1, 0)
    row += 1
    for item in doc.get("selected", []):
        values = [item.get("creator_id"), item.get("display_name"), item.get("tier"), item.get("cost"),
                  item.get("expected_engagement"), item.get("risk"), None, item.get("why")]
        kinds = ["text", "text", "text", "money", "int", "float1", "text", "text"]
        for col, (v, k) in enumerate(zip(values, kinds)):
            _write_cell(ws, row, col, v, k, fmt)
        row += 1
    row += 1
    ws.write_string(row, 0, "Runners-up and why they were not chosen", fmt["section"])
    row += 1
    for item in doc.get("runners_up", []):
        _write_cell(ws, row, 0, item.get("creator_id"), "text", fmt)
        _write_cell(ws, row, 7, item.get("why_not"), "text", fmt)
        row += 1
    row += 1
    ws.write_string(row, 0, "Naive baselines on the same pool and budget", fmt["section"])
    row += 1
    ws.write_row(row, 0, ["Baseline", "Total cost", "Expected engagement", "Unique reach", "Cost per engagement", "Average risk"], fmt["header"])
    row += 1
    for b in doc.get("baselines", []):
        values = [b.get("name"), b.get("total_cost"), b.get("expected_engagement"), b.get("expected_unique_reach"),
                  b.get("cost_per_engagement"), b.get("average_risk")]
        for col, (v, k) in enumerate(zip(values, ["text", "money", "int", "int", "float2", "float1"])):
            _write_cell(ws, row, col, v, k, fmt)
        row += 1


def write_xlsx(
    path: Path, sc: pl.DataFrame, ev: pl.DataFrame, brief: Brief, dossier_links: Mapping[str, str],
    portfolio: Mapping[str, Any] | None = None,
) -> None:
    """Write the workbook (sheets Scorecard, Evidence, Brief & method) to ``path``.

    In: the prepared scorecard (sorted, pseudonymised), its evidence, the brief, and
    creator_id -> relative dossier path. Every string cell goes through write_string after
    neutralisation; hyperlinks are written explicitly, only for http(s) note URLs.
    """
    cols = _summary_columns(brief, _currency_header(sc, brief))
    table = summary_table(sc, brief, dossier_links)
    as_of = sc.get_column("data_as_of").max()
    wb = xlsxwriter.Workbook(
        str(path),
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "nan_inf_to_errors": True,
        },
    )
    try:
        # A fixed creation date keeps re-exports of the same data byte-stable.
        wb.set_properties(
            {
                "title": f"KOL scorecard: {brief.name}",
                "subject": brief.brand,
                "author": "kol-vetting",
                "created": as_of if isinstance(as_of, dt.datetime) else dt.datetime(2000, 1, 1),
            }
        )
        fmt = _formats(wb)
        _write_scorecard_sheet(wb, table, cols, "Dossier", fmt)
        _write_evidence_sheet(wb, sc, ev, fmt)
        if portfolio is not None:
            _write_portfolio_sheet(wb, portfolio, fmt)
        _write_brief_sheet(wb, brief, as_of if isinstance(as_of, dt.datetime) else None, fmt)
    finally:
        wb.close()


def write_csv(path: Path, sc: pl.DataFrame, brief: Brief, dossier_links: Mapping[str, str]) -> None:
    """Write the summary table as UTF-8 CSV with a BOM (Excel then reads Chinese correctly)."""
    table = summary_table(sc, brief, dossier_links)
    table.write_csv(
        path, include_bom=True, datetime_format="%Y-%m-%d %H:%M:%S", float_precision=None
    )


def write_parquet(path: Path, sc: pl.DataFrame) -> None:
    """Write the scorecard rows in SCORECARD_SCHEMA (lists kept as lists) for analysts."""
    sc.select(list(SCORECARD_SCHEMA.names())).write_parquet(path)


# ---------------------------------------------------------------------------------------------
# HTML dossiers.

_CSS = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;
 margin:24px auto;max-width:1000px;color:#222;font-size:14px;line-height:1.45;padding:0 16px}
h1{margin:0 0 4px;font-size:22px} h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.muted{color:#666}.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:bold;margin-right:6px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f5f6f8;font-weight:600}.facts td{border:0;padding:2px 12px 2px 0}
.bar{background:#eee;border-radius:3px;height:12px;width:180px;display:inline-block;vertical-align:middle}
.bar span{display:block;height:12px;border-radius:3px}.num{text-align:right;white-space:nowrap}
img{max-width:100%}ul{margin:4px 0 4px 18px;padding:0}.plots{display:flex;flex-wrap:wrap;gap:8px}
.plots figure{margin:0;flex:1 1 440px}figcaption{font-size:12px;color:#666}
@media print{body{margin:0;font-size:11px}h2{margin-top:12px}}
"""
# Defence in depth: even if some text escaped escaping, no script, frame or remote load runs.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _e(value: Any) -> str:
    """HTML-escaped text ('' for None)."""
    return "" if value is None else html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def _link(url: str | None, text: str) -> str:
    """An <a> for a safe http(s) URL, else the escaped text alone."""
    u = safe_url(url)
    if u is None:
        return _e(text)
    return f'<a href="{_e(u)}" rel="noopener noreferrer nofollow" target="_blank">{_e(text)}</a>'


def _badge(text: str, colours: tuple[str, str]) -> str:
    fill, font = colours
    return f'<span class="badge" style="background:{fill};color:{font}">{_e(text)}</span>'


def _num(value: float | None, spec: str, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, spec) + suffix


def _risk_colour(risk: float, th: Thresholds) -> str:
    if risk >= th.reject_at:
        return "#C00000"
    if risk >= th.approve_below:
        return "#E69500"
    return "#2E8B57"


def _items(values: Sequence[str] | None, empty: str) -> str:
    if not values:
        return f'<p class="muted">{_e(empty)}</p>'
    return "<ul>" + "".join(f"<li>{_e(v)}</li>" for v in values) + "</ul>"


def _dossier_html(
    row: Mapping[str, Any],
    evidence: list[dict[str, Any]],
    plots: Mapping[str, str | None],
    brief: Brief,
    th: Thresholds,
) -> str:
    name = row["display_name"] or row["handle"] or row["creator_id"]
    decision = row["decision"]
    label = DECISION_LABELS.get(decision, decision or "?")
    grade = row["grade"] or "?"
    cur = row["currency"] or brief.currency
    as_of = row["data_as_of"].strftime("%Y-%m-%d %H:%M UTC") if row["data_as_of"] else "unknown"
    facts = [
        ("Handle", _e(row["handle"] or "–")),
        ("Creator id", _e(row["creator_id"])),
        ("Platform / category", f"{_e(row['platform'] or '–')} / {_e(row['category'] or '–')}"),
        ("Tier", _e(row["tier"] or "–")),
        ("Followers", _num(row["follower_count"], ",")),
        ("Quoted price", f"{_num(row['quoted_price'], ',.0f')} {_e(cur)}"),
        ("Expected engagement per note", _num(row["expected_engagement"], ",.0f")),
        ("Cost per engagement", f"{_num(row['cpe'], ',.2f')} {_e(cur)}"),
        (
            "Engagement rate",
            _num(
                None if row["engagement_rate"] is None else row["engagement_rate"] * 100, ".2f", "%"
            ),
        ),
        (
            "Overall risk",
            f"{_num(row['overall_risk'], '.1f')} / 100 (confidence {_num(row['confidence'], '.2f')})",
        ),
        ("Data as of", _e(as_of)),
    ]
    score_rows = []
    for s in SIGNALS:
        risk, pct, conf = row[f"{s}_risk"], row[f"{s}_percentile"], row[f"{s}_confidence"]
        if risk is None:
            bar = '<span class="muted">not assessed</span>'
        else:
            width = max(0.0, min(100.0, float(risk)))
            bar = f'<span class="bar"><span style="width:{width:.0f}%;background:{_risk_colour(width, th)}"></span></span>'
        score_rows.append(
            f'<tr><td><b>{_e(SIGNAL_LABELS[s])}</b><br><span class="muted">{_e(SIGNAL_MEANINGS[s])}</span></td>'
            f'<td>{bar}</td><td class="num">{_num(risk, ".0f")}</td><td class="num">{_num(pct, ".0f")}</td>'
            f'<td class="num">{_num(conf, ".2f")}</td></tr>'
        )
    ev_rows = []
    for item in evidence[:_MAX_EVIDENCE_PER_DOSSIER]:
        when = item["date"].strftime("%Y-%m-%d") if item["date"] else ""
        ev_rows.append(
            f"<tr><td>{_e(SIGNAL_LABELS.get(item['signal'] or '', item['signal'] or ''))}</td><td>{_e(item['reason'])}</td>"
            f"<td>{_e(item['kind'])}</td><td>{_link(item['url'], item['evidence_id'] or 'link')}</td><td>{_e(when)}</td></tr>"
        )
    listed = {item["evidence_id"] for item in evidence}
    loose = [i for i in (row["evidence_ids"] or []) if i not in listed]
    if len(evidence) > _MAX_EVIDENCE_PER_DOSSIER:
        ev_rows.append(
            f'<tr><td colspan="5" class="muted">… {len(evidence) - _MAX_EVIDENCE_PER_DOSSIER} more items on the Evidence sheet of scorecard.xlsx</td></tr>'
        )
    ev_html = (
        "<table><tr><th>Signal</th><th>Supports</th><th>Kind</th><th>Evidence</th><th>Date</th></tr>"
        + "".join(ev_rows)
        + "</table>"
        if ev_rows
        else '<p class="muted">No evidence items listed.</p>'
    )
    if loose:
        ev_html += f'<p class="muted">Other evidence ids: {_e(", ".join(loose))}</p>'
    figs = []
    for key, caption in (
        ("followers", "Followers over time"),
        (
            "engagement",
            "Engagement per note (likes + collects + comments); sponsored notes (platform label) in orange",
        ),
    ):
        src = plots.get(key)
        figs.append(
            f'<figure><img alt="{_e(caption)}" src="data:image/svg+xml;base64,{src}"><figcaption>{_e(caption)}</figcaption></figure>'
            if src
            else f'<figure><p class="muted">{_e(caption)}: no data.</p></figure>'
        )
    not_assessed = row["not_assessed"] or []
    body = f"""<p class="muted"><a href="index.html">← all creators of brief {_e(brief.name)}</a></p>
<h1>{_e(name)}</h1>
<p>{_badge(label, DECISION_COLOURS.get(decision, GRADE_COLOURS["?"]))}{_badge("Grade " + grade, GRADE_COLOURS.get(grade, GRADE_COLOURS["?"]))}
<span class="muted">Brief {_e(brief.name)} · brand {_e(brief.brand)}</span></p>
<table class="facts">{"".join(f'<tr><td class="muted">{k}</td><td>{v}</td></tr>' for k, v in facts)}</table>
<h2>Why</h2>{_items(row["reasons"], "No risk reasons.")}
<h2>Conditions</h2>{_items(row["conditions"], "No conditions.")}
<h2>Strengths</h2>{_items(row["strengths"], "None stated.")}
<h2>Sub-scores</h2>
<table><tr><th>Signal</th><th>Risk</th><th class="num">Risk 0–100</th><th class="num">Peer percentile</th><th class="num">Confidence</th></tr>
{"".join(score_rows)}</table>
{f'<p class="muted">Not assessed (data missing, never guessed): {_e(", ".join(not_assessed))}</p>' if not_assessed else ""}
<h2>Trends</h2><div class="plots">{"".join(figs)}</div>
<h2>Evidence</h2>{ev_html}"""
    return _page(f"{name} · {label} · {brief.name}", body)


def _index_html(sc: pl.DataFrame, links: Mapping[str, str], brief: Brief) -> str:
    rows = []
    counts = {d: 0 for d in DECISIONS}
    for r in sc.iter_rows(named=True):
        counts[r["decision"]] = counts.get(r["decision"], 0) + 1
        name = r["display_name"] or r["handle"] or r["creator_id"]
        file = links.get(r["creator_id"])
        # File names come from dossier_filename (safe characters only); still escaped.
        cell = f'<a href="{_e(file)}">{_e(name)}</a>' if file else _e(name)
        why = (r["reasons"] or r["conditions"] or r["strengths"] or [""])[0]
        decision = r["decision"]
        grade = r["grade"] or "?"
        rows.append(
            f'<tr><td>{cell}<br><span class="muted">{_e(r["handle"] or "")}</span></td>'
            f"<td>{_badge(DECISION_LABELS.get(decision, decision or '?'), DECISION_COLOURS.get(decision, GRADE_COLOURS['?']))}</td>"
            f"<td>{_badge(grade, GRADE_COLOURS.get(grade, GRADE_COLOURS['?']))}</td>"
            f'<td class="num">{_num(r["overall_risk"], ".1f")}</td><td>{_e(r["tier"] or "")}</td>'
            f'<td class="num">{_num(r["follower_count"], ",")}</td>'
            f'<td class="num">{_num(r["quoted_price"], ",.0f")} {_e(r["currency"] or "")}</td>'
            f'<td class="num">{_num(r["cpe"], ",.2f")}</td><td>{_e(why)}</td></tr>'
        )
    summary = " · ".join(f"{DECISION_LABELS[d]}: {counts.get(d, 0)}" for d in reversed(DECISIONS))
    body = f"""<h1>Brief {_e(brief.name)}: {_e(brief.brand)}</h1>
<p class="muted">{sc.height} creators · {_e(summary)} · budget {brief.budget:,.0f} {_e(brief.currency)}.
Risks are 0–100, higher is riskier; the method is on the "Brief &amp; method" sheet of scorecard.xlsx.</p>
<table><tr><th>Creator</th><th>Decision</th><th>Grade</th><th class="num">Risk</th><th>Tier</th><th class="num">Followers</th>
<th class="num">Price</th><th class="num">CPE</th><th>Why</th></tr>
{"".join(rows)}</table>"""
    return _page(f"Scorecard · {brief.name}", body)


class _Plotter:
    """Draws the two dossier plots as small inline SVG images (base64), for every dossier.

    A chart here is a polyline or a set of dots over two axes with three date ticks and three
    value ticks: a few hundred bytes of SVG built from numbers with numpy, about 100 times
    cheaper than rasterising a matplotlib figure, vector-sharp when printed, and with no text
    written by a creator in it (labels are dates and numbers we format). Served through
    ``<img src="data:image/svg+xml;base64,…">``, so a browser never runs anything in it.
    """

    W, H = 432, 192  # px; the plot area is inset for the tick labels
    _L, _R, _T, _B = 44, 8, 22, 22
    COLOURS: ClassVar[dict[str, str]] = {"line": "#1F77B4", "organic": "#1F77B4", "sponsored": "#FF7F0E"}

    def _frame(self, x0: float, x1: float, y0: float, y1: float) -> tuple[list[str], Any, Any]:
        """Axes, grid and tick labels; returns the SVG parts and the x/y -> pixel functions."""
        pw, ph = self.W - self._L - self._R, self.H - self._T - self._B
        sx = lambda v: self._L + (v - x0) / (x1 - x0) * pw
        sy = lambda v: self._T + ph - (v - y0) / (y1 - y0) * ph
        parts = [
            (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.W}" height="{self.H}" '
             f'viewBox="0 0 {self.W} {self.H}" font-family="sans-serif" font-size="10" fill="#333">'),
            f'<rect width="{self.W}" height="{self.H}" fill="#fff"/>',
        ]
        for v in _nice_ticks(y0, y1):  # round value ticks with light grid lines
            y = sy(v)
            parts.append(f'<line x1="{self._L}" x2="{self.W - self._R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{self._L - 4}" y="{y + 3:.1f}" text-anchor="end">{_si_tick(v)}</text>')
        fmt = "%Y-%m-%d" if x1 - x0 < 120 else "%Y-%m"
        epoch = dt.date(1970, 1, 1)
        for f, anchor in ((0.08, "start"), (0.5, "middle"), (0.92, "end")):
            t = x0 + (x1 - x0) * f
            label = (epoch + dt.timedelta(days=round(t))).strftime(fmt)
            parts.append(f'<text x="{sx(t):.1f}" y="{self.H - 6}" text-anchor="{anchor}">{label}</text>')
        parts.append(
            f'<line x1="{self._L}" x2="{self.W - self._R}" y1="{self._T + ph}" y2="{self._T + ph}" stroke="#888"/>'
        )
        return parts, sx, sy

    @staticmethod
    def _limits(x: Any, y: Any, zero_based: bool) -> tuple[float, float, float, float]:
        x0, x1 = float(x.min()), float(x.max())
        if x1 - x0 < 1:
            x0, x1 = x0 - 1, x1 + 1
        pad = (x1 - x0) * 0.03
        y1 = float(y.max()) if len(y) else 1.0
        y0 = 0.0 if zero_based else float(y.min())
        ypad = max((y1 - y0) * 0.08, 1.0)
        return x0 - pad, x1 + pad, max(0.0, y0 - ypad), y1 + ypad

    @staticmethod
    def _b64(parts: list[str]) -> str:
        return base64.b64encode(("".join(parts) + "</svg>").encode("utf-8")).decode("ascii")

    @staticmethod
    def _coords(px: Any, py: Any) -> str:
        import numpy as np

        pts = np.column_stack([px, py]).round(1)
        return " ".join(f"{a:g},{b:g}" for a, b in pts.tolist())

    def followers(self, history: pl.DataFrame | None) -> str | None:
        """Follower count per day (columns date, follower_count) as a line, or None without data."""
        if history is None or history.height == 0:
            return None
        h = history.drop_nulls(["date", "follower_count"]).sort("date").select(**_FOLLOWER_XY)
        return self.followers_xy(h.get_column("x").to_numpy(), h.get_column("y").to_numpy())

    def followers_xy(self, x: Any, y: Any) -> str | None:
        """:meth:`followers` from arrays: x = days since 1970 (ascending), y = followers."""
        if len(x) == 0:
            return None
        parts, sx, sy = self._frame(*self._limits(x, y, zero_based=False))
        parts.append(
            f'<polyline fill="none" stroke="{self.COLOURS["line"]}" stroke-width="1.4" '
            f'points="{self._coords(sx(x), sy(y))}"/>'
        )
        return self._b64(parts)

    def engagement(self, notes: pl.DataFrame | None) -> str | None:
        """Likes + collects + comments per note over publication time; sponsored notes highlighted."""
        if notes is None or notes.height == 0:
            return None
        n = notes.filter(pl.col("published_at").is_not_null()).select(**_ENGAGEMENT_XYS)
        return self.engagement_xy(
            n.get_column("x").to_numpy(), n.get_column("y").to_numpy(), n.get_column("s").to_numpy()
        )

    def engagement_xy(self, x: Any, y: Any, mask: Any) -> str | None:
        """:meth:`engagement` from arrays: x = days since 1970, y = engagements, mask = sponsored."""
        if len(x) == 0:
            return None
        parts, sx, sy = self._frame(*self._limits(x, y, zero_based=True))
        for label, sel, shape in (("organic", ~mask, "dot"), ("sponsored", mask, "diamond")):
            if not sel.any():
                continue
            colour = self.COLOURS[label]
            # One path per series: "M x y" + a tiny shape per point (a dot or a diamond).
            shape_d = "m-1.8 0a1.8 1.8 0 1 0 3.6 0a1.8 1.8 0 1 0-3.6 0" if shape == "dot" else "m0-3.5l3.5 3.5l-3.5 3.5l-3.5-3.5z"
            moves = " ".join(f"M{c}{shape_d}" for c in self._coords(sx(x[sel]), sy(y[sel])).split())
            opacity = ' fill-opacity="0.7"' if shape == "dot" else ""
            parts.append(f'<path fill="{colour}"{opacity} d="{moves}"/>')
        # Legend above the plot area.
        parts.append(f'<circle cx="{self._L + 4}" cy="10" r="3" fill="{self.COLOURS["organic"]}"/>'
                     f'<text x="{self._L + 10}" y="13">organic</text>'
                     f'<path fill="{self.COLOURS["sponsored"]}" d="M{self._L + 70} 6.5l3.5 3.5l-3.5 3.5l-3.5-3.5z"/>'
                     f'<text x="{self._L + 77}" y="13">sponsored (label)</text>')
        return self._b64(parts)


#: The dossier plots' coordinates, as expressions (per creator or for all creators at once).
_FOLLOWER_XY = {
    "x": pl.col("date").cast(pl.Date).cast(pl.Int32).cast(pl.Float64),
    "y": pl.col("follower_count").cast(pl.Float64),
}
_ENGAGEMENT_XYS = {
    "x": pl.col("published_at").cast(pl.Datetime("us")).cast(pl.Int64) / 86_400e6,
    "y": (pl.col("likes").fill_null(0) + pl.col("collects").fill_null(0) + pl.col("comments").fill_null(0)).cast(
        pl.Float64
    ),
    "s": pl.col("platform_sponsor_label").cast(pl.Boolean).fill_null(False),
}


def _nice_ticks(lo: float, hi: float, target: int = 3) -> list[float]:
    """Round tick values in [lo, hi] (steps of 1, 2 or 5 times a power of ten), the count
    closest to ``target`` and at least two when the range allows."""
    span = hi - lo
    if span <= 0:
        return [lo]
    mag = 10 ** math.floor(math.log10(span / target))

    def ticks(step: float) -> list[float]:
        first = math.ceil(lo / step) * step
        return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]

    options = [ticks(m * mag * k) for k in (1, 10) for m in (1, 2, 5)]
    return min(options, key=lambda t: (len(t) < 2, abs(len(t) - target)))


def _si_tick(v: float) -> str:
    """A tick label in k/M with as many decimals as the value needs (10.8k, 11k, 1.25M)."""
    a = abs(v)
    for div, suffix in ((1e6, "M"), (1e3, "k"), (1.0, "")):
        if a >= div or div == 1.0:
            return f"{round(v / div, 2):g}{suffix}"
    return f"{v:g}"


def _arrays_by_creator(
    frame: pl.DataFrame | None,
    ids: Sequence[str],
    columns: Sequence[str],
    xy: Mapping[str, pl.Expr],
    *,
    optional: Sequence[str] = (),
    sort_by: Sequence[str] = (),
) -> dict[str, tuple[Any, ...]]:
    """creator_id -> the plot arrays (``xy`` evaluated) of that creator's rows, for ``ids``.

    One vectorized pass for all creators (rows with a null in ``columns`` dropped, ``optional``
    columns the table lacks added as nulls, a stable sort by creator then ``sort_by``), then
    numpy slices per creator: no per-creator query. Within a creator, rows keep their table
    order (or ``sort_by`` order), as the per-frame plot methods see them. A table without
    ``columns`` gives no plots.
    """
    if frame is None or frame.height == 0 or not {"creator_id", *columns} <= set(frame.columns):
        return {}
    f = frame.filter(pl.col("creator_id").is_in(list(ids))).drop_nulls(list(columns))
    f = f.with_columns([pl.lit(None).alias(c) for c in optional if c not in f.columns])
    f = f.sort(["creator_id", *sort_by], maintain_order=True).select("creator_id", **xy)
    if f.height == 0:
        return {}
    runs = f.select(pl.col("creator_id").rle_id().alias("r")).with_row_index("i").group_by("r", maintain_order=True).agg(
        pl.col("i").first().alias("start"), pl.len().alias("n")
    )
    who = f.get_column("creator_id").gather(runs.get_column("start")).to_list()
    cols = [f.get_column(c).to_numpy() for c in xy]
    return {
        cid: tuple(a[start : start + n] for a in cols)
        for cid, start, n in zip(who, runs.get_column("start").to_list(), runs.get_column("n").to_list(), strict=True)
    }


def write_dossiers(
    folder: Path,
    sc: pl.DataFrame,
    ev: pl.DataFrame,
    brief: Brief,
    *,
    follower_history: pl.DataFrame | None = None,
    notes: pl.DataFrame | None = None,
    max_dossiers: int | None = None,
) -> dict[str, str]:
    """Write ``index.html`` and one ``<file>.html`` per creator into ``folder`` (which must exist).

    In: the prepared scorecard (sorted) and evidence, the brief, optional follower history
    (creator_id, date, follower_count) and notes (creator_id, published_at, likes, collects,
    comments, platform_sponsor_label). ``max_dossiers`` caps the dossiers written, in
    scorecard order (rejects and reviews first). Out: creator_id -> file name of its dossier.
    """
    n = sc.height if max_dossiers is None else max(0, min(max_dossiers, sc.height))
    chosen = sc.head(n)
    ids = chosen.get_column("creator_id").to_list()
    files = {cid: dossier_filename(cid) for cid in ids}
    th = brief.scorecard_config().thresholds
    root = folder.resolve()
    history = _arrays_by_creator(follower_history, ids, ["date", "follower_count"], _FOLLOWER_XY, sort_by=["date"])
    note_parts = _arrays_by_creator(
        notes, ids, ["published_at"], _ENGAGEMENT_XYS,
        optional=["likes", "collects", "comments", "platform_sponsor_label"],
    )
    evidence = {
        k[0]: v.to_dicts()
        for k, v in ev.filter(pl.col("creator_id").is_in(ids))
        .partition_by("creator_id", as_dict=True)
        .items()
    }
    plotter = _Plotter() if ids and (history or note_parts) else None
    for row in chosen.iter_rows(named=True):
        cid = row["creator_id"]
        plots = {"followers": None, "engagement": None}
        if plotter is not None:
            fx, ex = history.get(cid), note_parts.get(cid)
            plots = {
                "followers": plotter.followers_xy(*fx) if fx else None,
                "engagement": plotter.engagement_xy(*ex) if ex else None,
            }
        target = (folder / files[cid]).resolve()
        if target.parent != root:  # belt and braces: dossier_filename already prevents this
            raise ValueError(f"dossier path for creator {cid!r} leaves the dossiers folder")
        target.write_text(
            _dossier_html(row, evidence.get(cid, []), plots, brief, th), encoding="utf-8"
        )
    (folder / "index.html").write_text(_index_html(sc, files, brief), encoding="utf-8")
    return files


# ---------------------------------------------------------------------------------------------
# The export as one unit.


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Move the finished files from ``staging`` into ``out_dir``, each replaced atomically.

    Only our own entries are touched (other files in ``out_dir`` stay). Files are replaced with
    os.replace; the dossiers folder is swapped by renaming the old one aside first.
    """
    trash = out_dir / f".old-dossiers-{uuid.uuid4().hex[:8]}"
    old_dossiers = out_dir / "dossiers"
    if old_dossiers.exists():
        old_dossiers.rename(trash)
    try:
        (staging / "dossiers").rename(old_dossiers)
    except OSError:
        if trash.exists():
            trash.rename(old_dossiers)  # put the previous dossiers back
        raise
    for name in ("scorecard.parquet", "scorecard.csv", "scorecard.xlsx"):
        os.replace(staging / name, out_dir / name)
    shutil.rmtree(trash, ignore_errors=True)


def export_scorecard(
    scorecard: pl.DataFrame,
    evidence: pl.DataFrame,
    brief: Brief,
    out_dir: Path,
    *,
    follower_history: pl.DataFrame | None = None,
    notes: pl.DataFrame | None = None,
    pseudonymise: bool = True,
    max_dossiers: int | None = None,
    portfolio: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the procurement exports of one brief's scorecard into ``out_dir``.

    In:
      scorecard: SCORECARD_SCHEMA rows of ``brief`` (one per creator; any order).
      evidence: EVIDENCE_SCHEMA rows (url, date, kind, signal, reason may be missing or null).
      brief: the brief (its fields and decision rules fill the "Brief & method" sheet).
      out_dir: e.g. ``exports/<brief>/``; created when missing. Other files in it are left alone.
      follower_history, notes: contract tables for the dossier plots (optional).
      pseudonymise: replace follower and comment ids by salted pseudonyms (salt: brief name).
      max_dossiers: write dossiers for the first N creators only (rejects first); default all.
      portfolio: the brief's portfolio JSON (PortfolioResult.to_json()); adds a "Portfolio" sheet.

    Out: paths by key: "xlsx", "csv", "parquet", "dossiers" (folder) and "index" (dossiers/index.html).

    Everything is built in a temporary folder next to ``out_dir`` and moved in at the end, so an
    export that fails midway leaves the previous export's files as they were.
    """
    out_dir = Path(out_dir)
    sc, ev = _prepare(scorecard, evidence, brief)
    if pseudonymise:
        sc, ev = pseudonymise_ids(sc, ev, brief.name)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.export-", dir=out_dir.parent))
    try:
        (staging / "dossiers").mkdir()
        files = write_dossiers(
            staging / "dossiers",
            sc,
            ev,
            brief,
            follower_history=follower_history,
            notes=notes,
            max_dossiers=max_dossiers,
        )
        links = {cid: f"dossiers/{name}" for cid, name in files.items()}
        write_parquet(staging / "scorecard.parquet", sc)
        write_csv(staging / "scorecard.csv", sc, brief, links)
        write_xlsx(staging / "scorecard.xlsx", sc, ev, brief, links, portfolio)
        out_dir.mkdir(parents=True, exist_ok=True)
        _swap_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "xlsx": out_dir / "scorecard.xlsx",
        "csv": out_dir / "scorecard.csv",
        "parquet": out_dir / "scorecard.parquet",
        "dossiers": out_dir / "dossiers",
        "index": out_dir / "dossiers" / "index.html",
    }
