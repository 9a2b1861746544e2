"""The vetting scorecard: signals combined into scores, a grade, a decision and its reasons.

Input, per brief:
* ``creators`` (contract table) and ``notes`` (for expected engagement and cost per engagement);
* one table per signal (``SIGNALS``: authenticity, controversy, disclosure, claims, alignment),
  each starting with :data:`kol_vetting.schema.SIGNAL_SCORE_SCHEMA` columns; a missing table or
  a creator without a row means "not assessed", never an invented value;
* the :class:`~kol_vetting.brief.Brief` whose scorecard config holds every weight and threshold.

Output: one row per candidate creator in :data:`SCORECARD_SCHEMA`, sorted by decision then risk.
All work is Polars expressions over whole columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kol_vetting.brief import SIGNALS, Brief, ScorecardConfig
from kol_vetting.schema import SIGNAL_SCORE_SCHEMA, TIERS, tier_of

DECISIONS = ("approve", "approve_with_conditions", "manual_review", "reject")
DECISION_LABELS = {
    "approve": "Approve",
    "approve_with_conditions": "Approve with conditions",
    "manual_review": "Manual review",
    "reject": "Reject",
}

# What a high sub-score requires before a deal can go ahead (approve with conditions).
CONDITIONS = {
    "authenticity": "Pay on delivered engagement (CPE), not a flat fee, and re-check the follower sample before publishing",
    "controversy": "Add a morality clause and re-vet for new controversy before each note goes live",
    "disclosure": "Must use the platform's brand-partner label and put #广告 in the title or first line",
    "claims": "Brand reviews every draft for absolute (最/第一) and medical/efficacy claims before publishing",
    "alignment": "No competitor work during the contract; brief the creator on the brand's category and values",
}
# What a low sub-score says in a person's words (strengths).
STRENGTHS = {
    "authenticity": "Audience and engagement look genuine",
    "controversy": "No controversy found in the creator's history",
    "disclosure": "Discloses sponsored notes properly",
    "claims": "No Advertising-Law claim risks in past notes",
    "alignment": "Content fits the brand's category and values",
}
STRENGTH_BELOW = 15.0  # a sub-score this low is worth saying out loud

SCORECARD_SCHEMA = pl.Schema(
    {
        "brief": pl.String(),
        "creator_id": pl.String(),
        "handle": pl.String(),
        "display_name": pl.String(),
        "platform": pl.String(),
        "category": pl.String(),
        "tier": pl.String(),
        "follower_count": pl.Int64(),
        "quoted_price": pl.Float64(),
        "currency": pl.String(),
        "expected_engagement": pl.Float64(),
        "cpe": pl.Float64(),
        "engagement_rate": pl.Float64(),
        **{f"{s}_{k}": pl.Float64() for s in SIGNALS for k in ("risk", "percentile", "confidence")},
        "overall_risk": pl.Float64(),
        "confidence": pl.Float64(),
        "grade": pl.String(),
        "decision": pl.String(),
        "conditions": pl.List(pl.String()),
        "reasons": pl.List(pl.String()),
        "strengths": pl.List(pl.String()),
        "evidence_ids": pl.List(pl.String()),
        "not_assessed": pl.List(pl.String()),
        "data_as_of": pl.Datetime("us"),
    }
)


def candidates(creators: pl.DataFrame, brief: Brief) -> pl.DataFrame:
    """Creators the brief asks to vet: category and follower-range filters from the brief."""
    # An unknown follower count stays a candidate: the scorecard then says what it could not assess.
    known = pl.col("follower_count").is_not_null()
    out = creators.filter(~known | (pl.col("follower_count") >= brief.min_followers))
    if brief.max_followers is not None:
        out = out.filter(~known | (pl.col("follower_count") <= brief.max_followers))
    if brief.candidate_categories:
        out = out.filter(pl.col("category").is_in(brief.candidate_categories))
    return out


Tier = Literal["nano", "micro", "mid", "macro", "mega"]
assert {t for t, _ in TIERS} == set(Tier.__args__)  # the Literal follows schema.TIERS


class CandidateRequest(BaseModel):
    """Which creators one vetting run scores, and on which date (a marketer's request).

    Empty (the default) means: the brief's own candidates on the warehouse's latest data.

    * ``creator_ids``: score exactly these creators. A named creator is scored even when the
      brief's category or follower filters would leave it out (the marketer asked for it).
    * ``tiers``, ``categories``, ``min_followers``, ``max_followers``: narrow the candidates
      further (on top of the brief's filters, or of ``creator_ids``). A creator whose follower
      count is unknown stays in for the follower bounds (as with the brief's filters: the
      scorecard then says what it could not assess) but matches no tier.
    * ``as_of``: the vetting date. Windows (recent notes, competitor look-back) count back from
      the end of that day (UTC), and notes and comments published after it are left out of the
      brief-scoped signals and the expected engagement. Without it, the data's latest capture.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    creator_ids: list[str] = Field(default_factory=list)
    tiers: list[Tier] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    min_followers: int | None = Field(None, ge=0)
    max_followers: int | None = Field(None, ge=1)
    as_of: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CandidateRequest:
        if self.min_followers is not None and self.max_followers is not None and self.min_followers > self.max_followers:
            raise ValueError("min_followers is larger than max_followers")
        return self

    @property
    def is_default(self) -> bool:
        """True when nothing was asked for: the brief's candidates on the latest data."""
        return self == CandidateRequest()

    @property
    def as_of_time(self) -> dt.datetime | None:
        """The end of the ``as_of`` day as a naive UTC timestamp (None when not set)."""
        return vetting_time(self.as_of) if self.as_of is not None else None

    def describe(self) -> str:
        """The request in one line of plain words (for run metadata and logs)."""
        parts = []
        if self.creator_ids:
            parts.append(f"{len(self.creator_ids)} named creator(s)")
        if self.tiers:
            parts.append("tiers " + ", ".join(self.tiers))
        if self.categories:
            parts.append("categories " + ", ".join(self.categories))
        if self.min_followers is not None:
            parts.append(f"at least {self.min_followers:,} followers")
        if self.max_followers is not None:
            parts.append(f"at most {self.max_followers:,} followers")
        if self.as_of is not None:
            parts.append(f"as of {self.as_of.isoformat()}")
        return "; ".join(parts) or "the brief's candidates on the latest data"


VETTING_REQUESTS_SCHEMA = pl.Schema(
    {
        "brief": pl.String(),
        "creator_ids": pl.List(pl.String()),
        "tiers": pl.List(pl.String()),
        "categories": pl.List(pl.String()),
        "min_followers": pl.Int64(),
        "max_followers": pl.Int64(),
        "as_of": pl.Date(),
        "candidates": pl.Int64(),
        "requested_at": pl.Datetime("us"),
    }
)


def vetting_time(day: dt.date) -> dt.datetime:
    """The last microsecond of ``day`` as a naive UTC timestamp: data up to and including it counts."""
    return dt.datetime.combine(day, dt.time.max)


def unknown_creator_ids(creators: pl.DataFrame, request: CandidateRequest) -> list[str]:
    """The requested creator ids that are not in ``creators`` (in request order)."""
    known = set(creators["creator_id"].to_list())
    return [c for c in dict.fromkeys(request.creator_ids) if c not in known]


def select_candidates(creators: pl.DataFrame, brief: Brief, request: CandidateRequest | None = None) -> pl.DataFrame:
    """The creators one vetting run scores: the brief's candidates, or the named ones, narrowed
    by the request's filters (see :class:`CandidateRequest`). No request: :func:`candidates`."""
    if request is None or request.is_default:
        return candidates(creators, brief)
    if request.creator_ids:
        out = creators.filter(pl.col("creator_id").is_in(list(dict.fromkeys(request.creator_ids))))
    else:
        out = candidates(creators, brief)
    known = pl.col("follower_count").is_not_null()
    if request.min_followers is not None:
        out = out.filter(~known | (pl.col("follower_count") >= request.min_followers))
    if request.max_followers is not None:
        out = out.filter(~known | (pl.col("follower_count") <= request.max_followers))
    if request.categories:
        out = out.filter(pl.col("category").is_in(request.categories))
    if request.tiers:
        out = out.filter(known & tier_of(pl.col("follower_count")).is_in(list(request.tiers)))
    return out


def up_to(frame: pl.DataFrame | None, column: str, as_of: dt.datetime | None) -> pl.DataFrame | None:
    """Rows of ``frame`` whose ``column`` is at or before ``as_of`` (null times are kept).

    ``as_of`` None (no vetting date asked for) returns ``frame`` unchanged.
    """
    if frame is None or as_of is None or column not in frame.columns:
        return frame
    return frame.filter(pl.col(column).is_null() | (pl.col(column) <= as_of))


def request_record(brief_name: str, request: CandidateRequest, n_candidates: int, requested_at: dt.datetime) -> pl.DataFrame:
    """One ``vetting_requests`` row: what a run asked for, kept beside its scorecard partition."""
    return pl.DataFrame(
        {
            "brief": [brief_name],
            "creator_ids": [list(request.creator_ids)],
            "tiers": [list(request.tiers)],
            "categories": [list(request.categories)],
            "min_followers": [request.min_followers],
            "max_followers": [request.max_followers],
            "as_of": [request.as_of],
            "candidates": [n_candidates],
            "requested_at": [requested_at],
        },
        schema=VETTING_REQUESTS_SCHEMA,
    )


def request_from_record(row: Mapping[str, object]) -> CandidateRequest:
    """The :class:`CandidateRequest` a ``vetting_requests`` row recorded."""
    fields = ("creator_ids", "tiers", "categories", "min_followers", "max_followers", "as_of")
    return CandidateRequest.model_validate({k: row[k] for k in fields if row.get(k) is not None})


def expected_engagement(notes: pl.DataFrame, *, as_of: dt.datetime, days: int) -> pl.DataFrame:
    """Per creator: median engagement (likes + collects + comments) of recent notes.

    Median, not mean, so one viral or bought-likes note does not set the price. Falls back to all
    notes when the creator posted nothing in the window. Columns: creator_id, expected_engagement.
    """
    eng = notes.select(
        "creator_id",
        "published_at",
        (pl.col("likes") + pl.col("collects").fill_null(0) + pl.col("comments").fill_null(0)).alias("engagement"),
    )
    recent = eng.filter(pl.col("published_at") >= as_of - dt.timedelta(days=days))
    med_recent = recent.group_by("creator_id").agg(pl.col("engagement").median().alias("_recent"))
    med_all = eng.group_by("creator_id").agg(pl.col("engagement").median().alias("_all"))
    return med_all.join(med_recent, on="creator_id", how="left").select(
        "creator_id", pl.coalesce("_recent", "_all").cast(pl.Float64).alias("expected_engagement")
    )


def _signal_columns(name: str, table: pl.DataFrame | None, ids: pl.DataFrame) -> pl.DataFrame:
    """One signal's risk/confidence/reasons/evidence per candidate, null where not assessed."""
    if table is None or table.is_empty():
        return ids.with_columns(
            pl.lit(None, pl.Float64).alias(f"{name}_risk"),
            pl.lit(None, pl.Float64).alias(f"{name}_confidence"),
            pl.lit(None, pl.List(pl.String)).alias(f"_{name}_reasons"),
            pl.lit(None, pl.List(pl.String)).alias(f"_{name}_evidence"),
            pl.lit(None, pl.Datetime("us")).alias(f"_{name}_as_of"),
        )
    t = table.select(list(SIGNAL_SCORE_SCHEMA.names())).cast(dict(SIGNAL_SCORE_SCHEMA))
    assessed = pl.col("assessed").fill_null(False) & pl.col("risk").is_not_null()
    t = t.select(
        "creator_id",
        pl.when(assessed).then(pl.col("risk").clip(0, 100)).alias(f"{name}_risk"),
        pl.when(assessed).then(pl.col("confidence").clip(0, 1)).alias(f"{name}_confidence"),
        pl.col("reasons").alias(f"_{name}_reasons"),
        pl.col("evidence_ids").alias(f"_{name}_evidence"),
        pl.col("data_as_of").alias(f"_{name}_as_of"),
    ).unique("creator_id", keep="first", maintain_order=True)
    return ids.join(t, on="creator_id", how="left")


def _percentile(col: str) -> pl.Expr:
    """Peer percentile (0-100) of a risk within the same platform and tier; null stays null."""
    peers = ["platform", "tier"]
    rank = pl.col(col).rank("average").over(peers)
    n = pl.col(col).count().over(peers)
    return pl.when(pl.col(col).is_not_null()).then(((rank - 0.5) / n * 100).round(1))


def build_scorecard(
    brief: Brief,
    creators: pl.DataFrame,
    notes: pl.DataFrame,
    signals: Mapping[str, pl.DataFrame | None],
    *,
    as_of: dt.datetime,
    request: CandidateRequest | None = None,
) -> pl.DataFrame:
    """Score every candidate creator of ``brief``.

    Parameters
    ----------
    brief: the brand brief (weights, thresholds and grade bands come from its scorecard config).
    creators, notes: contract tables.
    signals: signal name -> per-creator score table (SIGNAL_SCORE_SCHEMA columns) or None.
    as_of: the vetting date (recent-notes window, and data-as-of when signals carry none).
    request: which creators to score (:func:`select_candidates`); None: the brief's candidates.

    Returns
    -------
    One row per candidate in :data:`SCORECARD_SCHEMA`, sorted by decision severity then risk.
    """
    cfg = brief.scorecard_config()
    weights = cfg.weights.normalised()
    cand = select_candidates(creators, brief, request).with_columns(
        pl.when(pl.col("follower_count").is_not_null()).then(tier_of(pl.col("follower_count"))).alias("tier")
    )
    ids = cand.select("creator_id")
    frame = cand
    for name in SIGNALS:
        frame = frame.join(_signal_columns(name, signals.get(name), ids), on="creator_id", how="left")
    frame = frame.join(expected_engagement(notes, as_of=as_of, days=cfg.recent_notes_days), on="creator_id", how="left")

    risk_cols = [f"{s}_risk" for s in SIGNALS]
    rejecting = [f"{s}_risk" for s in cfg.single_signal_reject] or risk_cols
    assessed_weight = pl.sum_horizontal([pl.when(pl.col(f"{s}_risk").is_not_null()).then(weights[s]).otherwise(0.0) for s in SIGNALS])
    weighted_risk = pl.sum_horizontal([pl.col(f"{s}_risk").fill_null(0) * weights[s] for s in SIGNALS])
    weighted_conf = pl.sum_horizontal([pl.col(f"{s}_confidence").fill_null(0) * weights[s] for s in SIGNALS])
    frame = frame.with_columns(
        pl.when(assessed_weight > 0).then((weighted_risk / assessed_weight).round(1)).alias("overall_risk"),
        # Confidence counts what was not assessed as zero: missing signals lower it.
        weighted_conf.round(3).alias("confidence"),
        # Disagreement is judged among the signals that can reject on their own; a claims hit alone
        # is handled by a condition (draft review), not by a manual review.
        (pl.max_horizontal(rejecting) - pl.min_horizontal(rejecting)).alias("_spread"),
        pl.max_horizontal(risk_cols).alias("_max_sub"),
        pl.max_horizontal([pl.col(f"{s}_risk") for s in cfg.single_signal_reject] or [pl.lit(None, pl.Float64)]).alias(
            "_max_rejecting_sub"
        ),
        pl.concat_list([pl.when(pl.col(f"{s}_risk").is_null()).then(pl.lit(s)) for s in SIGNALS])
        .list.drop_nulls()
        .alias("not_assessed"),
    )
    frame = frame.with_columns([_percentile(f"{s}_risk").alias(f"{s}_percentile") for s in SIGNALS])
    frame = frame.with_columns(_grade(cfg).alias("grade"), _decision(cfg).alias("decision"))
    frame = frame.with_columns(
        _conditions(cfg).alias("conditions"),
        _reasons(weights).alias("reasons"),
        _strengths().alias("strengths"),
        pl.concat_list([pl.col(f"_{s}_evidence").fill_null([]) for s in SIGNALS])
        .list.unique(maintain_order=True)
        .list.head(30)
        .alias("evidence_ids"),
        pl.max_horizontal([pl.col(f"_{s}_as_of") for s in SIGNALS] + [pl.col("captured_at")]).alias("data_as_of"),
        (pl.col("quoted_price") / pl.col("expected_engagement").replace(0, None)).round(3).alias("cpe"),
        (pl.col("expected_engagement") / pl.col("follower_count").replace(0, None)).round(5).alias("engagement_rate"),
        pl.lit(brief.name).alias("brief"),
        pl.coalesce(pl.col("currency"), pl.lit(brief.currency)).alias("currency"),
    )
    order = {d: i for i, d in enumerate(reversed(DECISIONS))}  # reject first: what needs attention
    out = (
        frame.with_columns(pl.col("decision").replace_strict(order, return_dtype=pl.Int32).alias("_order"))
        .sort(["_order", "overall_risk", "creator_id"], descending=[False, True, False], nulls_last=True)
        .select(list(SCORECARD_SCHEMA.names()))
    )
    return out.cast(dict(SCORECARD_SCHEMA))


def _grade(cfg: ScorecardConfig) -> pl.Expr:
    bands = sorted(cfg.grade_bands.items(), key=lambda kv: kv[1])
    expr = pl.lit(bands[-1][0])
    for grade, upper in reversed(bands):
        expr = pl.when(pl.col("overall_risk") <= upper).then(pl.lit(grade)).otherwise(expr)
    return pl.when(pl.col("overall_risk").is_null()).then(pl.lit("?")).otherwise(expr)


def _decision(cfg: ScorecardConfig) -> pl.Expr:
    th = cfg.thresholds
    risk = pl.col("overall_risk")
    reject = (risk >= th.reject_at) | (pl.col("_max_rejecting_sub") >= th.reject_signal_at)
    review = (
        risk.is_null()
        | (pl.col("confidence") < th.min_confidence)
        | (pl.col("_spread") >= th.disagreement)
        | pl.col("authenticity_risk").is_null()
    )
    conditions = (risk >= th.approve_below) | (pl.col("_max_sub") >= th.condition_signal_at)
    return (
        pl.when(reject & risk.is_not_null()).then(pl.lit("reject"))
        .when(review).then(pl.lit("manual_review"))
        .when(conditions).then(pl.lit("approve_with_conditions"))
        .otherwise(pl.lit("approve"))
    )


def _conditions(cfg: ScorecardConfig) -> pl.Expr:
    at = cfg.thresholds.condition_signal_at
    items = [pl.when(pl.col(f"{s}_risk") >= at).then(pl.lit(CONDITIONS[s])) for s in SIGNALS]
    listed = pl.concat_list(items).list.drop_nulls()
    return pl.when(pl.col("decision") == "approve_with_conditions").then(listed).otherwise(pl.lit([], pl.List(pl.String)))


def _reasons(weights: Mapping[str, float]) -> pl.Expr:
    """Signals' own reasons, the most risk-contributing signal first (top 5), plus gaps in data."""
    # Order signals per row by weighted contribution: build (contribution, reasons) structs and sort.
    structs = [
        pl.struct(
            (pl.col(f"{s}_risk").fill_null(-1) * weights[s]).alias("w"),
            pl.when(pl.col(f"{s}_risk") >= STRENGTH_BELOW).then(pl.col(f"_{s}_reasons")).otherwise(pl.lit([], pl.List(pl.String))).fill_null([]).alias("r"),
        )
        for s in SIGNALS
    ]
    ranked = (
        pl.concat_list(structs)
        .list.eval(pl.element().sort_by(pl.element().struct.field("w"), descending=True).struct.field("r"))
        .list.eval(pl.element().explode())
        .list.drop_nulls()
    )
    gaps = pl.col("not_assessed").list.eval(pl.lit("Not assessed: ") + pl.element())
    return pl.concat_list([ranked.list.head(5), gaps])


def _strengths() -> pl.Expr:
    items = [
        pl.when(pl.col(f"{s}_risk") < STRENGTH_BELOW).then(
            pl.format(STRENGTHS[s] + " (risk {}/100)", pl.col(f"{s}_risk").round(0).cast(pl.Int64))
        )
        for s in SIGNALS
    ]
    return pl.concat_list(items).list.drop_nulls()


def _evidence_base(scorecard: pl.DataFrame, signals: Mapping[str, pl.DataFrame | None]) -> pl.DataFrame:
    """creator_id, signal, reason, evidence_id: every evidence id of the scored creators."""
    scored = scorecard.select("creator_id")
    parts = []
    for name in SIGNALS:
        table = signals.get(name)
        if table is None or table.is_empty():
            continue
        part = (
            table.join(scored, on="creator_id", how="semi")
            .filter(pl.col("evidence_ids").list.len() > 0)
            .select(
                "creator_id",
                pl.lit(name).alias("signal"),
                pl.col("reasons").list.first().fill_null("").alias("reason"),
                pl.col("evidence_ids").alias("evidence_id"),
            )
            .explode("evidence_id")
        )
        parts.append(part)
    if not parts:
        return pl.DataFrame(schema={"creator_id": pl.String, "signal": pl.String, "reason": pl.String, "evidence_id": pl.String})
    return pl.concat(parts)


def evidence_ids(scorecard: pl.DataFrame, signals: Mapping[str, pl.DataFrame | None]) -> pl.Series:
    """The distinct evidence ids behind a scorecard (note, comment, follower ids, dates ...).

    What :func:`evidence_table` resolves: a caller reading from the warehouse can fetch just
    the comments and follower samples with these ids instead of whole tables.
    """
    return _evidence_base(scorecard, signals).get_column("evidence_id").drop_nulls().unique()


def evidence_table(
    scorecard: pl.DataFrame,
    signals: Mapping[str, pl.DataFrame | None],
    notes: pl.DataFrame,
    comments: pl.DataFrame | None = None,
    follower_samples: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per piece of evidence behind a scored creator: signal, reason, id, link, date.

    An evidence id is resolved to a note (its url and date), a comment (the url of the note it is
    under), an ISO date, or left as "other" (e.g. a follower id). Output columns: brief,
    creator_id, signal, reason, evidence_id, kind, url, date.
    """
    brief = scorecard["brief"][0] if scorecard.height else ""
    base = _evidence_base(scorecard, signals)
    # Resolve only the ids that occur: filtering the big tables to them first keeps the joins
    # small (tens of thousands of evidence ids against millions of notes and comments).
    wanted = base.get_column("evidence_id").drop_nulls().unique().implode()
    has_comments = comments is not None and not comments.is_empty()
    if has_comments:
        comments = comments.filter(pl.col("comment_id").is_in(wanted))
        parents = comments.get_column("note_id").drop_nulls().unique().implode()
        notes = notes.filter(pl.col("note_id").is_in(wanted) | pl.col("note_id").is_in(parents))
    else:
        notes = notes.filter(pl.col("note_id").is_in(wanted))
    if follower_samples is not None and not follower_samples.is_empty():
        follower_samples = follower_samples.filter(pl.col("follower_id").is_in(wanted))
    note_links = notes.select(
        pl.col("note_id").alias("evidence_id"),
        pl.lit("note").alias("_kind_n"),
        pl.col("url").alias("_url_n"),
        pl.col("published_at").alias("_date_n"),
    )
    out = base.join(note_links, on="evidence_id", how="left")
    if has_comments:
        comment_links = comments.select(
            pl.col("comment_id").alias("evidence_id"), "note_id", pl.col("created_at").alias("_date_c")
        ).join(notes.select("note_id", pl.col("url").alias("_url_c")), on="note_id", how="left").drop("note_id")
        out = out.join(comment_links, on="evidence_id", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.String).alias("_url_c"), pl.lit(None, pl.Datetime("us")).alias("_date_c"))
    followers = (
        follower_samples.select(pl.col("follower_id").alias("evidence_id")).unique()
        if follower_samples is not None and not follower_samples.is_empty()
        else pl.DataFrame(schema={"evidence_id": pl.String})
    )
    out = out.join(followers.with_columns(pl.lit(True).alias("_is_follower")), on="evidence_id", how="left")
    as_date = pl.col("evidence_id").str.to_date("%Y-%m-%d", strict=False)
    return out.select(
        pl.lit(brief).alias("brief"),
        "creator_id",
        "signal",
        "reason",
        "evidence_id",
        pl.when(pl.col("_kind_n").is_not_null()).then(pl.lit("note"))
        .when(pl.col("_date_c").is_not_null()).then(pl.lit("comment"))
        .when(pl.col("_is_follower").fill_null(False)).then(pl.lit("follower"))
        .when(as_date.is_not_null()).then(pl.lit("date"))
        .otherwise(pl.lit("other"))
        .alias("kind"),
        pl.coalesce("_url_n", "_url_c").alias("url"),
        pl.coalesce("_date_n", "_date_c", as_date.cast(pl.Datetime("us"))).alias("date"),
    ).unique(maintain_order=True)


def score_partners(
    briefs: Mapping[str, Brief],
    partners: pl.DataFrame,
    creators: pl.DataFrame,
    notes: pl.DataFrame,
    signals_for: Callable[[Brief], Mapping[str, pl.DataFrame | None]],
    *,
    as_of: dt.datetime,
) -> pl.DataFrame:
    """Re-score every active partner against the brief of its brand (for scheduled re-vetting).

    A partner row (creator_id, brand, status) matches a brief when its brand is the brief's brand
    or one of its aliases. The brief's candidate filters do not apply: a partner is scored even
    if it would not be shortlisted today. ``signals_for(brief)`` returns the signal tables to use.
    Output: SCORECARD_SCHEMA rows for every (brief, active partner) pair.
    """
    active = partners.filter(pl.col("status") == "active")
    parts = []
    for brief in briefs.values():  # a handful of briefs, not rows
        ids = active.filter(pl.col("brand").is_in(brief.brand_names))["creator_id"].unique()
        if ids.is_empty():
            continue
        open_brief = brief.model_copy(update={"candidate_categories": None, "min_followers": 0, "max_followers": None})
        partner_creators = creators.filter(pl.col("creator_id").is_in(ids.implode()))
        parts.append(build_scorecard(open_brief, partner_creators, notes, signals_for(brief), as_of=as_of))
    return pl.concat(parts) if parts else pl.DataFrame(schema=SCORECARD_SCHEMA)
