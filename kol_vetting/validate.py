"""Vectorized validation of raw source frames against the data contract.

Every row read ends up either *accepted* (cast to the contract dtypes) or *quarantined*
with a reason a person understands; per table ``rows_read == accepted + quarantined``.

Input: a :class:`~kol_vetting.sources.base.RawSource` whose frames carry contract column names
with any dtypes (strings from CSV, native types from Parquet). Output: a
:class:`ValidatedSource` with one contract-typed frame per table, one quarantine frame and a
per-table report. Nothing here loops over rows in Python: every rule is a Polars expression
(only a Parquet column of a shape no contract column has, such as binary that is not UTF-8 or
a struct holding binary, is rendered value by value, for its quarantine reason).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from kol_vetting import schema
from kol_vetting.sources.base import QUARANTINE_SCHEMA, SOURCE_FILE, SOURCE_ROW, RawSource
from kol_vetting.sources.files import (
    MAX_EPOCH_US,
    MIN_EPOCH_US,
    calendar_ok,
    decode_binary,
    is_scalar_dtype,
    json_text,
    tags_expr,
)

# Counts above this are not plausible for any account or note (more than the world's people).
MAX_COUNT = 10_000_000_000
# Timestamps before this are treated as corrupt (no social platform data predates it).
EARLIEST = dt.datetime(2000, 1, 1)
# Clock skew allowed between a crawler and us before a timestamp counts as "in the future".
FUTURE_TOLERANCE = dt.timedelta(days=1)
# A text field longer than this is almost certainly garbage or an attack, not a note.
MAX_TEXT_CHARS = 1_000_000

_TRUE = ["true", "t", "yes", "y", "1", "是"]
_FALSE = ["false", "f", "no", "n", "0", "否"]
_DATETIME_FORMATS_TZ = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z")
_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d")


@dataclass
class TableReport:
    """Row accounting of one table in one ingest."""

    table: str
    rows_read: int
    accepted: int
    quarantined: int
    duplicates: int

    @property
    def reconciles(self) -> bool:
        """True when every row read was either accepted or quarantined."""
        return self.rows_read == self.accepted + self.quarantined


@dataclass
class ValidatedSource:
    """Contract-typed tables, the quarantine and the per-table accounting of one ingest."""

    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    reports: dict[str, TableReport] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _is_texty(dtype: pl.DataType) -> bool:
    return dtype == pl.String or dtype == pl.Categorical or dtype == pl.Null


def _cast_datetime(col: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Parse a column into naive-UTC ``Datetime('us')`` whatever it arrives as."""
    if isinstance(dtype, pl.Datetime):
        out = col
        if dtype.time_zone is not None:
            out = out.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return out.dt.cast_time_unit("us")
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us"))
    if dtype.is_integer() or dtype.is_float():
        # Epoch numbers: milliseconds (MediaCrawler) when large, else seconds. Numbers beyond
        # year 9999 in milliseconds become null (not a timestamp) instead of overflowing.
        number = col.cast(pl.Float64, strict=False)
        ms = (
            pl.when(number.abs() > 100_000_000_000)
            .then(number)
            .otherwise(number * 1000)
        )
        ms = pl.when(ms.is_finite() & (ms >= MIN_EPOCH_US / 1000) & (ms <= MAX_EPOCH_US / 1000)).then(ms)
        return pl.from_epoch(ms.cast(pl.Int64, strict=False), time_unit="ms").dt.cast_time_unit("us")
    text = col.cast(pl.String).str.strip_chars()
    # A trailing "Z" means UTC; make it an offset the %z formats understand.
    text = text.str.replace(r"Z$", "+00:00")
    candidates = [
        text.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC").dt.replace_time_zone(None)
        for f in _DATETIME_FORMATS_TZ
    ]
    candidates += [text.str.to_datetime(f, strict=False, time_unit="us") for f in _DATETIME_FORMATS]
    digits = text.str.contains(r"^\d{9,14}$")
    epoch = text.cast(pl.Int64, strict=False)
    candidates.append(
        pl.when(digits).then(_cast_datetime(epoch, pl.Int64())).otherwise(None)
    )
    return pl.coalesce(candidates)


def _out_of_range(physical: pl.Series, ok: pl.Series, unit: str) -> pl.Series:
    """Problem texts for timestamps no calendar can show (null where ``ok``)."""
    text = physical.to_frame("v").select(
        pl.format(f"({{}} {unit}) is outside the years 1-9999", pl.col("v"))
    ).to_series()
    return text.set(ok, None)


