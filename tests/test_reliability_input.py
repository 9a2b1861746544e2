"""Bad input: every reader survives hostile files, and every row read is accounted for.

Two kinds of evidence:

* a committed corpus of hostile files (``tests/fixtures/hostile/``, rebuilt by its
  ``make_hostile.py``; ``cases.json`` says what must happen to each case), plus 10 MB fields and
  a 20 MB line written at test time;
* property-based tests (hypothesis) that generate frames and files of every supported format
  with wrong types, nulls, extremes, injection strings and invisible characters.

For each input: nothing crashes (a file that cannot be read at all raises SourceError naming
it, and the warehouse keeps its previous tables), every row is accepted or quarantined with a
reason, and per table ``rows_read == accepted + quarantined`` in the reports and in the
warehouse (via ``ingest_directory`` into a temporary DuckDB file).

Set ``KOL_FUZZ_EXAMPLES=10`` to run ten times as many generated cases (a longer fuzzing run).
"""

from __future__ import annotations

import codecs
import collections
import csv
import datetime as dt
import io
import json
import os
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kol_vetting import schema
from kol_vetting import warehouse as wh
from kol_vetting.ingest import ingest_directory, read_source
from kol_vetting.sources.base import QUARANTINE_SCHEMA, SourceError
from kol_vetting.validate import (
    EARLIEST,
    FUTURE_TOLERANCE,
    MAX_COUNT,
    MAX_TEXT_CHARS,
    validate_source,
    validate_table,
)

HOSTILE_DIR = Path(__file__).parent / "fixtures" / "hostile"
CASES = json.loads((HOSTILE_DIR / "cases.json").read_text(encoding="utf-8"))
NOW = dt.datetime(2026, 11, 1)
SCALE = max(1, int(os.environ.get("KOL_FUZZ_EXAMPLES", "1")))
# Generated cases per property (counted as they run; the last test reports the totals).
GENERATED: collections.Counter[str] = collections.Counter()
BUDGET = {"validate_frames": 100, "canonical_files": 50, "mediacrawler_files": 30, "warehouse_ingest": 12}


