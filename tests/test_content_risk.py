"""Content-risk signals: controversy flags, sponsorship/disclosure audit, ad-law claims, and the
pre-publication text check. A small demo world (200 creators, seed 5) is generated once for the
module; hand-written cases pin the rules."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import polars as pl
import pytest

from kol_vetting.schema import SIGNAL_SCORE_SCHEMA
from kol_vetting.signals.check_text import MAX_TEXT_BYTES, check_texts, run_check_text
from kol_vetting.signals.claims import CLAIMS_SCHEMA, score_claims
from kol_vetting.signals.content_text import lexicon_hits, model_probability, with_text_views
from kol_vetting.signals.controversy import (
    CONTROVERSY_SCORES_SCHEMA,
    FLAGS_SCHEMA,
    detect_controversy,
)
from kol_vetting.signals.disclosure import (
    AUDIT_SCHEMA,
    DISCLOSURE_SCORES_SCHEMA,
    audit_disclosure,
    char_tfidf,
)
from kol_vetting.text.lexicons import match_terms
from kol_vetting.text.sentiment import load_sentiment_model

AS_OF = dt.datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, pl.DataFrame]:
    from kol_vetting.sources.demo import generate_world

    out = tmp_path_factory.mktemp("content_world")
    generate_world(200, 5, out)
    return {t: pl.read_parquet(out / f"{t}.parquet") for t in ("creators", "notes", "comments", "ground_truth")}


@pytest.fixture(scope="module")
def signals(world) -> dict[str, pl.DataFrame]:
    w = world
    out = detect_controversy(w["creators"], w["notes"], w["comments"], as_of=AS_OF)
    out.update(audit_disclosure(w["creators"], w["notes"], w["comments"], as_of=AS_OF))
    out["claims_scores"] = score_claims(out["disclosure_audit"], w["creators"], regulated_category="cosmetics",
                                        as_of=AS_OF, brief_name="test brief")
    return out


def _gt_ids(world, *kinds: str) -> set[str]:
    gt = world["ground_truth"].filter(pl.col("kind").is_in(list(kinds)))
    return set(gt["affected_ids"].explode().drop_nulls().to_list())


def _gt_creators(world, *kinds: str) -> set[str]:
    return set(world["ground_truth"].filter(pl.col("kind").is_in(list(kinds)))["creator_id"].to_list())


def _note(note_id: str, creator: str, body: str, *, title: str = "", label: bool | None = None,
          when: dt.datetime = dt.datetime(2026, 10, 1), tags: list[str] | None = None) -> dict:
    return {"note_id": note_id, "creator_id": creator, "published_at": when, "title": title, "body": body,
            "tags": tags or [], "likes": 10, "platform_sponsor_label": label}


# --- shared text machinery ---------------------------------------------------------------------


def test_fast_text_paths_match_the_text_toolkit(world) -> None:
    texts = world["comments"]["text"].head(400).to_list() + world["notes"]["body"].head(200).to_list() + [
        "#广#告 新品", "全网最低价！", "无广，纯自费分享", None, "", "😀", "過敏了[哭惹R]"]
    df = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    views = with_text_views(df, "t")
    for lex in ("controversy", "disclosure", "sponsorship_hints", "ad_claims"):
        ref = df.select(match_terms("t", lex)).to_series().to_list()
        got = views.select(lexicon_hits(lex)).to_series().to_list()
        assert got == ref, lex
    model = load_sentiment_model()
    ref = model.negative_probability(df["t"])
    got = model_probability(model, df["t"])
    assert ((ref - got).abs().fill_null(0) < 1e-9).all()
    assert ref.is_null().to_list() == got.is_null().to_list()


# --- disclosure ---------------------------------------------------------------------------------


def test_disclosure_schemas_and_one_row_per_creator(world, signals) -> None:
    audit, scores = signals["disclosure_audit"], signals["disclosure_scores"]
    assert audit.schema == AUDIT_SCHEMA
    assert audit.height == world["notes"].height
    assert scores.schema == DISCLOSURE_SCORES_SCHEMA
    assert list(scores.columns[: len(SIGNAL_SCORE_SCHEMA)]) == list(SIGNAL_SCORE_SCHEMA)
    assert scores.height == world["creators"].height
    assert scores["creator_id"].n_unique() == scores.height
    assert scores.filter(pl.col("assessed"))["risk"].is_between(0, 100).all()
    assert audit["sponsored_probability"].is_between(0, 1).all()
    # compliance interval brackets the rate
    s = scores.filter(pl.col("sponsored_notes") > 0)
    assert (s["compliance_low"] <= s["compliance_rate"]).all() and (s["compliance_rate"] <= s["compliance_high"]).all()


def test_planted_undisclosed_notes_are_found(world, signals) -> None:
    audit = signals["disclosure_audit"]
    planted = _gt_ids(world, "undisclosed_ad", "false_no_ad_claim", "seeding_campaign")
    flagged = set(audit.filter(pl.col("sponsored") & pl.col("disclosure").is_in(["none", "false_claim"]))["note_id"])
    assert planted, "the demo world plants undisclosed ads"
    assert len(planted & flagged) / len(planted) >= 0.85
    assert len(planted & flagged) / len(flagged) >= 0.9
    # every undisclosed note is evidence on its creator's score
    scores = signals["disclosure_scores"]
    creators = _gt_creators(world, "undisclosed_ad")
    risky = scores.filter(pl.col("creator_id").is_in(list(creators)))
    assert (risky["undisclosed_notes"] > 0).all()
    assert (risky["risk"] >= 40).all()
    ev = set(risky["evidence_ids"].explode().drop_nulls().to_list())
    assert ev & planted


def test_disclosed_ads_are_compliant_and_false_claims_are_caught(world, signals) -> None:
    audit = signals["disclosure_audit"]
    loved = audit.filter(pl.col("note_id").is_in(list(_gt_ids(world, "loved_ads_lookalike"))))
    assert loved.height > 0
    assert loved["sponsored"].all() and loved["compliant"].all()
    false = audit.filter(pl.col("note_id").is_in(list(_gt_ids(world, "false_no_ad_claim"))))
    assert (false["disclosure"] == "false_claim").mean() >= 0.9
    assert not false["compliant"].any()
    # unpaid 自费 praise is neither sponsored nor a false claim
    praise = audit.filter(pl.col("note_id").is_in(list(_gt_ids(world, "organic_praise_lookalike"))))
    assert praise.height > 0 and not praise["sponsored"].any()
    assert (praise["disclosure"] != "false_claim").all() and praise["self_paid_claim"].all()


def test_seeding_campaign_notes_cluster(world, signals) -> None:
    audit = signals["disclosure_audit"]
    camp = _gt_ids(world, "seeding_campaign")
    clustered = audit.filter(pl.col("note_id").is_in(list(camp)))
    assert clustered["seeding_cluster_id"].is_not_null().mean() >= 0.8
    assert (clustered["seeding_cluster_creators"].drop_nulls() >= 3).all()


def test_hand_written_disclosure_rules() -> None:
    notes = pl.DataFrame(
        [
            _note("n1", "c1", "今天分享面霜 #广#告", label=None),
            _note("n2", "c1", "本篇无广，纯自费分享，真的好用", label=True),
            _note("n3", "c2", "自费买的，回购第三次了", label=None),
            _note("n4", "c2", "用我的优惠码ABC12下单立减20！", label=None),
            _note("n5", "c3", "好用的面霜\n质地清爽\n#护肤 #广告", label=None),
            _note("n6", "c3", "第二行才说\n这篇是广告合作哦", title="#广告 面霜体验", label=None),
        ]
    ).drop("platform_sponsor_label").with_columns(  # MediaCrawler-like: no label column at all for n1..
        pl.Series("platform_sponsor_label", [None, True, None, None, None, None], dtype=pl.Boolean)
    )
    a = audit_disclosure(None, notes, None, as_of=AS_OF)["disclosure_audit"].sort("note_id")
    row = {r["note_id"]: r for r in a.iter_rows(named=True)}
    assert row["n1"]["disclosure"] == "explicit" and row["n1"]["compliant"] is True
    assert row["n1"]["disclosure_placement"] == "opening"
    assert row["n2"]["disclosure"] == "false_claim" and row["n2"]["compliant"] is False
    assert row["n3"]["sponsored"] is False and row["n3"]["compliant"] is None
    assert row["n4"]["sponsored"] is True and row["n4"]["disclosure"] == "none"
    assert any("优惠码" in s for s in row["n4"]["sponsor_signals"])
    assert row["n5"]["disclosure_placement"] == "hashtags_end" and row["n5"]["compliant"] is False
    assert row["n6"]["disclosure_placement"] == "title" and row["n6"]["compliant"] is True


def test_empty_and_partial_inputs_do_not_crash() -> None:
    for notes in (None, pl.DataFrame(), pl.DataFrame(schema={"note_id": pl.String, "creator_id": pl.String})):
        d = audit_disclosure(None, notes, None, as_of=AS_OF)
        assert d["disclosure_audit"].height == 0 and d["disclosure_scores"].height == 0
        c = detect_controversy(None, notes, None, as_of=AS_OF)
        assert c["controversy_flags"].schema == FLAGS_SCHEMA and c["controversy_scores"].height == 0
        cl = score_claims(d["disclosure_audit"], pl.DataFrame(), regulated_category="food", as_of=AS_OF,
                          brief_name="b")
        assert cl.height == 0 and cl.schema == CLAIMS_SCHEMA
    creators = pl.DataFrame({"creator_id": ["c1", "c2"], "captured_at": [AS_OF, AS_OF]})
    notes = pl.DataFrame([_note("n1", "c1", "好用")]).drop("platform_sponsor_label")
    d = audit_disclosure(creators, notes, pl.DataFrame(), as_of=AS_OF)
    assert d["disclosure_scores"].height == 2
    assert d["disclosure_scores"].filter(pl.col("creator_id") == "c2")["assessed"].to_list() == [False]
    c = detect_controversy(creators, notes, pl.DataFrame(), as_of=AS_OF)["controversy_scores"]
    assert c.height == 2 and c.filter(pl.col("creator_id") == "c1")["confidence"][0] < 1


# --- controversy --------------------------------------------------------------------------------


def test_controversy_schemas_and_evidence(world, signals) -> None:
    flags, scores = signals["controversy_flags"], signals["controversy_scores"]
    assert flags.schema == FLAGS_SCHEMA and scores.schema == CONTROVERSY_SCORES_SCHEMA
    assert list(scores.columns[: len(SIGNAL_SCORE_SCHEMA)]) == list(SIGNAL_SCORE_SCHEMA)
    assert scores.height == world["creators"].height == scores["creator_id"].n_unique()
    assert flags["category"].is_in(["product_harm", "false_claims", "scandal", "plagiarism", "value_conflict",
                                    "backlash"]).all()
    assert flags["severity"].is_between(0, 1).all() and flags["recency_weight"].is_between(0, 1).all()
    known = set(world["notes"]["note_id"]) | set(world["comments"]["comment_id"])
    assert set(flags["evidence_ids"].explode().to_list()) <= known
    assert (flags["evidence_ids"].list.len() > 0).all()
    assert flags["flag_id"].n_unique() == flags.height


def test_planted_wave_is_a_controversy_and_a_single_harsh_comment_is_not(world, signals) -> None:
    flags, scores = signals["controversy_flags"], signals["controversy_scores"]
    planted = _gt_creators(world, "controversy")
    flagged = set(scores.filter("controversy")["creator_id"])
    assert planted and planted <= flagged
    assert len(flagged - planted) <= max(1, len(planted) // 5)
    waves = set(flags.filter(pl.col("kind") == "backlash_wave")["creator_id"])
    assert planted <= waves
    harsh = _gt_creators(world, "harsh_negative_lookalike") - planted
    assert harsh and not (harsh & flagged)
    assert not (harsh & waves)
    # call-out authors are not blamed for calling others out
    authors = _gt_creators(world, "callout_author_lookalike") - planted
    assert not (authors & flagged)
    reasons = scores.filter(pl.col("creator_id").is_in(list(planted)))["reasons"].explode().to_list()
    assert any("negative comments" in r and any(ch.isdigit() for ch in r) for r in reasons)


def test_hand_written_wave_versus_single_harsh_comment() -> None:
    t0 = dt.datetime(2026, 9, 1, 12)
    creators = pl.DataFrame({"creator_id": ["a", "b", "c"], "display_name": ["小鹿同学", "橘子呀", "路人甲乙"],
                             "handle": ["11112222", "33334444", "55556666"], "captured_at": [AS_OF] * 3})
    notes = pl.DataFrame(
        [_note(f"a{i}", "a", "日常分享", when=t0 - dt.timedelta(days=i)) for i in range(5)]
        + [_note(f"b{i}", "b", "日常分享", when=t0 - dt.timedelta(days=i)) for i in range(5)]
        + [_note("c0", "c", "避雷｜跟着@小鹿同学 买的面霜烂脸了，大家避雷", when=t0 + dt.timedelta(days=2))]
    )
    wave = [{"comment_id": f"w{i}", "note_id": "a0", "commenter_id": f"u{i}", "text": "翻车了吧，虚假宣传，退钱！",
             "created_at": t0 + dt.timedelta(hours=1 + i / 2), "likes": 3} for i in range(40)]
    harsh = [{"comment_id": "h1", "note_id": "b0", "commenter_id": "u1", "text": "这也能推荐？避雷这个博主",
              "created_at": t0 + dt.timedelta(hours=3), "likes": 2}]
    calm = [{"comment_id": f"k{i}", "note_id": f"b{i % 5}", "commenter_id": f"v{i}", "text": "好好看[赞R]",
             "created_at": t0 + dt.timedelta(hours=i), "likes": 1} for i in range(20)]
    out = detect_controversy(creators, notes, pl.DataFrame(wave + harsh + calm), as_of=AS_OF)
    flags, scores = out["controversy_flags"], out["controversy_scores"]
    a_flags = flags.filter(pl.col("creator_id") == "a")
    assert set(a_flags["kind"]) == {"backlash_wave", "third_party_callout"}
    wave_flag = a_flags.filter(pl.col("kind") == "backlash_wave").row(0, named=True)
    assert wave_flag["evidence_ids"][0] == "a0" and set(wave_flag["evidence_ids"][1:]) <= {c["comment_id"] for c in wave}
    assert wave_flag["category"] == "false_claims"
    assert flags.filter(pl.col("creator_id") == "b").height == 0
    s = {r["creator_id"]: r for r in scores.iter_rows(named=True)}
    assert s["a"]["controversy"] and not s["b"]["controversy"] and not s["c"]["controversy"]
    assert s["b"]["risk"] == 0


def test_insulting_own_note_is_flagged_by_the_offensive_model() -> None:
    # A note hitting the insult/slur lexicon is scored by the offensive model on the shared views
    # (this path used to raise "this model needs the raw texts"; the demo world has no insults).
    creators = pl.DataFrame({"creator_id": ["a", "b"], "display_name": ["小鹿同学", "橘子呀"],
                             "handle": ["11112222", "33334444"], "captured_at": [AS_OF] * 2})
    notes = pl.DataFrame([
        _note("a1", "a", "外地佬都滚出我们城市，一群乡巴佬，傻逼"),
        _note("b1", "b", "今天的妆容分享，粉底很服帖"),
    ])
    no_comments = pl.DataFrame(schema={"comment_id": pl.String, "note_id": pl.String, "commenter_id": pl.String,
                                       "text": pl.String, "created_at": pl.Datetime("us"), "likes": pl.Int64})
    out = detect_controversy(creators, notes, no_comments, as_of=AS_OF)
    flags = out["controversy_flags"]
    off = flags.filter(pl.col("kind") == "offensive_content")
    assert off["creator_id"].to_list() == ["a"] and off["evidence_ids"].to_list() == [["a1"]]
    assert off["category"].to_list() == ["value_conflict"] and 0 < off["severity"][0] <= 1
    assert flags.filter(pl.col("creator_id") == "b").height == 0


# --- claims -------------------------------------------------------------------------------------


def test_claims_carry_phrase_and_rule(world, signals) -> None:
    audit = signals["disclosure_audit"]
    claims = audit.filter(pl.col("claim_risks").list.len() > 0).select(pl.col("claim_risks").explode()).unnest(
        "claim_risks")
    assert claims.height > 0
    assert (claims["phrase"].str.len_chars() > 0).all()
    assert claims["rule"].str.contains(r"Advertising Law art\. \d+").all()
    planted = _gt_ids(world, "ad_law_absolute_claim", "ad_law_medical_claim")
    hit = audit.filter(pl.col("note_id").is_in(list(planted)))
    assert (hit["claim_risks"].list.len() > 0).all()
    cs = signals["claims_scores"]
    assert cs.schema == CLAIMS_SCHEMA and cs.height == world["creators"].height
    assert list(cs.columns[: len(SIGNAL_SCORE_SCHEMA)]) == list(SIGNAL_SCORE_SCHEMA)
    assert (cs["brief"] == "test brief").all()
    med = cs.filter(pl.col("creator_id").is_in(list(_gt_creators(world, "ad_law_medical_claim"))))
    assert (med["risk"] >= 50).all()
    assert med["reasons"].explode().str.contains("art. 17", literal=True).any()


def test_claims_weight_by_regulated_category() -> None:
    notes = pl.DataFrame([
        _note("m1", "c1", "这款面霜可以治疗湿疹 #广告", label=True),
        _note("f1", "c2", "理财产品保本稳赚 #广告", label=True),
        _note("o1", "c3", "这款面霜可以治疗湿疹", label=False),
    ])
    audit = audit_disclosure(None, notes, None, as_of=AS_OF)["disclosure_audit"]
    creators = pl.DataFrame({"creator_id": ["c1", "c2", "c3"]})
    risk = {}
    for cat in ("cosmetics", "finance"):
        s = score_claims(audit, creators, regulated_category=cat, as_of=AS_OF, brief_name=cat)
        risk[cat] = dict(zip(s["creator_id"], s["risk"]))
    assert risk["cosmetics"]["c1"] > risk["finance"]["c1"]
    assert risk["finance"]["c2"] > risk["cosmetics"]["c2"]
    assert risk["cosmetics"]["c3"] < risk["cosmetics"]["c1"]  # organic: not an ad


# --- pre-publication check ----------------------------------------------------------------------


def test_check_texts_statuses_order_and_results() -> None:
    texts = ["#广#告 这款面霜全网最低价，还能治疗痘痘！", "", None, "x" * (MAX_TEXT_BYTES + 10), "a\x00b",
             "😀😀🔥", "<script>alert(1)</script>", "=cmd()", "本篇无广 优惠码ABC12 链接在评论区", "翻车了吧，避雷"]
    ids = [f"id{i}" for i in range(len(texts))][::-1]
    out = check_texts(pl.DataFrame({"id": ids, "text": texts}, schema={"id": pl.String, "text": pl.String}))
    assert out["id"].to_list() == ids
    assert out["status"].to_list() == ["ok", "empty", "empty", "truncated", "binary", "ok", "ok", "ok", "ok", "ok"]
    r = out.to_dicts()
    assert r[0]["disclosure"] == "explicit" and r[0]["disclosure_placement"] == "opening"
    assert {c["phrase"] for c in r[0]["claim_risks"]} >= {"全网最低", "治疗"}
    assert all(c["rule"].startswith("Advertising Law") for c in r[0]["claim_risks"])
    assert r[1]["claim_risks"] == [] and r[1]["controversy_terms"] == [] and r[1]["negative_probability"] is None
    assert r[5]["negative_probability"] is not None and r[5]["claim_risks"] == []
    assert r[6]["disclosure"] == "none" and r[7]["disclosure"] == "none"
    assert r[8]["disclosure"] == "false_claim" and r[8]["sponsored"]
    assert "翻车" in r[9]["controversy_terms"] and r[9]["negative_probability"] > 0.5
    assert out.filter(pl.col("status") == "ok")["sponsored_probability"].is_between(0, 1).all()


def test_run_check_text_reads_jsonl_csv_and_lines(tmp_path: Path) -> None:
    jl = tmp_path / "in.jsonl"
    jl.write_text("\n".join([json.dumps({"id": "a", "text": "#广告 好物"}, ensure_ascii=False), "not json",
                             json.dumps({"id": 7, "text": "=cmd()"}), json.dumps({"id": "c"})]) + "\n",
                  encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run_check_text(jl, out) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "2", "7", "c"]
    assert [r["status"] for r in rows] == ["ok", "invalid_json", "ok", "no_text"]
    assert rows[0]["disclosure"] == "explicit" and isinstance(rows[0]["claim_risks"], list)

    cv = tmp_path / "in.csv"
    cv.write_text('text,other\n"全网最低价, 快来",1\n<script>x</script>,2\n', encoding="utf-8")
    buf = io.StringIO()
    assert run_check_text(cv, None, stdout=buf) == 0
    rows = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["claim_risks"][0]["phrase"] == "全网最低"

    bad = tmp_path / "bad.csv"
    bad.write_text("body\nhello\n", encoding="utf-8")
    assert run_check_text(bad, None, stdout=io.StringIO()) == 2

    class _Stdin:
        buffer = io.BytesIO("第一行 #广告\n\n普通一行\n".encode() + b"\xff\xfe\x00\n")

    buf = io.StringIO()
    assert run_check_text(None, None, stdin=_Stdin(), stdout=buf) == 0
    rows = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["status"] == "ok" and rows[1]["status"] == "empty" and rows[3]["status"] == "binary"


def test_plain_lines_fast_path_matches_line_reader(tmp_path: Path) -> None:
    lines = ["好用 #广告", "", "😀😀", "=cmd()", "链接在评论区 优惠码AB12", "控制\x01\x02\x03字符"]
    good = tmp_path / "drafts.txt"
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    crlf = tmp_path / "drafts_crlf.txt"  # CR line ends take the per-line reader
    crlf.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    outs = []
    for p in (good, crlf):
        buf = io.StringIO()
        assert run_check_text(p, None, stdout=buf) == 0
        outs.append([json.loads(x) for x in buf.getvalue().splitlines()])
    assert outs[0] == outs[1]
    assert [r["id"] for r in outs[0]] == [str(i) for i in range(1, len(lines) + 1)]
    assert [r["status"] for r in outs[0]] == ["ok", "empty", "ok", "ok", "ok", "binary"]


def test_char_tfidf_cosine_is_one_for_identical_texts() -> None:
    x = char_tfidf(["救命这款台灯太好用了链接在评论区", "救命这款台灯太好用了链接在评论区", "今天去公园散步"])
    sim = (x @ x.T).toarray()
    assert sim[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert sim[0, 2] < 0.2


# --- speed: check-text checks each distinct text once and decodes clean JSONL in one go -----------


def test_check_texts_dedupes_without_changing_rows() -> None:
    texts = ["全网最低价！", "好看", None, "好看", "", "广告 合作 #ad", "全网最低价！", "\x00bin", "好看"]
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}, schema={"id": pl.String, "text": pl.String})
    together = check_texts(df)
    one_by_one = pl.concat([check_texts(df.slice(i, 1)) for i in range(df.height)])
    assert together.equals(one_by_one)
    assert together["id"].to_list() == df["id"].to_list()


def test_clean_jsonl_is_read_like_the_line_decoder(tmp_path: Path) -> None:
    from kol_vetting.signals.check_text import _rows_jsonl, _utf8_lines

    lines = [b'{"id": 1, "text": "\xe5\xb9\xbf\xe5\x91\x8a"}', b'{"text": 5}', b"[1]", b"", b"  ", b"not json",
             b'{"id": {"a": 1}, "text": ["x"]}', b'{"id": "d", "text": "a", "text": "b"}']
    for data in (b"\n".join(lines), b"\n".join(lines) + b"\n", b"", b"\n", b"\n\n" + lines[0]):
        fast = _utf8_lines(data)
        assert fast is not None
        assert list(_rows_jsonl(fast)) == list(_rows_jsonl(iter(data.splitlines())))
    # inputs the per-line decoder must see: CR line ends, a BOM, NUL, other encodings
    for data in (b"a\r\nb", b"\xef\xbb\xbf{}", b"{}\x00", '{"text": "广告"}'.encode("gb18030")):
        assert _utf8_lines(data) is None


def test_check_text_survives_lone_surrogate_escapes_in_jsonl(tmp_path: Path) -> None:
    # '\ud800' is valid JSON but not a character: it used to fail the whole file (exit 2).
    jl = tmp_path / "in.jsonl"
    jl.write_text('{"id": "a\\udc00", "text": "这是一段很长的正常文字，只有一个坏字符 \\ud800 在中间，应当照常检查 #广告"}\n'
                  '{"id": "b", "text": "\\ud83d\\ude00 好"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run_check_text(jl, out) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a\ufffd", "b"]
    assert rows[0]["status"] == "ok" and rows[0]["disclosure"] == "explicit"
    assert rows[1]["status"] == "ok"  # a valid surrogate pair (an emoji) is one character, untouched
