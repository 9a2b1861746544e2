"""Follower-growth anomalies on daily follower counts (``follower_history``).

What is looked for, per creator, against the creator's *own* growth (median daily change and
its robust spread, so a big creator's normal day is not a small creator's jump):

* **jumps**: a day (or two) with a gain many robust SDs above the trend and a material share of
  the audience; **round-number steps** (a day's change an exact multiple of 500: +1,000,
  +5,000, +10,000 bought as a package); **staircases** (two or more unexplained jumps);
* **slow drips**: a sustained gain above trend over 7-28 days (bought followers delivered
  slowly to look organic), found with rolling sums of the excess;
* **drops after spikes**: followers lost soon after a gain (the platform purging fakes).

A gain is **explained** (reported, not flagged) when a note the creator published just before
it drew engagement far above the creator's usual (a viral note), the gain is plausible for that
engagement, and the new level holds. Round-number steps are never explained by a note.

In: ``follower_history`` and ``notes`` (contract tables, conformed), the as-of date, and the ids
of notes whose engagement is itself suspect (like bursts), which cannot explain a gain.
Out: :func:`growth_anomalies` returns (episodes, per-creator summary); see the schemas below.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from kol_vetting.signals.auth_common import MAD_TO_SD


@dataclass(frozen=True)
class GrowthParams:
    """Thresholds of the growth detector (defaults tuned on demo seeds 7 and 11)."""

    #: Fewer daily counts than this: growth is not assessed.
    min_history_days: int = 14
    #: A jump day: excess over trend at least this many robust SDs ...
    jump_z: float = 6.0
    #: ... and at least this share of the previous day's followers ...
    jump_min_share: float = 0.004
    #: ... and at least this many followers.
    jump_min_abs: int = 20
    #: Rolling windows (days) for slow drips, and the robust z their summed excess must reach ...
    drip_windows: tuple[int, ...] = (7, 14, 28)
    drip_z: float = 6.0
    #: ... and the share of followers the window added above trend.
    drip_min_share: float = 0.03
    #: Inside a flagged window, a day is part of the drip when its excess is at least this many SDs.
    drip_day_z: float = 1.0
    #: An episode lasting at least this many days is a drip rather than a jump.
    drip_min_days: int = 6
    #: Anomalous days at most this many days apart form one episode.
    merge_gap_days: int = 2
    #: Floor of the daily noise SD as a share of followers (MAD is 0 for tiny creators).
    sigma_floor_share: float = 0.0003
    #: Floor of the daily noise SD in followers.
    sigma_floor_abs: float = 1.0
    #: A day's change that is an exact multiple of this (and at least ``round_min``) is round.
    round_base: int = 500
    round_min: int = 500
    #: A note explains a gain when published at most this many days before the gain starts ...
    explain_before_days: int = 3
    #: ... and at most this many days after the start.
    explain_after_days: int = 0
    #: ... with engagement at least this multiple of the creator's median note engagement ...
    viral_multiple: float = 8.0
    #: ... and the gain is at most this many followers per engagement of the note ...
    max_followers_per_engagement: float = 1.0
    #: ... and the level ``hold_days`` after the episode keeps this share of the gain.
    hold_days: int = 14
    hold_share: float = 0.7
    #: A drop of this share of a gain within ``drop_window_days`` after it: drop after spike.
    drop_share: float = 0.3
    drop_window_days: int = 30
    #: Days before/after an episode over which note engagement is compared.
    engagement_window_days: int = 30


EPISODES_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "episode": pl.Int64(),
        "kind": pl.String(),  # jump, round_step or drip
        "start": pl.Date(),
        "end": pl.Date(),
        "days": pl.Int64(),
        "gain": pl.Float64(),  # followers above trend over the episode
        "gain_share": pl.Float64(),  # gain / followers the day before
        "max_day_change": pl.Int64(),
        "max_day": pl.Date(),
        "round_change": pl.Int64(),  # the round daily change, if any
        "followers_before": pl.Int64(),
        "level_held": pl.Boolean(),
        "drop_after": pl.Boolean(),
        "drop_date": pl.Date(),
        "explained": pl.Boolean(),
        "explained_by_note_id": pl.String(),
        "explaining_engagement": pl.Float64(),
        "engagement_change": pl.Float64(),  # median note engagement after / before - 1
        "evidence_ids": pl.List(pl.String()),
    }
)

SUMMARY_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "history_days": pl.Int64(),
        "growth_assessed": pl.Boolean(),
        "unexplained_episodes": pl.Int64(),
        "explained_episodes": pl.Int64(),
        "unexplained_gain": pl.Float64(),
        "unexplained_gain_share": pl.Float64(),
        "growth_flags": pl.List(pl.String()),
        "growth_evidence_ids": pl.List(pl.String()),
    }
)


def _note_engagement(notes: pl.DataFrame) -> pl.Expr:
    return (
        pl.col("likes").fill_null(0) + pl.col("collects").fill_null(0) + pl.col("comments").fill_null(0)
    ).cast(pl.Float64)


def growth_anomalies(
    follower_history: pl.DataFrame,
    notes: pl.DataFrame,
    *,
    as_of: dt.datetime,
    suspect_note_ids: pl.Series | None = None,
    params: GrowthParams = GrowthParams(),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Find follower-growth episodes and summarise them per creator.

    In: contract ``follower_history`` and ``notes``, ``as_of`` (naive UTC), optional ids of notes
    whose engagement is suspect (they cannot explain a gain). Out: (episodes in
    :data:`EPISODES_SCHEMA`, one row per anomalous episode; summary in :data:`SUMMARY_SCHEMA`,
    one row per creator with history).
    """
    p = params
    h = (
        follower_history.filter(pl.col("date") <= as_of.date())
        .drop_nulls(["creator_id", "date", "follower_count"])
        .unique(["creator_id", "date"], keep="last")
        .sort("creator_id", "date")
    )
    if h.height == 0:
        return pl.DataFrame(schema=EPISODES_SCHEMA), pl.DataFrame(schema=SUMMARY_SCHEMA)

    by = "creator_id"
    h = h.with_columns(
        pl.col("follower_count").cast(pl.Float64).alias("level"),
        pl.col("follower_count").shift(1).over(by).cast(pl.Float64).alias("prev"),
        (pl.col("date") - pl.col("date").shift(1).over(by)).dt.total_days().alias("gap"),
    ).with_columns(
        (pl.col("level") - pl.col("prev")).alias("d"),
    ).with_columns(
        (pl.col("d") / pl.col("gap")).alias("rate"),
        pl.len().over(by).alias("history_days"),
    )
    # The creator's trend and noise in *relative* terms (median and robust SD of the daily
    # growth rate): audiences grow by a share of themselves, so a growing creator's normal day
    # gets bigger over the window and is not a drip.
    h = h.with_columns((pl.col("rate") / pl.col("prev")).alias("rel"))
    h = h.with_columns(pl.col("rel").median().over(by).alias("trend_rel"))
    h = h.with_columns(
        pl.max_horizontal(
            (pl.col("rel") - pl.col("trend_rel")).abs().median().over(by) * MAD_TO_SD,
            pl.lit(p.sigma_floor_share),
        ).alias("sigma_rel")
    ).with_columns(
        (pl.col("trend_rel") * pl.col("prev")).alias("trend"),
        pl.max_horizontal(pl.col("sigma_rel") * pl.col("prev"), pl.lit(p.sigma_floor_abs)).alias("sigma"),
    ).with_columns(
        (pl.col("d") - pl.col("trend") * pl.col("gap")).alias("excess"),
    )
    jump_day = (
        (pl.col("excess") >= p.jump_z * pl.col("sigma") * pl.col("gap").sqrt())
        & (pl.col("excess") >= p.jump_min_share * pl.col("prev"))
        & (pl.col("excess") >= p.jump_min_abs)
    ).fill_null(False)
    h = h.with_columns(jump_day.alias("jump_day"))
    # Slow drips: rolling sums of the excess with jump days left out (a jump inside a window
    # would otherwise make every window around it look like a drip).
    e_nj = pl.when(pl.col("jump_day")).then(0.0).otherwise(pl.col("excess")).fill_null(0.0)
    drip_cover = pl.lit(False)
    for w in p.drip_windows:
        s = e_nj.rolling_sum(w, min_samples=w).over(by)
        base = pl.col("prev").shift(w - 1).over(by)
        flag = ((s >= p.drip_z * pl.col("sigma") * (w**0.5)) & (s >= p.drip_min_share * base)).fill_null(False)
        # every day inside a flagged window is covered: a flagged window ends within the next w days
        cover = flag.cast(pl.Int8).reverse().rolling_max(w, min_samples=1).reverse().over(by) > 0
        drip_cover = drip_cover | cover
    h = h.with_columns(
        (drip_cover & ~pl.col("jump_day") & (pl.col("excess") >= p.drip_day_z * pl.col("sigma"))).fill_null(False).alias("drip_day"),
    ).with_columns((pl.col("jump_day") | pl.col("drip_day")).alias("anom"))

    summary_base = h.group_by(by).agg(pl.col("history_days").first())

    anom = h.filter(pl.col("anom"))
    if anom.height == 0:
        return pl.DataFrame(schema=EPISODES_SCHEMA), _summary(summary_base, None, p)

    # Episodes: anomalous days at most merge_gap_days apart.
    anom = anom.with_columns(
        ((pl.col("date") - pl.col("date").shift(1).over(by)).dt.total_days().fill_null(10**6) > p.merge_gap_days + 1)
        .cum_sum().over(by).cast(pl.Int64).alias("episode")
    )
    is_round = (pl.col("d") >= p.round_min) & (pl.col("d") % p.round_base == 0)
    ep = anom.group_by(by, "episode").agg(
        pl.col("date").min().alias("start"),
        pl.col("date").max().alias("end"),
        pl.len().cast(pl.Int64).alias("days"),
        pl.col("excess").sum().alias("gain"),
        pl.col("prev").first().alias("followers_before_f"),
        pl.col("d").max().cast(pl.Int64).alias("max_day_change"),
        pl.col("date").sort_by("d").last().alias("max_day"),
        pl.col("d").filter(is_round & pl.col("jump_day")).max().cast(pl.Int64).alias("round_change"),
        pl.col("date").filter(pl.col("jump_day")).alias("jump_dates"),
        pl.col("excess").filter(pl.col("jump_day")).max().alias("max_jump_excess"),
        pl.col("sigma").first(),
        pl.col("trend").first(),
    )
    # An episode without a jump day must pass the drip test as a whole (drip days alone are
    # only "elevated inside a flagged window").
    ep = ep.filter(
        (pl.col("jump_dates").list.len() > 0)
        | ((pl.col("gain") >= p.drip_z * pl.col("sigma") * pl.col("days").cast(pl.Float64).sqrt())
           & (pl.col("gain") >= p.drip_min_share * pl.col("followers_before_f")))
    )
    if ep.height == 0:
        return pl.DataFrame(schema=EPISODES_SCHEMA), _summary(summary_base, None, p)
    ep = ep.with_columns(
        pl.col("followers_before_f").cast(pl.Int64).alias("followers_before"),
        (pl.col("gain") / pl.col("followers_before_f")).alias("gain_share"),
        pl.when(pl.col("round_change").is_not_null()).then(pl.lit("round_step"))
        .when(pl.col("days") >= p.drip_min_days).then(pl.lit("drip"))
        .otherwise(pl.lit("jump")).alias("kind"),
    )

    # Level after the episode, against the creator's trend: does the new baseline hold? Is
    # there a drop soon after (fakes purged)?
    levels = h.select(by, "date", "level")
    ep = ep.with_columns(
        (pl.col("end") + pl.duration(days=p.hold_days)).alias("_hold_date"),
    ).sort("_hold_date")
    ep = ep.join_asof(
        levels.select(by, pl.col("date").alias("_hold_date"), pl.col("date").alias("_hold_seen"),
                      pl.col("level").alias("_level_hold")).sort("_hold_date"),
        on="_hold_date", by=by, strategy="backward", check_sortedness=False,
    )
    end_level = levels.select(by, pl.col("date").alias("end"), pl.col("level").alias("_level_end"))
    ep = ep.join(end_level, on=[by, "end"], how="left")
    since_end = (pl.col("date") - pl.col("end")).dt.total_days().cast(pl.Float64)
    after = (
        ep.select(by, "episode", "end", "trend")
        .join(levels, on=by, how="inner")
        .filter((pl.col("date") > pl.col("end")) & (pl.col("date") <= pl.col("end") + pl.duration(days=p.drop_window_days)))
        .with_columns((pl.col("level") - pl.col("trend") * since_end).alias("_adj"))
        .group_by(by, "episode")
        .agg(
            pl.col("_adj").min().alias("_min_after"),
            pl.col("date").sort_by("_adj").first().alias("_min_date"),
        )
    )
    held_days = (pl.col("_hold_seen") - pl.col("end")).dt.total_days().cast(pl.Float64).clip(0, None)
    ep = ep.join(after, on=[by, "episode"], how="left").with_columns(
        ((pl.col("_level_hold") - pl.col("trend") * held_days - pl.col("followers_before_f"))
         >= p.hold_share * pl.col("gain")).fill_null(True).alias("level_held"),
        ((pl.col("_level_end") - pl.col("_min_after")) >= p.drop_share * pl.col("gain")).fill_null(False).alias("drop_after"),
    ).with_columns(
        pl.when(pl.col("drop_after")).then(pl.col("_min_date")).alias("drop_date"),
    )

    ep = _explain(ep, notes, suspect_note_ids, p)
    ep = _engagement_change(ep, notes, p)
    ep = ep.with_columns(
        pl.concat_list(
            pl.col("jump_dates").list.eval(pl.element().dt.to_string("%Y-%m-%d")),
            pl.concat_list(pl.col("start").dt.to_string("%Y-%m-%d"), pl.col("end").dt.to_string("%Y-%m-%d")),
            pl.when(pl.col("drop_date").is_not_null()).then(pl.concat_list(pl.col("drop_date").dt.to_string("%Y-%m-%d")))
            .otherwise(pl.lit([], dtype=pl.List(pl.String))),
            pl.when(pl.col("explained_by_note_id").is_not_null()).then(pl.concat_list(pl.col("explained_by_note_id")))
            .otherwise(pl.lit([], dtype=pl.List(pl.String))),
        ).list.unique(maintain_order=True).alias("evidence_ids")
    )
    episodes = ep.select(list(EPISODES_SCHEMA)).cast(EPISODES_SCHEMA).sort(by, "start")
    return episodes, _summary(summary_base, episodes, p)


