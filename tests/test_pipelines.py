"""The Dagster layer: definitions load, ingest materializes in-process, checks pass, reruns are idempotent."""

import shutil
from pathlib import Path

import dagster as dg
import polars as pl

from kol_vetting import schema
from kol_vetting import warehouse as wh
from pipelines.cli import main as cli_main
from pipelines.definitions import defs as load_defs
from pipelines.defs.ingest import ingest_checks, ingest_source
from pipelines.resources import WarehouseResource

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_definitions_load_with_expected_assets_checks_and_resources():
    defs = load_defs()
    keys = {k.to_user_string() for a in defs.assets for k in a.keys}
    assert set(schema.TABLES) | {"quarantine", "scorecard"} <= keys
    check_names = {(c.asset_key.to_user_string(), c.name) for a in defs.asset_checks for c in a.check_specs}
    for table in schema.TABLES:
        for name in ("counts_reconcile", "keys_unique", "no_negative_counts", "no_future_timestamps"):
            assert (table, name) in check_names
    assert {"warehouse", "briefs"} <= set(defs.resources)
    groups = {a.group_names_by_key[k] for a in defs.assets for k in a.keys}
    assert {"ingest", "scorecard"} <= groups


def _ingest(db, source, fmt="canonical"):
    return dg.materialize(
        [ingest_source, ingest_checks],
        run_config={"ops": {"ingest_source": {"config": {"source_dir": str(source), "format": fmt}}}},
        resources={"warehouse": WarehouseResource(path=str(db))},
        raise_on_error=False,
    )


def _snapshot(db):
    with wh.connect(db, read_only=True) as con:
        return {t: wh.read_table(con, t).sort(list(schema.TABLES[t].key)) for t in schema.TABLES}


def test_ingest_materializes_all_tables_checks_pass_and_rerun_is_idempotent(tmp_path, small_world):
    db = tmp_path / "w.duckdb"
    result = _ingest(db, small_world)
    assert result.success
    evals = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(evals) == len(schema.TABLES) * 4 and all(e.passed for e in evals)
    first = _snapshot(db)
    assert first["notes"].height > 1000 and first["comments"].height > first["notes"].height
    for table, frame in first.items():
        assert frame.schema == schema.polars_schema(table)
    mats = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("ingest_source")}
    assert mats["notes"]["dagster/row_count"].value == first["notes"].height
    assert _ingest(db, small_world).success
    second = _snapshot(db)
    for table in schema.TABLES:
        assert first[table].equals(second[table]), table


def test_failed_load_leaves_the_warehouse_unchanged(tmp_path, small_world):
    db = tmp_path / "w.duckdb"
    assert _ingest(db, small_world).success
    before = _snapshot(db)
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURES / "canonical" / "cut_json", bad)
    result = _ingest(db, bad)
    assert not result.success
    after = _snapshot(db)
    for table in schema.TABLES:
        assert before[table].equals(after[table]), table


def test_quarantine_reconciles_on_a_dirty_source(tmp_path):
    db = tmp_path / "w.duckdb"
    result = _ingest(db, FIXTURES / "canonical" / "full")
    assert result.success
    with wh.connect(db, read_only=True) as con:
        log = wh.read_table(con, "ingest_log")
        q = wh.read_table(con, "quarantine")
        for row in log.iter_rows(named=True):
            assert row["rows_read"] == row["accepted"] + row["quarantined"]
            assert wh.read_table(con, row["table"]).height == row["accepted"]
            assert q.filter(pl.col("table") == row["table"]).height == row["quarantined"]
    assert (q["reason"].str.len_chars() > 5).all()