def fuzz(name: str):
    """Hypothesis settings of one property: deterministic, no example database in the repo."""
    extra = {}
    if os.environ.get("KOL_FUZZ_NO_SHRINK"):
        from hypothesis import Phase

        extra["phases"] = [Phase.explicit, Phase.generate]
    return settings(
        **extra,
        max_examples=BUDGET[name] * SCALE,
        deadline=None,
        derandomize=SCALE == 1,  # CI runs are reproducible; longer runs explore new inputs
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# ---------------------------------------------------------------------------------------------
# Invariants shared by every test.


def check_accepted(table: str, frame: pl.DataFrame) -> None:
    """Accepted rows satisfy the contract: types, required values, ranges, unique keys."""
    spec = schema.TABLES[table]
    target = schema.polars_schema(table)
    assert frame.schema == target, table
    for name in schema.required_columns(table):
        assert frame[name].null_count() == 0, (table, name)
        if target[name] == pl.String:
            assert (frame[name].str.strip_chars() != "").all(), (table, name)
    for name, dtype in target.items():
        col = frame[name].drop_nulls()
        if dtype in (pl.Int64, pl.Float64):
            assert ((col >= 0) & (col <= MAX_COUNT)).all(), (table, name, col.to_list()[:5])
        elif dtype == pl.Date or isinstance(dtype, pl.Datetime):
            stamps = col.cast(pl.Datetime("us"))
            assert (stamps >= EARLIEST).all(), (table, name)
            if name in spec.not_future:
                assert (stamps <= NOW + FUTURE_TOLERANCE).all(), (table, name)
        elif dtype == pl.String:
            assert (col.str.len_chars() <= MAX_TEXT_CHARS).all(), (table, name)
    if frame.height:
        assert not frame.select(list(spec.key)).is_duplicated().any(), (table, "duplicate keys accepted")


def check_validated(validated, expected_read: dict[str, int] | None = None) -> None:
    """Every table reconciles and every quarantined row carries a reason."""
    q = validated.quarantine
    assert q.schema == QUARANTINE_SCHEMA
    assert q["reason"].null_count() == 0 and (q["reason"].str.len_chars() > 5).all()
    for table, report in validated.reports.items():
        assert report.rows_read == report.accepted + report.quarantined, (table, report)
        assert validated.tables[table].height == report.accepted, table
        assert q.filter(pl.col("table") == table).height == report.quarantined, table
        check_accepted(table, validated.tables[table])
        if expected_read is not None and table in expected_read:
            assert report.rows_read == expected_read[table], (table, report.rows_read, expected_read[table])


def check_warehouse(db: Path, validated) -> None:
    """The warehouse holds exactly the accepted rows, the quarantine and a reconciling log."""
    with wh.connect(db, read_only=True) as con:
        log = wh.read_table(con, "ingest_log")
        last = log.filter(pl.col("ingest_id") == log.sort("ingested_at")["ingest_id"][-1])
        assert last.height == len(schema.TABLES)
        quarantine = wh.read_table(con, "quarantine")
        for row in last.iter_rows(named=True):
            table = row["table"]
            assert row["rows_read"] == row["accepted"] + row["quarantined"], row
            stored = wh.read_table(con, table)
            assert stored.height == row["accepted"] == validated.reports[table].accepted, table
            assert quarantine.filter(pl.col("table") == table).height == row["quarantined"], table
            # What was accepted is what is stored, value for value (DuckDB round trip).
            key = list(schema.TABLES[table].key)
            assert stored.sort(key).equals(validated.tables[table].sort(key)), table
        assert quarantine.height == validated.quarantine.height


def snapshot(db: Path) -> dict[str, pl.DataFrame]:
    with wh.connect(db, read_only=True) as con:
        names = [n for n in wh.table_counts(con)]
        return {n: wh.read_table(con, n) for n in names}


# ---------------------------------------------------------------------------------------------
# The committed corpus.


@pytest.fixture(scope="module")
def baseline_db(tmp_path_factory) -> Path:
    """A warehouse holding one clean ingest, copied by tests that check it stays unchanged."""
    db = tmp_path_factory.mktemp("baseline") / "w.duckdb"
    with wh.connect(db) as con:
        ingest_directory(con, HOSTILE_DIR / "canonical" / "duplicate_ids", now=NOW)
    return db


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_corpus_case(name: str, tmp_path: Path, baseline_db: Path) -> None:
    exp = CASES[name]
    folder = HOSTILE_DIR / name
    db = tmp_path / "w.duckdb"
    db.write_bytes(baseline_db.read_bytes())
    if "error" in exp:
        before = snapshot(db)
        with pytest.raises(SourceError) as info:
            read_source(folder, exp["format"])
        assert exp["error"] in info.value.message
        assert str(folder) in str(info.value)  # the message names the file (or the folder)
        with pytest.raises(SourceError), wh.connect(db) as con:
            ingest_directory(con, folder, exp["format"], now=NOW)
        after = snapshot(db)
        assert before.keys() == after.keys()
        for table in before:
            assert before[table].equals(after[table]), table
        return

    validated = validate_source(read_source(folder, exp["format"]), now=NOW)
    check_validated(validated)
    got = {t: [r.rows_read, r.accepted, r.quarantined] for t, r in validated.reports.items() if t in exp["counts"]}
    assert got == exp["counts"]
    reasons = validated.quarantine["reason"].to_list()
    for wanted in exp.get("reasons", []):
        assert any(wanted in r for r in reasons), (wanted, reasons)
    for note in exp.get("notes", []):
        assert any(note in n for n in validated.notes), (note, validated.notes)

    with wh.connect(db) as con:
        validated2, _ = ingest_directory(con, folder, exp["format"], now=NOW)
    check_warehouse(db, validated2)
    with wh.connect(db, read_only=True) as con:
        for table, column, value in exp.get("verbatim", []):
            # Untrusted text goes into DuckDB as data: stored and found back byte for byte.
            hits = wh.scalar(con, f'SELECT count(*) FROM "{table}" WHERE "{column}" = ?', [value])
            assert hits >= 1, (table, column, value)
        # Every table the baseline had still exists (no injected DROP TABLE took effect).
        assert set(schema.TABLES) | {"quarantine", "ingest_log", "ground_truth"} <= set(wh.table_counts(con))
        if "same_instant" in exp:
            s = exp["same_instant"]
            rows = wh.read_table(con, s["table"]).filter(pl.col("comment_id").is_in(s["ids"]))
            assert rows.height == len(s["ids"])
            assert set(rows[s["column"]].to_list()) == {dt.datetime.fromisoformat(s["value"])}
        if "latest" in exp:
            s = exp["latest"]
            assert wh.scalar(con, f'SELECT "{s["column"]}" FROM "{s["table"]}" WHERE note_id = ?', [s["key"]]) == s["value"]


def test_corpus_covers_every_reader_and_format() -> None:
    suffixes = {p.suffix for p in HOSTILE_DIR.rglob("*") if p.is_file() and p.name not in ("cases.json", "make_hostile.py")}
    assert {".csv", ".parquet", ".jsonl", ".json"} <= suffixes
    formats = collections.Counter(c["format"] for c in CASES.values())
    assert formats["canonical"] >= 20 and formats["mediacrawler"] >= 5
    assert sum("error" in c for c in CASES.values()) >= 6


# ---------------------------------------------------------------------------------------------
# Huge fields, written at test time (not committed).

BIG = 10 * 1024 * 1024


def test_ten_megabyte_fields_are_quarantined_not_fatal(tmp_path: Path) -> None:
    big = "长" * (BIG // 3)  # 10 MB of UTF-8, 3.5 million characters
    src = tmp_path / "canonical"
    src.mkdir()
    rows = [["ok", "c", "2026-09-01", "t", "fine", "", "1", ""], ["huge", "c", "2026-09-01", "t", big, "", "1", ""]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([["note_id", "creator_id", "published_at", "title", "body", "tags", "likes", "collects"], *rows])
    (src / "notes.csv").write_text(buf.getvalue(), encoding="utf-8")
    (src / "comments.jsonl").write_text(
        json.dumps({"comment_id": "big", "note_id": "ok", "created_at": "2026-09-01", "text": big}, ensure_ascii=False)
        + "\n" + json.dumps({"comment_id": "small", "note_id": "ok", "created_at": "2026-09-01", "text": "hi"}) + "\n",
        encoding="utf-8",
    )
    pl.DataFrame({"creator_id": ["big", "fine"], "display_name": [big, "x"], "captured_at": ["2026-10-01"] * 2}).write_parquet(
        src / "creators.parquet"
    )
    mc = tmp_path / "mc"
    mc.mkdir()
    (mc / "search_contents_2026-09-02.json").write_text(
        json.dumps([{"note_id": "mbig", "time": 1788220800000, "user_id": "u", "desc": big, "liked_count": "1"},
                    {"note_id": "msmall", "time": 1788220800000, "user_id": "u", "desc": "d", "liked_count": "1"}],
                   ensure_ascii=False),
        encoding="utf-8",
    )
    for folder, fmt, expected in ((src, "canonical", ("notes", "comments", "creators")), (mc, "mediacrawler", ("notes",))):
        validated = validate_source(read_source(folder, fmt), now=NOW)
        check_validated(validated)
        for table in expected:
            rep = validated.reports[table]
            assert (rep.rows_read, rep.accepted, rep.quarantined) == (2, 1, 1), (fmt, table)
        assert validated.quarantine["reason"].str.contains("longer than 1,000,000 characters").sum() == len(expected)
        db = tmp_path / f"{fmt}.duckdb"
        with wh.connect(db) as con:
            validated, _ = ingest_directory(con, folder, fmt, now=NOW)
        check_warehouse(db, validated)


def test_a_line_longer_than_the_reader_allows_is_quarantined(tmp_path: Path) -> None:
    # 20 MB on one CSV line: above the reader's 16 MB line limit. Only that line is lost.
    (tmp_path / "notes.csv").write_text(
        "note_id,creator_id,published_at,likes,body\n"
        "a,c,2026-09-01,1,short\n"
        f"b,c,2026-09-01,1,{'x' * (20 * 1024 * 1024)}\n"
        "c,c,2026-09-01,1,short\n",
        encoding="utf-8",
    )
    validated = validate_source(read_source(tmp_path), now=NOW)
    check_validated(validated)
    rep = validated.reports["notes"]
    assert (rep.rows_read, rep.accepted, rep.quarantined) == (3, 2, 1)
    assert validated.quarantine["reason"].str.contains("line longer than the maximum").any()


# ---------------------------------------------------------------------------------------------
# Generated inputs.

SNIPPETS = [
    "'; DROP TABLE notes; --", "Robert'); DROP TABLE creators;--", '" OR ""="', "1; DELETE FROM quarantine",
    '=HYPERLINK("http://evil.example","x")', "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)",
    "\u200b", "\u200d", "\ufeff", "\u202e", "\u2066", "\x00", "\x1b[31m", "\\", '"', "'", ",", "\n", "\r\n", "\r",
    "../../etc/passwd", "%s%s%n", "{0}", "${jndi:ldap://x}", "null", "NULL", "None", "NaN", "-0", "1e309",
    "小红书", "1.2万", "10万+", "🙂", "e\u0301", "ﷺ", "\U0010ffff",
]
hostile_text = st.one_of(
    st.text(max_size=24),
    st.sampled_from(SNIPPETS),
    st.lists(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=4)), min_size=2, max_size=4).map("".join),
)


def plausible(dtype: pl.DataType) -> st.SearchStrategy[str]:
    """Text a real file would hold for a contract dtype, edge values included."""
    if dtype == pl.Int64:
        return st.one_of(
            st.integers(0, 10**7).map(str),
            st.integers(-(2**70), 2**70).map(str),
            st.integers(0, 10**9).map(lambda v: f"{v:,}"),
            st.sampled_from(["0", "12.0", "1.5", "-1", "1e3", " 7 ", "", "inf"]),
        )
    if dtype == pl.Float64:
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(["1,500.50", "-0.0", ""]))
    if dtype == pl.Boolean:
        return st.sampled_from(["true", "false", "是", "否", "1", "0", "yes", "maybe", ""])
    if dtype == pl.Date:
        return st.one_of(
            st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)).map(str),
            st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "20260901", ""]),
        )
    if isinstance(dtype, pl.Datetime):
        tz = st.sampled_from(["", "Z", "+08:00", "-05:00", " +0530", "+14:00", "-12:00"])
        moment = st.datetimes(dt.datetime(1995, 1, 1), dt.datetime(2030, 1, 1))
        return st.one_of(
            st.tuples(moment, tz).map(lambda mt: mt[0].isoformat() + mt[1]),
            st.integers(-(10**15), 10**15).map(str),  # epoch seconds or milliseconds, or neither
            st.sampled_from(["2026-09-01 08:00", "2026/09/01", "yesterday", "0001-01-01T00:00:00+14:00", ""]),
        )
    if isinstance(dtype, pl.List):
        return st.one_of(
            st.lists(st.text(max_size=6), max_size=3).map(lambda v: json.dumps(v, ensure_ascii=False)),
            st.sampled_from(["#穿搭 #OOTD", "a,b,,c", "[broken", '["x", 1]', "[话题]#", ""]),
        )
    return st.one_of(st.text(alphabet="abcdef0123456789", min_size=1, max_size=8), st.sampled_from(["c1", "n1", "x"]))


