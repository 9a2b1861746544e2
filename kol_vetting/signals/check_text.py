"""Pre-publication check of draft texts: negativity, controversy words, sponsorship and its
disclosure, Advertising-Law claims. Wired to ``kol-vetting check-text [IN] [--out OUT]``.

The checks are the very functions the pipeline signals use (same lexicons, same views, same
models, same sponsorship weights): :func:`kol_vetting.signals.disclosure.text_features` and
:func:`~kol_vetting.signals.disclosure.classify_disclosure` for sponsorship and disclosure,
:func:`kol_vetting.signals.claims.claim_risks_expr` for claims, the comment sentiment model
through :func:`kol_vetting.signals.content_text.model_probability`, and the controversy
lexicon. A draft has no platform label and no peers, so sponsorship comes from the text alone.

Input (:func:`run_check_text`):

* JSONL: one object per line with ``id`` and ``text`` (file ending .jsonl/.ndjson/.json, or
  stdin whose first non-blank line is a JSON object);
* CSV: a ``text`` column (``id`` column optional, else the row number);
* anything else: plain text, one draft per line (id = line number).

Output: JSONL, one object per input row, in input order, with ``id``, ``status`` and the check
results. ``status``: ``ok``; ``empty`` (no text); ``truncated`` (over ``MAX_TEXT_BYTES``: the
first 1 MB was checked); ``binary`` (undecodable bytes, NUL or control characters: not
checked); ``invalid_json`` / ``no_text`` (a JSONL line that is not an object with text).
Text is only ever treated as data: nothing in it is evaluated or executed, and the output is
JSON (``<script>`` or ``=cmd()`` stay inert strings).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl

from kol_vetting.signals.claims import CLAIM_STRUCT
from kol_vetting.signals.content_text import COMPACT, NORM, lexicon_hits, model_probability
from kol_vetting.signals.disclosure import (
    DisclosureParams,
    classify_disclosure,
    load_sponsorship_weights,
    sponsor_signals_expr,
    sponsored_probability_expr,
    text_features,
)
from kol_vetting.text.sentiment import SentimentModel, load_sentiment_model

#: Texts longer than this (UTF-8 bytes) are cut to it and get status ``truncated``.
MAX_TEXT_BYTES = 1_000_000
#: Share of control / replacement characters above which a text counts as binary.
BINARY_CONTROL_SHARE = 0.1
#: Rows processed per batch by :func:`run_check_text` (bounded memory on huge inputs).
BATCH_ROWS = 20_000

CHECK_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "status": pl.String(),
        "negative_probability": pl.Float64(),
        "controversy_terms": pl.List(pl.String()),
        "sponsored_probability": pl.Float64(),
        "sponsored": pl.Boolean(),
        "sponsor_signals": pl.List(pl.String()),
        "disclosure": pl.String(),
        "disclosure_placement": pl.String(),
        "compliant": pl.Boolean(),
        "claim_risks": pl.List(CLAIM_STRUCT),
    }
)
_CHECKED = ("ok", "truncated")


def check_texts(
    frame: pl.DataFrame,
    *,
    sentiment_model: SentimentModel | None = None,
    known_brands: list[str] | None = None,
    weights: dict[str, float] | None = None,
    params: DisclosureParams | None = None,
) -> pl.DataFrame:
    """Check draft texts before publication.

    In: a frame with ``id`` and ``text`` (String; an optional ``status`` column set by a reader,
    e.g. ``binary``, is respected). Out: :data:`CHECK_SCHEMA`, one row per input row in input
    order: id, status, negative_probability (0-1, comment sentiment model), controversy_terms,
    sponsored_probability (0-1), sponsored, sponsor_signals, disclosure (explicit | ambiguous |
    none | false_claim; platform_label needs the platform), disclosure_placement (title is not
    separate in a draft: the first line is the opening), compliant (null when not sponsored),
    claim_risks (list of {phrase, rule, kind}). Rows that were not checked (empty, binary ...)
    have nulls and empty lists.
    """
    P = params or DisclosureParams()
    W = weights or load_sponsorship_weights()
    model = sentiment_model or load_sentiment_model()
    if frame.height == 0:
        return pl.DataFrame(schema=CHECK_SCHEMA)
    df = frame.select(
        pl.col("id").cast(pl.String) if "id" in frame.columns else pl.int_range(1, frame.height + 1).cast(pl.String).alias("id"),
        pl.col("text").cast(pl.String) if "text" in frame.columns else pl.lit(None, pl.String).alias("text"),
        (pl.col("status").cast(pl.String) if "status" in frame.columns else pl.lit(None, pl.String)).alias("_in_status"),
    ).with_row_index("_row")
    df = _truncate(df)
    text = pl.col("text")
    control = text.str.count_matches(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
    status = (
        pl.when(pl.col("_in_status").is_not_null())
        .then(pl.col("_in_status"))
        .when(text.is_null() | (text.str.strip_chars() == ""))
        .then(pl.lit("empty"))
        .when(text.str.contains("\x00", literal=True) | (control > BINARY_CONTROL_SHARE * text.str.len_chars()))
        .then(pl.lit("binary"))
        .when(pl.col("_truncated"))
        .then(pl.lit("truncated"))
        .otherwise(pl.lit("ok"))
    )
    df = df.with_columns(status.alias("status"))
    todo = df.filter(pl.col("status").is_in(_CHECKED))
    if todo.height:
        # every check depends on the text alone: check each distinct text once, join back by text
        uniq = todo.select("text").unique(maintain_order=True).with_row_index("_row")
        f = text_features(uniq, title=None, body="text", tags=None,
                          known_brands=known_brands, opening_chars=P.opening_chars)
        f = f.with_columns(
            pl.lit(None, dtype=pl.Boolean).alias("_label"),
            pl.lit(False).alias("_seeding"),
            pl.lit(None, dtype=pl.String).alias("seeding_cluster_id"),
        ).with_columns(sponsored_probability_expr(W).alias("sponsored_probability"))
        f = f.with_columns((pl.col("sponsored_probability") >= P.sponsored_threshold).alias("sponsored"))
        f = f.with_columns(
            *classify_disclosure(pl.col("sponsored"), pl.col("_label"), P),
            sponsor_signals_expr().alias("sponsor_signals"),
            lexicon_hits("controversy", norm=NORM, compact=COMPACT).fill_null([]).alias("controversy_terms"),
            model_probability(model, views=f).alias("negative_probability"),
        )
        res = todo.select("_row", "text").join(
            f.select(
                "text", "negative_probability", "controversy_terms", "sponsored_probability", "sponsored",
                "sponsor_signals", "disclosure", "disclosure_placement", "compliant", "claim_risks",
            ),
            on="text",
            how="left",
            maintain_order="left",
        ).drop("text")
    else:
        res = pl.DataFrame(schema={"_row": pl.UInt32, **{k: v for k, v in CHECK_SCHEMA.items() if k not in ("id", "status")}})
    out = df.select("_row", "id", "status").join(res, on="_row", how="left", maintain_order="left")
    out = out.with_columns(
        pl.col("controversy_terms").fill_null([]),
        pl.col("sponsor_signals").fill_null([]),
        pl.col("claim_risks").fill_null([]),
        pl.col("sponsored_probability").round(4),
        pl.col("negative_probability").round(4),
    )
    return out.select(list(CHECK_SCHEMA)).cast(dict(CHECK_SCHEMA))


def _truncate(df: pl.DataFrame) -> pl.DataFrame:
    """Cut texts over MAX_TEXT_BYTES to their longest prefix within the limit (whole characters)."""
    too_long = df.select(pl.col("text").str.len_bytes().fill_null(0) > MAX_TEXT_BYTES).to_series()
    df = df.with_columns(too_long.alias("_truncated"))
    if not too_long.any():
        return df
    rows = df.filter(pl.col("_truncated"))
    # only the few oversized rows are cut in Python (a byte-exact cut on a character boundary)
    cut = [t.encode("utf-8")[:MAX_TEXT_BYTES].decode("utf-8", "ignore") for t in rows["text"].to_list()]
    fixed = rows.select("_row").with_columns(pl.Series("_cut", cut, dtype=pl.String))
    return df.join(fixed, on="_row", how="left", maintain_order="left").with_columns(
        pl.coalesce("_cut", "text").alias("text")
    ).drop("_cut")


# ---------------------------------------------------------------------------------------------
# Reading inputs


def _decode(raw: bytes) -> tuple[str | None, str | None]:
    """Bytes of one text -> (text, status). UTF-8 (BOM tolerated), then GB18030; else binary."""
    if b"\x00" in raw:
        return None, "binary"
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc), None
        except UnicodeDecodeError:
            continue
    return None, "binary"


def _cap(raw: bytes) -> bytes:
    """At most a little over the limit (check_texts still sees it as oversized and marks it),
    cut on a UTF-8 character boundary so the prefix still decodes."""
    if len(raw) <= MAX_TEXT_BYTES + 8:
        return raw
    cut = MAX_TEXT_BYTES + 8
    while cut > MAX_TEXT_BYTES and (raw[cut] & 0xC0) == 0x80:  # continuation byte: step back
        cut -= 1
    return raw[:cut]


def _rows_plain(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    n = 0
    for n, raw in enumerate(lines, start=1):
        text, status = _decode(_cap(raw.rstrip(b"\r\n")))
        yield {"id": str(n), "text": text, "status": status}


def _utf8_lines(data: bytes) -> list[str] | None:
    """Lines of input that is UTF-8 throughout, without NUL, CR or BOM: decoded once, split on
    newlines exactly as ``bytes.splitlines`` would (then every line decodes alike on its own).
    None when a line needs the per-line decoder."""
    if b"\x00" in data or b"\r" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\ufeff" in text:
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _rows_jsonl(lines: Iterator[bytes] | list[str]) -> Iterator[dict[str, Any]]:
    """Rows of JSONL input: raw byte lines, or lines already decoded by :func:`_utf8_lines`."""
    for n, raw in enumerate(lines, start=1):
        line, status = (raw, None) if isinstance(raw, str) else _decode(raw.rstrip(b"\r\n"))
        if status:
            yield {"id": str(n), "text": None, "status": status}
            continue
        if not line.strip():
            yield {"id": str(n), "text": None, "status": "empty"}
            continue
        try:
            obj = json.loads(line)  # plain JSON parsing: nothing is evaluated
        except (json.JSONDecodeError, RecursionError):
            yield {"id": str(n), "text": None, "status": "invalid_json"}
            continue
        if not isinstance(obj, dict):
            yield {"id": str(n), "text": None, "status": "invalid_json"}
            continue
        rid = obj.get("id")
        rid = str(n) if rid is None else (rid if isinstance(rid, str) else json.dumps(rid, ensure_ascii=False))
        text = obj.get("text")
        if text is None:
            yield {"id": _lone_surrogates_replaced(rid), "text": None, "status": "no_text"}
            continue
        if not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False)
        yield {"id": _lone_surrogates_replaced(rid), "text": _lone_surrogates_replaced(text), "status": None}


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogates_replaced(s: str) -> str:
    """JSON may escape half a surrogate pair (``"\\ud800"``): not a character, not encodable as
    UTF-8. It becomes U+FFFD, as undecodable bytes do elsewhere, instead of failing the file."""
    return _LONE_SURROGATE.sub("\ufffd", s)


def _rows_csv(data: bytes) -> Iterator[dict[str, Any]]:
    text, status = _decode(data)
    if status:
        raise ValueError("CSV input is not valid UTF-8 or GB18030 text")
    csv.field_size_limit(max(MAX_TEXT_BYTES * 4, 1 << 20))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "text" not in reader.fieldnames:
        raise ValueError("CSV input needs a 'text' column")
    has_id = "id" in reader.fieldnames
    for n, row in enumerate(reader, start=1):
        t = row.get("text")
        rid = row.get("id") if has_id and row.get("id") not in (None, "") else str(n)
        yield {"id": rid, "text": t, "status": None}


def _kind(path: Path | None, head: bytes) -> str:
    if path is not None:
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".ndjson", ".json"):
            return "jsonl"
        if suffix == ".csv":
            return "csv"
        return "plain"
    first = next((ln.strip() for ln in head.splitlines() if ln.strip()), b"")
    if first.startswith(b"{"):
        return "jsonl"
    return "plain"


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[pl.DataFrame]:
    schema = {"id": pl.String, "text": pl.String, "status": pl.String}
    cols: dict[str, list[Any]] = {k: [] for k in schema}
    ids, texts, statuses = cols["id"], cols["text"], cols["status"]
    for r in rows:
        ids.append(r["id"])
        texts.append(r["text"])
        statuses.append(r["status"])
        if len(ids) >= size:
            yield pl.DataFrame(cols, schema=schema)
            cols = {k: [] for k in schema}
            ids, texts, statuses = cols["id"], cols["text"], cols["status"]
    if ids:
        yield pl.DataFrame(cols, schema=schema)


def _to_jsonl(df: pl.DataFrame) -> str:
    """One JSON object per row (UTF-8, keys in CHECK_SCHEMA order), written by Polars."""
    return df.write_ndjson() if df.height else ""


def _plain_frame(data: bytes) -> pl.DataFrame | None:
    """Fast path for plain-text input that is valid UTF-8 throughout and has no NUL: one row per
    line, split by Polars. None when a line needs the per-line decoder."""
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\r" in text:
        return None  # CR line breaks: the byte-level reader splits them like bytes.splitlines
    body = text.removesuffix("\n")
    if not text:
        return pl.DataFrame(schema={"id": pl.String, "text": pl.String, "status": pl.String})
    s = pl.Series("text", [body]).str.split("\n").explode()
    return pl.DataFrame({"text": s}).with_columns(
        pl.int_range(1, pl.len() + 1).cast(pl.String).alias("id"), pl.lit(None, pl.String).alias("status")
    ).select("id", "text", "status")


def run_check_text(
    in_path: Path | None,
    out_path: Path | None,
    stdin: IO[Any] = sys.stdin,
    stdout: IO[str] = sys.stdout,
    *,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """CLI body of ``kol-vetting check-text``: read drafts, write one JSONL result per row.

    In: an input file (JSONL, CSV or plain lines; None reads ``stdin``) and an output file
    (None writes ``stdout``). Out: exit code 0, or 2 with a message on stderr when the input
    cannot be used (missing file, CSV without a ``text`` column).
    """
    try:
        if in_path is not None:
            in_path = Path(in_path)
            data = in_path.read_bytes()
        else:
            buf = getattr(stdin, "buffer", None)
            data = buf.read() if buf is not None else str(stdin.read()).encode("utf-8", "surrogateescape")
    except OSError as exc:
        print(f"check-text: cannot read input: {exc}", file=sys.stderr)
        return 2
    kind = _kind(in_path, data[:65536])
    lines = iter(data.splitlines())
    try:
        if kind == "csv":
            rows = _rows_csv(data)
        elif kind == "jsonl":
            rows = _rows_jsonl(_utf8_lines(data) or lines)
        else:
            rows = _rows_plain(lines)
        model = load_sentiment_model()
        weights = load_sponsorship_weights()
        fast = _plain_frame(data) if kind == "plain" else None
        batches: Iterator[pl.DataFrame] = (
            iter(fast.slice(i, batch_rows) for i in range(0, fast.height, batch_rows))
            if fast is not None
            else _batches(rows, batch_rows)
        )
        with contextlib.ExitStack() as stack:
            out: IO[str] = stdout
            if out_path is not None:
                out = stack.enter_context(open(out_path, "w", encoding="utf-8", newline="\n"))
            for batch in batches:
                out.write(_to_jsonl(check_texts(batch, sentiment_model=model, weights=weights)))
    except OSError as exc:
        print(f"check-text: cannot write output: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"check-text: {exc}", file=sys.stderr)
        return 2
    return 0