def _normalise_raw(df: pl.DataFrame, target: pl.Schema) -> tuple[pl.DataFrame, dict[str, str]]:
    """Make every contract column of ``df`` a dtype the casts can read, without losing rows.

    Parquet can carry anything: lists and structs where a single value belongs, binary strings,
    durations, timestamps outside years 1-9999 (an int64-max "infinity" sentinel) that no
    calendar can render. Such values are turned into text (or null) and a per-row problem
    column ``_problem_<name>`` says what was wrong, so the row is quarantined with a reason
    instead of the ingest crashing. Returns the frame and the names of the problem columns.
    """
    problems: dict[str, str] = {}
    replace: list[pl.Series] = []
    for name, wanted in target.items():
        if name not in df.columns:
            continue
        series = df.get_column(name)
        dtype = series.dtype
        problem: pl.Series | None = None
        if isinstance(dtype, (pl.Categorical, pl.Enum)):
            series = series.cast(pl.String)
        elif dtype == pl.Binary:
            series, bad = decode_binary(series)
            if bad.any():
                problem = pl.Series(name, ["is not UTF-8 text"] * series.len(), dtype=pl.String).set(~bad, None)
        elif isinstance(dtype, pl.Datetime) or dtype == pl.Date:
            ok = calendar_ok(series)
            if not ok.all():
                unit = "days" if dtype == pl.Date else dtype.time_unit
                problem = _out_of_range(series.to_physical(), ok, f"{unit} since 1970")
                series = series.set(~ok, None)
        elif (
            isinstance(wanted, pl.List)
            and isinstance(dtype, (pl.List, pl.Array))
            and is_scalar_dtype(dtype.inner)
            and not dtype.inner.is_temporal()
        ):
            if isinstance(dtype, pl.Array):
                series = series.cast(pl.List(dtype.inner))
            if isinstance(dtype.inner, (pl.Categorical, pl.Enum)):
                series = series.cast(pl.List(pl.String))
        elif not is_scalar_dtype(dtype):
            # A list, struct, duration, ... where one value belongs: keep its JSON text.
            what = (
                "a list" if isinstance(dtype, (pl.List, pl.Array))
                else "an object" if isinstance(dtype, pl.Struct)
                else f"a {str(dtype).split('(')[0].lower()}"
            )
            series = json_text(series)
            problem = pl.Series(name, [f"is {what}, not a single value"] * series.len(), dtype=pl.String).set(
                series.is_null(), None
            )
        if problem is not None:
            problems[name] = f"_problem_{name}"
            replace.append(problem.alias(f"_problem_{name}"))
        if series.dtype != dtype or problem is not None:
            replace.append(series.alias(name))
    return (df.with_columns(replace) if replace else df), problems