def cell(dtype: pl.DataType) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), plausible(dtype), plausible(dtype), hostile_text)


def raw_series(name: str, n: int) -> st.SearchStrategy[pl.Series]:
    """A column of any dtype a Parquet file or an in-memory frame could carry."""
    ints64 = st.integers(-(2**63), 2**63 - 1)
    tz = st.sampled_from([None, "UTC", "Asia/Shanghai", "America/New_York"])
    unit = st.sampled_from(["ns", "us", "ms"])

    def lists(elem):
        return st.lists(st.one_of(st.none(), elem), min_size=n, max_size=n)

    return st.one_of(
        lists(hostile_text).map(lambda v: pl.Series(name, v, dtype=pl.String)),
        lists(ints64).map(lambda v: pl.Series(name, v, dtype=pl.Int64)),
        lists(st.integers(0, 2**64 - 1)).map(lambda v: pl.Series(name, v, dtype=pl.UInt64)),
        lists(st.floats(allow_nan=True, allow_infinity=True)).map(lambda v: pl.Series(name, v, dtype=pl.Float64)),
        lists(st.booleans()).map(lambda v: pl.Series(name, v, dtype=pl.Boolean)),
        lists(st.integers(-(2**31), 2**31 - 1)).map(lambda v: pl.Series(name, v, dtype=pl.Int32).cast(pl.Date)),
        st.tuples(lists(ints64), unit, tz).map(
            lambda a: pl.Series(name, a[0], dtype=pl.Int64).cast(pl.Datetime(a[1], a[2]))
        ),
        st.tuples(lists(st.integers(946_684_800, 1_900_000_000)), tz).map(  # realistic seconds, 2000-2030
            lambda a: (pl.Series(name, a[0], dtype=pl.Int64) * 1_000_000).cast(pl.Datetime("us", a[1]))
        ),
        lists(st.lists(st.integers(-5, 5), max_size=3)).map(lambda v: pl.Series(name, v, dtype=pl.List(pl.Int64))),
        lists(st.lists(hostile_text, max_size=3)).map(lambda v: pl.Series(name, v, dtype=pl.List(pl.String))),
        lists(st.fixed_dictionaries({"a": st.integers(0, 9), "b": st.binary(max_size=3)})).map(
            lambda v: pl.Series(name, v)
        ),
        lists(st.binary(max_size=8)).map(lambda v: pl.Series(name, v, dtype=pl.Binary)),
        lists(st.timedeltas(min_value=-dt.timedelta(days=10**5), max_value=dt.timedelta(days=10**5))).map(lambda v: pl.Series(name, v, dtype=pl.Duration("us"))),
        lists(st.sampled_from(["a", "1", "2026-09-01"])).map(lambda v: pl.Series(name, v, dtype=pl.Categorical)),
        st.just(pl.Series(name, [None] * n, dtype=pl.Null)),
        lists(plausible(pl.Int64)).map(lambda v: pl.Series(name, v, dtype=pl.String)),
        lists(plausible(pl.Datetime("us"))).map(lambda v: pl.Series(name, v, dtype=pl.String)),
    )


