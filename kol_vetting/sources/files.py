"""Read the canonical source format, and the file-level readers other sources build on.

Canonical format: a directory with one file per contract table, named ``{table}.csv``,
``{table}.parquet``, ``{table}.jsonl`` / ``.ndjson`` / ``.json``, or a directory ``{table}/`` of
part files in any of those formats. Columns carry contract names (see
:mod:`kol_vetting.schema`).

Reading is tolerant where a crawler or a spreadsheet leaves damage that concerns single rows,
and strict where the file as a whole is unreadable:

* CSV is read by DuckDB with ``store_rejects``: a truncated last line (too few fields, an
  unterminated quote, bytes cut inside a character) goes to the quarantine with its line
  number and a reason, every complete line loads. UTF-8 with or without BOM, UTF-16 with BOM
  and GB18030/GBK (Excel on Chinese Windows) are detected and decoded.
* JSONL: each line that is not a JSON object is quarantined with its line number.
* A JSON array cut short, a missing or unreadable file, or bytes in no supported encoding
  raise :class:`~kol_vetting.sources.base.SourceError` naming the file.

Values stay as read (strings for text formats, native types for Parquet); the validator casts
them. Two normalizations are done here because they need format knowledge: ``tags`` becomes
``List(String)`` (from a JSON array string or a ``#``/comma separated string), and timestamps
with a UTC offset or time zone become naive UTC.

No Python loop runs over data rows: DuckDB and Polars do the row work, Python loops over files.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from kol_vetting import schema
from kol_vetting.sources.base import (
    QUARANTINE_SCHEMA,
    SOURCE_FILE,
    SOURCE_ROW,
    RawSource,
    SourceError,
)

# File suffixes a table file may have, by reader.
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)
PARQUET_SUFFIXES = (".parquet",)
SUFFIXES = CSV_SUFFIXES + JSONL_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES

# Bytes read at a time when checking or converting a text file's encoding.
_CHUNK = 1 << 24
# Longest CSV line DuckDB accepts; a note body is far shorter, a broken file may not be.
_MAX_LINE_BYTES = 16 * 1024 * 1024
# Prefix of the generated names DuckDB reads CSV fields into (__c0, __c1, ...): the file's own
# column names never enter SQL text.
_INTERNAL_PREFIX = "__c"
# Characters DuckDB treats as glob patterns in file paths.
_GLOB_CHARS = ("*", "?", "[")

# Why DuckDB rejected a CSV line, in words a data steward understands.
_CSV_ERROR_REASONS = {
    "MISSING COLUMNS": "fewer fields than the header (line cut short?)",
    "TOO MANY COLUMNS": "more fields than the header",
    "UNQUOTED VALUE": "unterminated quote (line cut short?)",
    "INVALID ENCODING": "invalid UTF-8 bytes (line cut short inside a character?)",
    "INVALID UNICODE": "invalid UTF-8 bytes (line cut short inside a character?)",
    "LINE SIZE OVER MAXIMUM": "line longer than the maximum allowed",
}


@dataclass
class FileRead:
    """One file read as it is: its own column names, values as read.

    ``frame`` has the file's columns plus ``_source_file`` and ``_source_row``; ``quarantine``
    holds the rows that could not be parsed (in :data:`QUARANTINE_SCHEMA`, ``table`` left null
    for the caller to fill); ``rows_seen`` = ``frame.height + quarantine.height``.

    ``_source_row`` numbering: CSV rows as a spreadsheet shows them (header = 1, first data row
    = 2; exact unless the file contains blank lines), JSONL physical line numbers, JSON array
    element numbers and Parquet row numbers (both from 1).
    """

    path: Path
    frame: pl.DataFrame
    quarantine: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))
    notes: list[str] = field(default_factory=list)

    @property
    def rows_seen(self) -> int:
        """Every row seen in the file, parsed or quarantined."""
        return self.frame.height + self.quarantine.height


# ---------------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------------


def detect_encoding(path: Path) -> str:
    """Return the text encoding of ``path``: ``utf-8``, ``utf-16`` or ``gb18030``.

    UTF-8 is tried first (a BOM is allowed), then GB18030 (a superset of GBK and GB2312, which
    Excel on Chinese Windows writes). Incomplete bytes at the very end of the file are
    tolerated: a crawler stopped mid-write cuts the last line, which the line reader then
    quarantines. Raises :class:`SourceError` when the file cannot be opened or is neither.
    """
    try:
        with open(path, "rb") as f:
            start = f.read(2)
    except OSError as exc:
        raise SourceError(path, f"cannot open file: {exc.strerror or exc}") from exc
    if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    for encoding in ("utf-8", "gb18030"):
        if _decodes(path, encoding):
            return encoding
    raise SourceError(path, "cannot decode the file: it is neither UTF-8 nor GB18030/GBK text")


def _decodes(path: Path, encoding: str) -> bool:
    """True when the whole file decodes in ``encoding`` (a cut-off last character allowed)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                decoder.decode(chunk)
    except UnicodeDecodeError:
        return False
    except OSError as exc:
        raise SourceError(path, f"cannot read file: {exc.strerror or exc}") from exc
    return True


