"""Parse engagement and follower counts as platforms display them.

Xiaohongshu (and crawlers that copy its UI text, such as MediaCrawler) show counts as
``1.2万`` (1.2 × 10⁴), ``10万+``, ``3.5w``, ``1.1亿`` (× 10⁸), ``1,234`` or plain ``12``; an
empty string means "not shown". Everything here is a Polars expression, so a column of
millions of counts is parsed without a Python loop.

* :func:`parse_count_expr` turns such a column into ``Int64`` (null for empty *and* for
  values it cannot read); :func:`parse_counts` is the same on a Series;
* :func:`count_unparsed_expr` tells the two nulls apart: True where a non-empty raw value
  failed to parse, so the reader can quarantine that row with a reason instead of silently
  losing the count.
"""

from __future__ import annotations

import polars as pl

# Multipliers of the unit suffixes shown by Chinese and international platforms.
UNIT_MULTIPLIERS: dict[str, float] = {
    "万": 1e4,
    "w": 1e4,
    "W": 1e4,
    "亿": 1e8,
    "千": 1e3,
    "k": 1e3,
    "K": 1e3,
}


def parse_count_expr(expr: pl.Expr) -> pl.Expr:
    """Expression parsing displayed counts into ``Int64``.

    In: any expression (strings such as ``'1.2万'``, ``'10万+'``, ``'1,234'``, ``'3.5w'``,
    ``'1.1亿'``, ``''``, or numbers). Out: ``Int64``; empty or null → null; a value that is not a
    count (e.g. ``'???'``, or ``'12.5'`` without a unit) → null as well (see
    :func:`count_unparsed_expr`). With a unit the product is rounded (``1.23456万`` → 12346);
    a trailing ``+`` ("at least") is dropped, so ``10万+`` gives the floor 100000. A leading
    minus is kept so that the validator, not the parser, rejects negative counts.
    """
    return expr.map_batches(parse_counts, return_dtype=pl.Int64, is_elementwise=True)


def count_unparsed_expr(expr: pl.Expr) -> pl.Expr:
    """Boolean expression: True where the raw value is non-empty but is not a count."""
    return expr.map_batches(_unparsed, return_dtype=pl.Boolean, is_elementwise=True)


def parse_counts(values: pl.Series) -> pl.Series:
    """Series version of :func:`parse_count_expr` (same rules, same output)."""
    # Computed step by step on a frame: each intermediate is evaluated once (a single nested
    # expression would re-evaluate shared sub-expressions for every reference).
    steps = pl.DataFrame({"raw": values.cast(pl.String)}).with_columns(
        text=pl.col("raw")
        .str.strip_chars()
        .str.replace_all(",", "", literal=True)
        .str.replace_all("，", "", literal=True)
        .str.strip_chars_end("+")
        .str.strip_chars()
    )
    steps = steps.with_columns(
        multiplier=pl.col("text")
        .str.slice(-1)
        .replace_strict(UNIT_MULTIPLIERS, default=None, return_dtype=pl.Float64)
    )
    steps = steps.with_columns(
        number=pl.when(pl.col("multiplier").is_not_null())
        .then(pl.col("text").str.slice(0, pl.col("text").str.len_chars() - 1).str.strip_chars())
        .otherwise(pl.col("text"))
    )
    steps = steps.with_columns(
        whole=pl.col("number").cast(pl.Int64, strict=False),
        real=pl.col("number").cast(pl.Float64, strict=False),
    )
    finite = pl.col("real").is_finite().fill_null(False)
    parsed = (
        pl.when(pl.col("multiplier").is_not_null() & finite)
        .then((pl.col("real") * pl.col("multiplier")).round(0).cast(pl.Int64, strict=False))
        .when(pl.col("multiplier").is_null() & pl.col("whole").is_not_null())
        .then(pl.col("whole"))
        # Without a unit only whole numbers are counts: "12.0" is 12, "12.5" is not a count.
        .when(pl.col("multiplier").is_null() & finite & (pl.col("real") == pl.col("real").round(0)))
        .then(pl.col("real").cast(pl.Int64, strict=False))
    )
    return steps.select(parsed.alias(values.name)).to_series()


def _unparsed(values: pl.Series) -> pl.Series:
    text = values.cast(pl.String).str.strip_chars()
    return ((text.str.len_chars() > 0).fill_null(False) & parse_counts(values).is_null()).alias(
        values.name
    )


def parse_count(value: object) -> int | None:
    """Scalar convenience for one value (tests, briefs); bulk data should use the expression."""
    return parse_counts(
        pl.Series("v", [None if value is None else str(value)], dtype=pl.String)
    ).item()