def test_cli_ingest_reports_counts_and_fails_cleanly(tmp_path, small_world, capsys):
    db = tmp_path / "cli.duckdb"
    assert cli_main(["--warehouse", str(db), "ingest", str(small_world)]) == 0
    out = capsys.readouterr()
    assert str(db) in out.out and "creators" in out.err
    assert cli_main(["--warehouse", str(db), "ingest", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nope" in err[0]


def _vet(db, request: dict | None, instance):
    from pipelines.defs.brief_fit import vetting_request
    from pipelines.defs.scorecard import every_candidate_scored, scorecard
    from pipelines.resources import BriefLibrary

    return dg.materialize(
        [vetting_request, scorecard, every_candidate_scored],
        run_config={"ops": {"vetting_request": {"config": request}}} if request is not None else None,
        resources={"warehouse": WarehouseResource(path=str(db)), "briefs": BriefLibrary(path="briefs")},
        partition_key="lanxi-spring",
        instance=instance,
        raise_on_error=False,
    )


def _check(result) -> dict:
    (ev,) = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return {"passed": ev.passed, **{k: v.value for k, v in ev.metadata.items()}}


def test_typed_vetting_request_scores_exactly_the_requested_creators(tmp_path, small_world):
    from kol_vetting.brief import load_brief
    from kol_vetting.scorecard import candidates

    db = tmp_path / "w.duckdb"
    assert _ingest(db, small_world).success
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("brief", ["lanxi-spring"])
    brief = load_brief("briefs/lanxi-spring.yaml")
    with wh.connect(db, read_only=True) as con:
        creators = wh.read_table(con, "creators")
    # Empty config: the brief's candidates, as before the request existed.
    default = _vet(db, None, instance)
    assert default.success and _check(default)["passed"]
    with wh.connect(db, read_only=True) as con:
        card = wh.read_partition(con, "scorecard", column="brief", value="lanxi-spring")
    assert set(card["creator_id"]) == set(candidates(creators, brief)["creator_id"]) and card.height > 3
    # A shortlist (one of them outside the brief's categories) and a vetting date.
    outside = creators.filter(~pl.col("category").is_in(brief.candidate_categories))["creator_id"][0]
    shortlist = [*card["creator_id"].head(2).to_list(), outside]
    result = _vet(db, {"brief": "lanxi-spring", "creator_ids": shortlist, "as_of": "2026-10-15"}, instance)
    assert result.success
    check = _check(result)
    assert check["passed"] and check["candidates"] == 3 and "as of 2026-10-15" in check["request"]
    with wh.connect(db, read_only=True) as con:
        card = wh.read_partition(con, "scorecard", column="brief", value="lanxi-spring")
        recorded = wh.read_partition(con, "vetting_requests", column="brief", value="lanxi-spring")
    assert sorted(card["creator_id"]) == sorted(shortlist)
    assert recorded.height == 1 and sorted(recorded["creator_ids"][0]) == sorted(shortlist)
    assert str(recorded["as_of"][0]) == "2026-10-15"
    mats = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("scorecard")}
    assert mats["scorecard"]["vetting date (as of)"].value.startswith("2026-10-15 23:59:59")
    # Filters: tiers narrow the brief's candidates.
    result = _vet(db, {"tiers": ["micro"]}, instance)
    assert result.success and _check(result)["passed"]
    with wh.connect(db, read_only=True) as con:
        assert set(wh.read_partition(con, "scorecard", column="brief", value="lanxi-spring")["tier"]) == {"micro"}
    # Wrong brief, unknown ids and bad tiers stop the run before anything is written, with the reason.
    for bad, words in (({"brief": "kazi-bear-snacks"}, "partition"), ({"creator_ids": ["nobody"]}, "nobody"),
                       ({"tiers": ["huge"]}, "nano")):
        failed = _vet(db, bad, instance)
        assert not failed.success
        failure = next(e for e in failed.all_events if e.is_step_failure)
        assert words in failure.step_failure_data.user_failure_data.description
    with wh.connect(db, read_only=True) as con:
        assert set(wh.read_partition(con, "scorecard", column="brief", value="lanxi-spring")["tier"]) == {"micro"}
