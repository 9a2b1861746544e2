"""Advertising-law claim risks in notes, and the per-creator claims score for a brief.

PRC Advertising Law (2021 revision) and the Internet Advertising Measures (SAMR, 2023) restrict
what an ad may say. A creator's sponsored note is an ad, so the brand is liable for its claims.
Each claim hit is reported with the phrase and the rule it runs into:

============  ==============================================================================
kind          rule
============  ==============================================================================
absolute      Advertising Law art. 9(3): absolute terms (国家级, 最高级, 最佳, 第一, 唯一 ...)
medical       Advertising Law art. 17: disease-treatment / medical claims outside medicine ads
              (for health food also art. 18; for cosmetics the Cosmetics Regulation art. 37)
medical_soft  Advertising Law art. 17 / Cosmetics Regulation art. 37: efficacy wording close to
              a medical claim (祛痘, 抗敏); needs substantiation, weighs less
finance       Advertising Law art. 25(1): promises of returns or of no risk in investment ads
============  ==============================================================================

Terms come from ``lexicons/ad_claims.yaml`` (groups of the same names), matched on the compact
view of normalised text, so ``最 好 用`` and full-width ``１００％`` still hit.

* :func:`claim_risks_expr` (note or draft level): ``List[Struct{phrase, rule, kind}]`` per row.
* :func:`score_claims` (creator level, per brief): risk 0-100 weighted by the brief's regulated
  category (medical claims matter most for cosmetics/food/health, return promises for finance,
  absolute terms always) and by whether the note was sponsored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from kol_vetting.schema import SIGNAL_SCORE_SCHEMA
from kol_vetting.signals.content_text import COMPACT, NORM, lexicon_hits

#: Lexicon group -> the rule a hit runs into (cited in reasons and in check-text output).
CLAIM_RULES: dict[str, str] = {
    "absolute": "Advertising Law art. 9(3): absolute terms",
    "medical": "Advertising Law art. 17: medical claims outside medicine ads",
    "medical_soft": "Advertising Law art. 17 / Cosmetics Regulation art. 37: efficacy claim close to medical",
    "finance": "Advertising Law art. 25(1): guaranteed returns in investment ads",
}
#: Plain-language names of the claim kinds, for reasons.
CLAIM_NAMES: dict[str, str] = {
    "absolute": "absolute terms",
    "medical": "medical claims",
    "medical_soft": "efficacy claims close to medical",
    "finance": "guaranteed-return claims",
}
CLAIM_STRUCT = pl.Struct({"phrase": pl.String, "rule": pl.String, "kind": pl.String})
REGULATED_CATEGORIES = ("cosmetics", "food", "health", "finance", "none")


def claim_risks_expr(norm: pl.Expr | str = NORM, compact: pl.Expr | str = COMPACT) -> pl.Expr:
    """Claim hits of a text as ``List[Struct{phrase, rule, kind}]`` (empty list when none).

    In: the normalised and compact views of the text (see
    :func:`kol_vetting.signals.content_text.with_text_views`). Out: one struct per distinct
    phrase, absolute terms first, then medical, soft-medical and finance; null text gives [].
    """
    parts = []
    for kind, rule in CLAIM_RULES.items():
        hits = lexicon_hits("ad_claims", kind, norm=norm, compact=compact).fill_null([])
        parts.append(
            hits.list.eval(
                pl.struct(
                    pl.element().alias("phrase"),
                    pl.lit(rule).alias("rule"),
                    pl.lit(kind).alias("kind"),
                )
            )
        )
    return pl.concat_list(parts).cast(pl.List(CLAIM_STRUCT))


@dataclass(frozen=True)
class ClaimParams:
    """Weights of the claims score. A note's weight combines its claim kinds as a noisy-OR of
    ``kind_weight[category][kind]``, times the sponsored / organic factor and the recency
    weight; the creator's risk is 100 * (1 - prod(1 - note weight))."""

    #: regulated category -> claim kind -> weight of one note with that kind of claim.
    kind_weights: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "cosmetics": {"absolute": 0.45, "medical": 0.7, "medical_soft": 0.3, "finance": 0.2},
            "food": {"absolute": 0.45, "medical": 0.7, "medical_soft": 0.3, "finance": 0.2},
            "health": {"absolute": 0.45, "medical": 0.75, "medical_soft": 0.35, "finance": 0.2},
            "finance": {"absolute": 0.45, "medical": 0.3, "medical_soft": 0.1, "finance": 0.75},
            "none": {"absolute": 0.4, "medical": 0.35, "medical_soft": 0.1, "finance": 0.3},
        }
    )
    #: A claim in an organic (not sponsored) note is not an ad: it counts this fraction.
    organic_factor: float = 0.2
    #: Claims lose half their weight after this many days (old notes stay searchable: slow).
    half_life_days: float = 365.0
    #: Notes behind full confidence.
    full_confidence_notes: int = 20
    #: Evidence ids listed per creator.
    max_evidence: int = 10


