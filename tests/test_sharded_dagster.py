"""Sharded authenticity in Dagster: shard partitions (map) + the `authenticity` multi-asset (reduce).

The sharded run, with every shard a separate run through Dagster's multiprocess executor, must
produce the same authenticity tables as the unsharded library function, value for value; the
reduce recomputes shards stored for older inputs; a failed shard leaves the tables whole.
"""

import os
import shutil

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from kol_vetting import warehouse as wh
from kol_vetting.shards import canonical_order, read_part, shard_number
from kol_vetting.signals.authenticity import score_authenticity
from pipelines.defs.ingest import ingest_checks, ingest_source
from pipelines.defs.shards import (
    SHARDS_ENV,
    build_authenticity_shard,
    creator_shard_count,
    run_authenticity_sharded,
)
from pipelines.defs.signals import AUTH_OUTPUTS, authenticity, authenticity_rows_complete
from pipelines.io import read_inputs
from pipelines.resources import WarehouseResource

INPUTS = ["creators", "follower_samples", "notes", "comments", "follower_history"]


@pytest.fixture(scope="module")
def ingested(small_world, tmp_path_factory):
    """A warehouse with the small world ingested (copied by each test)."""
    db = tmp_path_factory.mktemp("sharded") / "warehouse.duckdb"
    run_config = {"ops": {"ingest_source": {"config": {"source_dir": str(small_world)}}}}
    assert dg.materialize([ingest_source, ingest_checks], run_config=run_config,
                          resources={"warehouse": WarehouseResource(path=str(db))}).success
    return db


@pytest.fixture
def warehouse(ingested, tmp_path, monkeypatch):
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(ingested, db)
    monkeypatch.setenv("KOL_WAREHOUSE", str(db))  # what WarehouseResource() and the run processes use
    return db


def _reference(db) -> dict[str, pl.DataFrame]:
    """The unsharded library result on the warehouse's current tables."""
    t, as_of = read_inputs(WarehouseResource(path=str(db)), INPUTS)
    return score_authenticity(*(t[name] for name in INPUTS), as_of=as_of)


def _tables(db) -> dict[str, pl.DataFrame]:
    with wh.connect(db, read_only=True) as con:
        return {t: wh.read_table(con, t) for t in AUTH_OUTPUTS}


def _assert_same(reference: dict[str, pl.DataFrame], got: dict[str, pl.DataFrame]) -> None:
    assert set(got) == set(AUTH_OUTPUTS)
    for key in AUTH_OUTPUTS:
        ref = reference[key]
        # rows arrive shard by shard: compare in a canonical order (every non-list column as key)
        order = [c for c, d in ref.schema.items() if not isinstance(d, pl.List)]
        assert got[key].schema == ref.schema, key
        assert_frame_equal(got[key].sort(order), ref.sort(order), check_exact=True)


def _shard_meta(instance: dg.DagsterInstance) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey("authenticity_scores"))
    meta = event.asset_materialization.metadata
    return {k: meta[k].value for k in ("creator shards", "shards read from authenticity_shard", "shards computed in this step")}


def test_default_is_one_shard_and_the_reduce_alone_equals_score_authenticity(warehouse, monkeypatch):
    monkeypatch.delenv(SHARDS_ENV, raising=False)
    assert creator_shard_count() == 1
    instance = dg.DagsterInstance.ephemeral()
    # as the existing jobs and the CLI do: the reduce without any stored shard computes it itself
    assert dg.materialize([authenticity, authenticity_rows_complete], instance=instance,
                          resources={"warehouse": WarehouseResource()}).success
    reference, got = _reference(warehouse), _tables(warehouse)
    _assert_same(reference, got)
    for key in AUTH_OUTPUTS:  # written in a canonical order (sorted by its columns, creator first)
        assert_frame_equal(got[key], canonical_order(got[key]), check_exact=True)
    assert _shard_meta(instance) == {"creator shards": 1, "shards read from authenticity_shard": 0,
                                     "shards computed in this step": 1}


def test_shard_count_comes_from_the_environment(monkeypatch):
    from pipelines.definitions import defs as load_defs

    monkeypatch.setenv(SHARDS_ENV, "4")
    defs = load_defs()
    assert defs.resolve_job_def("authenticity_shards").partitions_def.get_partition_keys() == ["0", "1", "2", "3"]
    parents = defs.resolve_asset_graph().get(dg.AssetKey("authenticity_scores")).parent_keys
    assert dg.AssetKey("authenticity_shard") in parents
    # the jobs that refresh group signals stay unpartitioned (the reduce covers missing shards)
    for job in ("ingest_and_revet", "revet_partners"):
        assert defs.resolve_job_def(job).partitions_def is None
    for bad in ("0", "x", "-2"):
        monkeypatch.setenv(SHARDS_ENV, bad)
        with pytest.raises(ValueError, match=SHARDS_ENV):
            creator_shard_count()