@st.composite
def raw_table(draw) -> tuple[str, pl.DataFrame]:
    table = draw(st.sampled_from(sorted(schema.TABLES)))
    target = schema.polars_schema(table)
    n = draw(st.integers(0, 6))
    # Usually all columns (so rows can pass), sometimes a random subset; plus an unknown column.
    names = list(target.names())
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    columns = []
    for name in names:
        if draw(st.integers(0, 2)) == 0:
            columns.append(draw(raw_series(name, n)))
        else:
            columns.append(pl.Series(name, draw(st.lists(cell(target[name]), min_size=n, max_size=n)), dtype=pl.String))
    if draw(st.booleans()):
        columns.append(draw(raw_series("not_in_contract", n)))
    return table, pl.DataFrame(columns, height=n) if columns else pl.DataFrame(height=n)


@fuzz("validate_frames")
@given(raw_table())
def test_validate_table_never_crashes_and_accounts_for_every_row(case) -> None:
    GENERATED["validate_frames"] += 1
    table, frame = case
    accepted, quarantined, report = validate_table(table, frame, now=NOW)
    assert report.rows_read == frame.height == report.accepted + report.quarantined
    assert accepted.height == report.accepted and quarantined.height == report.quarantined
    assert quarantined.schema == QUARANTINE_SCHEMA
    assert quarantined["reason"].null_count() == 0 and (quarantined["reason"].str.len_chars() > 5).all()
    check_accepted(table, accepted)


