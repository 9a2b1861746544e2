"""Creator-level fake-follower share, with a Wilson interval from the sample size.

In: ``follower_samples`` (contract table; a sample of each creator's followers) and the
follower classifier (:func:`kol_vetting.signals.followers.score_followers`).
Out of :func:`follower_scores`: one row per sampled follower with ``fake_probability``,
``audience_type`` and ``is_fake``. Out of :func:`creator_fake_share`: one row per sampled
creator with the sample size, the number of fake-looking followers, the share and its Wilson
95% interval, whether the sample is large enough, and the registration *cohort* of the fakes
(bought accounts are registered in batches, so many fakes created within a few weeks of each
other are a purchase signature).

Which estimate: the share of followers the classifier calls fake (``suspicious`` or
``mass_follower``) had a lower error against the demo world's true farm share than the mean
probability (the probabilities are calibrated to a balanced training mix, so their mean
over-states the share of a mostly genuine audience); see ``evaluate_authenticity``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import polars as pl

from kol_vetting.signals.auth_common import wilson_bounds

#: Feature columns the classifier reads: followers identical on all of them get the same score,
#: so each distinct account profile is scored once (audiences overlap a lot within a niche).
_FEATURE_INPUTS = (
    "username",
    "has_avatar",
    "bio_length",
    "follower_count",
    "following_count",
    "note_count",
    "created_at",
)


@dataclass(frozen=True)
class FakeShareParams:
    """Thresholds of the fake-share estimate (defaults tuned on demo seeds 7 and 11)."""

    #: Below this many sampled followers the share is reported but not used for risk.
    min_sample_size: int = 50
    #: "threshold": share of followers whose audience_type is in ``fake_types``;
    #: "mean_probability": mean fake_probability (kept for comparison in the evaluation).
    method: Literal["threshold", "mean_probability"] = "threshold"
    fake_types: tuple[str, ...] = ("suspicious", "mass_follower")
    #: z of the two-sided 95% Wilson interval.
    z: float = 1.959964
    #: Window (days) in which the registration dates of bought accounts cluster.
    cohort_window_days: int = 60
    #: A cohort needs at least this many fake followers registered inside one window ...
    cohort_min_fakes: int = 12
    #: ... and at least this share of all the creator's fake-looking followers.
    cohort_min_share: float = 0.5
    #: Follower ids kept as evidence per creator (most fake-looking first).
    evidence_max: int = 10


FOLLOWER_SCORES_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "follower_id": pl.String(),
        "fake_probability": pl.Float64(),
        "audience_type": pl.String(),
        "is_fake": pl.Boolean(),
        "created_at": pl.Datetime("us"),
    }
)

FAKE_SHARE_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "sample_size": pl.Int64(),
        "fake_count": pl.Int64(),
        "fake_share": pl.Float64(),
        "fake_share_low": pl.Float64(),
        "fake_share_high": pl.Float64(),
        "fake_share_mean_probability": pl.Float64(),
        "sample_too_small": pl.Boolean(),
        "cohort_count": pl.Int64(),
        "cohort_share": pl.Float64(),
        "cohort_start": pl.Date(),
        "cohort_end": pl.Date(),
        "cohort_flag": pl.Boolean(),
        "fake_evidence_ids": pl.List(pl.String()),
    }
)


def follower_scores(
    follower_samples: pl.DataFrame,
    *,
    as_of: dt.datetime,
    model: object | None = None,
    params: FakeShareParams = FakeShareParams(),
) -> pl.DataFrame:
    """Score every sampled follower with the follower classifier.

    In: ``follower_samples`` conformed to the contract. Out: :data:`FOLLOWER_SCORES_SCHEMA`
    (creator_id, follower_id, fake_probability, audience_type, is_fake, created_at).
    Distinct account profiles are scored once and joined back.
    """
    if follower_samples.height == 0:
        return pl.DataFrame(schema=FOLLOWER_SCORES_SCHEMA)
    from kol_vetting.signals.followers import score_followers

    feats = [c for c in _FEATURE_INPUTS if c in follower_samples.columns]
    profiles = follower_samples.select(feats).unique()
    scored = score_followers(profiles, model=model, as_of=as_of)  # type: ignore[arg-type]
    out = follower_samples.join(
        scored.select(*feats, "fake_probability", "audience_type"),
        on=feats,
        how="left",
        nulls_equal=True,
    )
    return out.select(
        "creator_id",
        "follower_id",
        pl.col("fake_probability").cast(pl.Float64),
        pl.col("audience_type").cast(pl.String),
        pl.col("audience_type").is_in(list(params.fake_types)).fill_null(False).alias("is_fake"),
        pl.col("created_at").cast(pl.Datetime("us")),
    )


def creator_fake_share(scores: pl.DataFrame, params: FakeShareParams = FakeShareParams()) -> pl.DataFrame:
    """Per creator: fake share with its Wilson interval, sample size and the fakes' cohort.

    In: :func:`follower_scores` output. Out: :data:`FAKE_SHARE_SCHEMA`, one row per creator
    with at least one sampled follower.
    """
    if scores.height == 0:
        return pl.DataFrame(schema=FAKE_SHARE_SCHEMA)
    n = pl.len().cast(pl.Int64)
    k = pl.col("is_fake").sum().cast(pl.Int64)
    share = (
        pl.col("fake_share_mean_probability") if params.method == "mean_probability"
        else pl.col("fake_count") / pl.col("sample_size")
    )
    agg = scores.group_by("creator_id").agg(
        n.alias("sample_size"),
        k.alias("fake_count"),
        pl.col("fake_probability").mean().alias("fake_share_mean_probability"),
        # evidence: the most fake-looking followers first
        # (ties, e.g. identical profiles, by follower id: the list never depends on row order)
        pl.col("follower_id").filter(pl.col("is_fake")).sort_by(
            [pl.col("fake_probability").filter(pl.col("is_fake")), pl.col("follower_id").filter(pl.col("is_fake"))],
            descending=[True, False],
        ).head(params.evidence_max).alias("fake_evidence_ids"),
    ).with_columns(share.alias("fake_share"))
    if params.method == "mean_probability":
        k_eff = pl.col("fake_share") * pl.col("sample_size")
    else:
        k_eff = pl.col("fake_count")
    low, high = wilson_bounds(k_eff, pl.col("sample_size"), params.z)
    agg = agg.with_columns(
        low.alias("fake_share_low"),
        high.alias("fake_share_high"),
        (pl.col("sample_size") < params.min_sample_size).alias("sample_too_small"),
    )
    agg = agg.join(_cohorts(scores, params), on="creator_id", how="left")
    agg = agg.with_columns(
        pl.col("cohort_count").fill_null(0),
        (
            (pl.col("cohort_count").fill_null(0) >= params.cohort_min_fakes)
            & (pl.col("cohort_share").fill_null(0.0) >= params.cohort_min_share)
        ).alias("cohort_flag"),
    )
    return agg.select(list(FAKE_SHARE_SCHEMA)).cast(FAKE_SHARE_SCHEMA)


def _cohorts(scores: pl.DataFrame, params: FakeShareParams) -> pl.DataFrame:
    """Densest registration window of each creator's fake-looking followers.

    For every fake follower with a creation time, count the fakes registered in the
    ``cohort_window_days`` before it (a time-based rolling count); the maximum is the cohort.
    """
    schema = {"creator_id": pl.String(), "cohort_count": pl.Int64(), "cohort_share": pl.Float64(),
              "cohort_start": pl.Date(), "cohort_end": pl.Date()}
    fakes = scores.filter(pl.col("is_fake") & pl.col("created_at").is_not_null()).select(
        "creator_id", "created_at"
    ).sort("creator_id", "created_at")
    if fakes.height == 0:
        return pl.DataFrame(schema=schema)
    window = f"{params.cohort_window_days}d"
    rolled = fakes.rolling(index_column="created_at", period=window, group_by="creator_id").agg(
        pl.len().alias("cnt"), pl.col("created_at").min().alias("first")
    )
    best = rolled.sort("cnt", "created_at", descending=[True, False]).group_by("creator_id").first()
    totals = scores.filter(pl.col("is_fake")).group_by("creator_id").agg(pl.len().alias("tot"))
    return best.join(totals, on="creator_id", how="left").select(
        "creator_id",
        pl.col("cnt").cast(pl.Int64).alias("cohort_count"),
        (pl.col("cnt") / pl.col("tot")).cast(pl.Float64).alias("cohort_share"),
        pl.col("first").dt.date().alias("cohort_start"),
        pl.col("created_at").dt.date().alias("cohort_end"),
    )
