"""Ingest: read a source directory, validate every row, load the warehouse all-or-nothing.

``read_source`` picks the reader for a format; ``validate_source`` (in :mod:`validate`) splits
rows into accepted and quarantined; ``load_validated`` writes every contract table, the
quarantine, the demo ground truth (when present) and the ingest log in one transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl

from kol_vetting import schema
from kol_vetting.sources.base import RawSource, SourceError
from kol_vetting.validate import ValidatedSource, validate_source
from kol_vetting.warehouse import read_table, replace_tables, table_exists, utc_now

SourceFormat = Literal["canonical", "mediacrawler"]
FORMATS: tuple[str, ...] = ("canonical", "mediacrawler")

INGEST_LOG_SCHEMA = pl.Schema(
    {
        "ingest_id": pl.String(),
        "ingested_at": pl.Datetime("us"),
        "source": pl.String(),
        "format": pl.String(),
        "table": pl.String(),
        "rows_read": pl.Int64(),
        "accepted": pl.Int64(),
        "quarantined": pl.Int64(),
        "duplicates": pl.Int64(),
    }
)


def read_source(directory: str | Path, fmt: str = "canonical") -> RawSource:
    """Read a source directory with the reader for ``fmt`` (canonical or mediacrawler).

    Raises :class:`SourceError` naming the file when something cannot be read at all.
    """
    path = Path(directory)
    if not path.is_dir():
        raise SourceError(path, "source directory does not exist")
    if fmt == "canonical":
        from kol_vetting.sources.files import read_canonical

        return read_canonical(path)
    if fmt == "mediacrawler":
        from kol_vetting.sources.mediacrawler import read_mediacrawler

        return read_mediacrawler(path)
    raise SourceError(path, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def read_ground_truth(directory: str | Path) -> pl.DataFrame | None:
    """The demo world's ground truth table if the directory has one, else None."""
    path = Path(directory) / f"{schema.GROUND_TRUTH_TABLE}.parquet"
    if not path.exists():
        return None
    return pl.read_parquet(path).cast(dict(schema.polars_schema(schema.GROUND_TRUTH_TABLE)))


def load_validated(
    con: duckdb.DuckDBPyConnection,
    validated: ValidatedSource,
    *,
    source: str,
    fmt: str,
    ground_truth: pl.DataFrame | None = None,
    now: dt.datetime | None = None,
) -> pl.DataFrame:
    """Write all contract tables, the quarantine and the ingest log in one transaction.

    Returns the new ingest-log rows (one per table). The previous warehouse content stays
    whole if anything fails.
    """
    now = now or utc_now()
    ingest_id = uuid.uuid4().hex[:12]
    log = pl.DataFrame(
        [
            {
                "ingest_id": ingest_id,
                "ingested_at": now,
                "source": source,
                "format": fmt,
                "table": r.table,
                "rows_read": r.rows_read,
                "accepted": r.accepted,
                "quarantined": r.quarantined,
                "duplicates": r.duplicates,
            }
            for r in validated.reports.values()
        ],
        schema=INGEST_LOG_SCHEMA,
    )
    previous_log = read_table(con, "ingest_log") if table_exists(con, "ingest_log") else log.clear()
    tables: dict[str, pl.DataFrame] = dict(validated.tables)
    tables["quarantine"] = validated.quarantine
    tables["ingest_log"] = pl.concat([previous_log.cast(dict(INGEST_LOG_SCHEMA)), log])
    tables[schema.GROUND_TRUTH_TABLE] = (
        ground_truth if ground_truth is not None else schema.empty_frame(schema.GROUND_TRUTH_TABLE)
    )
    replace_tables(con, tables)
    return log


def ingest_directory(
    con: duckdb.DuckDBPyConnection, directory: str | Path, fmt: str = "canonical", *, now: dt.datetime | None = None
) -> tuple[ValidatedSource, pl.DataFrame]:
    """Read, validate and load one source directory; returns the validated source and its log."""
    raw = read_source(directory, fmt)
    validated = validate_source(raw, now=now)
    log = load_validated(
        con, validated, source=str(directory), fmt=fmt, ground_truth=read_ground_truth(directory), now=now
    )
    return validated, log