# Files: rows of text written in every format the canonical reader accepts.
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "utf-16"]


@st.composite
def canonical_file(draw) -> tuple[str, str, str, list[str], list[list[str | None]], int]:
    table = draw(st.sampled_from(sorted(schema.TABLES)))
    target = schema.polars_schema(table)
    names = list(target.names())
    if draw(st.integers(0, 3)) == 0:
        names = draw(st.lists(st.sampled_from(names), unique=True, min_size=1, max_size=len(names)))
    if draw(st.integers(0, 3)) == 0:
        names.append(draw(st.sampled_from(["extra", "'; DROP TABLE notes; --", "=1+1", "\ufeffbom", "Note_ID"])))
    rows = draw(st.lists(st.tuples(*[cell(target.get(c, pl.String())) for c in names]).map(list), max_size=6))
    fmt = draw(st.sampled_from(["csv", "jsonl", "json", "parquet"]))
    encoding = draw(st.sampled_from(ENCODINGS)) if fmt == "csv" else "utf-8"
    cut = draw(st.one_of(st.just(0), st.integers(1, 40)))  # bytes cut off the end (a crash mid-write)
    return table, fmt, encoding, names, rows, cut


def _write_table_file(folder: Path, table: str, fmt: str, encoding: str, names: list[str], rows) -> Path:
    path = folder / f"{table}.{fmt}"
    if fmt == "csv":
        buf = io.StringIO()
        # Excel's line end: the csv module then quotes values holding a lone \r or \n.
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(names)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
        text = buf.getvalue()
        if encoding == "utf-16":
            path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le", errors="surrogatepass"))
        else:
            path.write_bytes(text.encode(encoding, errors="surrogatepass"))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(dict(zip(names, row)), ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps([dict(zip(names, row)) for row in rows], ensure_ascii=False), encoding="utf-8")
    else:
        frame = pl.DataFrame({n: pl.Series(n, [row[i] for row in rows], dtype=pl.String) for i, n in enumerate(dict.fromkeys(names))})
        frame.write_parquet(path)
    return path


