"""Groups ``scorecard`` and ``exports``: per-brief scorecard and procurement exports.

Both are partitioned by brief (dynamic partitions: the brief sensor adds one per brief file).
"""

import dagster as dg
import polars as pl

from kol_vetting import warehouse as wh
from kol_vetting.brief import SIGNALS
from kol_vetting.scorecard import DECISION_LABELS, build_scorecard, evidence_table
from pipelines.io import data_as_of
from pipelines.metadata import markdown_table, risk_histogram
from pipelines.resources import BriefLibrary, WarehouseResource

brief_partitions = dg.DynamicPartitionsDefinition(name="brief")

# Signal tables the scorecard reads when they exist (a missing one is "not assessed").
SIGNAL_TABLES = {s: f"{s}_scores" for s in SIGNALS}
BRIEF_SCOPED = {"alignment", "claims"}  # tables with a `brief` column, read for the partition only


def _read_signals(con, brief_name: str) -> dict[str, pl.DataFrame | None]:
    out: dict[str, pl.DataFrame | None] = {}
    for signal, table in SIGNAL_TABLES.items():
        if not wh.table_exists(con, table):
            out[signal] = None
        elif signal in BRIEF_SCOPED:
            out[signal] = wh.read_partition(con, table, column="brief", value=brief_name)
        else:
            out[signal] = wh.read_table(con, table)
    return out


@dg.asset(
    group_name="scorecard",
    partitions_def=brief_partitions,
    kinds={"duckdb", "polars"},
    owners=["team:brand-safety"],
    deps=["creators", "notes", "authenticity_scores", "controversy_scores", "disclosure_scores", "claims_scores",
          "alignment_scores"],
    pool="warehouse",
    description=(
        "The vetting scorecard of one brief: per candidate creator, sub-scores (authenticity, "
        "controversy, disclosure, claims, alignment) with peer percentile and confidence, overall "
        "risk, grade A–F, decision with conditions, reasons, strengths and evidence ids."
    ),
)
def scorecard(context: dg.AssetExecutionContext, warehouse: WarehouseResource, briefs: BriefLibrary) -> dg.MaterializeResult:
    brief = briefs.load(context.partition_key)
    with warehouse.connect() as con:
        creators, notes = wh.read_table(con, "creators"), wh.read_table(con, "notes")
        signals = _read_signals(con, brief.name)
        as_of = data_as_of(con)
        card = build_scorecard(brief, creators, notes, signals, as_of=as_of)
        comments = wh.read_table(con, "comments")
        evidence = evidence_table(card, signals, notes, comments, wh.read_table(con, "follower_samples"))
        wh.replace_partition(con, {"scorecard": card, "scorecard_evidence": evidence}, column="brief", value=brief.name)
    counts = card.group_by("decision").len()
    by_decision = {DECISION_LABELS[d]: n for d, n in counts.iter_rows()}
    cols = ["display_name", "tier", "decision", "grade", "overall_risk", "quoted_price"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": card.height,
            **{f"decision: {k}": v for k, v in sorted(by_decision.items())},
            "needs attention (reject / review first)": dg.MetadataValue.md(markdown_table(card, cols)),
            "best (lowest risk)": dg.MetadataValue.md(markdown_table(card.sort("overall_risk", nulls_last=True), cols)),
            "not assessed": ", ".join(s for s in SIGNALS if signals.get(s) is None) or "none",
            "risk distribution": risk_histogram(card["overall_risk"], f"overall risk, brief {brief.name}"),
        }
    )


@dg.asset_check(asset=scorecard, description="Every candidate creator of the brief has exactly one scorecard row.")
def every_candidate_scored(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, briefs: BriefLibrary) -> dg.AssetCheckResult:
    from kol_vetting.scorecard import candidates

    brief = briefs.load(context.partition_key) if context.has_partition_key else None
    with warehouse.connect(read_only=True) as con:
        creators = wh.read_table(con, "creators")
        card = wh.read_partition(con, "scorecard", column="brief", value=brief.name)
    expected = set(candidates(creators, brief)["creator_id"])
    got = card["creator_id"].to_list()
    missing = expected - set(got)
    ok = not missing and len(got) == len(set(got)) == len(expected)
    return dg.AssetCheckResult(passed=ok, metadata={"candidates": len(expected), "rows": len(got), "missing": len(missing)})


@dg.asset_check(asset=scorecard, description="No score lies outside 0–100.")
def scores_in_range(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    cols = [f"{s}_risk" for s in SIGNALS] + ["overall_risk"]
    with warehouse.connect(read_only=True) as con:
        card = wh.read_partition(con, "scorecard", column="brief", value=context.partition_key)
    bad = card.filter(pl.any_horizontal([(pl.col(c) < 0) | (pl.col(c) > 100) for c in cols])).height
    return dg.AssetCheckResult(passed=bad == 0, metadata={"rows_out_of_range": bad})


@dg.asset_check(asset=scorecard, description="Every rejected creator has at least one evidence id behind the decision.")
def rejects_have_evidence(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        card = wh.read_partition(con, "scorecard", column="brief", value=context.partition_key)
    rejects = card.filter(pl.col("decision") == "reject")
    bare = rejects.filter(pl.col("evidence_ids").list.len() == 0)
    return dg.AssetCheckResult(
        passed=bare.height == 0,
        metadata={"rejects": rejects.height, "rejects_without_evidence": bare.height},
        description=", ".join(bare["creator_id"].head(10).to_list()) or None,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[scorecard],
        asset_checks=[every_candidate_scored, scores_in_range, rejects_have_evidence],
    )
