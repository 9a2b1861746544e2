"""Partner monitoring: each detector fires on a planted change and stays quiet without one;
waves are graded and classified; alerts are delivered to a webhook / command, or not at all."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from kol_vetting.alerts_delivery import DeliveryConfig, deliver, url_problem
from kol_vetting.monitor import (
    CONTENT_KINDS,
    PARTNER_ALERTS_SCHEMA,
    MonitorConfig,
    alerts_markdown,
    detect_changes,
)

AS_OF = dt.datetime(2026, 11, 25, 12, 0)
SINCE = AS_OF - dt.timedelta(days=1)
BRANDS = {"岚汐": ["LANXI", "岚汐护肤"], "咔滋熊": ["KAZI BEAR"]}

# c1: active partner of 岚汐 (250k followers); c2: paused partner of 岚汐; c3: active partner of
# 咔滋熊; c4: another creator (a critic, 300k followers); c5: active partner of 岚汐.
CREATORS = pl.DataFrame(
    {
        "creator_id": ["c1", "c2", "c3", "c4", "c5"],
        "display_name": ["小鹿姐姐", "阿宁", "零食王", "吐槽君", "桃子酱"],
        "handle": ["deer01", "ning02", "snack03", "critic04", "peach05"],
        "follower_count": [250_000, 80_000, 30_000, 300_000, 12_000],
        "captured_at": [AS_OF] * 5,
    }
)
PARTNERS = pl.DataFrame(
    {
        "creator_id": ["c1", "c2", "c3", "c5"],
        "brand": ["岚汐", "岚汐", "咔滋熊", "岚汐"],
        "contract_start": [dt.date(2026, 6, 1)] * 4,
        "contract_end": [None] * 4,
        "status": ["active", "paused", "active", "active"],
    },
    schema_overrides={"contract_end": pl.Date},
)


def _notes(rows: list[dict]) -> pl.DataFrame:
    base = {"title": "", "body": "", "likes": 100, "collects": 10, "comments": 5, "platform_sponsor_label": None}
    return pl.DataFrame(
        [{**base, **r} for r in rows],
        schema={
            "note_id": pl.String, "creator_id": pl.String, "published_at": pl.Datetime("us"), "title": pl.String,
            "body": pl.String, "likes": pl.Int64, "collects": pl.Int64, "comments": pl.Int64,
            "platform_sponsor_label": pl.Boolean,
        },
    )


def _comments(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "comment_id": pl.String, "note_id": pl.String, "commenter_id": pl.String, "commenter_name": pl.String,
            "created_at": pl.Datetime("us"), "text": pl.String, "likes": pl.Int64,
        },
    )


def run(**kw) -> pl.DataFrame:
    args = {
        "previous": None,
        "current": pl.DataFrame(),
        "partners": PARTNERS,
        "signals": {},
        "notes": None,
        "comments": None,
        "follower_history": None,
        "creators": CREATORS,
        "brand_names": BRANDS,
        "since": SINCE,
        "as_of": AS_OF,
    }
    args.update(kw)
    out = detect_changes(**args)
    assert out.schema == PARTNER_ALERTS_SCHEMA
    return out


def kinds(alerts: pl.DataFrame) -> set[tuple[str, str]]:
    return set(zip(alerts["creator_id"], alerts["kind"], strict=True))


# --------------------------------------------------------------------------------------------
# Config


def test_yaml_defaults_equal_code_defaults():
    assert MonitorConfig.from_yaml() == MonitorConfig()
    # Same default-nickname pattern as the follower classifier (read as text: importing that
    # module pulls in scikit-learn, seconds this fast test does not need).
    followers_src = (Path(__file__).resolve().parents[1] / "kol_vetting/signals/followers.py").read_text(encoding="utf-8")
    assert f'DEFAULT_NICKNAME_PATTERN = r"{MonitorConfig().classify.default_nickname_pattern}"' in followers_src


def test_yaml_unknown_key_is_an_error(tmp_path: Path):
    p = tmp_path / "m.yaml"
    p.write_text("scores:\n  pointz: 3\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        MonitorConfig.from_yaml(p)
    p.write_text("scores:\n  points: 3\n", encoding="utf-8")
    assert MonitorConfig.from_yaml(p).scores.points == 3


# --------------------------------------------------------------------------------------------
# Score, grade, controversy, disclosure, followers, fake share, competitor


def _snapshot(rows: list[tuple[str, float, str, str, list[str]]], at: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "brief": ["lanxi"] * len(rows),
            "creator_id": [r[0] for r in rows],
            "overall_risk": [r[1] for r in rows],
            "controversy_risk": [r[1] for r in rows],
            "authenticity_risk": [10.0] * len(rows),
            "grade": [r[2] for r in rows],
            "decision": [r[3] for r in rows],
            "evidence_ids": [r[4] for r in rows],
            "snapshot_at": [at] * len(rows),
        }
    )


def test_score_and_grade_moves_follow_config():
    prev = _snapshot([("c1", 20.0, "B", "approve", ["n0"]), ("c2", 20.0, "B", "approve", []),
                      ("c5", 20.0, "B", "approve", [])], SINCE)
    cur = _snapshot([("c1", 48.0, "D", "manual_review", ["n0", "n9"]), ("c2", 70.0, "F", "reject", []),
                     ("c5", 24.0, "B", "approve", [])], AS_OF)
    out = run(previous=prev, current=cur, brief_brands={"lanxi": "岚汐"})
    assert kinds(out) == {("c1", "score_move"), ("c1", "grade_drop")}  # c2 is paused, c5 moved little
    move = out.filter(pl.col("kind") == "score_move").row(0, named=True)
    assert move["severity"] == "high" and move["response_hours"] == 4 and move["response_window"] == "within 4 hours"
    assert move["evidence_ids"] == ["n9"] and "20.0" in move["summary"] and "48.0" in move["summary"]
    assert "controversy" in move["summary"]
    # Thresholds come from the config: a bigger score threshold silences the move.
    cfg = MonitorConfig.model_validate({"scores": {"points": 40, "high_points": 60}, "grades": {"drop_steps": 3}})
    assert run(previous=prev, current=cur, brief_brands={"lanxi": "岚汐"}, config=cfg).is_empty()
    # First run: nothing to compare.
    assert run(previous=None, current=cur).is_empty()


def test_new_controversy_only_since_and_only_active():
    flags = pl.DataFrame(
        {
            "creator_id": ["c1", "c3", "c2", "c5"],
            "flag_id": ["f1", "f2", "f3", "f4"],
            "category": ["scandal", "product_harm", "scandal", "backlash"],
            "kind": ["note"] * 4,
            "severity": [85.0, 90.0, 90.0, 45.0],
            "date": [AS_OF - dt.timedelta(hours=3), SINCE - dt.timedelta(days=5), AS_OF - dt.timedelta(hours=2),
                     AS_OF - dt.timedelta(hours=1)],
            "evidence_ids": [["n1", "cm1"], ["n2"], ["n3"], ["n4"]],
            "description": ["Apology note after a plagiarism call-out", "old", "paused", "some backlash"],
        }
    )
    out = run(signals={"controversy_flags": flags})
    assert kinds(out) == {("c1", "new_controversy"), ("c5", "new_controversy")}
    sev = dict(zip(out["creator_id"], out["severity"], strict=True))
    assert sev == {"c1": "high", "c5": "significant"}
    c1 = out.filter(pl.col("creator_id") == "c1").row(0, named=True)
    assert {"n1", "cm1"} <= set(c1["evidence_ids"]) and c1["brand"] == "岚汐"
    # Word severities are understood too.
    words = flags.with_columns(severity=pl.Series(["minor", "high", "high", "low"]))
    assert set(run(signals={"controversy_flags": words})["severity"]) == {"minor"}
    assert run(signals={"controversy_flags": None}).is_empty()


def test_new_undisclosed_ad_grades_own_brand_higher():
    audit = pl.DataFrame(
        {
            "note_id": ["n1", "n2", "n3", "n4", "n5"],
            "creator_id": ["c1", "c3", "c1", "c1", "c2"],
            "published_at": [AS_OF - dt.timedelta(hours=5), AS_OF - dt.timedelta(hours=4),
                             AS_OF - dt.timedelta(hours=3), SINCE - dt.timedelta(days=2), AS_OF - dt.timedelta(hours=1)],
            "sponsored": [True, True, True, True, True],
            "sponsored_probability": [0.95, 0.9, 0.99, 0.9, 0.9],
            "disclosure": ["none", "ambiguous", "platform_label", "none", "none"],
            "compliant": [False, False, True, False, False],
            "brand_mentions": [["LANXI"], ["其他牌"], ["岚汐"], ["岚汐"], ["岚汐"]],
        }
    )
    out = run(signals={"disclosure_audit": audit})
    assert kinds(out) == {("c1", "new_undisclosed_ad"), ("c3", "new_undisclosed_ad")}
    sev = dict(zip(out["creator_id"], out["severity"], strict=True))
    assert sev == {"c1": "high", "c3": "minor"}
    c1 = out.filter(pl.col("creator_id") == "c1").row(0, named=True)
    assert c1["evidence_ids"] == ["n1"] and "n1" in c1["recommended_action"]
    minor = out.filter(pl.col("creator_id") == "c3").row(0, named=True)
    assert minor["response_window"] == "none" and minor["response_hours"] is None


def _history(creator: str, counts: list[int]) -> pl.DataFrame:
    end = AS_OF.date()
    days = [end - dt.timedelta(days=len(counts) - 1 - i) for i in range(len(counts))]
    return pl.DataFrame({"creator_id": [creator] * len(counts), "date": days, "follower_count": counts})


def test_follower_jump_new_and_unexplained_only():
    hist = pl.concat(
        [
            _history("c1", [100_000] * 8 + [125_000, 126_000]),  # +25% yesterday-today: bought
            _history("c3", [30_000] * 8 + [40_000, 40_100]),  # jump explained by a viral note
            _history("c5", [12_000, 12_010, 12_030, 12_050, 12_060, 12_080, 12_090, 12_100, 12_120, 12_130]),
            _history("c2", [80_000] * 8 + [120_000, 120_000]),  # paused partner
        ]
    )
    viral = _notes([{"note_id": "v1", "creator_id": "c3", "published_at": AS_OF - dt.timedelta(days=2),
                     "likes": 60_000, "collects": 9_000, "comments": 1_000}])
    out = run(follower_history=hist, notes=viral)
    assert kinds(out) == {("c1", "follower_jump")}
    row = out.row(0, named=True)
    assert row["severity"] == "significant" and "from 100,000 to 126,000" in row["summary"]
    # Without the viral note the c3 jump is unexplained.
    assert ("c3", "follower_jump") in kinds(run(follower_history=hist, notes=None))
    # An old jump (before `since`) is not new.
    old = _history("c1", [100_000] * 4 + [130_000] * 6)
    assert run(follower_history=old).is_empty()


def test_fake_share_rise_needs_a_real_rise():
    cur = pl.DataFrame({"creator_id": ["c1", "c3", "c5"], "fake_share": [0.32, 0.13, 0.20],
                        "fake_share_low": [0.26, 0.07, 0.17], "sample_size": [300, 300, 300]})
    prev = pl.DataFrame({"creator_id": ["c1", "c3", "c5"], "fake_share": [0.10, 0.10, 0.20]})
    out = run(signals={"authenticity_scores": cur}, previous_signals={"authenticity_scores": prev})
    assert kinds(out) == {("c1", "fake_share_rise")}
    assert out["severity"][0] == "high" and "10.0%" in out["summary"][0] and "32.0%" in out["summary"][0]
    assert run(signals={"authenticity_scores": cur}).is_empty()  # nothing to compare with


def test_competitor_deal_new_sponsored_notes_only():
    assoc = pl.DataFrame(
        {
            "creator_id": ["c1", "c1", "c5", "c5"],
            "brief": ["lanxi"] * 4,
            "brand": ["岚汐", "霁颜", "岚汐", "霁颜"],
            "relation": ["own_brand", "competitor", "own_brand", "competitor"],
            "first_seen": [SINCE] * 4,
            "last_seen": [AS_OF] * 4,
            "sponsored_notes": [2, 1, 1, 1],
            "note_ids": [["p1"], ["x1"], ["p5"], ["x5"]],
        }
    )
    notes = _notes([
        {"note_id": "x1", "creator_id": "c1", "published_at": AS_OF - dt.timedelta(hours=6),
         "title": "霁颜焕亮精华 #广告", "platform_sponsor_label": True},
        {"note_id": "x5", "creator_id": "c5", "published_at": SINCE - dt.timedelta(days=40),
         "title": "霁颜屏障面霜 #合作", "platform_sponsor_label": True},
    ])
    out = run(signals={"brand_associations": assoc}, notes=notes)
    assert kinds(out) == {("c1", "competitor_deal")}
    row = out.row(0, named=True)
    assert row["evidence_ids"] == ["x1"] and "霁颜" in row["summary"] and row["brand"] == "岚汐"


# --------------------------------------------------------------------------------------------
# Negative waves under the brand's sponsored notes


BRAND_NOTE = {"note_id": "p1", "creator_id": "c1", "published_at": AS_OF - dt.timedelta(days=10),
              "title": "岚汐水光精华真实测评", "body": "品牌合作 #广告", "platform_sponsor_label": True}
PAUSED_NOTE = {"note_id": "p2", "creator_id": "c2", "published_at": AS_OF - dt.timedelta(days=10),
               "title": "LANXI 精华", "body": "#广告", "platform_sponsor_label": True}


def _baseline(note_id: str, n: int = 14) -> list[dict]:
    """Ordinary comments over the week before `since`, from known fans."""
    t0 = SINCE - dt.timedelta(days=7)
    return [
        {"comment_id": f"{note_id}-b{i}", "note_id": note_id, "commenter_id": f"fan{i}", "commenter_name": f"粉丝{i}",
         "created_at": t0 + dt.timedelta(hours=12 * i), "text": "好好看[赞R]", "likes": 1}
        for i in range(n)
    ]


def _coordinated(note_id: str, n: int = 40, minutes: float = 1.5) -> list[dict]:
    """Templated attacks (small word swaps) from never-seen default-named accounts, one every
    ``minutes`` (40 in one hour by default)."""
    start = AS_OF - dt.timedelta(minutes=minutes * n + 60)
    heads = ["避雷！", "大家避雷，", "避雷避雷"]
    middles = ["岚汐这个精华就是智商税", "岚汐这个精华纯纯智商税"]
    tails = ["，千万别买", "，大家千万别买！", "，千万别买了[哭惹R]"]
    return [
        {"comment_id": f"{note_id}-x{i}", "note_id": note_id, "commenter_id": f"bot{note_id}{i}",
         "commenter_name": f"小红薯{0xA00000 + i:06X}", "created_at": start + dt.timedelta(minutes=minutes * i),
         "text": heads[i % 3] + middles[(i // 3) % 2] + tails[(i // 6) % 3], "likes": i % 2}
        for i in range(n)
    ]


GENUINE = [
    "用了三天脸上过敏起了一片红疹子，已经停用了",
    "敏感肌千万别试，我涂完两颊红肿刺痛了一整晚",
    "第二瓶开始爆痘，额头下巴全是闭口，太失望了",
    "客服只会让我拍照，过敏的医药费谁出？要求退款",
    "买给妈妈用的，她说有刺痛感还脱皮，退货了",
    "这个精华我用完烂脸了，皮肤科医生说是成分刺激",
    "闷痘严重，用了一周鼻翼长满小疙瘩，不推荐",
    "包装写着温和无刺激，结果我一上脸就泛红发痒",
    "被种草买的，用到第四天开始起疹子，后悔死了",
    "质量问题吧？这批次味道很冲，擦完脸烫还疼",
    "我和室友都过敏了，同一批货，已经投诉到平台",
    "博主说适合敏感肌，我就是敏感肌，现在满脸红肿",
    "上脸就辣，洗掉以后还起了小红点，申请退款中",
    "连续用了五天，脸颊脱皮严重，化妆都卡粉",
    "看了测评下单，结果副作用这么大，谁来负责",
]


def _genuine(note_id: str) -> list[dict]:
    """Varied first-hand complaints from different accounts, some of them known fans."""
    start = AS_OF - dt.timedelta(hours=3)
    return [
        {"comment_id": f"{note_id}-g{i}", "note_id": note_id,
         "commenter_id": f"fan{i}" if i % 2 else f"buyer{i}", "commenter_name": f"用户昵称{i}",
         "created_at": start + dt.timedelta(minutes=4 * i), "text": text, "likes": 8 + 3 * i}
        for i, text in enumerate(GENUINE)
    ]


def _wave_alerts(out: pl.DataFrame) -> pl.DataFrame:
    return out.filter(pl.col("kind") == "negative_wave_on_brand_note")


def test_coordinated_campaign_is_classified_coordinated():
    notes = _notes([BRAND_NOTE])
    comments = _comments(_baseline("p1") + _coordinated("p1"))
    out = _wave_alerts(run(notes=notes, comments=comments))
    assert out.height == 1
    row = out.row(0, named=True)
    assert row["content_kind"] == "coordinated_inauthentic"
    assert row["creator_id"] == "c1" and row["brand"] == "岚汐" and "p1" in row["evidence_ids"]
    assert "Report the accounts" in row["recommended_action"] and "pause paid amplification" in row["recommended_action"]
    assert "40 negative comments" in row["summary"]
    # Bots get no likes from real users: with 250k creator followers it is significant, not high.
    assert row["severity"] == "significant" and row["response_window"] == "within 24 hours"


def test_varied_genuine_complaints_are_genuine():
    notes = _notes([BRAND_NOTE])
    comments = _comments(_baseline("p1") + _genuine("p1"))
    out = _wave_alerts(run(notes=notes, comments=comments))
    assert out.height == 1
    row = out.row(0, named=True)
    assert row["content_kind"] == "genuine_complaint"
    assert row["recommended_action"].startswith("Pause paid amplification behind note p1")
    # Many users agree (likes) and the note is far above its usual comment rate: respond within hours.
    assert row["severity"] == "high" and row["response_hours"] == 4
    # Reach thresholds come from the config.
    cfg = MonitorConfig.model_validate(
        {"wave": {"high": {"agree_likes": 10_000, "velocity_ratio": 1_000, "creator_followers": 10**9, "comments": 10**6},
                  "significant": {"agree_likes": 10_000, "velocity_ratio": 1_000, "creator_followers": 10**9, "comments": 10**6}},
         "response": {"high_hours": 2}}
    )
    assert _wave_alerts(run(notes=notes, comments=comments, config=cfg))["severity"].to_list() == ["minor"]
    cfg2 = MonitorConfig.model_validate({"response": {"high_hours": 2}})
    assert _wave_alerts(run(notes=notes, comments=comments, config=cfg2))["response_window"].to_list() == ["within 2 hours"]


def test_templated_text_alone_is_not_coordinated():
    # The same template, but spread over 12 hours: the short-window trait is missing.
    notes = _notes([BRAND_NOTE])
    out = _wave_alerts(run(notes=notes, comments=_comments(_baseline("p1") + _coordinated("p1", minutes=18))))
    assert out.height == 1 and out["content_kind"][0] != "coordinated_inauthentic"
    # Tighter config (a 24-hour window counts as short) turns it into a campaign.
    cfg = MonitorConfig.model_validate({"classify": {"coordinated_window_hours": 24}})
    out = _wave_alerts(run(notes=notes, comments=_comments(_baseline("p1") + _coordinated("p1", minutes=18)), config=cfg))
    assert out["content_kind"].to_list() == ["coordinated_inauthentic"]


TREND = [
    "抵制岚汐，吃相太难看了", "脱粉了，再也不买岚汐", "这个牌子最近风评好差，拔草", "岚汐的客服态度恶心，差评",
    "看到热搜了，岚汐真让人失望", "取关了，恰烂钱的品牌", "劝退劝退，岚汐不值得", "品牌公关太差劲，粉转黑",
    "这波操作真的吃相难看", "热搜上的事岚汐必须给个说法，抵制",
]


def test_platform_trend_across_the_brands_notes():
    other_notes = [
        {**BRAND_NOTE, "note_id": "p5", "creator_id": "c5"},
        {**BRAND_NOTE, "note_id": "p2", "creator_id": "c2"},
    ]
    notes = _notes([BRAND_NOTE, *other_notes])
    start = AS_OF - dt.timedelta(hours=8)
    rows = [
        {"comment_id": f"{nid}-t{i}", "note_id": nid, "commenter_id": f"fan{i}", "commenter_name": f"路人{i}",
         "created_at": start + dt.timedelta(minutes=25 * i + k), "text": text, "likes": 3}
        for k, nid in enumerate(["p1", "p5", "p2"])
        for i, text in enumerate(TREND)
    ]
    out = _wave_alerts(run(notes=notes, comments=_comments(_baseline("p1") + rows)))
    # c1 and c5 are active partners of the brand; c2 (paused) gets no alert but its note counts.
    assert dict(zip(out["creator_id"], out["content_kind"], strict=True)) == {"c1": "trend", "c5": "trend"}
    # The same comments under a single note are not a trend.
    solo = [r for r in rows if r["note_id"] == "p1"]
    assert _wave_alerts(run(notes=notes, comments=_comments(_baseline("p1") + solo)))["content_kind"].to_list() == [
        "genuine_complaint"
    ]


def test_no_wave_without_negative_burst_and_none_for_paused_partner():
    notes = _notes([BRAND_NOTE, PAUSED_NOTE])
    calm = [
        {"comment_id": f"ok{i}", "note_id": "p1", "commenter_id": f"u{i}", "commenter_name": None,
         "created_at": AS_OF - dt.timedelta(hours=5) + dt.timedelta(minutes=5 * i), "text": t, "likes": 3}
        for i, t in enumerate(["好好看[赞R]", "求链接", "已入手，很好用", "质地很水润", "回购第三瓶了"] * 4)
    ]
    few_bad = _genuine("p1")[:3]
    out = run(notes=notes, comments=_comments(_baseline("p1") + calm + few_bad + _coordinated("p2")))
    assert _wave_alerts(out).is_empty()


def test_kol_backlash_note_and_wave_classified_kol_backlash():
    notes = _notes([
        BRAND_NOTE,
        {"note_id": "k1", "creator_id": "c4", "published_at": AS_OF - dt.timedelta(hours=5),
         "title": "避雷小鹿姐姐推荐的精华", "body": "@小鹿姐姐 收钱乱推，我用了烂脸，大家别被骗了", "likes": 4_000},
    ])
    out = run(notes=notes, comments=_comments(_baseline("p1") + _genuine("p1")))
    note_alert = out.filter(pl.col("kind") == "kol_backlash_note").row(0, named=True)
    assert note_alert["creator_id"] == "c1" and note_alert["evidence_ids"] == ["k1"]
    assert note_alert["content_kind"] == "kol_backlash" and note_alert["severity"] == "high"
    assert "300,000" in note_alert["summary"]
    wave = _wave_alerts(out).row(0, named=True)
    assert wave["content_kind"] == "kol_backlash" and "k1" in wave["evidence_ids"]


def test_misinformation_wave():
    rumours = [
        "听说岚汐这个精华含激素，用久了会激素脸，大家小心",
        "网传这批货重金属超标，别用了，避雷",
        "据说岚汐被查了，里面有荧光剂？怕了怕了",
        "有人说这个含汞，姐妹们别买了",
        "听说用了会烂脸，还有依赖性，是真的吗太可怕",
        "都在传岚汐含激素，难怪见效这么快，避雷",
        "网传有荧光剂，转发扩散让更多人知道",
        "据说被罚过款，这种牌子还敢推？避雷",
        "听说孕妇用了出问题，谣言还是真的？吓死",
        "有人说过量使用会激素脸，博主怎么不提醒，避雷",
    ]
    start = AS_OF - dt.timedelta(hours=6)
    rows = [
        {"comment_id": f"r{i}", "note_id": "p1", "commenter_id": f"fan{i}", "commenter_name": f"网友{i}",
         "created_at": start + dt.timedelta(minutes=20 * i), "text": t, "likes": 5}
        for i, t in enumerate(rumours)
    ]
    out = _wave_alerts(run(notes=_notes([BRAND_NOTE]), comments=_comments(_baseline("p1") + rows)))
    assert out["content_kind"].to_list() == ["misuse_or_misinformation"]
    assert set(out["content_kind"]) <= set(CONTENT_KINDS)


def test_alert_ids_are_stable_and_markdown_renders():
    notes = _notes([BRAND_NOTE])
    comments = _comments(_baseline("p1") + _coordinated("p1"))
    a, b = run(notes=notes, comments=comments), run(notes=notes, comments=comments)
    assert a["alert_id"].to_list() == b["alert_id"].to_list() and a["alert_id"].n_unique() == a.height
    md = alerts_markdown(a)
    assert "| severity |" in md and "p1" in md and "小鹿姐姐" in md
    assert "No alerts" in alerts_markdown(run())


def test_demo_world_alerts_only_active_partners_and_find_the_planted_step(small_world: Path):
    import yaml

    t = {n: pl.read_parquet(small_world / f"{n}.parquet")
         for n in ("notes", "comments", "partners", "follower_history", "creators", "ground_truth")}
    brands = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "kol_vetting/sources/demo_data/brands.yaml").read_text(encoding="utf-8")
    )["demo_brands"]
    as_of = t["comments"]["created_at"].max()
    since = as_of - dt.timedelta(days=30)
    out = detect_changes(
        None, pl.DataFrame(), partners=t["partners"], signals={}, notes=t["notes"], comments=t["comments"],
        follower_history=t["follower_history"], creators=t["creators"],
        brand_names={b["brand"]: b["aliases"] for b in brands}, since=since, as_of=as_of,
    )
    active = t["partners"].filter(pl.col("status") == "active").select("creator_id", "brand")
    assert out.select("creator_id", "brand").join(active, on=["creator_id", "brand"], how="anti").is_empty()
    gt = t["ground_truth"].join(active, on="creator_id")
    steps = gt.filter((pl.col("kind") == "bought_followers_step") & (pl.col("end") >= since))["creator_id"].to_list()
    jumps = out.filter(pl.col("kind") == "follower_jump")["creator_id"].to_list()
    assert set(steps) <= set(jumps)
    # No follower-jump alert on a creator without a planted anomaly (honest viral jumps included).
    anomalous = set(t["ground_truth"].filter(pl.col("is_anomaly"))["creator_id"])
    assert set(jumps) <= anomalous


# --------------------------------------------------------------------------------------------
# Delivery


def _sample_alerts() -> pl.DataFrame:
    return run(notes=_notes([BRAND_NOTE]), comments=_comments(_baseline("p1") + _genuine("p1")),
               signals={"disclosure_audit": pl.DataFrame({
                   "note_id": ["n2"], "creator_id": ["c3"], "published_at": [AS_OF - dt.timedelta(hours=1)],
                   "sponsored": [True], "disclosure": ["ambiguous"], "compliant": [False], "brand_mentions": [["别家"]]})})


class _Receiver:
    """A local HTTP server that records POSTed JSON and answers with queued status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.bodies: list[dict] = []
        self.statuses = list(statuses or [])
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = rec.statuses.pop(0) if rec.statuses else 200
                if status == 200:
                    rec.bodies.append(json.loads(body.decode("utf-8")))
                self.send_response(status)
                if 300 <= status < 400:  # a hostile redirect: must not be followed
                    self.send_header("Location", "file:///etc/passwd")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Receiver:  # noqa: PYI034
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_delivery_off_by_default_sends_nothing():
    cfg = DeliveryConfig()
    assert not cfg.enabled
    report = deliver(_sample_alerts(), cfg)
    assert report.results == [] and report.sent_alert_ids == [] and "off" in report.summary()