def _no_dup_names(names: list[str]) -> bool:
    return len({n.lower() for n in names}) == len(names)


@fuzz("canonical_files")
@given(canonical_file())
def test_canonical_files_never_crash_and_reconcile(case) -> None:
    GENERATED["canonical_files"] += 1
    table, fmt, encoding, names, rows, cut = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _write_table_file(folder, table, fmt, encoding, names, rows)
        if cut and fmt != "parquet":
            data = path.read_bytes()
            path.write_bytes(data[: max(0, len(data) - cut)])
        try:
            validated = validate_source(read_source(folder), now=NOW)
        except SourceError as exc:
            # Only a JSON array cut short, or bytes cut inside a UTF-16 character, may stop the ingest.
            assert cut, (fmt, encoding, exc)
            assert fmt == "json" or encoding == "utf-16", (fmt, encoding, exc)
            return
        exact = not cut and _no_dup_names(names) and not (fmt == "jsonl" and not rows)
        check_validated(validated, {table: len(rows)} if exact and fmt != "json" else None)
        if exact and fmt in ("jsonl", "parquet"):
            # Text that was accepted is stored as written, invisible characters included.
            acc = validated.tables[table]
            for i, name in enumerate(names):
                if schema.polars_schema(table).get(name) == pl.String and acc.height:
                    written = {row[i] for row in rows if row[i] is not None}
                    assert set(acc[name].drop_nulls().to_list()) <= written, name


# MediaCrawler exports: contents, comments and creator files with hostile values.
MC_FIELDS = {
    "contents": ["note_id", "type", "title", "desc", "time", "user_id", "creator_hash", "nickname", "liked_count",
                 "collected_count", "comment_count", "share_count", "ip_location", "tag_list", "last_modify_ts", "note_url"],
    "comments": ["comment_id", "note_id", "content", "user_id", "nickname", "create_time", "like_count", "parent_comment_id"],
    "creator": ["user_id", "nickname", "desc", "ip_location", "fans", "follows", "last_modify_ts"],
}
COUNTS = st.one_of(
    st.integers(-5, 10**12).map(str),
    st.sampled_from(["1.2万", "10万+", "3.5w", "1.1亿", "1,234", "2k", "1000+", "", "???", "1.2.3万", "万", "-1万", "1e400"]),
    hostile_text,
)
EPOCHS = st.one_of(
    st.integers(-(10**18), 10**18).map(str),
    st.integers(1_600_000_000_000, 1_800_000_000_000).map(str),
    st.sampled_from(["", "0", "1.7e12", "nan", "yesterday"]),
    hostile_text,
)


