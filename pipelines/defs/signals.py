"""Group ``signals``: brand-independent vetting signals computed from the loaded tables.

Each asset reads the warehouse, calls one library function, writes its tables in one
transaction and describes the result for a marketer (counts, top risks, a risk histogram).
"""

import dagster as dg
import polars as pl

from kol_vetting import warehouse as wh
from pipelines.io import read_inputs, write_outputs
from pipelines.metadata import markdown_table, risk_histogram
from pipelines.resources import WarehouseResource

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
                     deps=["creators", "follower_samples", "notes", "comments", "follower_history"])
        for k, d in AUTH_OUTPUTS.items()
    ],
    pool="warehouse",
)
def authenticity(warehouse: WarehouseResource):
    """Fake-follower and inflated-engagement signal (kol_vetting.signals.authenticity)."""
    from kol_vetting.signals.authenticity import score_authenticity

    t, as_of = read_inputs(warehouse, ["creators", "follower_samples", "notes", "comments", "follower_history"])
    out = score_authenticity(t["creators"], t["follower_samples"], t["notes"], t["comments"], t["follower_history"], as_of=as_of)
    write_outputs(warehouse, {k: out[k] for k in AUTH_OUTPUTS})
    for key in AUTH_OUTPUTS:
        meta = score_metadata(out[key], "authenticity") if key == "authenticity_scores" else {"dagster/row_count": out[key].height}
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


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[authenticity], asset_checks=[authenticity_rows_complete])
