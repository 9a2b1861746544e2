"""The authenticity signal: fake followers and inflated engagement, as one risk per creator.

Entry point: :func:`score_authenticity`. It runs five detectors and combines them:

===================  ======================================================  =====================
detector             what it finds                                           module
===================  ======================================================  =====================
fake followers       share of a follower sample the classifier calls fake,   :mod:`.fake_share`
                     Wilson 95% interval, registration cohort of the fakes
growth               jumps, round-number steps, staircases, slow drips,      :mod:`.growth`
                     drops after spikes; viral notes explain a jump
engagement           engagement rate and like/collect/comment ratios vs      :mod:`.engagement`
                     peers (platform, tier, category); single-note like
                     bursts
comments             bot comment bursts, duplicated texts across notes,      :mod:`.comments_authenticity`
                     the same first commenters in the same order
pods                 creators commenting on each other's notes within        :mod:`.pods`
                     minutes (networkx communities)
===================  ======================================================  =====================

Each detector yields a *component risk* (0-100) per creator; the creator's risk is their
noisy-OR, ``100 * (1 - prod(1 - r_i / 100))``: one strong finding is enough to be risky, and
independent findings add up without exceeding 100. Every reason is a sentence with its numbers
(and interval, peer percentile, dates); ``evidence_ids`` lists the follower, note and comment
ids and ISO dates behind them. Thresholds are named parameters (:class:`AuthenticityParams`).

Output ``authenticity_scores`` starts with :data:`kol_vetting.schema.SIGNAL_SCORE_SCHEMA` and
then the signal's own columns (:data:`AUTHENTICITY_EXTRA_SCHEMA`). Missing inputs never crash:
what cannot be checked is said in the reasons and lowers the confidence; a creator with no
follower sample, no history and no notes is not assessed (risk null).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from kol_vetting.schema import SIGNAL_SCORE_SCHEMA
from kol_vetting.signals.auth_common import (
    conform,
    creator_frame,
    fmt_int,
    fmt_num,
    fmt_pct,
    ordinal,
    peer_stats,
    to_naive_utc,
)
from kol_vetting.signals.comments_authenticity import (
    CommentParams,
    comment_features,
    comment_peers,
    concat_comment_features,
    prepare_comments,
)
from kol_vetting.signals.engagement import EngagementParams, engagement_features, engagement_peers
from kol_vetting.signals.fake_share import FakeShareParams, creator_fake_share, follower_scores
from kol_vetting.signals.growth import GrowthParams, growth_anomalies
from kol_vetting.signals.pods import PodParams, detect_pods, early_comments

NOT_ASSESSED_REASON = "Not assessed: no follower sample, follower history or notes"


@dataclass(frozen=True)
class RiskParams:
    """How findings become component risks (0-100), and the flag threshold.

    Defaults were set on demo seeds 7 and 11 so that a planted anomaly alone reaches the flag
    threshold while honest look-alikes (a viral jump, a naturally noisy audience) stay below.
    """

    #: Fake-follower risk is 0 at this share ...
    fake_share_ok: float = 0.10
    #: ... and ``fake_share_max_risk`` at this share (linear in between).
    fake_share_bad: float = 0.40
    fake_share_max_risk: float = 90.0
    #: Added when the fakes were registered in one batch (cohort).
    cohort_bonus: float = 15.0
    #: "Bought followers" flag from the sample: Wilson lower bound at least this with a cohort ...
    bought_low_with_cohort: float = 0.12
    #: ... or at least this on its own.
    bought_low_alone: float = 0.30
    #: Unexplained growth: base risk plus this per unit share of followers gained (cap below).
    growth_base_risk: float = 45.0
    growth_risk_per_share: float = 200.0
    growth_round_bonus: float = 10.0
    growth_staircase_bonus: float = 10.0
    growth_drop_bonus: float = 5.0
    growth_max_risk: float = 90.0
    #: Engagement rate far below / above peers: base risk plus this per robust SD beyond the threshold.
    low_engagement_risk: float = 25.0
    high_engagement_risk: float = 30.0
    engagement_risk_per_z: float = 5.0
    engagement_max_risk: float = 50.0
    ratio_risk: float = 20.0
    #: Like bursts and bot-comment bursts: risk for the first note, plus per further note.
    like_burst_risk: float = 50.0
    bot_burst_risk: float = 50.0
    per_extra_note: float = 10.0
    burst_max_risk: float = 75.0
    duplicate_risk: float = 30.0
    recurring_risk: float = 25.0
    #: Pod membership: base risk plus this times the tie strength (0-1).
    pod_base_risk: float = 55.0
    pod_strength_risk: float = 30.0
    #: A creator with risk at least this is flagged (used by the evaluation and the flags column).
    flag_risk: float = 50.0


@dataclass(frozen=True)
class ConfidenceParams:
    """Confidence = weighted data coverage; each part saturates at its target amount."""

    sample_weight: float = 0.35
    sample_target: int = 200
    history_weight: float = 0.25
    history_target_days: int = 90
    notes_weight: float = 0.25
    notes_target: int = 20
    comments_weight: float = 0.15
    comments_target: int = 200


@dataclass(frozen=True)
class AuthenticityParams:
    """All parameters of the authenticity signal."""

    fake_share: FakeShareParams = field(default_factory=FakeShareParams)
    growth: GrowthParams = field(default_factory=GrowthParams)
    engagement: EngagementParams = field(default_factory=EngagementParams)
    comments: CommentParams = field(default_factory=CommentParams)
    pods: PodParams = field(default_factory=PodParams)
    risk: RiskParams = field(default_factory=RiskParams)
    confidence: ConfidenceParams = field(default_factory=ConfidenceParams)
    #: Unexplained growth episodes spelled out per creator (largest first).
    max_growth_reasons: int = 3
    #: Evidence ids kept per creator in ``evidence_ids``.
    evidence_max: int = 40
    #: Peers needed for a peer group (else the next broader level).
    min_peers: int = 10


#: Columns after the SIGNAL_SCORE_SCHEMA ones in ``authenticity_scores``.
AUTHENTICITY_EXTRA_SCHEMA = pl.Schema(
    {
        "flagged": pl.Boolean(),
        "flags": pl.List(pl.String()),
        "bought_followers": pl.Boolean(),
        "fake_share": pl.Float64(),
        "fake_share_low": pl.Float64(),
        "fake_share_high": pl.Float64(),
        "sample_size": pl.Int64(),
        "fake_count": pl.Int64(),
        "sample_too_small": pl.Boolean(),
        "fake_share_peer_percentile": pl.Float64(),
        "fake_cohort": pl.Boolean(),
        "engagement_rate": pl.Float64(),
        "engagement_peer_median": pl.Float64(),
        "engagement_peer_percentile": pl.Float64(),
        "engagement_peer_z": pl.Float64(),
        "engagement_peer_group": pl.String(),
        "engagement_peer_n": pl.Int64(),
        "growth_flags": pl.List(pl.String()),
        "unexplained_growth_share": pl.Float64(),
        "explained_jumps": pl.Int64(),
        "like_burst_notes": pl.Int64(),
        "bot_burst_notes": pl.Int64(),
        "comment_flags": pl.List(pl.String()),
        "pod_id": pl.String(),
        "pod_size": pl.Int64(),
        "pod_tie_strength": pl.Float64(),
        "risk_fake_followers": pl.Float64(),
        "risk_growth": pl.Float64(),
        "risk_engagement": pl.Float64(),
        "risk_comments": pl.Float64(),
        "risk_pod": pl.Float64(),
        "follower_count": pl.Int64(),
        "notes_count": pl.Int64(),
        "comments_count": pl.Int64(),
        "history_days": pl.Int64(),
    }
)
AUTHENTICITY_SCHEMA = pl.Schema({**SIGNAL_SCORE_SCHEMA, **AUTHENTICITY_EXTRA_SCHEMA})

_EMPTY_LIST = pl.lit([], dtype=pl.List(pl.String))


def score_authenticity(
    creators: pl.DataFrame | None,
    follower_samples: pl.DataFrame | None,
    notes: pl.DataFrame | None,
    comments: pl.DataFrame | None,
    follower_history: pl.DataFrame | None,
    *,
    as_of: dt.datetime,
    model: object | None = None,
    params: AuthenticityParams = AuthenticityParams(),
) -> dict[str, pl.DataFrame]:
    """Score every creator's authenticity risk.

    In: the contract tables (any may be empty or None; optional columns may be absent),
    ``as_of`` (the data-as-of time; aware datetimes are converted to naive UTC, later rows are
    ignored), ``model`` (the follower classifier; default the committed artifact, loaded only
    when there are follower samples), ``params``.

    Out: a dict of tables:

    * ``authenticity_scores``: exactly one row per creator in ``creators``, in
      :data:`AUTHENTICITY_SCHEMA` (SIGNAL_SCORE_SCHEMA columns first);
    * ``follower_scores``: one row per sampled follower (fake_probability, audience_type, is_fake);
    * ``fake_share``: per creator with a sample (share, Wilson interval, cohort);
    * ``growth_anomalies``: one row per follower-growth episode (explained ones included);
    * ``engagement_anomalies``: rate/ratio flags per creator and like bursts per note;
    * ``comment_anomalies``: bot bursts per note, duplicated texts, recurring commenter pairs;
    * ``pods``: one row per pod member; ``pod_edges``: the strong ties between creators.
    """
    parts = authenticity_parts(
        creators, follower_samples, notes, comments, follower_history, as_of=as_of, model=model, params=params
    )
    return combine_authenticity([parts], as_of=as_of, params=params)


#: What :func:`authenticity_parts` returns, per creator group; frames are concatenated across
#: groups by :func:`combine_authenticity`.
PART_KEYS = (
    "creators", "latest_followers", "follower_scores", "fake_share", "engagement_features",
    "like_bursts", "growth_anomalies", "growth_summary", "comment_features", "early_comments",
    "notes_per_creator",
)


def authenticity_parts(
    creators: pl.DataFrame | None,
    follower_samples: pl.DataFrame | None,
    notes: pl.DataFrame | None,
    comments: pl.DataFrame | None,
    follower_history: pl.DataFrame | None,
    *,
    as_of: dt.datetime,
    model: object | None = None,
    params: AuthenticityParams = AuthenticityParams(),
) -> dict[str, object]:
    """The per-creator half of :func:`score_authenticity` (the map step of a sharded run).

    Everything here reads only a creator's own rows (its profile, follower sample, notes, the
    comments under its notes, its follower history), so the creators can be split into groups
    (shards, see :mod:`kol_vetting.shards`) and each group scored alone, with a group's
    comments being those under its notes. What needs all creators at once (peer statistics,
    the platform size effect on engagement, the duplicate-comment peer z, engagement pods) is
    left to :func:`combine_authenticity`. Returns a dict with :data:`PART_KEYS`.
    """
    as_of = to_naive_utc(as_of)
    P = params
    cr = conform(creators, "creators").unique("creator_id", keep="last", maintain_order=True).drop_nulls("creator_id")
    fs = conform(follower_samples, "follower_samples")
    fs = fs.filter(pl.col("creator_id").is_in(cr["creator_id"].implode()))
    nt = conform(notes, "notes").filter(pl.col("published_at") <= as_of)
    cm = conform(comments, "comments")
    fh = conform(follower_history, "follower_history").filter(pl.col("date") <= as_of.date())

    latest = fh.sort("date").group_by("creator_id").agg(pl.col("follower_count").last())
    cf = creator_frame(cr, latest)

    fscores = follower_scores(fs, as_of=as_of, model=model, params=P.fake_share)
    share = creator_fake_share(fscores, P.fake_share)
    eng_features, like_bursts = engagement_features(nt, cf, fh, as_of=as_of, params=P.engagement)
    episodes, growth = growth_anomalies(fh, nt, as_of=as_of, suspect_note_ids=like_bursts["note_id"], params=P.growth)
    prepared = prepare_comments(cm, nt, as_of=as_of, params=P.comments)
    com_features = comment_features(prepared, P.comments)
    notes_per_creator = nt.group_by("creator_id").agg(pl.len().alias("notes"))
    return {
        "creators": cr,
        "latest_followers": latest,
        "follower_scores": fscores,
        "fake_share": share,
        "engagement_features": eng_features,
        "like_bursts": like_bursts,
        "growth_anomalies": episodes,
        "growth_summary": growth,
        "comment_features": com_features,
        # Pods look at early comments across creators: only those rows travel to the reduce.
        "early_comments": early_comments(prepared, P.pods),
        "notes_per_creator": notes_per_creator,
    }


def combine_authenticity(
    parts: list[dict[str, object]],
    *,
    as_of: dt.datetime,
    params: AuthenticityParams = AuthenticityParams(),
) -> dict[str, pl.DataFrame]:
    """The cross-creator half of :func:`score_authenticity` (the reduce step of a sharded run).

    In: the :func:`authenticity_parts` of one or more disjoint creator groups. Concatenates
    them, then computes what needs every creator: engagement and fake-share peer statistics,
    the duplicate-comment peer z, engagement pods, and the combined risk. Out: the same tables
    as :func:`score_authenticity`.
    """
    as_of = to_naive_utc(as_of)
    P = params

    def cat(key: str) -> pl.DataFrame:
        return pl.concat([p[key] for p in parts if p[key] is not None])  # type: ignore[misc]

    cr = cat("creators")
    cf = creator_frame(cr, cat("latest_followers"))
    fscores = cat("follower_scores")
    share = cat("fake_share")
    eng_feats = [p["engagement_features"] for p in parts if p["engagement_features"] is not None]
    eng_anoms, eng = engagement_peers(
        pl.concat(eng_feats) if eng_feats else None, cat("like_bursts"), params=P.engagement
    )
    episodes, growth = cat("growth_anomalies"), cat("growth_summary")
    com_anoms, com = comment_peers(
        concat_comment_features([p["comment_features"] for p in parts]), cf, P.comments  # type: ignore[misc]
    )
    pods, edges = detect_pods(cat("early_comments"), cr["creator_id"], cat("notes_per_creator"), P.pods)
    scores = _combine(cf, share, growth, episodes, eng, eng_anoms, com, com_anoms, pods, as_of, P)
    return {
        "authenticity_scores": scores,
        "follower_scores": fscores,
        "fake_share": share,
        "growth_anomalies": episodes,
        "engagement_anomalies": eng_anoms,
        "comment_anomalies": com_anoms,
        "pods": pods,
        "pod_edges": edges,
    }


# --------------------------------------------------------------------------------------------
# Combining the detectors
# --------------------------------------------------------------------------------------------


def _reason(weight: pl.Expr | float, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A (weight, text) pair; text null means "no reason". Reasons are sorted by weight."""
    w = weight if isinstance(weight, pl.Expr) else pl.lit(float(weight))
    return w, text


