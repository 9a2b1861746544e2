"""Portfolio recommendation: constraints hold, the MILP is optimal, overlap and infeasibility are explained."""

import itertools
import json

import numpy as np
import polars as pl
import pytest

from kol_vetting.brief import parse_brief
from kol_vetting.portfolio import (
    JSON_KEYS,
    audience_overlap,
    expected_reach,
    portfolio_markdown,
    portfolio_plot,
    recommend_portfolio,
)

TIER_FOLLOWERS = {"nano": 5_000, "micro": 40_000, "mid": 200_000, "macro": 700_000}
TIER_PRICE = {"nano": 500.0, "micro": 3_000.0, "mid": 12_000.0, "macro": 40_000.0}


def _brief(**over):
    data = {"name": "t", "brand": "澜肌", "category": "beauty", "budget": 50_000, **over}
    return parse_brief(data)


def _pool(n: int, seed: int, tiers=("nano", "micro", "mid")) -> pl.DataFrame:
    """A scorecard-like frame of approved candidates with varied price, engagement and risk."""
    rng = np.random.default_rng(seed)
    tier = rng.choice(list(tiers), n)
    price = np.array([TIER_PRICE[t] for t in tier]) * rng.uniform(0.5, 1.6, n)
    followers = (np.array([TIER_FOLLOWERS[t] for t in tier]) * rng.uniform(0.5, 1.8, n)).astype(int)
    engagement = price * rng.uniform(0.05, 0.3, n)
    return pl.DataFrame(
        {
            "creator_id": [f"c{i:03d}" for i in range(n)],
            "display_name": [f"Creator {i}" for i in range(n)],
            "tier": tier,
            "category": rng.choice(["beauty", "fashion", "food"], n),
            "follower_count": followers,
            "quoted_price": price.round(0),
            "expected_engagement": engagement.round(1),
            "engagement_rate": engagement / followers,
            "overall_risk": rng.uniform(5, 70, n).round(1),
            "decision": rng.choice(["approve", "approve_with_conditions"], n),
        }
    )


def _pairs(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"creator_a": pl.String, "creator_b": pl.String, "overlap": pl.Float64},
        orient="row",
    )


def test_constraints_respected():
    sc = _pool(40, seed=1)
    brief = _brief(
        budget=40_000,
        tier_targets={
            "nano": {"min_share": 0.1, "max_share": 0.3},
            "micro": {"min_share": 0.3, "max_share": 0.7},
            "mid": {"max_share": 0.4},
        },
        max_share_per_creator=0.2,
        max_average_risk=35,
        max_creator_risk=55,
    )
    r = recommend_portfolio(sc, brief, max_result_share=0.3, time_limit=10)
    assert r.status == "optimal"
    sel = r.selected.join(sc.select("creator_id", "quoted_price", "overall_risk"), on="creator_id")
    assert sel.height > 0
    assert (sel["cost"] == sel["quoted_price"] * sel["notes"]).all()
    assert sel["cost"].sum() <= brief.budget + 1e-6
    assert sel["cost"].max() <= 0.2 * brief.budget + 1e-6
    spend = dict(sel.group_by("tier").agg(pl.col("cost").sum()).iter_rows())
    for tier, target in brief.tier_targets.items():
        assert (
            target.min_share * brief.budget - 1e-6
            <= spend.get(tier, 0.0)
            <= target.max_share * brief.budget + 1e-6
        )
    assert sel["overall_risk"].max() <= 55
    assert sel["overall_risk"].mean() <= 35 + 1e-9
    assert abs(r.average_risk - sel["overall_risk"].mean()) < 1e-9
    assert (sel["quality_adjusted"] <= 0.3 * sel["quality_adjusted"].sum() + 1e-6).all()
    # every why is plain language and mentions the creator's risk
    assert all("risk" in w for w in sel["why_chosen"])
    # runners-up are not chosen and each has a reason
    assert not set(r.runners_up["creator_id"]) & set(sel["creator_id"])
    assert r.runners_up["why_not"].str.len_chars().min() > 0


