"""Data-quality checks over warehouse tables, as plain functions returning (passed, details).

The Dagster layer turns each into an asset check; the CLI and tests call them directly.
All SQL here interpolates only contract table/column names (validated identifiers), never data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import polars as pl

from kol_vetting import schema
from kol_vetting.validate import FUTURE_TOLERANCE
from kol_vetting.warehouse import _check_ident, scalar, table_exists, utc_now


@dataclass
class CheckOutcome:
    """Result of one data-quality check: pass/fail, a one-line summary, and figures."""

    passed: bool
    summary: str
    figures: dict[str, int | float | str] = field(default_factory=dict)


def _missing(table: str) -> CheckOutcome:
    return CheckOutcome(False, f"table {table} is not in the warehouse")


def counts_reconcile(con: duckdb.DuckDBPyConnection, table: str) -> CheckOutcome:
    """Latest ingest: rows read == accepted + quarantined, and accepted == rows in the table."""
    if not table_exists(con, table) or not table_exists(con, "ingest_log"):
        return _missing(table)
    rows = con.execute(
        "SELECT rows_read, accepted, quarantined, duplicates FROM ingest_log WHERE \"table\" = ? "
        "ORDER BY ingested_at DESC LIMIT 1",
        [table],
    ).fetchall()
    row = rows[0] if rows else None
    if row is None:
        return CheckOutcome(False, f"no ingest of {table} is logged")
    rows_read, accepted, quarantined, duplicates = row
    in_table = scalar(con, f'SELECT count(*) FROM "{_check_ident(table)}"')
    in_quarantine = scalar(con, 'SELECT count(*) FROM quarantine WHERE "table" = ?', [table])
    ok = rows_read == accepted + quarantined and accepted == in_table and quarantined == in_quarantine
    return CheckOutcome(
        ok,
        f"{rows_read} read = {accepted} accepted + {quarantined} quarantined ({duplicates} duplicates)"
        + ("" if ok else f"; table has {in_table}, quarantine has {in_quarantine}"),
        {"rows_read": rows_read, "accepted": accepted, "quarantined": quarantined, "duplicates": duplicates,
         "rows_in_table": in_table},
    )


def keys_unique(con: duckdb.DuckDBPyConnection, table: str) -> CheckOutcome:
    """No two rows share the table's key."""
    if not table_exists(con, table):
        return _missing(table)
    key = ", ".join(f'"{_check_ident(k)}"' for k in schema.TABLES[table].key)
    dup = scalar(con, f'SELECT count(*) FROM (SELECT {key} FROM "{_check_ident(table)}" GROUP BY {key} HAVING count(*) > 1)')
    return CheckOutcome(dup == 0, f"{dup} duplicated keys", {"duplicated_keys": dup})


def no_negative_counts(con: duckdb.DuckDBPyConnection, table: str) -> CheckOutcome:
    """No numeric column holds a negative value."""
    if not table_exists(con, table):
        return _missing(table)
    numeric = [n for n, d in schema.polars_schema(table).items() if d in (pl.Int64(), pl.Float64())]
    if not numeric:
        return CheckOutcome(True, "no numeric columns")
    cond = " OR ".join(f'"{_check_ident(c)}" < 0' for c in numeric)
    bad = scalar(con, f'SELECT count(*) FROM "{_check_ident(table)}" WHERE {cond}')
    return CheckOutcome(bad == 0, f"{bad} rows with a negative count", {"negative_rows": bad})


def no_future_timestamps(
    con: duckdb.DuckDBPyConnection, table: str, *, now: dt.datetime | None = None
) -> CheckOutcome:
    """No timestamp that must be in the past lies beyond now (plus clock-skew tolerance)."""
    if not table_exists(con, table):
        return _missing(table)
    cols = schema.TABLES[table].not_future
    if not cols:
        return CheckOutcome(True, "no timestamps to check")
    limit = (now or utc_now()) + FUTURE_TOLERANCE
    cond = " OR ".join(f'CAST("{_check_ident(c)}" AS TIMESTAMP) > ?' for c in cols)
    bad = scalar(con, f'SELECT count(*) FROM "{_check_ident(table)}" WHERE {cond}', [limit] * len(cols))
    return CheckOutcome(bad == 0, f"{bad} rows dated in the future", {"future_rows": bad})


CHECKS = {
    "counts_reconcile": counts_reconcile,
    "keys_unique": keys_unique,
    "no_negative_counts": no_negative_counts,
    "no_future_timestamps": no_future_timestamps,
}
