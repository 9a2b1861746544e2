"""Brief validation and the scorecard's combination rules (weights and thresholds from config)."""

import datetime as dt

import polars as pl
import pytest
from pydantic import ValidationError

from kol_vetting.brief import BriefError, load_brief, parse_brief
from kol_vetting.scorecard import (
    SCORECARD_SCHEMA,
    CandidateRequest,
    build_scorecard,
    candidates,
    evidence_table,
    request_from_record,
    request_record,
    select_candidates,
    unknown_creator_ids,
    up_to,
)

NOW = dt.datetime(2026, 11, 1)
IDS = ["a", "b", "c", "d"]


def _brief(**over):
    data = {"name": "t", "brand": "澜肌", "category": "beauty", "budget": 100000, **over}
    return parse_brief(data)


def _creators():
    return pl.DataFrame(
        {
            "creator_id": IDS,
            "platform": ["xiaohongshu"] * 4,
            "handle": IDS,
            "display_name": ["A", "B", "C", "D"],
            "category": ["beauty", "beauty", "beauty", "food"],
            "follower_count": [5000, 5000, 5000, 8000],
            "quoted_price": [500.0, 600.0, 700.0, None],
            "currency": [None] * 4,
            "captured_at": [NOW] * 4,
        }
    )


def _notes():
    return pl.DataFrame(
        {
            "note_id": ["n1", "n2", "n3", "n4"],
            "creator_id": ["a", "a", "a", "b"],
            "published_at": [NOW - dt.timedelta(days=d) for d in (1, 2, 3, 4)],
            "likes": [100, 200, 10_000, 50],  # one viral note must not set the price
            "collects": [10, 20, 10, 5],
            "comments": [0, 0, 0, 0],
            "url": [f"https://www.xiaohongshu.com/explore/n{i}" for i in range(1, 5)],
        }
    )


def _signal(risks, conf=0.9):
    return pl.DataFrame(
        {
            "creator_id": IDS,
            "risk": risks,
            "confidence": [conf] * 4,
            "assessed": [r is not None for r in risks],
            "reasons": [[f"risk is {r}"] for r in risks],
            "evidence_ids": [["n1"], ["n4"], ["2026-10-01"], []],
            "data_as_of": [NOW] * 4,
        }
    )


def test_brief_errors_read_like_sentences(tmp_path):
    with pytest.raises(BriefError) as err:
        parse_brief({"name": "Bad Name!", "brand": "", "category": "beauty", "budget": -5, "colour": "red"})
    msg = str(err.value)
    assert "budget: Input should be greater than 0" in msg
    assert "colour: unknown field" in msg and "name:" in msg and "brand:" in msg
    path = tmp_path / "b.yaml"
    path.write_text("brand: [unclosed", encoding="utf-8")
    with pytest.raises(BriefError, match="not valid YAML"):
        load_brief(path)
    path.write_text("!!python/object/apply:os.system ['echo pwned']", encoding="utf-8")
    with pytest.raises(BriefError):
        load_brief(path)


def test_scorecard_decisions_follow_thresholds_and_missing_signals_are_not_invented():
    sigs = {name: _signal([5, 45, 95, 10]) for name in ("authenticity", "controversy", "disclosure", "claims", "alignment")}
    sigs["alignment"] = None  # not built yet: must say "not assessed"
    card = build_scorecard(_brief(), _creators(), _notes(), sigs, as_of=NOW)
    assert card.schema == SCORECARD_SCHEMA
    row = {r["creator_id"]: r for r in card.iter_rows(named=True)}
    assert row["a"]["decision"] == "approve" and row["a"]["grade"] == "A"
    assert row["b"]["decision"] == "approve_with_conditions" and row["b"]["conditions"]
    assert row["c"]["decision"] == "reject" and row["c"]["reasons"][0] == "risk is 95"
    assert all(r["alignment_risk"] is None and "alignment" in r["not_assessed"] for r in row.values())
    # Median engagement: the viral note does not inflate the expected engagement.
    assert row["a"]["expected_engagement"] == pytest.approx(220.0)
    assert row["a"]["cpe"] == pytest.approx(500 / 220, rel=1e-3)
    # Reject first, approve last.
    assert card["decision"].to_list()[0] == "reject"


def test_weights_and_thresholds_come_from_config():
    sigs = {"authenticity": _signal([70, 10, 10, 10]), "controversy": _signal([0, 90, 0, 0])}
    default = build_scorecard(_brief(), _creators(), _notes(), sigs, as_of=NOW)
    heavy = build_scorecard(
        _brief(scorecard={"weights": {"authenticity": 0.0, "controversy": 1.0, "disclosure": 0, "claims": 0, "alignment": 0},
                          "thresholds": {"reject_signal_at": 100, "reject_at": 95}}),
        _creators(), _notes(), sigs, as_of=NOW,
    )
    d = dict(zip(default["creator_id"], default["overall_risk"]))
    h = dict(zip(heavy["creator_id"], heavy["overall_risk"]))
    assert h["a"] == 0 and d["a"] > 30
    assert h["b"] == 90 and d["b"] < 90
    assert dict(zip(heavy["creator_id"], heavy["decision"]))["b"] != "reject"