def _objective(sc: pl.DataFrame, subset: tuple[int, ...], pairs: dict, penalty: float) -> float:
    q = (sc["expected_engagement"] * (1 - sc["overall_risk"] / 100)).to_list()
    total = sum(q[i] for i in subset)
    for (a, b), o in pairs.items():
        if a in subset and b in subset:
            total -= penalty * o * min(q[a], q[b])
    return total


def test_brute_force_confirms_optimum():
    sc = _pool(11, seed=7)
    brief = _brief(
        budget=30_000,
        tier_targets={"nano": {"min_share": 0.05, "max_share": 0.5}, "mid": {"max_share": 0.5}},
        max_share_per_creator=0.45,
        max_average_risk=40,
        max_creator_risk=65,
    )
    ids = sc["creator_id"].to_list()
    overlaps = {(0, 1): 0.3, (2, 3): 0.7, (4, 5): 0.15, (1, 6): 0.6}
    pairs = _pairs([(ids[a], ids[b], o) for (a, b), o in overlaps.items()])
    r = recommend_portfolio(
        sc,
        brief,
        overlap_pairs=pairs,
        overlap_penalty=0.8,
        max_pair_overlap=0.5,
        max_result_share=0.4,
        time_limit=10,
    )
    assert r.status == "optimal"

    price = sc["quoted_price"].to_list()
    risk = sc["overall_risk"].to_list()
    tier = sc["tier"].to_list()
    q = (sc["expected_engagement"] * (1 - sc["overall_risk"] / 100)).to_list()
    best, best_set = 0.0, ()
    for k in range(len(ids) + 1):
        for s in itertools.combinations(range(len(ids)), k):
            cost = sum(price[i] for i in s)
            if (
                cost > brief.budget
                or any(risk[i] > 65 for i in s)
                or any(price[i] > 0.45 * brief.budget for i in s)
            ):
                continue
            if s and sum(risk[i] for i in s) / len(s) > 40:
                continue
            nano = sum(price[i] for i in s if tier[i] == "nano")
            mid = sum(price[i] for i in s if tier[i] == "mid")
            if nano < 0.05 * brief.budget or nano > 0.5 * brief.budget or mid > 0.5 * brief.budget:
                continue
            if any(a in s and b in s for (a, b), o in overlaps.items() if o >= 0.5):
                continue
            tot = sum(q[i] for i in s)
            if any(q[i] > 0.4 * tot + 1e-9 for i in s):
                continue
            val = _objective(sc, s, {p: o for p, o in overlaps.items() if o < 0.5}, 0.8)
            if val > best:
                best, best_set = val, s
    assert best > 0
    assert r.objective == pytest.approx(best, rel=1e-6)
    assert r.optimality_gap is not None and r.optimality_gap <= 1e-4
    assert set(r.selected["creator_id"]) == {ids[i] for i in best_set}


def test_optimum_beats_naive_baselines():
    sc = _pool(30, seed=3, tiers=("nano", "micro", "mid", "macro"))
    loose = _brief(
        budget=60_000, max_share_per_creator=1.0, max_average_risk=100, max_creator_risk=100
    )
    r = recommend_portfolio(sc, loose, max_result_share=None, time_limit=10)
    names = [b["name"] for b in r.baselines]
    assert names == ["top_by_followers", "top_by_engagement_rate"]
    for b in r.baselines:
        assert (
            b["violates"] == []
        )  # nothing binds but the budget: both baselines are feasible plans
        assert b["total_cost"] <= loose.budget + 1e-6
        assert r.objective >= b["objective"] - 1e-6
    # Under a real brief, the optimum still beats every baseline that keeps the brief's rules.
    strict = _brief(
        budget=60_000,
        max_share_per_creator=0.2,
        max_average_risk=40,
        tier_targets={"micro": {"min_share": 0.2}},
    )
    r2 = recommend_portfolio(sc, strict, time_limit=10)
    for b in r2.baselines:
        assert {
            "name",
            "total_cost",
            "expected_engagement",
            "expected_unique_reach",
            "cost_per_engagement",
            "average_risk",
        } <= set(b)
        if not b["violates"]:
            assert r2.objective >= b["objective"] - 1e-6