CLAIMS_EXTRA_SCHEMA = pl.Schema(
    {
        "brief": pl.String(),
        "regulated_category": pl.String(),
        "notes_checked": pl.Int64(),
        "claim_notes": pl.Int64(),
        "sponsored_claim_notes": pl.Int64(),
        "absolute_notes": pl.Int64(),
        "medical_notes": pl.Int64(),
        "finance_notes": pl.Int64(),
        "phrases": pl.List(pl.String()),
    }
)
CLAIMS_SCHEMA = pl.Schema({**SIGNAL_SCORE_SCHEMA, **CLAIMS_EXTRA_SCHEMA})


def score_claims(
    disclosure_audit: pl.DataFrame,
    creators: pl.DataFrame,
    *,
    regulated_category: str,
    as_of: dt.datetime,
    brief_name: str,
    params: ClaimParams | None = None,
) -> pl.DataFrame:
    """Per-creator Advertising-Law claim risk for one brief.

    In: ``disclosure_audit`` from :func:`kol_vetting.signals.disclosure.audit_disclosure` (uses
    note_id, creator_id, published_at, sponsored, claim_risks), the creators table (one output
    row per creator_id), the brief's ``regulated_category`` (cosmetics, food, health, finance or
    none), the vetting date and the brief name.
    Out: :data:`CLAIMS_SCHEMA` (SIGNAL_SCORE_SCHEMA columns first, then ``brief`` and counts).
    A creator without notes is not assessed (risk null).
    """
    P = params or ClaimParams()
    cat = regulated_category if regulated_category in P.kind_weights else "none"
    kw = P.kind_weights[cat]
    as_of_n = _naive(as_of)
    ids = _creator_ids(creators)
    audit = disclosure_audit
    if audit.height == 0 or "claim_risks" not in audit.columns:
        audit = pl.DataFrame(
            schema={"note_id": pl.String, "creator_id": pl.String, "published_at": pl.Datetime("us"),
                    "sponsored": pl.Boolean, "claim_risks": pl.List(CLAIM_STRUCT)}
        )
    notes = audit.select(
        "note_id",
        "creator_id",
        pl.col("published_at").cast(pl.Datetime("us")),
        pl.col("sponsored").fill_null(False),
        pl.col("claim_risks").fill_null([]),
    )
    checked = notes.group_by("creator_id").agg(pl.len().cast(pl.Int64).alias("notes_checked"))
    hits = (
        notes.filter(pl.col("claim_risks").list.len() > 0)
        .explode("claim_risks")
        .unnest("claim_risks")
        .with_columns(pl.col("kind").replace_strict(kw, default=0.0, return_dtype=pl.Float64).alias("kw"))
    )
    age = ((pl.lit(as_of_n) - pl.col("published_at")).dt.total_seconds() / 86400.0).clip(0.0, None)
    per_note = (
        hits.group_by("note_id", "creator_id", "published_at", "sponsored")
        .agg(
            # noisy-OR over the distinct kinds in the note
            (1.0 - (1.0 - pl.col("kw").unique()).product()).alias("w_kinds"),
            pl.col("phrase").unique(maintain_order=True).alias("phrases"),
            pl.col("kind").unique(maintain_order=True).alias("kinds"),
        )
        .with_columns(
            (
                pl.col("w_kinds")
                * pl.when(pl.col("sponsored")).then(1.0).otherwise(P.organic_factor)
                * (0.5 ** (age / P.half_life_days)).fill_null(1.0)
            ).alias("w")
        )
        .sort(["creator_id", "sponsored", "w", "note_id"], descending=[False, True, True, False])
    )
    k = pl.col("kinds")
    agg = per_note.group_by("creator_id", maintain_order=True).agg(
        (100.0 * (1.0 - (1.0 - pl.col("w").clip(0.0, 0.99)).product())).alias("risk_raw"),
        pl.len().cast(pl.Int64).alias("claim_notes"),
        pl.col("sponsored").sum().cast(pl.Int64).alias("sponsored_claim_notes"),
        k.list.contains("absolute").sum().cast(pl.Int64).alias("absolute_notes"),
        (k.list.contains("medical") | k.list.contains("medical_soft")).sum().cast(pl.Int64).alias("medical_notes"),
        k.list.contains("finance").sum().cast(pl.Int64).alias("finance_notes"),
        (k.list.contains("absolute") & pl.col("sponsored")).sum().alias("_abs_sp"),
        (k.list.contains("medical") & pl.col("sponsored")).sum().alias("_med_sp"),
        (k.list.contains("medical_soft") & pl.col("sponsored")).sum().alias("_soft_sp"),
        (k.list.contains("finance") & pl.col("sponsored")).sum().alias("_fin_sp"),
        (~pl.col("sponsored")).sum().alias("_organic"),
        pl.col("phrases").list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True).head(12).alias("phrases"),
        pl.col("note_id").head(P.max_evidence).alias("evidence_ids"),
        pl.col("published_at").max().alias("_last"),
    )
    df = (
        ids.join(checked, on="creator_id", how="left")
        .join(agg, on="creator_id", how="left")
        .with_columns(pl.col("notes_checked").fill_null(0))
    )
    assessed = pl.col("notes_checked") > 0
    df = df.with_columns(
        pl.when(assessed).then(pl.col("risk_raw").fill_null(0.0).round(1)).alias("risk"),
        pl.when(assessed)
        .then((pl.col("notes_checked") / P.full_confidence_notes).clip(0.0, 1.0).round(3))
        .otherwise(0.0)
        .alias("confidence"),
        assessed.alias("assessed"),
        _reasons(cat, assessed).alias("reasons"),
        pl.col("evidence_ids").fill_null([]),
        pl.lit(as_of_n).cast(pl.Datetime("us")).alias("data_as_of"),
        pl.lit(brief_name).alias("brief"),
        pl.lit(cat).alias("regulated_category"),
        *[pl.col(c).fill_null(0) for c in ("claim_notes", "sponsored_claim_notes", "absolute_notes",
                                           "medical_notes", "finance_notes")],
        pl.col("phrases").fill_null([]),
    )
    return df.select(list(CLAIMS_SCHEMA)).cast(dict(CLAIMS_SCHEMA))