@dataclass
class _Utf8View:
    """A UTF-8 version of a text file: the file itself, or a converted temporary copy."""

    path: Path
    encoding: str
    # Text of a last line dropped because the file ends inside a character (converted files).
    cut_tail: str | None = None


@contextmanager
def utf8_view(path: Path) -> Iterator[_Utf8View]:
    """Yield a UTF-8 readable path for ``path`` that DuckDB can open.

    GB18030/UTF-16 files are converted to a temporary UTF-8 file; a UTF-8 file whose path
    contains glob characters is linked under a plain temporary name.

    DuckDB reads UTF-8 only; conversion streams in chunks, so memory stays flat. When a
    converted file ends inside a character, its last (partial) line is left out of the copy and
    returned as ``cut_tail`` so the caller can quarantine it.
    """
    encoding = detect_encoding(path)
    glob_like = any(c in str(path) for c in _GLOB_CHARS)
    if encoding == "utf-8" and not glob_like:
        yield _Utf8View(path, encoding)
        return
    with tempfile.TemporaryDirectory(prefix="kol_vetting_") as tmp:
        # A plain name: DuckDB would read '*', '?' and '[' in a path as a glob pattern.
        target = Path(tmp) / ("source" + path.suffix.lower())
        if encoding == "utf-8":
            try:
                os.symlink(path.resolve(), target)
            except OSError:
                shutil.copyfile(path, target)
            yield _Utf8View(target, encoding)
            return
        cut_tail = _transcode(path, encoding, target)
        yield _Utf8View(target, encoding, cut_tail)


