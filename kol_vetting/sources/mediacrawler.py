"""Read a MediaCrawler Xiaohongshu export into contract tables.

MediaCrawler (github.com/NanmiCoder/MediaCrawler) writes one file per run, crawler type and
item type: ``[{n}_]{search|detail|creator}_{contents|comments|creator}_{YYYY-MM-DD}.{csv|json|jsonl}``,
usually under ``data/xhs/{csv,json,jsonl}/``. CSV is UTF-8 with BOM, ``.json`` a JSON array
(rewritten on every item, so a crash can leave it cut short), ``.jsonl`` one object per line.

Two generations are supported:

* **classic**: authors and commenters as ``user_id`` with nickname, avatar and ``ip_location``,
  plus creator files (profile with ``fans``/``follows``) from ``creator`` crawls;
* **anonymised** (newer releases): ``creator_hash`` instead of ``user_id``, masked nicknames, no
  ``ip_location`` and no creator files.

Mapping (source field → contract column):

* contents → notes: note_id; creator_id ← user_id / creator_hash; published_at ← time (epoch);
  title; body ← desc; tags ← tag_list (comma-joined); note_type ← type; likes ← liked_count;
  collects ← collected_count; comments ← comment_count; shares ← share_count; url ← note_url;
  captured_at ← last_modify_ts (when the crawler stored the row) else last_update_time.
* comments → comments: comment_id; note_id; commenter_id ← user_id / creator_hash;
  commenter_name ← nickname; created_at ← create_time; text ← content; likes ← like_count;
  parent_comment_id ('0' or empty → none).
* creator → creators: creator_id ← user_id / creator_hash; display_name ← nickname; bio ← desc;
  location ← ip_location; follower_count ← fans; following_count ← follows; captured_at ←
  last_modify_ts, else the date in the file name, else the file's modification time.
* Note authors without a creator row get a creators row derived from their notes (id,
  nickname, ip_location, latest capture) with ``follower_count`` null: the follower count is
  unknown, and :attr:`RawSource.notes` says so.

Counts arrive as numbers or display strings (``1.2万``, ``10万+``, ``1,234``, ``3.5w``,
``1.1亿``) and are parsed here (:mod:`kol_vetting.sources.counts`); epoch times (ms or s) become
naive-UTC ``Datetime``. A non-empty count or time that cannot be parsed sends its row to the
quarantine with a reason such as ``liked_count '???' is not a count``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from kol_vetting.sources.base import (
    QUARANTINE_SCHEMA,
    SOURCE_FILE,
    SOURCE_ROW,
    RawSource,
    SourceError,
)
from kol_vetting.sources.counts import parse_count_expr
from kol_vetting.sources.files import (
    FileRead,
    harmonize_concat,
    quarantine_frame,
    read_file,
    tags_expr,
)

PLATFORM = "xiaohongshu"

# MediaCrawler file names: optional run counter, crawler type, item type, crawl date.
FILE_PATTERN = re.compile(
    r"^(?:\d+_)?(?P<crawler>[A-Za-z]+)_(?P<item>contents|comments|creators?)(?:_(?P<date>[0-9-]{8,10}))?"
    r"\.(?P<ext>csv|jsonl|json)$"
)
_ITEM_TABLE = {
    "contents": "notes",
    "comments": "comments",
    "creator": "creators",
    "creators": "creators",
}

# Ids that mean "no parent comment" in MediaCrawler (it writes target_comment.id or 0).
_NO_PARENT = ("", "0")

# Source columns parsed as counts, per item type (source name → contract column).
_COUNTS = {
    "notes": {
        "liked_count": "likes",
        "collected_count": "collects",
        "comment_count": "comments",
        "share_count": "shares",
    },
    "comments": {"like_count": "likes"},
    "creators": {"fans": "follower_count", "follows": "following_count"},
}
# Source columns holding epoch times, per item type.
_TIMES = {
    "notes": ("time", "last_modify_ts", "last_update_time"),
    "comments": ("create_time",),
    "creators": ("last_modify_ts",),
}

# Prefixes of the parsed helper columns map_export adds before mapping.
_COUNT_PREFIX = "__count__"
_TIME_PREFIX = "__time__"

# What no MediaCrawler export contains, for the ingest report.
CANNOT_PROVIDE = (
    "follower_history: MediaCrawler records no follower counts over time (one profile snapshot at most)",
    "follower_samples: MediaCrawler does not crawl follower lists, so follower-quality checks have no data",
    "partners: brand contracts are not on the platform; load them from a canonical partners file",
    (
        "notes.platform_sponsor_label: the crawler does not capture the platform's paid-partnership "
        "label; disclosure can only be judged from the note text"
    ),
    "creators: handle (red id), category, note_count, verified and quoted price are not exported",
)


@dataclass(frozen=True)
class ExportFile:
    """One MediaCrawler file recognised by its name."""

    path: Path
    table: str  # contract table: notes, comments or creators
    crawler: str  # search, detail, creator, ...
    crawl_date: dt.date | None  # from the file name; None when the name has no valid date


def classify(path: Path) -> ExportFile | None:
    """Recognise a MediaCrawler export file by name; None for anything else (images, word clouds)."""
    match = FILE_PATTERN.match(path.name)
    if match is None:
        return None
    day: dt.date | None = None
    if match["date"]:
        try:
            day = dt.date.fromisoformat(match["date"])
        except ValueError:
            day = None  # fall back to the file's modification time
    return ExportFile(path, _ITEM_TABLE[match["item"]], match["crawler"].lower(), day)


def read_mediacrawler(directory: str | Path) -> RawSource:
    """Read a MediaCrawler Xiaohongshu export directory (searched recursively).

    In: a folder as MediaCrawler writes it (CSV/JSON/JSONL contents, comments and, in classic
    exports, creator files). Out: a :class:`RawSource` with ``notes``, ``comments`` and
    ``creators`` frames in contract column names (counts ``Int64``, times naive-UTC
    ``Datetime``, tags ``List(String)``) plus ``_source_file``/``_source_row``; rows with
    unparseable counts or times and lines the file readers could not parse in ``quarantine``;
    ``rows_read`` per table (creators derived from notes count as read rows); ``notes`` listing
    what the export cannot provide. Duplicates (the same note in a search and a detail file)
    are kept: the validator resolves them on ``captured_at``.

    Raises :class:`SourceError` for a missing directory, a JSON array cut short, or a file that
    cannot be read or decoded.
    """
    root = Path(directory)
    if not root.is_dir():
        raise SourceError(root, "source directory does not exist")
    exports: list[ExportFile] = []
    ignored: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        export = classify(path)
        if export is None:
            if not path.name.startswith("."):
                ignored.append(os.path.relpath(path, root))
        else:
            exports.append(export)
    if not exports:
        raise SourceError(
            root,
            "no MediaCrawler export files ({type}_{contents|comments|creator}_{date}.csv/json/jsonl)",
        )

    source = RawSource()
    frames: dict[str, list[pl.DataFrame]] = {"notes": [], "comments": [], "creators": []}
    quarantines: list[pl.DataFrame] = [source.quarantine]
    anonymised = False
    for export in exports:
        read = read_file(export.path)
        source.files.append(str(export.path))
        source.notes.extend(read.notes)
        raw = _clean_names(read.frame)
        anonymised |= "creator_hash" in raw.columns
        mapped, rejected = map_export(export, raw)
        frames[export.table].append(mapped)
        quarantines.append(
            read.quarantine.with_columns(pl.lit(export.table, pl.String).alias("table"))
        )
        quarantines.append(rejected)
        source.rows_read[export.table] = source.rows_read.get(export.table, 0) + read.rows_seen

    notes_full = harmonize_concat(frames["notes"]) if frames["notes"] else None
    if notes_full is not None:
        source.frames["notes"] = _drop_helpers(notes_full)
    if frames["comments"]:
        source.frames["comments"] = harmonize_concat(frames["comments"])
    profiles = harmonize_concat(frames["creators"]) if frames["creators"] else None
    derived = derive_creators(notes_full, profiles)
    creators = [f for f in (profiles, derived) if f is not None]
    if creators:
        source.frames["creators"] = harmonize_concat(creators)
        source.rows_read["creators"] = source.rows_read.get("creators", 0) + (
            derived.height if derived is not None else 0
        )

    source.quarantine = pl.concat([q.cast(dict(QUARANTINE_SCHEMA)) for q in quarantines])
    source.notes.extend(_report_notes(anonymised, profiles, derived, ignored))
    return source


def map_export(export: ExportFile, raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map one export file's raw frame onto its contract table.

    Returns (mapped rows, quarantined rows). A row is quarantined when one of its counts or
    epoch times is non-empty but unparseable; the reason names the field and the raw value.
    """
    table = export.table
    counts = [name for name in _COUNTS[table] if name in raw.columns]
    times = [name for name in _TIMES[table] if name in raw.columns]
    # Parse every count and time once; the mapping and the failure checks both read the result.
    parsed = raw.with_columns(
        *[parse_count_expr(pl.col(name)).alias(_COUNT_PREFIX + name) for name in counts],
        *[epoch_expr(pl.col(name)).alias(_TIME_PREFIX + name) for name in times],
    )
    failures = [
        pl.when(_nonblank(name) & pl.col(_COUNT_PREFIX + name).is_null()).then(
            _reason(name, "is not a count")
        )
        for name in counts
    ] + [
        pl.when(_nonblank(name) & pl.col(_TIME_PREFIX + name).is_null()).then(
            _reason(name, "is not an epoch timestamp")
        )
        for name in times
    ]
    joined = pl.concat_str(failures, separator="; ", ignore_nulls=True) if failures else pl.lit("")
    parsed = parsed.with_columns(pl.when(joined.str.len_chars() > 0).then(joined).alias("_reason"))
    good = parsed.filter(pl.col("_reason").is_null())
    bad = parsed.filter(pl.col("_reason").is_not_null())
    mapper = {"notes": _notes, "comments": _comments, "creators": _creators}[table]
    mapped = good.select(
        *mapper(export, good), pl.col(SOURCE_FILE), pl.col(SOURCE_ROW).cast(pl.Int64)
    )
    data_columns = [c for c in raw.columns if c not in (SOURCE_FILE, SOURCE_ROW)]
    rejected = quarantine_frame(
        export.path,
        bad.select(
            pl.col(SOURCE_ROW).alias("source_row"),
            # The row as read, as a JSON object (only for the few rejected rows).
            (pl.struct(data_columns).struct.json_encode() if data_columns else pl.lit("{}")).alias(
                "row"
            ),
            pl.col("_reason").alias("reason"),
        ),
        table,
    )
    return mapped, rejected


