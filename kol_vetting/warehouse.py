"""The DuckDB warehouse: where it lives, how tables are replaced atomically, the quarantine.

Layout (schema ``main`` of one DuckDB file, default ``data/warehouse.duckdb``):

* one table per contract table (``creators``, ``notes``, ...), exactly the contract schema;
* ``quarantine``: rejected rows of the latest ingest (source_file, table, source_row, row, reason);
* ``ingest_log``: one row per table per ingest with the row accounting;
* output tables written by signals, scorecard, portfolio (same atomic replace).

Writes go through :func:`replace_tables`, which swaps every table of one logical write in a
single transaction: a crash or error half way leaves the previous tables whole. A process-level
file lock serializes writers (DuckDB allows one writing process per file), so a schedule tick
and a marketer's run queue behind each other instead of failing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
import polars as pl

DEFAULT_WAREHOUSE = Path("data/warehouse.duckdb")
WAREHOUSE_ENV = "KOL_WAREHOUSE"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class WarehouseError(Exception):
    """The warehouse cannot be opened or written (locked too long, bad path, bad table name)."""


def warehouse_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the warehouse file: explicit ``path``, else ``$KOL_WAREHOUSE``, else the default."""
    chosen = path or os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE
    return Path(chosen)


def _check_ident(name: str) -> str:
    # Table names are interpolated into SQL (identifiers cannot be parameters): allow only
    # our own lower-case names, never anything derived from data.
    if not _IDENT.match(name):
        raise WarehouseError(f"invalid table name {name!r}")
    return name