def _transcode(source: Path, encoding: str, target: Path) -> str | None:
    """Write ``source`` (in ``encoding``) to ``target`` as UTF-8; return a cut-off last line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    pending = ""  # text after the last newline, held back until the line is known complete
    with open(source, "rb") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(_CHUNK):
            text = pending + decoder.decode(chunk)
            cut = text.rfind("\n") + 1
            dst.write(text[:cut])
            pending = text[cut:]
        if decoder.getstate()[0]:
            # The file ends inside a character: the writer stopped mid-line.
            return pending
        dst.write(pending)
    return None


def read_text(path: Path) -> str:
    """The whole text of ``path`` (UTF-8, GB18030 or UTF-16 detected; BOM removed)."""
    encoding = detect_encoding(path)
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as f:
        # Without final=True a cut-off last character is dropped, not raised: that line is
        # incomplete JSON anyway and will be quarantined.
        text = decoder.decode(f.read())
    return text.removeprefix("\ufeff")


# ---------------------------------------------------------------------------------------------
# Quarantine helpers
# ---------------------------------------------------------------------------------------------


def quarantine_frame(path: Path, rows: pl.DataFrame, table: str | None = None) -> pl.DataFrame:
    """Quarantine rows for one file from a frame with ``source_row``, ``row`` and ``reason``."""
    return rows.select(
        pl.lit(str(path), pl.String).alias("source_file"),
        pl.lit(table, pl.String).alias("table"),
        pl.col("source_row").cast(pl.Int64),
        pl.col("row").cast(pl.String),
        pl.col("reason").cast(pl.String),
    )


def _with_source(frame: pl.DataFrame, path: Path, rows: pl.Series) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(str(path), pl.String).alias(SOURCE_FILE), rows.cast(pl.Int64).alias(SOURCE_ROW)
    )


def _empty_read(path: Path, note: str | None = None) -> FileRead:
    frame = pl.DataFrame(schema={SOURCE_FILE: pl.String(), SOURCE_ROW: pl.Int64()})
    return FileRead(path, frame, notes=[note] if note else [])


def _unique_names(names: list[str]) -> tuple[list[str], list[str]]:
    """Clean header names (BOM, blanks) and make duplicates unique; return names and notes."""
    out: list[str] = []
    notes: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(names):
        name = raw.replace("\ufeff", "").strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            renamed = f"{name}_{seen[name]}"
            notes.append(f"duplicate column {name!r} renamed to {renamed!r}")
            name = renamed
        else:
            seen[name] = 1
        out.append(name)
    return out, notes


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def read_csv_file(path: Path) -> FileRead:
    """Read one CSV file (header line first) with every value as a string.

    In: a comma-separated file with ``"`` quoting, in UTF-8 (BOM or not), UTF-16 with BOM or
    GB18030/GBK. Out: a :class:`FileRead` whose frame has the header's column names; lines
    DuckDB cannot parse (too few/many fields, unterminated quote, broken bytes) are in its
    quarantine with the line number and a reason. Raises :class:`SourceError` when the file is
    missing, unreadable or in no supported encoding.
    """
    if _is_blank(path):
        return _empty_read(path, f"{path.name}: empty file")
    with utf8_view(path) as view:
        header = _csv_header(view.path, path)
        names, notes = _unique_names(header)
        data, rejects = _duckdb_csv(view.path, len(names), path)
        # Row 1 is the header line (read as data so that no column name reaches the SQL).
        reject_lines = rejects.get_column("line").unique().sort()
        numbers = _accepted_line_numbers(data.height, reject_lines)
        data = data.rename({f"{_INTERNAL_PREFIX}{i}": name for i, name in enumerate(names)})
        keep = numbers != 1
        frame = _with_source(data.filter(keep), path, numbers.filter(keep))
        quarantine = _csv_quarantine(path, rejects)
        if view.cut_tail is not None:
            last = max(int(numbers.max() or 1), int(reject_lines.max() or 0)) + 1
            tail = pl.DataFrame(
                {
                    "source_row": [last],
                    "row": [view.cut_tail],
                    "reason": [
                        "last line cut short inside a character (file truncated while written)"
                    ],
                }
            )
            quarantine = pl.concat([quarantine, quarantine_frame(path, tail)])
        if view.encoding != "utf-8":
            notes.append(f"decoded from {view.encoding}")
    return FileRead(path, frame, quarantine, [f"{path.name}: {n}" for n in notes])


def _is_blank(path: Path) -> bool:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(path, f"cannot open file: {exc.strerror or exc}") from exc
    if size > 4096:
        return False
    with open(path, "rb") as f:
        return not f.read().strip(b" \t\r\n\xef\xbb\xbf")


def _csv_header(readable: Path, original: Path) -> list[str]:
    """Column names from the first CSV record (parsed by Python's csv module, quotes honoured)."""
    with open(readable, encoding="utf-8", errors="replace", newline="") as f:
        head = f.read(1 << 20)
    # newline="" lets the csv module see \r, \n and \r\n line ends alike (old Mac files end
    # lines with \r only); a NUL byte or other damage in the header is a file-level error.
    try:
        first = next(csv.reader(io.StringIO(head.removeprefix("\ufeff"), newline="")), None)
    except csv.Error as exc:
        raise SourceError(original, f"cannot read the CSV header line: {exc}") from exc
    if not first:
        raise SourceError(original, "CSV file has no header line")
    return first


def _duckdb_csv(
    readable: Path, n_columns: int, original: Path
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """All records of a CSV as strings (header included) and DuckDB's rejected lines."""
    # Only generated names (__c0, __c1, ...) and constants enter the SQL text; the path is a
    # parameter, and the file's own column names are applied afterwards in Polars.
    columns = ", ".join(f"'{_INTERNAL_PREFIX}{i}': 'VARCHAR'" for i in range(n_columns))
    sql = (
        "select * from read_csv(?, header = false, auto_detect = false, delim = ',', quote = '\"', "
        f"escape = '\"', columns = {{{columns}}}, store_rejects = true, max_line_size = {_MAX_LINE_BYTES})"
    )
    con = _connect()
    try:
        data = con.sql(sql, params=[str(readable)]).pl()
        rejects = con.sql(
            "select line::BIGINT as line, csv_line, error_type, error_message from reject_errors order by line"
        ).pl()
    except duckdb.Error as exc:
        raise SourceError(original, f"cannot read CSV: {exc}") from exc
    finally:
        con.close()
    return data, rejects


def _connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection (no progress bar on the console)."""
    con = duckdb.connect()
    con.sql("set enable_progress_bar = false")
    return con


def _accepted_line_numbers(n_accepted: int, reject_lines: pl.Series) -> pl.Series:
    """Record numbers (from 1) of the accepted records, given the sorted rejected numbers.

    The k-th accepted record is the k-th number not among the rejected ones:
    ``k + #{j : reject_j - j < k}`` with ``j`` counting rejects from 1 (``reject_j - j`` is the
    number of accepted records before reject ``j``).
    """
    k = pl.int_range(1, n_accepted + 1, eager=True, dtype=pl.Int64)
    if reject_lines.len() == 0:
        return k
    gaps = reject_lines.cast(pl.Int64) - pl.int_range(
        1, reject_lines.len() + 1, eager=True, dtype=pl.Int64
    )
    return k + gaps.search_sorted(k, side="left").cast(pl.Int64)


def _csv_quarantine(path: Path, rejects: pl.DataFrame) -> pl.DataFrame:
    """One quarantine row per rejected CSV line, reasons of several errors joined."""
    if rejects.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    friendly = pl.col("error_type").replace_strict(_CSV_ERROR_REASONS, default=pl.col("error_type"))
    per_error = rejects.with_columns(
        pl.concat_str(
            [
                pl.lit("unreadable CSV line: "),
                friendly,
                pl.lit(" ("),
                pl.col("error_message"),
                pl.lit(")"),
            ]
        ).alias("reason")
    )
    per_line = per_error.group_by("line", maintain_order=True).agg(
        pl.col("csv_line").first().str.strip_chars("\r\n").alias("row"),
        pl.col("reason").unique(maintain_order=True).str.join("; "),
    )
    return quarantine_frame(path, per_line.rename({"line": "source_row"}))


# ---------------------------------------------------------------------------------------------
# JSON lines and JSON arrays
# ---------------------------------------------------------------------------------------------


def read_jsonl_file(path: Path) -> FileRead:
    """Read a JSON-lines file: one object per line; blank lines are skipped.

    Out: a :class:`FileRead` with one string column per key seen in any object (nested values
    as JSON text, numbers as their text); lines that are not a JSON object are quarantined with
    their line number. Raises :class:`SourceError` if the file is missing or undecodable.
    """
    text = read_text(path)
    lines = (
        pl.DataFrame({"json": [text]})
        .select(pl.col("json").str.split("\n"))
        .explode("json")
        .with_row_index("n", offset=1)
        .with_columns(pl.col("json").str.strip_chars_end("\r"))
        .filter(pl.col("json").str.strip_chars().str.len_bytes() > 0)
    )
    return _json_objects(path, lines, "line")


def read_json_file(path: Path) -> FileRead:
    """Read a ``.json`` file: a JSON array of objects, or JSON lines when it does not start with '['.

    A JSON array that is cut short (a crawler stopped mid-write) or otherwise malformed raises
    :class:`SourceError`: unlike JSON lines, nothing in it can be trusted to be complete.
    Elements that are not objects are quarantined with their element number.
    """
    if _is_blank(path):
        return _empty_read(path, f"{path.name}: empty file")
    if _first_char(path) != "[":
        return read_jsonl_file(path)
    with utf8_view(path) as view:
        con = _connect()
        try:
            objects = con.sql(
                "select json::VARCHAR as json from read_json_objects(?, format = 'array')",
                params=[str(view.path)],
            ).pl()
        except duckdb.Error as exc:
            raise SourceError(path, f"malformed JSON array (file cut short?): {exc}") from exc
        finally:
            con.close()
    return _json_objects(path, objects.with_row_index("n", offset=1), "element")


def _first_char(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4096)
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    return text[:1]


def _json_objects(path: Path, lines: pl.DataFrame, unit: str) -> FileRead:
    """Turn a frame of (``n``, ``json`` text) into one string column per key, quarantining non-objects."""
    con = _connect()
    try:
        con.register("lines", lines)
        kinds = con.sql(
            "select case when json_valid(json) then json_type(json) end as kind from lines"
        ).pl()
        lines = lines.with_columns(kinds.get_column("kind"))
        good = lines.filter(pl.col("kind") == "OBJECT").drop("kind")
        bad = lines.filter(pl.col("kind").is_null() | (pl.col("kind") != "OBJECT"))
        con.register("good", good)
        # Keys in order of first appearance: line, then position in the object (json_keys is much
        # cheaper than merging structures). Without the position, keys first seen on the same
        # line came out in hash order, so which of 'id'/'ID' was kept changed from run to run.
        found = con.sql(
            "select k from (select n, unnest(json_keys(json)) as k, "
            "unnest(range(len(json_keys(json)))) as pos from good) "
            "group by k order by min(n), arg_min(pos, n), k"
        ).pl()
        keys, notes = _json_keys(found.get_column("k").to_list())
        if keys:
            # The struct spec is a parameter value (JSON), never SQL text.
            spec = json.dumps({k: "VARCHAR" for k in keys}, ensure_ascii=False)
            values = con.sql("select unnest(json_transform(json, ?)) from good", params=[spec]).pl()
        else:
            values = pl.DataFrame(schema={})
    except duckdb.Error as exc:
        raise SourceError(path, f"cannot read JSON: {exc}") from exc
    finally:
        con.close()
    rows = good.get_column("n")
    if values.width:
        frame = _with_source(values, path, rows)
    else:  # no keys at all (only empty objects): keep the row count
        frame = rows.to_frame(SOURCE_ROW).select(
            pl.lit(str(path), pl.String).alias(SOURCE_FILE), pl.col(SOURCE_ROW).cast(pl.Int64)
        )
    quarantine = quarantine_frame(
        path,
        bad.select(
            pl.col("n").alias("source_row"),
            pl.col("json").alias("row"),
            pl.when(pl.col("kind").is_null())
            .then(pl.format(f"{unit} {{}} is not valid JSON (cut short?)", pl.col("n")))
            .otherwise(
                pl.format(
                    f"{unit} {{}} is a JSON {{}}, not an object",
                    pl.col("n"),
                    pl.col("kind").str.to_lowercase(),
                )
            )
            .alias("reason"),
        ),
    )
    return FileRead(path, frame, quarantine, [f"{path.name}: {n}" for n in notes])


def _json_keys(found: list[str]) -> tuple[list[str], list[str]]:
    """Object keys to extract, first-seen order kept; case-insensitive clashes dropped.

    DuckDB struct fields are case-insensitive, so ``Name`` and ``name`` cannot both be kept.
    Of keys that differ only by letter case, the all-lower-case one is kept (contract and
    MediaCrawler names are lower case), else the first seen.
    """
    chosen: dict[str, str] = {}
    for key in found:
        folded = key.lower()
        if folded not in chosen or (key == folded and chosen[folded] != folded):
            chosen[folded] = key
    keys = [key for key in found if chosen[key.lower()] == key]
    notes = [
        f"key {key!r} ignored: differs from key {chosen[key.lower()]!r} only by letter case"
        for key in found
        if chosen[key.lower()] != key
    ]
    return keys, notes


# ---------------------------------------------------------------------------------------------
# Parquet and dispatch
# ---------------------------------------------------------------------------------------------


def read_parquet_file(path: Path) -> FileRead:
    """Read a Parquet file with its native types; raises :class:`SourceError` if unreadable."""
    try:
        data = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError, ValueError) as exc:
        raise SourceError(path, f"cannot read Parquet: {exc}") from exc
    rows = pl.int_range(1, data.height + 1, eager=True, dtype=pl.Int64)
    return FileRead(path, _with_source(data, path, rows))


def read_file(path: Path) -> FileRead:
    """Read one table file with the reader its suffix calls for (csv, jsonl/ndjson, json, parquet)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise SourceError(path, "file does not exist")
    if suffix in CSV_SUFFIXES:
        return read_csv_file(path)
    if suffix in JSONL_SUFFIXES:
        if _is_blank(path):
            return _empty_read(path, f"{path.name}: empty file")
        return read_jsonl_file(path)
    if suffix in JSON_SUFFIXES:
        return read_json_file(path)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet_file(path)
    raise SourceError(path, f"unsupported file type {suffix!r}")


# ---------------------------------------------------------------------------------------------
# Normalizations shared by readers
# ---------------------------------------------------------------------------------------------

# One JSON string, with only the escapes JSON allows (so a match always decodes).
_JSON_STRING = r'"(?:[^"\\]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"'
_JSON_STRING_ARRAY = rf"^\[\s*(?:{_JSON_STRING}\s*(?:,\s*{_JSON_STRING}\s*)*)?\]$"
# Tag separators in free text: '#', ASCII/full-width commas and semicolons, whitespace.
_TAG_SEPARATORS = r"[#,，;；\s]+"


def tags_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    """Expression turning a tags column into ``List(String)`` of tags without '#'.

    In: ``List`` of strings, or strings holding a JSON array (``'["穿搭","OOTD"]'``) or a
    ``#``/comma/space separated list (``'#穿搭 #OOTD'``, ``'穿搭,OOTD'``). Out: list of trimmed,
    non-empty tags with leading '#' and XHS's ``[话题]`` suffix removed; null stays null, an
    empty string becomes an empty list.
    """
    return (
        pl.col(column)
        .map_batches(parse_tags, return_dtype=pl.List(pl.String), is_elementwise=True)
        .alias(column)
    )


def parse_tags(values: pl.Series) -> pl.Series:
    """Series version of :func:`tags_expr`."""
    if isinstance(values.dtype, pl.List):
        steps = pl.DataFrame({"listed": values.cast(pl.List(pl.String))})
    else:
        # Step by step on a frame so that every intermediate is computed once.
        steps = pl.DataFrame({"text": values.cast(pl.String).str.strip_chars()})
        # Nulls are skipped by string kernels: only '['-strings pay for the JSON regex.
        steps = steps.with_columns(
            is_json=pl.when(pl.col("text").str.starts_with("["))
            .then(pl.col("text"))
            .str.contains(_JSON_STRING_ARRAY)
            .fill_null(False)
        )
        steps = steps.with_columns(
            # Only strings known to be valid JSON arrays reach json_decode, so it cannot fail.
            decoded=pl.when(pl.col("is_json"))
            .then(pl.col("text"))
            .otherwise(pl.lit("[]"))
            .str.json_decode(pl.List(pl.String)),
            split=pl.when(pl.col("is_json"))
            .then(pl.lit(None, pl.String))
            .otherwise(pl.col("text"))
            .str.strip_chars("[]")
            .str.replace_all(_TAG_SEPARATORS, "\u001f")
            .str.split("\u001f"),
        )
        steps = steps.select(
            listed=pl.when(pl.col("text").is_null())
            .then(None)
            .when(pl.col("is_json"))
            .then(pl.col("decoded"))
            .otherwise(pl.col("split"))
        )
    element = (
        pl.element()
        .str.strip_chars()
        .str.strip_chars("\"'")
        .str.strip_chars_start("#")
        .str.replace(r"\[话题\]$", "")
    ).str.strip_chars()
    cleaned = steps.select(
        pl.col("listed")
        .list.eval(element)
        .list.eval(pl.element().filter(pl.element().str.len_chars() > 0))
    )
    return cleaned.to_series().alias(values.name)


# ISO-like timestamp with an explicit UTC offset or 'Z': date, time, offset.
_OFFSET_TIMESTAMP = (
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|z|[+-]\d{2}(?::?\d{2})?)$"
)
# Cheap pre-filter: the value ends in 'Z' or in a numeric offset such as +08, +0800, +08:00.
_OFFSET_END = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


