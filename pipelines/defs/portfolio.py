"""Group ``portfolio``: the diversified creator portfolio of one brief (MILP, HiGHS)."""

import base64
import json
from pathlib import Path

import dagster as dg
import polars as pl

from kol_vetting import warehouse as wh
from pipelines.defs.scorecard import brief_partitions, scorecard
from pipelines.resources import BriefLibrary, WarehouseResource


class PortfolioConfig(dg.Config):
    """Where the portfolio JSON and plot go (``<out_dir>/<brief>/``) and the overlap rules."""

    out_dir: str = "exports"
    max_result_share: float = 0.35  # no single creator's failure may take out more of the result
    overlap_penalty: float = 0.5
    max_pair_overlap: float = 0.5  # two creators sharing more of their audience are never both chosen


@dg.asset(
    group_name="portfolio",
    partitions_def=brief_partitions,
    deps=[scorecard, "comments", "notes", "follower_samples"],
    kinds={"scipy", "duckdb"},
    owners=["team:brand-safety"],
    pool="warehouse",
    description=(
        "The recommended portfolio of one brief: approved and conditional creators chosen to maximise "
        "expected engagement × (1 − risk) under budget, tier mix, per-creator cap, risk caps and "
        "audience overlap, solved exactly (HiGHS MILP) and compared with two naive baselines."
    ),
)
def portfolio(
    context: dg.AssetExecutionContext, config: PortfolioConfig, warehouse: WarehouseResource, briefs: BriefLibrary
) -> dg.MaterializeResult:
    from kol_vetting.portfolio import (
        audience_overlap,
        portfolio_markdown,
        portfolio_plot,
        recommend_portfolio,
    )

    brief = briefs.load(context.partition_key)
    with warehouse.connect(read_only=True) as con:
        card = wh.read_partition(con, "scorecard", column="brief", value=brief.name)
        ids = card["creator_id"]
        notes = wh.read_creator_rows(con, "notes", ids)
        comments = wh.read_rows(con, "comments", column="note_id", values=notes["note_id"])
        samples = wh.read_creator_rows(con, "follower_samples", ids)
    pairs, _ = audience_overlap(comments, notes, samples)
    result = recommend_portfolio(
        card, brief, overlap_pairs=pairs, max_result_share=config.max_result_share,
        overlap_penalty=config.overlap_penalty, max_pair_overlap=config.max_pair_overlap,
    )
    out = Path(config.out_dir) / brief.name
    out.mkdir(parents=True, exist_ok=True)
    doc = result.to_json()
    tmp = out / "portfolio.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(out / "portfolio.json")
    plot = portfolio_plot(result, None, out / "portfolio.png")
    selected = result.selected.with_columns(pl.lit(brief.name).alias("brief"))
    runners = result.runners_up.with_columns(pl.lit(brief.name).alias("brief"))
    with warehouse.connect() as con:
        wh.replace_partition(con, {"portfolio": selected, "portfolio_runners_up": runners}, column="brief", value=brief.name)
    encoded = base64.b64encode(plot.read_bytes()).decode()
    return dg.MaterializeResult(
        metadata={
            "status": result.status,
            "optimality_gap": float(result.optimality_gap) if result.optimality_gap is not None else -1.0,
            "selected creators": selected.height,
            "total cost": float(result.total_cost),
            "expected engagement": float(result.expected_engagement),
            "expected unique reach": float(result.expected_unique_reach),
            "average risk": float(result.average_risk),
            "portfolio": dg.MetadataValue.md(portfolio_markdown(result)),
            "cost vs expected engagement": dg.MetadataValue.md(f"![portfolio](data:image/png;base64,{encoded})"),
            "json": dg.MetadataValue.path(str((out / "portfolio.json").resolve())),
        }
    )


@dg.asset_check(asset=portfolio, description="The portfolio stays within the brief's budget and per-creator cap.")
def portfolio_within_budget(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, briefs: BriefLibrary
) -> dg.AssetCheckResult:
    brief = briefs.load(context.partition_key)
    with warehouse.connect(read_only=True) as con:
        sel = wh.read_partition(con, "portfolio", column="brief", value=brief.name)
    total = float(sel["cost"].sum() or 0.0)
    biggest = float(sel["cost"].max() or 0.0)
    ok = total <= brief.budget * (1 + 1e-9) and biggest <= brief.max_share_per_creator * brief.budget * (1 + 1e-9)
    return dg.AssetCheckResult(passed=ok, metadata={"total_cost": total, "budget": brief.budget, "largest_cost": biggest})


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[portfolio], asset_checks=[portfolio_within_budget])