@contextlib.contextmanager
def _file_lock(db: Path, timeout_s: float) -> Iterator[None]:
    lock_path = db.with_name(db.name + ".lock")
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseError(
                        f"warehouse {db} is busy: another run has been writing for over {timeout_s:.0f}s"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def connect(
    path: str | os.PathLike[str] | None = None, *, read_only: bool = False, lock_timeout_s: float = 600.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse.

    Writers (``read_only=False``) hold an exclusive file lock for the connection's lifetime so
    concurrent runs serialize. Readers take no lock; a read-only open of a missing file raises
    :class:`WarehouseError` with the path.
    """
    db = warehouse_path(path)
    if read_only:
        if not db.exists():
            raise WarehouseError(f"no warehouse at {db}: run `kol-vetting ingest` (or `make demo`) first")
        con = _open_retrying(db, read_only=True, timeout_s=lock_timeout_s)
        try:
            yield con
        finally:
            con.close()
        return
    db.parent.mkdir(parents=True, exist_ok=True)  # DuckDB does not create parent folders
    with _file_lock(db, lock_timeout_s):
        con = _open_retrying(db, read_only=False, timeout_s=lock_timeout_s)
        try:
            yield con
        finally:
            con.close()


def _open_retrying(db: Path, *, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    # A reader may meet a writer from another process holding DuckDB's own lock: wait, briefly.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return duckdb.connect(str(db), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise WarehouseError(f"cannot open warehouse {db}: {exc}") from exc
            time.sleep(0.2)


@contextlib.contextmanager
def _staged_transaction(
    con: duckdb.DuckDBPyConnection, tables: Mapping[str, pl.DataFrame]
) -> Iterator[dict[str, str]]:
    """Register each frame as a staging view and open a transaction; commit on success.

    Yields table name -> staging view name. Any error rolls the whole transaction back, so the
    previous tables stay exactly as they were; the views are always unregistered.
    """
    names = [_check_ident(t) for t in tables]
    staged = {name: f"_stage_{name}_{uuid.uuid4().hex[:8]}" for name in names}
    con.execute("BEGIN TRANSACTION")
    try:
        for name in names:
            con.register(staged[name], tables[name].to_arrow())
        yield staged
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for view in staged.values():
            with contextlib.suppress(Exception):
                con.unregister(view)


def replace_tables(con: duckdb.DuckDBPyConnection, tables: Mapping[str, pl.DataFrame]) -> None:
    """Replace (or create) every named table with the given frame, all in one transaction.

    Either all tables change or none does: on any error the transaction rolls back and the
    previous tables stay exactly as they were.
    """
    with _staged_transaction(con, tables) as staged:
        for name, view in staged.items():
            con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM "{view}"')


def replace_partition(
    con: duckdb.DuckDBPyConnection, partitions: Mapping[str, pl.DataFrame], *, column: str, value: str
) -> None:
    """Replace the rows where ``column = value`` in each named table, all in one transaction.

    Used by brief-partitioned outputs (scorecard, alignment): re-scoring one brief leaves the
    other briefs' rows untouched. ``value`` is passed as a parameter, never interpolated.
    """
    col = _check_ident(column)
    with _staged_transaction(con, partitions) as staged:
        for name, view in staged.items():
            con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" AS SELECT * FROM "{view}" LIMIT 0')
            con.execute(f'DELETE FROM "{name}" WHERE "{col}" = ?', [value])
            con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM "{view}"')


def read_partition(con: duckdb.DuckDBPyConnection, table: str, *, column: str, value: str) -> pl.DataFrame:
    """Rows of ``table`` where ``column = value`` (parameterized)."""
    name, col = _check_ident(table), _check_ident(column)
    if not table_exists(con, name):
        raise WarehouseError(f"table {name!r} is not in the warehouse yet: materialize it first")
    return con.sql(f'SELECT * FROM "{name}" WHERE "{col}" = ?', params=[value]).pl()


def append_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Append rows to a log-like table, creating it from the frame's schema if needed."""
    name = _check_ident(table)
    view = f"_append_{uuid.uuid4().hex[:8]}"
    con.register(view, frame.to_arrow())
    try:
        con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" AS SELECT * FROM "{view}" LIMIT 0')
        con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM "{view}"')
    finally:
        con.unregister(view)


def read_table(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    """Read a whole warehouse table into Polars (raises WarehouseError if it does not exist)."""
    name = _check_ident(table)
    if not table_exists(con, name):
        raise WarehouseError(f"table {name!r} is not in the warehouse yet: materialize it first")
    return con.sql(f'SELECT * FROM "{name}"').pl()


def read_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    column: str,
    values: pl.Series,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Rows of ``table`` whose ``column`` is one of ``values``, in table order.

    In: a table name, a key column and the wanted keys (a Series; nulls ignored), optionally the
    columns to return (default all). Out: the matching rows as Polars, in insertion order, like
    ``read_table(...).filter(pl.col(column).is_in(values))`` but without reading the rest of
    the table into memory. The keys go to DuckDB as a registered Arrow table (never
    interpolated into SQL).
    """
    name, col = _check_ident(table), _check_ident(column)
    if not table_exists(con, name):
        raise WarehouseError(f"table {name!r} is not in the warehouse yet: materialize it first")
    cols = "*" if columns is None else ", ".join(f'"{_check_ident(c)}"' for c in columns)
    keys = f"_keys_{uuid.uuid4().hex[:8]}"
    con.register(keys, pl.DataFrame({"k": values.drop_nulls().unique()}).to_arrow())
    try:
        return con.sql(
            f'SELECT {cols} FROM "{name}" WHERE "{col}" IN (SELECT k FROM "{keys}") ORDER BY rowid'
        ).pl()
    finally:
        con.unregister(keys)


def read_creator_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    creator_ids: pl.Series,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Rows of a contract table that belong to the given creators, in table order.

    Tables with a ``creator_id`` column are filtered on it; ``comments`` (which carry only their
    note's id) on the notes of those creators. Used where a stage needs a few creators (the
    candidates of a brief), so the other creators' rows never leave DuckDB.
    """
    if table != "comments":
        return read_rows(con, table, column="creator_id", values=creator_ids, columns=columns)
    notes = read_rows(con, "notes", column="creator_id", values=creator_ids, columns=["note_id"])
    return read_rows(con, "comments", column="note_id", values=notes["note_id"], columns=columns)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> object:
    """First value of the first row of a query (None when no row).

    Fetches the whole (small) result: duckdb 2 refuses further work on a connection that
    still holds an unfinished result, which ``fetchone()`` leaves behind.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """True when ``table`` exists in the main schema."""
    return bool(
        scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [table])
    )


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every table in the warehouse, by name."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
    ).fetchall()]
    return {n: scalar(con, f'SELECT count(*) FROM "{_check_ident(n)}"') for n in names if _IDENT.match(n)}


def utc_now() -> dt.datetime:
    """Current time in UTC without a time zone (the warehouse convention)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