def derive_creators(
    notes: pl.DataFrame | None, profiles: pl.DataFrame | None
) -> pl.DataFrame | None:
    """Minimal creators rows for note authors that have no creator-file row.

    One row per author from their latest captured note: creator_id, platform, display_name
    (nickname), location (ip_location), captured_at, and ``follower_count`` null because the
    notes do not carry it. ``_source_file``/``_source_row`` point at that note.
    """
    if notes is None or notes.height == 0:
        return None
    authors = notes.filter(pl.col("creator_id").is_not_null())
    if profiles is not None and profiles.height > 0:
        authors = authors.join(profiles.select("creator_id").unique(), on="creator_id", how="anti")
    latest = (
        authors.sort("captured_at", nulls_last=False, maintain_order=True)
        .group_by("creator_id", maintain_order=True)
        .last()
    )
    return latest.select(
        pl.col("creator_id"),
        pl.lit(PLATFORM).alias("platform"),
        pl.col("_nickname").alias("display_name"),
        pl.col("_location").alias("location"),
        pl.lit(None, pl.Int64).alias("follower_count"),
        pl.col("captured_at"),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
    )


# ---------------------------------------------------------------------------------------------
# Per-table mappings (lists of expressions over the raw string frame)
# ---------------------------------------------------------------------------------------------


