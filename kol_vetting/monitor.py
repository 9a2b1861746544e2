"""Monitoring of active partners: what changed since the last re-vetting, as alerts ops act on.

Ops re-vet active partners on a schedule. :func:`detect_changes` compares the previous and the
current scorecard snapshot and reads the signal and contract tables for what is *new since*
``since``, and returns ``partner_alerts`` (:data:`PARTNER_ALERTS_SCHEMA`): one row per alert,
for partners whose status is ``active`` only.

Detectors (``kind``):

===============================  ==============================================================
kind                             fires when
===============================  ==============================================================
``score_move``                   overall risk rose by ``scores.points`` or more between snapshots
``grade_drop``                   the grade fell by ``grades.drop_steps`` or more
``new_controversy``              controversy flags dated on/after ``since`` (one alert per category)
``new_undisclosed_ad``           a sponsored note published since ``since`` is not compliantly
                                 disclosed (raised one level when it names the partner brand)
``follower_jump``                followers rose ``followers.min_share`` in ``window_days`` since
                                 ``since`` and no note of the creator explains it
``fake_share_rise``              the fake-follower share rose vs the previous run
``competitor_deal``              new sponsored notes for a competitor of the partner brand
``negative_wave_on_brand_note``  a wave of negative comments under the partner's sponsored note
                                 for the brand, graded by reach and classified by content kind
``kol_backlash_note``            another creator posted a negative note naming the partner
===============================  ==============================================================

Severity is ``high`` (respond within ``response.high_hours``), ``significant`` (within
``response.significant_hours``) or ``minor`` (no window). Waves are graded by reach, since
commenters' follower counts are usually unknown: likes on the negative comments (other users
agree), velocity (negative comments per hour vs the note's usual comment rate) and the
creator's follower count. Their ``content_kind`` is one of :data:`CONTENT_KINDS`; it is null
for alerts that are not about negative content.

All thresholds live in :class:`MonitorConfig` (defaults in ``config/monitor.yaml``). Work is
Polars expressions over whole tables; Python only loops over the (few) alerts to hash their ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field

from kol_vetting.text.lexicons import match_terms
from kol_vetting.text.normalize import compact_expr, compact_text, core_expr, normalize_expr

CONFIG_PATH = Path(__file__).resolve().parent / "config" / "monitor.yaml"

Severity = Literal["high", "significant", "minor"]
SEVERITIES: tuple[str, ...] = ("high", "significant", "minor")
SEVERITY_RANK: dict[str, int] = {"high": 0, "significant": 1, "minor": 2}
CONTENT_KINDS: tuple[str, ...] = (
    "genuine_complaint",
    "misuse_or_misinformation",
    "coordinated_inauthentic",
    "kol_backlash",
    "trend",
)
ALERT_KINDS: dict[str, str] = {
    "score_move": "Overall risk rose between re-vettings",
    "grade_drop": "Grade fell between re-vettings",
    "new_controversy": "New controversy evidence",
    "new_undisclosed_ad": "New sponsored note without proper disclosure",
    "follower_jump": "Unexplained follower jump",
    "fake_share_rise": "Fake-follower share rose",
    "competitor_deal": "New paid work for a competitor",
    "negative_wave_on_brand_note": "Wave of negative comments under a sponsored brand note",
    "kol_backlash_note": "Another creator posted a negative note naming the partner",
}

PARTNER_ALERTS_SCHEMA = pl.Schema(
    {
        "alert_id": pl.String(),
        "creator_id": pl.String(),
        "display_name": pl.String(),
        "brand": pl.String(),
        "brief": pl.String(),  # the brief of the snapshot behind score/grade alerts, else null
        "kind": pl.String(),
        "severity": pl.String(),
        "response_window": pl.String(),  # "within 4 hours", "within 24 hours" or "none"
        "response_hours": pl.Int64(),  # null for minor
        "content_kind": pl.String(),  # null when the alert is not about negative content
        "recommended_action": pl.String(),
        "summary": pl.String(),
        "evidence_ids": pl.List(pl.String()),
        "detected_at": pl.Datetime("us"),
    }
)

# Columns every detector returns before ids and response windows are added.
_DETECTOR_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "brand": pl.String(),
        "brief": pl.String(),
        "kind": pl.String(),
        "severity": pl.String(),
        "content_kind": pl.String(),
        "recommended_action": pl.String(),
        "summary": pl.String(),
        "evidence_ids": pl.List(pl.String()),
        "_id_extra": pl.String(),  # extra key for the alert id (e.g. the scores of a score move)
    }
)

# Controversy lexicon groups that mark a comment or note as negative (value_conflict is left
# out: it names topics that are often discussed neutrally).
_NEGATIVE_GROUPS = ["product_harm", "false_claims", "scandal", "plagiarism", "backlash"]
_COMPLAINT_GROUPS = ["product_harm", "false_claims"]
# Word severities some signal tables use instead of 0-100 numbers.
_SEVERITY_WORDS = {
    "critical": 90.0, "high": 80.0, "severe": 80.0,
    "significant": 55.0, "medium": 55.0, "moderate": 55.0,
    "minor": 20.0, "low": 20.0,
}
_EMPTY_LIST = pl.lit([], dtype=pl.List(pl.String))


# ------------------------------------------------------------------------------------------
# Configuration


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResponseConfig(_Section):
    """Hours ops have to respond, per severity (minor has no window)."""

    high_hours: int = Field(4, ge=1, description="High reach or fast-growing negative content.")
    significant_hours: int = Field(24, ge=1, description="Significant negative content.")


class ScoreMoveConfig(_Section):
    """Overall-risk rise between snapshots (0-100 points)."""

    points: float = Field(10.0, gt=0)
    high_points: float = Field(25.0, gt=0)


class GradeConfig(_Section):
    """Grade drops between snapshots."""

    order: list[str] = Field(default_factory=lambda: ["A", "B", "C", "D", "F"], min_length=2)
    drop_steps: int = Field(1, ge=1)
    high_drop_steps: int = Field(2, ge=1)
    high_grades: list[str] = Field(default_factory=lambda: ["F"])


class ControversyConfig(_Section):
    """Flag severity (0-100, or words) at which a new controversy is high / significant."""

    high_at: float = Field(70.0, ge=0, le=100)
    significant_at: float = Field(40.0, ge=0, le=100)


class DisclosureConfig(_Section):
    """Severity of new non-compliant sponsored notes."""

    min_sponsored_probability: float = Field(0.5, ge=0, le=1)
    severity_by_disclosure: dict[str, Severity] = Field(
        default_factory=lambda: {
            "false_claim": "significant",
            "none": "significant",
            "ambiguous": "minor",
            "explicit": "minor",
            "platform_label": "minor",
        }
    )


class FollowerJumpConfig(_Section):
    """Unexplained follower jumps since ``since``."""

    window_days: int = Field(3, ge=1)
    min_share: float = Field(0.10, gt=0)
    min_followers: int = Field(500, ge=0)
    high_share: float = Field(0.30, gt=0)
    explain_days_before: int = Field(3, ge=0)
    followers_per_engagement: float = Field(0.2, gt=0)


class FakeShareConfig(_Section):
    """Rise of the fake-follower share (share points, 0-1)."""

    rise_points: float = Field(0.05, gt=0)
    high_rise_points: float = Field(0.15, gt=0)


class CompetitorConfig(_Section):
    """New paid work for a competitor."""

    severity: Severity = "significant"


class ReachThresholds(_Section):
    """Any one threshold reached puts a wave at this severity."""

    agree_likes: int = Field(ge=0)
    velocity_ratio: float = Field(gt=0)
    creator_followers: int = Field(ge=0)
    comments: int = Field(ge=1)


class WaveConfig(_Section):
    """What makes negative comments under a brand note a wave, and how its reach is graded."""

    negative_probability: float = Field(0.85, ge=0, le=1)
    min_comments: int = Field(8, ge=1)
    min_negative_share: float = Field(0.25, ge=0, le=1)
    min_per_hour: float = Field(1.0, ge=0)
    baseline_days: int = Field(7, ge=1)
    significant: ReachThresholds = Field(
        default_factory=lambda: ReachThresholds(agree_likes=50, velocity_ratio=3.0, creator_followers=50_000, comments=30)
    )
    high: ReachThresholds = Field(
        default_factory=lambda: ReachThresholds(
            agree_likes=500, velocity_ratio=10.0, creator_followers=500_000, comments=150
        )
    )


class ClassifyConfig(_Section):
    """How a wave's content kind is decided."""

    shingle_chars: int = Field(2, ge=1, le=5)
    near_duplicate_jaccard: float = Field(0.6, gt=0, le=1)
    max_comments_compared: int = Field(300, ge=2)
    coordinated_duplicate_share: float = Field(0.5, ge=0, le=1)
    coordinated_new_account_share: float = Field(0.6, ge=0, le=1)
    coordinated_window_hours: float = Field(3.0, gt=0)
    default_nickname_pattern: str = r"^(小红薯[0-9A-Fa-f]{4,}|用户[0-9A-Za-z_]{5,}|user[0-9]{6,})$"
    complaint_cue_share: float = Field(0.3, ge=0, le=1)
    misinformation_share: float = Field(0.3, ge=0, le=1)
    misinformation_min_probability: float = Field(0.6, ge=0, le=1)
    misinformation_terms: list[str] = Field(
        default_factory=lambda: [
            "听说", "据说", "网传", "传言", "谣言", "有人说", "都在传", "转发扩散", "含激素", "激素脸",
            "重金属", "荧光剂", "含汞", "汞超标", "铅超标", "被查", "被罚", "用错", "用法不对",
            "没看说明", "混着用", "混用", "过量使用",
        ]
    )
    trend_min_notes: int = Field(3, ge=2)
    trend_min_creators: int = Field(2, ge=1)
    trend_min_negative_comments: int = Field(5, ge=1)
    kol_backlash_lookback_hours: float = Field(72.0, ge=0)


