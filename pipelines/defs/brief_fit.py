"""Group ``brief_fit``: signals that depend on the brand brief (partitioned by brief).

``alignment_scores`` / ``brand_associations``: topic and category fit, banned topics, past brand
associations, competitor conflicts, brand advocacy and the audience's response to ads.
``claims_scores``: Advertising-Law claim risks weighted by the brief's regulated category.

``vetting_request``: the run's typed request (:class:`~pipelines.defs.scorecard.VettingRequest`:
a shortlist, filters, a vetting date), validated and recorded in ``vetting_requests`` so every
later step of the brief (and its checks) reads the same request. Alignment and claims use its
vetting date (``as_of``); they always score every creator of the warehouse, whatever candidates
the request names, so partner re-vetting keeps the brief-scoped signals of every partner.
"""

import dagster as dg
import polars as pl

from kol_vetting import warehouse as wh
from kol_vetting.scorecard import request_record, select_candidates, unknown_creator_ids, up_to
from pipelines.defs.scorecard import VettingRequest, brief_partitions, recorded_request
from pipelines.defs.signals import score_metadata
from pipelines.io import data_as_of
from pipelines.metadata import markdown_table
from pipelines.resources import BriefLibrary, WarehouseResource

_KINDS = {"duckdb", "polars"}


@dg.asset(
    group_name="brief_fit",
    partitions_def=brief_partitions,
    deps=["creators"],
    kinds=_KINDS,
    owners=["team:brand-safety"],
    pool="warehouse",
    description="What this vetting run of the brief asks for (run config, all optional): a shortlist of creator ids, "
                "tier / category / follower filters, a vetting date. Validated and kept in `vetting_requests`; "
                "empty = every candidate of the brief on the latest data.",
)
def vetting_request(
    context: dg.AssetExecutionContext, config: VettingRequest, warehouse: WarehouseResource, briefs: BriefLibrary
) -> dg.MaterializeResult:
    brief = briefs.load(context.partition_key)
    request = config.resolve(context.partition_key)
    with warehouse.connect() as con:
        creators = wh.read_table(con, "creators")
        unknown = unknown_creator_ids(creators, request)
        if unknown:
            raise dg.Failure(description=f"Unknown creator id(s) in the request: {', '.join(unknown[:20])}")
        chosen = select_candidates(creators, brief, request)
        record = request_record(brief.name, request, chosen.height, wh.utc_now())
        wh.replace_partition(con, {"vetting_requests": record}, column="brief", value=brief.name)
    return dg.MaterializeResult(
        metadata={
            "request": request.describe(),
            "candidates": chosen.height,
            "vetting date (as of)": request.as_of.isoformat() if request.as_of else "latest data",
            "creators": dg.MetadataValue.md(markdown_table(chosen, ["creator_id", "display_name", "category", "follower_count"])),
        }
    )


@dg.multi_asset(
    name="alignment",
    group_name="brief_fit",
    partitions_def=brief_partitions,
    specs=[
        dg.AssetSpec("alignment_scores", kinds=_KINDS, owners=["team:brand-safety"], deps=["creators", "notes", "comments", vetting_request],
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
        cutoff = recorded_request(con, brief.name).as_of_time
        creators, notes, comments = (wh.read_table(con, t) for t in ("creators", "notes", "comments"))
        audit = wh.read_table(con, "disclosure_audit") if wh.table_exists(con, "disclosure_audit") else None
        as_of = cutoff or data_as_of(con)
    notes, comments = up_to(notes, "published_at", cutoff), up_to(comments, "created_at", cutoff)
    audit = up_to(audit, "published_at", cutoff)
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
    deps=["disclosure_audit", "creators", vetting_request],
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
        cutoff = recorded_request(con, brief.name).as_of_time
        audit, creators = wh.read_table(con, "disclosure_audit"), wh.read_table(con, "creators")
        as_of = cutoff or data_as_of(con)
    audit = up_to(audit, "published_at", cutoff)
    scores = score_claims(audit, creators, regulated_category=brief.regulated_category, as_of=as_of, brief_name=brief.name)
    with warehouse.connect() as con:
        wh.replace_partition(con, {"claims_scores": scores}, column="brief", value=brief.name)
    return dg.MaterializeResult(metadata=score_metadata(scores, "claims"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[vetting_request, alignment, claims_scores])
