"""Authenticity signal: output contract, planted anomalies vs look-alikes, empty inputs, evidence.

One 200-creator demo world (seed 2024: neither the tuning seeds 7/11 nor the evaluation seed
1234) is generated and scored once per module. Expectations are stated against the world's
ground truth, never copied from a run.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kol_vetting.schema import SIGNAL_SCORE_SCHEMA, empty_frame
from kol_vetting.signals.auth_common import creator_frame, peer_stats, wilson_bounds
from kol_vetting.signals.authenticity import (
    AUTHENTICITY_SCHEMA,
    NOT_ASSESSED_REASON,
    score_authenticity,
)
from kol_vetting.signals.engagement import engagement_anomalies
from kol_vetting.signals.growth import growth_anomalies

SEED = 2024
N_CREATORS = 200
AS_OF = dt.datetime(2026, 11, 1)
TABLES = ("creators", "follower_samples", "notes", "comments", "follower_history", "ground_truth")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict[str, pl.DataFrame]]:
    from kol_vetting.sources.demo import generate_world

    out = tmp_path_factory.mktemp("auth_world") / f"demo_world_seed{SEED}_n{N_CREATORS}"
    generate_world(N_CREATORS, SEED, out)
    return out, {t: pl.read_parquet(out / f"{t}.parquet") for t in TABLES}


@pytest.fixture(scope="module")
def result(world) -> dict[str, pl.DataFrame]:
    _, t = world
    return score_authenticity(
        t["creators"], t["follower_samples"], t["notes"], t["comments"], t["follower_history"], as_of=AS_OF
    )


def _ids(gt: pl.DataFrame, *kinds: str) -> set[str]:
    return set(gt.filter(pl.col("kind").is_in(list(kinds)))["creator_id"].to_list())


# --------------------------------------------------------------------------------------------
# Output contract
# --------------------------------------------------------------------------------------------


def test_scores_start_with_signal_schema(result):
    s = result["authenticity_scores"]
    head = list(SIGNAL_SCORE_SCHEMA)
    assert s.columns[: len(head)] == head
    for name, dtype in SIGNAL_SCORE_SCHEMA.items():
        assert s.schema[name] == dtype, name
    assert s.schema == AUTHENTICITY_SCHEMA
    for extra in ("fake_share", "fake_share_low", "fake_share_high", "sample_size", "engagement_rate",
                  "engagement_peer_percentile", "growth_flags", "pod_id"):
        assert extra in s.columns


def test_one_row_per_creator_with_valid_values(world, result):
    _, t = world
    s = result["authenticity_scores"]
    assert s.height == t["creators"]["creator_id"].n_unique()
    assert set(s["creator_id"]) == set(t["creators"]["creator_id"])
    assert s["creator_id"].is_unique().all()
    assessed = s.filter(pl.col("assessed"))
    assert assessed.height == s.height  # every demo creator has a sample, history and notes
    assert assessed["risk"].is_between(0, 100).all()
    assert s["confidence"].is_between(0, 1).all()
    assert (s["data_as_of"] == AS_OF).all()
    # the interval brackets the point estimate
    assert ((s["fake_share_low"] <= s["fake_share"] + 1e-12) & (s["fake_share"] <= s["fake_share_high"] + 1e-12)).all()


# --------------------------------------------------------------------------------------------
# Planted anomalies vs clean creators and look-alikes
# --------------------------------------------------------------------------------------------


def test_bought_followers_score_higher_than_clean(world, result):
    _, t = world
    gt, s = t["ground_truth"], result["authenticity_scores"]
    bought = _ids(gt, "bought_followers_step", "bought_followers_drip")
    # the demo labels every audience's ordinary farm accounts (baseline_fake_followers): not a plant
    planted = gt.filter(pl.col("kind") != "baseline_fake_followers")
    clean = set(s["creator_id"]) - set(planted["creator_id"])
    assert bought and clean
    r_b = s.filter(pl.col("creator_id").is_in(list(bought)))
    r_c = s.filter(pl.col("creator_id").is_in(list(clean)))
    assert r_b["risk"].min() > r_c["risk"].quantile(0.9)
    assert r_b["fake_share"].mean() > r_c["fake_share"].mean() + 0.1
    assert r_b["bought_followers"].mean() >= 0.9
    assert r_c["bought_followers"].mean() <= 0.05


def test_viral_lookalike_jump_is_explained_not_flagged(world, result):
    _, t = world
    viral = _ids(t["ground_truth"], "viral_lookalike")
    assert viral
    s = result["authenticity_scores"].filter(pl.col("creator_id").is_in(list(viral)))
    assert (s["growth_flags"].list.len() == 0).all()
    assert (~s["flagged"]).all()
    ep = result["growth_anomalies"].filter(pl.col("creator_id").is_in(list(viral)))
    explained = ep.filter(pl.col("explained"))
    # the jump was seen and attributed to a note of that creator
    assert explained["creator_id"].n_unique() >= len(viral) - 1
    notes = t["notes"].select("note_id", "creator_id")
    by = explained.join(notes, left_on="explained_by_note_id", right_on="note_id", how="left")
    assert (by["creator_id"] == by["creator_id_right"]).all()
    assert any("explained by viral note" in r for rs in s["reasons"].to_list() for r in rs)


def test_pods_recovered(world, result):
    from sklearn.metrics import adjusted_rand_score

    _, t = world
    gt = t["ground_truth"]
    truth = gt.filter(pl.col("kind") == "engagement_pod").select(
        "creator_id", pl.col("detail").str.extract(r"engagement pod (\d+)").alias("t"))
    found = result["pods"].select("creator_id", pl.col("pod_id").alias("f"))
    assert truth.height and found.height
    u = truth.join(found, on="creator_id", how="full", coalesce=True).with_columns(
        pl.coalesce("t", pl.concat_str(pl.lit("x"), "creator_id")), pl.coalesce("f", pl.concat_str(pl.lit("x"), "creator_id")))
    assert adjusted_rand_score(u["t"].to_list(), u["f"].to_list()) >= 0.8
    pods = result["pods"]
    assert (pods["pod_size"] >= 3).all()
    assert (pods["members"].list.len() == pods["pod_size"]).all()
    assert pods["median_delay_minutes"].max() <= 60


def test_bot_comments_and_like_bursts_found(world, result):
    _, t = world
    gt, s = t["ground_truth"], result["authenticity_scores"]
    bots = _ids(gt, "bot_comments")
    likes = _ids(gt, "bought_likes")
    got_bots = set(s.filter(pl.col("bot_burst_notes") > 0)["creator_id"])
    got_likes = set(s.filter(pl.col("like_burst_notes") > 0)["creator_id"])
    assert len(bots & got_bots) >= 0.8 * len(bots)
    assert len(likes & got_likes) >= 0.8 * len(likes)
    assert len(got_bots - bots) <= 1 and len(got_likes - likes) <= 1
    harsh = _ids(gt, "harsh_negative_lookalike") - bots
    assert not (harsh & got_bots)


def test_lookalikes_rarely_flagged(world, result):
    _, t = world
    gt, s = t["ground_truth"], result["authenticity_scores"]
    anomalous = _ids(gt, "bought_followers_step", "bought_followers_drip", "bought_likes", "engagement_pod", "bot_comments")
    look = _ids(gt, "viral_lookalike", "harsh_negative_lookalike", "loved_ads_lookalike") - anomalous
    flagged = s.filter(pl.col("creator_id").is_in(list(look)) & pl.col("flagged")).height
    assert flagged <= max(1, round(0.05 * len(look)))


# --------------------------------------------------------------------------------------------
# Reasons and evidence
# --------------------------------------------------------------------------------------------


def test_reasons_carry_numbers_and_intervals(world, result):
    _, t = world
    s = result["authenticity_scores"]
    bought = _ids(t["ground_truth"], "bought_followers_step", "bought_followers_drip")
    pat = re.compile(r"^(\d+)% of ([\d,]+) sampled followers look fake \((\d+)–(\d+)%, 95% interval\)")
    for row in s.filter(pl.col("creator_id").is_in(list(bought))).iter_rows(named=True):
        hits = [pat.match(r) for r in row["reasons"]]
        m = next(h for h in hits if h)
        assert int(m.group(1)) == round(100 * row["fake_share"])
        assert int(m.group(2).replace(",", "")) == row["sample_size"]
        assert int(m.group(3)) == round(100 * row["fake_share_low"])
        assert int(m.group(4)) == round(100 * row["fake_share_high"])
        assert "percentile" in " ".join(row["reasons"])
        # the strongest reasons come first: a bought-followers creator leads with a number
        assert re.search(r"\d", row["reasons"][0])
    assert all(len(r) > 0 for r in s["reasons"].to_list())


def test_evidence_ids_exist_in_the_tables(world, result):
    _, t = world
    s = result["authenticity_scores"]
    known = (
        set(t["notes"]["note_id"]) | set(t["comments"]["comment_id"]) | set(t["follower_samples"]["follower_id"])
    )
    flat = [e for ev in s["evidence_ids"].to_list() for e in ev]
    assert flat, "flagged creators must carry evidence"
    for e in flat:
        assert e in known or ISO_DATE.match(e), e
    for row in s.filter(pl.col("flagged")).iter_rows(named=True):
        assert row["evidence_ids"], row["creator_id"]
    # growth evidence: the planted step day is among the dates
    gt = t["ground_truth"].filter(pl.col("kind") == "bought_followers_step")
    ev = dict(zip(s["creator_id"], s["evidence_ids"].to_list()))
    hit = sum(row["start"].strftime("%Y-%m-%d") in ev[row["creator_id"]] for row in gt.iter_rows(named=True))
    assert hit >= 0.8 * gt.height


# --------------------------------------------------------------------------------------------
# Empty and partial inputs
# --------------------------------------------------------------------------------------------


def test_empty_inputs_never_crash():
    tables = {t: empty_frame(t) for t in ("creators", "follower_samples", "notes", "comments", "follower_history")}
    out = score_authenticity(*tables.values(), as_of=AS_OF)
    assert out["authenticity_scores"].height == 0
    assert out["authenticity_scores"].schema == AUTHENTICITY_SCHEMA
    out = score_authenticity(None, None, None, None, None, as_of=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    assert out["authenticity_scores"].height == 0


def test_creators_without_data_are_not_assessed():
    creators = pl.DataFrame({"creator_id": ["a", "b"], "follower_count": [None, 5000],
                             "captured_at": [AS_OF, AS_OF]})
    s = score_authenticity(creators, None, None, None, None, as_of=AS_OF)["authenticity_scores"]
    assert s.height == 2
    assert (~s["assessed"]).all() and s["risk"].is_null().all()
    assert s["reasons"].to_list() == [[NOT_ASSESSED_REASON], [NOT_ASSESSED_REASON]]
    assert (s["confidence"] == 0).all()


def test_partial_data_is_assessed_with_lower_confidence(world, result):
    """MediaCrawler-like input: notes and comments only, no follower counts, samples or history."""
    _, t = world
    full = result["authenticity_scores"]
    creators = t["creators"].drop("follower_count")
    out = score_authenticity(creators, None, t["notes"], t["comments"].drop("commenter_name"), None, as_of=AS_OF)
    s = out["authenticity_scores"]
    assert s.height == full.height
    assert s["assessed"].all()
    assert s["fake_share"].is_null().all() and s["engagement_rate"].is_null().all()
    j = s.join(full, on="creator_id", suffix="_full")
    assert (j["confidence"] < j["confidence_full"]).all()
    missing = [r for rs in s["reasons"].to_list() for r in rs]
    assert any(r.startswith("No follower sample") for r in missing)
    assert any(r.startswith("Follower history missing") for r in missing)
    # pods and like bursts need no follower data
    pods = _ids(t["ground_truth"], "engagement_pod")
    assert pods <= set(s.filter(pl.col("pod_id").is_not_null())["creator_id"])


def test_small_sample_says_so(world):
    _, t = world
    cid = t["creators"]["creator_id"][0]
    fs = t["follower_samples"].filter(pl.col("creator_id") == cid).head(30)
    s = score_authenticity(t["creators"].filter(pl.col("creator_id") == cid), fs, None, None, None,
                           as_of=AS_OF)["authenticity_scores"]
    assert s["sample_too_small"][0] and s["sample_size"][0] == 30
    assert any("Only 30 followers sampled" in r for r in s["reasons"][0])
    assert s["risk_fake_followers"][0] is None


# --------------------------------------------------------------------------------------------
# Building blocks on hand-made data
# --------------------------------------------------------------------------------------------


def test_wilson_matches_scipy():
    from scipy.stats import binomtest

    rng = np.random.default_rng(0)
    n = rng.integers(1, 500, 50)
    k = (rng.random(50) * n).astype(int)
    lo, hi = wilson_bounds(pl.col("k"), pl.col("n"))
    got = pl.DataFrame({"k": k, "n": n}).select(lo.alias("lo"), hi.alias("hi"))
    for i in range(50):
        ci = binomtest(int(k[i]), int(n[i])).proportion_ci(method="wilson")
        assert got["lo"][i] == pytest.approx(ci.low, abs=1e-6)
        assert got["hi"][i] == pytest.approx(ci.high, abs=1e-6)


def _history(cid: str, counts: np.ndarray, start: dt.date = dt.date(2026, 5, 1)) -> pl.DataFrame:
    return pl.DataFrame({"creator_id": [cid] * len(counts),
                         "date": [start + dt.timedelta(days=i) for i in range(len(counts))],
                         "follower_count": counts.astype(np.int64)})


def _notes(cid: str, days: list[int], eng: list[int], start: dt.date = dt.date(2026, 5, 1)) -> pl.DataFrame:
    return pl.DataFrame({
        "note_id": [f"{cid}-n{i}" for i in range(len(days))], "creator_id": [cid] * len(days),
        "published_at": [dt.datetime.combine(start + dt.timedelta(days=d), dt.time(12)) for d in days],
        "likes": eng, "collects": [e // 2 for e in eng], "comments": [e // 20 for e in eng],
    })


def test_growth_round_step_flagged_and_viral_jump_explained():
    rng = np.random.default_rng(1)
    days = 120
    base = 20_000 + np.cumsum(rng.normal(20, 15, days)).round()
    step = base.copy()
    step[60:] += 5_000  # bought: exactly +5,000 on one day, no note behind it
    step[60] = step[59] + 5_000
    viral = base.copy()
    viral[60:64] += np.array([700, 1_400, 2_100, 2_800])  # gained over 4 days after a hit note
    viral[64:] += 2_800
    hist = pl.concat([_history("step", step), _history("viral", viral)])
    note_days = list(range(0, days, 3))
    notes = pl.concat([
        _notes("step", note_days, [400] * len(note_days)),
        _notes("viral", [*note_days, 59], [400] * len(note_days) + [30_000]),
    ])
    ep, summary = growth_anomalies(hist, notes, as_of=dt.datetime(2026, 9, 1))
    s = dict(zip(summary["creator_id"], summary["growth_flags"].to_list()))
    assert "round_step" in s["step"]
    assert s["viral"] == []
    v = ep.filter(pl.col("creator_id") == "viral")
    assert v.height == 1 and v["explained"][0] and v["explained_by_note_id"][0] == "viral-n40"
    st = ep.filter(pl.col("creator_id") == "step")
    assert st["round_change"][0] == 5_000 and not st["explained"][0]


def test_like_burst_needs_likes_without_collects():
    days = list(range(30))
    eng = [200] * 30
    n = _notes("c", days, eng)
    # note 10: likes x20 with collects/comments unchanged (bought); note 20: everything x20 (a hit)
    n = n.with_columns(
        pl.when(pl.col("note_id") == "c-n10").then(pl.col("likes") * 20)
        .when(pl.col("note_id") == "c-n20").then(pl.col("likes") * 20).otherwise(pl.col("likes")).alias("likes"),
        pl.when(pl.col("note_id") == "c-n20").then(pl.col("collects") * 20).otherwise(pl.col("collects")).alias("collects"),
        pl.when(pl.col("note_id") == "c-n20").then(pl.col("comments") * 20).otherwise(pl.col("comments")).alias("comments"),
    )
    creators = creator_frame(pl.DataFrame({"creator_id": ["c"], "platform": ["xiaohongshu"], "category": ["beauty"],
                                           "follower_count": [10_000]}))
    _, summary = engagement_anomalies(n, creators, empty_frame("follower_history"), as_of=dt.datetime(2026, 9, 1))
    assert summary["like_burst_note_ids"][0].to_list() == ["c-n10"]


def test_peer_stats_falls_back_to_broader_group():
    df = pl.DataFrame({
        "platform": ["xiaohongshu"] * 30,
        "tier": ["micro"] * 25 + ["mega"] * 5,
        "category": ["beauty"] * 15 + ["food"] * 10 + ["beauty"] * 5,
        "v": list(np.linspace(0, 1, 30)),
    })
    out = peer_stats(df, "v", min_peers=10)
    groups = out["v_peer_group"].to_list()
    assert groups[0] == "xiaohongshu / micro / beauty"
    assert groups[-1] == "xiaohongshu"  # 5 mega creators: too few, then platform level
    assert out["v_peer_percentile"].is_between(0, 100).all()


def test_evaluate_authenticity_reports_metrics(world, tmp_path):
    from kol_vetting.signals.evaluate_authenticity import evaluate_authenticity

    path, _ = world
    r = evaluate_authenticity(SEED, N_CREATORS, path.parent, verbose=False)  # reuses the fixture world
    assert r["timing_seconds"]["generate_world"] < 5
    for m in r["per_kind"].values():
        assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
    bf = r["per_kind"]["bought_followers (step or drip; any evidence)"]
    assert bf["positives"] > 0 and bf["recall"] >= 0.8
    assert r["fake_share"]["mae_points_thresholded_share (used)"] < 5
    assert r["pods"]["adjusted_rand_index"] >= 0.8
    assert set(r["lookalikes"]) >= {"viral_lookalike", "harsh_negative_lookalike", "loved_ads_lookalike"}


def test_growth_drip_staircase_and_drop_without_notes():
    rng = np.random.default_rng(2)
    days = 150
    organic = np.cumsum(rng.normal(15, 10, days)).round()
    drip = 30_000 + organic
    drip[60:88] += np.cumsum(np.full(28, 250.0))  # +7,000 over four weeks, slow enough to look organic
    drip[88:] += 7_000
    stairs = 30_000 + organic
    stairs[40:] += 3_000
    stairs[90:] += 3_000
    stairs[90] = stairs[89] + 3_000  # the second step is exactly +3,000 that day
    spike = 30_000 + organic
    spike[70:] += 4_000
    spike[80:] -= 3_500  # most of it gone ten days later: fakes purged
    hist = pl.concat([_history("drip", drip), _history("stairs", stairs), _history("spike", spike),
                      _history("calm", 30_000 + organic)])
    ep, summary = growth_anomalies(hist, empty_frame("notes"), as_of=dt.datetime(2026, 12, 1))
    flags = dict(zip(summary["creator_id"], summary["growth_flags"].to_list()))
    assert "drip" in flags["drip"]
    d = ep.filter(pl.col("creator_id") == "drip")
    assert d["gain"].sum() == pytest.approx(7_000, rel=0.25)
    assert "staircase" in flags["stairs"] and "round_step" in flags["stairs"]
    assert "drop_after_spike" in flags["spike"]
    assert flags["calm"] == []
    assert (~ep["explained"]).all()