def _combine(
    cf: pl.DataFrame,
    share: pl.DataFrame,
    growth: pl.DataFrame,
    episodes: pl.DataFrame,
    eng: pl.DataFrame,
    eng_anoms: pl.DataFrame,
    com: pl.DataFrame,
    com_anoms: pl.DataFrame,
    pods: pl.DataFrame,
    as_of: dt.datetime,
    P: AuthenticityParams,
) -> pl.DataFrame:
    """Join the detectors' per-creator tables, compute component risks, reasons and evidence."""
    R = P.risk
    fsp = P.fake_share
    df = cf.join(share, on="creator_id", how="left")
    # fake share against peers (same platform / tier / category), only for usable samples
    df = df.with_columns(
        pl.when(pl.col("sample_size") >= fsp.min_sample_size).then(pl.col("fake_share")).alias("_fs_ok")
    )
    df = peer_stats(df, "_fs_ok", min_peers=P.min_peers, min_scale=0.01, prefix="fs")
    df = df.join(growth, on="creator_id", how="left").join(eng, on="creator_id", how="left").join(
        com, on="creator_id", how="left"
    )
    pod_cols = pods.select(
        "creator_id", "pod_id", "pod_size", "members", pl.col("tie_strength").alias("pod_tie_strength"),
        pl.col("early_comments_received").alias("_pod_received"), pl.col("median_delay_minutes").alias("_pod_delay"),
        pl.col("evidence_ids").alias("_pod_evidence"),
    ).unique("creator_id", keep="first")
    df = df.join(pod_cols, on="creator_id", how="left")
    df = df.join(_growth_sentences(episodes, P), on="creator_id", how="left")
    df = df.join(_burst_sentences(eng_anoms, com_anoms), on="creator_id", how="left")

    sample_ok = (pl.col("sample_size").fill_null(0) >= fsp.min_sample_size)
    growth_ok = pl.col("growth_assessed").fill_null(False)
    eng_ok = pl.col("engagement_assessed").fill_null(False)
    com_ok = pl.col("comments_assessed").fill_null(False)
    notes_n = pl.col("notes_count").fill_null(0)

    # --- component risks (null when the component could not be assessed)
    fs_risk = (
        (pl.col("fake_share") - R.fake_share_ok) / (R.fake_share_bad - R.fake_share_ok)
    ).clip(0.0, 1.0) * R.fake_share_max_risk + pl.when(pl.col("cohort_flag").fill_null(False)).then(R.cohort_bonus).otherwise(0.0)
    growth_flags = pl.col("growth_flags").fill_null(_EMPTY_LIST)
    unexpl = pl.col("unexplained_episodes").fill_null(0) > 0
    g_risk = pl.when(unexpl).then(
        (
            R.growth_base_risk
            + R.growth_risk_per_share * pl.col("unexplained_gain_share").fill_null(0.0).clip(0.0, None)
            + pl.when(growth_flags.list.contains("round_step")).then(R.growth_round_bonus).otherwise(0.0)
            + pl.when(growth_flags.list.contains("staircase")).then(R.growth_staircase_bonus).otherwise(0.0)
            + pl.when(growth_flags.list.contains("drop_after_spike")).then(R.growth_drop_bonus).otherwise(0.0)
        ).clip(0.0, R.growth_max_risk)
    ).otherwise(0.0)
    eflags = pl.col("engagement_flags").fill_null(_EMPTY_LIST)
    ez = pl.col("engagement_peer_z").fill_null(0.0)
    ep = P.engagement
    low_r = pl.when(eflags.list.contains("low_engagement")).then(
        (R.low_engagement_risk + R.engagement_risk_per_z * (-ez - ep.low_z)).clip(0.0, R.engagement_max_risk)).otherwise(0.0)
    high_r = pl.when(eflags.list.contains("high_engagement")).then(
        (R.high_engagement_risk + R.engagement_risk_per_z * (ez - ep.high_z)).clip(0.0, R.engagement_max_risk)).otherwise(0.0)
    ratio_r = pl.when(eflags.list.contains("collect_ratio") | eflags.list.contains("comment_ratio")).then(R.ratio_risk).otherwise(0.0)
    n_lb = pl.col("like_burst_note_ids").list.len().fill_null(0)
    lb_r = pl.when(n_lb > 0).then((R.like_burst_risk + R.per_extra_note * (n_lb - 1)).clip(0.0, R.burst_max_risk)).otherwise(0.0)
    n_bb = pl.col("bot_burst_notes").fill_null(0)
    bb_r = pl.when(n_bb > 0).then((R.bot_burst_risk + R.per_extra_note * (n_bb - 1)).clip(0.0, R.burst_max_risk)).otherwise(0.0)
    cflags = pl.col("comment_flags").fill_null(_EMPTY_LIST)
    dup_r = pl.when(cflags.list.contains("duplicate_comments")).then(R.duplicate_risk).otherwise(0.0)
    rec_r = pl.when(cflags.list.contains("recurring_commenters")).then(R.recurring_risk).otherwise(0.0)
    pod_r = pl.when(pl.col("pod_id").is_not_null()).then(
        R.pod_base_risk + R.pod_strength_risk * pl.col("pod_tie_strength").fill_null(0.0)).otherwise(0.0)

    def noisy_or(*rs: pl.Expr) -> pl.Expr:
        prod = pl.lit(1.0)
        for r in rs:
            prod = prod * (1.0 - r / 100.0)
        return 100.0 * (1.0 - prod)

    df = df.with_columns(
        pl.when(sample_ok).then(fs_risk.clip(0.0, 100.0)).alias("risk_fake_followers"),
        pl.when(growth_ok).then(g_risk).alias("risk_growth"),
        pl.when(notes_n > 0).then(noisy_or(low_r, high_r, ratio_r, lb_r)).alias("risk_engagement"),
        pl.when(com_ok | (n_bb > 0)).then(noisy_or(bb_r, dup_r, rec_r)).alias("risk_comments"),
        pl.when(pl.col("comments_count").fill_null(0) > 0).then(pod_r).alias("risk_pod"),
    )
    comps = ["risk_fake_followers", "risk_growth", "risk_engagement", "risk_comments", "risk_pod"]
    assessed = sample_ok | growth_ok | eng_ok | com_ok | (n_lb > 0) | (n_bb > 0) | pl.col("pod_id").is_not_null()
    df = df.with_columns(assessed.alias("assessed"))
    df = df.with_columns(
        pl.when(pl.col("assessed")).then(noisy_or(*[pl.col(c).fill_null(0.0) for c in comps]).round(1)).alias("risk")
    )

    # --- confidence: data coverage
    C = P.confidence
    conf = (
        C.sample_weight * (pl.col("sample_size").fill_null(0) / C.sample_target).clip(0.0, 1.0)
        + C.history_weight * (pl.col("history_days").fill_null(0) / C.history_target_days).clip(0.0, 1.0)
        + C.notes_weight * (notes_n / C.notes_target).clip(0.0, 1.0)
        + C.comments_weight * (pl.col("comments_count").fill_null(0) / C.comments_target).clip(0.0, 1.0)
    )
    df = df.with_columns(pl.when(pl.col("assessed")).then(conf.round(3)).otherwise(0.0).alias("confidence"))

    # --- flags
    bought_sample = sample_ok & (
        (pl.col("fake_share_low") >= R.bought_low_alone)
        | ((pl.col("fake_share_low") >= R.bought_low_with_cohort) & pl.col("cohort_flag").fill_null(False))
    )
    growth_bought = unexpl & growth_ok
    df = df.with_columns(
        (bought_sample.fill_null(False) | growth_bought.fill_null(False)).alias("bought_followers"),
        bought_sample.fill_null(False).alias("_bought_sample"),
    )
    flag_items = [
        ("bought_followers", pl.col("bought_followers")),
        ("fake_share_high", pl.col("_bought_sample")),
        ("fake_follower_cohort", pl.col("cohort_flag").fill_null(False) & sample_ok),
        ("low_engagement", eflags.list.contains("low_engagement")),
        ("high_engagement", eflags.list.contains("high_engagement")),
        ("engagement_ratio", eflags.list.contains("collect_ratio") | eflags.list.contains("comment_ratio")),
        ("like_burst", n_lb > 0),
        ("bot_comments", n_bb > 0),
        ("duplicate_comments", cflags.list.contains("duplicate_comments")),
        ("recurring_commenters", cflags.list.contains("recurring_commenters")),
        ("engagement_pod", pl.col("pod_id").is_not_null()),
    ]
    flags = pl.concat_list(
        [pl.when(cond.fill_null(False)).then(pl.lit([name])).otherwise(_EMPTY_LIST) for name, cond in flag_items]
        + [growth_flags.list.eval(pl.concat_str(pl.lit("growth_"), pl.element()))]
    )
    df = df.with_columns(
        flags.alias("flags"),
        (pl.col("risk").fill_null(0.0) >= R.flag_risk).alias("flagged"),
    )

    df = df.with_columns(_evidence(P).alias("evidence_ids"))
    df = df.join(_assemble_reasons(df, P), on="creator_id", how="left")
    df = df.with_columns(
        pl.when(pl.col("assessed")).then(pl.col("reasons"))
        .when((pl.col("sample_size").fill_null(0) == 0) & (pl.col("history_days").fill_null(0) == 0) & (notes_n == 0))
        .then(pl.lit([NOT_ASSESSED_REASON]))
        .otherwise(pl.concat_list(pl.concat_str([
            pl.lit("Not assessed: too little data ("), pl.col("sample_size").fill_null(0).cast(pl.String),
            pl.lit(" sampled followers, "), notes_n.cast(pl.String), pl.lit(" notes, "),
            pl.col("history_days").fill_null(0).cast(pl.String), pl.lit(" days of follower history).")]), pl.col("reasons")))
        .alias("reasons"),
        pl.lit(as_of).cast(pl.Datetime("us")).alias("data_as_of"),
        pl.col("fs_peer_percentile").alias("fake_share_peer_percentile"),
        pl.col("cohort_flag").fill_null(False).alias("fake_cohort"),
        pl.col("unexplained_gain_share").alias("unexplained_growth_share"),
        pl.col("explained_episodes").alias("explained_jumps"),
        n_lb.cast(pl.Int64).alias("like_burst_notes"),
        pl.col("bot_burst_notes").fill_null(0).alias("bot_burst_notes"),
        growth_flags.alias("growth_flags"),
        cflags.alias("comment_flags"),
        pl.col("sample_size").fill_null(0).alias("sample_size"),
        pl.col("fake_count").fill_null(0).alias("fake_count"),
        pl.col("notes_count").fill_null(0).alias("notes_count"),
        pl.col("comments_count").fill_null(0).alias("comments_count"),
        pl.col("history_days").fill_null(0).alias("history_days"),
    )
    # Creators not assessed (no data at all) say exactly that, with nothing else.
    return df.select(list(AUTHENTICITY_SCHEMA)).cast(AUTHENTICITY_SCHEMA)