def _notes(export: ExportFile, raw: pl.DataFrame) -> list[pl.Expr]:
    crawled = _file_time(export)
    return [
        _text(raw, "note_id").alias("note_id"),
        _author(raw).alias("creator_id"),
        _epoch(raw, "time").alias("published_at"),
        _text(raw, "title", blank_is_null=False).alias("title"),
        _text(raw, "desc", blank_is_null=False).alias("body"),
        (
            tags_expr("tag_list", raw.schema["tag_list"])
            if "tag_list" in raw.columns
            else pl.lit(None, pl.List(pl.String))
        ).alias("tags"),
        _text(raw, "type").alias("note_type"),
        _count(raw, "liked_count").alias("likes"),
        _count(raw, "collected_count").alias("collects"),
        _count(raw, "comment_count").alias("comments"),
        _count(raw, "share_count").alias("shares"),
        pl.lit(None, pl.Boolean).alias("platform_sponsor_label"),
        _text(raw, "note_url").alias("url"),
        # last_modify_ts is when the crawler stored the row, i.e. when the counts were seen;
        # last_update_time (the note's own edit time) is the fallback for exports without it.
        pl.coalesce(
            _epoch(raw, "last_modify_ts"), _epoch(raw, "last_update_time"), pl.lit(crawled)
        ).alias("captured_at"),
        # Helpers for creators derived from notes; dropped before the notes frame is returned.
        _text(raw, "nickname").alias("_nickname"),
        _text(raw, "ip_location").alias("_location"),
    ]


