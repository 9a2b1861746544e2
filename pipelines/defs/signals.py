"""Group ``signals``: brand-independent vetting signals computed from the loaded tables.

Each asset reads the warehouse, calls one library function, writes its tables in one
transaction and describes the result for a marketer (counts, top risks, a risk histogram).
"""

import dagster as dg
import polars as pl

from kol_vetting import warehouse as wh
from pipelines.io import read_inputs, write_outputs
from pipelines.metadata import markdown_table, risk_histogram
from pipelines.resources import BriefLibrary, WarehouseResource

_KINDS = {"duckdb", "polars"}


def score_metadata(scores: pl.DataFrame, label: str) -> dict:
    """Counts, the riskiest creators with their first reason, and a risk histogram."""
    assessed = scores.filter(pl.col("assessed"))
    worst = assessed.sort("risk", descending=True)
    return {
        "dagster/row_count": scores.height,
        "assessed": assessed.height,
        "not assessed": scores.height - assessed.height,
        "median risk": float(assessed["risk"].median() or 0.0),
        "riskiest creators": dg.MetadataValue.md(markdown_table(worst, ["creator_id", "risk", "confidence", "reasons"])),
        "risk distribution": risk_histogram(assessed["risk"], f"{label} risk"),
    }


AUTH_OUTPUTS = {
    "authenticity_scores": "Authenticity risk per creator (0–100) with reasons, intervals, peer percentile and evidence ids.",
    "follower_scores": "Every sampled follower with its fake probability and audience type (real, mass follower, suspicious, influencer).",
    "fake_share": "Per creator: share of sampled followers that look fake, with a Wilson interval and sample size.",
    "growth_anomalies": "Follower-growth episodes: jumps, round steps, staircases, drips; viral-explained ones marked as explained.",
    "engagement_anomalies": "Engagement rate and like/collect/comment ratios against peers; single-note like bursts.",
    "comment_anomalies": "Templated or duplicated comments, bot bursts, recurring commenter sequences.",
    "pods": "Engagement pods: creators whose accounts comment on each other early and reciprocally.",
    "pod_edges": "Strong reciprocal early-comment ties between creators (the pod graph's edges).",
}


