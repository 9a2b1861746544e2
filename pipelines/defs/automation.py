"""Jobs and sensors that start work on their own: new brief files and new data drops.

* ``vet_candidates``: brief fit, scorecard, portfolio and exports of one brief (a partition).
  Its run config is the typed vetting request (``ops: vetting_request: config:``, a
  :class:`~pipelines.defs.scorecard.VettingRequest`); every field is optional.
* ``brief_files_sensor``: a new or edited ``briefs/*.yaml`` adds its partition and vets it.
* ``incoming_data_sensor``: a new folder in ``data/incoming/`` with a ``_READY`` marker file is
  ingested, and active partners are re-vetted on it in the same run.
"""

import json
import os
from pathlib import Path

import dagster as dg

from kol_vetting.brief import BriefError, load_brief
from pipelines.defs.scorecard import brief_partitions

BRIEFS_DIR = Path(os.environ.get("KOL_BRIEFS_DIR", "briefs"))
INCOMING_DIR = Path(os.environ.get("KOL_INCOMING_DIR", "data/incoming"))
READY_MARKER = "_READY"  # written last by whoever drops the data, so half-copied folders are skipped

vet_candidates_job = dg.define_asset_job(
    "vet_candidates",
    selection=dg.AssetSelection.groups("brief_fit", "scorecard", "portfolio", "exports"),
    partitions_def=brief_partitions,
    description="Vet the candidates of one brief: brand fit, scorecard, portfolio and procurement exports. "
                "Run config (all optional): ops.vetting_request.config = a shortlist of creator_ids, tiers / categories / "
                "follower filters, an as_of vetting date; ops.portfolio / scorecard_exports .config.out_dir = the exports folder.",
)

ingest_and_revet_job = dg.define_asset_job(
    "ingest_and_revet",
    selection=dg.AssetSelection.groups("ingest", "signals", "monitoring"),
    description="Load a new data drop, refresh the signals and re-vet active partners on it.",
)


@dg.sensor(job=vet_candidates_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Adds a partition for every brief file in briefs/ and vets it when the file is new or changed.")
def brief_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    seen: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
    existing = set(context.instance.get_dynamic_partitions(brief_partitions.name))
    new_partitions, runs, now_seen = [], [], {}
    for path in sorted(BRIEFS_DIR.glob("*.yaml")):
        mtime = path.stat().st_mtime
        try:
            brief = load_brief(path)
        except BriefError as exc:
            context.log.warning(f"skipping {path}: {exc}")
            continue
        now_seen[brief.name] = mtime
        if brief.name not in existing:
            new_partitions.append(brief.name)
        if seen.get(brief.name) != mtime:
            runs.append(dg.RunRequest(partition_key=brief.name, run_key=f"{brief.name}:{mtime}"))
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[brief_partitions.build_add_request(new_partitions)] if new_partitions else [],
        cursor=json.dumps(now_seen, sort_keys=True),
    )


@dg.sensor(job=ingest_and_revet_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Ingests each new data folder in data/incoming/ (once it has a _READY file) and re-vets partners.")
def incoming_data_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    done: list[str] = json.loads(context.cursor) if context.cursor else []
    runs = []
    for folder in sorted(p for p in INCOMING_DIR.glob("*") if p.is_dir() and (p / READY_MARKER).exists()):
        key = f"{folder.name}:{(folder / READY_MARKER).stat().st_mtime}"
        if key in done:
            continue
        fmt = (folder / READY_MARKER).read_text(encoding="utf-8").strip() or "canonical"
        fmt = fmt if fmt in ("canonical", "mediacrawler") else "canonical"
        runs.append(dg.RunRequest(
            run_key=key,
            run_config={"ops": {"ingest_source": {"config": {"source_dir": str(folder), "format": fmt}}}},
        ))
        done.append(key)
    return dg.SensorResult(run_requests=runs, cursor=json.dumps(done[-500:]))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[vet_candidates_job, ingest_and_revet_job],
        sensors=[brief_files_sensor, incoming_data_sensor],
    )
