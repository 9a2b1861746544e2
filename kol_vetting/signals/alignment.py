"""Brand alignment of each creator with one brief: topic and category fit, banned topics, past
brand associations (competitor deals, unprompted advocacy) and how the audience takes ads.

:func:`score_alignment` takes a :class:`~kol_vetting.brief.Brief` and the contract tables
``creators``, ``notes`` and ``comments`` (any may be empty; missing optional columns are
nulls) and returns two tables:

``alignment_scores``: exactly one row per creator of ``creators``. Columns start with
:data:`kol_vetting.schema.SIGNAL_SCORE_SCHEMA` (risk 0-100, higher = worse fit / more conflict),
then ``brief`` and the features (:data:`ALIGNMENT_SCHEMA`):

* **topic_similarity**: cosine between the TF-IDF vector of the creator's recent notes
  (``recent_notes_days`` before ``as_of``, at most ``max_topic_notes`` of them, concatenated;
  per note its title and hashtags, or the start of its body when it has no hashtags: titles and
  tags are where creators name their topic, and bodies would multiply the cost for little gain)
  and that of the brief text (keywords plus Chinese words for the brief's category, from
  ``config/category_fit.yaml``). Character 1-2-grams of the normalised text: Chinese has no
  spaces, and a 2-character window catches most product words (精华, 面霜, 降噪). One
  vectorizer fit and one sparse product for all creators. Brand names are *not* in the topic
  text by default (``AlignmentParams.topic_include_brand_names``): a single brand hashtag is a
  rare n-gram that would outweigh the whole topic, and brand history is scored separately.
  **topic_fit** rescales it to 0-1 against the median similarity of the creators of the
  brief's category in the same pool (a constant when the pool has too few of them), because
  raw cosines depend on how long and specific the brief's keyword list is.
* **category_fit**: 1 same category, ``near_fit`` (0.5) for a near category in
  ``config/category_fit.yaml`` or one of the brief's ``candidate_categories``, else 0.
* **banned_topic_hits**: notes whose normalised text contains one of ``brief.banned_topics``
  (with ``banned_terms`` and ``banned_note_ids``).
* **Brand associations**: every note naming the brief's brand or a competitor (names and
  aliases matched on the normalised text of title, body and hashtags, so ``#岚汐``,
  ``@岚汐官方`` and ``LANXI`` all count; Latin names only as whole words). Whether a note is
  sponsored comes from ``disclosure_audit`` when given (its ``sponsored`` flag; *disclosed*
  when its ``disclosure`` is ``platform_label`` or ``explicit``). Without an audit, or for notes
  it lacks, a note counts as sponsored and disclosed when it carries the platform's sponsor
  label or an explicit disclosure term (``lexicons/disclosure.yaml`` group ``explicit``, with
  its exclusions such as 不是广告). That fallback cannot see *undisclosed* paid notes; pass the
  disclosure signal's audit to catch them.
* **competitor_conflict**: at least one sponsored note naming a competitor (and not the brief's
  own brand, which would make it a comparison in our favour) within
  ``competitor_lookback_days`` before ``as_of``; ``competitor_deals`` counts those notes,
  ``last_competitor_deal`` is the latest date, and the note ids and dates are evidence.
* **brand_advocacy_notes**: unsponsored notes naming the brief's brand, published before the
  creator's first sponsored note for it, whose text is not negative (sentiment below
  ``negative_bar`` and no complaint cue): credible voices in a crisis; they lower the risk.
  ``brand_critical_notes`` counts brand mentions that are negative (they raise it).
* **Audience response to ads**: ``sponsored_engagement_ratio`` = median engagement (likes +
  collects + comments) of sponsored notes / that of organic ones; ``sponsored_negative_share``
  and ``organic_negative_share`` = share of audience comments (the creator's own replies
  excluded) that are negative under each kind of note (all sponsored notes up to ``as_of``; the
  ``max_organic_comment_notes`` most recent organic notes as the baseline). A comment is
  negative when the sentiment model gives P(negative) >= ``negative_bar`` (0.7: ordinary
  questions can score 0.6-0.8) unless it carries a praise cue and no complaint cue; without a
  model file, a complaint cue alone decides. Ad-reception cues (``lexicons/ad_reception.yaml``)
  override both: 支持恰饭 is not negative, 恰烂饭 / 取关了 is (the model reads any 恰饭 as
  negative). Each distinct text is scored once. Engagement
  collapsing on ads, or hostile comments under them (judged on the Wilson lower bound of the
  sponsored share, so two ads with a few comments cannot trigger it), raise the risk
  (``ads_rejected`` when they add ``ads_rejected_points`` or more); ads the audience welcomes
  lower it (``ads_welcomed``).

``brand_associations``: one row per creator x brand named (:data:`BRAND_ASSOCIATIONS_SCHEMA`).

Risk = sum of the points in :class:`AlignmentParams` (each a named weight), clipped to 0-100;
reasons say how many points each finding added, and ``evidence_ids`` lists the notes behind
them (competitor deals and their ISO dates, banned-topic, critical, weak-ad and advocacy notes,
and the most negative comments under ads). Confidence (``AlignmentParams.confidence_*``) =
0.2 + 0.5 x min(1, recent notes / 20) + 0.15 when the creator's category is known + 0.15 when
comments under ads could be read. Creators without notes: ``assessed`` False, ``risk`` null,
reasons ``["Not assessed: no notes"]``, features null.

:func:`kol_vetting.signals.evaluate_alignment.evaluate_alignment` measures the signal against a
demo world's ground truth.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from kol_vetting.brief import CONFIG_DIR, Brief
from kol_vetting.schema import SIGNAL_SCORE_SCHEMA, polars_schema
from kol_vetting.signals.content_text import attach_views
from kol_vetting.text.lexicons import match_terms
from kol_vetting.text.normalize import compact_expr, normalize_expr

CATEGORY_FIT_PATH = CONFIG_DIR / "category_fit.yaml"


@dataclass(frozen=True)
class AlignmentParams:
    """Weights (risk points) and thresholds of the alignment signal.

    Risk = fit + competitor + banned + criticism + ad-response points - advocacy and loved-ads
    credits, clipped to 0-100. With the defaults a recent competitor deal alone puts a creator
    at ~70 (conditions / manual review), two banned-topic notes at ~30, a creator far off topic
    at ~30.
    """

    # --- fit: off_topic points = fit_points * (1 - fit), fit = mix of category and topic fit
    fit_points: float = 30.0
    #: Share of category_fit in the fit (the rest is topic_fit); either alone when one is missing.
    category_weight: float = 0.5
    #: Character n-gram range of the topic TF-IDF.
    topic_ngram_range: tuple[int, int] = (1, 2)
    #: Most recent notes per creator that make the topic document (bounds the cost).
    max_topic_notes: int = 30
    #: Body characters added to the topic text of a note without hashtags.
    topic_body_chars: int = 200
    #: Put the brand names into the brief's topic text (see module doc).
    topic_include_brand_names: bool = False
    #: topic_fit = similarity / (median similarity of in-category creators) ...
    min_reference_creators: int = 5
    #: ... or / this constant when the pool has fewer in-category creators with recent notes.
    fallback_reference_similarity: float = 0.08

    # --- competitors
    #: A sponsored note for a competitor inside the look-back window.
    competitor_conflict_points: float = 70.0
    #: Each further competitor deal in the window, up to competitor_extra_deals_cap of them.
    competitor_extra_deal_points: float = 5.0
    competitor_extra_deals_cap: int = 3
    #: Unsponsored competitor mentions in the window (possibly undisclosed work; never proof).
    competitor_organic_points: float = 5.0

    # --- banned topics and criticism of the brand
    banned_topic_points_per_note: float = 15.0
    banned_topic_points_cap: float = 45.0
    brand_critical_points_per_note: float = 10.0
    brand_critical_points_cap: float = 20.0

    # --- audience response to ads
    #: Need this many sponsored and organic notes to compare engagement.
    min_sponsored_notes: int = 3
    min_organic_notes: int = 3
    #: Engagement ratio at or above collapse_start: no points; at or below collapse_full: all.
    ad_collapse_points: float = 20.0
    collapse_start: float = 0.5
    collapse_full: float = 0.2
    #: ... and only when the ads' engagement ranks below the organic notes' at this z (see
    #: _ad_response: a rank test, so a few unlucky ads of a heavy-tailed creator do not count).
    collapse_z: float = 2.0
    #: Comments needed under sponsored (and under organic) notes to compare negativity.
    min_ad_comments: int = 10
    #: Organic notes per creator (most recent) whose comments form the organic baseline.
    max_organic_comment_notes: int = 30
    #: P(negative) at or above this makes a comment (or note) negative.
    negative_bar: float = 0.7
    #: Excess negative share at hostile_start: no points; at hostile_full: all. The excess is the
    #: Wilson lower bound (z = hostile_z) of the sponsored share minus the organic share, so a
    #: handful of comments under two ads cannot trigger it on their own.
    ad_hostile_points: float = 20.0
    hostile_z: float = 1.0
    hostile_start: float = 0.10
    hostile_full: float = 0.40
    #: ``ads_rejected`` is set when collapse + hostile points reach this (smaller amounts still
    #: count in the risk but are within the noise of a few ads and comments).
    ads_rejected_points: float = 8.0

    # --- credits (subtracted)
    advocacy_credit_per_note: float = 5.0
    advocacy_credit_cap: float = 15.0
    #: Ads the audience welcomes: ratio >= loved_min_ratio and excess negativity <= loved_max_excess.
    loved_ads_credit: float = 5.0
    loved_min_ratio: float = 0.9
    loved_max_excess: float = 0.05

    # --- confidence and output
    #: confidence = base + notes_weight x min(1, recent notes / confidence_full_notes)
    #: + category_weight (creator category known) + comments_weight (comments under ads read).
    confidence_base: float = 0.2
    confidence_notes_weight: float = 0.5
    confidence_full_notes: int = 20
    confidence_category_weight: float = 0.15
    confidence_comments_weight: float = 0.15
    max_evidence_ids: int = 40


ALIGNMENT_FEATURES = pl.Schema(
    {
        "brief": pl.String(),
        "notes": pl.Int64(),
        "recent_notes": pl.Int64(),
        "topic_similarity": pl.Float64(),
        "topic_fit": pl.Float64(),
        "category": pl.String(),
        "category_fit": pl.Float64(),
        "banned_topic_hits": pl.Int64(),
        "banned_terms": pl.List(pl.String()),
        "banned_note_ids": pl.List(pl.String()),
        "competitor_conflict": pl.Boolean(),
        "competitor_deals": pl.Int64(),
        "last_competitor_deal": pl.Date(),
        "competitor_brands": pl.List(pl.String()),
        "competitor_note_ids": pl.List(pl.String()),
        "competitor_organic_notes": pl.Int64(),
        "brand_mentions": pl.Int64(),
        "brand_mentions_sponsored": pl.Int64(),
        "brand_advocacy_notes": pl.Int64(),
        "brand_critical_notes": pl.Int64(),
        "sponsored_notes": pl.Int64(),
        "organic_notes": pl.Int64(),
        "sponsored_engagement_ratio": pl.Float64(),
        "sponsored_comments": pl.Int64(),
        "organic_comments": pl.Int64(),
        "sponsored_negative_share": pl.Float64(),
        "organic_negative_share": pl.Float64(),
        "ads_rejected": pl.Boolean(),  # engagement collapse or hostile comments on ads added risk
        "ads_welcomed": pl.Boolean(),  # the audience takes ads as well as organic notes
    }
)
#: Columns of ``alignment_scores``: the shared signal columns, then the features.
ALIGNMENT_SCHEMA = pl.Schema({**SIGNAL_SCORE_SCHEMA, **ALIGNMENT_FEATURES})

BRAND_ASSOCIATIONS_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "brief": pl.String(),
        "brand": pl.String(),  # canonical name: the brief's brand or a competitor's name
        "relation": pl.String(),  # own_brand | competitor
        "first_seen": pl.Datetime("us"),
        "last_seen": pl.Datetime("us"),
        "notes": pl.Int64(),
        "sponsored_notes": pl.Int64(),
        "disclosed_notes": pl.Int64(),
        "note_ids": pl.List(pl.String()),
    }
)

# Lexicon groups that mark a complaint / praise in a note or comment.
_COMPLAINT_CUES: dict[str, list[str]] = {
    "controversy": ["product_harm", "false_claims", "scandal", "backlash"],
    "sentiment_cues": ["negative"],
}
_PRAISE_CUES: dict[str, list[str]] = {"sentiment_cues": ["positive"]}
# Comments under ads: welcoming (支持恰饭) and rejecting (恰烂饭, 取关) wording.
_AD_SUPPORT: dict[str, list[str]] = {"ad_reception": ["support"]}
_AD_REJECTION: dict[str, list[str]] = {"ad_reception": ["rejection"]}
_DISCLOSED_LABELS = ("platform_label", "explicit")


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _conform(df: pl.DataFrame | pl.LazyFrame | None, table: str) -> pl.DataFrame:
    """``df`` with exactly the contract columns of ``table`` (absent ones null, dtypes cast)."""
    schema = polars_schema(table)
    if df is None:
        return pl.DataFrame(schema=schema)
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if not df.width:
        return pl.DataFrame(schema=schema)
    return df.select(
        [
            (pl.col(c).cast(t, strict=False) if c in df.columns else pl.lit(None, dtype=t)).alias(c)
            for c, t in schema.items()
        ]
    )


@functools.lru_cache(maxsize=1)
def load_category_fit(path: str | None = None) -> dict[str, Any]:
    """The category data file: ``{"near_fit": float, "categories": {cat: {terms, near}}}``."""
    raw = yaml.safe_load(Path(path or CATEGORY_FIT_PATH).read_text(encoding="utf-8")) or {}
    cats = {
        str(k): {"terms": list(v.get("terms") or []), "near": list(v.get("near") or [])}
        for k, v in (raw.get("categories") or {}).items()
    }
    return {"near_fit": float(raw.get("near_fit", 0.5)), "categories": cats}


def _compact_terms(terms: list[str]) -> list[str]:
    """Terms folded exactly like the text they are matched on (compact view), deduplicated."""
    if not terms:
        return []
    s = pl.select(compact_expr(pl.Series("t", terms, dtype=pl.String))).to_series()
    return [t for t in dict.fromkeys(s.to_list()) if t]


def _term_regex(terms: list[str]) -> str | None:
    """One alternation of literal terms, longest first. A term with a Latin/digit edge also
    swallows glued Latin letters and digits, so a hit is kept only if it equals a term exactly:
    a whole-word test without look-around (which the Rust regex engine lacks)."""
    parts = []
    for t in sorted(terms, key=len, reverse=True):
        rx = re.escape(t)
        if t[:1].isascii() and t[:1].isalnum():
            rx = "[a-z0-9]*" + rx
        if t[-1:].isascii() and t[-1:].isalnum():
            rx = rx + "[a-z0-9]*"
        parts.append(rx)
    return "|".join(parts) if parts else None


def _hits(text: pl.Expr, terms: list[str]) -> pl.Expr:
    """Exact term hits (unique, in order) per row of a compact-view text column."""
    rx = _term_regex(terms)
    if rx is None:
        return pl.lit([], dtype=pl.List(pl.String))
    return (
        text.str.extract_all(rx)
        .list.eval(pl.element().filter(pl.element().is_in(terms)))
        .list.unique(maintain_order=True)
    )


def _cue(text: pl.Expr, spec: dict[str, list[str]]) -> pl.Expr:
    """True where the (raw) text has a term of the given lexicon groups."""
    return (
        pl.concat_list([match_terms(text, lex, groups) for lex, groups in spec.items()])
        .list.len()
        .fill_null(0)
        > 0
    )


def _negative_scorer(sentiment_model: object | None) -> Callable[[pl.Series], pl.Series] | None:
    """A function texts -> P(negative): the given model (an object with ``negative_probability``,
    or a callable), else the committed model; None when no model file is available."""
    if sentiment_model is None:
        from kol_vetting.text.sentiment import load_sentiment_model

        try:
            sentiment_model = load_sentiment_model()
        except FileNotFoundError:
            return None
    fn = getattr(sentiment_model, "negative_probability", None)
    if callable(fn):
        return fn
    if callable(sentiment_model):
        return sentiment_model  # type: ignore[return-value]
    raise TypeError("sentiment_model must have negative_probability(texts) or be callable")


def _score_texts(
    df: pl.DataFrame, col: str, scorer: Callable[[pl.Series], pl.Series] | None
) -> pl.DataFrame:
    """Add ``p_neg`` (P(negative), null without a model) for ``df[col]``, scoring each distinct
    text once (comments repeat a lot: 求链接, emoji-only ...)."""
    if scorer is None or df.is_empty():
        return df.with_columns(pl.lit(None, dtype=pl.Float64).alias("p_neg"))
    uniq = df.select(pl.col(col).drop_nulls().unique())
    probs = scorer(uniq[col]) if uniq.height else pl.Series([], dtype=pl.Float64)
    uniq = uniq.with_columns(pl.Series("p_neg", probs, dtype=pl.Float64))
    return df.join(uniq, on=col, how="left", maintain_order="left")


def _negative_flag(p_neg: pl.Expr, complaint: pl.Expr, praise: pl.Expr, bar: float) -> pl.Expr:
    """Negative = P(negative) >= bar unless a praise cue without a complaint cue; without a model
    (p_neg null) a complaint cue alone decides."""
    return (
        pl.when(p_neg.is_null()).then(complaint).otherwise((p_neg >= bar) & ~(praise & ~complaint))
    )


def _fmt_num(x: pl.Expr, decimals: int = 2) -> pl.Expr:
    return x.round(decimals).cast(pl.String)


def _pct(x: pl.Expr) -> pl.Expr:
    return (x * 100).round(0).cast(pl.Int64).cast(pl.String) + pl.lit("%")


def _pts(x: pl.Expr) -> pl.Expr:
    return x.round(0).cast(pl.Int64).cast(pl.String)


def _wilson_low(k: pl.Expr, n: pl.Expr, z: float) -> pl.Expr:
    """Lower bound of the Wilson score interval of k / n (null when n is 0 or null)."""
    nf = n.cast(pl.Float64)
    p = k.cast(pl.Float64) / nf
    z2 = z * z
    centre = p + z2 / (2 * nf)
    half = z * (p * (1 - p) / nf + z2 / (4 * nf * nf)).sqrt()
    return pl.when(nf > 0).then((centre - half) / (1 + z2 / nf))


def _ramp(x: pl.Expr, zero_at: float, full_at: float) -> pl.Expr:
    """0 at ``zero_at``, 1 at ``full_at``, linear between, clipped (either direction)."""
    return ((x - zero_at) / (full_at - zero_at)).clip(0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Feature blocks
# ---------------------------------------------------------------------------------------------


def _note_texts(notes: pl.DataFrame, views: pl.DataFrame | None = None) -> pl.DataFrame:
    """Notes with ``norm`` (title, body and #tags, normalised) and ``compact`` (matching view).

    ``views`` (:func:`kol_vetting.signals.content_text.note_text_views`) are the same views of
    the same text (whitespace separators fold alike); the one text that differs, a non-empty
    tag list of nulls only (here no ``#``, there a lone ``#``), is recomputed.
    """
    tags = pl.col("tags").list.eval(pl.lit("#") + pl.element()).list.join(" ").fill_null("")
    text = pl.concat_str(
        [pl.col("title").fill_null(""), pl.col("body").fill_null(""), tags], separator=" "
    )
    if views is None:
        return notes.with_columns(norm=normalize_expr(text)).with_columns(
            compact=compact_expr(pl.col("norm"), normalized=True)
        )
    tl = pl.col("tags")
    null_tags = (tl.list.len() > 0) & (tl.list.drop_nulls().list.len() == 0)
    return attach_views(
        notes, text, views=views, names=("norm", "compact"), recompute=null_tags
    )


def _sponsorship(notes: pl.DataFrame, audit: pl.DataFrame | None) -> pl.DataFrame:
    """``sponsored`` and ``disclosed`` per note: from the disclosure audit where it has the note,
    else platform label or explicit disclosure wording (see module doc)."""
    cols = {"sponsored": pl.Boolean(), "disclosure": pl.String()}
    if audit is not None and audit.height and "note_id" in audit.columns:
        a = audit.select(
            pl.col("note_id").cast(pl.String),
            *[
                (
                    pl.col(c).cast(t, strict=False) if c in audit.columns else pl.lit(None, dtype=t)
                ).alias(f"_a_{c}")
                for c, t in cols.items()
            ],
        ).unique("note_id", keep="last")
        out = notes.join(a, on="note_id", how="left", maintain_order="left")
    else:
        out = notes.with_columns(*[pl.lit(None, dtype=t).alias(f"_a_{c}") for c, t in cols.items()])
    label = pl.col("platform_sponsor_label").fill_null(False)
    # Wording is matched only where neither the label nor the audit settles both flags
    # (matching is the costly part; with a full audit it is skipped).
    need = ~label & (pl.col("_a_sponsored").is_null() | pl.col("_a_disclosure").is_null())
    out = out.with_row_index("_row")
    wording = out.filter(need).select(
        "_row",
        _explicit=match_terms(pl.col("norm"), "disclosure", "explicit", normalized=True)
        .list.len()
        .fill_null(0)
        > 0,
    )
    out = out.join(wording, on="_row", how="left", maintain_order="left").with_columns(
        _fallback=label | pl.col("_explicit").fill_null(False)
    )
    return out.with_columns(
        sponsored=pl.coalesce(pl.col("_a_sponsored"), pl.col("_fallback")),
        disclosed=pl.when(pl.col("_a_disclosure").is_not_null())
        .then(pl.col("_a_disclosure").is_in(_DISCLOSED_LABELS))
        .otherwise(pl.col("_fallback")),
    ).drop("_row", "_explicit", "_fallback", "_a_sponsored", "_a_disclosure")


def _brand_table(brief: Brief) -> pl.DataFrame:
    """alias (compact view) -> canonical brand and relation; the brief's own names win ties."""
    rows = [(a, brief.brand, "own_brand") for a in _compact_terms(brief.brand_names)]
    for comp in brief.competitors:
        rows += [(a, comp.name, "competitor") for a in _compact_terms(comp.names)]
    df = pl.DataFrame(
        rows, schema={"alias": pl.String, "brand": pl.String, "relation": pl.String}, orient="row"
    )
    return df.unique("alias", keep="first", maintain_order=True)


def _brand_mentions(notes: pl.DataFrame, brands: pl.DataFrame) -> pl.DataFrame:
    """One row per (note, brand named in it)."""
    aliases = brands["alias"].to_list()
    if not aliases or notes.is_empty():
        return pl.DataFrame(
            schema={
                "note_id": pl.String,
                "creator_id": pl.String,
                "published_at": pl.Datetime("us"),
                "sponsored": pl.Boolean,
                "disclosed": pl.Boolean,
                "brand": pl.String,
                "relation": pl.String,
            }
        )
    return (
        notes.select(
            "note_id",
            "creator_id",
            "published_at",
            "sponsored",
            "disclosed",
            alias=_hits(pl.col("compact"), aliases),
        )
        .explode("alias")
        .join(brands, on="alias", how="inner", maintain_order="left")
        .drop("alias")
        .unique(["note_id", "brand"], maintain_order=True)
    )


def _topic(
    brief: Brief,
    notes: pl.DataFrame,
    creators: pl.DataFrame,
    as_of: dt.datetime,
    recent_days: int,
    P: AlignmentParams,
) -> pl.DataFrame:
    """creator_id, recent_notes, topic_similarity, topic_fit (see module doc)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    # Topic text: title and hashtags (where creators name their topic; cheap), plus the start
    # of the body for notes without hashtags. Non-word characters become spaces: punctuation
    # and emoji carry no topic.
    has_tags = pl.col("tags").list.len().fill_null(0) > 0
    raw = pl.concat_str(
        [
            pl.col("title").fill_null(""),
            pl.col("tags").list.join(" ").fill_null(""),
            pl.when(has_tags)
            .then(pl.lit(""))
            .otherwise(pl.col("body").fill_null("").str.slice(0, P.topic_body_chars)),
        ],
        separator=" ",
    )
    clean = compact_expr(raw).str.replace_all(r"[^\p{Han}\p{L}0-9]+", " ")
    recent = notes.filter(pl.col("published_at") > as_of - dt.timedelta(days=recent_days))
    counts = recent.group_by("creator_id").agg(recent_notes=pl.len().cast(pl.Int64))
    docs = (
        recent.sort("published_at", descending=True)
        .filter(pl.int_range(pl.len()).over("creator_id") < P.max_topic_notes)
        .with_columns(doc=clean)
        .group_by("creator_id", maintain_order=True)
        .agg(pl.col("doc").str.join(" "))
    )
    cat = load_category_fit()["categories"].get(brief.category, {})
    words = [*brief.keywords, *cat.get("terms", []), brief.category]
    if P.topic_include_brand_names:
        words += brief.brand_names
    brief_doc = pl.select(
        compact_expr(pl.lit(" ".join(words))).str.replace_all(r"[^\p{Han}\p{L}0-9]+", " ")
    ).item()
    empty = pl.DataFrame(
        schema={
            "creator_id": pl.String,
            "recent_notes": pl.Int64,
            "topic_similarity": pl.Float64,
            "topic_fit": pl.Float64,
        }
    )
    docs = docs.filter(pl.col("doc").str.strip_chars() != "")
    if docs.is_empty() or not brief_doc.strip():
        return counts.join(
            empty.drop("recent_notes"), on="creator_id", how="left", maintain_order="left"
        )
    vec = TfidfVectorizer(
        analyzer="char",
        ngram_range=P.topic_ngram_range,
        sublinear_tf=True,
        lowercase=False,
        dtype=np.float32,
    )
    x = vec.fit_transform([*docs["doc"].to_list(), brief_doc])
    # Rows are L2-normalised: the dot product with the brief row is the cosine.
    sim = np.asarray((x[:-1] @ x[-1].T).todense()).ravel().astype(np.float64)
    out = docs.select("creator_id").with_columns(topic_similarity=pl.Series(sim))
    # Scale against in-category creators of this pool (see AlignmentParams).
    in_cat = out.join(creators.select("creator_id", "category"), on="creator_id").filter(
        pl.col("category") == brief.category
    )
    ref = (
        float(in_cat["topic_similarity"].median())
        if in_cat.height >= P.min_reference_creators
        else P.fallback_reference_similarity
    )
    ref = ref if ref > 0 else P.fallback_reference_similarity
    out = out.with_columns(topic_fit=(pl.col("topic_similarity") / ref).clip(0.0, 1.0))
    return counts.join(out, on="creator_id", how="left", maintain_order="left")


def _category_fit(brief: Brief, creators: pl.DataFrame) -> pl.Expr:
    data = load_category_fit()
    near = set(data["categories"].get(brief.category, {}).get("near", []))
    near |= set(brief.candidate_categories or [])
    near.discard(brief.category)
    c = pl.col("category").str.strip_chars().str.to_lowercase()
    return (
        pl.when(c.is_null() | (c == ""))
        .then(None)
        .when(c == brief.category.lower())
        .then(1.0)
        .when(c.is_in(sorted(near)))
        .then(data["near_fit"])
        .otherwise(0.0)
        .cast(pl.Float64)
    )


def _banned(brief: Brief, notes: pl.DataFrame) -> pl.DataFrame:
    """creator_id, banned_topic_hits (notes), banned_terms, banned_note_ids, banned_dates."""
    terms = _compact_terms(brief.banned_topics)
    schema = {
        "creator_id": pl.String,
        "banned_topic_hits": pl.Int64,
        "banned_terms": pl.List(pl.String),
        "banned_note_ids": pl.List(pl.String),
        "banned_first": pl.Date,
        "banned_last": pl.Date,
    }
    if not terms or notes.is_empty():
        return pl.DataFrame(schema=schema)
    hit = (
        notes.select("creator_id", "note_id", "published_at", terms=_hits(pl.col("compact"), terms))
        .filter(pl.col("terms").list.len() > 0)
        .sort("published_at")
    )
    return hit.group_by("creator_id").agg(
        banned_topic_hits=pl.len().cast(pl.Int64),
        banned_terms=pl.col("terms")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique(maintain_order=True),
        banned_note_ids=pl.col("note_id"),
        banned_first=pl.col("published_at").min().dt.date(),
        banned_last=pl.col("published_at").max().dt.date(),
    )


def _brand_history(
    mentions: pl.DataFrame,
    as_of: dt.datetime,
    lookback_days: int,
    scorer: Callable[[pl.Series], pl.Series] | None,
    note_text: pl.DataFrame,
    P: AlignmentParams,
) -> pl.DataFrame:
    """Per creator: competitor deals in the window (and older ones), unsponsored competitor
    mentions, own-brand mentions, advocacy and critical notes, with their evidence."""
    window_start = as_of - dt.timedelta(days=lookback_days)
    own_notes = mentions.filter(pl.col("relation") == "own_brand")
    m = mentions.with_columns(
        names_own=pl.col("note_id").is_in(own_notes["note_id"].implode()),
        in_window=pl.col("published_at") >= window_start,
    )
    comp = m.filter((pl.col("relation") == "competitor") & ~pl.col("names_own")).sort(
        "published_at"
    )
    deal = pl.col("sponsored").fill_null(False)
    win = pl.col("in_window")
    comp_agg = comp.group_by("creator_id").agg(
        competitor_deals=(deal & win).sum().cast(pl.Int64),
        last_competitor_deal=pl.col("published_at").filter(deal & win).max().dt.date(),
        competitor_brands=pl.col("brand").filter(deal & win).unique(maintain_order=True),
        competitor_note_ids=pl.col("note_id").filter(deal & win).unique(maintain_order=True),
        competitor_dates=pl.col("published_at")
        .filter(deal & win)
        .dt.date()
        .cast(pl.String)
        .unique(maintain_order=True),
        competitor_organic_notes=(~deal & win).sum().cast(pl.Int64),
        competitor_organic_brands=pl.col("brand").filter(~deal & win).unique(maintain_order=True),
        competitor_organic_ids=pl.col("note_id").filter(~deal & win).unique(maintain_order=True),
        old_competitor_deals=(deal & ~win).sum().cast(pl.Int64),
        old_competitor_brands=pl.col("brand").filter(deal & ~win).unique(maintain_order=True),
        old_competitor_last=pl.col("published_at").filter(deal & ~win).max().dt.date(),
    )

    # Own brand: advocacy (unprompted, before any deal, not negative) and criticism.
    own = own_notes.join(
        note_text.select("note_id", pl.col("norm").alias("text")), on="note_id", how="left"
    )
    own = _score_texts(own, "text", scorer).with_columns(
        complaint=_cue(pl.col("text"), _COMPLAINT_CUES),
        praise=_cue(pl.col("text"), _PRAISE_CUES),
    )
    first_deal = (
        pl.col("published_at").filter(pl.col("sponsored").fill_null(False)).min().over("creator_id")
    )
    own = (
        own.with_columns(
            negative=_negative_flag(
                pl.col("p_neg"), pl.col("complaint"), pl.col("praise"), P.negative_bar
            ),
            first_deal=first_deal,
        )
        .with_columns(
            advocacy=~pl.col("sponsored").fill_null(False)
            & ~pl.col("negative")
            & (pl.col("first_deal").is_null() | (pl.col("published_at") < pl.col("first_deal"))),
        )
        .sort("published_at")
    )
    own_agg = own.group_by("creator_id").agg(
        brand_mentions=pl.len().cast(pl.Int64),
        brand_mentions_sponsored=pl.col("sponsored").fill_null(False).sum().cast(pl.Int64),
        brand_advocacy_notes=pl.col("advocacy").sum().cast(pl.Int64),
        advocacy_note_ids=pl.col("note_id").filter(pl.col("advocacy")),
        advocacy_first=pl.col("published_at").filter(pl.col("advocacy")).min().dt.date(),
        brand_critical_notes=pl.col("negative").sum().cast(pl.Int64),
        critical_note_ids=pl.col("note_id").filter(pl.col("negative")),
        first_brand_deal=pl.col("first_deal").first().dt.date(),
    )
    return comp_agg.join(own_agg, on="creator_id", how="full", coalesce=True)


def _ad_response(
    notes: pl.DataFrame,
    comments: pl.DataFrame,
    scorer: Callable[[pl.Series], pl.Series] | None,
    P: AlignmentParams,
) -> pl.DataFrame:
    """Per creator: engagement of sponsored vs organic notes and negative comment shares."""
    eng = (
        pl.col("likes").fill_null(0)
        + pl.col("collects").fill_null(0)
        + pl.col("comments").fill_null(0)
    ).cast(pl.Float64)
    sp = pl.col("sponsored")
    # Each ad's percentile among the creator's organic notes (organic notes with less or equal
    # engagement / all organic notes): under "ads do as well as organic notes" the mean of k
    # such percentiles is about N(0.5, 1/(12k)), which gives a rank test that heavy-tailed
    # engagement cannot fool.
    n = (
        notes.with_columns(eng=eng)
        .sort(["creator_id", "eng", "sponsored"])
        .with_columns(
            org_below=(~sp).cast(pl.Int64).cum_sum().over("creator_id"),
            n_org=(~sp).sum().over("creator_id"),
        )
        .with_columns(
            ad_pct=pl.when(sp & (pl.col("n_org") > 0)).then(pl.col("org_below") / pl.col("n_org"))
        )
    )
    by_note = n.group_by("creator_id").agg(
        sponsored_notes=sp.sum().cast(pl.Int64),
        organic_notes=(~sp).sum().cast(pl.Int64),
        sp_median=pl.col("eng").filter(sp).median(),
        org_median=pl.col("eng").filter(~sp).median(),
        ad_pct_mean=pl.col("ad_pct").mean(),
        # weakest ads first: the evidence of a collapse
        low_ad_ids=pl.col("note_id").filter(sp).sort_by(pl.col("eng").filter(sp)).head(3),
    )
    enough = (
        (pl.col("sponsored_notes") >= P.min_sponsored_notes)
        & (pl.col("organic_notes") >= P.min_organic_notes)
        & (pl.col("org_median") > 0)
    )
    by_note = by_note.with_columns(
        sponsored_engagement_ratio=pl.when(enough).then(pl.col("sp_median") / pl.col("org_median")),
        ad_rank_z=pl.when(enough).then(
            (pl.col("ad_pct_mean") - 0.5) * (12.0 * pl.col("sponsored_notes")).sqrt()
        ),
    )

    # Comments under ads, and under the most recent organic notes (the baseline).
    keep = (
        n.select("note_id", "creator_id", "published_at", "sponsored")
        .with_columns(
            org_rank=pl.col("published_at")
            .rank("ordinal", descending=True)
            .over(["creator_id", "sponsored"])
        )
        .filter(pl.col("sponsored") | (pl.col("org_rank") <= P.max_organic_comment_notes))
    )
    cm = (
        comments.select("comment_id", "note_id", "commenter_id", "text")
        .join(
            keep.select("note_id", "creator_id", "sponsored"),
            on="note_id",
            how="inner",
            maintain_order="left",
        )
        .filter(
            # the creator's own replies are not audience response
            pl.col("commenter_id").is_null() | (pl.col("commenter_id") != pl.col("creator_id"))
        )
        .filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != ""))
    )
    schema_cm = {
        "creator_id": pl.String,
        "sponsored_comments": pl.Int64,
        "organic_comments": pl.Int64,
        "sp_negative": pl.Int64,
        "org_negative": pl.Int64,
        "hostile_ids": pl.List(pl.String),
    }
    if cm.is_empty():
        by_comment = pl.DataFrame(schema=schema_cm)
    else:
        # cues per distinct text too
        uniq = cm.select(pl.col("text").unique()).with_columns(
            complaint=_cue(pl.col("text"), _COMPLAINT_CUES),
            praise=_cue(pl.col("text"), _PRAISE_CUES),
            support=_cue(pl.col("text"), _AD_SUPPORT),
            rejection=_cue(pl.col("text"), _AD_REJECTION),
        )
        base = _negative_flag(
            pl.col("p_neg"), pl.col("complaint"), pl.col("praise"), P.negative_bar
        )
        uniq = _score_texts(uniq, "text", scorer).with_columns(
            # Ad-reception cues override the model both ways (it reads 恰饭 / 广告 as negative).
            negative=pl.col("rejection") | (base & ~pl.col("support")),
            rank_key=pl.col("p_neg").fill_null(1.0),
        )
        cm = cm.join(
            uniq.select("text", "negative", "rank_key"),
            on="text",
            how="left",
            maintain_order="left",
        )
        neg = pl.col("negative").fill_null(False)
        by_comment = cm.group_by("creator_id").agg(
            sponsored_comments=sp.sum().cast(pl.Int64),
            organic_comments=(~sp).sum().cast(pl.Int64),
            sp_negative=(sp & neg).sum().cast(pl.Int64),
            org_negative=(~sp & neg).sum().cast(pl.Int64),
            hostile_ids=pl.col("comment_id")
            .filter(sp & neg)
            .sort_by(pl.col("rank_key").filter(sp & neg), descending=True)
            .head(3),
        )
    by_comment = by_comment.with_columns(
        sponsored_negative_share=pl.when(pl.col("sponsored_comments") >= P.min_ad_comments).then(
            pl.col("sp_negative") / pl.col("sponsored_comments")
        ),
        organic_negative_share=pl.when(pl.col("organic_comments") >= P.min_ad_comments).then(
            pl.col("org_negative") / pl.col("organic_comments")
        ),
    )
    return by_note.join(by_comment, on="creator_id", how="full", coalesce=True)


# ---------------------------------------------------------------------------------------------
# Main entry point
# ---------------------------------------------------------------------------------------------


def score_alignment(
    brief: Brief,
    creators: pl.DataFrame,
    notes: pl.DataFrame,
    comments: pl.DataFrame,
    *,
    as_of: dt.datetime,
    disclosure_audit: pl.DataFrame | None = None,
    sentiment_model: object | None = None,
    params: AlignmentParams | None = None,
    views: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """Alignment of every creator with ``brief``.

    In: the brief; contract tables ``creators``, ``notes``, ``comments`` (may be empty; rows
    after ``as_of`` are ignored); ``as_of`` (naive UTC, or aware and converted); optionally the
    disclosure signal's per-note audit (``note_id``, ``sponsored``, ``disclosure``, ...), a
    sentiment model (an object with ``negative_probability(texts)`` or a callable texts ->
    P(negative); default the committed ``models/comment_sentiment.json``) and parameters.
    Out: ``{"alignment_scores": ..., "brand_associations": ...}`` with the schemas
    :data:`ALIGNMENT_SCHEMA` and :data:`BRAND_ASSOCIATIONS_SCHEMA` (see the module doc).
    ``views``: :func:`kol_vetting.signals.content_text.note_text_views` of the same notes,
    computed once and shared with the other content signals (default: computed here; the
    result is identical).
    """
    P = params or AlignmentParams()
    as_of = _naive_utc(as_of)
    cfg = brief.scorecard_config()
    scorer = _negative_scorer(sentiment_model)

    cr = _conform(creators, "creators").filter(pl.col("creator_id").is_not_null())
    cr = cr.sort("captured_at", nulls_last=False).unique(
        "creator_id", keep="last", maintain_order=True
    )
    cr = cr.select("creator_id", "category")
    nt = (
        _conform(notes, "notes")
        .filter(
            pl.col("note_id").is_not_null()
            & pl.col("published_at").is_not_null()
            & (pl.col("published_at") <= as_of)
            & pl.col("creator_id").is_in(cr["creator_id"].implode())
        )
        .unique("note_id", keep="last", maintain_order=True)
    )
    cm = _conform(comments, "comments").filter(
        pl.col("created_at").is_null() | (pl.col("created_at") <= as_of)
    )

    nt = _sponsorship(_note_texts(nt, views), disclosure_audit)
    brands = _brand_table(brief)
    mentions = _brand_mentions(nt, brands)
    associations = _associations(brief, mentions)

    topic = _topic(brief, nt, cr, as_of, cfg.recent_notes_days, P)
    banned = _banned(brief, nt)
    history = _brand_history(mentions, as_of, cfg.competitor_lookback_days, scorer, nt, P)
    ads = _ad_response(nt, cm, scorer, P)
    counts = nt.group_by("creator_id").agg(notes=pl.len().cast(pl.Int64))

    df = (
        cr.with_columns(category_fit=_category_fit(brief, cr))
        .join(counts, on="creator_id", how="left", maintain_order="left")
        .join(topic, on="creator_id", how="left", maintain_order="left")
        .join(banned, on="creator_id", how="left", maintain_order="left")
        .join(history, on="creator_id", how="left", maintain_order="left")
        .join(ads, on="creator_id", how="left", maintain_order="left")
    )
    scores = _combine(
        df, brief, as_of, cfg.competitor_lookback_days, cfg.recent_notes_days, scorer is not None, P
    )
    return {"alignment_scores": scores, "brand_associations": associations}


def _associations(brief: Brief, mentions: pl.DataFrame) -> pl.DataFrame:
    if mentions.is_empty():
        return pl.DataFrame(schema=BRAND_ASSOCIATIONS_SCHEMA)
    out = (
        mentions.sort("published_at")
        .group_by(["creator_id", "brand", "relation"], maintain_order=True)
        .agg(
            first_seen=pl.col("published_at").min(),
            last_seen=pl.col("published_at").max(),
            notes=pl.len().cast(pl.Int64),
            sponsored_notes=pl.col("sponsored").fill_null(False).sum().cast(pl.Int64),
            disclosed_notes=pl.col("disclosed").fill_null(False).sum().cast(pl.Int64),
            note_ids=pl.col("note_id"),
        )
        .with_columns(brief=pl.lit(brief.name))
        .sort(["creator_id", "relation", "brand"], descending=[False, True, False])
    )
    return out.select([pl.col(c).cast(t) for c, t in BRAND_ASSOCIATIONS_SCHEMA.items()])


def _combine(
    df: pl.DataFrame,
    brief: Brief,
    as_of: dt.datetime,
    lookback_days: int,
    recent_days: int,
    has_model: bool,
    P: AlignmentParams,
) -> pl.DataFrame:
    """Risk points, risk, confidence, reasons and evidence from the feature frame."""
    zero = lambda c: pl.col(c).fill_null(0)
    empty_list = lambda c: pl.col(c).fill_null(pl.lit([], dtype=pl.List(pl.String)))
    count_cols = [
        "recent_notes",
        "banned_topic_hits",
        "competitor_deals",
        "competitor_organic_notes",
        "old_competitor_deals",
        "brand_mentions",
        "brand_mentions_sponsored",
        "brand_advocacy_notes",
        "brand_critical_notes",
        "sponsored_notes",
        "organic_notes",
        "sponsored_comments",
        "organic_comments",
    ]
    list_cols = [
        "banned_terms",
        "banned_note_ids",
        "competitor_brands",
        "competitor_note_ids",
        "competitor_dates",
        "competitor_organic_brands",
        "competitor_organic_ids",
        "old_competitor_brands",
        "advocacy_note_ids",
        "critical_note_ids",
        "low_ad_ids",
        "hostile_ids",
    ]
    df = df.with_columns(
        assessed=pl.col("notes").fill_null(0) > 0,
        **{c: zero(c) for c in count_cols},
        **{c: empty_list(c) for c in list_cols},
    )

    # --- fit
    fit = (
        pl.when(pl.col("category_fit").is_not_null() & pl.col("topic_fit").is_not_null())
        .then(
            P.category_weight * pl.col("category_fit")
            + (1 - P.category_weight) * pl.col("topic_fit")
        )
        .otherwise(pl.coalesce("category_fit", "topic_fit"))
    )
    excess = pl.col("sponsored_negative_share") - pl.col("organic_negative_share")
    sure_excess = _wilson_low(
        pl.col("sp_negative"), pl.col("sponsored_comments"), P.hostile_z
    ) - pl.col("organic_negative_share")
    df = df.with_columns(fit=fit, neg_excess=excess, sure_excess=sure_excess)
    df = (
        df.with_columns(
            pts_fit=(P.fit_points * (1 - pl.col("fit"))).fill_null(0.0),
            competitor_conflict=pl.col("competitor_deals") > 0,
            pts_competitor=pl.when(pl.col("competitor_deals") > 0)
            .then(
                P.competitor_conflict_points
                + P.competitor_extra_deal_points
                * (pl.col("competitor_deals") - 1).clip(0, P.competitor_extra_deals_cap)
            )
            .otherwise(0.0),
            pts_competitor_organic=pl.when(pl.col("competitor_organic_notes") > 0)
            .then(P.competitor_organic_points)
            .otherwise(0.0),
            pts_banned=(pl.col("banned_topic_hits") * P.banned_topic_points_per_note).clip(
                upper_bound=P.banned_topic_points_cap
            ),
            pts_critical=(pl.col("brand_critical_notes") * P.brand_critical_points_per_note).clip(
                upper_bound=P.brand_critical_points_cap
            ),
            pts_collapse=pl.when(pl.col("ad_rank_z") <= -P.collapse_z)
            .then(
                P.ad_collapse_points
                * _ramp(pl.col("sponsored_engagement_ratio"), P.collapse_start, P.collapse_full)
            )
            .otherwise(0.0)
            .fill_null(0.0),
            pts_hostile=(
                P.ad_hostile_points * _ramp(pl.col("sure_excess"), P.hostile_start, P.hostile_full)
            ).fill_null(0.0),
            credit_advocacy=(pl.col("brand_advocacy_notes") * P.advocacy_credit_per_note).clip(
                upper_bound=P.advocacy_credit_cap
            ),
            loved=(pl.col("sponsored_engagement_ratio") >= P.loved_min_ratio)
            & (pl.col("neg_excess") <= P.loved_max_excess),
        )
        .with_columns(
            pl.col("loved").fill_null(False),
            credit_loved=pl.when(pl.col("loved").fill_null(False))
            .then(P.loved_ads_credit)
            .otherwise(0.0),
        )
        .with_columns(
            ads_rejected=(pl.col("pts_collapse") + pl.col("pts_hostile")) >= P.ads_rejected_points,
            ads_welcomed=pl.col("loved"),
        )
    )
    raw = (
        pl.col("pts_fit")
        + pl.col("pts_competitor")
        + pl.col("pts_competitor_organic")
        + pl.col("pts_banned")
        + pl.col("pts_critical")
        + pl.col("pts_collapse")
        + pl.col("pts_hostile")
        - pl.col("credit_advocacy")
        - pl.col("credit_loved")
    )
    notes_factor = (pl.col("recent_notes") / P.confidence_full_notes).clip(0.0, 1.0)
    confidence = (
        P.confidence_base
        + P.confidence_notes_weight * notes_factor
        + P.confidence_category_weight * pl.col("category_fit").is_not_null().cast(pl.Float64)
        # audience response needs comments and a sentiment model to be read at all
        + P.confidence_comments_weight
        * (pl.col("sponsored_negative_share").is_not_null() & pl.lit(has_model)).cast(pl.Float64)
    )
    df = df.with_columns(
        risk=pl.when(pl.col("assessed")).then(raw.clip(0.0, 100.0)),
        confidence=pl.when(pl.col("assessed")).then(confidence.clip(0.0, 1.0)).otherwise(0.0),
    )

    # --- reasons (plain language, with numbers and the points each finding adds)
    brand = brief.brand
    cat = brief.category
    join = lambda c: pl.col(c).list.join("、")
    reasons = [
        pl.when(pl.col("competitor_deals") > 0).then(
            pl.format(
                "Paid work for competitor {} in {} sponsored note(s) in the last {} days (latest {}) (+{} risk)",
                join("competitor_brands"),
                pl.col("competitor_deals"),
                pl.lit(lookback_days),
                pl.col("last_competitor_deal").cast(pl.String),
                _pts(pl.col("pts_competitor")),
            )
        ),
        pl.when(pl.col("banned_topic_hits") > 0).then(
            pl.format(
                "{} note(s) touch banned topics ({}), {} to {} (+{} risk)",
                pl.col("banned_topic_hits"),
                join("banned_terms"),
                pl.col("banned_first").cast(pl.String),
                pl.col("banned_last").cast(pl.String),
                _pts(pl.col("pts_banned")),
            )
        ),
        pl.when(pl.col("brand_critical_notes") > 0).then(
            pl.format(
                "Wrote negatively about {} in {} note(s) (+{} risk)",
                pl.lit(brand),
                pl.col("brand_critical_notes"),
                _pts(pl.col("pts_critical")),
            )
        ),
        pl.when(pl.col("pts_collapse") > 0).then(
            pl.format(
                "Weaker engagement on ads: sponsored notes get {}x the engagement of organic ones "
                "(median {} vs {} over {} vs {} notes) (+{} risk)",
                _fmt_num(pl.col("sponsored_engagement_ratio")),
                _pts(pl.col("sp_median")),
                _pts(pl.col("org_median")),
                pl.col("sponsored_notes"),
                pl.col("organic_notes"),
                _pts(pl.col("pts_collapse")),
            )
        ),
        pl.when(pl.col("pts_hostile") > 0).then(
            pl.format(
                "Hostile comments under ads: {} of {} comments under sponsored notes are negative vs {} "
                "under organic notes (+{} risk)",
                _pct(pl.col("sponsored_negative_share")),
                pl.col("sponsored_comments"),
                _pct(pl.col("organic_negative_share")),
                _pts(pl.col("pts_hostile")),
            )
        ),
        pl.when(pl.col("competitor_organic_notes") > 0).then(
            pl.format(
                "Mentions competitor {} in {} unsponsored note(s) in the last {} days (+{} risk)",
                join("competitor_organic_brands"),
                pl.col("competitor_organic_notes"),
                pl.lit(lookback_days),
                _pts(pl.col("pts_competitor_organic")),
            )
        ),
        pl.when(pl.col("old_competitor_deals") > 0).then(
            pl.format(
                "Earlier paid work for competitor {} ({} note(s), latest {}), outside the {}-day window",
                join("old_competitor_brands"),
                pl.col("old_competitor_deals"),
                pl.col("old_competitor_last").cast(pl.String),
                pl.lit(lookback_days),
            )
        ),
        # fit: always said, good or bad
        pl.when(pl.col("fit").is_not_null()).then(
            pl.format(
                "{}: category {} vs brief {} (category fit {}), topic similarity {} over {} notes of the last {} "
                "days (topic fit {}) (+{} risk)",
                pl.when(pl.col("fit") >= 0.75)
                .then(pl.lit("Content fits the brief"))
                .when(pl.col("fit") >= 0.4)
                .then(pl.lit("Content partly fits the brief"))
                .otherwise(pl.lit("Content is far from the brief")),
                pl.col("category").fill_null("unknown"),
                pl.lit(cat),
                _fmt_num(pl.col("category_fit")).fill_null("n/a"),
                _fmt_num(pl.col("topic_similarity"), 3).fill_null("n/a"),
                pl.col("recent_notes"),
                pl.lit(recent_days),
                _fmt_num(pl.col("topic_fit")).fill_null("n/a"),
                _pts(pl.col("pts_fit")),
            )
        ),
        pl.when(pl.col("assessed") & (pl.col("recent_notes") == 0)).then(
            pl.format("No notes in the last {} days: topic fit not assessed", pl.lit(recent_days))
        ),
        # strengths
        pl.when(pl.col("brand_advocacy_notes") > 0).then(
            pl.format(
                "Mentioned {} unprompted in {} note(s) before any deal (first {}) (-{} risk)",
                pl.lit(brand),
                pl.col("brand_advocacy_notes"),
                pl.col("advocacy_first").cast(pl.String),
                _pts(pl.col("credit_advocacy")),
            )
        ),
        pl.when(pl.col("brand_mentions_sponsored") > 0).then(
            pl.format(
                "Already did {} sponsored note(s) for {} (first {})",
                pl.col("brand_mentions_sponsored"),
                pl.lit(brand),
                pl.col("first_brand_deal").cast(pl.String),
            )
        ),
        pl.when(pl.col("loved")).then(
            pl.format(
                "Audience welcomes ads: sponsored notes get {}x organic engagement, {} negative comments under "
                "ads vs {} under organic notes (-{} risk)",
                _fmt_num(pl.col("sponsored_engagement_ratio")),
                _pct(pl.col("sponsored_negative_share")),
                _pct(pl.col("organic_negative_share")),
                _pts(pl.col("credit_loved")),
            )
        ),
    ]
    none = pl.lit([], dtype=pl.List(pl.String))
    evidence = (
        pl.concat_list(
            [
                pl.col("competitor_note_ids"),
                pl.col("competitor_dates"),
                pl.col("banned_note_ids"),
                pl.col("critical_note_ids"),
                pl.when(pl.col("pts_collapse") > 0).then(pl.col("low_ad_ids")).otherwise(none),
                pl.when(pl.col("pts_hostile") > 0).then(pl.col("hostile_ids")).otherwise(none),
                pl.col("competitor_organic_ids"),
                pl.col("advocacy_note_ids"),
            ]
        )
        .list.unique(maintain_order=True)
        .list.head(P.max_evidence_ids)
    )
    df = df.with_columns(
        reasons=pl.when(pl.col("assessed"))
        .then(pl.concat_list(reasons).list.drop_nulls())
        .otherwise(pl.lit(["Not assessed: no notes"], dtype=pl.List(pl.String))),
        evidence_ids=pl.when(pl.col("assessed"))
        .then(evidence)
        .otherwise(pl.lit([], dtype=pl.List(pl.String))),
        data_as_of=pl.lit(as_of).cast(pl.Datetime("us")),
        brief=pl.lit(brief.name),
    )
    # Unassessed creators: features stay null (we do not know), lists empty.
    feature_nulls = {
        c: pl.when(pl.col("assessed")).then(pl.col(c))
        for c in ALIGNMENT_FEATURES
        if c not in ("brief", "category", "category_fit")
        and not isinstance(ALIGNMENT_FEATURES[c], pl.List)
    }
    df = df.with_columns(**feature_nulls)
    return df.select([pl.col(c).cast(t) for c, t in ALIGNMENT_SCHEMA.items()])