def utc_timestamp_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    """Expression making timestamps naive UTC.

    In: a ``Datetime`` (with or without time zone) or string column. Out: ``Datetime`` columns
    converted to UTC and stripped of the zone; strings with an offset
    (``2024-05-01T10:00:00+08:00``, ``...Z``, ``... +0800``) rewritten as naive-UTC ISO strings
    (``2024-05-01T02:00:00.000000``); every other value left as it was for the validator.
    """
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return col.dt.convert_time_zone("UTC").dt.replace_time_zone(None).alias(column)
        return col
    if not (dtype == pl.String or dtype == pl.Null):
        return col
    return col.map_batches(
        utc_timestamp_strings, return_dtype=pl.String, is_elementwise=True
    ).alias(column)


def utc_timestamp_strings(values: pl.Series) -> pl.Series:
    """Series version of :func:`utc_timestamp_expr` for strings."""
    steps = pl.DataFrame({"raw": values.cast(pl.String)}).with_columns(
        text=pl.col("raw").str.strip_chars()
    )
    # Only values ending in an offset go through the (costlier) regex and parse.
    steps = steps.with_columns(
        candidate=pl.when(pl.col("text").str.slice(-6).str.contains(_OFFSET_END)).then(
            pl.col("text")
        )
    )
    steps = steps.with_columns(
        parts=pl.col("candidate").str.extract_groups(_OFFSET_TIMESTAMP)
    ).unnest("parts")
    steps = steps.with_columns(
        time=pl.when(pl.col("2").str.len_chars() == 5)
        .then(pl.col("2") + ":00")
        .otherwise(pl.col("2")),
        offset=pl.when(pl.col("3").str.to_uppercase() == "Z")
        .then(pl.lit("+00:00"))
        .when(pl.col("3").str.len_chars() == 3)
        .then(pl.col("3") + ":00")
        .when(pl.col("3").str.len_chars() == 5)
        .then(pl.col("3").str.slice(0, 3) + ":" + pl.col("3").str.slice(3, 2))
        .otherwise(pl.col("3")),
    )
    steps = steps.with_columns(
        parsed=pl.concat_str(
            [pl.col("1"), pl.lit("T"), pl.col("time"), pl.col("offset")]
        ).str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us", time_zone="UTC")
    )
    out = (
        pl.when(pl.col("parsed").is_not_null())
        .then(pl.col("parsed").dt.replace_time_zone(None).dt.to_string("%Y-%m-%dT%H:%M:%S%.6f"))
        .otherwise(pl.col("raw"))
    )
    return steps.select(out.alias(values.name)).to_series()