def test_webhook_delivery_to_local_receiver_with_severity_filter_and_retry():
    alerts = _sample_alerts()
    assert {"high", "minor"} <= set(alerts["severity"])
    with _Receiver(statuses=[503]) as rx:
        cfg = DeliveryConfig(webhook_url=rx.url, min_severity="significant", retries=2, backoff_seconds=0, timeout_seconds=5)
        report = deliver(alerts, cfg)
    assert report.ok and report.results[0].attempts == 2  # one 503, then delivered
    assert len(rx.bodies) == 1
    sent = rx.bodies[0]["alerts"]
    assert {a["severity"] for a in sent} <= {"high", "significant"}
    assert {a["alert_id"] for a in sent} == set(report.sent_alert_ids)
    assert rx.bodies[0]["alert_count"] == len(sent) == report.selected
    assert "secret" not in report.summary()  # the URL's query string may hold a token
    # Already-sent alerts are not sent again.
    with _Receiver() as rx2:
        again = deliver(alerts, cfg.model_copy(update={"webhook_url": rx2.url}), already_sent=report.sent_alert_ids)
    assert again.selected == 0 and again.results == [] and rx2.bodies == []


def test_webhook_failure_is_reported_not_raised():
    with _Receiver(statuses=[500, 500, 500]) as rx:
        cfg = DeliveryConfig(webhook_url=rx.url, retries=2, backoff_seconds=0.0, timeout_seconds=5)
        report = deliver(_sample_alerts(), cfg)
    assert not report.ok and report.results[0].attempts == 3 and report.results[0].status == 500
    # Client errors are not retried; an unreachable host fails cleanly.
    with _Receiver(statuses=[404]) as rx:
        r404 = deliver(_sample_alerts(), DeliveryConfig(webhook_url=rx.url, retries=3, backoff_seconds=0))
    assert r404.results[0].attempts == 1 and r404.results[0].error == "HTTP 404"
    with _Receiver(statuses=[302]) as rx:
        r302 = deliver(_sample_alerts(), DeliveryConfig(webhook_url=rx.url, retries=3, backoff_seconds=0))
    assert not r302.ok and r302.results[0].attempts == 1 and r302.results[0].status == 302
    dead = DeliveryConfig(webhook_url="http://127.0.0.1:9/x", retries=1, backoff_seconds=0, timeout_seconds=2)
    assert not deliver(_sample_alerts(), dead).ok