def _comments(export: ExportFile, raw: pl.DataFrame) -> list[pl.Expr]:
    parent = _text(raw, "parent_comment_id")
    return [
        _text(raw, "comment_id").alias("comment_id"),
        _text(raw, "note_id").alias("note_id"),
        _author(raw).alias("commenter_id"),
        _text(raw, "nickname").alias("commenter_name"),
        _epoch(raw, "create_time").alias("created_at"),
        _text(raw, "content", blank_is_null=False).alias("text"),
        _count(raw, "like_count").alias("likes"),
        pl.when(parent.str.strip_chars().is_in(_NO_PARENT))
        .then(None)
        .otherwise(parent)
        .alias("parent_comment_id"),
    ]


def _creators(export: ExportFile, raw: pl.DataFrame) -> list[pl.Expr]:
    return [
        _author(raw).alias("creator_id"),
        pl.lit(PLATFORM).alias("platform"),
        _text(raw, "nickname").alias("display_name"),
        _text(raw, "desc", blank_is_null=False).alias("bio"),
        _text(raw, "ip_location").alias("location"),
        _count(raw, "fans").alias("follower_count"),
        _count(raw, "follows").alias("following_count"),
        pl.coalesce(_epoch(raw, "last_modify_ts"), pl.lit(_file_time(export))).alias("captured_at"),
    ]


# ---------------------------------------------------------------------------------------------
# Expression helpers
# ---------------------------------------------------------------------------------------------


def _text(raw: pl.DataFrame, name: str, *, blank_is_null: bool = True) -> pl.Expr:
    """A source column as text (null if absent; blank → null for ids and codes)."""
    if name not in raw.columns:
        return pl.lit(None, pl.String)
    text = pl.col(name).cast(pl.String)
    if blank_is_null:
        text = pl.when(text.str.strip_chars() == "").then(None).otherwise(text.str.strip_chars())
    return text


def _author(raw: pl.DataFrame) -> pl.Expr:
    """Account id: ``user_id`` (classic exports) or ``creator_hash`` (anonymised exports)."""
    return pl.coalesce(_text(raw, "user_id"), _text(raw, "creator_hash"))


