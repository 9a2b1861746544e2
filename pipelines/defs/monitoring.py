"""Group ``monitoring``: scheduled re-vetting of active partners, dated snapshots, alerts.

``partner_scorecards`` re-scores every active partner against its brand's brief and appends a
dated snapshot (history is never overwritten). ``partner_alerts`` compares the latest two
snapshots and the new evidence since the previous run, writes the alerts, exports them, delivers
them when configured (off by default), and fails a check when any alert is severe.
"""

import datetime as dt
import os
from pathlib import Path

import dagster as dg
import polars as pl

from kol_vetting import warehouse as wh
from kol_vetting.brief import SIGNALS
from pipelines.io import data_as_of
from pipelines.metadata import markdown_table
from pipelines.resources import BriefLibrary, WarehouseResource

SIGNAL_DETAIL_TABLES = ("controversy_flags", "disclosure_audit", "authenticity_scores", "brand_associations")


def _read_if_exists(con, table: str) -> pl.DataFrame | None:
    return wh.read_table(con, table) if wh.table_exists(con, table) else None


@dg.asset(
    group_name="monitoring",
    deps=["partners", "creators", "notes", "authenticity_scores"],
    kinds={"duckdb", "polars"},
    owners=["team:partnership-ops"],
    pool="warehouse",
    description=(
        "Every active partner re-scored against its brand's brief on the latest data, appended to "
        "`scorecard_snapshots` with the snapshot time (history is kept, never overwritten)."
    ),
)
def partner_scorecards(warehouse: WarehouseResource, briefs: BriefLibrary) -> dg.MaterializeResult:
    from kol_vetting.scorecard import score_partners

    library = briefs.all()
    with warehouse.connect(read_only=True) as con:
        partners, creators, notes = (wh.read_table(con, t) for t in ("partners", "creators", "notes"))
        tables = {s: _read_if_exists(con, f"{s}_scores") for s in SIGNALS}
        brief_scoped = {s: tables[s] for s in ("alignment", "claims")}
        as_of = data_as_of(con)

    def signals_for(brief):
        # Brief-scoped signals are read for that brief's partition (computed by its last vetting).
        out = dict(tables)
        for s, t in brief_scoped.items():
            out[s] = t.filter(pl.col("brief") == brief.name) if t is not None and "brief" in t.columns else None
        return out

    card = score_partners(library, partners, creators, notes, signals_for, as_of=as_of)
    snapshot = card.with_columns(pl.lit(wh.utc_now()).alias("snapshot_at"))
    with warehouse.connect() as con:
        wh.append_rows(con, "scorecard_snapshots", snapshot)
        snapshots = wh.scalar(con, "SELECT count(DISTINCT snapshot_at) FROM scorecard_snapshots")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": snapshot.height,
            "snapshots kept": snapshots,
            "partners by decision": dg.MetadataValue.md(markdown_table(card, ["brief", "display_name", "decision", "grade", "overall_risk"], 30)),
        }
    )


class AlertsConfig(dg.Config):
    """Where the alert exports go. Delivery is configured by environment (off by default):
    KOL_ALERTS_WEBHOOK_URL, KOL_ALERTS_EMAIL_COMMAND, KOL_ALERTS_MIN_SEVERITY."""

    out_dir: str = "exports/alerts"


@dg.asset(
    group_name="monitoring",
    deps=[partner_scorecards],
    kinds={"duckdb", "polars"},
    owners=["team:partnership-ops"],
    pool="warehouse",
    description=(
        "What changed for each active partner since the last re-vetting: score and grade moves, new "
        "controversy, new undisclosed ads, follower jumps, fake-share rises, competitor deals, negative "
        "waves under the brand's own sponsored notes; with severity, response window and first action."
    ),
)
def partner_alerts(context: dg.AssetExecutionContext, config: AlertsConfig, warehouse: WarehouseResource, briefs: BriefLibrary) -> dg.MaterializeResult:
    from kol_vetting.alerts_delivery import DeliveryConfig, deliver
    from kol_vetting.monitor import MonitorConfig, alerts_markdown, detect_changes

    library = briefs.all()
    with warehouse.connect(read_only=True) as con:
        snaps = wh.read_table(con, "scorecard_snapshots")
        times = snaps["snapshot_at"].unique().sort()
        current = snaps.filter(pl.col("snapshot_at") == times[-1])
        previous = snaps.filter(pl.col("snapshot_at") == times[-2]) if len(times) > 1 else None
        tables = {t: _read_if_exists(con, t) for t in ("partners", "notes", "comments", "follower_history", "creators")}
        signals = {t: _read_if_exists(con, t) for t in SIGNAL_DETAIL_TABLES}
        as_of = data_as_of(con)
    since = previous["data_as_of"].max() if previous is not None and previous.height else None
    since = since or (as_of - dt.timedelta(days=7))
    alerts = detect_changes(
        previous, current, partners=tables["partners"], signals=signals, notes=tables["notes"],
        comments=tables["comments"], follower_history=tables["follower_history"], creators=tables["creators"],
        brand_names={b.brand: b.brand_names for b in library.values()}, since=since, as_of=as_of,
        config=MonitorConfig.from_yaml(), brief_brands={n: b.brand for n, b in library.items()},
    )
    with warehouse.connect() as con:
        wh.replace_tables(con, {"partner_alerts": alerts})
        wh.append_rows(con, "alert_history", alerts.with_columns(pl.lit(wh.utc_now()).alias("run_at")))
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from kol_vetting.export import neutralise_expr

    flat = alerts.with_columns(pl.col("evidence_ids").list.join("; "))
    flat = flat.with_columns([neutralise_expr(c) for c, d in flat.schema.items() if d == pl.String])
    tmp = out / "partner_alerts.csv.tmp"
    tmp.write_bytes(b"\xef\xbb\xbf" + flat.write_csv().encode("utf-8"))
    tmp.replace(out / "partner_alerts.csv")
    delivery = DeliveryConfig.from_env(os.environ)
    report = deliver(alerts, delivery)
    context.log.info(report.summary())
    counts = alerts.group_by("severity").len()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": alerts.height,
            **{f"severity: {s}": n for s, n in counts.iter_rows()},
            "alerts": dg.MetadataValue.md(alerts_markdown(alerts)),
            "export": dg.MetadataValue.path(str((out / "partner_alerts.csv").resolve())),
            "delivery": report.summary(),
        }
    )


@dg.asset_check(asset=partner_alerts, description="Fails when any active partner has a high-severity alert (respond within hours).")
def no_severe_partner_alerts(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        severe = con.sql("SELECT creator_id, brand, kind, summary FROM partner_alerts WHERE severity = 'high'").pl()
    return dg.AssetCheckResult(
        passed=severe.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"high_severity_alerts": severe.height,
                  "alerts": dg.MetadataValue.md(markdown_table(severe, ["creator_id", "brand", "kind", "summary"], 20))},
    )


revet_partners_job = dg.define_asset_job(
    "revet_partners",
    selection=dg.AssetSelection.groups("signals", "monitoring"),
    description="Re-vet active partners: refresh the signals, re-score partners, snapshot, alert.",
)

revet_schedule = dg.ScheduleDefinition(
    name="weekly_partner_revetting",
    job=revet_partners_job,
    cron_schedule=os.environ.get("KOL_REVET_CRON", "0 6 * * 1"),  # Mondays 06:00; set KOL_REVET_CRON to change
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly re-vetting of every active partner (cron from KOL_REVET_CRON).",
)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[partner_scorecards, partner_alerts],
        asset_checks=[no_severe_partner_alerts],
        jobs=[revet_partners_job],
        schedules=[revet_schedule],
    )
