"""Operations: jobs, the weekly schedule, sensors, and partner re-vetting with dated snapshots."""

from pathlib import Path

import dagster as dg
import polars as pl
from test_monitor import GENUINE

from kol_vetting import warehouse as wh
from pipelines.definitions import defs as load_defs
from pipelines.defs import automation
from pipelines.defs.ingest import ingest_checks, ingest_source
from pipelines.defs.monitoring import revet_partners_job
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


PARTNER, BRAND = "64af670300008db667706b0f", "岚汐"  # an active partner of the lanxi-spring brief's brand (seed 11)
COMPLAINTS = GENUINE[:12]  # the varied, genuine complaints of the monitor tests


def _plant_wave(world: Path, out: Path) -> tuple[str, list[str]]:
    """A copy of ``world`` two days later: the partner posted a sponsored note for the brand and a
    wave of first-hand complaints (liked by many users) came in under it. Returns the planted ids."""
    import datetime as dt
    import shutil

    shutil.copytree(world, out)
    creators = pl.read_parquet(out / "creators.parquet")
    was = creators["captured_at"].max()
    crawl = was + dt.timedelta(days=2)  # the new crawl
    note_id, posted = "plantednote000000000001", was + dt.timedelta(hours=6)
    notes = pl.read_parquet(out / "notes.parquet")
    note = {c: None for c in notes.columns} | {
        "note_id": note_id, "creator_id": PARTNER, "published_at": posted, "title": f"{BRAND}修护精华真实测评 #广告",
        "body": f"和{BRAND}合作，这支修护精华我用了一个月，敏感肌也能用", "tags": ["广告", BRAND], "note_type": "normal",
        "likes": 800, "collects": 120, "comments": len(COMPLAINTS), "shares": 10, "platform_sponsor_label": True,
        "url": f"https://www.xiaohongshu.com/explore/{note_id}", "captured_at": crawl,
    }
    pl.concat([notes, pl.DataFrame([note], schema=notes.schema)]).write_parquet(out / "notes.parquet")
    comments = pl.read_parquet(out / "comments.parquet")
    wave = pl.DataFrame(
        [{"comment_id": f"plantedcomment{i:04d}", "note_id": note_id, "commenter_id": f"buyer{i:04d}",
          "commenter_name": f"用户昵称{i}", "created_at": posted + dt.timedelta(hours=2, minutes=4 * i), "text": text,
          "likes": 40 + 10 * i, "parent_comment_id": None} for i, text in enumerate(COMPLAINTS)],
        schema=comments.schema,
    )
    pl.concat([comments, wave]).write_parquet(out / "comments.parquet")
    creators.with_columns(pl.lit(crawl).cast(creators["captured_at"].dtype).alias("captured_at")).write_parquet(out / "creators.parquet")
    return note_id, wave.sort("likes", descending=True)["comment_id"].to_list()


def test_revetting_two_snapshots_alerts_on_a_planted_negative_wave(tmp_path, small_world):
    db = tmp_path / "w.duckdb"
    resources = {"warehouse": WarehouseResource(path=str(db)), "briefs": BriefLibrary(path="briefs")}
    defs = load_defs()
    revet = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[revet_partners_job],
                           resources=resources).resolve_job_def("revet_partners")
    run = {"ops": {"partner_alerts": {"config": {"out_dir": str(tmp_path / "alerts")}}}}

    def ingest_and_revet(source: Path) -> dg.ExecuteInProcessResult:
        ingest = {"ops": {"ingest_source": {"config": {"source_dir": str(source)}}}}
        assert dg.materialize([ingest_source, ingest_checks], run_config=ingest, resources=resources).success
        result = revet.execute_in_process(run_config=run, raise_on_error=False)
        assert result.success
        return result

    def severe_check(result) -> dg.AssetCheckEvaluation:
        (ev,) = [e.asset_check_evaluation_data for e in result.all_events
                 if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.check_name == "no_severe_partner_alerts"]
        return ev

    first = ingest_and_revet(small_world)
    with wh.connect(db, read_only=True) as con:
        before = wh.read_table(con, "partner_alerts")
    assert before.filter(pl.col("kind") == "negative_wave_on_brand_note").is_empty()
    note_id, comment_ids = _plant_wave(small_world, tmp_path / "world2")
    second = ingest_and_revet(tmp_path / "world2")

    with wh.connect(db, read_only=True) as con:
        snaps = wh.read_table(con, "scorecard_snapshots")
        partners = wh.read_table(con, "partners")
        alerts = wh.read_table(con, "partner_alerts")
        history = wh.read_table(con, "alert_history")
    # Both dated snapshots are kept, each with the partner re-scored against the brand's brief.
    times = snaps["snapshot_at"].unique().sort()
    assert len(times) == 2
    for t in times:
        assert snaps.filter((pl.col("snapshot_at") == t) & (pl.col("creator_id") == PARTNER))["brief"].to_list() == ["lanxi-spring"]
    assert snaps.filter(pl.col("snapshot_at") == times[1])["data_as_of"].max() > snaps.filter(pl.col("snapshot_at") == times[0])["data_as_of"].max()
    active = partners.filter(pl.col("status") == "active")
    assert set(snaps["creator_id"]) <= set(active["creator_id"]) and set(alerts["creator_id"]) <= set(active["creator_id"])
    # The planted wave: one alert, what to do and how fast, and the ids behind it.
    (wave,) = alerts.filter(pl.col("kind") == "negative_wave_on_brand_note").iter_rows(named=True)
    assert (wave["creator_id"], wave["brand"]) == (PARTNER, BRAND)
    assert wave["severity"] == "high" and wave["response_window"] == "within 4 hours" and wave["response_hours"] == 4
    assert wave["content_kind"] == "genuine_complaint"
    assert wave["recommended_action"].startswith(f"Pause paid amplification behind note {note_id}")
    assert "customer-care route" in wave["recommended_action"]
    negatives = int(wave["summary"].split(" negative comments")[0])
    assert negatives >= 10 and f"of {len(COMPLAINTS)} since" in wave["summary"] and "on a new note" in wave["summary"]
    # Evidence: the note, then the planted complaints with the most agreement (likes) first.
    evidence = wave["evidence_ids"]
    assert evidence[0] == note_id and len(evidence) == 10
    assert evidence[1:] == [c for c in comment_ids if c in evidence[1:]]
    assert wave["alert_id"] in history["alert_id"].to_list()
    # Severe alerts fail the check (an ERROR-severity check: the run itself succeeds); before the plant it passed.
    assert severe_check(first).passed
    check = severe_check(second)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["high_severity_alerts"].value >= 1 and "negative_wave_on_brand_note" in check.metadata["alerts"].value
    csv = (tmp_path / "alerts" / "partner_alerts.csv").read_bytes()
    assert csv.startswith(b"\xef\xbb\xbf") and note_id.encode() in csv
