"""Engagement anomalies: engagement rate and like/collect/comment ratios against peers, and
single-note like bursts.

* **Engagement rate** of a note = (likes + collects + comments) / followers on the day it was
  published (from ``follower_history``; the profile count when there is no history). A
  creator's rate is the median over their notes. It is compared with peers (same platform,
  tier and category; broader groups when too few) by robust z (median and MAD of the log
  rate) after removing the size effect (rates fall with audience size even inside a tier: the
  slope of log rate on log followers is fitted per platform). *Too low* suggests an audience
  padded with bought followers; *too high* suggests bought engagement.
* **Ratios**: median collects/likes and comments/likes per creator against peers: bought likes
  or bought comments shift them where real audiences do not.
* **Like bursts**: a note whose likes jump far above the creator's usual while its collects
  and comments do not follow (a real hit raises all three together).

In: conformed ``notes``, the creator frame of :func:`kol_vetting.signals.auth_common.creator_frame`
and ``follower_history``. Out: :func:`engagement_anomalies` returns (anomalies, summary).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from kol_vetting.signals.auth_common import MAD_TO_SD, peer_stats


@dataclass(frozen=True)
class EngagementParams:
    """Thresholds of the engagement detector (defaults tuned on demo seeds 7 and 11)."""

    #: Fewer notes than this: engagement rate and ratios are not assessed.
    min_notes: int = 5
    #: Peer groups need this many creators, else the next broader level is used.
    min_peers: int = 10
    #: Robust z of the (size-adjusted) log engagement rate below -low_z / above high_z.
    low_z: float = 3.0
    high_z: float = 3.5
    #: Floor of the peer spread of log rates (avoids huge z in very uniform groups).
    min_log_scale: float = 0.15
    #: Fit the size effect per platform only with at least this many creators.
    min_creators_for_slope: int = 30
    #: The fitted slope of log rate on log followers is clipped to this range.
    slope_range: tuple[float, float] = (-1.0, 0.0)
    #: Ratio checks: robust z of the log ratio against peers beyond this.
    ratio_z: float = 4.0
    #: Notes with fewer likes than this are left out of ratio medians (ratios of tiny counts are noise).
    ratio_min_likes: int = 10
    #: Like burst: the note's log likes are this many robust SDs above the creator's usual ...
    burst_like_z: float = 2.0
    #: ... its likes rose this much more (log units) than its collects + comments ...
    burst_gap_log: float = 2.0
    #: ... and it has at least this many likes more than its collects and comments predict.
    burst_min_excess_likes: int = 100
    #: Floor of the creator's spread of log likes.
    burst_min_scale: float = 0.25


ANOMALIES_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "kind": pl.String(),  # low_engagement, high_engagement, collect_ratio, comment_ratio, like_burst
        "note_id": pl.String(),  # like bursts only
        "published_at": pl.Datetime("us"),
        "value": pl.Float64(),  # rate, ratio, or the note's likes
        "expected": pl.Float64(),  # peer median, or the likes the note's collects/comments predict
        "peer_z": pl.Float64(),
        "peer_percentile": pl.Float64(),
        "peer_n": pl.Int64(),
        "peer_group": pl.String(),
    }
)

SUMMARY_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "notes_count": pl.Int64(),
        "engagement_assessed": pl.Boolean(),
        "engagement_rate": pl.Float64(),
        "engagement_peer_median": pl.Float64(),
        "engagement_peer_z": pl.Float64(),
        "engagement_peer_percentile": pl.Float64(),
        "engagement_peer_n": pl.Int64(),
        "engagement_peer_group": pl.String(),
        "collect_ratio": pl.Float64(),
        "collect_ratio_peer_median": pl.Float64(),
        "collect_ratio_peer_z": pl.Float64(),
        "comment_ratio": pl.Float64(),
        "comment_ratio_peer_median": pl.Float64(),
        "comment_ratio_peer_z": pl.Float64(),
        "like_burst_note_ids": pl.List(pl.String()),
        "engagement_flags": pl.List(pl.String()),
    }
)


def engagement_anomalies(
    notes: pl.DataFrame,
    creators: pl.DataFrame,
    follower_history: pl.DataFrame,
    *,
    as_of: dt.datetime,
    params: EngagementParams = EngagementParams(),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Engagement-rate, ratio and like-burst anomalies.

    In: conformed ``notes`` and ``follower_history``; ``creators`` from
    :func:`~kol_vetting.signals.auth_common.creator_frame` (creator_id, platform, category,
    follower_count, tier). Out: (anomalies in :data:`ANOMALIES_SCHEMA`, one row per flag;
    summary in :data:`SUMMARY_SCHEMA`, one row per creator with notes).
    """
    per_creator, bursts = engagement_features(notes, creators, follower_history, as_of=as_of, params=params)
    return engagement_peers(per_creator, bursts, params=params)