def test_overlap_constraint_keeps_twins_apart():
    sc = _pool(12, seed=5)
    # Make c000 and c001 the two best-value creators by far, then let their audiences overlap 90%.
    sc = sc.with_columns(
        pl.when(pl.col("creator_id").is_in(["c000", "c001"]))
        .then(pl.lit(400.0))
        .otherwise(pl.col("quoted_price"))
        .alias("quoted_price"),
        pl.when(pl.col("creator_id").is_in(["c000", "c001"]))
        .then(pl.lit(5.0))
        .otherwise(pl.col("overall_risk"))
        .alias("overall_risk"),
        pl.when(pl.col("creator_id").is_in(["c000", "c001"]))
        .then(pl.lit(300.0))
        .otherwise(pl.col("expected_engagement"))
        .alias("expected_engagement"),
    )
    brief = _brief(
        budget=20_000, max_share_per_creator=0.5, max_average_risk=60, max_creator_risk=80
    )
    free = recommend_portfolio(sc, brief, time_limit=10)
    assert {"c000", "c001"} <= set(free.selected["creator_id"])
    pairs = _pairs([("c000", "c001", 0.9)])
    apart = recommend_portfolio(sc, brief, overlap_pairs=pairs, max_pair_overlap=0.5, time_limit=10)
    chosen = set(apart.selected["creator_id"])
    assert len({"c000", "c001"} & chosen) == 1
    left_out = ({"c000", "c001"} - chosen).pop()
    row = apart.runners_up.filter(pl.col("creator_id") == left_out)
    assert row["why_not_code"].item() == "overlap"
    assert "overlap with Creator" in row["why_not"].item()
    # The reach estimate counts the shared audience once.
    both = sc.filter(pl.col("creator_id").is_in(["c000", "c001"])).select(
        "creator_id", "follower_count"
    )
    f = sorted(both["follower_count"].to_list())
    assert expected_reach(both, pairs)["unique_reach"] == pytest.approx(f[0] + f[1] - 0.9 * f[0])


def test_infeasible_tier_minimum_reports_constraint_and_relaxation():
    sc = _pool(20, seed=2)
    nano_total = sc.filter(pl.col("tier") == "nano")["quoted_price"].sum()
    budget = 60_000
    assert nano_total < 0.5 * budget  # the nano minimum below is out of reach
    brief = _brief(
        budget=budget,
        tier_targets={"nano": {"min_share": 0.5}},
        max_share_per_creator=0.3,
        max_average_risk=60,
        max_creator_risk=80,
    )
    r = recommend_portfolio(sc, brief, time_limit=10)
    assert r.status == "infeasible"
    assert r.selected.is_empty()
    inf = r.infeasible
    assert inf["constraint"] == "tier_min"
    assert "nano" in inf["relaxation"] and "nano" in inf["detail"]
    assert inf["objective_if_relaxed"] > 0
    assert any(a["constraint"] == "budget" for a in inf["alternatives"])
    assert r.relaxed is not None and r.relaxed.selected.height > 0
    assert r.relaxed.total_cost <= budget + 1e-6
    js = r.to_json()
    assert js["status"] == "infeasible"
    assert {"constraint", "relaxation", "objective_if_relaxed"} <= set(js["infeasible"])
    assert "cannot be met" in portfolio_markdown(r)