def _count(raw: pl.DataFrame, name: str) -> pl.Expr:
    """A count parsed by :func:`map_export` (null if the source has no such column)."""
    if _COUNT_PREFIX + name not in raw.columns:
        return pl.lit(None, pl.Int64)
    return pl.col(_COUNT_PREFIX + name)


def epoch_expr(expr: pl.Expr) -> pl.Expr:
    """Expression: epoch numbers (s, ms or µs, as numbers or text) → naive-UTC ``Datetime('us')``.

    The unit is told by magnitude: below 1e11 seconds, below 1e14 milliseconds (MediaCrawler),
    below 1e17 microseconds. Anything else → null.
    """
    text = expr.cast(pl.String).str.strip_chars()
    number = pl.coalesce(
        text.cast(pl.Int64, strict=False),
        text.cast(pl.Float64, strict=False).round(0).cast(pl.Int64, strict=False),
    )
    size = number.abs()
    micros = (
        pl.when(size < 100_000_000_000)
        .then(number * 1_000_000)
        .when(size < 100_000_000_000_000)
        .then(number * 1_000)
        .when(size < 100_000_000_000_000_000)
        .then(number)
    )
    return pl.from_epoch(micros, time_unit="us")


def _epoch(raw: pl.DataFrame, name: str) -> pl.Expr:
    """An epoch time parsed by :func:`map_export` (null if the source has no such column)."""
    if _TIME_PREFIX + name not in raw.columns:
        return pl.lit(None, pl.Datetime("us"))
    return pl.col(_TIME_PREFIX + name)


def _nonblank(name: str) -> pl.Expr:
    return (pl.col(name).cast(pl.String).str.strip_chars().str.len_chars() > 0).fill_null(False)


def _reason(name: str, what: str) -> pl.Expr:
    value = pl.col(name).cast(pl.String).str.slice(0, 40)
    return pl.format(f"{name} '{{}}' {what}", value)


def _file_time(export: ExportFile) -> dt.datetime:
    """When a file was crawled: the date in its name (00:00 UTC), else its modification time."""
    if export.crawl_date is not None:
        return dt.datetime.combine(export.crawl_date, dt.time())
    mtime = export.path.stat().st_mtime
    return dt.datetime.fromtimestamp(mtime, dt.UTC).replace(tzinfo=None)


def _clean_names(frame: pl.DataFrame) -> pl.DataFrame:
    """Strip BOMs and spaces from column names (a BOM can survive in re-saved CSV headers)."""
    renames = {c: c.replace("\ufeff", "").strip() for c in frame.columns}
    renames = {a: b for a, b in renames.items() if a != b and b and b not in frame.columns}
    return frame.rename(renames) if renames else frame


def _drop_helpers(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop([c for c in ("_nickname", "_location") if c in frame.columns])


def _report_notes(
    anonymised: bool,
    profiles: pl.DataFrame | None,
    derived: pl.DataFrame | None,
    ignored: list[str],
) -> list[str]:
    notes = list(CANNOT_PROVIDE)
    if anonymised:
        notes.append(
            "anonymised export (creator_hash): account ids are hashes, nicknames are masked, "
            "ip_location is absent and no creator profiles are exported"
        )
    if profiles is None:
        notes.append(
            "creators: no creator files in the export (no profiles: follower and following counts unknown)"
        )
    n_derived = derived.height if derived is not None else 0
    if n_derived:
        notes.append(
            f"creators: {n_derived} creator row(s) derived from note authors (id, nickname, location) "
            "with follower_count unknown (null)"
        )
    if ignored:
        shown = ", ".join(ignored[:10]) + (
            f" and {len(ignored) - 10} more" if len(ignored) > 10 else ""
        )
        notes.append(f"ignored {len(ignored)} file(s) that are not MediaCrawler exports: {shown}")
    return notes


__all__ = [
    "CANNOT_PROVIDE",
    "ExportFile",
    "FileRead",
    "classify",
    "derive_creators",
    "epoch_expr",
    "map_export",
    "read_mediacrawler",
]
