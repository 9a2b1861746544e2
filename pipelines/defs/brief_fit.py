"""Group ``brief_fit``: signals that depend on the brand brief (partitioned by brief).

``alignment_scores`` / ``brand_associations``: topic and category fit, banned topics, past brand
associations, competitor conflicts, brand advocacy and the audience's response to ads.
``claims_scores``: Advertising-Law claim risks weighted by the brief's regulated category.
"""

import dagster as dg
import polars as pl

from kol_vetting import warehouse as wh
from pipelines.defs.scorecard import brief_partitions
from pipelines.defs.signals import score_metadata
from pipelines.io import data_as_of
from pipelines.metadata import markdown_table
from pipelines.resources import BriefLibrary, WarehouseResource

_KINDS = {"duckdb", "polars"}


@dg.multi_asset(
    name="alignment",
    group_name="brief_fit",
    partitions_def=brief_partitions,
    specs=[
        dg.AssetSpec("alignment_scores", kinds=_KINDS, owners=["team:brand-safety"], deps=["creators", "notes", "comments"],
                     description="Brand fit per creator for one brief (0–100, higher is worse fit): topic and category fit, "
                                 "banned topics, competitor deals, brand advocacy, audience response to ads."),
        dg.AssetSpec("brand_associations", kinds=_KINDS, owners=["team:brand-safety"], deps=["notes"],
                     description="Which of the brief's brand and competitors each creator mentioned or promoted, when, disclosed or not."),
    ],
    pool="warehouse",
)
def alignment(context: dg.AssetExecutionContext, warehouse: WarehouseResource, briefs: BriefLibrary):
    """Brand-alignment features of one brief (kol_vetting.signals.alignment)."""
    from kol_vetting.signals.alignment import score_alignment

    brief = briefs.load(context.partition_key)
    with warehouse.connect(read_only=True) as con:
        creators, notes, comments = (wh.read_table(con, t) for t in ("creators", "notes", "comments"))
        audit = wh.read_table(con, "disclosure_audit") if wh.table_exists(con, "disclosure_audit") else None
        as_of = data_as_of(con)
    out = score_alignment(brief, creators, notes, comments, as_of=as_of, disclosure_audit=audit)
    with warehouse.connect() as con:
        wh.replace_partition(con, {k: out[k] for k in ("alignment_scores", "brand_associations")}, column="brief", value=brief.name)
    yield dg.MaterializeResult(asset_key="alignment_scores", metadata=score_metadata(out["alignment_scores"], "alignment"))
    assoc = out["brand_associations"]
    yield dg.MaterializeResult(
        asset_key="brand_associations",
        metadata={
            "dagster/row_count": assoc.height,
            "competitor deals": dg.MetadataValue.md(markdown_table(
                assoc.filter(pl.col("relation") == "competitor").sort("last_seen", descending=True),
                ["creator_id", "brand", "last_seen", "sponsored_notes", "disclosed_notes"])),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[alignment])