def _cast_column(name: str, source_dtype: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Expression casting raw column ``name`` to the contract dtype (null where it cannot)."""
    col = pl.col(name)
    if isinstance(target, pl.Datetime):
        return _cast_datetime(col, source_dtype)
    if target == pl.Date:
        if source_dtype == pl.Date:
            return col
        return _cast_datetime(col, source_dtype).dt.date()
    if target == pl.Boolean:
        if source_dtype == pl.Boolean:
            return col
        text = col.cast(pl.String).str.strip_chars().str.to_lowercase()
        return pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False).otherwise(None)
    if (target == pl.Int64 or target == pl.Float64) and (source_dtype == pl.Boolean or source_dtype.is_temporal()):
        # true/false or a date is not a count or a price (Parquet would cast them to 1/0, days).
        return pl.lit(None, target)
    if target == pl.Int64:
        if source_dtype.is_integer():
            return col.cast(pl.Int64, strict=False)
        as_float = (
            col.cast(pl.String).str.strip_chars().str.replace_all(",", "").cast(pl.Float64, strict=False)
            if _is_texty(source_dtype)
            else col.cast(pl.Float64, strict=False)
        )
        # Only whole numbers are counts: 12.0 is fine, 12.5 is not.
        return pl.when(as_float.is_finite() & (as_float == as_float.round(0)) & (as_float.abs() < 9e18)).then(
            as_float.cast(pl.Int64, strict=False)
        )
    if target == pl.Float64:
        if _is_texty(source_dtype):
            value = col.cast(pl.String).str.strip_chars().str.replace_all(",", "").cast(pl.Float64, strict=False)
        else:
            value = col.cast(pl.Float64, strict=False)
        return pl.when(value.is_finite()).then(value)
    if isinstance(target, pl.List):
        if isinstance(source_dtype, pl.List):
            return col.cast(pl.List(pl.String), strict=False)
        # The readers' tag parser: a JSON array only when it is one, else '#'/comma separated
        # (json_decode on '[broken' would fail the whole table).
        return tags_expr(name, source_dtype)
    # Strings: ids may arrive as numbers (CSV inference); keep their text form.
    return col.cast(pl.String)


def _kind(dtype: pl.DataType) -> str | None:
    """What a value of a contract dtype should look like, for reasons; None for text."""
    if isinstance(dtype, pl.Datetime):
        return "a timestamp"
    if isinstance(dtype, pl.List):
        return "a list of tags"
    return {pl.Int64(): "a whole number", pl.Float64(): "a number", pl.Boolean(): "true/false", pl.Date(): "a date"}.get(
        dtype
    )


def _describe(value: pl.Expr) -> pl.Expr:
    """A short quoted rendering of a raw value for reasons (long values are cut)."""
    text = value.cast(pl.String)
    return pl.concat_str([pl.lit("'"), text.str.slice(0, 40), pl.lit("'")])


def validate_table(
    table: str, raw: pl.DataFrame, *, now: dt.datetime | None = None, keep_source: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame, TableReport]:
    """Validate one raw table.

    Parameters
    ----------
    table: contract table name (see :data:`kol_vetting.schema.TABLES`).
    raw: frame with contract column names (any dtypes), optionally ``_source_file``/``_source_row``.
    now: reference time for "in the future" checks (default: current UTC time).
    keep_source: keep ``_source_file`` and ``_source_row`` on accepted rows (to restore input order).

    Returns
    -------
    (accepted, quarantined, report): accepted rows in the exact contract schema, sorted by key;
    quarantined rows in :data:`QUARANTINE_SCHEMA`; the row accounting.
    """
    spec = schema.TABLES[table]
    target = schema.polars_schema(table)
    required = schema.required_columns(table)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    n = raw.height

    df = raw
    if SOURCE_FILE not in df.columns:
        df = df.with_columns(pl.lit("<memory>").alias(SOURCE_FILE))
    if SOURCE_ROW not in df.columns:
        df = df.with_columns(pl.int_range(1, n + 1, dtype=pl.Int64).alias(SOURCE_ROW))
    df = df.with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
    df, problems = _normalise_raw(df, target)
    present = [c for c in target.names() if c in df.columns]
    missing_required = [c for c in required if c not in df.columns]

    # The row as read, for the quarantine (all present contract columns, as text). Built from
    # the kept raw columns and only for the quarantined rows: encoding every row is costly.
    row_json = (
        pl.struct([
            (pl.col(f"_raw_{c}").cast(pl.String) if not isinstance(df.schema[c], pl.List) else pl.col(f"_raw_{c}")).alias(c)
            for c in present
        ]).struct.json_encode()
        if present
        else pl.lit("{}")
    )

    casts = []
    for name, dtype in target.items():
        if name in df.columns:
            casts.append(_cast_column(name, df.schema[name], dtype).alias(name))
        else:
            casts.append(pl.lit(None, dtype=dtype).alias(name))
    typed = df.select(
        *casts,
        pl.col(SOURCE_FILE).cast(pl.String),
        pl.col(SOURCE_ROW),
        *[pl.col(c) for c in problems.values()],
    )
    # Keep the raw values next to the typed ones to tell "could not parse" from "was empty".
    raw_cols = df.select([pl.col(c).alias(f"_raw_{c}") for c in present])
    typed = pl.concat([typed, raw_cols], how="horizontal")

    reasons: list[pl.Expr] = []
    for name in missing_required:
        reasons.append(pl.lit(f"required column '{name}' is missing from the file"))
    for name, dtype in target.items():
        if name not in present:
            continue
        raw_c = pl.col(f"_raw_{name}")
        raw_blank = raw_c.is_null()
        if _is_texty(df.schema[name]):
            raw_blank = raw_blank | (raw_c.cast(pl.String).str.strip_chars() == "")
        failed = ~raw_blank & pl.col(name).is_null()
        kind = _kind(dtype)
        if name in problems:
            problem = pl.col(problems[name])
            shown = pl.when(raw_c.is_not_null()).then(pl.concat_str([_describe(raw_c), pl.lit(" ")])).otherwise(pl.lit(""))
            reasons.append(pl.when(problem.is_not_null()).then(pl.concat_str([pl.lit(f"{name} "), shown, problem])))
            failed = failed & problem.is_null()
            if kind is None:
                continue
        if kind is not None:
            reasons.append(
                pl.when(failed).then(pl.concat_str([pl.lit(f"{name} "), _describe(raw_c), pl.lit(f" is not {kind}")]))
            )
    for name in required:
        if name in present:
            blank = pl.col(name).is_null()
            if target[name] == pl.String:
                blank = blank | (pl.col(name).str.strip_chars() == "")
            # Report a missing value only when it was missing, not when it failed to parse.
            raw_c = pl.col(f"_raw_{name}")
            was_blank = raw_c.is_null()
            if _is_texty(df.schema[name]):
                was_blank = was_blank | (raw_c.cast(pl.String).str.strip_chars() == "")
            if name in problems:
                was_blank = was_blank & pl.col(problems[name]).is_null()
            reasons.append(pl.when(blank & was_blank).then(pl.lit(f"{name} is empty (required)")))
    for name, dtype in target.items():
        if dtype == pl.Int64 or dtype == pl.Float64:
            reasons.append(
                pl.when(pl.col(name) < 0).then(pl.concat_str([pl.lit(f"{name} is negative ("), pl.col(name).cast(pl.String), pl.lit(")")]))
            )
            reasons.append(
                pl.when(pl.col(name) > MAX_COUNT).then(pl.concat_str([pl.lit(f"{name} is implausibly large ("), pl.col(name).cast(pl.String), pl.lit(")")]))
            )
        elif isinstance(dtype, pl.Datetime) or dtype == pl.Date:
            value = pl.col(name).cast(pl.Datetime("us"))
            if name in spec.not_future:
                reasons.append(
                    pl.when(value > pl.lit(now + FUTURE_TOLERANCE)).then(
                        pl.concat_str([pl.lit(f"{name} "), pl.col(name).cast(pl.String), pl.lit(" is in the future")])
                    )
                )
            reasons.append(
                pl.when(value < pl.lit(EARLIEST)).then(
                    pl.concat_str([pl.lit(f"{name} "), pl.col(name).cast(pl.String), pl.lit(" is before 2000, not plausible")])
                )
            )
        elif dtype == pl.String:
            reasons.append(
                pl.when(pl.col(name).str.len_chars() > MAX_TEXT_CHARS).then(
                    pl.lit(f"{name} is longer than {MAX_TEXT_CHARS:,} characters")
                )
            )
    typed = typed.with_columns(
        pl.concat_list([r.cast(pl.String) for r in reasons]).list.drop_nulls().list.join("; ").alias("_reason")
        if reasons
        else pl.lit("").alias("_reason")
    )
    bad = typed.filter(pl.col("_reason") != "")
    good = typed.filter(pl.col("_reason") == "")

    # Duplicates of a key: the latest capture wins; ties broken by the later file/row. Only
    # the rows whose key repeats are sorted (a hash check finds them): clean inputs skip it.
    key = pl.col(spec.key[0]) if len(spec.key) == 1 else pl.struct(list(spec.key))
    repeated = good.filter(key.is_duplicated())
    order = [*spec.key]
    descending = [False] * len(spec.key)
    if spec.recency:
        order.append(spec.recency)
        descending.append(True)
    order += [SOURCE_FILE, SOURCE_ROW]
    descending += [True, True]
    repeated = repeated.sort(order, descending=descending, nulls_last=True).with_columns(key.is_first_distinct().alias("_keep"))
    dups = repeated.filter(~pl.col("_keep")).with_columns(
        pl.concat_str(
            [pl.lit(f"duplicate {'/'.join(spec.key)} "), pl.concat_str([pl.col(k).cast(pl.String) for k in spec.key], separator="/"),
             pl.lit(": superseded by a later capture")]
        ).alias("_reason")
    )
    extra = [SOURCE_FILE, SOURCE_ROW] if keep_source else []
    keepers = pl.concat([good.filter(~key.is_duplicated()), repeated.filter(pl.col("_keep")).drop("_keep")]) if repeated.height else good
    accepted = keepers.select([*target.names(), *extra]).sort(list(spec.key))

    quarantined = pl.concat([bad, dups], how="diagonal_relaxed").select(
        pl.col(SOURCE_FILE).alias("source_file"),
        pl.lit(table).alias("table"),
        pl.col(SOURCE_ROW).alias("source_row"),
        row_json.alias("row"),
        pl.col("_reason").alias("reason"),
    )
    report = TableReport(table, n, accepted.height, quarantined.height, dups.height)
    return accepted, quarantined.cast(dict(QUARANTINE_SCHEMA)), report


def validate_source(source: RawSource, *, now: dt.datetime | None = None) -> ValidatedSource:
    """Validate every table of a raw source; tables the source lacks become empty tables.

    Reader-level quarantine (rows the reader could not parse) is carried over and counted, so
    each report's ``rows_read`` equals ``source.rows_read[table]`` when the reader set it.
    """
    tables: dict[str, pl.DataFrame] = {}
    quarantines = [source.quarantine.cast(dict(QUARANTINE_SCHEMA))]
    reports: dict[str, TableReport] = {}
    for table in schema.TABLES:
        raw = source.frames.get(table)
        reader_q = source.quarantine.filter(pl.col("table") == table).height
        if raw is None:
            tables[table] = schema.empty_frame(table)
            reports[table] = TableReport(table, reader_q, 0, reader_q, 0)
            continue
        accepted, quarantined, report = validate_table(table, raw, now=now)
        tables[table] = accepted
        quarantines.append(quarantined)
        report.rows_read = source.rows_read.get(table, raw.height + reader_q)
        report.quarantined += reader_q
        reports[table] = report
    quarantine = pl.concat(quarantines, how="vertical")
    return ValidatedSource(tables, quarantine, reports, list(source.notes))