def engagement_features(
    notes: pl.DataFrame,
    creators: pl.DataFrame,
    follower_history: pl.DataFrame,
    *,
    as_of: dt.datetime,
    params: EngagementParams = EngagementParams(),
) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """The per-creator half of :func:`engagement_anomalies`: reads only each creator's own rows.

    Out: (one row per creator with notes: creators' columns, notes_count, engagement_rate,
    collect/comment ratios, their logs and ``engagement_assessed``; None when there are no
    notes at all) and the like-burst notes. Creators can be split into groups (shards), each
    group run here, and the results concatenated before :func:`engagement_peers`.
    """
    p = params
    n = notes.filter(pl.col("published_at") <= as_of).drop_nulls(["note_id", "creator_id"]).unique("note_id", keep="last")
    if n.height == 0:
        return None, _EMPTY_BURSTS.clear()
    n = n.select(
        "creator_id", "note_id", "published_at",
        pl.col("likes").cast(pl.Float64),
        pl.col("collects").cast(pl.Float64),
        pl.col("comments").cast(pl.Float64),
    ).with_columns(
        (pl.col("likes").fill_null(0) + pl.col("collects").fill_null(0) + pl.col("comments").fill_null(0)).alias("eng"),
        pl.col("published_at").dt.date().alias("pub"),
    )
    # Followers on the publication day: the last history count on or before it.
    hist = follower_history.drop_nulls(["creator_id", "date", "follower_count"]).select(
        "creator_id", pl.col("date").alias("pub"), pl.col("follower_count").cast(pl.Float64).alias("f_hist")
    ).sort("pub")
    n = n.sort("pub")
    if hist.height:
        n = n.join_asof(hist, on="pub", by="creator_id", strategy="backward", check_sortedness=False)
    else:
        n = n.with_columns(pl.lit(None, dtype=pl.Float64).alias("f_hist"))
    n = n.join(creators.select("creator_id", pl.col("follower_count").cast(pl.Float64).alias("f_prof")), on="creator_id", how="left")
    n = n.with_columns(pl.coalesce("f_hist", "f_prof").alias("f_at"))
    n = n.with_columns(pl.when(pl.col("f_at") > 0).then(pl.col("eng") / pl.col("f_at")).alias("er"))

    bursts = _like_bursts(n, p)

    ok_ratio = pl.col("likes") >= p.ratio_min_likes
    per = n.group_by("creator_id").agg(
        pl.len().cast(pl.Int64).alias("notes_count"),
        pl.col("er").drop_nulls().median().alias("engagement_rate"),
        (pl.col("collects") / pl.col("likes")).filter(ok_ratio).median().alias("collect_ratio"),
        (pl.col("comments") / pl.col("likes")).filter(ok_ratio).median().alias("comment_ratio"),
    )
    df = creators.join(per, on="creator_id", how="inner").with_columns(
        (pl.col("notes_count") >= p.min_notes).alias("engagement_assessed")
    )
    enough = pl.col("engagement_assessed")
    df = df.with_columns(
        pl.when(enough & (pl.col("engagement_rate") > 0)).then(pl.col("engagement_rate").log()).alias("_log_er"),
        pl.when(enough & (pl.col("follower_count") > 0)).then(pl.col("follower_count").cast(pl.Float64).log()).alias("_log_f"),
        pl.when(enough & (pl.col("collect_ratio") > 0)).then(pl.col("collect_ratio").log()).alias("_log_cr"),
        pl.when(enough & (pl.col("comment_ratio") > 0)).then(pl.col("comment_ratio").log()).alias("_log_cm"),
    )
    return df, bursts