def test_marginal_contributions_and_worst_case():
    sc = _pool(25, seed=4)
    brief = _brief(
        budget=30_000, max_share_per_creator=0.25, max_average_risk=45, max_creator_risk=65
    )
    r = recommend_portfolio(sc, brief, max_result_share=0.35, overlap_penalty=0.0, time_limit=10)
    sel = r.selected
    # Without overlap penalties each creator's loss is exactly its own result, and they add up.
    assert sel["marginal_contribution"].sum() == pytest.approx(r.quality_adjusted)
    assert (sel["result_share"] <= 0.35 + 1e-6).all()
    riskiest = sel.sort("risk", descending=True).row(0, named=True)
    w = r.worst_case_loss
    assert w["riskiest_creator"] == riskiest["creator_id"]
    assert w["loss_if_riskiest_fails"] == pytest.approx(riskiest["marginal_contribution"], rel=1e-6)
    assert w["share_of_result"] <= 0.35 + 1e-6

    ids = sc["creator_id"].to_list()
    pairs = _pairs([(a, b, 0.2) for a, b in itertools.combinations(ids[:10], 2)])
    rp = recommend_portfolio(
        sc, brief, overlap_pairs=pairs, overlap_penalty=1.0, max_result_share=0.35, time_limit=10
    )
    s = rp.selected
    # With penalties, removing a creator also removes the penalties it caused: each loss is at
    # most its own result, and the losses sum to the result minus the penalties counted twice.
    assert (s["marginal_contribution"] <= s["quality_adjusted"] + 1e-9).all()
    assert s["marginal_contribution"].sum() <= rp.objective + 1e-6
    assert rp.objective <= rp.quality_adjusted + 1e-9


def test_json_keys_and_rendering(tmp_path):
    sc = _pool(30, seed=6)
    brief = _brief(
        budget=40_000, tier_targets={"micro": {"min_share": 0.2}}, max_share_per_creator=0.25
    )
    r = recommend_portfolio(sc, brief, time_limit=10)
    js = r.to_json()
    listed = {
        "brief",
        "budget",
        "total_cost",
        "expected_engagement",
        "expected_unique_reach",
        "average_frequency",
        "average_risk",
        "selected",
        "runners_up",
        "by_tier",
        "baselines",
        "optimality_gap",
        "status",
        "infeasible",
    }
    assert listed <= set(js)
    assert tuple(js) == JSON_KEYS
    assert js["brief"] == "t" and js["status"] == "optimal" and js["infeasible"] is None
    for item in js["selected"]:
        assert {"creator_id", "cost", "expected_engagement", "risk", "tier", "why"} <= set(item)
    for item in js["runners_up"]:
        assert {"creator_id", "why_not"} <= set(item)
    assert len(js["baselines"]) == 2
    for b in js["baselines"]:
        assert {
            "name",
            "total_cost",
            "expected_engagement",
            "expected_unique_reach",
            "cost_per_engagement",
            "average_risk",
        } <= set(b)
    assert {row["tier"] for row in js["by_tier"]} >= {"nano", "micro", "mid"}
    json.dumps(js, ensure_ascii=False)  # serialisable as is
    md = portfolio_markdown(r)
    assert "| display_name | tier |" in md and "top_by_followers" in md
    png = portfolio_plot(r, None, tmp_path / "portfolio.png")
    assert png.stat().st_size > 5_000


def test_notes_per_creator_and_coverage():
    sc = _pool(30, seed=8)
    brief = _brief(budget=40_000, max_share_per_creator=0.2, max_average_risk=50)
    r = recommend_portfolio(
        sc,
        brief,
        notes_per_creator=1,
        max_notes_per_creator=3,
        coverage={"category": {"food": 3}},
        max_creators=8,
        time_limit=10,
    )
    assert r.status == "optimal"
    sel = r.selected.join(
        sc.select("creator_id", "quoted_price", "category"), on="creator_id", suffix="_sc"
    )
    assert sel["notes"].is_between(1, 3).all()
    assert (sel["cost"] <= 0.2 * brief.budget + 1e-6).all()
    assert sel.height <= 8
    assert sel.filter(pl.col("category") == "food").height >= 3