# The range of timestamps that can be rendered and compared (years 1 to 9999), in microseconds
# and days since 1970. Values outside it (e.g. an int64-max "infinity" sentinel) are quarantined.
MIN_EPOCH_US = -62_135_596_800_000_000
MAX_EPOCH_US = 253_402_300_799_999_999
_MIN_DAY = -719_162
_MAX_DAY = 2_932_896
_UNIT_PER_US = {"ns": 1000, "us": 1, "ms": 0.001}


def is_scalar_dtype(dtype: pl.DataType) -> bool:
    """True for single-value dtypes (numbers, text, booleans, dates, times); False for lists,
    structs, binary, durations and other shapes the validator's casts cannot read directly."""
    return (
        dtype.is_numeric()
        or dtype in (pl.String, pl.Categorical, pl.Null, pl.Boolean, pl.Date, pl.Time)
        or isinstance(dtype, (pl.Datetime, pl.Enum))
    )


def json_text(series: pl.Series) -> pl.Series:
    """Each value of any series (lists, structs, durations, binary ...) as JSON text; null stays null.

    Never fails: temporal values inside are written as their integer (days or time units since
    1970), so timestamps no calendar can show cannot stop the rendering.
    """
    safe = series
    if _contains(series.dtype, lambda d: d.is_temporal()):
        safe = series.cast(_physical_leaves(series.dtype))
    if not _contains(safe.dtype, lambda d: d == pl.Binary or d == pl.Object or d == pl.Unknown):
        try:
            # {"v":<value>} -> <value>
            encoded = safe.alias("v").to_frame().select(
                pl.struct("v").struct.json_encode().str.slice(5).str.head(-1)
            )
            return encoded.to_series().set(series.is_null(), None).alias(series.name)
        except pl.exceptions.PolarsError:
            pass
    # Shapes polars cannot encode (binary inside a list or struct, objects): plain Python.
    return pl.Series(
        series.name,
        [None if v is None else json.dumps(v, ensure_ascii=False, default=_json_default) for v in safe.to_list()],
        dtype=pl.String,
    )