def _explain(ep: pl.DataFrame, notes: pl.DataFrame, suspect: pl.Series | None, p: GrowthParams) -> pl.DataFrame:
    """Attach the viral note (if any) that explains each episode; set ``explained``."""
    n = notes.select(
        "creator_id", "note_id", pl.col("published_at").dt.date().alias("pub"), _note_engagement(notes).alias("eng")
    ).with_columns(pl.col("eng").median().over("creator_id").alias("_med"))
    if suspect is not None and len(suspect):
        n = n.filter(~pl.col("note_id").is_in(suspect.implode()))
    viral = n.filter(pl.col("eng") >= p.viral_multiple * pl.max_horizontal(pl.col("_med"), pl.lit(1.0)))
    cand = (
        ep.select("creator_id", "episode", "start", "gain")
        .join(viral, on="creator_id", how="inner")
        .filter(
            (pl.col("pub") >= pl.col("start") - pl.duration(days=p.explain_before_days))
            & (pl.col("pub") <= pl.col("start") + pl.duration(days=p.explain_after_days))
            & (pl.col("gain") <= p.max_followers_per_engagement * pl.col("eng"))
        )
        .sort(["eng", "note_id"], descending=[True, False])  # ties: the lowest note id, not row order
        .group_by("creator_id", "episode")
        .first()
        .select("creator_id", "episode", pl.col("note_id").alias("explained_by_note_id"),
                pl.col("eng").alias("explaining_engagement"))
    )
    ep = ep.join(cand, on=["creator_id", "episode"], how="left")
    return ep.with_columns(
        (
            pl.col("explained_by_note_id").is_not_null()
            & pl.col("level_held")
            & (pl.col("kind") != "round_step")
        ).alias("explained")
    ).with_columns(
        pl.when(pl.col("explained")).then(pl.col("explained_by_note_id")).alias("explained_by_note_id"),
        pl.when(pl.col("explained")).then(pl.col("explaining_engagement")).alias("explaining_engagement"),
    )