def test_low_confidence_or_disagreement_goes_to_manual_review():
    sigs = {"authenticity": _signal([10, 10, 10, 10], conf=0.1), "controversy": _signal([10, 10, 10, 10], conf=0.1)}
    card = build_scorecard(_brief(), _creators(), _notes(), sigs, as_of=NOW)
    assert set(card["decision"]) == {"manual_review"}


def test_candidate_filters_and_evidence_links():
    brief = _brief(candidate_categories=["beauty"], min_followers=1000)
    sigs = {"authenticity": _signal([5, 45, 95, 10])}
    card = build_scorecard(brief, _creators(), _notes(), sigs, as_of=NOW)
    assert sorted(card["creator_id"]) == ["a", "b", "c"]
    ev = evidence_table(card, sigs, _notes())
    n1 = ev.filter(pl.col("evidence_id") == "n1").row(0, named=True)
    assert n1["kind"] == "note" and n1["url"].endswith("/n1")
    assert ev.filter(pl.col("evidence_id") == "2026-10-01")["kind"].to_list() == ["date"]


def _ids(frame: pl.DataFrame) -> list[str]:
    return sorted(frame["creator_id"])


def test_vetting_request_narrows_or_names_the_candidates():
    brief = _brief(candidate_categories=["beauty"])
    creators = _creators().with_columns(pl.Series("follower_count", [5000, 50_000, None, 8000]))
    # Empty request: exactly the brief's candidates (today's behaviour).
    assert CandidateRequest().is_default
    assert select_candidates(creators, brief, CandidateRequest()).equals(candidates(creators, brief))
    assert select_candidates(creators, brief, None).equals(candidates(creators, brief))
    # Filters narrow the brief's candidates; an unknown follower count stays in for the bounds ...
    assert _ids(select_candidates(creators, brief, CandidateRequest(min_followers=10_000))) == ["b", "c"]
    assert _ids(select_candidates(creators, brief, CandidateRequest(max_followers=10_000))) == ["a", "c"]
    # ... but matches no tier.
    assert _ids(select_candidates(creators, brief, CandidateRequest(tiers=["micro"]))) == ["b"]
    assert _ids(select_candidates(creators, brief, CandidateRequest(categories=["food"]))) == []
    # Named creators are vetted even outside the brief's filters (d is food), then narrowed by filters.
    assert _ids(select_candidates(creators, brief, CandidateRequest(creator_ids=["d", "a", "d"]))) == ["a", "d"]
    assert _ids(select_candidates(creators, brief, CandidateRequest(creator_ids=["a", "d"], tiers=["nano"]))) == ["a", "d"]
    assert _ids(select_candidates(creators, brief, CandidateRequest(creator_ids=["a", "b"], min_followers=10_000))) == ["b"]
    assert unknown_creator_ids(creators, CandidateRequest(creator_ids=["a", "zz", "yy"])) == ["zz", "yy"]
    # The scorecard scores exactly the selection.
    card = build_scorecard(brief, creators, _notes(), {}, as_of=NOW, request=CandidateRequest(creator_ids=["a", "d"]))
    assert _ids(card) == ["a", "d"]


def test_vetting_request_validates_and_round_trips_through_its_record():
    with pytest.raises(ValidationError, match="nano"):
        CandidateRequest(tiers=["huge"])
    with pytest.raises(ValidationError, match="min_followers is larger"):
        CandidateRequest(min_followers=10, max_followers=5)
    with pytest.raises(ValidationError):
        CandidateRequest(as_of="1 Oct")
    req = CandidateRequest(creator_ids=["a"], tiers=["micro"], categories=["beauty"], min_followers=1, as_of="2026-10-01")
    assert req.as_of_time == dt.datetime(2026, 10, 1, 23, 59, 59, 999999)
    assert "1 named creator" in req.describe() and "as of 2026-10-01" in req.describe()
    record = request_record("t", req, 1, NOW)
    assert request_from_record(record.row(0, named=True)) == req
    assert request_from_record(request_record("t", CandidateRequest(), 4, NOW).row(0, named=True)).is_default


def test_as_of_leaves_later_notes_out_of_the_scorecard():
    brief = _brief()
    notes = _notes()
    # n1 (1 day before NOW) and n2 (2 days) are after a vetting date 3 days back: only n3 counts for a.
    day = (NOW - dt.timedelta(days=3)).date()
    req = CandidateRequest(as_of=day)
    cut = up_to(notes, "published_at", req.as_of_time)
    assert sorted(cut["note_id"]) == ["n3", "n4"]
    assert up_to(notes, "published_at", None) is notes
    card = build_scorecard(brief, _creators(), cut, {}, as_of=req.as_of_time, request=req)
    row = {r["creator_id"]: r for r in card.iter_rows(named=True)}
    assert row["a"]["expected_engagement"] == pytest.approx(10_010.0)