def _reasons(cat: str, assessed: pl.Expr) -> pl.Expr:
    """Plain sentences with counts and example phrases, most serious first."""
    phrases = pl.col("phrases").fill_null([]).list.head(4).list.join("、")

    def sentence(count: str, what: str, rule: str) -> pl.Expr:
        n = pl.col(count).fill_null(0)
        return pl.when(n > 0).then(
            pl.format(
                "{} sponsored note(s) make " + what + " (" + rule + ")",
                n.cast(pl.Int64),
            )
        )

    medical_what = (
        f"medical claims, serious for a {cat} brief" if cat in ("cosmetics", "food", "health") else "medical claims"
    )
    finance_what = "guaranteed-return claims, serious for a finance brief" if cat == "finance" else "guaranteed-return claims"
    items = [
        sentence("_med_sp", medical_what, CLAIM_RULES["medical"]),
        sentence("_fin_sp", finance_what, CLAIM_RULES["finance"]),
        sentence("_abs_sp", "absolute claims", CLAIM_RULES["absolute"]),
        sentence("_soft_sp", "efficacy claims close to medical", "Advertising Law art. 17"),
        pl.when(pl.col("_organic").fill_null(0) > 0).then(
            pl.format("{} organic note(s) use restricted claim wording (weighs less: not ads)",
                      pl.col("_organic").cast(pl.Int64))
        ),
        pl.when(pl.col("claim_notes").fill_null(0) > 0).then(pl.format("Phrases: {}", phrases)),
    ]
    listed = pl.concat_list(items).list.drop_nulls()
    return (
        pl.when(~assessed)
        .then(pl.lit(["No notes to check for Advertising-Law claims"], dtype=pl.List(pl.String)))
        .when(pl.col("claim_notes").fill_null(0) == 0)
        .then(
            pl.format("No Advertising-Law claim wording in {} notes checked", pl.col("notes_checked")).cast(pl.String).repeat_by(1)
        )
        .otherwise(listed)
    )


def _creator_ids(creators: pl.DataFrame) -> pl.DataFrame:
    if creators is None or creators.height == 0 or "creator_id" not in creators.columns:
        return pl.DataFrame(schema={"creator_id": pl.String})
    return creators.select(pl.col("creator_id").cast(pl.String)).unique(maintain_order=True)


def _naive(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment
