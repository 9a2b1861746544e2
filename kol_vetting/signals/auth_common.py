"""Shared helpers of the authenticity signal: input conforming, robust statistics, peer groups.

Everything here is vectorized Polars (expressions or whole-frame operations):

* :func:`conform` gives any input table (possibly empty, possibly missing optional columns)
  the contract schema, so the detectors never branch on what a source provided.
* :func:`wilson_bounds` is the Wilson score interval of a proportion, as expressions.
* :func:`robust_z` is (x - median) / (1.4826 * MAD) with a floor on the scale.
* :func:`peer_stats` compares a per-creator value with the creator's peers (same platform, tier
  and category, falling back to platform + tier, then platform, when a group is too small):
  peer median, robust z and percentile, plus which peer group was used and its size.
* :func:`id_created_at` reads the creation time XHS encodes in its 24-hex ids (ObjectId style).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from kol_vetting.schema import polars_schema, tier_of

#: 1.4826 * MAD estimates the standard deviation of a normal distribution.
MAD_TO_SD = 1.4826
#: XHS ids (users, notes, comments) are 24 hex characters whose first 8 are the creation time.
OBJECT_ID_PATTERN = r"^[0-9a-f]{24}$"
#: Creation times before this are not plausible for a platform account id.
OBJECT_ID_EPOCH_MIN = dt.datetime(2012, 1, 1)


def to_naive_utc(moment: dt.datetime) -> dt.datetime:
    """A datetime as naive UTC (aware ones are converted, naive ones taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def conform(df: pl.DataFrame | pl.LazyFrame | None, table: str) -> pl.DataFrame:
    """Return ``df`` with exactly the contract columns of ``table`` (missing ones as nulls).

    Extra columns are dropped; dtypes are cast to the contract (non-strict: unparseable values
    become null). ``None`` gives an empty frame with the contract schema.
    """
    schema = polars_schema(table)
    if df is None:
        return pl.DataFrame(schema=schema)
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    exprs = [
        (pl.col(name).cast(dtype, strict=False) if name in df.columns else pl.lit(None, dtype=dtype)).alias(name)
        for name, dtype in schema.items()
    ]
    return df.select(exprs) if df.width else pl.DataFrame(schema=schema)


def wilson_bounds(k: pl.Expr, n: pl.Expr, z: float = 1.959964) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval (low, high) of the proportion k / n; null when n is 0 or null."""
    nf = n.cast(pl.Float64)
    p = k.cast(pl.Float64) / nf
    z2 = z * z
    denom = 1.0 + z2 / nf
    centre = (p + z2 / (2.0 * nf)) / denom
    half = z * ((p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt()) / denom
    ok = nf > 0
    low = pl.when(ok).then((centre - half).clip(0.0, 1.0))
    high = pl.when(ok).then((centre + half).clip(0.0, 1.0))
    return low, high


def robust_z(x: pl.Expr, by: str | Sequence[str], min_scale: pl.Expr | float) -> pl.Expr:
    """Robust z-score of ``x`` within groups ``by``: (x - median) / max(1.4826 * MAD, min_scale)."""
    med = x.median().over(by)
    mad = (x - med).abs().median().over(by) * MAD_TO_SD
    scale = pl.max_horizontal(mad, min_scale if isinstance(min_scale, pl.Expr) else pl.lit(min_scale))
    return (x - med) / scale


def id_created_at(id_col: pl.Expr) -> pl.Expr:
    """Creation time encoded in a 24-hex platform id (first 8 hex = unix seconds), else null."""
    secs = id_col.str.slice(0, 8).str.to_integer(base=16, strict=False)
    ts = pl.from_epoch(secs, time_unit="s").cast(pl.Datetime("us"))
    return pl.when(id_col.str.contains(OBJECT_ID_PATTERN) & (ts >= OBJECT_ID_EPOCH_MIN)).then(ts)


#: Peer-group levels, most specific first. A creator is compared within the first level whose
#: group holds at least ``min_peers`` creators with a value.
PEER_LEVELS: tuple[tuple[str, ...], ...] = (
    ("platform", "tier", "category"),
    ("platform", "tier"),
    ("platform",),
)


def creator_frame(creators: pl.DataFrame, followers_fallback: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per creator: creator_id, platform, category, follower_count (with fallback), tier.

    ``followers_fallback`` (creator_id, follower_count) fills a null profile count, e.g. the
    latest ``follower_history`` value. Platform and category nulls become 'unknown' so they can
    still form a peer group.
    """
    base = creators.select(
        "creator_id",
        pl.col("platform").fill_null("unknown"),
        pl.col("category").fill_null("unknown"),
        pl.col("follower_count").cast(pl.Int64),
    ).unique("creator_id", keep="last", maintain_order=True)
    if followers_fallback is not None and followers_fallback.height:
        base = base.join(
            followers_fallback.select("creator_id", pl.col("follower_count").alias("_fb")),
            on="creator_id",
            how="left",
        ).with_columns(pl.coalesce("follower_count", "_fb").alias("follower_count")).drop("_fb")
    return base.with_columns(
        pl.when(pl.col("follower_count").is_not_null()).then(tier_of(pl.col("follower_count"))).alias("tier")
    )


def peer_stats(
    df: pl.DataFrame,
    value: str,
    *,
    min_peers: int = 10,
    min_scale: float = 0.05,
    levels: Sequence[Sequence[str]] = PEER_LEVELS,
    prefix: str | None = None,
    raw: str | None = None,
) -> pl.DataFrame:
    """Compare ``value`` of each creator with its peers.

    In: ``df`` with one row per creator and the columns of every level (platform, tier,
    category) plus ``value`` (nulls are not compared and get null stats). Out: ``df`` plus
    ``{prefix}_peer_median``, ``{prefix}_peer_z`` (robust z, scale floored at ``min_scale``),
    ``{prefix}_peer_percentile`` (0-100, mid-rank), ``{prefix}_peer_n`` and
    ``{prefix}_peer_group`` (e.g. 'xiaohongshu / micro / beauty'). The first level with at least
    ``min_peers`` valued creators is used; the broadest level is used whatever its size. With
    ``raw``, also ``{prefix}_peer_raw_median``: the median of column ``raw`` over the same peers
    (e.g. the plain engagement rate when ``value`` is a transformed one).
    """
    p = prefix or value
    has = pl.col(value).is_not_null() & pl.col(value).is_finite()
    v = pl.when(has).then(pl.col(value))
    out = df.with_columns(pl.col(c).fill_null("unknown") for c in {c for lv in levels for c in lv})
    chosen: list[pl.Expr] = []
    for i, keys in enumerate(levels):
        keys = list(keys)
        n = v.count().over(keys)
        med = v.median().over(keys)
        mad = (v - med).abs().median().over(keys) * MAD_TO_SD
        z = (v - med) / pl.max_horizontal(mad, pl.lit(min_scale))
        pct = (v.rank("average").over(keys) - 0.5) / n * 100.0
        group = pl.concat_str([pl.col(k) for k in keys], separator=" / ")
        rawmed = pl.when(has).then(pl.col(raw)).median().over(keys) if raw else pl.lit(None, dtype=pl.Float64)
        out = out.with_columns(
            med.alias(f"_m{i}"), z.alias(f"_z{i}"), pct.alias(f"_p{i}"), n.alias(f"_n{i}"), group.alias(f"_g{i}"),
            rawmed.alias(f"_r{i}"),
        )
    last = len(levels) - 1
    for c in ("m", "z", "p", "n", "g", "r"):  # median, z, percentile, size, group label, raw median
        e = pl.col(f"_{c}{last}")
        for i in range(last - 1, -1, -1):
            e = pl.when(pl.col(f"_n{i}") >= min_peers).then(pl.col(f"_{c}{i}")).otherwise(e)
        chosen.append(e)
    names = [f"{p}_peer_median", f"{p}_peer_z", f"{p}_peer_percentile", f"{p}_peer_n", f"{p}_peer_group",
             f"{p}_peer_raw_median"]
    out = out.with_columns(
        [pl.when(has).then(e).alias(nm) for e, nm in zip(chosen, names)]
    )
    out = out.drop([f"_{c}{i}" for i in range(len(levels)) for c in ("m", "z", "p", "n", "g", "r")])
    return out if raw else out.drop(f"{p}_peer_raw_median")


def fmt_pct(x: pl.Expr, decimals: int = 0) -> pl.Expr:
    """A share (0-1) as a percentage string without the sign, e.g. 0.384 -> '38'."""
    return _num(x * 100.0, decimals)


def _num(x: pl.Expr, decimals: int) -> pl.Expr:
    """A number as a string with a fixed number of decimals (vectorized, no Python)."""
    if decimals == 0:
        return x.round(0).cast(pl.Int64).cast(pl.String)
    scaled = (x * 10**decimals).round(0).cast(pl.Int64)
    sign = pl.when(scaled < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    a = scaled.abs()
    return pl.concat_str(
        [sign, (a // 10**decimals).cast(pl.String), pl.lit("."),
         (a % 10**decimals).cast(pl.String).str.zfill(decimals)]
    )


def fmt_num(x: pl.Expr, decimals: int = 0) -> pl.Expr:
    """A number as text with fixed decimals, e.g. fmt_num(2.345, 1) -> '2.3'."""
    return _num(x, decimals)


def fmt_int(x: pl.Expr) -> pl.Expr:
    """An integer with thousands separators, e.g. 12000 -> '12,000' (vectorized)."""
    s = x.cast(pl.Int64).abs().cast(pl.String)
    # reverse, group by 3, reverse back
    rev = s.str.reverse().str.replace_all(r"(\d{3})", "$1,").str.reverse().str.strip_chars_start(",")
    return pl.concat_str([pl.when(x < 0).then(pl.lit("-")).otherwise(pl.lit("")), rev])


def ordinal(x: pl.Expr) -> pl.Expr:
    """Integer percentile as an English ordinal: 1 -> '1st', 42 -> '42nd', 13 -> '13th'."""
    n = x.round(0).cast(pl.Int64).clip(0, 100)
    last2 = n % 100
    last = n % 10
    suf = (
        pl.when((last2 >= 11) & (last2 <= 13)).then(pl.lit("th"))
        .when(last == 1).then(pl.lit("st"))
        .when(last == 2).then(pl.lit("nd"))
        .when(last == 3).then(pl.lit("rd"))
        .otherwise(pl.lit("th"))
    )
    return pl.concat_str([n.cast(pl.String), suf])


def hash_join(left: pl.DataFrame, right: pl.DataFrame, key: str, how: str = "inner") -> pl.DataFrame:
    """Join on a string ``key`` through its 64-bit hash, then check the strings are equal.

    Equal to ``left.join(right, on=key, how=how)`` for ``how`` in inner/left (a hash collision
    pairs extra rows, which the equality check removes), but much faster on millions of long
    ids: the hash table is built on integers. ``right`` should be unique on ``key``.
    """
    lh = left.with_columns(pl.col(key).hash().alias("_hk"))
    rh = right.with_columns(pl.col(key).hash().alias("_hk")).rename({key: "_rk"})
    out = lh.join(rh, on="_hk", how=how)  # type: ignore[arg-type]
    same = pl.col(key) == pl.col("_rk")
    if how == "left":
        wrong = pl.col("_rk").is_not_null() & ~same.fill_null(False)
        if out.select(wrong.any()).item():  # a hash collision (practically never): slow exact path
            return left.join(right, on=key, how="left")
        return out.drop("_hk", "_rk")
    out = out.filter(same)
    return out.drop("_hk", "_rk")


def has_duplicates(df: pl.DataFrame, key: str) -> bool:
    """Whether string column ``key`` may hold duplicates (sorted 64-bit hashes; a hash collision
    only costs an unnecessary de-duplication, never a missed one)."""
    if df.height < 2:
        return False
    return bool(df.select((pl.col(key).hash().sort().diff() == 0).any()).item())