def _growth_sentences(episodes: pl.DataFrame, P: AuthenticityParams) -> pl.DataFrame:
    """Per creator: sentences for the largest unexplained growth episodes and the explained ones."""
    schema = {"creator_id": pl.String(), "_growth_text": pl.List(pl.String()), "_explained_text": pl.List(pl.String())}
    if episodes.height == 0:
        return pl.DataFrame(schema=schema)
    def d(c: str) -> pl.Expr:
        return pl.col(c).dt.to_string("%Y-%m-%d")

    gain = fmt_int(pl.col("gain"))
    share_txt = pl.concat_str([pl.lit(" ("), fmt_pct(pl.col("gain_share"), 0), pl.lit("% of the audience)")])
    eng_txt = pl.when(pl.col("engagement_change").is_not_null() & (pl.col("engagement_change") < 0.25)).then(
        pl.concat_str([pl.lit("; note engagement did not rise with it ("),
                       pl.when(pl.col("engagement_change") >= 0).then(pl.lit("+")).otherwise(pl.lit("")),
                       fmt_pct(pl.col("engagement_change"), 0), pl.lit("% vs the month before)")])
    ).otherwise(pl.lit(""))
    drop_txt = pl.when(pl.col("drop_after")).then(
        pl.concat_str([pl.lit("; followers fell back soon after ("), d("drop_date"), pl.lit(")")])
    ).otherwise(pl.lit(""))
    text = (
        pl.when(pl.col("kind") == "round_step").then(pl.concat_str([
            pl.lit("Followers jumped by exactly +"), fmt_int(pl.col("round_change")), pl.lit(" in one day on "), d("max_day"),
            pl.lit(", a round number typical of bought packages; +"), gain, pl.lit(" above trend"), share_txt,
            pl.lit(" with no viral note to explain it"), eng_txt, drop_txt, pl.lit(".")]))
        .when(pl.col("kind") == "drip").then(pl.concat_str([
            pl.lit("Followers rose +"), gain, pl.lit(" above their usual trend"), share_txt, pl.lit(" over "),
            pl.col("days").cast(pl.String), pl.lit(" days ("), d("start"), pl.lit(" to "), d("end"),
            pl.lit("), a slow drip no viral note explains"), eng_txt, drop_txt, pl.lit(".")]))
        .otherwise(pl.concat_str([
            pl.lit("Followers jumped +"), gain, share_txt, pl.lit(" on "), d("start"),
            pl.when(pl.col("end") != pl.col("start")).then(pl.concat_str([pl.lit(" to "), d("end")])).otherwise(pl.lit("")),
            pl.lit(" with no viral note to explain it"), eng_txt, drop_txt, pl.lit(".")]))
    )
    explained = pl.concat_str([
        pl.lit("Follower jump of +"), gain, pl.lit(" on "), d("start"), pl.lit(" is explained by viral note "),
        pl.col("explained_by_note_id"), pl.lit(" ("), fmt_int(pl.col("explaining_engagement")),
        pl.lit(" engagements) and the new level held: not counted as risk."),
    ])
    e = episodes.with_columns(text.alias("_t"), explained.alias("_x"))
    un = e.filter(~pl.col("explained")).sort(["gain", "start"], descending=[True, False]).group_by("creator_id").agg(
        pl.col("_t").head(P.max_growth_reasons).alias("_growth_text"),
        pl.len().alias("_n_un"),
    ).with_columns(
        pl.when(pl.col("_n_un") > P.max_growth_reasons).then(
            pl.col("_growth_text").list.concat(pl.concat_list(pl.concat_str([
                pl.lit("And "), (pl.col("_n_un") - P.max_growth_reasons).cast(pl.String), pl.lit(" more unexplained growth episode(s).")])))
        ).otherwise(pl.col("_growth_text")).alias("_growth_text")
    ).drop("_n_un")
    ex = e.filter(pl.col("explained")).group_by("creator_id").agg(pl.col("_x").alias("_explained_text"))
    return un.join(ex, on="creator_id", how="full", coalesce=True).select(list(schema)).cast(schema)


