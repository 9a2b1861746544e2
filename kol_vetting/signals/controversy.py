"""Past-controversy flags and the per-creator controversy risk.

A controversy is something the public already holds against a creator. Each flag points at its
evidence (note and comment ids, a date) and carries a severity and a recency weight. Kinds:

* ``backlash_wave``: a burst of negative comments under one of the creator's notes, inside a
  short window (``wave_window_hours``), far above the creator's usual negative comments per note
  and making up a large share of the comments in that window. A single harsh comment, or a few
  grumbles under an ad, is not a wave. Negative comment = a complaint cue from the lexicons
  (controversy vocabulary, complaint slang) confirmed by the sentiment model, or a very
  confident model score alone (the model over-reacts to 😭-style emoji, hence the high bar).
  Severity grows with the size of the burst, its share of the comments and how much other
  users agree (likes on the negative comments).
* ``apology_note``: the creator's own note apologising or issuing a statement (道歉, 致歉,
  声明 ...); stronger when it follows a wave.
* ``third_party_callout``: another creator's note that names the creator (display name, @name or
  handle) together with call-out language (避雷, 翻车, 塌房, 智商税 ...). A name shared by several
  creators splits the weight between them. Reach (engagement of the call-out) raises severity.
* ``offensive_content``: the creator's own note scored offensive by the COLD-trained model and
  holding an insult or slur from ``lexicons/offensive.yaml`` (value conflict).
* ``lexicon_hit``: scandal / plagiarism / value-conflict vocabulary in the creator's own notes
  (not call-outs of others, not apologies). A pointer for a reviewer, weighted low.

Categories follow ``lexicons/controversy.yaml``: product_harm, false_claims, scandal,
plagiarism, value_conflict, backlash. Risk = 100 * (1 - prod(1 - severity * recency)) over the
creator's flags, recency = 0.5 ** (age_days / half_life_days).

Out of :func:`detect_controversy`: ``controversy_flags`` (one row per flag) and
``controversy_scores`` (one row per creator; :data:`kol_vetting.schema.SIGNAL_SCORE_SCHEMA`
columns first).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from kol_vetting.schema import SIGNAL_SCORE_SCHEMA
from kol_vetting.signals.content_text import (
    NORM,
    attach_views,
    lexicon_hits,
    model_probability,
    note_body_text,
    with_text_views,
)
from kol_vetting.text.sentiment import SentimentModel, load_offensive_model, load_sentiment_model

CATEGORIES = ("product_harm", "false_claims", "scandal", "plagiarism", "value_conflict", "backlash")
#: Categories whose vocabulary marks a complaint or a call-out (value_conflict is topical).
CALLOUT_CATEGORIES = ("product_harm", "false_claims", "scandal", "plagiarism", "backlash")
KINDS = ("backlash_wave", "apology_note", "third_party_callout", "offensive_content", "lexicon_hit")


@dataclass(frozen=True)
class ControversyParams:
    """Thresholds of the controversy detector."""

    #: A comment with a complaint cue counts as negative when the sentiment model gives at least this ...
    cue_model_bar: float = 0.3
    #: ... and without a cue only at this (the model alone is noisy on emoji-heavy comments).
    model_only_bar: float = 0.985
    #: Backlash wave: negative comments counted in a sliding window of this length ...
    wave_window_hours: float = 48.0
    #: ... at least this many ...
    wave_min_negative: int = 12
    #: ... at least this many times the creator's usual negatives per note (75th percentile + 1) ...
    wave_baseline_mult: float = 4.0
    #: ... and at least this share of the note's comments in the same window.
    wave_min_share: float = 0.4
    #: Severity of a wave: base + span * size(1 - exp(-n / wave_size_scale)) * share, + agreement.
    wave_base: float = 0.45
    wave_span: float = 0.45
    wave_size_scale: float = 40.0
    #: Mean likes per negative comment at which others clearly agree (adds up to 0.1).
    wave_agree_likes: float = 5.0
    #: Apology / statement note severity; higher when it follows a wave of the same creator.
    apology_severity: float = 0.45
    apology_after_wave_severity: float = 0.6
    #: A statement (声明, 回应 ...) without apology words needs controversy vocabulary too.
    statement_severity: float = 0.3
    #: Days before an apology in which a wave makes it "after a wave".
    apology_link_days: float = 30.0
    #: Call-out severity: base + up to reach_bonus for engagement (log10 scale, 10k -> full).
    callout_base: float = 0.45
    callout_reach_bonus: float = 0.25
    #: Display names shorter than this only match as @mentions (short names occur in text by chance).
    min_name_chars: int = 3
    #: Offensive content: model probability at least this, with an insult/slur keyword.
    offensive_bar: float = 0.8
    offensive_severity: float = 0.6
    #: Own-note scandal/plagiarism/value-conflict vocabulary: a low-weight pointer.
    lexicon_severity: float = 0.12
    #: Flags lose half their weight after this many days.
    half_life_days: float = 180.0
    #: Risk at or above this sets ``controversy`` True in the scores.
    flag_threshold: float = 35.0
    #: Notes behind full confidence (halved when no comments were captured).
    full_confidence_notes: int = 20
    #: Comment ids kept as evidence per wave; flags and evidence ids per creator.
    wave_evidence: int = 8
    max_reasons: int = 5
    max_evidence: int = 15


FLAGS_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "flag_id": pl.String(),
        "category": pl.String(),
        "kind": pl.String(),
        "severity": pl.Float64(),
        "severity_level": pl.String(),
        "date": pl.Datetime("us"),
        "recency_weight": pl.Float64(),
        "weight": pl.Float64(),
        "evidence_ids": pl.List(pl.String()),
        "terms": pl.List(pl.String()),
        "description": pl.String(),
    }
)
SCORES_EXTRA_SCHEMA = pl.Schema(
    {
        "controversy": pl.Boolean(),
        "flags": pl.Int64(),
        "backlash_waves": pl.Int64(),
        "apology_notes": pl.Int64(),
        "callouts": pl.Int64(),
        "offensive_notes": pl.Int64(),
        "top_category": pl.String(),
        "latest_flag": pl.Datetime("us"),
        "notes_checked": pl.Int64(),
        "comments_checked": pl.Int64(),
    }
)
CONTROVERSY_SCORES_SCHEMA = pl.Schema({**SIGNAL_SCORE_SCHEMA, **SCORES_EXTRA_SCHEMA})


def detect_controversy(
    creators: pl.DataFrame | None,
    notes: pl.DataFrame | None,
    comments: pl.DataFrame | None,
    *,
    as_of: dt.datetime,
    sentiment_model: SentimentModel | None = None,
    offensive_model: SentimentModel | None = None,
    params: ControversyParams | None = None,
    views: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """Find controversy evidence and score every creator.

    In: contract tables creators, notes, comments (any may be empty or None), the vetting date
    ``as_of`` (naive UTC; later data is ignored), optional models (default: the committed
    sentiment and offensive artifacts).
    Out: ``{"controversy_flags": FLAGS_SCHEMA frame, "controversy_scores":
    CONTROVERSY_SCORES_SCHEMA frame (one row per creator)}``.
    ``views``: :func:`kol_vetting.signals.content_text.note_text_views` of the same notes,
    computed once and shared with the other content signals (default: computed here; the
    result is identical).
    """
    from kol_vetting.signals.auth_common import conform

    P = params or ControversyParams()
    as_of_n = _naive(as_of)
    cr = conform(creators, "creators").unique("creator_id", keep="last", maintain_order=True)
    nt = conform(notes, "notes").filter(pl.col("published_at").is_null() | (pl.col("published_at") <= as_of_n))
    cm = conform(comments, "comments").filter(pl.col("created_at").is_null() | (pl.col("created_at") <= as_of_n))

    note_text = attach_views(
        nt.select(
            "note_id", "creator_id", "published_at", "likes", "collects", "comments",
            note_body_text(pl.col("title"), pl.col("body")).alias("text"),
        ),
        pl.col("text"),
        views=views,
        source=("text_norm", "text_compact"),
    )
    note_text = _note_hits(note_text)
    callouts = _callouts(note_text, cr, P)
    # notes that call someone else out are about that person, not their author
    callout_notes = callouts.select(pl.col("evidence_ids").list.first().alias("note_id"))
    flags = [
        _waves(nt, cm, as_of_n, sentiment_model, P),
        _apologies(note_text, P),
        callouts,
        _own_note_flags(note_text.join(callout_notes, on="note_id", how="anti"), offensive_model, P),
    ]
    flags = [f for f in flags if f.height]
    fl = pl.concat([f.select(_FLAG_BASE) for f in flags], how="vertical") if flags else pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    fl = _link_apologies(fl, P)
    age = ((pl.lit(as_of_n) - pl.col("date")).dt.total_seconds() / 86400.0).clip(0.0, None)
    fl = fl.with_columns((0.5 ** (age / P.half_life_days)).fill_null(1.0).round(4).alias("recency_weight"))
    fl = fl.with_columns(
        (pl.col("severity") * pl.col("recency_weight")).round(4).alias("weight"),
        pl.when(pl.col("severity") >= 0.6).then(pl.lit("high"))
        .when(pl.col("severity") >= 0.35).then(pl.lit("medium"))
        .otherwise(pl.lit("low")).alias("severity_level"),
    ).sort(["creator_id", "weight"], descending=[False, True])
    fl = fl.select(list(FLAGS_SCHEMA)).cast(dict(FLAGS_SCHEMA))
    scores = _scores(fl, cr, nt, cm, as_of_n, P)
    return {"controversy_flags": fl, "controversy_scores": scores}


# Columns every flag builder returns (recency and levels are added once, afterwards).
_FLAG_BASE_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "flag_id": pl.String(),
        "category": pl.String(),
        "kind": pl.String(),
        "severity": pl.Float64(),
        "date": pl.Datetime("us"),
        "evidence_ids": pl.List(pl.String()),
        "terms": pl.List(pl.String()),
        "description": pl.String(),
    }
)
_FLAG_BASE = [pl.col(c).cast(t) for c, t in _FLAG_BASE_SCHEMA.items()]


def _category_from(hits: pl.Expr) -> pl.Expr:
    """The first category (in CATEGORIES order) whose hit list in struct ``hits`` is non-empty."""
    out = pl.lit(None, dtype=pl.String)
    for c in reversed(CATEGORIES):
        out = pl.when(hits.struct.field(c).list.len() > 0).then(pl.lit(c)).otherwise(out)
    return out


def _controversy_struct(groups: tuple[str, ...] = CATEGORIES) -> pl.Expr:
    return pl.struct([lexicon_hits("controversy", g).fill_null([]).alias(g) for g in groups])


# ---------------------------------------------------------------------------------------------
# Backlash waves


def negative_comments(
    comments: pl.DataFrame, model: SentimentModel | None, P: ControversyParams
) -> pl.DataFrame:
    """Comments (text column ``text``) with ``neg_p`` (model), ``cue_terms``, ``category`` and ``negative``.

    Everything here depends on the text alone, so each distinct text is scored once and joined
    back (comments repeat a lot: 求链接, 好看, emoji-only ...).
    """
    model = model or load_sentiment_model()
    v = with_text_views(comments.select(pl.col("text").unique()), "text")
    v = v.with_columns(
        model_probability(model, views=v).alias("neg_p"),
        _controversy_struct(CALLOUT_CATEGORIES).alias("_cat"),
        lexicon_hits("sentiment_cues", "negative").fill_null([]).alias("_neg_slang"),
        lexicon_hits("sentiment_cues", "positive").fill_null([]).alias("_pos"),
    )
    cue_terms = pl.concat_list(
        [pl.col("_cat").struct.field(c) for c in CALLOUT_CATEGORIES] + [pl.col("_neg_slang")]
    ).list.unique(maintain_order=True)
    cat = pl.lit(None, dtype=pl.String)
    for c in reversed(CALLOUT_CATEGORIES):
        cat = pl.when(pl.col("_cat").struct.field(c).list.len() > 0).then(pl.lit(c)).otherwise(cat)
    has_cue = cue_terms.list.len() > 0
    p = pl.col("neg_p").fill_null(0.0)
    negative = (has_cue & (p >= P.cue_model_bar)) | ((p >= P.model_only_bar) & (pl.col("_pos").list.len() == 0))
    v = v.select("text", "neg_p", cue_terms.alias("cue_terms"), cat.alias("category"), negative.alias("negative"))
    return comments.join(v, on="text", how="left", nulls_equal=True, maintain_order="left")


def _waves(
    notes: pl.DataFrame, comments: pl.DataFrame, as_of: dt.datetime, model: SentimentModel | None, P: ControversyParams
) -> pl.DataFrame:
    if comments.height == 0 or notes.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    c = comments.join(
        notes.select("note_id", "creator_id", pl.col("published_at").alias("_pub")), on="note_id", how="inner"
    ).filter(
        # the creator's own replies are not audience reaction
        pl.col("commenter_id").is_null() | (pl.col("commenter_id") != pl.col("creator_id"))
    ).filter(pl.col("created_at").is_not_null())
    if c.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    c = negative_comments(c, model, P)
    window = f"{round(P.wave_window_hours * 60)}m"
    # usual negatives per note of the creator: over all their notes (uncommented ones count 0),
    # leaving out their single worst note so a wave does not raise its own baseline
    per_note = (
        notes.select("note_id", "creator_id")
        .join(c.group_by("note_id").agg(pl.col("negative").sum().alias("neg")), on="note_id", how="left")
        .with_columns(pl.col("neg").fill_null(0))
        .with_columns(pl.col("neg").rank("ordinal", descending=True).over("creator_id").alias("_rk"))
    )
    baseline = (
        per_note.filter(pl.col("_rk") > 1)
        .group_by("creator_id")
        .agg(pl.col("neg").quantile(0.75, "nearest").alias("base_neg"))
    )
    # A window holds at most the note's negative comments: notes with fewer than
    # wave_min_negative in all cannot hold a wave, and only the others need the windows.
    c = c.join(per_note.filter(pl.col("neg") >= P.wave_min_negative).select("note_id"), on="note_id", how="semi")
    if c.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    c = c.sort("note_id", "created_at")
    roll = c.rolling(index_column="created_at", period=window, group_by="note_id").agg(
        pl.col("negative").sum().cast(pl.Int64).alias("win_neg"),
        pl.len().cast(pl.Int64).alias("win_all"),
    )
    c = c.with_columns(roll["win_neg"], roll["win_all"]) if roll.height == c.height else c.join(
        roll.unique(["note_id", "created_at"], keep="last"), on=["note_id", "created_at"], how="left"
    )
    # the peak window of each note: the comment at which the trailing-window count is highest
    peak = (
        c.filter(pl.col("win_neg") >= P.wave_min_negative)  # the peak of any note that can be a wave
        .sort(["note_id", "win_neg", "created_at"], descending=[False, True, False])
        .group_by("note_id", maintain_order=True)
        .first()
        .select("note_id", "creator_id", pl.col("created_at").alias("peak_end"), "win_neg", "win_all")
        .join(baseline, on="creator_id", how="left")
    )
    is_wave = (
        (pl.col("win_neg") >= P.wave_min_negative)
        & (pl.col("win_neg") >= P.wave_baseline_mult * (pl.col("base_neg").fill_null(0) + 1))
        & (pl.col("win_neg") / pl.col("win_all") >= P.wave_min_share)
    )
    waves = peak.filter(is_wave)
    if waves.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    span = dt.timedelta(hours=P.wave_window_hours)
    inside = (
        c.join(waves.select("note_id", "peak_end"), on="note_id", how="inner")
        .filter(
            pl.col("negative")
            & (pl.col("created_at") <= pl.col("peak_end"))
            & (pl.col("created_at") > pl.col("peak_end") - span)
        )
        .sort(["note_id", "likes", "created_at"], descending=[False, True, False], nulls_last=True)
    )
    detail = inside.group_by("note_id", maintain_order=True).agg(
        pl.col("created_at").min().alias("start"),
        pl.col("likes").fill_null(0).mean().alias("mean_likes"),
        pl.col("comment_id").head(P.wave_evidence).alias("comment_ids"),
        pl.col("category").drop_nulls().mode().sort().first().alias("category"),
        pl.col("cue_terms").list.explode(keep_nulls=False, empty_as_null=False).value_counts(sort=True).struct.field("cue_terms").head(4).alias("terms"),
    )
    w = waves.join(detail, on="note_id", how="left")
    size = 1.0 - (-pl.col("win_neg") / P.wave_size_scale).exp()
    share = (pl.col("win_neg") / pl.col("win_all")).clip(0.0, 1.0)
    agree = (pl.col("mean_likes").fill_null(0.0) / P.wave_agree_likes).clip(0.0, 1.0) * 0.1
    mult = pl.col("win_neg") / (pl.col("base_neg").fill_null(0) + 1)
    return w.select(
        "creator_id",
        pl.concat_str(pl.lit("backlash_wave:"), pl.col("note_id")).alias("flag_id"),
        pl.col("category").fill_null("backlash"),
        pl.lit("backlash_wave").alias("kind"),
        (P.wave_base + P.wave_span * size * share + agree).clip(0.0, 1.0).round(3).alias("severity"),
        pl.col("start").alias("date"),
        pl.concat_list(pl.col("note_id"), pl.col("comment_ids").fill_null([])).alias("evidence_ids"),
        pl.col("terms").fill_null([]),
        pl.format(
            "Backlash wave from {}: {} negative comments within {} h under note {} ({}% of the comments then, "
            "{}x the creator's usual){}",
            pl.col("start").dt.strftime("%Y-%m-%d"),
            pl.col("win_neg"),
            pl.lit(int(P.wave_window_hours)),
            pl.col("note_id"),
            (share * 100).round(0).cast(pl.Int64),
            mult.round(0).cast(pl.Int64),
            pl.when(pl.col("terms").list.len() > 0)
            .then(pl.concat_str(pl.lit("; words: "), pl.col("terms").list.join("、")))
            .otherwise(pl.lit("")),
        ).alias("description"),
    )


# ---------------------------------------------------------------------------------------------
# Apology / statement notes


def _note_hits(note_text: pl.DataFrame) -> pl.DataFrame:
    """The lexicon hits the note flags read, matched once per note: ``_cat`` (struct, one hit
    list per category), ``_apo`` (apology words), ``_stmt`` (statement / remedy words),
    ``_off`` (insults and slurs) and ``_at`` (the note names someone with @)."""
    return note_text.with_columns(
        _controversy_struct(CATEGORIES).alias("_cat"),
        lexicon_hits("apology", "apology").fill_null([]).alias("_apo"),
        lexicon_hits("apology", ["statement", "remedy"]).fill_null([]).alias("_stmt"),
        lexicon_hits("offensive", ["insults", "slurs"]).fill_null([]).alias("_off"),
        # a note naming someone with @ is about them (call-outs), not about the author
        pl.col(NORM).fill_null("").str.contains("@").alias("_at"),
    )


def _apologies(note_text: pl.DataFrame, P: ControversyParams) -> pl.DataFrame:
    if note_text.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    a = note_text.with_columns(
        pl.concat_list([pl.col("_cat").struct.field(c) for c in CALLOUT_CATEGORIES]).alias("_ct"),
    )
    apo = pl.col("_apo").list.len() > 0
    stmt = (pl.col("_stmt").list.len() > 0) & (pl.col("_ct").list.len() > 0)
    a = a.filter(apo | stmt)
    if a.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    cat = pl.lit(None, dtype=pl.String)
    for c in reversed(CALLOUT_CATEGORIES[:-1]):  # backlash words in an apology say little
        cat = pl.when(pl.col("_cat").struct.field(c).list.len() > 0).then(pl.lit(c)).otherwise(cat)
    terms = pl.concat_list("_apo", "_stmt", "_ct").list.unique(maintain_order=True).list.head(5)
    return a.select(
        "creator_id",
        pl.concat_str(pl.lit("apology_note:"), pl.col("note_id")).alias("flag_id"),
        cat.fill_null("backlash").alias("category"),
        pl.lit("apology_note").alias("kind"),
        pl.when(apo).then(P.apology_severity).otherwise(P.statement_severity).alias("severity"),
        pl.col("published_at").alias("date"),
        pl.concat_list(pl.col("note_id")).alias("evidence_ids"),
        terms.alias("terms"),
        pl.format(
            "{} note on {} ({}): note {}",
            pl.when(apo).then(pl.lit("Apology")).otherwise(pl.lit("Public statement")),
            pl.col("published_at").dt.strftime("%Y-%m-%d"),
            terms.list.join("、"),
            pl.col("note_id"),
        ).alias("description"),
    )


def _link_apologies(fl: pl.DataFrame, P: ControversyParams) -> pl.DataFrame:
    """Raise an apology's severity when the same creator had a wave in the days before it."""
    if fl.height == 0:
        return fl
    waves = fl.filter(pl.col("kind") == "backlash_wave").select(
        "creator_id", pl.col("date").alias("_wave"), pl.col("category").alias("_wcat")
    )
    if waves.height == 0:
        return fl
    apo = fl.filter(pl.col("kind") == "apology_note").with_row_index("_r")
    linked = (
        apo.join(waves, on="creator_id", how="inner")
        .filter(
            (pl.col("_wave") <= pl.col("date"))
            & (pl.col("_wave") >= pl.col("date") - dt.timedelta(days=P.apology_link_days))
        )
        .group_by("_r")
        .agg(pl.col("_wcat").first())
    )
    apo = apo.join(linked, on="_r", how="left").with_columns(
        pl.when(pl.col("_wcat").is_not_null())
        .then(pl.max_horizontal("severity", pl.lit(P.apology_after_wave_severity)))
        .otherwise(pl.col("severity"))
        .alias("severity"),
        pl.when(pl.col("_wcat").is_not_null() & (pl.col("category") == "backlash"))
        .then(pl.col("_wcat"))
        .otherwise(pl.col("category"))
        .alias("category"),
        pl.when(pl.col("_wcat").is_not_null())
        .then(pl.concat_str(pl.col("description"), pl.lit(", after a backlash wave")))
        .otherwise(pl.col("description"))
        .alias("description"),
    )
    return pl.concat([fl.filter(pl.col("kind") != "apology_note"), apo.select(fl.columns)])


