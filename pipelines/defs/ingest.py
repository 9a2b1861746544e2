"""Group ``ingest``: one asset per contract table, loaded together from one source directory.

All tables of an ingest are written in one transaction (all-or-nothing), so they come from a
single multi-asset step; each table still has its own asset key, description and checks.
"""


from pathlib import Path
from typing import Literal

import dagster as dg

from kol_vetting import schema
from kol_vetting.ingest import ingest_directory
from kol_vetting.quality import CHECKS
from kol_vetting.sources.base import SourceError
from pipelines.resources import WarehouseResource

DEMO_DIR = Path("data/demo_world")
LOADED_TABLES = [*schema.TABLES, "quarantine"]
_KINDS = {"duckdb", "polars"}


class IngestConfig(dg.Config):
    """Which source to load. Empty ``source_dir`` means the demo world (generated if missing)."""

    source_dir: str = ""
    format: Literal["canonical", "mediacrawler"] = "canonical"
    demo_creators: int = 300
    demo_seed: int = 7


def _resolve_source(config: IngestConfig, log: dg.DagsterLogManager) -> Path:
    if config.source_dir:
        return Path(config.source_dir)
    if not (DEMO_DIR / "creators.parquet").exists():
        from kol_vetting.sources.demo import generate_world

        log.info(f"No source given and no demo world yet: generating {config.demo_creators} creators in {DEMO_DIR}")
        generate_world(config.demo_creators, config.demo_seed, DEMO_DIR)
    return DEMO_DIR


@dg.multi_asset(
    name="ingest_source",
    group_name="ingest",
    specs=[
        dg.AssetSpec(
            table,
            description=(
                schema.TABLES[table].description + " Validated against the data contract; rejected rows go to quarantine."
                if table in schema.TABLES
                else "Rows rejected by the latest ingest, with source file, line, content and a reason."
            ),
            kinds=_KINDS,
            owners=["team:data"],
            metadata={"dagster/table_name": f"main.{table}"},
        )
        for table in LOADED_TABLES
    ],
    pool="warehouse",
)
def ingest_source(context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource):
    """Read the source, validate every row, and load every contract table in one transaction."""
    source = _resolve_source(config, context.log)
    try:
        with warehouse.connect() as con:
            validated, _ = ingest_directory(con, source, config.format)
    except SourceError as exc:
        raise dg.Failure(description=f"Cannot read {exc.path}: {exc.message}. The warehouse was left unchanged.") from exc
    for note in validated.notes:
        context.log.warning(note)
    for table in LOADED_TABLES:
        if table == "quarantine":
            by_reason = validated.quarantine.group_by("table").len().sort("table")
            md = "\n".join(f"| {r['table']} | {r['len']} |" for r in by_reason.iter_rows(named=True))
            meta = {
                "dagster/row_count": validated.quarantine.height,
                "by_table": dg.MetadataValue.md("| table | rejected rows |\n|---|---|\n" + md) if md else "none",
            }
        else:
            r = validated.reports[table]
            meta = {
                "dagster/row_count": r.accepted,
                "rows_read": r.rows_read,
                "quarantined": r.quarantined,
                "duplicates": r.duplicates,
                "source": str(source),
            }
        yield dg.MaterializeResult(asset_key=table, metadata=meta)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset=table, description=(func.__doc__ or "").strip().splitlines()[0])
        for table in schema.TABLES
        for name, func in CHECKS.items()
    ],
    can_subset=True,
)
def ingest_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    """Data-quality checks of every loaded table, in one step (one warehouse connection)."""
    with warehouse.connect(read_only=True) as con:
        for key in context.selected_asset_check_keys:
            outcome = CHECKS[key.name](con, key.asset_key.to_user_string())
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=outcome.passed,
                description=outcome.summary,
                metadata=dict(outcome.figures),
                severity=dg.AssetCheckSeverity.ERROR,
            )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[ingest_source], asset_checks=[ingest_checks])