def _burst_sentences(eng_anoms: pl.DataFrame, com_anoms: pl.DataFrame) -> pl.DataFrame:
    """Per creator: one sentence on like bursts and one on bot-comment bursts."""
    lb = eng_anoms.filter(pl.col("kind") == "like_burst").sort(
        ["value", "published_at", "note_id"], descending=[True, False, False]
    ).group_by("creator_id").agg(
        pl.len().alias("_n"), pl.col("value").first().alias("_likes"), pl.col("expected").first().alias("_exp"),
        pl.col("published_at").first().dt.to_string("%Y-%m-%d").alias("_day"),
    ).select("creator_id", pl.concat_str([
        pl.lit("Likes spiked on "), pl.col("_n").cast(pl.String), pl.lit(" note(s) without matching collects or comments (largest: "),
        fmt_int(pl.col("_likes")), pl.lit(" likes where its collects and comments suggest about "),
        fmt_int(pl.col("_exp").clip(0, None)), pl.lit(", on "), pl.col("_day"), pl.lit("): bought likes?")]).alias("_like_text"))
    bb = com_anoms.filter(pl.col("kind") == "bot_burst").sort(
        ["n_comments", "start", "note_id"], descending=[True, False, False]
    ).group_by("creator_id").agg(
        pl.len().alias("_n"), pl.col("n_comments").sum().alias("_c"), pl.col("share").first().alias("_s"),
        pl.col("start").first().dt.to_string("%Y-%m-%d").alias("_day"),
    ).select("creator_id", pl.concat_str([
        pl.lit("Bursts of bot-like comments on "), pl.col("_n").cast(pl.String), pl.lit(" note(s): "), fmt_int(pl.col("_c")),
        pl.lit(" templated comments (好好看, 求链接, emoji only) from default-nickname or days-old accounts within hours (first on "),
        pl.col("_day"), pl.lit("; up to "), fmt_pct(pl.col("_s"), 0), pl.lit("% of a note's comments).")]).alias("_bot_text"))
    return lb.join(bb, on="creator_id", how="full", coalesce=True)


