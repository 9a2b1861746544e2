"""Source readers: canonical files, MediaCrawler exports and count parsing.

Fixtures live in tests/fixtures/{canonical,mediacrawler}/ and are rebuilt by the
make_fixtures.py script next to them.
"""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from kol_vetting import schema
from kol_vetting.sources.base import (
    QUARANTINE_SCHEMA,
    SOURCE_FILE,
    SOURCE_ROW,
    RawSource,
    SourceError,
)
from kol_vetting.sources.counts import count_unparsed_expr, parse_count, parse_count_expr
from kol_vetting.sources.files import read_canonical, read_csv_file
from kol_vetting.sources.mediacrawler import classify, epoch_expr, read_mediacrawler

FIXTURES = Path(__file__).parent / "fixtures"
CANONICAL = FIXTURES / "canonical"
MEDIACRAWLER = FIXTURES / "mediacrawler"


def assert_reconciles(source: RawSource) -> None:
    """rows_read = frame rows + reader-quarantined rows, for every table read."""
    for table, frame in source.frames.items():
        quarantined = source.quarantine.filter(pl.col("table") == table).height
        assert source.rows_read[table] == frame.height + quarantined, table
        assert {SOURCE_FILE, SOURCE_ROW} <= set(frame.columns)
        assert frame[SOURCE_ROW].null_count() == 0
        assert set(frame.columns) - {SOURCE_FILE, SOURCE_ROW} <= set(
            schema.polars_schema(table).names()
        )
    assert source.quarantine.schema == QUARANTINE_SCHEMA


def row(frame: pl.DataFrame, column: str, value: object) -> dict:
    rows = frame.filter(pl.col(column) == value).to_dicts()
    assert len(rows) == 1, (column, value, rows)
    return rows[0]


# ---------------------------------------------------------------------------------------------
# Counts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.2万", 12_000),
        ("10万+", 100_000),
        ("1,234", 1_234),
        ("3.5w", 35_000),
        ("3.5W", 35_000),
        ("1.1亿", 110_000_000),
        ("", None),
        ("  ", None),
        (None, None),
        ("12", 12),
        (" 7 ", 7),
        ("12.0", 12),
        ("1.25万", 12_500),
        ("2k", 2_000),
        ("1000+", 1_000),
        ("0", 0),
    ],
)
def test_parse_count(raw: str | None, expected: int | None) -> None:
    assert parse_count(raw) == expected


@pytest.mark.parametrize("raw", ["???", "12.5", "万", "abc", "nan", "+"])
def test_unparseable_count_is_null_and_flagged(raw: str) -> None:
    frame = pl.DataFrame({"v": [raw, "", None, "12"]})
    out = frame.select(
        parse_count_expr(pl.col("v")).alias("n"), count_unparsed_expr(pl.col("v")).alias("bad")
    )
    assert out["n"].to_list() == [None, None, None, 12]
    assert out["bad"].to_list() == [True, False, False, False]


def test_parse_count_expr_accepts_numbers() -> None:
    frame = pl.DataFrame({"i": [1, None, 30], "f": [1.0, 2.0, 2.5]})
    out = frame.select(parse_count_expr(pl.col("i")), parse_count_expr(pl.col("f")))
    assert out.schema == pl.Schema({"i": pl.Int64(), "f": pl.Int64()})
    assert out["i"].to_list() == [1, None, 30]
    assert out["f"].to_list() == [1, 2, None]


def test_epoch_units() -> None:
    frame = pl.DataFrame({"t": ["1714550400000", "1714550400", "", "x", "1714550400000000"]})
    out = frame.select(epoch_expr(pl.col("t")))["t"].to_list()
    expected = dt.datetime(2024, 5, 1, 8, 0)
    assert out == [expected, expected, None, None, expected]


# ---------------------------------------------------------------------------------------------
# Canonical reader
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canonical() -> RawSource:
    return read_canonical(CANONICAL / "full")


def test_canonical_reads_every_table(canonical: RawSource) -> None:
    assert set(canonical.frames) == set(schema.TABLES)
    assert_reconciles(canonical)
    assert canonical.rows_read == {
        "creators": 3,
        "follower_history": 3,
        "notes": 7,
        "comments": 4,
        "follower_samples": 2,
        "partners": 2,
    }


