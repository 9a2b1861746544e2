"""Operations: jobs, the weekly schedule, sensors, and partner re-vetting with dated snapshots."""

import dagster as dg
import polars as pl

from kol_vetting import warehouse as wh
from pipelines.definitions import defs as load_defs
from pipelines.defs import automation
from pipelines.defs.ingest import ingest_checks, ingest_source
from pipelines.defs.monitoring import no_severe_partner_alerts, partner_alerts, partner_scorecards
from pipelines.defs.signals import authenticity
from pipelines.resources import BriefLibrary, WarehouseResource


def test_jobs_schedule_and_sensors_are_defined():
    defs = load_defs()
    for job in ("vet_candidates", "revet_partners", "ingest_and_revet"):
        assert defs.resolve_job_def(job) is not None
    schedule = defs.resolve_schedule_def("weekly_partner_revetting")
    assert schedule.cron_schedule == "0 6 * * 1"
    assert {s.name for s in defs.sensors} >= {"brief_files_sensor", "incoming_data_sensor"}


def test_brief_sensor_adds_partitions_and_vets_new_or_changed_briefs_once(tmp_path, monkeypatch):
    briefs = tmp_path / "briefs"
    briefs.mkdir()
    (briefs / "a.yaml").write_text("name: brand-a\nbrand: 岚汐\ncategory: beauty\nbudget: 1000\n", encoding="utf-8")
    (briefs / "bad.yaml").write_text("name: Bad!\n", encoding="utf-8")
    monkeypatch.setattr(automation, "BRIEFS_DIR", briefs)
    instance = dg.DagsterInstance.ephemeral()
    result = automation.brief_files_sensor(dg.build_sensor_context(instance=instance))
    assert [r.partition_key for r in result.run_requests] == ["brand-a"]
    assert result.dynamic_partitions_requests[0].partition_keys == ["brand-a"]
    instance.add_dynamic_partitions("brief", ["brand-a"])
    again = automation.brief_files_sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
    assert again.run_requests == [] and again.dynamic_partitions_requests == []


def test_incoming_data_sensor_waits_for_the_ready_marker(tmp_path, monkeypatch):
    incoming = tmp_path / "incoming"
    (incoming / "drop1").mkdir(parents=True)
    monkeypatch.setattr(automation, "INCOMING_DIR", incoming)
    first = automation.incoming_data_sensor(dg.build_sensor_context())
    assert first.run_requests == []
    (incoming / "drop1" / "_READY").write_text("mediacrawler", encoding="utf-8")
    second = automation.incoming_data_sensor(dg.build_sensor_context(cursor=first.cursor))
    (req,) = second.run_requests
    assert req.run_config["ops"]["ingest_source"]["config"] == {"source_dir": str(incoming / "drop1"), "format": "mediacrawler"}
    third = automation.incoming_data_sensor(dg.build_sensor_context(cursor=second.cursor))
    assert third.run_requests == []


def test_revetting_keeps_dated_snapshots_and_writes_alerts(tmp_path, small_world):
    db = tmp_path / "w.duckdb"
    resources = {"warehouse": WarehouseResource(path=str(db)), "briefs": BriefLibrary(path="briefs")}
    cfg = {"ops": {"ingest_source": {"config": {"source_dir": str(small_world)}}},
           "resources": {}}
    assert dg.materialize([ingest_source, ingest_checks, authenticity], run_config={"ops": cfg["ops"]}, resources=resources).success
    run = {"ops": {"partner_alerts": {"config": {"out_dir": str(tmp_path / "alerts")}}}}
    for _ in range(2):
        result = dg.materialize([partner_scorecards, partner_alerts, no_severe_partner_alerts], run_config=run,
                                resources=resources, raise_on_error=False)
        assert result.success
    with wh.connect(db, read_only=True) as con:
        snaps = wh.read_table(con, "scorecard_snapshots")
        partners = wh.read_table(con, "partners")
        alerts = wh.read_table(con, "partner_alerts")
    assert snaps["snapshot_at"].n_unique() == 2
    active = partners.filter(pl.col("status") == "active")
    assert set(snaps["creator_id"]) <= set(active["creator_id"])
    assert set(alerts["creator_id"]) <= set(active["creator_id"])
    assert (tmp_path / "alerts" / "partner_alerts.csv").read_bytes().startswith(b"\xef\xbb\xbf")
