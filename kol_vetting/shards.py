"""Per-creator sharding: split the inputs by a stable hash of ``creator_id``, score each shard
alone, merge.

Every authenticity detector except the peer comparisons and pods reads only a creator's own
rows (profile, follower sample, notes, the comments under its notes, follower history). So the
creators can be split into ``n`` groups, each group scored on its own rows (the *map* step:
:func:`kol_vetting.signals.authenticity.authenticity_parts`), and the small per-creator results
concatenated before the cross-creator step (the *reduce*:
:func:`kol_vetting.signals.authenticity.combine_authenticity`: peer statistics, the platform
size effect on engagement, the duplicate-comment peer z, pods on the early comments of every
shard, and the final risk). The result equals the unsharded :func:`score_authenticity` (same
rows and values, in creator order; see ``tests/test_shards.py``).

The shard of a creator is ``int(md5(creator_id)[:15 hex digits], 16) mod n``: a stable hash
(unlike Polars' ``hash``, which may change between versions), the same in Python
(:func:`shard_of`) and in DuckDB SQL (:func:`shard_sql`), so Parquet files can be split by
DuckDB and scored by Polars, on one machine or many. Comments go to the shard of the creator of
the note they are under.

Two ways in:

* :func:`split_frames`: in-memory frames -> one dict of frames per shard;
* :func:`write_shards`: a source folder of Parquet files -> one folder per shard
  (``_shard=<k>/<table>_<i>.parquet``), written by DuckDB in one streaming pass per table, so
  no table is ever held in memory; :func:`read_shard` reads one shard back.

:func:`score_authenticity_sharded` then takes the shards (folders or dicts) one at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from kol_vetting.schema import polars_schema

#: Tables split by creator (comments follow their note's creator).
SHARDED_TABLES = ("creators", "follower_samples", "notes", "comments", "follower_history")
#: Hex digits of the md5 used (60 bits: fits a signed 64-bit integer in any SQL engine).
_HEX_DIGITS = 15


def shard_number(creator_id: str, n: int) -> int:
    """The shard (0..n-1) of one creator id."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return int(hashlib.md5(creator_id.encode("utf-8")).hexdigest()[:_HEX_DIGITS], 16) % n


def shard_of(creator_id: str | pl.Expr, n: int) -> pl.Expr:
    """Polars expression: the shard (Int64, 0..n-1) of each creator id; null ids stay null.

    Each distinct id is hashed once (md5 in Python over the unique values, then mapped back),
    so a column of millions of rows with thousands of creators costs thousands of hashes.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    expr = pl.col(creator_id) if isinstance(creator_id, str) else creator_id

    def shards(s: pl.Series) -> pl.Series:
        ids = s.cast(pl.String).drop_nulls().unique()
        codes = [shard_number(x, n) for x in ids.to_list()]
        return s.cast(pl.String).replace_strict(ids, pl.Series(codes, dtype=pl.Int64), default=None, return_dtype=pl.Int64)

    return expr.map_batches(shards, return_dtype=pl.Int64, is_elementwise=True)


def shard_sql(column: str, n: int) -> str:
    """DuckDB SQL expression of :func:`shard_of` for ``column`` (same numbers)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return f"(('0x' || substr(md5(CAST({column} AS VARCHAR)), 1, {_HEX_DIGITS}))::UBIGINT % {int(n)})::BIGINT"