def _json_default(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return repr(value)


def _physical_leaves(dtype: pl.DataType) -> pl.DataType:
    """``dtype`` with every temporal leaf replaced by its integer representation."""
    if dtype == pl.Date:
        return pl.Int32()
    if dtype.is_temporal():
        return pl.Int64()
    if isinstance(dtype, pl.List):
        return pl.List(_physical_leaves(dtype.inner))
    if isinstance(dtype, pl.Array):
        return pl.Array(_physical_leaves(dtype.inner), dtype.shape)
    if isinstance(dtype, pl.Struct):
        return pl.Struct([pl.Field(f.name, _physical_leaves(f.dtype)) for f in dtype.fields])
    return dtype


def _contains(dtype: pl.DataType, pred) -> bool:
    if pred(dtype):
        return True
    if isinstance(dtype, (pl.List, pl.Array)):
        return _contains(dtype.inner, pred)
    if isinstance(dtype, pl.Struct):
        return any(_contains(f.dtype, pred) for f in dtype.fields)
    return False


def decode_binary(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Binary values as UTF-8 text (old Parquet writers store strings as binary).

    Returns (text, bad): rows whose bytes are not UTF-8 are null in ``text`` and True in ``bad``.
    """
    try:
        return series.cast(pl.String), pl.repeat(False, series.len(), eager=True, dtype=pl.Boolean)
    except pl.exceptions.PolarsError:
        pass
    values: list[str | None] = []
    bad: list[bool] = []
    for v in series.to_list():  # only for a binary column with invalid bytes
        try:
            values.append(None if v is None else bytes(v).decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            values.append(None)
            bad.append(True)
    return pl.Series(series.name, values, dtype=pl.String), pl.Series(series.name, bad, dtype=pl.Boolean)


def calendar_ok(series: pl.Series) -> pl.Series:
    """For a Date or Datetime series: True where the value is null or within years 1-9999."""
    physical = series.to_physical()
    if series.dtype == pl.Date:
        return physical.is_between(_MIN_DAY, _MAX_DAY) | physical.is_null()
    per_us = _UNIT_PER_US.get(series.dtype.time_unit or "us", 1)
    if per_us == 1000:  # nanoseconds cover 1677-2262 only: always renderable
        return pl.repeat(True, series.len(), eager=True, dtype=pl.Boolean)
    return physical.is_between(int(MIN_EPOCH_US * per_us), int(MAX_EPOCH_US * per_us)) | physical.is_null()


def text_series(series: pl.Series) -> pl.Series:
    """Any series as text without failing (used to stack files whose column types differ).

    Timestamps become naive-UTC ISO text (outside years 1-9999: their raw integer and unit),
    binary becomes UTF-8 text (undecodable bytes replaced), lists of plain values are joined
    with commas (as tags are written), anything else nested becomes JSON text.
    """
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        ok = calendar_ok(series)
        shown = series.set(~ok, None)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                shown = shown.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            shown = shown.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f")
            unit = dtype.time_unit
        else:
            shown = shown.dt.to_string("%Y-%m-%d")
            unit = "days"
        raw = series.to_physical().cast(pl.String) + f" {unit} since 1970"
        return pl.select(pl.when(ok.alias("ok")).then(shown).otherwise(raw)).to_series().alias(series.name)
    if dtype == pl.Binary:
        try:
            return series.cast(pl.String)
        except pl.exceptions.PolarsError:
            return pl.Series(series.name, [None if v is None else bytes(v).decode("utf-8", errors="replace") for v in series.to_list()], dtype=pl.String)
    if isinstance(dtype, (pl.List, pl.Array)) and is_scalar_dtype(dtype.inner) and not dtype.inner.is_temporal():
        return series.cast(pl.List(dtype.inner)).list.eval(pl.element().cast(pl.String)).list.join(",")
    if is_scalar_dtype(dtype):
        return series.cast(pl.String)
    return json_text(series)


def harmonize_concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate frames from several files of one table, aligning columns by name.

    A column whose dtypes differ between files (Parquet ``Date`` vs CSV string, say) becomes a
    string column everywhere (timestamps as ISO text), so nothing is lost before validation.
    """
    frames = [f for f in frames if f.width > 0]
    if not frames:
        return pl.DataFrame()
    dtypes: dict[str, set[pl.DataType]] = {}
    for frame in frames:
        for name, dtype in frame.schema.items():
            if dtype != pl.Null:
                dtypes.setdefault(name, set()).add(dtype)
    aligned = []
    for frame in frames:
        columns = []
        for name, dtype in frame.schema.items():
            kinds = dtypes.get(name, set())
            if len(kinds) == 1:
                wanted = next(iter(kinds))
                if dtype != wanted:  # an all-null column of this file
                    columns.append(frame.get_column(name).cast(wanted))
            elif len(kinds) > 1:
                # Never fails: a Parquet part can hold binary, structs or sentinel timestamps.
                columns.append(text_series(frame.get_column(name)))
        aligned.append(frame.with_columns(columns) if columns else frame)
    return pl.concat(aligned, how="diagonal")


# ---------------------------------------------------------------------------------------------
# The canonical reader
# ---------------------------------------------------------------------------------------------


def read_canonical(directory: str | Path) -> RawSource:
    """Read a canonical source directory into a :class:`RawSource`.

    In: a directory with ``{table}.csv|.parquet|.jsonl|.ndjson|.json`` files and/or ``{table}/``
    folders of such part files, for the contract tables in :data:`kol_vetting.schema.TABLES`.
    Out: ``frames[table]`` with the contract columns the files have (values as read, ``tags``
    as ``List(String)``, offset timestamps as naive UTC) plus ``_source_file``/``_source_row``;
    the reader-level quarantine; ``rows_read[table]`` = frame rows + quarantined rows; ``notes``
    on ignored files and columns and on tables without a file.

    Raises :class:`SourceError` naming the file for a missing directory, an unreadable or
    undecodable file, or a JSON array cut short.
    """
    root = Path(directory)
    if not root.is_dir():
        raise SourceError(root, "source directory does not exist")
    table_files, ignored = _discover(root)
    source = RawSource()
    if ignored:
        source.notes.append(_ignored_note(root, ignored))
    quarantines = [source.quarantine]
    for table in schema.TABLES:
        paths = table_files.get(table, [])
        if not paths:
            source.notes.append(f"{table}: no file in the source")
            continue
        frames: list[pl.DataFrame] = []
        seen = 0
        dropped: set[str] = set()
        for path in paths:
            read = read_file(path)
            source.files.append(str(path))
            source.notes.extend(read.notes)
            frame, extra = to_contract_columns(table, read.frame)
            dropped.update(extra)
            frames.append(frame)
            quarantines.append(
                read.quarantine.with_columns(pl.lit(table, pl.String).alias("table"))
            )
            seen += read.rows_seen
        frame = harmonize_concat(frames)
        if frame.width == 0:
            frame = pl.DataFrame(schema={SOURCE_FILE: pl.String(), SOURCE_ROW: pl.Int64()})
        # Contract order, whatever order the files had their columns in.
        order = [c for c in schema.polars_schema(table).names() if c in frame.columns]
        frame = frame.select(*order, SOURCE_FILE, SOURCE_ROW)
        source.frames[table] = frame
        source.rows_read[table] = seen
        if dropped:
            source.notes.append(
                f"{table}: ignored columns not in the contract: {', '.join(sorted(dropped))}"
            )
        missing = [c for c in schema.required_columns(table) if c not in frame.columns]
        if missing:
            source.notes.append(
                f"{table}: required columns missing from the source: {', '.join(missing)}"
            )
    source.quarantine = pl.concat([q.cast(dict(QUARANTINE_SCHEMA)) for q in quarantines])
    return source


def to_contract_columns(table: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Keep the contract columns of ``table`` (in contract order) plus the source columns.

    Normalizes ``tags`` to ``List(String)`` and timestamp columns to naive UTC. Returns the
    frame and the names of the columns dropped as not in the contract.
    """
    contract = schema.polars_schema(table)
    present = [c for c in contract.names() if c in frame.columns]
    extra = [c for c in frame.columns if c not in contract and c not in (SOURCE_FILE, SOURCE_ROW)]
    exprs: list[pl.Expr] = []
    for name in present:
        target = contract[name]
        dtype = frame.schema[name]
        if isinstance(target, pl.List) and _tags_readable(dtype):
            if isinstance(dtype, pl.Array):
                frame = frame.with_columns(pl.col(name).cast(pl.List(dtype.inner)))
            exprs.append(tags_expr(name, frame.schema[name]))
        elif isinstance(target, pl.Datetime) and not (
            isinstance(dtype, pl.Datetime) and not calendar_ok(frame.get_column(name)).all()
        ):
            exprs.append(utc_timestamp_expr(name, dtype))
        else:
            # Anything else (a struct of tags, a sentinel timestamp beyond year 9999) is left as
            # read: the validator quarantines those rows with a reason.
            exprs.append(pl.col(name))
    return frame.select(*exprs, pl.col(SOURCE_FILE), pl.col(SOURCE_ROW)), extra


def _tags_readable(dtype: pl.DataType) -> bool:
    """True when :func:`parse_tags` can read a column of ``dtype`` (text, plain values, lists of them)."""
    if isinstance(dtype, (pl.List, pl.Array)):
        dtype = dtype.inner
    return is_scalar_dtype(dtype) and not dtype.is_temporal()


def _discover(root: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """Table files of a canonical directory, by table, and the files that are ignored."""
    found: dict[str, list[Path]] = {}
    ignored: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "_")):
            continue  # hidden files and markers such as _SUCCESS
        if entry.is_dir():
            if entry.name in schema.TABLES:
                for part in sorted(p for p in entry.rglob("*") if p.is_file()):
                    if part.name.startswith((".", "_")):
                        continue
                    if part.suffix.lower() in SUFFIXES:
                        found.setdefault(entry.name, []).append(part)
                    else:
                        ignored.append(part)
            else:
                ignored.append(entry)
            continue
        stem, suffix = (
            entry.name[: -len(entry.suffix)] if entry.suffix else entry.name,
            entry.suffix.lower(),
        )
        if stem in schema.TABLES and suffix in SUFFIXES:
            found.setdefault(stem, []).append(entry)
        else:
            ignored.append(entry)
    return found, ignored


def _ignored_note(root: Path, ignored: list[Path]) -> str:
    names = [os.path.relpath(p, root) for p in ignored]
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return f"ignored {len(names)} file(s) that are not table files: {shown}"