def test_all_shards_through_the_multiprocess_executor_equal_the_unsharded_run(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv(SHARDS_ENV, "4")
    reference = _reference(warehouse)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        report = run_authenticity_sharded(instance, parallel=4)
        assert [r["shard"] for r in report["runs"]] == [0, 1, 2, 3] and all(r["success"] for r in report["runs"])
        for r in report["runs"]:
            run = instance.get_run_by_id(r["run_id"])
            assert run.tags["dagster/partition"] == str(r["shard"])
            logs = instance.all_logs(r["run_id"])
            engine = " ".join(e.message or "" for e in logs if e.dagster_event and e.dagster_event.event_type_value == "ENGINE_EVENT")
            assert "multiprocess executor" in engine
            pids = {kind: {e.dagster_event.pid for e in logs if e.dagster_event and e.dagster_event.event_type_value == kind}
                    for kind in ("PIPELINE_START", "STEP_START")}
            # the run had a process of its own, and its executor started the step in another one
            assert pids["PIPELINE_START"] and pids["STEP_START"] and os.getpid() not in pids["PIPELINE_START"]
            assert not pids["PIPELINE_START"] & pids["STEP_START"]
        assert instance.get_materialized_partitions(dg.AssetKey("authenticity_shard")) == {"0", "1", "2", "3"}
        assert _shard_meta(instance) == {"creator shards": 4, "shards read from authenticity_shard": 4,
                                         "shards computed in this step": 0}
    _assert_same(reference, _tables(warehouse))
    got = _tables(warehouse)["authenticity_scores"]
    assert got["creator_id"].is_sorted()
    # each shard folder holds exactly its creators
    res = WarehouseResource()
    seen = []
    for k in range(4):
        part, manifest = read_part(res.shard_folder("authenticity", 4, k))
        ids = part["creators"]["creator_id"].to_list()
        assert {shard_number(x, 4) for x in ids} <= {k} and manifest["shard"] == k and manifest["creators"] == len(ids)
        seen += ids
    assert sorted(seen) == sorted(reference["authenticity_scores"]["creator_id"].to_list())


def test_reduce_recomputes_shards_stored_for_older_inputs(warehouse, monkeypatch):
    monkeypatch.setenv(SHARDS_ENV, "3")
    shard_asset = build_authenticity_shard(3)
    resources = {"warehouse": WarehouseResource()}
    instance = dg.DagsterInstance.ephemeral()
    # an unpartitioned run of the shard asset stores every shard (one after another)
    assert dg.materialize([shard_asset], instance=instance, resources=resources).success
    assert dg.materialize([shard_asset], instance=instance, resources=resources, partition_key="1").success
    assert dg.materialize([authenticity], instance=instance, resources=resources).success
    assert _shard_meta(instance)["shards read from authenticity_shard"] == 3
    _assert_same(_reference(warehouse), _tables(warehouse))
    # the data changes (one creator's follower history is cut short): every stored shard is stale
    with wh.connect(warehouse) as con:
        con.execute("DELETE FROM follower_history WHERE creator_id = (SELECT min(creator_id) FROM creators) "
                    "AND date > (SELECT min(date) + 20 FROM follower_history)")
    assert dg.materialize([authenticity], instance=instance, resources=resources).success
    assert _shard_meta(instance) == {"creator shards": 3, "shards read from authenticity_shard": 0,
                                     "shards computed in this step": 3}
    _assert_same(_reference(warehouse), _tables(warehouse))


def test_a_failed_shard_leaves_the_previous_authenticity_tables_whole(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv(SHARDS_ENV, "2")
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([authenticity], instance=instance, resources={"warehouse": WarehouseResource()}).success
    before = _tables(warehouse)
    # new data arrives, then shard 1 cannot store its result (its folder's place is taken by a file)
    with wh.connect(warehouse) as con:
        con.execute("DELETE FROM follower_samples WHERE creator_id IN (SELECT creator_id FROM creators LIMIT 10)")
    blocked = WarehouseResource().shard_folder("authenticity", 2, 1)
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a folder", encoding="utf-8")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as persistent:
        with pytest.raises(dg.Failure, match=r"shard\(s\) \[1\] failed"):
            run_authenticity_sharded(persistent, parallel=2)
        assert persistent.get_materialized_partitions(dg.AssetKey("authenticity_shard")) == {"0"}
        assert [r.status for r in persistent.get_runs()] and not persistent.get_runs(
            filters=dg.RunsFilter(job_name="__ephemeral_asset_job__"))  # the reduce did not run
    after = _tables(warehouse)
    for key in AUTH_OUTPUTS:
        assert_frame_equal(after[key], before[key], check_exact=True)