def split_frames(tables: Mapping[str, pl.DataFrame | None], n: int) -> list[dict[str, pl.DataFrame]]:
    """Split contract tables into ``n`` shards by creator (comments by their note's creator).

    In: any of :data:`SHARDED_TABLES` (missing or None = empty). Out: ``n`` dicts of frames.
    Rows without a creator (or comments under unknown notes) belong to no shard; the
    authenticity signal ignores them anyway.
    """
    out: list[dict[str, pl.DataFrame]] = [{} for _ in range(n)]
    keyed: dict[str, pl.DataFrame] = {}
    for t in ("creators", "follower_samples", "notes", "follower_history"):
        df = tables.get(t)
        df = pl.DataFrame(schema=polars_schema(t)) if df is None else df
        keyed[t] = df.with_columns(shard_of("creator_id", n).alias("_shard"))
    comments = tables.get("comments")
    comments = pl.DataFrame(schema=polars_schema("comments")) if comments is None else comments
    note_shard = keyed["notes"].select("note_id", "_shard").unique("note_id", keep="last")
    keyed["comments"] = comments.join(note_shard, on="note_id", how="inner", maintain_order="left")
    for t, df in keyed.items():
        parts = df.partition_by("_shard", as_dict=True, include_key=False, maintain_order=True)
        for k in range(n):
            out[k][t] = parts.get((k,), df.clear().drop("_shard"))
    return out