def _reasons(P: AuthenticityParams) -> list[tuple[pl.Expr, pl.Expr]]:
    """Reason sentences, strongest first (weight = the component risk they explain)."""
    fsp = P.fake_share
    ep = P.engagement
    n_s = pl.col("sample_size").fill_null(0)
    share_sentence = pl.concat_str([
        fmt_pct(pl.col("fake_share"), 0), pl.lit("% of "), fmt_int(n_s), pl.lit(" sampled followers look fake ("),
        fmt_pct(pl.col("fake_share_low"), 0), pl.lit("–"), fmt_pct(pl.col("fake_share_high"), 0),
        pl.lit("%, 95% interval)"),
        pl.when(pl.col("fs_peer_percentile").is_not_null()).then(pl.concat_str([
            pl.lit("; peer median "), fmt_pct(pl.col("fs_peer_median"), 0), pl.lit("%, "), ordinal(pl.col("fs_peer_percentile")),
            pl.lit(" percentile of "), pl.col("fs_peer_n").cast(pl.String), pl.lit(" peers ("), pl.col("fs_peer_group"), pl.lit(")")])
        ).otherwise(pl.lit("")),
        pl.lit("."),
    ])
    small_sentence = pl.concat_str([
        pl.lit("Only "), n_s.cast(pl.String), pl.lit(" followers sampled (fewer than "), pl.lit(str(fsp.min_sample_size)),
        pl.lit("): too few to judge fake followers ("), fmt_pct(pl.col("fake_share"), 0), pl.lit("% look fake, "),
        fmt_pct(pl.col("fake_share_low"), 0), pl.lit("–"), fmt_pct(pl.col("fake_share_high"), 0), pl.lit("%)."),
    ])
    cohort_sentence = pl.concat_str([
        pl.col("cohort_count").cast(pl.String), pl.lit(" of the "), pl.col("fake_count").cast(pl.String),
        pl.lit(" fake-looking followers were registered within "), pl.lit(str(fsp.cohort_window_days)), pl.lit(" days ("),
        pl.col("cohort_start").dt.to_string("%Y-%m-%d"), pl.lit(" to "), pl.col("cohort_end").dt.to_string("%Y-%m-%d"),
        pl.lit("): accounts made in one batch, the mark of bought followers."),
    ])
    er_sentence = pl.concat_str([
        pl.when(pl.col("engagement_flags").fill_null(_EMPTY_LIST).list.contains("low_engagement")).then(pl.lit("Engagement far below peers: "))
        .when(pl.col("engagement_flags").fill_null(_EMPTY_LIST).list.contains("high_engagement")).then(pl.lit("Engagement far above peers (bought engagement?): "))
        .otherwise(pl.lit("")),
        pl.when(pl.col("engagement_flags").fill_null(_EMPTY_LIST).list.contains("low_engagement")
                | pl.col("engagement_flags").fill_null(_EMPTY_LIST).list.contains("high_engagement"))
        .then(pl.lit("median")).otherwise(pl.lit("Median")),
        pl.lit(" engagement rate "), fmt_num(pl.col("engagement_rate") * 100, 1), pl.lit("% per note ("),
        pl.col("notes_count").cast(pl.String), pl.lit(" notes), "), ordinal(pl.col("engagement_peer_percentile")),
        pl.lit(" percentile of "), pl.col("engagement_peer_n").cast(pl.String), pl.lit(" peers ("),
        pl.col("engagement_peer_group"), pl.lit("; peer median "), fmt_num(pl.col("engagement_peer_median") * 100, 1),
        pl.lit("%, size-adjusted z "), fmt_num(pl.col("engagement_peer_z"), 1), pl.lit(")."),
    ])
    eflags = pl.col("engagement_flags").fill_null(_EMPTY_LIST)
    cr_sentence = pl.concat_str([
        pl.lit("Collects per like "), fmt_num(pl.col("collect_ratio"), 2), pl.lit(" vs peer median "),
        fmt_num(pl.col("collect_ratio_peer_median"), 2), pl.lit(" (robust z "), fmt_num(pl.col("collect_ratio_peer_z"), 1),
        pl.lit("): a like/collect mix real audiences rarely produce."),
    ])
    cm_sentence = pl.concat_str([
        pl.lit("Comments per like "), fmt_num(pl.col("comment_ratio"), 3), pl.lit(" vs peer median "),
        fmt_num(pl.col("comment_ratio_peer_median"), 3), pl.lit(" (robust z "), fmt_num(pl.col("comment_ratio_peer_z"), 1),
        pl.lit("): a like/comment mix real audiences rarely produce."),
    ])
    dup_sentence = pl.concat_str([
        fmt_pct(pl.col("duplicate_share"), 0), pl.lit("% of comments repeat the same texts across notes (robust z "),
        fmt_num(pl.col("duplicate_peer_z"), 1), pl.lit(" vs peers): copy-pasted comments."),
    ])
    rec_sentence = pl.concat_str([
        pl.lit("The same accounts comment first, in the same order, on many notes ("),
        pl.col("recurring_pairs").cast(pl.String), pl.lit(" recurring pair(s) of accounts)."),
    ])
    pod_sentence = pl.concat_str([
        pl.lit("Member of engagement pod "), pl.col("pod_id"), pl.lit(" with "), (pl.col("pod_size") - 1).cast(pl.String),
        pl.lit(" other creators who comment on each other's notes within minutes: "),
        fmt_int(pl.col("_pod_received")), pl.lit(" early comments from members (median "),
        fmt_num(pl.col("_pod_delay"), 0), pl.lit(" min after publishing; tie strength "), fmt_num(pl.col("pod_tie_strength"), 2),
        pl.lit("). Members: "), pl.col("members").list.join(", "), pl.lit("."),
    ])
    no_purchase_sentence = pl.concat_str([
        pl.lit("No sign they were bought (no registration batch, no unexplained follower jump), but "),
        fmt_pct(pl.col("fake_share"), 0), pl.lit("% fake accounts still inflate the reach the price is based on."),
    ])
    sample_ok = pl.col("sample_size").fill_null(0) >= fsp.min_sample_size
    w_fs = pl.col("risk_fake_followers").fill_null(0.0)
    w_en = pl.col("risk_engagement").fill_null(0.0)
    items = [
        _reason(pl.when(pl.col("bought_followers") | (w_fs >= 30)).then(w_fs + 1).otherwise(w_fs), pl.when(sample_ok).then(share_sentence)),
        _reason(w_fs, pl.when(sample_ok & pl.col("cohort_flag").fill_null(False)).then(cohort_sentence)),
        _reason(w_fs, pl.when(sample_ok & (w_fs >= P.risk.flag_risk) & ~pl.col("bought_followers")).then(no_purchase_sentence)),
        _reason(5.0, pl.when((n_s > 0) & ~sample_ok).then(small_sentence)),
        _reason(pl.when(eflags.list.contains("low_engagement") | eflags.list.contains("high_engagement")).then(w_en).otherwise(1.0),
                pl.when(pl.col("engagement_rate").is_not_null() & pl.col("engagement_peer_percentile").is_not_null()).then(er_sentence)),
        _reason(P.risk.ratio_risk, pl.when(eflags.list.contains("collect_ratio")).then(cr_sentence)),
        _reason(P.risk.ratio_risk, pl.when(eflags.list.contains("comment_ratio")).then(cm_sentence)),
        _reason(P.risk.like_burst_risk, pl.col("_like_text")),
        _reason(P.risk.bot_burst_risk, pl.col("_bot_text")),
        _reason(P.risk.duplicate_risk, pl.when(pl.col("comment_flags").fill_null(_EMPTY_LIST).list.contains("duplicate_comments")).then(dup_sentence)),
        _reason(P.risk.recurring_risk, pl.when(pl.col("comment_flags").fill_null(_EMPTY_LIST).list.contains("recurring_commenters")).then(rec_sentence)),
        _reason(pl.col("risk_pod").fill_null(0.0), pl.when(pl.col("pod_id").is_not_null()).then(pod_sentence)),
        # what could not be checked
        _reason(0.5, pl.when(pl.col("sample_size").fill_null(0) == 0).then(pl.lit("No follower sample: fake followers not checked."))),
        _reason(0.5, pl.when(~pl.col("growth_assessed").fill_null(False)).then(pl.concat_str([
            pl.lit("Follower history "),
            pl.when(pl.col("history_days").fill_null(0) == 0).then(pl.lit("missing")).otherwise(
                pl.concat_str([pl.lit("too short ("), pl.col("history_days").cast(pl.String), pl.lit(" days)")])),
            pl.lit(": follower growth not checked.")]))),
        _reason(0.5, pl.when(~pl.col("engagement_assessed").fill_null(False)).then(pl.concat_str([
            pl.lit("Too few notes ("), pl.col("notes_count").fill_null(0).cast(pl.String),
            pl.lit(f", need {ep.min_notes}): engagement rate not compared with peers.")]))),
        _reason(0.5, pl.when((pl.col("notes_count").fill_null(0) > 0) & pl.col("engagement_rate").is_null()
                             & pl.col("follower_count").is_null()).then(
            pl.lit("Follower count unknown: engagement rate not computed."))),
        _reason(0.5, pl.when(~pl.col("comments_assessed").fill_null(False)).then(pl.concat_str([
            pl.lit("Too few comments ("), pl.col("comments_count").fill_null(0).cast(pl.String),
            pl.lit(f", need {P.comments.min_comments}): comment checks limited.")]))),
    ]
    return items


