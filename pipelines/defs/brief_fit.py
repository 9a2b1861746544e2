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


@dg.asset(
    group_name="brief_fit",
    partitions_def=brief_partitions,
    deps=["disclosure_audit", "creators"],
    kinds=_KINDS,
    owners=["team:brand-safety"],
    pool="warehouse",
    description="Advertising-Law claim risks per creator for one brief (absolute terms, medical or efficacy claims, "
                "guaranteed returns), each with the phrase and the article it breaks, weighted by the brief's regulated category.",
)
def claims_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource, briefs: BriefLibrary) -> dg.MaterializeResult:
    from kol_vetting.signals.claims import score_claims

    brief = briefs.load(context.partition_key)
    with warehouse.connect(read_only=True) as con:
        audit, creators = wh.read_table(con, "disclosure_audit"), wh.read_table(con, "creators")
        as_of = data_as_of(con)
    scores = score_claims(audit, creators, regulated_category=brief.regulated_category, as_of=as_of, brief_name=brief.name)
    with warehouse.connect() as con:
        wh.replace_partition(con, {"claims_scores": scores}, column="brief", value=brief.name)
    return dg.MaterializeResult(metadata=score_metadata(scores, "claims"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[alignment, claims_scores])
