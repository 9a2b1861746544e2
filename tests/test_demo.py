"""The demo world: contract schemas, determinism, integrity, planted anomalies, realism."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from kol_vetting.schema import TABLES, polars_schema, tier_of
from kol_vetting.sources.demo import (
    ANOMALY_KINDS,
    DEMO_BRANDS,
    GROUND_TRUTH_KINDS,
    LOOKALIKE_KINDS,
    WORLD_TABLES,
    benchmark_demo,
    generate_world,
)

N = 200
SEED = 11
AS_OF = datetime(2026, 11, 1)
XHS_ID = re.compile(r"^[0-9a-f]{24}$")


def _load(path: Path) -> dict[str, pl.DataFrame]:
    return {t: pl.read_parquet(path / f"{t}.parquet") for t in WORLD_TABLES}


@pytest.fixture(scope="module")
def world_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, int], dict[str, pl.DataFrame]]:
    out = tmp_path_factory.mktemp("world")
    stages: list[tuple[str, float]] = []
    counts = generate_world(N, SEED, out, progress=lambda s, f: stages.append((s, f)))
    assert stages and stages[-1][1] == 1.0
    return counts, _load(out)


@pytest.fixture(scope="module")
def w(world_run: tuple[dict[str, int], dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    return world_run[1]


@pytest.fixture(scope="module")
def gt_ids(w: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return w["ground_truth"].explode("affected_ids")


def test_every_file_has_the_contract_schema(
    world_run: tuple[dict[str, int], dict[str, pl.DataFrame]],
) -> None:
    counts, w = world_run
    for table in WORLD_TABLES:
        assert w[table].schema == polars_schema(table), table
        assert counts[table] == w[table].height, table
        assert w[table].height > 0, table


def test_same_seed_same_world_other_seed_other_world(
    tmp_path: Path, w: dict[str, pl.DataFrame]
) -> None:
    generate_world(N, SEED, tmp_path / "again")
    again = _load(tmp_path / "again")
    for table in WORLD_TABLES:
        assert again[table].equals(w[table]), table
    generate_world(N, SEED + 1, tmp_path / "other")
    other = _load(tmp_path / "other")
    assert not other["notes"]["note_id"].equals(w["notes"]["note_id"])
    assert not other["creators"]["follower_count"].equals(w["creators"]["follower_count"])


def test_keys_are_unique_and_required_columns_filled(w: dict[str, pl.DataFrame]) -> None:
    for table, spec in TABLES.items():
        df = w[table]
        assert df.select(spec.key).is_duplicated().sum() == 0, table
        required = [c for c, f in spec.model.model_fields.items() if f.is_required()]
        assert df.select(pl.col(required).null_count()).sum_horizontal().item() == 0, table


def test_referential_integrity(w: dict[str, pl.DataFrame]) -> None:
    creators = w["creators"]["creator_id"]
    for table in ("notes", "follower_history", "follower_samples", "partners", "ground_truth"):
        assert w[table]["creator_id"].is_in(creators.implode()).all(), table
    notes, comments = w["notes"], w["comments"]
    assert comments["note_id"].is_in(notes["note_id"].implode()).all()
    replies = comments.filter(pl.col("parent_comment_id").is_not_null())
    assert replies.height > 0
    parents = replies.join(
        comments.select(
            pl.col("comment_id").alias("parent_comment_id"),
            pl.col("note_id").alias("parent_note"),
            pl.col("created_at").alias("parent_at"),
        ),
        on="parent_comment_id",
    )
    assert parents.height == replies.height
    assert (parents["note_id"] == parents["parent_note"]).all()
    assert (parents["created_at"] > parents["parent_at"]).all()
    # replies hang under a root comment
    assert parents["parent_comment_id"].is_in(replies["comment_id"].implode()).sum() == 0


def test_times_are_consistent(w: dict[str, pl.DataFrame]) -> None:
    notes, comments = w["notes"], w["comments"]
    assert notes["published_at"].max() < AS_OF
    assert comments["created_at"].max() <= AS_OF
    assert w["follower_samples"]["created_at"].max() <= AS_OF
    joined = comments.join(notes.select("note_id", "published_at"), on="note_id")
    assert (joined["created_at"] >= joined["published_at"]).all()
    assert (w["creators"]["captured_at"] == AS_OF).all()


def test_ids_and_urls_look_like_xhs(w: dict[str, pl.DataFrame]) -> None:
    for table, col in (
        ("creators", "creator_id"),
        ("notes", "note_id"),
        ("comments", "comment_id"),
        ("follower_samples", "follower_id"),
    ):
        assert w[table][col].str.contains(XHS_ID.pattern).all(), col
    notes = w["notes"]
    assert (notes["url"] == "https://www.xiaohongshu.com/explore/" + notes["note_id"]).all()
    # the first 8 hex characters are the publication time, as on XHS
    ts = notes["note_id"].str.slice(0, 8).str.to_integer(base=16)
    assert (ts == notes["published_at"].dt.epoch("s")).all()


def test_every_ground_truth_kind_is_planted_with_existing_evidence(
    w: dict[str, pl.DataFrame], gt_ids: pl.DataFrame
) -> None:
    gt = w["ground_truth"]
    assert set(gt["kind"]) == set(GROUND_TRUTH_KINDS)
    for kind in ANOMALY_KINDS:
        assert gt.filter(pl.col("kind") == kind).height >= 3, kind
    assert (gt["affected_ids"].list.len() > 0).all()
    known = pl.concat(
        [w["notes"]["note_id"], w["comments"]["comment_id"], w["follower_samples"]["follower_id"]]
    )
    assert gt_ids["affected_ids"].is_in(known.implode()).all()
    assert (gt["start"] <= gt["end"]).all()
    assert gt["detail"].null_count() == 0


def test_lookalikes_are_not_anomalies(w: dict[str, pl.DataFrame]) -> None:
    gt = w["ground_truth"]
    look = gt.filter(pl.col("kind").is_in(list(LOOKALIKE_KINDS)))
    assert look.height >= 4 * len(LOOKALIKE_KINDS) and not look["is_anomaly"].any()
    assert gt.filter(pl.col("kind").is_in(list(ANOMALY_KINDS)))["is_anomaly"].all()


def test_chinese_text_with_some_english(w: dict[str, pl.DataFrame]) -> None:
    notes, comments = w["notes"], w["comments"]
    cjk = notes["title"].str.contains(r"[\u4e00-\u9fff]")
    assert cjk.mean() > 0.9
    assert (~cjk).sum() > 0  # English notes exist
    assert notes["body"].str.contains("#[^#]+\\[话题\\]#").mean() > 0.9
    assert notes["tags"].list.len().mean() >= 2
    assert comments["text"].str.contains(r"\[赞R\]", literal=False).sum() > 0
    assert comments["text"].str.contains(r"^[A-Za-z]").sum() > 0
    assert comments["commenter_name"].str.starts_with("小红薯").mean() < 0.3
    assert w["creators"]["category"].n_unique() >= 6


def test_follower_history_covers_the_window(w: dict[str, pl.DataFrame]) -> None:
    hist = w["follower_history"]
    per = hist.group_by("creator_id").agg(
        pl.len(), pl.col("date").max(), pl.col("follower_count").last()
    )
    assert per["len"].min() >= 180
    last = per.join(
        w["creators"].select("creator_id", "follower_count"), on="creator_id", suffix="_now"
    )
    assert (last["follower_count"] == last["follower_count_now"]).all()


def test_tiers_engagement_and_prices_are_realistic(w: dict[str, pl.DataFrame]) -> None:
    creators = w["creators"].with_columns(tier=tier_of(pl.col("follower_count")))
    shares = creators["tier"].value_counts(normalize=True)
    small = shares.filter(pl.col("tier").is_in(["nano", "micro"]))["proportion"].sum()
    assert small > 0.7 and shares.height == 5
    er = (
        w["notes"]
        .group_by("creator_id")
        .agg(eng=(pl.col("likes") + pl.col("collects") + pl.col("comments")).mean(), n=pl.len())
        .join(creators, on="creator_id")
        .with_columns(er=pl.col("eng") / pl.col("follower_count"))
        .group_by("tier")
        .agg(pl.col("er").median(), pl.col("quoted_price").median(), pl.col("n").mean())
    )
    med = dict(zip(er["tier"], er["er"], strict=True))
    order = ["nano", "micro", "mid", "macro", "mega"]
    assert all(med[a] > med[b] for a, b in itertools.pairwise(order))
    assert med["nano"] > 0.02 and med["mega"] < 0.01
    price = dict(zip(er["tier"], er["quoted_price"], strict=True))
    assert all(price[a] < price[b] for a, b in itertools.pairwise(order))
    assert 100 <= price["nano"] <= 2000
    assert 60 <= w["notes"].height / creators.height <= 140
    assert 3 <= w["comments"].height / w["notes"].height <= 8
    assert 150 <= w["follower_samples"].height / creators.height <= 230


def test_ratios_differ_by_category_and_comments_are_few(w: dict[str, pl.DataFrame]) -> None:
    notes = w["notes"].join(w["creators"].select("creator_id", "category"), on="creator_id")
    by = notes.group_by("category").agg(
        cl=pl.col("collects").sum() / pl.col("likes").sum(),
        cm=pl.col("comments").sum() / pl.col("likes").sum(),
    )
    cl = dict(zip(by["category"], by["cl"], strict=True))
    assert cl["travel"] > 2 * cl["pets"]
    assert (by["cm"] < 0.2).all()


def test_disclosed_ads_exist_for_honest_creators(w: dict[str, pl.DataFrame]) -> None:
    notes = w["notes"]
    planted = w["ground_truth"].filter(pl.col("is_anomaly"))["creator_id"]
    honest = notes.filter(~pl.col("creator_id").is_in(planted.implode()))
    disclosed = honest["platform_sponsor_label"] | honest["body"].str.contains(
        "#广告|#合作|品牌合作|#ad"
    )
    assert 0.04 <= disclosed.mean() <= 0.15


def test_bought_followers_leave_their_traces(w: dict[str, pl.DataFrame]) -> None:
    gt = w["ground_truth"]
    hist = (
        w["follower_history"]
        .sort("creator_id", "date")
        .with_columns(diff=pl.col("follower_count").diff().over("creator_id"))
    )
    samples = w["follower_samples"]
    for row in gt.filter(pl.col("kind") == "bought_followers_step").iter_rows(named=True):
        step = int(re.search(r"exactly \+(\d+)", row["detail"]).group(1))
        diffs = hist.filter(pl.col("creator_id") == row["creator_id"])["diff"]
        assert (diffs == step).sum() >= 1
    for kind in ("bought_followers_step", "bought_followers_drip"):
        for row in gt.filter(pl.col("kind") == kind).iter_rows(named=True):
            mine = samples.filter(pl.col("creator_id") == row["creator_id"])
            fake = mine.filter(pl.col("follower_id").is_in(row["affected_ids"]))
            assert 0.15 <= fake.height / mine.height <= 0.7
    fakes = samples.filter(
        pl.col("follower_id").is_in(
            gt.filter(pl.col("kind").str.starts_with("bought_followers"))
            .explode("affected_ids")["affected_ids"]
            .implode()
        )
    )
    # most fakes look like farm accounts, some are dressed up: no single trait decides
    assert (fakes["following_count"] >= 150).mean() > 0.95
    assert fakes["username"].str.starts_with("小红薯").mean() > 0.3
    dressed = fakes.filter(pl.col("has_avatar") & (pl.col("note_count") > 0))
    assert dressed.height > 0 and (dressed["following_count"] >= 1500).all()
    genuine = samples.filter(~pl.col("follower_id").is_in(fakes["follower_id"].implode()))
    assert (genuine["following_count"] > 1500).mean() < 0.05
    assert (
        genuine["username"].str.starts_with("小红薯").mean() > 0.01
    )  # real users keep default names too


def test_pods_bots_and_backlash(w: dict[str, pl.DataFrame], gt_ids: pl.DataFrame) -> None:
    comments = w["comments"].join(
        w["notes"].select("note_id", "published_at", "creator_id"), on="note_id"
    )
    creators = w["creators"]["creator_id"]

    def planted(kind: str) -> pl.DataFrame:
        ids = gt_ids.filter(pl.col("kind") == kind)["affected_ids"]
        return comments.filter(pl.col("comment_id").is_in(ids.implode()))

    pod = planted("engagement_pod")
    assert pod["commenter_id"].is_in(creators.implode()).all()
    assert ((pod["created_at"] - pod["published_at"]).dt.total_minutes() <= 20).all()
    assert (pod["commenter_id"] != pod["creator_id"]).all()
    pairs = set(zip(pod["commenter_id"], pod["creator_id"], strict=True))
    assert sum((b, a) in pairs for a, b in pairs) / len(pairs) > 0.8  # reciprocal

    bots = planted("bot_comments")
    assert bots["commenter_name"].str.starts_with("小红薯").all()
    assert bots["text"].n_unique() <= 8

    backlash = planted("controversy")
    assert backlash.height >= 30 * 3
    assert (
        backlash["text"]
        .str.contains(
            "翻车|避雷|智商税|过敏|烂脸|虚假宣传|退钱|维权|投诉|割韭菜|水军|道歉|人设|恰烂饭|假货|收了|信吗"
        )
        .mean()
        > 0.95
    )
    notes = w["notes"].filter(
        pl.col("note_id").is_in(
            gt_ids.filter(pl.col("kind") == "controversy")["affected_ids"].implode()
        )
    )
    assert notes["title"].str.contains("道歉|致歉|声明|交代").sum() >= 3
    assert notes["title"].str.contains("避雷|翻车|塌房|别跟风").sum() >= 3


def test_sponsorship_plants_carry_their_signs(
    w: dict[str, pl.DataFrame], gt_ids: pl.DataFrame
) -> None:
    notes = w["notes"]

    def planted(kind: str) -> pl.DataFrame:
        return notes.filter(
            pl.col("note_id").is_in(gt_ids.filter(pl.col("kind") == kind)["affected_ids"].implode())
        )

    hidden = planted("undisclosed_ad")
    assert not hidden["platform_sponsor_label"].any()
    assert not hidden["body"].str.contains("#广告|#合作|品牌合作").any()
    assert hidden["body"].str.contains("优惠码|评论区|戳主页|私信|福利|抽|@|官方店").all()
    assert planted("false_no_ad_claim")["body"].str.contains("无广|自费").all()
    assert planted("ad_law_absolute_claim")["body"].str.contains("最|第一|顶级|唯一|国家级").all()
    assert planted("ad_law_medical_claim")["body"].str.contains("治|药用|抗癌|降血糖|抗炎").all()
    campaign = planted("seeding_campaign")
    assert campaign["title"].n_unique() < campaign.height  # near-identical notes
    competitor = planted("competitor_paid_work")
    assert competitor["body"].str.contains("#广告|品牌合作|#合作").all()
    assert (competitor["published_at"] >= datetime(2026, 8, 3)).all()
    names = {c["brand"] for b in DEMO_BRANDS for c in b["competitors"]}
    assert all(any(n in body for n in names) for body in competitor["body"])
    loved = planted("loved_ads_lookalike")
    assert loved["platform_sponsor_label"].mean() > 0.5
    praise = planted("organic_praise_lookalike")
    assert not praise["platform_sponsor_label"].any()
    assert not praise["body"].str.contains("优惠码|链接在评论区|戳主页").any()


def test_viral_lookalike_jump_follows_the_note(w: dict[str, pl.DataFrame]) -> None:
    gt = w["ground_truth"].filter(pl.col("kind") == "viral_lookalike")
    hist = (
        w["follower_history"]
        .sort("creator_id", "date")
        .with_columns(
            gain=(pl.col("follower_count") / pl.col("follower_count").shift(5) - 1).over(
                "creator_id"
            )
        )
    )
    for row in gt.iter_rows(named=True):
        h = hist.filter(pl.col("creator_id") == row["creator_id"])
        best = h.sort("gain", descending=True, nulls_last=True).row(0, named=True)
        assert row["start"].date() <= best["date"] <= row["end"].date() + timedelta(days=5)
        assert best["gain"] > 0.05


def test_partners_and_demo_brands(w: dict[str, pl.DataFrame]) -> None:
    partners = w["partners"]
    assert 0.05 <= partners.height / N <= 0.15
    assert set(partners["brand"]) <= {b["brand"] for b in DEMO_BRANDS}
    assert partners["status"].is_in(["active", "paused", "ended", "prospect"]).all()
    risky = w["ground_truth"].filter(pl.col("is_anomaly"))["creator_id"]
    assert partners.filter(pl.col("status") == "active")["creator_id"].is_in(risky.implode()).any()
    assert len(DEMO_BRANDS) >= 3
    assert {b["category"] for b in DEMO_BRANDS} >= {"beauty", "food", "tech"}
    for b in DEMO_BRANDS:
        assert b["aliases"] and 1 <= len(b["competitors"]) <= 2
        assert all(c["aliases"] for c in b["competitors"])


def test_tiny_worlds_still_generate(tmp_path: Path) -> None:
    counts = generate_world(3, 5, tmp_path)
    assert counts["creators"] == 3 and counts["notes"] > 0
    with pytest.raises(ValueError):
        generate_world(0, 5, tmp_path)


def test_benchmark_runs_each_size_in_a_subprocess(tmp_path: Path) -> None:
    (result,) = benchmark_demo([20], seed=3, workdir=tmp_path)
    assert result["creators"] == 20 and result["seconds"] > 0 and result["peak_rss_mb"] > 50
    assert result["rows"]["creators"] == 20
    assert not (tmp_path / "demo_20").exists()