@dg.multi_asset(
    name="authenticity",
    group_name="signals",
    specs=[
        dg.AssetSpec(k, description=d, kinds=_KINDS, owners=["team:brand-safety"],
                     deps=["creators", "follower_samples", "notes", "comments", "follower_history", "authenticity_shard"])
        for k, d in AUTH_OUTPUTS.items()
    ],
    pool="warehouse",
)
def authenticity(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Fake-follower and inflated-engagement signal (kol_vetting.signals.authenticity).

    The reduce of the sharded signal: combines every creator shard's stored map result
    (``authenticity_shard``, pipelines/defs/shards.py); a shard not stored for the current
    inputs is computed here first. With one shard (the default) this is ``score_authenticity``; every
    table is written in a canonical row order (sorted by its columns, creator id first).
    """
    from kol_vetting.shards import canonical_order
    from kol_vetting.signals.authenticity import combine_authenticity
    from pipelines.defs.shards import creator_shard_count, gather_authenticity_parts

    n = creator_shard_count()
    parts, as_of, stored, computed = gather_authenticity_parts(warehouse, n, log=context.log)
    out = combine_authenticity(parts, as_of=as_of)  # type: ignore[arg-type]
    del parts
    # rows arrive shard by shard: one canonical order, whatever N (creator id first)
    out = {k: canonical_order(out[k]) for k in AUTH_OUTPUTS}
    write_outputs(warehouse, out)
    shards = {"creator shards": n, "shards read from authenticity_shard": len(stored),
              "shards computed in this step": len(computed)}
    for key in AUTH_OUTPUTS:
        meta = score_metadata(out[key], "authenticity") if key == "authenticity_scores" else {"dagster/row_count": out[key].height}
        if key == "authenticity_scores":
            meta = {**meta, **shards}
        yield dg.MaterializeResult(asset_key=key, metadata=meta)


@dg.asset_check(asset="authenticity_scores", description="Exactly one authenticity row per creator, every risk within 0–100.")
def authenticity_rows_complete(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        creators = wh.scalar(con, "SELECT count(*) FROM creators")
        rows = wh.scalar(con, "SELECT count(*) FROM authenticity_scores")
        distinct = wh.scalar(con, "SELECT count(DISTINCT creator_id) FROM authenticity_scores")
        bad = wh.scalar(con, "SELECT count(*) FROM authenticity_scores WHERE risk < 0 OR risk > 100")
    return dg.AssetCheckResult(
        passed=creators == rows == distinct and bad == 0,
        metadata={"creators": creators, "rows": rows, "distinct": distinct, "out_of_range": bad},
    )


@dg.multi_asset(
    name="controversy",
    group_name="signals",
    specs=[
        dg.AssetSpec("controversy_flags", kinds=_KINDS, owners=["team:brand-safety"], deps=["creators", "notes", "comments"],
                     description="One row per piece of controversy evidence: backlash waves, apology notes, third-party "
                                 "避雷/翻车 call-outs, offensive content; category, severity, date, recency weight, ids."),
        dg.AssetSpec("controversy_scores", kinds=_KINDS, owners=["team:brand-safety"], deps=["creators", "notes", "comments"],
                     description="Past-controversy risk per creator (0–100) with reasons and evidence ids."),
    ],
    pool="warehouse",
)
def controversy(warehouse: WarehouseResource):
    """Past-controversy flags (kol_vetting.signals.controversy)."""
    from kol_vetting.signals.controversy import detect_controversy

    t, as_of = read_inputs(warehouse, ["creators", "notes", "comments"])
    out = detect_controversy(t["creators"], t["notes"], t["comments"], as_of=as_of)
    write_outputs(warehouse, {k: out[k] for k in ("controversy_flags", "controversy_scores")})
    flags = out["controversy_flags"]
    yield dg.MaterializeResult(
        asset_key="controversy_flags",
        metadata={"dagster/row_count": flags.height,
                  "latest flags": dg.MetadataValue.md(markdown_table(flags.sort("date", descending=True),
                                                                     ["creator_id", "category", "kind", "date", "description"]))},
    )
    yield dg.MaterializeResult(asset_key="controversy_scores", metadata=score_metadata(out["controversy_scores"], "controversy"))


@dg.multi_asset(
    name="disclosure",
    group_name="signals",
    specs=[
        dg.AssetSpec("disclosure_audit", kinds=_KINDS, owners=["team:brand-safety"], deps=["creators", "notes", "partners"],
                     description="One row per note: probability it is sponsored and why, disclosure status (platform label, "
                                 "explicit, ambiguous, none, false 无广 claim), placement, compliance, claim risks."),
        dg.AssetSpec("disclosure_scores", kinds=_KINDS, owners=["team:brand-safety"], deps=["creators", "notes", "partners"],
                     description="Disclosure compliance per creator (0–100 risk) with the compliance rate, its interval "
                                 "and the undisclosed or falsely denied sponsored notes."),
    ],
    pool="warehouse",
)
def disclosure(warehouse: WarehouseResource, briefs: BriefLibrary):
    """Sponsored-note detection and disclosure compliance (kol_vetting.signals.disclosure)."""
    from kol_vetting.signals.disclosure import audit_disclosure, known_brands_from

    t, as_of = read_inputs(warehouse, ["creators", "notes", "comments", "partners"])
    brands = known_brands_from(briefs.all().values(), t["partners"])
    out = audit_disclosure(t["creators"], t["notes"], t["comments"], as_of=as_of, known_brands=brands)
    write_outputs(warehouse, {k: out[k] for k in ("disclosure_audit", "disclosure_scores")})
    audit = out["disclosure_audit"]
    yield dg.MaterializeResult(
        asset_key="disclosure_audit",
        metadata={
            "dagster/row_count": audit.height,
            "sponsored notes": int(audit["sponsored"].sum()),
            "by disclosure": dg.MetadataValue.md(markdown_table(
                audit.filter(pl.col("sponsored")).group_by("disclosure").len().sort("len", descending=True), ["disclosure", "len"])),
        },
    )
    yield dg.MaterializeResult(asset_key="disclosure_scores", metadata=score_metadata(out["disclosure_scores"], "disclosure"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[authenticity, controversy, disclosure], asset_checks=[authenticity_rows_complete])