def write_shards(
    source_dir: str | Path, out_dir: str | Path, n: int, *, memory_limit: str | None = None
) -> list[Path]:
    """Split a folder of contract Parquet files into ``n`` shard folders with DuckDB.

    In: ``source_dir`` with ``<table>.parquet`` for the :data:`SHARDED_TABLES` (a missing one is
    an empty table), ``out_dir`` (created; must not hold an older split), ``n``. Out: the shard
    folders ``out_dir/_shard=<k>/`` (Hive-style), each with ``<table>_<i>.parquet`` files.
    One streaming DuckDB ``COPY ... PARTITION_BY`` per table: the table is read once and never
    held in memory; each creator id is hashed once (a join with its distinct ids). The same SQL
    runs against object storage (``s3://`` paths through DuckDB's httpfs extension).
    ``memory_limit`` (e.g. ``"4GB"``) caps DuckDB's memory; it spills to a temp folder beyond.
    """
    import duckdb

    src, out = Path(source_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")  # rows stream to shards in any order
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET temp_directory = '{_sql_path(out / '.tmp')}'")

        def rel(t: str) -> str | None:
            path = src / f"{t}.parquet"
            return f"read_parquet('{_sql_path(path)}')" if path.exists() else None

        for t in SHARDED_TABLES:
            table = rel(t)
            if table is None:
                continue
            if t == "comments":
                notes = rel("notes")
                if notes is None:
                    continue
                # a comment goes to the shard of its note's creator
                keyed = (
                    f"(SELECT note_id, any_value(creator_id) AS creator_id FROM {notes} "
                    "WHERE creator_id IS NOT NULL GROUP BY note_id)"
                )
                ids = f"(SELECT DISTINCT creator_id FROM {keyed})"
                query = (
                    f"SELECT c.*, s._shard FROM {table} c JOIN {keyed} k ON c.note_id = k.note_id "
                    f"JOIN (SELECT creator_id, {shard_sql('creator_id', n)} AS _shard FROM {ids}) s "
                    "ON k.creator_id = s.creator_id"
                )
            else:
                ids = f"(SELECT DISTINCT creator_id FROM {table} WHERE creator_id IS NOT NULL)"
                query = (
                    f"SELECT t.*, s._shard FROM {table} t "
                    f"JOIN (SELECT creator_id, {shard_sql('creator_id', n)} AS _shard FROM {ids}) s "
                    "ON t.creator_id = s.creator_id"
                )
            con.execute(
                f"COPY ({query}) TO '{_sql_path(out)}' (FORMAT parquet, PARTITION_BY (_shard), "
                f"FILENAME_PATTERN '{t}_{{i}}', OVERWRITE_OR_IGNORE, COMPRESSION zstd)"
            )
    finally:
        con.close()
    import shutil

    shutil.rmtree(out / ".tmp", ignore_errors=True)
    folders = [out / f"_shard={k}" for k in range(n)]
    for f in folders:
        f.mkdir(exist_ok=True)  # a shard without any rows still exists (and reads as empty)
    return folders


def read_shard(folder: str | Path) -> dict[str, pl.DataFrame]:
    """The tables of one shard folder written by :func:`write_shards` (contract dtypes)."""
    folder = Path(folder)
    out = {}
    for t in SHARDED_TABLES:
        schema = polars_schema(t)
        files = sorted(folder.glob(f"{t}_*.parquet"))
        if files:
            df = pl.read_parquet(files, hive_partitioning=False)
            out[t] = df.select([c for c in schema if c in df.columns]).cast(
                {c: d for c, d in schema.items() if c in df.columns}
            )
        else:
            out[t] = pl.DataFrame(schema=schema)
    return out


def score_authenticity_sharded(
    shards: Sequence[str | Path | Mapping[str, pl.DataFrame]],
    *,
    as_of: dt.datetime,
    model: object | None = None,
    params: object | None = None,
    spill_dir: str | Path | None = None,
) -> dict[str, pl.DataFrame | pl.LazyFrame]:
    """:func:`~kol_vetting.signals.authenticity.score_authenticity` over shards.

    In: the shards (folders from :func:`write_shards`, or dicts from :func:`split_frames`);
    each is read, scored (map step) and released before the next. ``spill_dir``: when given,
    each shard's per-follower scores (the one big output: a row per sampled follower) are
    written there as ``follower_scores_<k>.parquet`` instead of being kept in memory, and
    ``follower_scores`` is returned as a LazyFrame over those files; memory then stays near
    one shard's working set plus the small per-creator tables.

    Out: the same tables as the unsharded function; ``authenticity_scores`` sorted by creator
    id (the unsharded function keeps the creators table's order). The map steps are
    independent: in Dagster they are one partition each, run in parallel by the executor.
    """
    from kol_vetting.signals.authenticity import (
        AuthenticityParams,
        authenticity_parts,
        combine_authenticity,
    )

    P = params if params is not None else AuthenticityParams()
    spill = Path(spill_dir) if spill_dir is not None else None
    if spill is not None:
        spill.mkdir(parents=True, exist_ok=True)
    parts = []
    for k, shard in enumerate(shards):
        t = read_shard(shard) if isinstance(shard, (str, Path)) else shard
        part = authenticity_parts(
            t.get("creators"), t.get("follower_samples"), t.get("notes"), t.get("comments"),
            t.get("follower_history"), as_of=as_of, model=model, params=P,  # type: ignore[arg-type]
        )
        del t
        part = compact_part(part)
        if spill is not None:
            scores = part["follower_scores"]
            scores.write_parquet(spill / f"follower_scores_{k}.parquet")  # type: ignore[union-attr]
            part["follower_scores"] = scores.clear()  # type: ignore[union-attr]
        parts.append(part)
    out: dict[str, pl.DataFrame | pl.LazyFrame] = dict(
        combine_authenticity(parts, as_of=as_of, params=P)  # type: ignore[arg-type]
    )
    out["authenticity_scores"] = out["authenticity_scores"].sort("creator_id")  # type: ignore[union-attr]
    if spill is not None:
        files = sorted(spill.glob("follower_scores_*.parquet"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        out["follower_scores"] = pl.scan_parquet(files) if files else out["follower_scores"].lazy()
    return out


def compact_part(part: dict[str, object]) -> dict[str, object]:
    """Copy the small frames of a map result so they stop pinning the shard's big buffers.

    Polars strings are views into shared buffers: a filtered or aggregated frame (a few
    thousand creator rows, the early comments) keeps the whole shard's string data alive.
    Over many shards that adds up (~100 MB per 2,500 creators). A round trip through Arrow
    copies only the bytes still referenced. The per-follower scores are left as they are
    (big, and spilled or returned anyway).
    """

    def copy(df: pl.DataFrame) -> pl.DataFrame:
        return pl.from_arrow(df.to_arrow(compat_level=pl.CompatLevel.oldest())).cast(df.schema)  # type: ignore[return-value]

    out: dict[str, object] = {}
    for key, value in part.items():
        if key == "follower_scores" or value is None:
            out[key] = value
        elif isinstance(value, pl.DataFrame):
            out[key] = copy(value)
        elif isinstance(value, dict):
            out[key] = {k: copy(v) for k, v in value.items()}
        else:
            out[key] = value
    return out


def _sql_path(p: Path) -> str:
    return str(p).replace("'", "''")


# --- shards read from the DuckDB warehouse and map results stored as Parquet ----------------
#
# The Dagster layer (``pipelines/defs/shards.py``) runs one map step per shard: it reads only
# that shard's rows from the warehouse (filtered in SQL, read-only connection), runs
# ``authenticity_parts`` and stores the result with :func:`write_part` in a folder of its own;
# the reduce reads every shard's folder with :func:`read_part`. No step but the reduce writes
# the warehouse, so the map steps can run in parallel (DuckDB allows one writer per file).

#: Name of the pointer file of a part folder (holds the name of the current version folder).
CURRENT = "CURRENT"
MANIFEST = "_manifest.json"


def warehouse_shard_queries(n: int) -> dict[str, str]:
    """SQL per table selecting one shard's rows of the warehouse; the shard number is the one
    parameter (``?``). Comments go with their note's creator, as in :func:`split_frames`.

    Each query hashes the distinct creator ids only (thousands), not every row (millions).
    """
    out = {}
    for t in ("creators", "follower_samples", "notes", "follower_history"):
        out[t] = (
            f'SELECT * FROM "{t}" WHERE creator_id IN ('
            f'SELECT creator_id FROM (SELECT DISTINCT creator_id FROM "{t}" WHERE creator_id IS NOT NULL) '
            f"WHERE {shard_sql('creator_id', n)} = ?)"
        )
    out["comments"] = (
        'SELECT * FROM "comments" WHERE note_id IN ('
        'SELECT note_id FROM "notes" WHERE creator_id IN ('
        'SELECT creator_id FROM (SELECT DISTINCT creator_id FROM "notes" WHERE creator_id IS NOT NULL) '
        f"WHERE {shard_sql('creator_id', n)} = ?))"
    )
    return out


def read_warehouse_shard(con, shard: int, n: int) -> dict[str, pl.DataFrame]:
    """The rows of shard ``shard`` (of ``n``) of every :data:`SHARDED_TABLES` table in the
    warehouse behind ``con`` (a DuckDB connection; read-only is enough). A missing table is an
    empty frame. With ``n == 1`` the whole tables are read (no filter, no hashing).
    """
    if not 0 <= shard < n:
        raise ValueError(f"shard {shard} is not in 0..{n - 1}")
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    queries = warehouse_shard_queries(n)
    out = {}
    for t in SHARDED_TABLES:
        if t not in tables or (t == "comments" and "notes" not in tables):
            out[t] = pl.DataFrame(schema=polars_schema(t))
        elif n == 1:
            out[t] = con.sql(f'SELECT * FROM "{t}"').pl()
        else:
            out[t] = con.sql(queries[t], params=[int(shard)]).pl()
    return out


def inputs_fingerprint(con, tables: Sequence[str] = SHARDED_TABLES) -> dict[str, object]:
    """What a map result was computed from, cheaply: the latest ingest (id and time, from
    ``ingest_log``) and the row count of each input table. A stored part whose fingerprint
    differs from the warehouse's is stale. (A change to the tables that bypasses ``ingest`` and
    keeps every row count is not seen; everything in this project writes them through ingest.)
    """
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    latest = None
    if "ingest_log" in present:
        rows = con.execute(
            "SELECT CAST(ingest_id AS VARCHAR), CAST(max(ingested_at) AS VARCHAR) FROM ingest_log "
            "GROUP BY ingest_id ORDER BY 2 DESC, 1 DESC LIMIT 1"
        ).fetchall()
        latest = list(rows[0]) if rows else None
    counts = {t: (con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] if t in present else None) for t in tables}
    return {"ingest": latest, "rows": counts}


def write_part(part: Mapping[str, object], folder: str | Path, manifest: Mapping[str, object] | None = None) -> Path:
    """Store one map result (:func:`authenticity_parts`) as Parquet files in ``folder``, atomically.

    Every frame is written to a new version folder ``folder/v-<id>/`` (``<key>.parquet``; a dict
    of frames as ``<key>.<sub>.parquet``; ``None`` recorded in the manifest), then the pointer
    file ``folder/CURRENT`` is replaced by a rename: a reader sees the previous version or the
    new one, never a half-written one, and a failure half way leaves the previous version
    current. Older versions are removed afterwards. ``manifest`` (JSON-able) is stored with the
    files (``_manifest.json``) and returned by :func:`read_part`. Returns the version folder.
    """
    import json
    import os
    import shutil
    import uuid

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    name = f"v-{uuid.uuid4().hex}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir()
    try:
        layout: dict[str, object] = {}
        for key, value in part.items():
            if value is None:
                layout[key] = None
            elif isinstance(value, pl.LazyFrame):
                value.sink_parquet(tmp / f"{key}.parquet")
                layout[key] = "frame"
            elif isinstance(value, pl.DataFrame):
                value.write_parquet(tmp / f"{key}.parquet")
                layout[key] = "frame"
            elif isinstance(value, Mapping):
                for sub, frame in value.items():
                    frame.write_parquet(tmp / f"{key}.{sub}.parquet")
                layout[key] = sorted(value)
            else:
                raise TypeError(f"cannot store part {key!r} of type {type(value).__name__}")
        doc = {"layout": layout, **dict(manifest or {})}
        (tmp / MANIFEST).write_text(json.dumps(doc, sort_keys=True, default=str), encoding="utf-8")
        tmp.rename(root / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = root / f".{CURRENT}-{uuid.uuid4().hex}"
    pointer.write_text(name, encoding="utf-8")
    os.replace(pointer, root / CURRENT)  # the commit point
    for old in root.iterdir():
        if old.name != name and old.name != CURRENT and (old.name.startswith("v-") or old.name.startswith(".tmp-")):
            shutil.rmtree(old, ignore_errors=True)
    return root / name


def read_part(folder: str | Path, *, lazy: Sequence[str] = ()) -> tuple[dict[str, object], dict[str, object]] | None:
    """The map result stored by :func:`write_part` in ``folder`` and its manifest, or None when
    ``folder`` has no current version. Keys in ``lazy`` come back as LazyFrames (scanned, not read).
    """
    import json

    root = Path(folder)
    for attempt in range(3):
        try:
            name = (root / CURRENT).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        version = root / name
        if not name.startswith("v-") or not (version / MANIFEST).exists():
            return None
        try:
            doc = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
            part: dict[str, object] = {}
            for key, kind in doc.pop("layout").items():
                if kind is None:
                    part[key] = None
                elif kind == "frame":
                    path = version / f"{key}.parquet"
                    part[key] = pl.scan_parquet(path) if key in lazy else pl.read_parquet(path)
                else:
                    part[key] = {sub: pl.read_parquet(version / f"{key}.{sub}.parquet") for sub in kind}  # type: ignore[union-attr]
            return part, doc
        except FileNotFoundError:
            if attempt == 2:  # a writer replaced and removed this version while it was read: read the new one
                raise
    return None


def canonical_order(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by all its non-list columns, in column order (nulls last, stable).

    Sharded results arrive shard by shard, and several library steps do not fix their row order
    (Polars joins and group-bys); sorting every output table this way makes what is written the
    same whatever the number of shards or threads.
    """
    keys = [c for c, d in frame.schema.items() if not isinstance(d, (pl.List, pl.Array, pl.Struct))]
    return frame.sort(keys, nulls_last=True, maintain_order=True) if keys and frame.height > 1 else frame
