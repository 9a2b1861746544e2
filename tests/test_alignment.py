"""Brand alignment signal: schema, competitor conflicts, topic fit, banned topics, advocacy,
audience response to ads, empty inputs. One 200-creator demo world per module plus tiny
hand-written frames."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from kol_vetting.brief import load_brief
from kol_vetting.schema import SIGNAL_SCORE_SCHEMA, polars_schema
from kol_vetting.signals.alignment import (
    ALIGNMENT_SCHEMA,
    BRAND_ASSOCIATIONS_SCHEMA,
    AlignmentParams,
    score_alignment,
)
from kol_vetting.signals.evaluate_alignment import competitor_truth

ROOT = Path(__file__).resolve().parents[1]
BRIEFS = ("lanxi-spring", "kazi-bear-snacks", "sonisle-audio")
AS_OF = datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, pl.DataFrame]:
    from kol_vetting.sources.demo import generate_world

    out = tmp_path_factory.mktemp("align_world")
    generate_world(200, 3, out, as_of=AS_OF)
    return {
        t: pl.read_parquet(out / f"{t}.parquet")
        for t in ("creators", "notes", "comments", "ground_truth")
    }


@pytest.fixture(scope="module")
def scored(world) -> dict[str, dict[str, pl.DataFrame]]:
    return {
        name: score_alignment(
            load_brief(ROOT / "briefs" / f"{name}.yaml"),
            world["creators"],
            world["notes"],
            world["comments"],
            as_of=AS_OF,
        )
        for name in BRIEFS
    }


def _stub_model(texts: pl.Series) -> pl.Series:
    """Deterministic stand-in for the sentiment model: complaint words are negative."""
    neg = texts.fill_null("").str.contains("避雷|过敏|烂脸|取关|恰烂饭|难用")
    return pl.Series(texts.name, [0.95 if x else 0.1 for x in neg.to_list()], dtype=pl.Float64)


def _frames(
    notes: list[dict], comments: list[dict] | None = None, creators: list[dict] | None = None
):
    """Contract-shaped frames from a few hand-written rows (missing optional columns null)."""

    def frame(rows: list[dict], table: str) -> pl.DataFrame:
        schema = polars_schema(table)
        full = [{c: r.get(c) for c in schema} for r in rows]
        return pl.DataFrame(full, schema=schema, orient="row")

    creators = creators or [
        {"creator_id": "c_a", "category": "beauty", "captured_at": AS_OF},
        {"creator_id": "c_b", "category": "beauty", "captured_at": AS_OF},
    ]
    return frame(creators, "creators"), frame(notes, "notes"), frame(comments or [], "comments")


def _note(nid: str, cid: str, days_ago: float, title: str, body: str = "", **kw) -> dict:
    return {
        "note_id": nid,
        "creator_id": cid,
        "published_at": AS_OF - timedelta(days=days_ago),
        "title": title,
        "body": body,
        "likes": kw.pop("likes", 100),
        "collects": kw.pop("collects", 20),
        "comments": kw.pop("comments", 5),
        **kw,
    }


# ------------------------------------------------------------------------------ demo world


def test_schema_and_one_row_per_creator_per_brief(world, scored):
    creators = set(world["creators"]["creator_id"])
    for name, out in scored.items():
        s = out["alignment_scores"]
        assert list(s.columns[: len(SIGNAL_SCORE_SCHEMA)]) == list(SIGNAL_SCORE_SCHEMA)
        assert s.schema == ALIGNMENT_SCHEMA
        assert s.height == len(creators) and set(s["creator_id"]) == creators
        assert s["brief"].unique().to_list() == [name]
        done = s.filter("assessed")
        assert done.height > 0
        assert done["risk"].is_between(0, 100).all()
        assert done["confidence"].is_between(0, 1).all()
        assert (done["reasons"].list.len() > 0).all()
        a = out["brand_associations"]
        assert a.schema == BRAND_ASSOCIATIONS_SCHEMA
        assert set(a["relation"].unique()) <= {"own_brand", "competitor"}
        assert a.select((pl.col("sponsored_notes") <= pl.col("notes")).all()).item()
        assert a.select((pl.col("note_ids").list.len() == pl.col("notes")).all()).item()


def test_planted_competitor_paid_work_is_a_conflict_with_note_ids(world, scored):
    truth = competitor_truth(world["ground_truth"])
    checked = 0
    for name, out in scored.items():
        brief = load_brief(ROOT / "briefs" / f"{name}.yaml")
        t = truth.filter(pl.col("brand") == brief.brand)
        s = out["alignment_scores"]
        flagged = set(s.filter(pl.col("competitor_conflict").fill_null(False))["creator_id"])
        # nobody without a plant is flagged, every planted creator is
        assert flagged == set(t["creator_id"])
        for cid, competitor, note_ids in t.select(
            "creator_id", "competitor", "note_ids"
        ).iter_rows():
            row = s.filter(pl.col("creator_id") == cid).row(0, named=True)
            assert set(note_ids) <= set(row["competitor_note_ids"])
            assert set(note_ids) <= set(row["evidence_ids"])
            assert row["competitor_deals"] >= len(note_ids)
            assert competitor in row["competitor_brands"]
            assert row["last_competitor_deal"] is not None
            assert row["last_competitor_deal"].isoformat() in row["evidence_ids"]
            assert row["risk"] >= AlignmentParams().competitor_conflict_points
            assert any(competitor in r and "Paid work" in r for r in row["reasons"])
            checked += 1
    assert checked >= 2, "the fixture world should plant competitor work for the example briefs"


def test_in_category_creators_have_higher_topic_similarity(world, scored):
    for name, out in scored.items():
        category = load_brief(ROOT / "briefs" / f"{name}.yaml").category
        s = out["alignment_scores"].filter(pl.col("topic_similarity").is_not_null())
        inside = s.filter(pl.col("category") == category)["topic_similarity"]
        outside = s.filter(pl.col("category") != category)["topic_similarity"]
        assert inside.len() >= 5 and outside.len() >= 5
        assert inside.median() > 2 * outside.median(), name
        # most in-category creators beat the typical out-of-category one by a margin
        assert (inside > outside.quantile(0.9)).mean() > 0.8, name
        assert s.filter(pl.col("category") == category)["category_fit"].min() == 1.0


# ------------------------------------------------------------------------------ hand-written


def test_banned_topic_hit_found_with_evidence():
    brief = load_brief(ROOT / "briefs" / "lanxi-spring.yaml")  # banned: 医美, 整容, 减肥药, 代购
    creators, notes, comments = _frames(
        [
            _note(
                "n1", "c_a", 10, "水光针初体验", "第一次去做医 美，分享一下感受 #护肤"
            ),  # spacing trick
            _note("n2", "c_a", 20, "面霜测评", "这款面霜很保湿，敏感肌也能用"),
            _note("n3", "c_b", 5, "精华测评", "这款精华很温和，保湿修护都不错"),
        ]
    )
    s = score_alignment(brief, creators, notes, comments, as_of=AS_OF, sentiment_model=_stub_model)[
        "alignment_scores"
    ]
    a = s.filter(pl.col("creator_id") == "c_a").row(0, named=True)
    b = s.filter(pl.col("creator_id") == "c_b").row(0, named=True)
    assert a["banned_topic_hits"] == 1
    assert a["banned_terms"] == ["医美"]
    assert a["banned_note_ids"] == ["n1"] and "n1" in a["evidence_ids"]
    assert any("banned" in r and "医美" in r for r in a["reasons"])
    assert b["banned_topic_hits"] == 0
    assert a["risk"] > b["risk"]


def test_brand_advocacy_detected_on_organic_positive_mention():
    brief = load_brief(ROOT / "briefs" / "lanxi-spring.yaml")
    creators, notes, comments = _frames(
        [
            # c_a: praised the brand unprompted twice, then got a deal; a later unpaid mention
            # is no longer "before any deal"
            _note("a1", "c_a", 60, "空瓶记", "自费回购的岚汐修护面霜，真的好用，推荐 #护肤"),
            _note("a2", "c_a", 40, "护肤日常", "最近爱用 #LANXI 的防晒，很温和"),
            _note("a3", "c_a", 20, "合作", "感谢岚汐的邀请 #广告", platform_sponsor_label=True),
            _note("a4", "c_a", 5, "回购", "岚汐面霜又买了一瓶"),
            # c_b: a negative mention is criticism, not advocacy; LANXIANG is another word
            _note("b1", "c_b", 30, "避雷", "岚汐面霜用了过敏烂脸，避雷"),
            _note("b2", "c_b", 10, "旅行", "LANXIANG 小镇一日游"),
        ]
    )
    out = score_alignment(
        brief, creators, notes, comments, as_of=AS_OF, sentiment_model=_stub_model
    )
    s = out["alignment_scores"]
    a = s.filter(pl.col("creator_id") == "c_a").row(0, named=True)
    b = s.filter(pl.col("creator_id") == "c_b").row(0, named=True)
    assert a["brand_advocacy_notes"] == 2
    assert {"a1", "a2"} <= set(a["evidence_ids"]) and "a4" not in a["evidence_ids"]
    assert a["brand_mentions"] == 4 and a["brand_mentions_sponsored"] == 1
    assert any(
        r.startswith("Mentioned 岚汐 unprompted in 2 note(s) before any deal") for r in a["reasons"]
    )
    assert b["brand_advocacy_notes"] == 0 and b["brand_critical_notes"] == 1
    assert b["brand_mentions"] == 1  # LANXIANG did not match LANXI
    assert b["risk"] > a["risk"]
    assoc = out["brand_associations"].filter(pl.col("creator_id") == "c_a").row(0, named=True)
    assert assoc["brand"] == "岚汐" and assoc["relation"] == "own_brand"
    assert assoc["notes"] == 4 and assoc["sponsored_notes"] == 1 and assoc["disclosed_notes"] == 1
    assert assoc["note_ids"] == ["a1", "a2", "a3", "a4"]


def test_sponsorship_from_disclosure_audit_and_lookback_window():
    brief = load_brief(ROOT / "briefs" / "lanxi-spring.yaml")  # look-back 180 days
    creators, notes, comments = _frames(
        [
            # no label, no disclosure words: only the audit knows it was paid
            _note("x1", "c_a", 30, "霁颜焕亮精华", "用了一个月，分享一下 @霁颜实验室"),
            # paid and disclosed, but 300 days ago
            _note("y1", "c_b", 300, "蔻沫洁面", "蔻沫氨基酸洁面 #广告"),
            # a paid note for our brand that compares with a competitor is not competitor work
            _note("y2", "c_b", 10, "面霜对比", "岚汐面霜和霁颜面霜对比，#广告"),
        ]
    )
    kw = {"as_of": AS_OF, "sentiment_model": _stub_model}
    plain = score_alignment(brief, creators, notes, comments, **kw)["alignment_scores"]
    audit = pl.DataFrame(
        {
            "note_id": ["x1"],
            "sponsored": [True],
            "sponsored_probability": [0.9],
            "disclosure": ["none"],
        }
    )
    audited = score_alignment(brief, creators, notes, comments, disclosure_audit=audit, **kw)
    s = audited["alignment_scores"]

    def row(df: pl.DataFrame, cid: str) -> dict:
        return df.filter(pl.col("creator_id") == cid).row(0, named=True)

    assert row(plain, "c_a")["competitor_conflict"] is False
    assert row(plain, "c_a")["competitor_organic_notes"] == 1
    assert row(s, "c_a")["competitor_conflict"] is True
    assert row(s, "c_a")["competitor_note_ids"] == ["x1"]
    assoc = audited["brand_associations"].filter(pl.col("creator_id") == "c_a").row(0, named=True)
    assert (
        assoc["brand"] == "霁颜" and assoc["sponsored_notes"] == 1 and assoc["disclosed_notes"] == 0
    )
    old = row(s, "c_b")
    assert old["competitor_conflict"] is False and old["competitor_deals"] == 0
    assert old["brand_mentions_sponsored"] == 1
    assert any("outside the 180-day window" in r for r in old["reasons"])


def test_audience_response_to_ads():
    brief = load_brief(ROOT / "briefs" / "lanxi-spring.yaml")
    notes, comments = [], []
    for cid, ad_likes, ad_comment in (
        ("c_a", 60, "又恰烂饭，取关了"),
        ("c_b", 900, "这个广告我喜欢"),
    ):
        for i in range(8):
            notes.append(
                _note(
                    f"{cid}_o{i}",
                    cid,
                    5 + i,
                    "面霜",
                    "护肤日常 保湿",
                    likes=1000,
                    collects=0,
                    comments=0,
                )
            )
            for j in range(3):
                comments.append(
                    {
                        "comment_id": f"{cid}_oc{i}{j}",
                        "note_id": f"{cid}_o{i}",
                        "created_at": AS_OF,
                        "text": "好看",
                        "commenter_id": f"u{j}",
                    }
                )
        for i in range(4):
            notes.append(
                _note(
                    f"{cid}_s{i}",
                    cid,
                    6 + i,
                    "合作",
                    "精华 #广告",
                    likes=ad_likes,
                    collects=0,
                    comments=0,
                )
            )
            for j in range(4):
                comments.append(
                    {
                        "comment_id": f"{cid}_sc{i}{j}",
                        "note_id": f"{cid}_s{i}",
                        "created_at": AS_OF,
                        "text": ad_comment,
                        "commenter_id": f"u{j}",
                    }
                )
    creators, nt, cm = _frames(notes, comments)
    s = score_alignment(brief, creators, nt, cm, as_of=AS_OF, sentiment_model=_stub_model)[
        "alignment_scores"
    ]
    a = s.filter(pl.col("creator_id") == "c_a").row(0, named=True)
    b = s.filter(pl.col("creator_id") == "c_b").row(0, named=True)
    assert a["sponsored_engagement_ratio"] == pytest.approx(0.06)
    assert a["sponsored_negative_share"] == 1.0 and a["organic_negative_share"] == 0.0
    assert a["ads_rejected"] is True and b["ads_rejected"] is False
    assert b["ads_welcomed"] is True and a["ads_welcomed"] is False
    assert a["risk"] > b["risk"]
    assert any("Hostile comments under ads" in r for r in a["reasons"])


def test_empty_inputs_never_crash():
    brief = load_brief(ROOT / "briefs" / "kazi-bear-snacks.yaml")
    out = score_alignment(brief, pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), as_of=AS_OF)
    assert (
        out["alignment_scores"].schema == ALIGNMENT_SCHEMA and out["alignment_scores"].height == 0
    )
    assert out["brand_associations"].schema == BRAND_ASSOCIATIONS_SCHEMA

    creators, notes, comments = _frames([], [])
    s = score_alignment(brief, creators, notes, comments, as_of=AS_OF)["alignment_scores"]
    assert s.height == 2
    assert s["assessed"].to_list() == [False, False]
    assert s["risk"].is_null().all()
    assert s["reasons"].to_list() == [["Not assessed: no notes"]] * 2

    # notes but no comments, and a creator without a category: assessed, no crash
    creators, notes, comments = _frames(
        [_note("n1", "c_x", 3, "零食测评", "海苔脆很好吃")],
        creators=[{"creator_id": "c_x", "category": None, "captured_at": AS_OF}],
    )
    s = score_alignment(brief, creators, notes, comments, as_of=AS_OF)["alignment_scores"]
    assert s.row(0, named=True)["assessed"] is True
    assert s.row(0, named=True)["category_fit"] is None
    assert 0 <= s.row(0, named=True)["risk"] <= 100