def test_command_delivery_reads_json_on_stdin(tmp_path: Path):
    out = tmp_path / "mail.json"
    argv = [sys.executable, "-c", f"import sys; open({str(out)!r},'w',encoding='utf-8').write(sys.stdin.read())"]
    report = deliver(_sample_alerts(), DeliveryConfig(email_command=argv, min_severity="minor"))
    assert report.ok, report.summary()
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["alert_count"] == report.selected == _sample_alerts().height
    # The argv is passed as is, never through a shell.
    argv_out = tmp_path / "argv.txt"
    literal = "$(touch pwned); echo x | cat"
    code = f"import sys; open({str(argv_out)!r},'w',encoding='utf-8').write(sys.argv[1])"
    assert deliver(_sample_alerts(), DeliveryConfig(email_command=[sys.executable, "-c", code, literal])).ok
    assert argv_out.read_text(encoding="utf-8") == literal and not (Path.cwd() / "pwned").exists()
    failing = deliver(_sample_alerts(), DeliveryConfig(email_command=[sys.executable, "-c", "import sys; sys.exit(3)"]))
    assert not failing.ok and failing.results[0].status == 3


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "ftp://example.com/x", "http://", "/tmp/x"])
def test_bad_webhook_urls_are_refused(url: str):
    assert url_problem(url)
    with pytest.raises(ValidationError):
        DeliveryConfig(webhook_url=url)
    # Even a config built without validation never opens it.
    report = deliver(_sample_alerts(), DeliveryConfig.model_construct(webhook_url=url, email_command=None,
                                                                    min_severity="minor", timeout_seconds=1.0,
                                                                    retries=0, backoff_seconds=0.0, send_empty=False))
    assert not report.ok and report.results[0].attempts == 0


def test_delivery_config_from_env():
    cfg = DeliveryConfig.from_env({"KOL_ALERTS_WEBHOOK_URL": "https://hooks.example.com/a",
                                   "KOL_ALERTS_EMAIL_COMMAND": "/usr/bin/mail-alerts 'ops team'",
                                   "KOL_ALERTS_MIN_SEVERITY": "HIGH"})
    assert cfg.enabled and cfg.email_command == ["/usr/bin/mail-alerts", "ops team"] and cfg.min_severity == "high"
    assert not DeliveryConfig.from_env({}).enabled