def mc_value(field: str) -> st.SearchStrategy[str | None]:
    if field.endswith("_count") or field in ("fans", "follows"):
        return st.one_of(st.none(), COUNTS)
    if field in ("time", "create_time", "last_modify_ts"):
        return st.one_of(st.none(), EPOCHS)
    if field in ("note_id", "comment_id", "user_id", "creator_hash", "parent_comment_id"):
        return st.one_of(st.none(), st.sampled_from(["a1", "a2", "b1", "0", "", "../x"]), hostile_text)
    return st.one_of(st.none(), hostile_text)


@st.composite
def mediacrawler_export(draw):
    files = []
    for i in range(draw(st.integers(1, 3))):
        item = draw(st.sampled_from(sorted(MC_FIELDS)))
        fields = [f for f in MC_FIELDS[item] if draw(st.integers(0, 5))]
        rows = draw(st.lists(st.tuples(*[mc_value(f) for f in fields]).map(list), max_size=5))
        ext = draw(st.sampled_from(["csv", "json", "jsonl"]))
        crawler = draw(st.sampled_from(["search", "detail", "creator"]))
        date = draw(st.sampled_from(["2026-09-01", "2026-13-45", ""]))
        name = f"{i}_{crawler}_{item}" + (f"_{date}" if date else "") + f".{ext}"
        files.append((name, ext, fields, rows, draw(st.sampled_from([0, 0, 7]))))
    return files


@fuzz("mediacrawler_files")
@given(mediacrawler_export())
def test_mediacrawler_exports_never_crash_and_reconcile(files) -> None:
    GENERATED["mediacrawler_files"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, ext, fields, rows, cut in files:
            path = folder / "data" / "xhs" / ext / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if ext == "csv":
                buf = io.StringIO()
                writer = csv.writer(buf, lineterminator="\r\n")
                writer.writerow(fields)
                writer.writerows([["" if v is None else v for v in row] for row in rows])
                data = ("\ufeff" + buf.getvalue()).encode("utf-8", errors="surrogatepass")
            elif ext == "jsonl":
                data = "".join(json.dumps(dict(zip(fields, r)), ensure_ascii=False) + "\n" for r in rows).encode()
            else:
                data = json.dumps([dict(zip(fields, r)) for r in rows], ensure_ascii=False, indent=2).encode()
            path.write_bytes(data[: len(data) - cut] if cut else data)
        try:
            validated = validate_source(read_source(folder, "mediacrawler"), now=NOW)
        except SourceError as exc:
            assert any(cut and ext == "json" for _, ext, _, _, cut in files), exc
            return
        check_validated(validated)


# Through the warehouse: generated canonical folders ingested into a DuckDB file.


@st.composite
def canonical_folder(draw):
    tables = draw(st.lists(st.sampled_from(sorted(schema.TABLES)), unique=True, min_size=1, max_size=4))
    out = []
    for table in tables:
        names = list(schema.polars_schema(table).names())
        target = schema.polars_schema(table)
        rows = draw(st.lists(st.tuples(*[cell(target[c]) for c in names]).map(list), max_size=5))
        out.append((table, draw(st.sampled_from(["csv", "jsonl", "parquet"])), names, rows))
    return out


@fuzz("warehouse_ingest")
@given(canonical_folder())
def test_generated_folders_load_the_warehouse_and_reconcile(tables) -> None:
    GENERATED["warehouse_ingest"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "src"
        folder.mkdir()
        for table, fmt, names, rows in tables:
            _write_table_file(folder, table, fmt, "utf-8", names, rows)
        db = Path(tmp) / "w.duckdb"
        with wh.connect(db) as con:
            validated, _ = ingest_directory(con, folder, now=NOW)
        check_validated(validated, {t: len(r) for t, fmt, _, r in tables if fmt != "jsonl" or r})
        check_warehouse(db, validated)


def test_zz_report_generated_case_counts(capsys) -> None:
    """Every property ran its full budget (the figure quoted in docs/reliability.md)."""
    ran = dict(GENERATED)
    for name, budget in BUDGET.items():
        # Run alone (-k), a property's count is zero here; in the full module it must be complete.
        if ran.get(name):
            assert ran[name] >= budget * SCALE * 0.9, (name, ran[name])
    with capsys.disabled():
        print(f"\n[reliability] generated input cases run: {sum(ran.values())} {ran}; "
              f"hostile corpus cases: {len(CASES)}")