class KolBacklashConfig(_Section):
    """Negative notes by other creators naming the partner, graded by the poster's reach."""

    min_name_chars: int = Field(2, ge=1)
    significant_followers: int = Field(10_000, ge=0)
    high_followers: int = Field(100_000, ge=0)
    significant_likes: int = Field(100, ge=0)
    high_likes: int = Field(1_000, ge=0)


class MonitorConfig(_Section):
    """Every threshold of partner monitoring. Defaults equal ``config/monitor.yaml``."""

    response: ResponseConfig = Field(default_factory=ResponseConfig)
    scores: ScoreMoveConfig = Field(default_factory=ScoreMoveConfig)
    grades: GradeConfig = Field(default_factory=GradeConfig)
    controversy: ControversyConfig = Field(default_factory=ControversyConfig)
    disclosure: DisclosureConfig = Field(default_factory=DisclosureConfig)
    followers: FollowerJumpConfig = Field(default_factory=FollowerJumpConfig)
    fake_share: FakeShareConfig = Field(default_factory=FakeShareConfig)
    competitor: CompetitorConfig = Field(default_factory=CompetitorConfig)
    wave: WaveConfig = Field(default_factory=WaveConfig)
    classify: ClassifyConfig = Field(default_factory=ClassifyConfig)
    kol_backlash: KolBacklashConfig = Field(default_factory=KolBacklashConfig)
    max_evidence: int = Field(10, ge=1)

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> MonitorConfig:
        """Load a config from YAML (default: the shipped ``config/monitor.yaml``).

        Missing keys take their defaults; unknown keys raise ``pydantic.ValidationError``.
        """
        p = Path(path) if path is not None else CONFIG_PATH
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        return cls.model_validate(raw)

    def response_hours(self, severity: str) -> int | None:
        """Hours to respond for a severity (None for minor)."""
        return {"high": self.response.high_hours, "significant": self.response.significant_hours}.get(severity)


#: The shipped defaults (equal to ``config/monitor.yaml``); never mutated.
DEFAULT_CONFIG = MonitorConfig()


# ------------------------------------------------------------------------------------------
# Entry point