def engagement_peers(
    per_creator: pl.DataFrame | None, bursts: pl.DataFrame, *, params: EngagementParams = EngagementParams()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The cross-creator half of :func:`engagement_anomalies`: the platform size effect and the
    peer statistics need every creator, so they run on all of :func:`engagement_features`'s
    rows at once (sorted by creator id, so the result does not depend on how rows arrive)."""
    p = params
    if per_creator is None:
        return pl.DataFrame(schema=ANOMALIES_SCHEMA), pl.DataFrame(schema=SUMMARY_SCHEMA)
    df = per_creator.sort("creator_id")
    df = df.with_columns(_size_adjusted(df, p).alias("_adj_er"))
    df = peer_stats(df, "_adj_er", min_peers=p.min_peers, min_scale=p.min_log_scale, prefix="er", raw="engagement_rate")
    df = peer_stats(df, "_log_cr", min_peers=p.min_peers, min_scale=p.min_log_scale, prefix="cr")
    df = peer_stats(df, "_log_cm", min_peers=p.min_peers, min_scale=p.min_log_scale, prefix="cm")

    low = pl.col("er_peer_z") <= -p.low_z
    high = pl.col("er_peer_z") >= p.high_z
    crf = pl.col("cr_peer_z").abs() >= p.ratio_z
    cmf = pl.col("cm_peer_z").abs() >= p.ratio_z
    burst_ids = bursts.group_by("creator_id").agg(pl.col("note_id").alias("like_burst_note_ids"))
    df = df.join(burst_ids, on="creator_id", how="left").with_columns(
        pl.col("like_burst_note_ids").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )
    empty = pl.lit([], dtype=pl.List(pl.String))
    flags = pl.concat_list(
        pl.when(low.fill_null(False)).then(pl.lit(["low_engagement"])).otherwise(empty),
        pl.when(high.fill_null(False)).then(pl.lit(["high_engagement"])).otherwise(empty),
        pl.when(crf.fill_null(False)).then(pl.lit(["collect_ratio"])).otherwise(empty),
        pl.when(cmf.fill_null(False)).then(pl.lit(["comment_ratio"])).otherwise(empty),
        pl.when(pl.col("like_burst_note_ids").list.len() > 0).then(pl.lit(["like_burst"])).otherwise(empty),
    )
    df = df.with_columns(flags.alias("engagement_flags"))
    summary = df.select(
        "creator_id", "notes_count", "engagement_assessed",
        pl.when(pl.col("engagement_assessed")).then(pl.col("engagement_rate")).alias("engagement_rate"),
        pl.col("er_peer_raw_median").alias("engagement_peer_median"),
        pl.col("er_peer_z").alias("engagement_peer_z"),
        pl.col("er_peer_percentile").alias("engagement_peer_percentile"),
        pl.col("er_peer_n").cast(pl.Int64).alias("engagement_peer_n"),
        pl.col("er_peer_group").alias("engagement_peer_group"),
        pl.when(pl.col("engagement_assessed")).then(pl.col("collect_ratio")).alias("collect_ratio"),
        pl.col("cr_peer_median").exp().alias("collect_ratio_peer_median"),
        pl.col("cr_peer_z").alias("collect_ratio_peer_z"),
        pl.when(pl.col("engagement_assessed")).then(pl.col("comment_ratio")).alias("comment_ratio"),
        pl.col("cm_peer_median").exp().alias("comment_ratio_peer_median"),
        pl.col("cm_peer_z").alias("comment_ratio_peer_z"),
        "like_burst_note_ids",
        "engagement_flags",
    ).cast(SUMMARY_SCHEMA)

    rows = []
    for kind, cond, val, med, z, pct, nn, grp in (
        ("low_engagement", low, "engagement_rate", "er_peer_raw_median", "er_peer_z", "er_peer_percentile", "er_peer_n", "er_peer_group"),
        ("high_engagement", high, "engagement_rate", "er_peer_raw_median", "er_peer_z", "er_peer_percentile", "er_peer_n", "er_peer_group"),
        ("collect_ratio", crf, "collect_ratio", "cr_peer_median", "cr_peer_z", "cr_peer_percentile", "cr_peer_n", "cr_peer_group"),
        ("comment_ratio", cmf, "comment_ratio", "cm_peer_median", "cm_peer_z", "cm_peer_percentile", "cm_peer_n", "cm_peer_group"),
    ):
        expected = pl.col(med) if kind.endswith("engagement") else pl.col(med).exp()
        rows.append(
            df.filter(cond.fill_null(False)).select(
                "creator_id", pl.lit(kind).alias("kind"), pl.lit(None, dtype=pl.String).alias("note_id"),
                pl.lit(None, dtype=pl.Datetime("us")).alias("published_at"),
                pl.col(val).alias("value"), expected.alias("expected"), pl.col(z).alias("peer_z"),
                pl.col(pct).alias("peer_percentile"), pl.col(nn).cast(pl.Int64).alias("peer_n"), pl.col(grp).alias("peer_group"),
            )
        )
    rows.append(
        bursts.select(
            "creator_id", pl.lit("like_burst").alias("kind"), "note_id", "published_at",
            pl.col("likes").alias("value"), pl.col("expected_likes").alias("expected"),
            pl.col("like_z").alias("peer_z"), pl.lit(None, dtype=pl.Float64).alias("peer_percentile"),
            pl.lit(None, dtype=pl.Int64).alias("peer_n"), pl.lit("creator's own notes").alias("peer_group"),
        )
    )
    anomalies = pl.concat([r.cast(ANOMALIES_SCHEMA) for r in rows]).sort("creator_id", "kind", "note_id", nulls_last=True)
    return anomalies, summary


_EMPTY_BURSTS = pl.DataFrame(
    schema={"creator_id": pl.String(), "note_id": pl.String(), "published_at": pl.Datetime("us"),
            "likes": pl.Float64(), "expected_likes": pl.Float64(), "like_z": pl.Float64()}
)


def _size_adjusted(df: pl.DataFrame, p: EngagementParams) -> pl.Expr:
    """Log engagement rate minus the platform's size effect (slope on log followers)."""
    fit = df.drop_nulls(["_log_er", "_log_f"]).group_by("platform").agg(
        pl.len().alias("n"),
        pl.cov("_log_er", "_log_f").alias("cov"),
        pl.col("_log_f").var().alias("var"),
    )
    slopes = {
        row["platform"]: float(np.clip(row["cov"] / row["var"], *p.slope_range))
        if row["n"] >= p.min_creators_for_slope and row["var"] and row["var"] > 0 else 0.0
        for row in fit.iter_rows(named=True)  # one row per platform
    }
    slope = pl.col("platform").replace_strict(slopes, default=0.0, return_dtype=pl.Float64)
    return pl.col("_log_er") - slope * pl.col("_log_f").fill_null(0.0)


def _like_bursts(n: pl.DataFrame, p: EngagementParams) -> pl.DataFrame:
    """Notes whose likes jumped without the collects and comments a real hit brings."""
    other = pl.col("collects").fill_null(0) + pl.col("comments").fill_null(0)
    x = n.filter(pl.col("collects").is_not_null() | pl.col("comments").is_not_null()).with_columns(
        pl.col("likes").fill_null(0).log1p().alias("_ll"),
        other.log1p().alias("_lo"),
        pl.len().over("creator_id").alias("_cnt"),
    ).filter(pl.col("_cnt") >= p.min_notes)
    if x.height == 0:
        return _EMPTY_BURSTS.clear()
    by = "creator_id"
    med_ll = pl.col("_ll").median().over(by)
    med_lo = pl.col("_lo").median().over(by)
    scale = pl.max_horizontal((pl.col("_ll") - med_ll).abs().median().over(by) * MAD_TO_SD, pl.lit(p.burst_min_scale))
    x = x.with_columns(
        ((pl.col("_ll") - med_ll) / scale).alias("like_z"),
        ((pl.col("_ll") - med_ll) - (pl.col("_lo") - med_lo)).alias("_gap"),
        # likes the note's collects + comments predict at the creator's usual ratio
        ((med_ll + (pl.col("_lo") - med_lo)).exp() - 1.0).alias("expected_likes"),
    )
    return x.filter(
        (pl.col("like_z") >= p.burst_like_z)
        & (pl.col("_gap") >= p.burst_gap_log)
        & (pl.col("likes") - pl.col("expected_likes") >= p.burst_min_excess_likes)
    ).select("creator_id", "note_id", "published_at", "likes", "expected_likes", "like_z").sort(
        "creator_id", "published_at", "note_id"  # a total order: like_burst_note_ids never depend on row order
    )
