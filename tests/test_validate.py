"""Contract validation: good rows pass typed, bad rows are quarantined with a reason, counts reconcile."""

import datetime as dt

import polars as pl
import pytest
from pydantic import ValidationError

from kol_vetting import schema
from kol_vetting.sources.base import RawSource
from kol_vetting.validate import validate_source, validate_table

NOW = dt.datetime(2026, 11, 1)


def test_pydantic_models_accept_good_rows_and_reject_bad_ones():
    good = schema.FollowerSample(creator_id="c1", follower_id="f1", follower_count=3, following_count=10, note_count=0)
    assert good.username is None
    with pytest.raises(ValidationError):
        schema.FollowerSample(creator_id="c1", follower_id="f1", follower_count=-1, following_count=10, note_count=0)
    with pytest.raises(ValidationError):
        schema.Note(note_id="", creator_id="c", published_at=NOW, likes=1)


@pytest.mark.parametrize("table", list(schema.TABLES))
def test_polars_schema_matches_pydantic_fields(table):
    model_fields = list(schema.TABLES[table].model.model_fields)
    assert list(schema.polars_schema(table).names()) == model_fields
    assert set(schema.required_columns(table)) | set(schema.optional_columns(table)) == set(model_fields)


def test_string_inputs_are_cast_to_contract_types():
    raw = pl.DataFrame(
        {
            "note_id": ["n1", "n2"],
            "creator_id": ["c1", "c1"],
            "published_at": ["2026-10-01T10:00:00+08:00", "1727750000000"],
            "likes": ["1,234", "7"],
            "tags": ['["护肤","好物"]', "#旅行 #周末"],
            "platform_sponsor_label": ["true", "0"],
        }
    )
    accepted, quarantined, report = validate_table("notes", raw, now=NOW)
    assert quarantined.height == 0 and report.reconciles
    assert accepted.schema == schema.polars_schema("notes")
    first = accepted.row(0, named=True)
    # +08:00 is converted to UTC.
    assert first["published_at"] == dt.datetime(2026, 10, 1, 2, 0)
    assert first["likes"] == 1234 and first["tags"] == ["护肤", "好物"] and first["platform_sponsor_label"] is True
    second = accepted.row(1, named=True)
    assert second["tags"] == ["旅行", "周末"] and second["platform_sponsor_label"] is False
    assert second["published_at"].year == 2024


def test_bad_rows_are_quarantined_with_reasons():
    raw = pl.DataFrame(
        {
            "comment_id": ["ok", "neg", "future", "badts", "", "ok"],
            "note_id": ["n"] * 6,
            "created_at": ["2026-01-01", "2026-01-01", "2031-01-01", "yesterday", "2026-01-01", "2026-01-01"],
            "likes": ["1", "-2", "0", "0", "0", "3"],
            "text": ["好好看[赞R]", "x", "x", "x", "x", "dup"],
        }
    )
    accepted, quarantined, report = validate_table("comments", raw, now=NOW)
    reasons = dict(zip(quarantined["source_row"], quarantined["reason"]))
    assert accepted["comment_id"].to_list() == ["ok"]
    assert "negative" in reasons[2]
    assert "future" in reasons[3]
    assert "not a timestamp" in reasons[4]
    assert "comment_id is empty" in reasons[5]
    assert "duplicate" in reasons[1] or "duplicate" in reasons[6]
    assert report.rows_read == 6 and report.accepted == 1 and report.quarantined == 5 and report.duplicates == 1
    assert report.reconciles
    # The quarantined row keeps what was read, so a person can fix it.
    assert "yesterday" in quarantined.filter(pl.col("source_row") == 4)["row"][0]


def test_latest_capture_wins_among_duplicates():
    raw = pl.DataFrame(
        {
            "creator_id": ["c1", "c1", "c1"],
            "follower_count": [100, 300, 200],
            "captured_at": ["2026-01-01", "2026-03-01", "2026-02-01"],
        }
    )
    accepted, quarantined, report = validate_table("creators", raw, now=NOW)
    assert accepted["follower_count"].to_list() == [300]
    assert report.duplicates == 2 and quarantined.height == 2


def test_missing_required_column_quarantines_every_row():
    raw = pl.DataFrame({"note_id": ["n1", "n2"], "creator_id": ["c", "c"], "likes": [1, 2]})
    accepted, quarantined, _report = validate_table("notes", raw, now=NOW)
    assert accepted.height == 0 and quarantined.height == 2
    assert quarantined["reason"].str.contains("published_at").all()


def test_source_report_reconciles_including_reader_quarantine():
    raw = RawSource(
        frames={"partners": pl.DataFrame({"creator_id": ["c1"], "brand": ["澜肌"], "contract_start": ["2026-01-01"]})},
        quarantine=pl.DataFrame(
            {"source_file": ["p.csv"], "table": ["partners"], "source_row": [3], "row": ["c2,澜"], "reason": ["truncated"]}
        ),
        rows_read={"partners": 2},
    )
    out = validate_source(raw, now=NOW)
    rep = out.reports["partners"]
    assert (rep.rows_read, rep.accepted, rep.quarantined) == (2, 1, 1)
    assert all(r.reconciles for r in out.reports.values())
    assert out.tables["notes"].height == 0 and out.tables["notes"].schema == schema.polars_schema("notes")