def detect_changes(
    previous: pl.DataFrame | None,
    current: pl.DataFrame,
    *,
    partners: pl.DataFrame,
    signals: Mapping[str, pl.DataFrame | None],
    notes: pl.DataFrame | None,
    comments: pl.DataFrame | None,
    follower_history: pl.DataFrame | None,
    creators: pl.DataFrame | None,
    brand_names: Mapping[str, list[str]],
    since: dt.datetime,
    as_of: dt.datetime,
    config: MonitorConfig = DEFAULT_CONFIG,
    previous_signals: Mapping[str, pl.DataFrame | None] | None = None,
    brief_brands: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Alerts for active partners: what changed between two re-vettings and since ``since``.

    In:

    * ``previous`` / ``current``: scorecard snapshots (``SCORECARD_SCHEMA`` rows, optionally a
      ``snapshot_at`` column; the latest row per brief and creator is used). ``previous`` None
      (first run) skips the score and grade detectors.
    * ``partners``: the partners table; only rows with ``status == "active"`` get alerts.
    * ``signals``: ``controversy_flags``, ``disclosure_audit``, ``authenticity_scores``,
      ``brand_associations``; a missing (None) table skips the detectors that need it.
    * ``notes``, ``comments``, ``follower_history``, ``creators``: contract tables (None skips).
    * ``brand_names``: brand -> aliases (the brand itself is always matched too).
    * ``since``: start of the "new" window (usually the previous run); ``as_of``: now. Naive
      datetimes are UTC; aware ones are converted.
    * ``previous_signals``: signal tables of the previous run (for the fake-share rise; the
      previous snapshot's ``fake_share`` column is used when this is absent).
    * ``brief_brands``: brief name -> brand, to match snapshot rows and competitor associations to
      partner brands. Without it the brand is read from a ``brand`` column of the snapshot or the
      ``own_brand`` rows of ``brand_associations``; a snapshot row whose brief maps to no brand
      applies to every brand the creator partners with.

    Out: ``partner_alerts`` (:data:`PARTNER_ALERTS_SCHEMA`), most urgent first. ``alert_id`` is a
    hash of creator, brand, kind and evidence, so the same finding keeps its id across runs.
    """
    since = _naive_utc(since)
    as_of = _naive_utc(as_of)
    cfg = config
    active = _active_partners(partners)
    if active.is_empty():
        return pl.DataFrame(schema=PARTNER_ALERTS_SCHEMA)

    creators_latest = _latest_creators(creators)
    brief_map = _brief_brand_map(brief_brands, signals.get("brand_associations"))
    aliases = _alias_table(active["brand"].unique().to_list(), brand_names)
    note_info = _note_info(notes, signals.get("disclosure_audit"), aliases, comments, since, as_of, cfg)

    parts: list[pl.DataFrame] = []
    if previous is not None and not previous.is_empty() and not current.is_empty():
        parts.append(_score_and_grade_moves(previous, current, active, brief_map, cfg))
    parts.append(_new_controversy(signals.get("controversy_flags"), active, since, as_of, cfg))
    parts.append(_new_undisclosed_ads(signals.get("disclosure_audit"), active, aliases, since, as_of, cfg))
    parts.append(_follower_jumps(follower_history, notes, active, since, as_of, cfg))
    parts.append(
        _fake_share_rises(
            signals.get("authenticity_scores"),
            (previous_signals or {}).get("authenticity_scores"),
            previous,
            active,
            cfg,
        )
    )
    parts.append(
        _competitor_deals(signals.get("brand_associations"), note_info, active, brief_map, since, as_of, cfg)
    )
    backlash_notes = _kol_backlash_notes(notes, creators_latest, active, since, as_of, cfg)
    parts.append(_kol_backlash_alerts(backlash_notes, active, since, cfg))
    parts.append(
        _negative_waves(note_info, comments, creators_latest, active, backlash_notes, since, as_of, cfg)
    )
    return _finish(parts, creators_latest, as_of, cfg)


# ------------------------------------------------------------------------------------------
# Shared helpers


def _naive_utc(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t


def _as_naive_datetime(df: pl.DataFrame, col: str) -> pl.DataFrame:
    """``col`` as naive-UTC ``Datetime("us")`` (dates become midnight)."""
    dtype = df.schema[col]
    e = pl.col(col)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            e = e.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return df.with_columns(e.cast(pl.Datetime("us")))
    if dtype == pl.Date:
        return df.with_columns(e.cast(pl.Datetime("us")))
    return df.with_columns(e.str.to_datetime(strict=False).cast(pl.Datetime("us")))


def _usable(df: pl.DataFrame | None, cols: list[str]) -> bool:
    return df is not None and not df.is_empty() and all(c in df.columns for c in cols)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=_DETECTOR_SCHEMA)


def _conform(df: pl.DataFrame) -> pl.DataFrame:
    """Select the detector columns, adding missing optional ones as nulls."""
    return df.with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in _DETECTOR_SCHEMA.items() if c not in df.columns]
    ).select([pl.col(c).cast(t) for c, t in _DETECTOR_SCHEMA.items()])


def _active_partners(partners: pl.DataFrame) -> pl.DataFrame:
    """creator_id, brand of partners whose status is active (status is the ops' source of truth)."""
    if partners is None or partners.is_empty():
        return pl.DataFrame(schema={"creator_id": pl.String, "brand": pl.String})
    status = pl.col("status").str.strip_chars().str.to_lowercase() if "status" in partners.columns else pl.lit("active")
    return partners.filter(status == "active").select("creator_id", "brand").unique(maintain_order=True)


def _latest_creators(creators: pl.DataFrame | None) -> pl.DataFrame:
    """creator_id, display_name, handle, follower_count from the latest capture per creator."""
    schema = {"creator_id": pl.String, "display_name": pl.String, "handle": pl.String, "follower_count": pl.Int64}
    if creators is None or creators.is_empty():
        return pl.DataFrame(schema=schema)
    df = creators
    if "captured_at" in df.columns:
        df = df.sort("captured_at", nulls_last=False)
    df = df.unique("creator_id", keep="last", maintain_order=True)
    return df.select([(pl.col(c) if c in df.columns else pl.lit(None)).cast(t).alias(c) for c, t in schema.items()])


def _fold(text: str) -> str:
    return (compact_text(text) or "").strip()


def _alias_table(brands: list[str], brand_names: Mapping[str, list[str]]) -> pl.DataFrame:
    """alias (folded like the compact text view) -> brand, for the partner brands."""
    rows: list[tuple[str, str]] = []
    for brand in brands:
        for alias in [brand, *brand_names.get(brand, [])]:
            folded = _fold(alias)
            if folded:
                rows.append((folded, brand))
    df = pl.DataFrame(rows, schema={"alias": pl.String, "brand": pl.String}, orient="row")
    return df.unique("alias", keep="first", maintain_order=True)


def _brief_brand_map(
    brief_brands: Mapping[str, str] | None, associations: pl.DataFrame | None
) -> pl.DataFrame:
    """brief -> brand: the explicit mapping first, then own_brand rows of brand_associations."""
    rows = list((brief_brands or {}).items())
    df = pl.DataFrame(rows, schema={"brief": pl.String, "brief_brand": pl.String}, orient="row")
    if _usable(associations, ["brief", "brand", "relation"]):
        own = (
            associations.filter(pl.col("relation") == "own_brand")
            .select("brief", pl.col("brand").alias("brief_brand"))
            .unique()
        )
        df = pl.concat([df, own])
    return df.unique("brief", keep="first", maintain_order=True)


def _note_text(df: pl.DataFrame) -> pl.Expr:
    """Title, body and tags of a note as one raw text."""
    parts = [pl.col(c) for c in ("title", "body") if c in df.columns]
    if "tags" in df.columns and isinstance(df.schema["tags"], pl.List):
        parts.append(pl.col("tags").list.join(" "))
    if not parts:
        return pl.lit("")
    return pl.concat_str(parts, separator=" ", ignore_nulls=True)


def _note_info(
    notes: pl.DataFrame | None,
    audit: pl.DataFrame | None,
    aliases: pl.DataFrame,
    comments: pl.DataFrame | None,
    since: dt.datetime,
    as_of: dt.datetime,
    cfg: MonitorConfig,
) -> pl.DataFrame:
    """Per *recent* note: creator, time, reach, whether it is sponsored (true / false / unknown)
    and the partner brands it names (``brands``, List[str]).

    Recent means published since ``since`` minus the KOL-backlash look-back, or commented on
    since ``since``: no detector reads other notes, so a years-long history costs nothing.
    Sponsored is the platform label or the disclosure audit's verdict; with neither, an explicit
    disclosure word (#广告, 合作) in the note counts, and otherwise it is unknown (null).
    """
    schema = {
        "note_id": pl.String, "creator_id": pl.String, "published_at": pl.Datetime("us"),
        "title": pl.String, "likes": pl.Int64, "engagement": pl.Int64, "sponsored": pl.Boolean,
        "brands": pl.List(pl.String),
    }
    if not _usable(notes, ["note_id", "creator_id", "published_at"]):
        return pl.DataFrame(schema=schema)
    df = _as_naive_datetime(notes, "published_at")
    recent = pl.col("published_at") >= since - dt.timedelta(hours=cfg.classify.kol_backlash_lookback_hours)
    if _usable(comments, ["note_id", "created_at"]):
        active_ids = (
            _as_naive_datetime(comments.select("note_id", "created_at"), "created_at")
            .filter(pl.col("created_at").is_between(since, as_of))
            .get_column("note_id")
            .unique()
        )
        recent = recent | pl.col("note_id").is_in(active_ids.implode())
    df = df.filter(recent & (pl.col("published_at") <= as_of))
    label = pl.col("platform_sponsor_label") if "platform_sponsor_label" in df.columns else pl.lit(None, pl.Boolean)
    df = df.with_columns(
        _text=_note_text(df),
        _label=label.cast(pl.Boolean),
        likes=(pl.col("likes") if "likes" in df.columns else pl.lit(0)).cast(pl.Int64).fill_null(0),
        engagement=sum(
            (pl.col(c).cast(pl.Int64).fill_null(0) if c in df.columns else pl.lit(0, pl.Int64))
            for c in ("likes", "collects", "comments")
        ),
        title=(pl.col("title") if "title" in df.columns else pl.lit(None)).cast(pl.String),
    )
    if _usable(audit, ["note_id"]) and ("sponsored" in audit.columns or "sponsored_probability" in audit.columns):
        a = audit.select("note_id", _audit_sponsored(audit, cfg).alias("_audit_sponsored")).unique("note_id", keep="last")
        df = df.join(a, on="note_id", how="left")
    else:
        df = df.with_columns(_audit_sponsored=pl.lit(None, pl.Boolean))
    # Disclosure words are only read where neither the label nor the audit says anything.
    unknown = pl.col("_label").is_null() & pl.col("_audit_sponsored").is_null()
    cue = df.filter(unknown).select(
        "note_id", (match_terms(pl.col("_text"), "disclosure", "explicit").list.len() > 0).alias("_explicit")
    ).unique("note_id")
    df = df.join(cue, on="note_id", how="left")
    sponsored = (
        pl.when(pl.col("_label").fill_null(False) | pl.col("_audit_sponsored").fill_null(False))
        .then(True)
        .when(~unknown)
        .then(False)
        .when(pl.col("_explicit").fill_null(False))
        .then(True)
        .otherwise(None)
    )
    alias_list = aliases["alias"].to_list()
    if alias_list:
        found = compact_expr(pl.col("_text")).fill_null("").str.extract_many(alias_list)
        alias_map = dict(zip(aliases["alias"], aliases["brand"], strict=True))
        brands = found.list.eval(pl.element().replace_strict(alias_map, default=None)).list.drop_nulls().list.unique()
    else:
        brands = _EMPTY_LIST
    return df.with_columns(sponsored=sponsored, brands=brands).select(
        [pl.col(c).cast(t) for c, t in schema.items()]
    )


def _audit_sponsored(audit: pl.DataFrame, cfg: MonitorConfig) -> pl.Expr:
    """The audit's sponsored verdict; its probability when the verdict is null."""
    prob = (
        pl.col("sponsored_probability") >= cfg.disclosure.min_sponsored_probability
        if "sponsored_probability" in audit.columns
        else pl.lit(None, pl.Boolean)
    )
    if "sponsored" in audit.columns:
        return pl.coalesce(pl.col("sponsored").cast(pl.Boolean), prob)
    return prob


def _fmt_int(e: pl.Expr) -> pl.Expr:
    """Integer with thousands separators, as text ("12,500")."""
    # Rust regex has no look-ahead: reverse, group by three, reverse back.
    digits = e.cast(pl.Int64).abs().cast(pl.String)
    grouped = digits.str.reverse().str.replace_all(r"(\d{3})", "${1},").str.reverse().str.strip_chars_start(",")
    return pl.concat_str([pl.when(e < 0).then(pl.lit("-")).otherwise(pl.lit("")), grouped])


def _fmt_num(e: pl.Expr, decimals: int = 1) -> pl.Expr:
    """A number rounded to ``decimals`` places, as text (no ".0" when ``decimals`` is 0)."""
    r = e.round(decimals)
    return (r.cast(pl.Int64) if decimals == 0 else r).cast(pl.String)


def _fmt_time(e: pl.Expr) -> pl.Expr:
    return e.dt.strftime("%Y-%m-%d %H:%M UTC")


def _severity_from(high: pl.Expr, significant: pl.Expr) -> pl.Expr:
    return pl.when(high).then(pl.lit("high")).when(significant).then(pl.lit("significant")).otherwise(pl.lit("minor"))


# ------------------------------------------------------------------------------------------
# Score and grade moves


def _latest_snapshot(df: pl.DataFrame) -> pl.DataFrame:
    keys = [c for c in ("brief", "creator_id") if c in df.columns]
    if "snapshot_at" in df.columns:
        df = df.sort("snapshot_at", nulls_last=False)
    return df.unique(keys, keep="last", maintain_order=True)


def _snapshot_brand(df: pl.DataFrame, brief_map: pl.DataFrame) -> pl.DataFrame:
    """Adds ``_brand``: the brand a snapshot row is about (null: any brand of the creator)."""
    if "brand" in df.columns:
        return df.with_columns(_brand=pl.col("brand").cast(pl.String))
    if "brief" in df.columns and not brief_map.is_empty():
        return df.join(brief_map, on="brief", how="left").rename({"brief_brand": "_brand"})
    return df.with_columns(_brand=pl.lit(None, pl.String))


def _attach_partner_brand(df: pl.DataFrame, active: pl.DataFrame) -> pl.DataFrame:
    """Rows for active partners: ``_brand`` matches the partner's brand or is null (any brand)."""
    j = df.join(active.rename({"brand": "_pbrand"}), on="creator_id", how="inner")
    return j.filter(pl.col("_brand").is_null() | (pl.col("_brand") == pl.col("_pbrand"))).with_columns(
        brand=pl.col("_pbrand")
    )


def _score_and_grade_moves(
    previous: pl.DataFrame,
    current: pl.DataFrame,
    active: pl.DataFrame,
    brief_map: pl.DataFrame,
    cfg: MonitorConfig,
) -> pl.DataFrame:
    """``score_move`` and ``grade_drop`` alerts between the latest rows of two snapshots."""
    from kol_vetting.brief import SIGNALS

    cur = _latest_snapshot(current)
    prev = _latest_snapshot(previous)
    key = ["brief", "creator_id"] if "brief" in cur.columns and "brief" in prev.columns else ["creator_id"]
    prev_cols = [c for c in ("overall_risk", "grade", "decision", "evidence_ids", *(f"{s}_risk" for s in SIGNALS)) if c in prev.columns]
    j = cur.join(prev.select(*key, *prev_cols), on=key, how="inner", suffix="_prev")
    if "brief" not in j.columns:
        j = j.with_columns(brief=pl.lit(None, pl.String))
    j = _attach_partner_brand(_snapshot_brand(j, brief_map), active)
    if j.is_empty():
        return _empty()

    if "evidence_ids" in j.columns and "evidence_ids_prev" in j.columns:
        new_ev = pl.col("evidence_ids").fill_null([]).list.set_difference(pl.col("evidence_ids_prev").fill_null([]))
    else:
        new_ev = _EMPTY_LIST
    j = j.with_columns(_new_ev=new_ev.list.head(cfg.max_evidence))
    brief_txt = pl.when(pl.col("brief").is_not_null()).then(pl.format(" (brief {})", pl.col("brief"))).otherwise(pl.lit(""))
    out: list[pl.DataFrame] = []

    if "overall_risk" in j.columns and "overall_risk_prev" in j.columns:
        subs = [s for s in SIGNALS if f"{s}_risk" in j.columns and f"{s}_risk_prev" in j.columns]
        deltas = {s: (pl.col(f"{s}_risk") - pl.col(f"{s}_risk_prev")) for s in subs}
        m = j.with_columns(
            _delta=pl.col("overall_risk") - pl.col("overall_risk_prev"),
            **{f"_d_{s}": d for s, d in deltas.items()},
        )
        if subs:
            top = pl.max_horizontal([pl.col(f"_d_{s}") for s in subs])
            driver = pl.coalesce([pl.when(pl.col(f"_d_{s}") == top).then(pl.lit(s)) for s in subs])
            driver_txt = (
                pl.when(top > 0)
                .then(pl.format("; largest rise: {} risk +{} points", driver, _fmt_num(top)))
                .otherwise(pl.lit(""))
            )
        else:
            driver_txt = pl.lit("")
        m = m.filter(pl.col("_delta") >= cfg.scores.points).with_columns(
            kind=pl.lit("score_move"),
            severity=_severity_from(pl.col("_delta") >= cfg.scores.high_points, pl.lit(True)),
            summary=pl.format(
                "Overall risk rose from {} to {} (+{} points){}{}.",
                _fmt_num(pl.col("overall_risk_prev")),
                _fmt_num(pl.col("overall_risk")),
                _fmt_num(pl.col("_delta")),
                brief_txt,
                driver_txt,
            ),
            recommended_action=pl.lit(
                "Read the new evidence on the scorecard; hold new paid notes and amplification with "
                "the creator until ops have reviewed it"
            ),
            evidence_ids=pl.col("_new_ev"),
            _id_extra=pl.format("{}|{}|{}", pl.col("brief").fill_null(""), _fmt_num(pl.col("overall_risk_prev")), _fmt_num(pl.col("overall_risk"))),
        )
        out.append(_conform(m))

    if "grade" in j.columns and "grade_prev" in j.columns:
        order = {g: i for i, g in enumerate(cfg.grades.order)}
        idx = pl.col("grade").replace_strict(order, default=None, return_dtype=pl.Int64)
        idx_prev = pl.col("grade_prev").replace_strict(order, default=None, return_dtype=pl.Int64)
        became_reject = (
            (pl.col("decision") == "reject") & (pl.col("decision_prev") != "reject")
            if "decision" in j.columns and "decision_prev" in j.columns
            else pl.lit(False)
        )
        decision_txt = (
            pl.when(became_reject).then(pl.lit("; the decision is now reject")).otherwise(pl.lit(""))
        )
        g = j.with_columns(_steps=idx - idx_prev, _became_reject=became_reject.fill_null(False))
        g = g.filter(pl.col("_steps") >= cfg.grades.drop_steps).with_columns(
            kind=pl.lit("grade_drop"),
            severity=_severity_from(
                (pl.col("_steps") >= cfg.grades.high_drop_steps)
                | pl.col("grade").is_in(cfg.grades.high_grades)
                | pl.col("_became_reject"),
                pl.lit(True),
            ),
            summary=pl.format(
                "Grade fell {} step(s), from {} to {}{}{}.",
                pl.col("_steps"), pl.col("grade_prev"), pl.col("grade"), brief_txt, decision_txt,
            ),
            recommended_action=pl.lit(
                "Review the partnership: hold new paid notes and amplification with the creator "
                "until the drop is explained"
            ),
            evidence_ids=pl.col("_new_ev"),
            _id_extra=pl.format("{}|{}|{}", pl.col("brief").fill_null(""), pl.col("grade_prev"), pl.col("grade")),
        )
        out.append(_conform(g))
    return pl.concat(out) if out else _empty()


# ------------------------------------------------------------------------------------------
# New controversy


def _severity_score(df: pl.DataFrame) -> pl.Expr:
    """Flag severity as 0-100 whether the table stores numbers or words."""
    if "severity" not in df.columns:
        return pl.lit(50.0)
    dtype = df.schema["severity"]
    if dtype.is_numeric():
        return pl.col("severity").cast(pl.Float64)
    return (
        pl.col("severity").cast(pl.String).str.to_lowercase().replace_strict(_SEVERITY_WORDS, default=50.0, return_dtype=pl.Float64)
    )


def _new_controversy(
    flags: pl.DataFrame | None, active: pl.DataFrame, since: dt.datetime, as_of: dt.datetime, cfg: MonitorConfig
) -> pl.DataFrame:
    """One alert per partner and controversy category with flags dated in [since, as_of]."""
    if not _usable(flags, ["creator_id", "date"]):
        return _empty()
    f = _as_naive_datetime(flags, "date").filter(pl.col("date").is_between(since, as_of))
    if f.is_empty():
        return _empty()
    f = f.with_columns(
        _sev=_severity_score(f),
        category=(pl.col("category") if "category" in f.columns else pl.lit("controversy")).cast(pl.String).fill_null("controversy"),
        _desc=(pl.col("description") if "description" in f.columns else pl.lit(None)).cast(pl.String),
        _ev=(pl.col("evidence_ids") if "evidence_ids" in f.columns else _EMPTY_LIST).cast(pl.List(pl.String)).fill_null([]),
        _fid=(pl.col("flag_id") if "flag_id" in f.columns else pl.lit(None)).cast(pl.String),
    )
    g = (
        f.sort("_sev", descending=True)
        .group_by("creator_id", "category", maintain_order=True)
        .agg(
            _n=pl.len(),
            _max=pl.col("_sev").max(),
            _first=pl.col("date").min(),
            _top=pl.col("_desc").drop_nulls().first(),
            _ev=pl.col("_ev").list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True),
            _fids=pl.col("_fid").drop_nulls().unique(maintain_order=True),
        )
        .with_columns(_brand=pl.lit(None, pl.String))
    )
    g = _attach_partner_brand(g, active)
    c = cfg.controversy
    sev = _severity_from(pl.col("_max") >= c.high_at, pl.col("_max") >= c.significant_at)
    return _conform(
        g.with_columns(
            kind=pl.lit("new_controversy"),
            severity=sev,
            summary=pl.format(
                "{} new {} controversy flag(s) since {} (highest severity {}/100){}.",
                pl.col("_n"),
                pl.col("category"),
                _fmt_time(pl.col("_first")),
                _fmt_num(pl.col("_max"), 0),
                pl.when(pl.col("_top").is_not_null()).then(pl.format(": {}", pl.col("_top"))).otherwise(pl.lit("")),
            ),
            recommended_action=pl.when(sev == "high")
            .then(
                pl.lit(
                    "Pause paid amplification behind the creator's brand notes; read the evidence and "
                    "contact the creator privately; prepare to invoke the morality clause if confirmed"
                )
            )
            .otherwise(
                pl.lit("Read the evidence and raise it with the creator privately; hold new brand notes until cleared")
            ),
            evidence_ids=pl.concat_list(pl.col("_ev"), pl.col("_fids")).list.unique(maintain_order=True).list.head(cfg.max_evidence),
        )
    )


# ------------------------------------------------------------------------------------------
# New undisclosed sponsored notes


def _new_undisclosed_ads(
    audit: pl.DataFrame | None,
    active: pl.DataFrame,
    aliases: pl.DataFrame,
    since: dt.datetime,
    as_of: dt.datetime,
    cfg: MonitorConfig,
) -> pl.DataFrame:
    """One alert per partner and new sponsored note whose disclosure is not compliant."""
    if not _usable(audit, ["note_id", "creator_id", "published_at"]):
        return _empty()
    a = _as_naive_datetime(audit, "published_at").filter(pl.col("published_at").is_between(since, as_of))
    if a.is_empty():
        return _empty()
    disclosure = (pl.col("disclosure") if "disclosure" in a.columns else pl.lit(None)).cast(pl.String).fill_null("none")
    compliant = (
        pl.col("compliant").cast(pl.Boolean)
        if "compliant" in a.columns
        else disclosure.is_in(["platform_label", "explicit"])
    )
    a = a.with_columns(_sponsored=_audit_sponsored(a, cfg), _disclosure=disclosure, _compliant=compliant)
    a = a.filter(pl.col("_sponsored").fill_null(False) & ~pl.col("_compliant").fill_null(False))
    if a.is_empty():
        return _empty()
    mentions = (
        pl.col("brand_mentions") if "brand_mentions" in a.columns else _EMPTY_LIST
    )
    if "brand_mentions" in a.columns and a.schema["brand_mentions"] == pl.String:
        mentions = pl.col("brand_mentions").str.split(",")
    a = a.with_columns(_mentions=mentions.cast(pl.List(pl.String)).fill_null([]))
    a = a.join(active, on="creator_id", how="inner")
    # Does the note name the partner brand itself? Fold the mentions like the aliases were folded.
    alias_map = dict(zip(aliases["alias"], aliases["brand"], strict=True))
    a = a.with_columns(
        _own=pl.col("_mentions")
        .list.eval(
            pl.element().str.normalize("NFKC").str.to_lowercase().str.strip_chars("#@ ").replace_strict(alias_map, default=None)
        )
        .list.contains(pl.col("brand"))
        .fill_null(False)
    )
    base_rank = _disclosure_rank(cfg)
    rank = pl.col("_disclosure").replace_strict(base_rank, default=SEVERITY_RANK["significant"], return_dtype=pl.Int64)
    # The brand takes more damage than the creator when its own hidden ad is exposed: one level up.
    rank = pl.when(pl.col("_own")).then(pl.max_horizontal(rank - 1, pl.lit(0))).otherwise(rank)
    sev = pl.lit(SEVERITIES[0])
    for name, r in SEVERITY_RANK.items():
        sev = pl.when(rank == r).then(pl.lit(name)).otherwise(sev)
    what = pl.when(pl.col("_own")).then(pl.format("for {}", pl.col("brand"))).otherwise(pl.lit("for another brand"))
    return _conform(
        a.with_columns(
            kind=pl.lit("new_undisclosed_ad"),
            severity=sev,
            summary=pl.format(
                "Sponsored note {} {} published {} is not properly disclosed (disclosure: {}{}).",
                pl.col("note_id"),
                what,
                _fmt_time(pl.col("published_at")),
                pl.col("_disclosure"),
                (
                    pl.format(", P(sponsored) {}", _fmt_num(pl.col("sponsored_probability"), 2))
                    if "sponsored_probability" in a.columns
                    else pl.lit("")
                ).fill_null(""),
            ),
            recommended_action=pl.when(pl.col("_own"))
            .then(
                pl.format(
                    "Pause paid amplification behind note {}; ask the creator today to switch on the platform's "
                    "brand-partner label and put #广告 in the title or first line",
                    pl.col("note_id"),
                )
            )
            .otherwise(
                pl.format(
                    "Remind the creator of the contract's disclosure clause (note {}): hidden ads for any brand "
                    "put the brand's own notes under suspicion",
                    pl.col("note_id"),
                )
            ),
            evidence_ids=pl.concat_list(pl.col("note_id").cast(pl.String)),
        )
    )


def _disclosure_rank(cfg: MonitorConfig) -> dict[str, int]:
    return {k: SEVERITY_RANK[v] for k, v in cfg.disclosure.severity_by_disclosure.items()}


# ------------------------------------------------------------------------------------------
# Follower jumps and fake-share rises


def _follower_jumps(
    history: pl.DataFrame | None,
    notes: pl.DataFrame | None,
    active: pl.DataFrame,
    since: dt.datetime,
    as_of: dt.datetime,
    cfg: MonitorConfig,
) -> pl.DataFrame:
    """One alert per partner whose followers jumped since ``since`` with no note explaining it.

    The gain at day d is measured against the count ``window_days`` earlier, but never against a
    day before the last count preceding ``since``: a jump already reported stays out.
    """
    if not _usable(history, ["creator_id", "date", "follower_count"]):
        return _empty()
    fc = cfg.followers
    h = (
        history.select("creator_id", pl.col("date").cast(pl.Date), pl.col("follower_count").cast(pl.Int64))
        .filter(pl.col("creator_id").is_in(active["creator_id"].implode()))
        .drop_nulls()
        .unique(["creator_id", "date"], keep="last")
        .sort("creator_id", "date")
    )
    since_d, as_of_d = since.date(), as_of.date()
    floor = since_d - dt.timedelta(days=1)
    left = h.filter(pl.col("date").is_between(since_d, as_of_d)).with_columns(
        _base_key=pl.max_horizontal(pl.col("date") - pl.duration(days=fc.window_days), pl.lit(floor))
    ).sort("_base_key")
    right = h.select("creator_id", pl.col("date").alias("_base_date"), pl.col("follower_count").alias("_base")).sort("_base_date")
    j = left.join_asof(
        right, left_on="_base_key", right_on="_base_date", by="creator_id", strategy="backward", check_sortedness=False
    )
    j = j.filter(pl.col("_base").is_not_null() & (pl.col("_base_date") < pl.col("date"))).with_columns(
        _gain=pl.col("follower_count") - pl.col("_base"),
    ).with_columns(_share=pl.col("_gain") / pl.col("_base").clip(lower_bound=1))
    j = j.filter((pl.col("_share") >= fc.min_share) & (pl.col("_gain") >= fc.min_followers))
    if j.is_empty():
        return _empty()
    # The largest relative jump per creator is the episode reported.
    ep = j.sort("_share", descending=True).unique("creator_id", keep="first")
    if _usable(notes, ["creator_id", "published_at"]):
        n = _as_naive_datetime(notes, "published_at").select(
            "creator_id",
            (pl.col("note_id") if "note_id" in notes.columns else pl.lit(None)).cast(pl.String).alias("_nid"),
            pl.col("published_at").dt.date().alias("_pd"),
            sum(
                (pl.col(c).cast(pl.Int64).fill_null(0) if c in notes.columns else pl.lit(0, pl.Int64))
                for c in ("likes", "collects", "comments")
            ).alias("_eng"),
        )
        expl = (
            ep.select("creator_id", "_base_date", "date", "_gain")
            .join(n, on="creator_id", how="inner")
            .filter(
                pl.col("_pd").is_between(pl.col("_base_date") - pl.duration(days=fc.explain_days_before), pl.col("date"))
                & (pl.col("_eng") * fc.followers_per_engagement >= pl.col("_gain"))
            )
            .select("creator_id")
            .unique()
        )
        ep = ep.join(expl, on="creator_id", how="anti")
    if ep.is_empty():
        return _empty()
    ep = ep.with_columns(_brand=pl.lit(None, pl.String))
    ep = _attach_partner_brand(ep, active)
    return _conform(
        ep.with_columns(
            kind=pl.lit("follower_jump"),
            severity=_severity_from(pl.col("_share") >= fc.high_share, pl.lit(True)),
            summary=pl.format(
                "Followers rose by {} (+{}%) from {} to {} ({} to {}), and no note of the creator explains it.",
                _fmt_int(pl.col("_gain")),
                _fmt_num(pl.col("_share") * 100),
                _fmt_int(pl.col("_base")),
                _fmt_int(pl.col("follower_count")),
                pl.col("_base_date").cast(pl.String),
                pl.col("date").cast(pl.String),
            ),
            recommended_action=pl.lit(
                "Ask the creator for their follower analytics and re-sample their followers; pay the next notes "
                "on delivered engagement, not a flat fee, until the jump is explained"
            ),
            evidence_ids=pl.concat_list(pl.col("_base_date").cast(pl.String), pl.col("date").cast(pl.String)),
        )
    )


def _fake_share_rises(
    current: pl.DataFrame | None,
    previous_scores: pl.DataFrame | None,
    previous_snapshot: pl.DataFrame | None,
    active: pl.DataFrame,
    cfg: MonitorConfig,
) -> pl.DataFrame:
    """One alert per partner whose fake-follower share rose vs the previous run.

    The rise must reach ``rise_points`` and, when the current Wilson lower bound is known, that
    bound must exceed the old share: a bigger random sample alone does not alert.
    """
    if not _usable(current, ["creator_id", "fake_share"]):
        return _empty()
    if _usable(previous_scores, ["creator_id", "fake_share"]):
        prev = previous_scores.select("creator_id", pl.col("fake_share").alias("_prev"))
    elif _usable(previous_snapshot, ["creator_id", "fake_share"]):
        prev = _latest_snapshot(previous_snapshot).select("creator_id", pl.col("fake_share").alias("_prev"))
    else:
        return _empty()
    prev = prev.drop_nulls().unique("creator_id", keep="last")
    low = pl.col("fake_share_low") if "fake_share_low" in current.columns else pl.lit(None, pl.Float64)
    size = pl.col("sample_size") if "sample_size" in current.columns else pl.lit(None, pl.Int64)
    cur = current.select("creator_id", pl.col("fake_share").cast(pl.Float64), low.cast(pl.Float64).alias("_low"), size.cast(pl.Int64).alias("_n"))
    j = cur.join(prev, on="creator_id", how="inner").with_columns(_rise=pl.col("fake_share") - pl.col("_prev"))
    fs = cfg.fake_share
    j = j.filter((pl.col("_rise") >= fs.rise_points) & (pl.col("_low").is_null() | (pl.col("_low") > pl.col("_prev"))))
    if j.is_empty():
        return _empty()
    j = _attach_partner_brand(j.with_columns(_brand=pl.lit(None, pl.String)), active)
    return _conform(
        j.with_columns(
            kind=pl.lit("fake_share_rise"),
            severity=_severity_from(pl.col("_rise") >= fs.high_rise_points, pl.lit(True)),
            summary=pl.format(
                "Fake-follower share rose from {}% to {}% (+{} points{}){}.",
                _fmt_num(pl.col("_prev") * 100),
                _fmt_num(pl.col("fake_share") * 100),
                _fmt_num(pl.col("_rise") * 100),
                pl.when(pl.col("_low").is_not_null()).then(pl.format("; lower bound {}%", _fmt_num(pl.col("_low") * 100))).otherwise(pl.lit("")),
                pl.when(pl.col("_n").is_not_null()).then(pl.format(" in a sample of {} followers", pl.col("_n"))).otherwise(pl.lit("")),
            ),
            recommended_action=pl.lit(
                "Ask the creator whether followers were bought; pay the next notes on delivered engagement and "
                "hold any renewal until a fresh follower sample is clean"
            ),
            evidence_ids=_EMPTY_LIST,
            _id_extra=pl.format("{}|{}", _fmt_num(pl.col("_prev"), 3), _fmt_num(pl.col("fake_share"), 3)),
        )
    )


# ------------------------------------------------------------------------------------------
# Competitor deals


def _competitor_deals(
    associations: pl.DataFrame | None,
    note_info: pl.DataFrame,
    active: pl.DataFrame,
    brief_map: pl.DataFrame,
    since: dt.datetime,
    as_of: dt.datetime,
    cfg: MonitorConfig,
) -> pl.DataFrame:
    """One alert per partner and competitor with sponsored notes for it published since ``since``.

    A competitor is one of a brief whose brand is the partner brand. With note times known, only
    notes published in [since, as_of] and sponsored (or of unknown sponsorship) count; without
    them, an association last seen since ``since`` counts with all its notes.
    """
    need = ["creator_id", "brief", "brand", "relation"]
    if not _usable(associations, need) or brief_map.is_empty():
        return _empty()
    sponsored_n = pl.col("sponsored_notes") if "sponsored_notes" in associations.columns else pl.lit(1)
    comp = (
        associations.filter((pl.col("relation") == "competitor") & (sponsored_n.fill_null(0) > 0))
        .join(brief_map, on="brief", how="inner")
        .join(active.rename({"brand": "brief_brand"}), on=["creator_id", "brief_brand"], how="inner")
        .filter(pl.col("brand") != pl.col("brief_brand"))
        .with_columns(
            _ids=(pl.col("note_ids") if "note_ids" in associations.columns else _EMPTY_LIST).cast(pl.List(pl.String)).fill_null([]),
            _last=(pl.col("last_seen") if "last_seen" in associations.columns else pl.lit(None)).cast(pl.Datetime("us")),
        )
    )
    if comp.is_empty():
        return _empty()
    rows = comp.select("creator_id", "brief_brand", pl.col("brand").alias("_competitor"), "_ids", "_last")
    if not note_info.is_empty():
        ex = rows.explode("_ids").rename({"_ids": "note_id"}).join(
            note_info.select("note_id", "published_at", "sponsored"), on="note_id", how="inner"
        )
        ex = ex.filter(pl.col("published_at").is_between(since, as_of) & pl.col("sponsored").fill_null(True))
        new = ex.group_by("creator_id", "brief_brand", "_competitor", maintain_order=True).agg(
            _new=pl.col("note_id").sort_by("published_at").unique(maintain_order=True), _first=pl.col("published_at").min()
        )
    else:
        new = rows.filter(pl.col("_last").is_between(since, as_of)).select(
            "creator_id", "brief_brand", "_competitor", pl.col("_ids").alias("_new"), pl.col("_last").alias("_first")
        )
    new = new.unique(["creator_id", "brief_brand", "_competitor"], keep="first").filter(pl.col("_new").list.len() > 0)
    if new.is_empty():
        return _empty()
    return _conform(
        new.rename({"brief_brand": "brand"}).with_columns(
            kind=pl.lit("competitor_deal"),
            severity=pl.lit(cfg.competitor.severity),
            summary=pl.format(
                "{} new sponsored note(s) for competitor {} since {} (first: {}).",
                pl.col("_new").list.len(),
                pl.col("_competitor"),
                _fmt_time(pl.lit(since)),
                _fmt_time(pl.col("_first")),
            ),
            recommended_action=pl.format(
                "Check the contract's exclusivity clause against the {} note(s); raise it with the creator and hold "
                "payment of open notes until it is settled",
                pl.col("_competitor"),
            ),
            evidence_ids=pl.col("_new").list.head(cfg.max_evidence),
            _id_extra=pl.col("_competitor"),
        )
    )


# ------------------------------------------------------------------------------------------
# Negative content: other creators' notes naming the partner, and waves under brand notes


def _negative_text(text: pl.Series, threshold: float) -> pl.DataFrame:
    """Per text: P(negative), controversy cues, and ``negative`` (P >= threshold or a cue)."""
    from kol_vetting.text.sentiment import negative_probability

    df = pl.DataFrame({"_t": text}).with_columns(_p=negative_probability(text))
    df = df.with_columns(
        _cues=match_terms(pl.col("_t"), "controversy", _NEGATIVE_GROUPS).fill_null([]),
        _harm=match_terms(pl.col("_t"), "controversy", _COMPLAINT_GROUPS).fill_null([]).list.len() > 0,
    )
    return df.with_columns(
        _negative=(pl.col("_p").fill_null(0.0) >= threshold) | (pl.col("_cues").list.len() > 0)
    ).drop("_t")


def _kol_backlash_notes(
    notes: pl.DataFrame | None,
    creators: pl.DataFrame,
    active: pl.DataFrame,
    since: dt.datetime,
    as_of: dt.datetime,
    cfg: MonitorConfig,
) -> pl.DataFrame:
    """Negative notes by other creators that name an active partner, published in
    [since - kol_backlash_lookback_hours, as_of]: columns note_id, poster_id, published_at,
    title, likes, poster_followers, poster_name, creator_id (the partner named)."""
    schema = {
        "note_id": pl.String, "poster_id": pl.String, "published_at": pl.Datetime("us"), "title": pl.String,
        "likes": pl.Int64, "poster_followers": pl.Int64, "poster_name": pl.String, "creator_id": pl.String,
    }
    if not _usable(notes, ["note_id", "creator_id", "published_at"]) or creators.is_empty():
        return pl.DataFrame(schema=schema)
    kb = cfg.kol_backlash
    names = (
        creators.filter(pl.col("creator_id").is_in(active["creator_id"].implode()))
        .select("creator_id", pl.concat_list("display_name", "handle").alias("_name"))
        .explode("_name")
        .drop_nulls()
        .with_columns(_name=compact_expr(pl.col("_name")).str.strip_chars())
        .filter(pl.col("_name").str.len_chars() >= kb.min_name_chars)
        .unique("_name", keep="first")
    )
    if names.is_empty():
        return pl.DataFrame(schema=schema)
    start = since - dt.timedelta(hours=cfg.classify.kol_backlash_lookback_hours)
    n = _as_naive_datetime(notes, "published_at").filter(pl.col("published_at").is_between(start, as_of))
    if n.is_empty():
        return pl.DataFrame(schema=schema)
    name_map = dict(zip(names["_name"], names["creator_id"], strict=True))
    n = n.with_columns(_text=_note_text(n)).with_columns(
        _named=compact_expr(pl.col("_text")).fill_null("").str.extract_many(list(name_map))
        .list.eval(pl.element().replace_strict(name_map, default=None))
        .list.drop_nulls()
        .list.unique()
    ).filter(pl.col("_named").list.len() > 0)
    if n.is_empty():
        return pl.DataFrame(schema=schema)
    n = n.explode("_named").filter(pl.col("_named") != pl.col("creator_id"))
    if n.is_empty():
        return pl.DataFrame(schema=schema)
    neg = _negative_text(n["_text"], cfg.wave.negative_probability)
    n = pl.concat([n, neg], how="horizontal").filter(pl.col("_negative"))
    poster = creators.select(
        pl.col("creator_id").alias("poster_id"),
        pl.col("follower_count").alias("poster_followers"),
        pl.coalesce("display_name", "handle", "creator_id").alias("poster_name"),
    )
    out = n.select(
        "note_id",
        pl.col("creator_id").alias("poster_id"),
        "published_at",
        (pl.col("title") if "title" in n.columns else pl.lit(None)).cast(pl.String).alias("title"),
        (pl.col("likes") if "likes" in n.columns else pl.lit(0)).cast(pl.Int64).fill_null(0).alias("likes"),
        pl.col("_named").alias("creator_id"),
    ).join(poster, on="poster_id", how="left").with_columns(pl.col("poster_name").fill_null(pl.col("poster_id")))
    return out.select([pl.col(c).cast(t) for c, t in schema.items()])


def _kol_backlash_alerts(
    backlash: pl.DataFrame, active: pl.DataFrame, since: dt.datetime, cfg: MonitorConfig
) -> pl.DataFrame:
    """One alert per partner and negative note by another creator published since ``since``;
    severity by the poster's reach (followers) and the note's likes."""
    b = backlash.filter(pl.col("published_at") >= since)
    if b.is_empty():
        return _empty()
    # The alert goes to every brand the named partner works with.
    b = _attach_partner_brand(b.with_columns(_brand=pl.lit(None, pl.String)), active)
    kb = cfg.kol_backlash
    followers = pl.col("poster_followers").fill_null(0)
    sev = _severity_from(
        (followers >= kb.high_followers) | (pl.col("likes") >= kb.high_likes),
        (followers >= kb.significant_followers) | (pl.col("likes") >= kb.significant_likes),
    )
    return _conform(
        b.with_columns(
            kind=pl.lit("kol_backlash_note"),
            severity=sev,
            content_kind=pl.lit("kol_backlash"),
            summary=pl.format(
                "{} ({} followers) posted a negative note naming the partner on {}: \"{}\" ({} likes).",
                pl.col("poster_name"),
                pl.when(pl.col("poster_followers").is_not_null())
                .then(_fmt_int(pl.col("poster_followers")))
                .otherwise(pl.lit("unknown")),
                _fmt_time(pl.col("published_at")),
                pl.col("title").fill_null("").str.slice(0, 40),
                _fmt_int(pl.col("likes")),
            ),
            recommended_action=pl.format(
                "Pause paid amplification behind the partner's brand notes; contact the creator privately; agree a "
                "holding statement before anyone answers note {} in public",
                pl.col("note_id"),
            ),
            evidence_ids=pl.concat_list(pl.col("note_id")),
        )
    )


def _negative_waves(
    note_info: pl.DataFrame,
    comments: pl.DataFrame | None,
    creators: pl.DataFrame,
    active: pl.DataFrame,
    backlash: pl.DataFrame,
    since: dt.datetime,
    as_of: dt.datetime,
    cfg: MonitorConfig,
) -> pl.DataFrame:
    """Waves of negative comments since ``since`` under the partners' sponsored notes for their
    brand: graded by reach and classified by content kind. One alert per note and brand."""
    if note_info.is_empty() or not _usable(comments, ["comment_id", "note_id", "created_at"]):
        return _empty()
    w, c = cfg.wave, cfg.classify
    brand_notes = note_info.explode("brands").rename({"brands": "brand"}).drop_nulls("brand")
    if brand_notes.is_empty():
        return _empty()
    com = _as_naive_datetime(comments, "created_at").with_columns(
        (pl.col("text") if "text" in comments.columns else pl.lit(None)).cast(pl.String).alias("text"),
        (pl.col("likes") if "likes" in comments.columns else pl.lit(0)).cast(pl.Int64).fill_null(0).alias("likes"),
        (pl.col("commenter_id") if "commenter_id" in comments.columns else pl.lit(None)).cast(pl.String).alias("commenter_id"),
        (pl.col("commenter_name") if "commenter_name" in comments.columns else pl.lit(None)).cast(pl.String).alias("commenter_name"),
    )
    # Comments since `since` on any note naming a partner brand (the trend needs them all).
    recent = com.filter(
        pl.col("created_at").is_between(since, as_of) & pl.col("note_id").is_in(brand_notes["note_id"].implode())
    )
    if recent.is_empty():
        return _empty()
    scored = pl.concat([recent, _negative_text(recent["text"], w.negative_probability)], how="horizontal")
    misinfo_terms = [t for t in (_fold(x) for x in c.misinformation_terms) if t]
    misinfo = (
        compact_expr(pl.col("text")).fill_null("").str.contains_any(misinfo_terms)
        if misinfo_terms
        else pl.lit(False)
    )
    scored = scored.with_columns(_misinfo=misinfo).with_columns(
        _negative=pl.col("_negative") | (pl.col("_misinfo") & (pl.col("_p").fill_null(0.0) >= c.misinformation_min_probability))
    )

    # Trend: the brand's notes (any creator) with negative comments at once.
    trend = (
        scored.filter(pl.col("_negative"))
        .group_by("note_id")
        .agg(_neg=pl.len())
        .filter(pl.col("_neg") >= c.trend_min_negative_comments)
        .join(brand_notes.select("note_id", "creator_id", "brand"), on="note_id")
        .group_by("brand")
        .agg(_trend_notes=pl.col("note_id").n_unique(), _trend_creators=pl.col("creator_id").n_unique())
        .with_columns(_trend=(pl.col("_trend_notes") >= c.trend_min_notes) & (pl.col("_trend_creators") >= c.trend_min_creators))
    )

    # The partners' own sponsored notes for their brand.
    pnotes = brand_notes.join(active, on=["creator_id", "brand"], how="inner").filter(pl.col("sponsored").fill_null(False))
    if pnotes.is_empty():
        return _empty()
    per_note = scored.filter(pl.col("note_id").is_in(pnotes["note_id"].implode()))
    neg = per_note.filter(pl.col("_negative"))
    if neg.is_empty():
        return _empty()
    stats = (
        per_note.group_by("note_id")
        .agg(_recent=pl.len())
        .join(
            neg.group_by("note_id").agg(
                _neg=pl.len(),
                _agree=pl.col("likes").sum(),
                _first=pl.col("created_at").min(),
                _last=pl.col("created_at").max(),
                _q10=pl.col("created_at").cast(pl.Int64).quantile(0.1, "lower"),
                _q90=pl.col("created_at").cast(pl.Int64).quantile(0.9, "higher"),
                _harm_share=pl.col("_harm").mean(),
                _misinfo_share=pl.col("_misinfo").mean(),
                _top=pl.col("comment_id").sort_by("likes", descending=True),
            ),
            on="note_id",
        )
        .with_columns(
            _neg_share=pl.col("_neg") / pl.col("_recent"),
            _span_h=(pl.col("_last") - pl.col("_first")).dt.total_seconds() / 3600.0,
            _core_h=(pl.col("_q90") - pl.col("_q10")) / 3_600_000_000.0,
        )
        .with_columns(_per_hour=pl.col("_neg") / pl.col("_span_h").clip(lower_bound=1.0))
        .filter(
            (pl.col("_neg") >= w.min_comments)
            & (pl.col("_neg_share") >= w.min_negative_share)
            & (pl.col("_per_hour") >= w.min_per_hour)
        )
    )
    if stats.is_empty():
        return _empty()

    stats = stats.join(_baseline_rates(com, pnotes, since, w.baseline_days), on="note_id", how="left").with_columns(
        _velocity=pl.col("_per_hour") / pl.col("_base_rate")
    )
    wave_neg = neg.filter(pl.col("note_id").is_in(stats["note_id"].implode()))
    stats = stats.join(_new_account_share(wave_neg, com, since, c.default_nickname_pattern), on="note_id", how="left")
    stats = stats.join(_similarity(wave_neg, c), on="note_id", how="left").with_columns(
        pl.col("_dup_share").fill_null(0.0), pl.col("_mean_jaccard").fill_null(0.0), pl.col("_new_share").fill_null(0.0)
    )
    waves = pnotes.join(stats, on="note_id", how="inner").join(trend, on="brand", how="left")
    waves = waves.join(
        creators.select("creator_id", pl.col("follower_count").alias("_followers")), on="creator_id", how="left"
    )
    # KOL backlash: other creators' negative notes naming the partner shortly before or during the wave.
    bl = (
        waves.select("note_id", "creator_id", "_first", "_last")
        .join(backlash.select("creator_id", pl.col("note_id").alias("_bl_note"), pl.col("published_at").alias("_bl_at")), on="creator_id")
        .filter(
            pl.col("_bl_at").is_between(
                pl.col("_first") - pl.duration(seconds=int(c.kol_backlash_lookback_hours * 3600)), pl.col("_last")
            )
        )
        .group_by("note_id")
        .agg(_bl_notes=pl.col("_bl_note").unique(maintain_order=True))
    )
    waves = waves.join(bl, on="note_id", how="left").with_columns(pl.col("_bl_notes").fill_null([]))

    coordinated = (
        (pl.col("_dup_share") >= c.coordinated_duplicate_share)
        & (pl.col("_new_share") >= c.coordinated_new_account_share)
        & (pl.col("_core_h") <= c.coordinated_window_hours)
    )
    misinfo_kind = (pl.col("_misinfo_share") >= c.misinformation_share) & (pl.col("_misinfo_share") >= pl.col("_harm_share"))
    content_kind = (
        pl.when(coordinated).then(pl.lit("coordinated_inauthentic"))
        .when(pl.col("_bl_notes").list.len() > 0).then(pl.lit("kol_backlash"))
        .when(misinfo_kind).then(pl.lit("misuse_or_misinformation"))
        .when(pl.col("_harm_share") >= c.complaint_cue_share).then(pl.lit("genuine_complaint"))
        .when(pl.col("_trend").fill_null(False)).then(pl.lit("trend"))
        .otherwise(pl.lit("genuine_complaint"))
    )
    waves = waves.with_columns(content_kind=content_kind)

    followers = pl.col("_followers").fill_null(0)
    velocity = pl.col("_velocity").fill_null(0.0)

    def reach(t: ReachThresholds) -> pl.Expr:
        organic = (pl.col("_agree") >= t.agree_likes) | (followers >= t.creator_followers)
        # A coordinated campaign manufactures its own volume and speed: only real agreement and
        # the creator's audience count as its reach.
        manufactured = (velocity >= t.velocity_ratio) | (pl.col("_neg") >= t.comments)
        return organic | (manufactured & (pl.col("content_kind") != "coordinated_inauthentic"))

    waves = waves.with_columns(severity=_severity_from(reach(w.high), reach(w.significant)))
    note = pl.col("note_id")
    action = (
        pl.when(pl.col("content_kind") == "coordinated_inauthentic")
        .then(pl.format(
            "Report the accounts commenting on note {} to the platform as coordinated inauthentic activity; do not "
            "argue in the comments; pause paid amplification behind note {} until it is cleared", note, note))
        .when(pl.col("content_kind") == "kol_backlash")
        .then(pl.format(
            "Pause paid amplification behind note {}; contact the creator privately; read the other creators' notes "
            "and agree a holding statement before anyone answers them", note))
        .when(pl.col("content_kind") == "misuse_or_misinformation")
        .then(pl.format(
            "Pause paid amplification behind note {}; contact the creator privately and post a factual correction "
            "(how to use the product, test reports) rather than a denial", note))
        .when(pl.col("content_kind") == "trend")
        .then(pl.format(
            "Pause paid amplification behind note {} and the brand's other sponsored notes; prepare a brand statement; "
            "do not let the creator answer alone", note))
        .otherwise(pl.format(
            "Pause paid amplification behind note {}; contact the creator privately; answer the complaints with a "
            "customer-care route (refund, exchange, contact) within the response window", note))
    )
    velocity_txt = (
        pl.when(pl.col("_velocity").is_not_null())
        .then(pl.format(", {}x the note's usual comment rate", _fmt_num(pl.col("_velocity"))))
        .otherwise(pl.lit(", on a new note"))
    )
    kind_txt = (
        pl.when(pl.col("content_kind") == "coordinated_inauthentic")
        .then(
            pl.format(
                "; {}% near-duplicates (mean text similarity {}), {}% new accounts, 80% of them within {} hours",
                _fmt_num(pl.col("_dup_share") * 100, 0),
                _fmt_num(pl.col("_mean_jaccard"), 2),
                _fmt_num(pl.col("_new_share") * 100, 0),
                _fmt_num(pl.col("_core_h")),
            )
        )
        .when(pl.col("content_kind") == "kol_backlash")
        .then(pl.format("; follows {} negative note(s) by other creators naming the partner", pl.col("_bl_notes").list.len()))
        .when(pl.col("content_kind") == "trend")
        .then(pl.format("; {} of the brand's notes by {} creators have negative waves", pl.col("_trend_notes"), pl.col("_trend_creators")))
        .otherwise(pl.lit(""))
    )
    summary = pl.format(
        "{} negative comments ({}% of {} since {}) under sponsored note {} in {} ({} per hour{}); {} likes on "
        "them; the creator has {} followers{}.",
        pl.col("_neg"),
        _fmt_num(pl.col("_neg_share") * 100, 0),
        pl.col("_recent"),
        _fmt_time(pl.lit(since)),
        note,
        pl.when(pl.col("_span_h") < 1)
        .then(pl.lit("under an hour"))
        .otherwise(pl.format("{} hours", _fmt_num(pl.col("_span_h")))),
        _fmt_num(pl.col("_per_hour")),
        velocity_txt,
        _fmt_int(pl.col("_agree")),
        pl.when(pl.col("_followers").is_not_null()).then(_fmt_int(pl.col("_followers"))).otherwise(pl.lit("an unknown number of")),
        kind_txt,
    )
    evidence = pl.concat_list(pl.lit([], dtype=pl.List(pl.String)), note.cast(pl.String), pl.col("_bl_notes"), pl.col("_top").list.head(cfg.max_evidence))
    return _conform(
        waves.with_columns(
            kind=pl.lit("negative_wave_on_brand_note"),
            recommended_action=action,
            summary=summary,
            evidence_ids=evidence.list.head(cfg.max_evidence),
            _id_extra=note.cast(pl.String),
        )
    )


def _baseline_rates(com: pl.DataFrame, pnotes: pl.DataFrame, since: dt.datetime, days: int) -> pl.DataFrame:
    """Per note: usual comments per hour over ``days`` days before ``since`` (or since
    publication). Notes published after ``since`` have no baseline (null). At least one comment
    is assumed, so a quiet note's rate is small but not zero."""
    base = pnotes.select("note_id", "published_at").unique("note_id").with_columns(
        _from=pl.max_horizontal(pl.col("published_at"), pl.lit(since - dt.timedelta(days=days)))
    ).with_columns(_hours=(pl.lit(since) - pl.col("_from")).dt.total_seconds() / 3600.0)
    counts = (
        com.join(base.select("note_id", "_from"), on="note_id")
        .filter((pl.col("created_at") >= pl.col("_from")) & (pl.col("created_at") < since))
        .group_by("note_id")
        .agg(_n=pl.len())
    )
    return base.join(counts, on="note_id", how="left").select(
        "note_id",
        pl.when(pl.col("_hours") > 0)
        .then(pl.col("_n").fill_null(0).clip(lower_bound=1) / pl.col("_hours").clip(lower_bound=1.0))
        .otherwise(None)
        .alias("_base_rate"),
    )


def _new_account_share(neg: pl.DataFrame, com: pl.DataFrame, since: dt.datetime, nickname_pattern: str) -> pl.DataFrame:
    """Per note: share of negative comments whose author is new to us (no comment anywhere before
    ``since``) or carries a platform default nickname. Unknown authors count as not new."""
    authors = neg.get_column("commenter_id").drop_nulls().unique()
    seen = (
        com.filter((pl.col("created_at") < since) & pl.col("commenter_id").is_in(authors.implode()))
        .select("commenter_id")
        .unique()
        .with_columns(_seen=pl.lit(True))
    )
    d = neg.join(seen, on="commenter_id", how="left").with_columns(
        _new=(pl.col("commenter_id").is_not_null() & pl.col("_seen").is_null())
        | pl.col("commenter_name").fill_null("").str.contains(nickname_pattern)
    )
    return d.group_by("note_id").agg(_new_share=pl.col("_new").mean())


def _similarity(neg: pl.DataFrame, c: ClassifyConfig) -> pl.DataFrame:
    """Per note: share of negative comments with a near-duplicate (character-shingle Jaccard >=
    ``near_duplicate_jaccard``) and the mean pairwise Jaccard, over the earliest
    ``max_comments_compared`` negative comments. Pairs are found by a self-join on shared
    shingles, so only pairs that share something are materialised."""
    k = c.shingle_chars
    d = (
        neg.sort("created_at")
        .group_by("note_id", maintain_order=True)
        .head(c.max_comments_compared)
        .select("note_id", "comment_id", "text")
        .with_columns(_core=core_expr(pl.col("text")).fill_null(""))
        # Emoji-only comments have an empty core: compare their normalised text instead.
        .with_columns(
            _s=pl.when(pl.col("_core").str.len_chars() > 0)
            .then(pl.col("_core"))
            .otherwise(normalize_expr(pl.col("text")).fill_null(""))
        )
        .filter(pl.col("_s").str.len_chars() > 0)
    )
    n_per_note = d.group_by("note_id").agg(_n=pl.len())
    sh = (
        d.with_columns(_i=pl.int_ranges(0, pl.max_horizontal(pl.col("_s").str.len_chars() - k + 1, pl.lit(1))))
        .explode("_i")
        .select("note_id", "comment_id", pl.col("_s").str.slice(pl.col("_i"), k).alias("_sh"))
        .unique()
    )
    sizes = sh.group_by("note_id", "comment_id").agg(_size=pl.len())
    pairs = (
        sh.join(sh.rename({"comment_id": "_other"}), on=["note_id", "_sh"])
        .filter(pl.col("comment_id") < pl.col("_other"))
        .group_by("note_id", "comment_id", "_other")
        .agg(_inter=pl.len())
        .join(sizes, on=["note_id", "comment_id"])
        .join(sizes.rename({"comment_id": "_other", "_size": "_size_o"}), on=["note_id", "_other"])
        .with_columns(_j=pl.col("_inter") / (pl.col("_size") + pl.col("_size_o") - pl.col("_inter")))
    )
    dup = pairs.filter(pl.col("_j") >= c.near_duplicate_jaccard)
    dup_ids = pl.concat(
        [dup.select("note_id", "comment_id"), dup.select("note_id", pl.col("_other").alias("comment_id"))]
    ).unique()
    dup_n = dup_ids.group_by("note_id").agg(_dups=pl.len())
    jsum = pairs.group_by("note_id").agg(_jsum=pl.col("_j").sum())
    return (
        n_per_note.join(dup_n, on="note_id", how="left")
        .join(jsum, on="note_id", how="left")
        .select(
            "note_id",
            (pl.col("_dups").fill_null(0) / pl.col("_n")).alias("_dup_share"),
            pl.when(pl.col("_n") > 1)
            .then(pl.col("_jsum").fill_null(0.0) / (pl.col("_n") * (pl.col("_n") - 1) / 2))
            .otherwise(0.0)
            .alias("_mean_jaccard"),
        )
    )


# ------------------------------------------------------------------------------------------
# Finishing: partners, response windows, ids


def _finish(parts: list[pl.DataFrame], creators: pl.DataFrame, as_of: dt.datetime, cfg: MonitorConfig) -> pl.DataFrame:
    parts = [p for p in parts if not p.is_empty()]
    if not parts:
        return pl.DataFrame(schema=PARTNER_ALERTS_SCHEMA)
    df = pl.concat([_conform(p) for p in parts])
    hours = pl.col("severity").replace_strict(
        {"high": cfg.response.high_hours, "significant": cfg.response.significant_hours}, default=None, return_dtype=pl.Int64
    )
    df = df.with_columns(
        evidence_ids=pl.col("evidence_ids").fill_null([]),
        response_hours=hours,
    ).with_columns(
        response_window=pl.when(pl.col("response_hours").is_not_null())
        .then(pl.format("within {} hours", pl.col("response_hours")))
        .otherwise(pl.lit("none")),
    )
    keys = df.select(
        pl.concat_str(
            [
                pl.col("creator_id"),
                pl.col("brand"),
                pl.col("kind"),
                pl.col("_id_extra").fill_null(""),
                pl.col("evidence_ids").list.sort().list.join(","),
            ],
            separator="|",
            ignore_nulls=True,
        )
    ).to_series()
    # A content hash, not Polars' hash: it must be stable across versions and processes.
    ids = [hashlib.sha256(k.encode("utf-8")).hexdigest()[:16] for k in keys.to_list()]
    df = (
        df.with_columns(alert_id=pl.Series(ids, dtype=pl.String), detected_at=pl.lit(as_of, pl.Datetime("us")))
        .unique("alert_id", keep="first", maintain_order=True)
        .join(creators.select("creator_id", "display_name"), on="creator_id", how="left")
        .with_columns(_rank=pl.col("severity").replace_strict(SEVERITY_RANK, default=3, return_dtype=pl.Int64))
        .sort(["_rank", "creator_id", "brand", "kind", "alert_id"])
    )
    return df.select([pl.col(c).cast(t) for c, t in PARTNER_ALERTS_SCHEMA.items()])


# ------------------------------------------------------------------------------------------
# Presentation


def _md_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def alerts_markdown(alerts: pl.DataFrame, *, max_rows: int = 50) -> str:
    """Alerts as Markdown for the Dagster UI: a count line, then one table row per alert
    (most urgent first, at most ``max_rows``), with what to do and by when."""
    if alerts is None or alerts.is_empty():
        return "**No alerts** for active partners in this run.\n"
    counts = {s: alerts.filter(pl.col("severity") == s).height for s in SEVERITIES}
    lines = [
        f"**{alerts.height} alert(s)** for active partners: "
        + ", ".join(f"{counts[s]} {s}" for s in SEVERITIES)
        + ".",
        "",
        "| severity | respond | creator | brand | kind | content | what happened | what to do | evidence |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rank = pl.col("severity").replace_strict(SEVERITY_RANK, default=3, return_dtype=pl.Int64)
    shown = alerts.sort(rank, maintain_order=True).head(max_rows)
    for row in shown.iter_rows(named=True):
        ev = list(row.get("evidence_ids") or [])
        ev_txt = ", ".join(f"`{e}`" for e in ev[:5]) + (f" +{len(ev) - 5} more" if len(ev) > 5 else "")
        who = row.get("display_name") or row.get("creator_id")
        creator = f"{who} (`{row.get('creator_id')}`)" if who != row.get("creator_id") else f"`{who}`"
        cells = [
            f"**{row.get('severity')}**",
            row.get("response_window"),
            creator,
            row.get("brand"),
            ALERT_KINDS.get(row.get("kind") or "", row.get("kind")),
            (row.get("content_kind") or "").replace("_", " "),
            row.get("summary"),
            row.get("recommended_action"),
        ]
        lines.append("| " + " | ".join(_md_cell(x) for x in cells) + " | " + ev_txt.replace("|", "\\|") + " |")
    if alerts.height > max_rows:
        lines.append("")
        lines.append(f"_{alerts.height - max_rows} more alert(s) not shown._")
    return "\n".join(lines) + "\n"