def _engagement_change(ep: pl.DataFrame, notes: pl.DataFrame, p: GrowthParams) -> pl.DataFrame:
    """Median note engagement in the window after the episode vs before it (ratio - 1)."""
    n = notes.select("creator_id", pl.col("published_at").dt.date().alias("pub"), _note_engagement(notes).alias("eng"))
    w = pl.duration(days=p.engagement_window_days)
    j = ep.select("creator_id", "episode", "start", "end").join(n, on="creator_id", how="inner")
    before = pl.col("eng").filter((pl.col("pub") < pl.col("start")) & (pl.col("pub") >= pl.col("start") - w)).median()
    after = pl.col("eng").filter((pl.col("pub") > pl.col("end")) & (pl.col("pub") <= pl.col("end") + w)).median()
    ch = j.group_by("creator_id", "episode").agg((after / before - 1.0).alias("engagement_change"))
    return ep.join(ch, on=["creator_id", "episode"], how="left")


def _summary(base: pl.DataFrame, episodes: pl.DataFrame | None, p: GrowthParams) -> pl.DataFrame:
    """Per-creator growth summary from the episodes."""
    out = base.with_columns(
        pl.col("history_days").cast(pl.Int64),
        (pl.col("history_days") >= p.min_history_days).alias("growth_assessed"),
    )
    if episodes is None or episodes.height == 0:
        out = out.with_columns(
            pl.lit(0, dtype=pl.Int64).alias("unexplained_episodes"),
            pl.lit(0, dtype=pl.Int64).alias("explained_episodes"),
            pl.lit(0.0).alias("unexplained_gain"),
            pl.lit(0.0).alias("unexplained_gain_share"),
            pl.lit([], dtype=pl.List(pl.String)).alias("growth_flags"),
            pl.lit([], dtype=pl.List(pl.String)).alias("growth_evidence_ids"),
        )
        return out.select(list(SUMMARY_SCHEMA)).cast(SUMMARY_SCHEMA)
    un = ~pl.col("explained")
    agg = episodes.group_by("creator_id").agg(
        un.sum().cast(pl.Int64).alias("unexplained_episodes"),
        pl.col("explained").sum().cast(pl.Int64).alias("explained_episodes"),
        pl.col("gain").filter(un).sum().alias("unexplained_gain"),
        pl.col("gain_share").filter(un).sum().alias("unexplained_gain_share"),
        (un & pl.col("kind").is_in(["jump", "round_step"])).sum().alias("_jumps"),
        (un & (pl.col("kind") == "round_step")).any().alias("_round"),
        (un & (pl.col("kind") == "drip")).any().alias("_drip"),
        (un & (pl.col("kind") == "jump")).any().alias("_jump"),
        (un & pl.col("drop_after")).any().alias("_drop"),
        pl.col("evidence_ids").filter(un).list.explode(keep_nulls=False, empty_as_null=False).alias("growth_evidence_ids"),
    )
    flags = pl.concat_list(
        [
            pl.when(pl.col(c)).then(pl.lit([name])).otherwise(pl.lit([], dtype=pl.List(pl.String)))
            for c, name in (("_jump", "jump"), ("_round", "round_step"), ("_drip", "drip"), ("_drop", "drop_after_spike"))
        ]
        + [pl.when(pl.col("_jumps") >= 2).then(pl.lit(["staircase"])).otherwise(pl.lit([], dtype=pl.List(pl.String)))]
    )
    agg = agg.with_columns(flags.alias("growth_flags"))
    out = out.join(agg, on="creator_id", how="left").with_columns(
        pl.col("unexplained_episodes").fill_null(0),
        pl.col("explained_episodes").fill_null(0),
        pl.col("unexplained_gain").fill_null(0.0),
        pl.col("unexplained_gain_share").fill_null(0.0),
        pl.col("growth_flags").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.col("growth_evidence_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
    )
    return out.select(list(SUMMARY_SCHEMA)).cast(SUMMARY_SCHEMA)