# ---------------------------------------------------------------------------------------------
# Call-outs by other creators


def creator_name_table(creators: pl.DataFrame, min_name_chars: int = 3) -> pl.DataFrame:
    """Names a creator can be called out by: (pattern, creator_id, share).

    Patterns are folded like normalised text (NFKC, lower case): ``@display name`` always,
    the bare display name when at least ``min_name_chars`` long, the handle when at least 5
    characters. ``share`` is 1 / number of creators with that pattern.
    """
    if creators.height == 0:
        return pl.DataFrame(schema={"pattern": pl.String, "creator_id": pl.String, "share": pl.Float64})
    fold = lambda e: e.str.normalize("NFKC").str.to_lowercase().str.strip_chars()
    dn = fold(pl.col("display_name"))
    base = creators.select("creator_id", dn.alias("_dn"), fold(pl.col("handle")).alias("_h"))
    parts = [
        base.filter(pl.col("_dn").str.len_chars() >= 1).select(
            pl.concat_str(pl.lit("@"), pl.col("_dn")).alias("pattern"), "creator_id"),
        base.filter(pl.col("_dn").str.len_chars() >= min_name_chars).select(
            pl.col("_dn").alias("pattern"), "creator_id"),
        base.filter(pl.col("_h").str.len_chars() >= 5).select(pl.col("_h").alias("pattern"), "creator_id"),
        base.filter(pl.col("_h").str.len_chars() >= 3).select(
            pl.concat_str(pl.lit("@"), pl.col("_h")).alias("pattern"), "creator_id"),
    ]
    t = pl.concat(parts).drop_nulls().unique(["pattern", "creator_id"])
    return t.with_columns((1.0 / pl.col("creator_id").n_unique().over("pattern")).alias("share"))