def _assemble_reasons(df: pl.DataFrame, P: AuthenticityParams) -> pl.DataFrame:
    """Reasons per creator, strongest first: one long (creator, weight, text) table, sorted.

    Growth sentences take the growth risk as weight; explained jumps are informative (low
    weight). Out: creator_id, reasons (List[str], possibly empty).
    """
    items = _reasons(P)
    long = [
        df.select("creator_id", w.cast(pl.Float64).alias("w"), t.cast(pl.String).alias("t"), pl.lit(i).alias("i"))
        for i, (w, t) in enumerate(items)
    ]
    k = len(items)
    long.append(
        df.select("creator_id", (pl.col("risk_growth").fill_null(0.0) + 0.5).alias("w"), pl.col("_growth_text").alias("t"))
        .explode("t").with_columns(pl.lit(k).alias("i"))
    )
    long.append(
        df.select("creator_id", pl.lit(2.0).alias("w"), pl.col("_explained_text").alias("t"))
        .explode("t").with_columns(pl.lit(k + 1).alias("i"))
    )
    allr = pl.concat([x.select("creator_id", "w", "t", pl.col("i").cast(pl.Int64)) for x in long])
    out = (
        allr.filter(pl.col("t").is_not_null())
        .with_row_index("_pos")
        .sort(["creator_id", "w", "i", "_pos"], descending=[False, True, False, False])
        .group_by("creator_id", maintain_order=True)
        .agg(pl.col("t").alias("reasons"))
    )
    return df.select("creator_id").join(out, on="creator_id", how="left").with_columns(
        pl.col("reasons").fill_null(_EMPTY_LIST)
    )


