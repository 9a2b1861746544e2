"""Score a follower file (``kol-vetting score-followers IN OUT``): any table in the contract.

Only ``follower_id``, ``follower_count``, ``following_count`` and ``note_count`` are required;
``creator_id``, ``username``, ``has_avatar``, ``bio_length`` and ``created_at`` are used when
present. Every input row comes back, in input order: scored rows with ``fake_probability`` and
``audience_type``; rows that fail the contract (negative counts, non-numbers, missing ids) with
those two empty and ``quarantine_reason`` saying why. Nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from kol_vetting.schema import polars_schema
from kol_vetting.signals.followers import score_followers
from kol_vetting.sources.base import SOURCE_ROW, SourceError
from kol_vetting.sources.files import read_file
from kol_vetting.validate import validate_table

REQUIRED = ("follower_id", "follower_count", "following_count", "note_count")
_NO_CREATOR = "-"  # placeholder: the contract keys samples by creator, a bare follower list has none


def score_follower_file(in_path: str | Path, out_path: str | Path, *, as_of: dt.datetime | None = None) -> dict[str, int]:
    """Read IN (CSV, Parquet, JSONL), score every valid row, write OUT (format from its suffix).

    Returns counts: rows_read, scored, quarantined. Raises SourceError for an unreadable file
    and ValueError when a required column is missing entirely.
    """
    src, dst = Path(in_path), Path(out_path)
    read = read_file(src)
    raw = read.frame
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ValueError(f"{src}: required column(s) missing: {', '.join(missing)} (need {', '.join(REQUIRED)})")
    had_creator = "creator_id" in raw.columns
    if not had_creator:
        raw = raw.with_columns(pl.lit(_NO_CREATOR).alias("creator_id"))
    accepted, quarantined, _ = validate_table("follower_samples", raw, now=as_of, keep_source=True)
    scored = score_followers(accepted.drop(["_source_file"]), as_of=as_of).with_columns(
        pl.lit(None, pl.String).alias("quarantine_reason")
    )
    schema = polars_schema("follower_samples")
    # Quarantined rows: recover their ids from the row as read, keep the reason.
    rejected = pl.concat(
        [quarantined, read.quarantine.select(quarantined.columns)] if read.quarantine.height else [quarantined]
    ).select(
        pl.col("row").str.json_path_match("$.creator_id").alias("creator_id"),
        pl.col("row").str.json_path_match("$.follower_id").alias("follower_id"),
        pl.col("source_row").alias(SOURCE_ROW),
        pl.col("reason").alias("quarantine_reason"),
    )
    out = pl.concat([scored, rejected], how="diagonal_relaxed").sort(SOURCE_ROW)
    columns = [c for c in schema.names() if c in raw.columns or c in REQUIRED]
    if not had_creator:
        columns = [c for c in columns if c != "creator_id"]
    out = out.select([*columns, "fake_probability", "audience_type", "quarantine_reason"])
    _write(out, dst)
    return {"rows_read": read.rows_seen, "scored": scored.height, "quarantined": rejected.height}


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".parquet":
        frame.write_parquet(tmp)
    elif suffix in (".jsonl", ".ndjson"):
        frame.write_ndjson(tmp)
    elif suffix == ".csv":
        from kol_vetting.export import neutralise_expr

        text_cols = [c for c, d in frame.schema.items() if d == pl.String]
        safe = frame.with_columns([neutralise_expr(c) for c in text_cols])
        tmp.write_bytes(b"\xef\xbb\xbf" + safe.write_csv().encode("utf-8"))  # BOM: Excel reads Chinese
    else:
        raise SourceError(path, "output must end in .csv, .parquet or .jsonl")
    tmp.replace(path)  # atomic: a failed write leaves no half file
