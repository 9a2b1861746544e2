"""The Dagster layer: definitions load, ingest materializes in-process, checks pass, reruns are idempotent."""

import shutil

import dagster as dg
import polars as pl
import pytest

from kol_vetting import schema
from kol_vetting import warehouse as wh
from pipelines.cli import main as cli_main
from pipelines.defs.ingest import ingest_checks, ingest_source
from pipelines.definitions import defs as load_defs
from pipelines.resources import WarehouseResource

from pathlib import Path

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