def _callouts(note_text: pl.DataFrame, creators: pl.DataFrame, P: ControversyParams) -> pl.DataFrame:
    if note_text.height == 0 or creators.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    cand = note_text.with_columns(
        pl.concat_list([pl.col("_cat").struct.field(c) for c in CALLOUT_CATEGORIES]).alias("_ct")
    ).filter(pl.col("_ct").list.len() > 0)
    names = creator_name_table(creators, P.min_name_chars)
    if cand.height == 0 or names.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    patterns = names["pattern"].unique().to_list()
    # Aho-Corasick over all names at once; overlapping so "@名字" and "名字" both surface
    found = cand.with_columns(
        pl.col(NORM).fill_null("").str.extract_many(patterns, overlapping=True).list.unique().alias("_names")
    ).filter(pl.col("_names").list.len() > 0)
    if found.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    pairs = found.select("note_id", pl.col("_names").alias("pattern")).explode("pattern")
    # longest match wins: "爱吃可乐" inside "爱吃可乐0520" names the longer-named creator only
    covered = (
        pairs.join(pairs.rename({"pattern": "_longer"}), on="note_id")
        .filter((pl.col("_longer") != pl.col("pattern")) & pl.col("_longer").str.contains(pl.col("pattern"), literal=True))
        .select("note_id", "pattern")
        .unique()
    )
    pairs = pairs.join(covered, on=["note_id", "pattern"], how="anti")
    hits = (
        found.select("note_id", pl.col("creator_id").alias("author_id"), "published_at", "likes", "collects",
                     "comments", "_cat", "_ct")
        .join(pairs, on="note_id")
        .join(names, on="pattern", how="inner")
        .filter(pl.col("creator_id") != pl.col("author_id"))
        # one flag per (call-out note, named creator): the most specific pattern's share wins
        .group_by("note_id", "creator_id")
        .agg(pl.all().exclude("share", "pattern").first(), pl.col("share").max(), pl.col("pattern").first())
    )
    if hits.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    eng = (pl.col("likes").fill_null(0) + pl.col("collects").fill_null(0) + pl.col("comments").fill_null(0)).cast(pl.Float64)
    reach = ((eng + 1.0).log10() / 4.0).clip(0.0, 1.0)
    cat = pl.lit(None, dtype=pl.String)
    for c in reversed(CALLOUT_CATEGORIES):
        cat = pl.when(pl.col("_cat").struct.field(c).list.len() > 0).then(pl.lit(c)).otherwise(cat)
    terms = pl.col("_ct").list.unique(maintain_order=True).list.head(5)
    return hits.select(
        "creator_id",
        pl.concat_str(pl.lit("third_party_callout:"), pl.col("note_id")).alias("flag_id"),
        cat.fill_null("backlash").alias("category"),
        pl.lit("third_party_callout").alias("kind"),
        ((P.callout_base + P.callout_reach_bonus * reach) * pl.col("share")).clip(0.0, 1.0).round(3).alias("severity"),
        pl.col("published_at").alias("date"),
        pl.concat_list(pl.col("note_id")).alias("evidence_ids"),
        terms.alias("terms"),
        pl.format(
            "Named in a call-out note by another creator on {} ({}; {} engagements{}): note {}",
            pl.col("published_at").dt.strftime("%Y-%m-%d"),
            terms.list.join("、"),
            eng.cast(pl.Int64),
            pl.when(pl.col("share") < 1).then(pl.lit(", name shared with other creators")).otherwise(pl.lit("")),
            pl.col("note_id"),
        ).alias("description"),
    )


