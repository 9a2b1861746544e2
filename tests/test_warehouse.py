"""Warehouse: atomic multi-table replace, rollback on failure, writer serialization, safe names."""

import multiprocessing as mp
import time

import polars as pl
import pytest

from kol_vetting import warehouse as wh


def test_replace_tables_is_all_or_nothing(tmp_path):
    db = tmp_path / "sub" / "w.duckdb"  # parent folder is created on demand
    with wh.connect(db) as con:
        wh.replace_tables(con, {"a": pl.DataFrame({"x": [1, 2]}), "b": pl.DataFrame({"y": ["p"]})})

    class Boom(pl.DataFrame):
        def to_arrow(self, *a, **k):  # fails half way, after table "a" was replaced in the transaction
            raise RuntimeError("disk on fire")

    with wh.connect(db) as con, pytest.raises(RuntimeError):
        wh.replace_tables(con, {"a": pl.DataFrame({"x": [9]}), "b": Boom({"y": ["q"]})})
    with wh.connect(db, read_only=True) as con:
        assert wh.read_table(con, "a")["x"].to_list() == [1, 2]
        assert wh.read_table(con, "b")["y"].to_list() == ["p"]


def test_table_names_are_never_data(tmp_path):
    with wh.connect(tmp_path / "w.duckdb") as con, pytest.raises(wh.WarehouseError):
        wh.replace_tables(con, {'x"; DROP TABLE a; --': pl.DataFrame({"x": [1]})})


def test_read_only_open_of_missing_warehouse_is_a_clear_error(tmp_path):
    with pytest.raises(wh.WarehouseError, match="no warehouse"), wh.connect(tmp_path / "none.duckdb", read_only=True):
        pass


def test_env_var_sets_the_warehouse_path(monkeypatch, tmp_path):
    monkeypatch.setenv(wh.WAREHOUSE_ENV, str(tmp_path / "env.duckdb"))
    assert wh.warehouse_path() == tmp_path / "env.duckdb"
    assert wh.warehouse_path("explicit.duckdb").name == "explicit.duckdb"


def _writer(db: str, start: int, hold_s: float) -> None:
    with wh.connect(db) as con:
        existing = wh.read_table(con, "log") if wh.table_exists(con, "log") else pl.DataFrame({"i": []}, schema={"i": pl.Int64})
        time.sleep(hold_s)  # another process tries to write meanwhile
        wh.replace_tables(con, {"log": pl.concat([existing, pl.DataFrame({"i": list(range(start, start + 100))})])})


def test_two_processes_writing_at_once_serialize_without_losing_rows(tmp_path):
    db = str(tmp_path / "w.duckdb")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db, k * 100, 0.5)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with wh.connect(db, read_only=True) as con:
        rows = wh.read_table(con, "log")["i"].to_list()
    assert sorted(rows) == list(range(200))


def test_read_rows_equals_filtering_the_whole_table_in_table_order(tmp_path):
    # keys in a shuffled order, repeated, with SQL-looking text and nulls: the result is the
    # table's own rows in the table's order, as read_table(...).filter(is_in) gives them
    n = 5_000
    notes = pl.DataFrame({
        "note_id": [f"n{i:05d}" for i in range(n)],
        "creator_id": [f"c{(i * 7919) % 97:03d}" for i in range(n)],
        "title": [("x'); DROP TABLE notes; --" if i % 11 == 0 else f"t{i}") for i in range(n)],
    }).sample(fraction=1.0, shuffle=True, seed=3)  # insertion order is not key order
    comments = pl.DataFrame({
        "comment_id": [f"m{i}" for i in range(3 * n)],
        "note_id": [f"n{(i * 31) % (n + 50):05d}" for i in range(3 * n)],  # some orphans
    })
    with wh.connect(tmp_path / "w.duckdb") as con:
        wh.replace_tables(con, {"notes": notes, "comments": comments})
    creators = pl.Series(["c005", "c090", None, "c005", "c'; --", "c013"])
    with wh.connect(tmp_path / "w.duckdb", read_only=True) as con:
        got = wh.read_creator_rows(con, "notes", creators)
        want = notes.filter(pl.col("creator_id").is_in(creators.drop_nulls().implode()))
        assert got.equals(want) and got.height > 0
        got_c = wh.read_creator_rows(con, "comments", creators, columns=["comment_id"])
        want_c = comments.join(want.select("note_id"), on="note_id", how="semi").select("comment_id")
        assert got_c.equals(want_c) and got_c.height > 0
        titles = wh.read_rows(con, "notes", column="title", values=pl.Series(["x'); DROP TABLE notes; --"]))
        assert titles.height == notes.filter(pl.col("title").str.starts_with("x'")).height
        assert wh.read_rows(con, "notes", column="note_id", values=pl.Series([], dtype=pl.String)).height == 0
        assert wh.table_counts(con)["notes"] == n  # nothing was dropped
        with pytest.raises(wh.WarehouseError):
            wh.read_rows(con, "notes", column='note_id" OR 1=1 --', values=pl.Series(["n1"]))
        with pytest.raises(wh.WarehouseError, match="not in the warehouse"):
            wh.read_rows(con, "missing_table", column="note_id", values=pl.Series(["n1"]))
