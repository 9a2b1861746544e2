"""Per-creator sharding: a stable shard function, and sharded authenticity equal to unsharded."""

from __future__ import annotations

import hashlib

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from kol_vetting.shards import (
    read_shard,
    score_authenticity_sharded,
    shard_number,
    shard_of,
    shard_sql,
    split_frames,
    write_shards,
)
from kol_vetting.signals.authenticity import score_authenticity

TABLES = ("creators", "follower_samples", "notes", "comments", "follower_history")


def test_shard_function_is_md5_and_the_same_in_python_polars_and_duckdb():
    # md5("abc") = 900150983cd24fb0d6963f7d28e17f72: the first 15 hex digits, mod n
    assert shard_number("abc", 7) == int("900150983cd24fb", 16) % 7 == 0
    ids = [f"creator-{i}" for i in range(500)] + ["5f495e1a00005f8a3e84f9c8", "小红书用户"]
    expected = [int(hashlib.md5(x.encode()).hexdigest()[:15], 16) % 16 for x in ids]
    frame = pl.DataFrame({"creator_id": ids + [None]})
    got = frame.select(shard_of("creator_id", 16)).to_series().to_list()
    assert got == expected + [None]
    con = duckdb.connect()
    con.register("f", frame.to_arrow())
    sql = [r[0] for r in con.execute(f"SELECT {shard_sql('creator_id', 16)} FROM f").fetchall()]
    assert sql == expected + [None]
    assert set(expected) == set(range(16))  # every shard is used
    with pytest.raises(ValueError):
        shard_of("creator_id", 0)


@pytest.fixture(scope="module")
def world(small_world):
    t = {name: pl.read_parquet(small_world / f"{name}.parquet") for name in TABLES}
    as_of = t["creators"]["captured_at"].max()
    reference = score_authenticity(*(t[name] for name in TABLES), as_of=as_of)
    return t, as_of, reference


def _assert_same(reference: dict[str, pl.DataFrame], got: dict[str, pl.DataFrame]) -> None:
    assert set(got) == set(reference)
    for key, ref in reference.items():
        # row order differs (shards arrive one after another): compare in a canonical order
        order = [c for c, d in ref.schema.items() if not isinstance(d, pl.List)]
        assert_frame_equal(got[key].sort(order), ref.sort(order), check_exact=True)


def test_sharded_authenticity_equals_unsharded(world):
    t, as_of, reference = world
    shards = split_frames(t, 3)
    assert sum(s["creators"].height for s in shards) == t["creators"].height
    assert all(s["creators"].height for s in shards)
    got = score_authenticity_sharded(shards, as_of=as_of)
    _assert_same(reference, got)
    # peer-relative columns need every creator: they were computed after the merge, not per shard
    scores = got["authenticity_scores"]
    assert scores["creator_id"].is_sorted()
    assert scores["engagement_peer_n"].max() > max(s["creators"].height for s in shards) // 2


def test_one_shard_and_many_shards(world):
    t, as_of, reference = world
    _assert_same(reference, score_authenticity_sharded(split_frames(t, 1), as_of=as_of))
    many = split_frames(t, 40)  # some shards have no creator at all
    assert any(s["creators"].height == 0 for s in many)
    _assert_same(reference, score_authenticity_sharded(many, as_of=as_of))


def test_file_per_shard_path(world, small_world, tmp_path):
    t, as_of, reference = world
    folders = write_shards(small_world, tmp_path / "shards", 4)
    assert [f.name for f in folders] == [f"_shard={k}" for k in range(4)]
    tables = [read_shard(f) for f in folders]
    for name in TABLES:
        assert sum(s[name].height for s in tables) == t[name].height  # every row in one shard
    for k, s in enumerate(tables):
        shards = s["creators"].select(shard_of("creator_id", 4)).to_series().unique().to_list()
        assert shards in ([k], [])
    # comments live with their note's creator
    notes_of = pl.concat([s["notes"].select("note_id", pl.lit(k).alias("k")) for k, s in enumerate(tables)])
    comments_of = pl.concat([s["comments"].select("note_id", pl.lit(k).alias("ck")) for k, s in enumerate(tables)])
    joined = comments_of.join(notes_of, on="note_id", how="left")
    assert joined["k"].null_count() == 0 and (joined["k"] == joined["ck"]).all()
    _assert_same(reference, score_authenticity_sharded(folders, as_of=as_of))
    spilled = score_authenticity_sharded(folders, as_of=as_of, spill_dir=tmp_path / "spill")
    assert isinstance(spilled["follower_scores"], pl.LazyFrame)
    spilled["follower_scores"] = spilled["follower_scores"].collect()
    _assert_same(reference, spilled)


def test_warehouse_shard_reads_match_split_frames(world):
    from kol_vetting.shards import read_warehouse_shard

    t, _, _ = world
    con = duckdb.connect()
    for name in TABLES:
        con.register(f"_{name}", t[name].to_arrow())
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "_{name}"')
    for n in (1, 3):
        split = split_frames(t, n)
        for k in range(n):
            got = read_warehouse_shard(con, k, n)
            for name in TABLES:
                order = [c for c, d in t[name].schema.items() if not isinstance(d, pl.List)]
                assert_frame_equal(got[name].sort(order), split[k][name].sort(order), check_exact=True)
    with pytest.raises(ValueError):
        read_warehouse_shard(con, 3, 3)
    empty = duckdb.connect()  # no tables yet: empty frames with the contract schema
    assert all(df.height == 0 for df in read_warehouse_shard(empty, 0, 2).values())


def test_stored_parts_round_trip_and_a_failed_write_keeps_the_previous_version(world, tmp_path, monkeypatch):
    from kol_vetting.shards import CURRENT, compact_part, read_part, write_part
    from kol_vetting.signals.authenticity import authenticity_parts, combine_authenticity

    t, as_of, reference = world
    shards = split_frames(t, 2)
    parts = [compact_part(authenticity_parts(*(s[name] for name in TABLES), as_of=as_of)) for s in shards]
    folder = tmp_path / "shard=0"
    assert read_part(folder) is None
    for k, part in enumerate(parts):
        write_part(part, tmp_path / f"shard={k}", {"shard": k})
    stored = [read_part(tmp_path / f"shard={k}") for k in range(2)]
    assert [m for _, m in stored] == [{"shard": 0}, {"shard": 1}]
    got = combine_authenticity([p for p, _ in stored], as_of=as_of)
    got["authenticity_scores"] = got["authenticity_scores"].sort("creator_id")
    _assert_same(reference, got)
    first = (folder / CURRENT).read_text()
    # a write that fails half way leaves the previous version current and no debris
    calls = {"n": 0}
    real = pl.DataFrame.write_parquet

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_part(parts[1], folder, {"shard": "new"})
    monkeypatch.setattr(pl.DataFrame, "write_parquet", real)
    assert (folder / CURRENT).read_text() == first
    assert sorted(p.name for p in folder.iterdir()) == sorted([CURRENT, first])
    assert read_part(folder)[1] == {"shard": 0}
    # a successful rewrite swaps the pointer and removes the old version
    write_part(parts[1], folder, {"shard": "new"})
    assert read_part(folder)[1] == {"shard": "new"} and not (folder / first).exists()