def test_canonical_gb18030_csv_decodes_chinese(canonical: RawSource) -> None:
    raw = (CANONICAL / "full" / "creators.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the fixture really is GB18030
    creators = canonical.frames["creators"]
    assert creators["display_name"].to_list() == ["小鹿爱护肤", "吃货阿May", "通勤穿搭Lily"]
    assert row(creators, "creator_id", "c_lu")["bio"] == "敏感肌｜成分党，合作请私信"
    assert creators["verified"].to_list()[:2] == ["是", "否"]
    # CRLF line ends leave no stray carriage return in the last column.
    assert not creators["captured_at"].str.contains("\r").any()
    assert any("creators.csv: decoded from gb18030" in n for n in canonical.notes)


def test_canonical_extra_columns_and_unknown_files_are_noted(canonical: RawSource) -> None:
    assert "备注" not in canonical.frames["creators"].columns
    assert "source_keyword" not in canonical.frames["notes"].columns
    assert any("creators: ignored columns not in the contract: 备注" in n for n in canonical.notes)
    assert any("README.txt" in n for n in canonical.notes)
    assert not any("_SUCCESS" in n for n in canonical.notes)


def test_canonical_truncated_csv_line_is_quarantined(canonical: RawSource) -> None:
    comments = canonical.frames["comments"]
    assert comments["comment_id"].to_list() == ["k1", "k2", "k3"]
    assert row(comments, "comment_id", "k3")["text"] == "抱歉\n已私信"
    assert row(comments, "comment_id", "k2")["text"] == '用了烂脸，避雷[哭惹R]，"不推荐"'
    bad = canonical.quarantine.filter(pl.col("table") == "comments").to_dicts()
    assert len(bad) == 1
    assert bad[0]["source_row"] == 5
    assert bad[0]["row"].startswith("k4,n1")
    assert "unterminated quote" in bad[0]["reason"]
    assert bad[0]["source_file"].endswith("comments.csv")


def test_canonical_bom_is_stripped_from_first_column() -> None:
    path = CANONICAL / "full" / "comments.csv"
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    read = read_csv_file(path)
    assert read.frame.columns[0] == "comment_id"
    assert read.frame[SOURCE_ROW].to_list() == [2, 3, 4]


def test_canonical_jsonl_bad_lines_are_quarantined(canonical: RawSource) -> None:
    notes = canonical.frames["notes"]
    assert sorted(notes["note_id"].to_list()) == ["n1", "n3", "n4", "n5", "n6"]
    bad = canonical.quarantine.filter(pl.col("table") == "notes").sort("source_row")
    assert bad["source_row"].to_list() == [2, 4]
    assert "line 2 is not valid JSON" in bad["reason"][0]
    assert "not an object" in bad["reason"][1]


def test_canonical_tags_become_lists(canonical: RawSource) -> None:
    notes = canonical.frames["notes"]
    assert notes.schema["tags"] == pl.List(pl.String)
    tags = dict(zip(notes["note_id"], notes["tags"].to_list()))
    assert tags == {
        "n1": ["防晒", "敏感肌"],  # JSON list, '#' removed
        "n3": None,
        "n4": ["通勤", "包包分享"],  # JSON array string in CSV
        "n5": ["穿搭", "OOTD"],  # '#' separated
        "n6": ["探店", "广州美食"],  # full-width comma
    }


def test_canonical_offsets_become_naive_utc(canonical: RawSource) -> None:
    notes = canonical.frames["notes"]
    published = dict(zip(notes["note_id"], notes["published_at"]))
    assert published["n1"] == "2024-05-01T02:00:00.000000"  # +08:00
    assert published["n4"] == "2024-05-02T01:30:00.000000"  # ' +0800'
    assert published["n6"] == "2024-05-02T16:00:00.000000"  # -05:00
    assert published["n5"] == "2024-05-02T10:00:00"  # no offset: left for the validator
    creators = canonical.frames["creators"]
    assert row(creators, "creator_id", "c_lu")["captured_at"] == "2024-05-03T02:00:00.000000"


def test_canonical_part_directory_mixes_parquet_and_csv(canonical: RawSource) -> None:
    history = canonical.frames["follower_history"].sort("date")
    assert history["date"].to_list() == ["2024-05-01", "2024-05-02", "2024-05-03"]
    assert history["follower_count"].to_list() == ["124000", "124800", "125000"]
    assert history[SOURCE_FILE].str.contains("part-0.parquet").sum() == 2


@pytest.mark.parametrize(
    ("scenario", "file"), [("cut_json", "notes.json"), ("bad_bytes", "notes.csv")]
)
def test_canonical_unreadable_file_raises(scenario: str, file: str) -> None:
    with pytest.raises(SourceError) as info:
        read_canonical(CANONICAL / scenario)
    assert info.value.path.endswith(file)


def test_canonical_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        read_canonical(tmp_path / "nope")


def test_gb18030_file_cut_inside_a_character(tmp_path: Path) -> None:
    text = "creator_id,display_name,follower_count\nc1,小鹿,10\nc2,阿May,20\nc3,半截"
    raw = text.encode("gb18030")
    (tmp_path / "creators.csv").write_bytes(raw[:-1])  # the writer stopped mid-character
    source = read_canonical(tmp_path)
    assert source.frames["creators"]["display_name"].to_list() == ["小鹿", "阿May"]
    bad = source.quarantine.to_dicts()
    assert len(bad) == 1 and bad[0]["source_row"] == 4 and "cut short" in bad[0]["reason"]
    assert_reconciles(source)


def test_csv_rows_keep_their_numbers_after_a_rejected_line(tmp_path: Path) -> None:
    (tmp_path / "partners.csv").write_text(
        "creator_id,brand,contract_start\nc1,A,2024-01-01\nc2,B\nc3,C,2024-03-01\nc4,D,2024-04-01,extra\nc5,E,2024-05-01\n",
        encoding="utf-8",
    )
    source = read_canonical(tmp_path)
    partners = source.frames["partners"]
    assert dict(zip(partners["creator_id"], partners[SOURCE_ROW])) == {"c1": 2, "c3": 4, "c5": 6}
    assert source.quarantine.sort("source_row")["source_row"].to_list() == [3, 5]
    assert_reconciles(source)


# ---------------------------------------------------------------------------------------------
# MediaCrawler reader
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classic() -> RawSource:
    return read_mediacrawler(MEDIACRAWLER / "classic")


@pytest.fixture(scope="module")
def anonymised() -> RawSource:
    return read_mediacrawler(MEDIACRAWLER / "anonymised")


def test_classify_file_names() -> None:
    search = classify(Path("1_search_contents_2024-05-01.csv"))
    assert search is not None and (search.table, search.crawler, search.crawl_date) == (
        "notes",
        "search",
        dt.date(2024, 5, 1),
    )
    creator = classify(Path("creator_creator_2024-05-03.json"))
    assert creator is not None and creator.table == "creators"
    comments = classify(Path("detail_comments_2024-05-03.jsonl"))
    assert comments is not None and comments.table == "comments"
    assert classify(Path("search_comments_2024-05-01_word_freq.json")) is None
    assert classify(Path("cover.jpg")) is None


def test_mediacrawler_classic_tables_reconcile(classic: RawSource) -> None:
    assert set(classic.frames) == {"notes", "comments", "creators"}
    assert_reconciles(classic)
    assert classic.rows_read == {"notes": 7, "comments": 6, "creators": 3}
    notes = classic.frames["notes"]
    assert notes.schema["likes"] == pl.Int64 and notes.schema["published_at"] == pl.Datetime("us")
    assert notes["platform_sponsor_label"].null_count() == notes.height


def test_mediacrawler_counts_in_every_display_form(classic: RawSource) -> None:
    notes = classic.frames["notes"]
    first = (
        notes.filter(pl.col("note_id") == "664f0a01000000001e00aa01")
        .sort("captured_at")
        .row(0, named=True)
    )
    assert (first["likes"], first["collects"], first["comments"], first["shares"]) == (
        12_000,
        35_000,
        1_234,
        12,
    )
    video = row(notes, "note_id", "664f0a01000000001e00aa02")
    assert (video["likes"], video["collects"], video["note_type"]) == (100_000, None, "video")
    big = row(notes, "note_id", "664f0a01000000001e00bb01")
    assert (big["likes"], big["collects"], big["shares"]) == (110_000_000, 23_000, 1_024)


def test_mediacrawler_unparseable_count_and_truncated_line_quarantined(classic: RawSource) -> None:
    bad = classic.quarantine.filter(pl.col("table") == "notes").sort("source_row").to_dicts()
    assert [b["reason"] for b in bad] == [
        "liked_count '???' is not a count",
        "unreadable CSV line: unterminated quote (line cut short?) (Value with unterminated quote found.)",
    ]
    assert '"note_id":"664f0a01000000001e00bb02"' in bad[0]["row"]
    assert bad[1]["row"].startswith("664f0a01000000001e00bb03")
    assert "664f0a01000000001e00bb02" not in classic.frames["notes"]["note_id"].to_list()


def test_mediacrawler_duplicate_notes_keep_both_captures(classic: RawSource) -> None:
    dup = (
        classic.frames["notes"]
        .filter(pl.col("note_id") == "664f0a01000000001e00aa01")
        .sort("captured_at")
    )
    assert dup.height == 2
    assert dup["captured_at"].to_list() == [dt.datetime(2024, 5, 1, 10), dt.datetime(2024, 5, 3, 8)]
    assert dup["likes"].to_list() == [12_000, 13_000]
    assert dup["published_at"].to_list() == [dt.datetime(2024, 5, 1, 8)] * 2
    assert dup[SOURCE_FILE].str.contains("detail").to_list() == [False, True]


def test_mediacrawler_note_fields(classic: RawSource) -> None:
    note = (
        classic.frames["notes"]
        .filter(pl.col("note_id") == "664f0a01000000001e00aa01")
        .row(0, named=True)
    )
    assert note["creator_id"] == "5f1a0c2b000000000101a1b1"
    assert note["title"] == "敏感肌夏日防晒｜亲测不闷痘"
    assert note["body"].startswith("用了两周，肤感清爽，不搓泥。\n#防晒")
    assert note["tags"] == ["防晒", "敏感肌", "品牌合作"]
    assert note["url"].startswith("https://www.xiaohongshu.com/explore/664f0a01000000001e00aa01")


def test_mediacrawler_bom_stripped() -> None:
    path = MEDIACRAWLER / "classic" / "data" / "xhs" / "csv" / "1_search_contents_2024-05-01.csv"
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    assert read_csv_file(path).frame.columns[0] == "note_id"


def test_mediacrawler_comments(classic: RawSource) -> None:
    comments = classic.frames["comments"]
    assert comments.height == 5
    parents = dict(zip(comments["comment_id"], comments["parent_comment_id"]))
    assert parents["6650c001000000000f00c001"] is None  # '0'
    assert parents["6650c001000000000f00c002"] is None  # ''
    assert parents["6650c001000000000f00c003"] == "6650c001000000000f00c002"
    reply = row(comments, "comment_id", "6650c001000000000f00c002")
    assert (reply["likes"], reply["commenter_name"], reply["text"]) == (
        12_000,
        "momo",
        "用了烂脸，避雷[哭惹R]",
    )
    assert reply["created_at"] == dt.datetime(2024, 5, 1, 10)
    assert row(comments, "comment_id", "6650c001000000000f00c005")["likes"] == 1_234
    bad = classic.quarantine.filter(pl.col("table") == "comments").to_dicts()
    assert len(bad) == 1 and bad[0]["source_row"] == 2 and "not valid JSON" in bad[0]["reason"]


def test_mediacrawler_creators_from_files_and_derived(classic: RawSource) -> None:
    creators = classic.frames["creators"]
    lu = row(creators, "creator_id", "5f1a0c2b000000000101a1b1")
    assert (lu["follower_count"], lu["following_count"], lu["location"]) == (125_000, 321, "上海")
    assert lu["captured_at"] == dt.datetime(2024, 5, 3, 8)  # last_modify_ts
    assert lu["platform"] == "xiaohongshu"
    lily = row(creators, "creator_id", "61bb22cc000000000303e3f3")
    assert (lily["follower_count"], lily["following_count"]) == (3_400, 1_024)
    assert lily["captured_at"] == dt.datetime(2024, 5, 3)  # date in the file name
    may = row(creators, "creator_id", "60aa11bb000000000202c2d2")  # no creator file row
    assert (may["display_name"], may["location"], may["follower_count"]) == (
        "吃货阿May",
        "广东",
        None,
    )
    assert any("1 creator row(s) derived from note authors" in n for n in classic.notes)


def test_mediacrawler_notes_say_what_is_missing(classic: RawSource) -> None:
    text = "\n".join(classic.notes)
    for missing in ("follower_history", "follower_samples", "partners", "platform_sponsor_label"):
        assert missing in text
    assert "search_comments_2024-05-01_word_freq.json" in text
    assert "anonymised" not in text


def test_mediacrawler_anonymised_maps_creator_hash(anonymised: RawSource) -> None:
    assert_reconciles(anonymised)
    notes = anonymised.frames["notes"]
    assert sorted(notes["creator_id"].unique().to_list()) == ["h_77ab03", "h_9f2c1e"]
    first = row(notes, "note_id", "67a0000000000000aa000001")
    assert (first["likes"], first["collects"], first["comments"], first["shares"]) == (
        35_000,
        12_000,
        1_234,
        100_000,
    )
    assert row(notes, "note_id", "67a0000000000000aa000002")["likes"] == 880  # JSON number
    assert row(notes, "note_id", "67a0000000000000aa000003")["likes"] == 110_000_000  # CSV
    comments = anonymised.frames["comments"]
    assert comments["commenter_id"].to_list() == ["h_c0ffee", "h_beef01"]
    assert comments["parent_comment_id"].to_list() == [None, "67b00000000000000c000001"]
    creators = anonymised.frames["creators"]
    assert sorted(creators["creator_id"].to_list()) == ["h_77ab03", "h_9f2c1e"]
    assert creators["follower_count"].null_count() == 2 and creators["location"].null_count() == 2
    assert anonymised.rows_read["creators"] == 2
    text = "\n".join(anonymised.notes)
    assert "anonymised export" in text and "no creator files" in text


def test_mediacrawler_cut_json_array_raises() -> None:
    with pytest.raises(SourceError) as info:
        read_mediacrawler(MEDIACRAWLER / "cut_json")
    assert info.value.path.endswith("search_contents_2024-05-01.json")


def test_mediacrawler_missing_or_empty_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        read_mediacrawler(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("nothing here", encoding="utf-8")
    with pytest.raises(SourceError):
        read_mediacrawler(tmp_path)