def test_audience_overlap_matches_set_arithmetic():
    notes = pl.DataFrame({"note_id": ["n1", "n2", "n3", "n4"], "creator_id": ["A", "A", "B", "C"]})
    commenters = {
        "n1": [f"u{i}" for i in range(6)],
        "n2": [f"u{i}" for i in range(4, 10)],
        "n3": [f"u{i}" for i in range(2, 14)],
        "n4": [f"x{i}" for i in range(10)] + ["u0"],
    }
    comments = pl.DataFrame(
        [(f"{n}-{u}", n, u) for n, us in commenters.items() for u in us],
        schema={"comment_id": pl.String, "note_id": pl.String, "commenter_id": pl.String},
        orient="row",
    )
    followers = pl.DataFrame(
        {
            "creator_id": ["A"] * 10 + ["C"] * 10,
            "follower_id": [f"f{i}" for i in range(10)] + [f"f{i}" for i in range(5, 15)],
        }
    )
    pairs, graph = audience_overlap(comments, notes, followers, min_audience=5, min_shared=2)
    ab = pairs.filter((pl.col("creator_a") == "A") & (pl.col("creator_b") == "B")).row(
        0, named=True
    )
    # A: u0..u9 (10), B: u2..u13 (12), shared u2..u9 = 8 -> 8 / min(10, 12)
    assert (ab["shared_engagers"], ab["engagers_a"], ab["engagers_b"]) == (8, 10, 12)
    assert ab["overlap"] == pytest.approx(0.8)
    ac = pairs.filter((pl.col("creator_a") == "A") & (pl.col("creator_b") == "C")).row(
        0, named=True
    )
    assert ac["shared_engagers"] == 0  # one shared commenter is below min_shared
    assert ac["follower_overlap"] == pytest.approx(0.5) and ac["overlap"] == pytest.approx(0.5)
    assert graph["A"]["B"]["weight"] == pytest.approx(0.8)
    assert not graph.has_edge("B", "C")


def test_demo_world_end_to_end(small_world):
    creators = pl.read_parquet(small_world / "creators.parquet")
    notes = pl.read_parquet(small_world / "notes.parquet")
    comments = pl.read_parquet(small_world / "comments.parquet")
    samples = pl.read_parquet(small_world / "follower_samples.parquet")
    pairs, graph = audience_overlap(comments, notes, samples, min_shared=1, min_audience=1)
    # Cross-check the vectorized self-join against plain set arithmetic.
    eng = comments.join(notes.select("note_id", "creator_id"), on="note_id").filter(
        pl.col("commenter_id") != pl.col("creator_id")
    )
    sets = {c: set(g["commenter_id"].drop_nulls()) for (c,), g in eng.group_by("creator_id")}
    for row in pairs.filter(pl.col("shared_engagers") > 0).head(25).iter_rows(named=True):
        a, b = sets[row["creator_a"]], sets[row["creator_b"]]
        assert row["engager_overlap"] == pytest.approx(len(a & b) / min(len(a), len(b)))
    assert graph.number_of_edges() == pairs.height

    import datetime as dt

    from kol_vetting.schema import tier_of
    from kol_vetting.scorecard import expected_engagement

    rng = np.random.default_rng(0)
    sc = creators.join(
        expected_engagement(notes, as_of=dt.datetime(2026, 11, 1), days=90),
        on="creator_id",
        how="left",
    ).with_columns(
        tier_of(pl.col("follower_count")).alias("tier"),
        pl.Series("overall_risk", rng.uniform(5, 70, creators.height)),
        pl.lit("approve").alias("decision"),
    )
    brief = _brief(
        budget=100_000,
        tier_targets={"micro": {"min_share": 0.2}, "mid": {"max_share": 0.5}},
        max_share_per_creator=0.2,
    )
    r = recommend_portfolio(sc, brief, overlap_pairs=pairs, time_limit=10)
    assert r.status in ("optimal", "feasible")
    assert r.total_cost <= brief.budget + 1e-6
    assert (
        r.expected_unique_reach
        <= r.selected.join(sc.select("creator_id", "follower_count"), on="creator_id")[
            "follower_count"
        ].sum()
    )
    assert r.average_frequency >= 1.0
