"""Group ``exports``: what procurement reads (Excel, CSV, Parquet, HTML dossiers), per brief."""

import json
from pathlib import Path

import dagster as dg

from kol_vetting import warehouse as wh
from pipelines.defs.portfolio import portfolio
from pipelines.defs.scorecard import brief_partitions, scorecard
from pipelines.resources import BriefLibrary, WarehouseResource


class ExportConfig(dg.Config):
    """Where exports go: ``<out_dir>/<brief>/``. Personal data of followers/commenters is
    pseudonymised unless ``pseudonymise`` is False (PIPL / GDPR)."""

    out_dir: str = "exports"
    pseudonymise: bool = True
    max_dossiers: int = 0  # 0 = a dossier for every creator


@dg.asset(
    group_name="exports",
    partitions_def=brief_partitions,
    deps=[scorecard, portfolio],
    kinds={"excel", "html", "parquet"},
    owners=["team:procurement"],
    description=(
        "Procurement exports of one brief: scorecard.xlsx (summary, evidence with note links, portfolio, "
        "brief & method), scorecard.csv (UTF-8 BOM), scorecard.parquet, and an HTML dossier per creator."
    ),
)
def scorecard_exports(
    context: dg.AssetExecutionContext, config: ExportConfig, warehouse: WarehouseResource, briefs: BriefLibrary
) -> dg.MaterializeResult:
    from kol_vetting.export import export_scorecard

    brief = briefs.load(context.partition_key)
    with warehouse.connect(read_only=True) as con:
        card = wh.read_partition(con, "scorecard", column="brief", value=brief.name)
        evidence = wh.read_partition(con, "scorecard_evidence", column="brief", value=brief.name)
        ids = card["creator_id"]
        history = wh.read_creator_rows(con, "follower_history", ids)
        notes = wh.read_creator_rows(con, "notes", ids)
    portfolio_json = Path(config.out_dir) / brief.name / "portfolio.json"
    portfolio_doc = json.loads(portfolio_json.read_text(encoding="utf-8")) if portfolio_json.exists() else None
    paths = export_scorecard(
        card, evidence, brief, Path(config.out_dir) / brief.name,
        follower_history=history, notes=notes, pseudonymise=config.pseudonymise,
        max_dossiers=config.max_dossiers or None, portfolio=portfolio_doc,
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": card.height,
            **{f"path: {k}": dg.MetadataValue.path(str(Path(v).resolve())) for k, v in paths.items()},
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[scorecard_exports])