def _evidence(P: AuthenticityParams) -> pl.Expr:
    """Evidence ids behind the reasons, strongest findings first, de-duplicated and capped."""
    sample_ok = pl.col("sample_size").fill_null(0) >= P.fake_share.min_sample_size
    fake_ids = pl.when(sample_ok & ((pl.col("risk_fake_followers").fill_null(0) > 0) | pl.col("bought_followers"))).then(
        pl.col("fake_evidence_ids").fill_null(_EMPTY_LIST)).otherwise(_EMPTY_LIST)
    cohort = pl.when(sample_ok & pl.col("cohort_flag").fill_null(False)).then(pl.concat_list(
        pl.col("cohort_start").dt.to_string("%Y-%m-%d"), pl.col("cohort_end").dt.to_string("%Y-%m-%d"))).otherwise(_EMPTY_LIST)
    parts = [
        pl.col("growth_evidence_ids").fill_null(_EMPTY_LIST),
        fake_ids,
        cohort,
        pl.col("like_burst_note_ids").fill_null(_EMPTY_LIST),
        pl.col("comment_evidence_ids").fill_null(_EMPTY_LIST),
        pl.col("_pod_evidence").fill_null(_EMPTY_LIST),
    ]
    return pl.concat_list(parts).list.drop_nulls().list.unique(maintain_order=True).list.head(P.evidence_max)