# ---------------------------------------------------------------------------------------------
# The creator's own notes: offensive content and scandal/plagiarism/value vocabulary


def _own_note_flags(
    note_text: pl.DataFrame, offensive_model: SentimentModel | None, P: ControversyParams
) -> pl.DataFrame:
    if note_text.height == 0:
        return pl.DataFrame(schema=_FLAG_BASE_SCHEMA)
    v = note_text
    out = []
    off = v.filter(pl.col("_off").list.len() > 0)
    if off.height:
        off = off.with_columns(
            model_probability(offensive_model or load_offensive_model(), views=off).alias("_p")
        ).filter(pl.col("_p") >= P.offensive_bar)
        out.append(
            off.select(
                "creator_id",
                pl.concat_str(pl.lit("offensive_content:"), pl.col("note_id")).alias("flag_id"),
                pl.lit("value_conflict").alias("category"),
                pl.lit("offensive_content").alias("kind"),
                (P.offensive_severity * pl.col("_p")).round(3).alias("severity"),
                pl.col("published_at").alias("date"),
                pl.concat_list(pl.col("note_id")).alias("evidence_ids"),
                pl.col("_off").list.head(5).alias("terms"),
                pl.format("Offensive language in own note on {} (model P={}; {}): note {}",
                          pl.col("published_at").dt.strftime("%Y-%m-%d"), pl.col("_p").round(2),
                          pl.col("_off").list.head(3).list.join("、"), pl.col("note_id")).alias("description"),
            )
        )
    ct = pl.concat_list([pl.col("_cat").struct.field(c) for c in ("scandal", "plagiarism", "value_conflict")])
    lex = v.filter((ct.list.len() > 0) & (pl.col("_apo").list.len() == 0) & ~pl.col("_at") & (pl.col("_off").list.len() == 0))
    if lex.height:
        cat = pl.lit(None, dtype=pl.String)
        for c in reversed(("scandal", "plagiarism", "value_conflict")):
            cat = pl.when(pl.col("_cat").struct.field(c).list.len() > 0).then(pl.lit(c)).otherwise(cat)
        out.append(
            lex.select(
                "creator_id",
                pl.concat_str(pl.lit("lexicon_hit:"), pl.col("note_id")).alias("flag_id"),
                cat.alias("category"),
                pl.lit("lexicon_hit").alias("kind"),
                pl.lit(P.lexicon_severity).alias("severity"),
                pl.col("published_at").alias("date"),
                pl.concat_list(pl.col("note_id")).alias("evidence_ids"),
                ct.list.unique(maintain_order=True).list.head(5).alias("terms"),
                pl.format("Own note on {} uses {} vocabulary ({}): worth a look, note {}",
                          pl.col("published_at").dt.strftime("%Y-%m-%d"), cat.str.replace("_", " "),
                          ct.list.unique(maintain_order=True).list.head(3).list.join("、"),
                          pl.col("note_id")).alias("description"),
            )
        )
    return pl.concat([o.select(_FLAG_BASE) for o in out]) if out else pl.DataFrame(schema=_FLAG_BASE_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Per-creator scores


def _scores(
    fl: pl.DataFrame, cr: pl.DataFrame, nt: pl.DataFrame, cm: pl.DataFrame, as_of: dt.datetime, P: ControversyParams
) -> pl.DataFrame:
    ids = cr.select("creator_id")
    if ids.height == 0:
        ids = pl.concat([nt.select("creator_id"), fl.select("creator_id")]).unique(maintain_order=True)
    n_notes = nt.group_by("creator_id").agg(pl.len().cast(pl.Int64).alias("notes_checked"))
    # comments per note first (a few per note), then per creator: the same counts as joining
    # every comment to its note
    n_comments = (
        cm.group_by("note_id")
        .agg(pl.len().alias("_n"))
        .join(nt.select("note_id", "creator_id"), on="note_id", how="inner")
        .group_by("creator_id")
        .agg(pl.col("_n").sum().cast(pl.Int64).alias("comments_checked"))
    )
    k = pl.col("kind")
    agg = fl.sort(["creator_id", "weight"], descending=[False, True]).group_by("creator_id", maintain_order=True).agg(
        (100.0 * (1.0 - (1.0 - pl.col("weight").clip(0.0, 0.99)).product())).alias("_risk"),
        pl.len().cast(pl.Int64).alias("flags"),
        (k == "backlash_wave").sum().cast(pl.Int64).alias("backlash_waves"),
        (k == "apology_note").sum().cast(pl.Int64).alias("apology_notes"),
        (k == "third_party_callout").sum().cast(pl.Int64).alias("callouts"),
        (k == "offensive_content").sum().cast(pl.Int64).alias("offensive_notes"),
        pl.col("category").first().alias("top_category"),
        pl.col("date").max().alias("latest_flag"),
        pl.col("description").head(P.max_reasons).alias("_desc"),
        pl.col("evidence_ids").list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True).head(P.max_evidence).alias("evidence_ids"),
    )
    df = (
        ids.join(n_notes, on="creator_id", how="left")
        .join(n_comments, on="creator_id", how="left")
        .join(agg, on="creator_id", how="left")
        .with_columns(pl.col("notes_checked").fill_null(0), pl.col("comments_checked").fill_null(0))
    )
    assessed = (pl.col("notes_checked") > 0) | (pl.col("flags").fill_null(0) > 0)
    conf = (pl.col("notes_checked") / P.full_confidence_notes).clip(0.0, 1.0) * pl.when(
        pl.col("comments_checked") > 0
    ).then(1.0).otherwise(0.5)
    risk = pl.col("_risk").fill_null(0.0).round(1)
    no_flag = pl.format(
        "No controversy found in {} notes and {} comments", pl.col("notes_checked"), pl.col("comments_checked")
    )
    reasons = (
        pl.when(~assessed)
        .then(pl.lit(["No notes or comments to check for controversy"], dtype=pl.List(pl.String)))
        .when(pl.col("flags").fill_null(0) == 0)
        .then(no_flag.cast(pl.String).repeat_by(1))
        .otherwise(pl.col("_desc"))
    )
    df = df.with_columns(
        pl.when(assessed).then(risk).alias("risk"),
        pl.when(assessed).then(pl.max_horizontal(conf, pl.when(pl.col("flags") > 0).then(0.5).otherwise(0.0)).round(3))
        .otherwise(0.0).alias("confidence"),
        assessed.alias("assessed"),
        reasons.alias("reasons"),
        pl.col("evidence_ids").fill_null([]),
        pl.lit(as_of).cast(pl.Datetime("us")).alias("data_as_of"),
        (assessed & (risk >= P.flag_threshold)).alias("controversy"),
        *[pl.col(c).fill_null(0) for c in ("flags", "backlash_waves", "apology_notes", "callouts", "offensive_notes")],
    )
    return df.select(list(CONTROVERSY_SCORES_SCHEMA)).cast(dict(CONTROVERSY_SCORES_SCHEMA))


def _naive(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


