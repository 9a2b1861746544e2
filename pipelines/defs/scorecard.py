"""Group ``scorecard``: the per-brief scorecard, its checks, and the typed vetting request.

Partitioned by brief (dynamic partitions: the brief sensor adds one per brief file).
:class:`VettingRequest` is the run config a marketer fills in to vet a shortlist or to vet as
of a date. It configures the ``vetting_request`` asset (group ``brief_fit``, the first step of
``vet_candidates``), which records it in ``vetting_requests``; the scorecard, brand fit and the
``every_candidate_scored`` check read that record (:func:`recorded_request`). The rules
themselves live in :class:`kol_vetting.scorecard.CandidateRequest`.
"""


import dagster as dg
import polars as pl
from pydantic import Field, ValidationError

from kol_vetting import warehouse as wh
from kol_vetting.brief import SIGNALS
from kol_vetting.scorecard import (
    DECISION_LABELS,
    CandidateRequest,
    build_scorecard,
    evidence_ids,
    evidence_table,
    request_from_record,
    select_candidates,
    up_to,
)
from pipelines.io import data_as_of
from pipelines.metadata import markdown_table, risk_histogram
from pipelines.resources import BriefLibrary, WarehouseResource

brief_partitions = dg.DynamicPartitionsDefinition(name="brief")

# Signal tables the scorecard reads when they exist (a missing one is "not assessed").
SIGNAL_TABLES = {s: f"{s}_scores" for s in SIGNALS}
BRIEF_SCOPED = {"alignment", "claims"}  # tables with a `brief` column, read for the partition only


class VettingRequest(dg.Config):
    """What to vet for one brief (all optional: empty = every candidate of the brief on the latest data)."""

    brief: str | None = Field(
        default=None,
        description="Brief name (the partition). Optional: defaults to the partition you picked and must match it if given.",
    )
    creator_ids: list[str] = Field(
        default=[],
        description="Vet exactly these creator ids (a shortlist), even if the brief's category or follower filters would "
                    "leave them out. Empty: the brief's candidates. An unknown id stops the run with its name.",
    )
    tiers: list[str] = Field(
        default=[],
        description="Only these follower tiers: nano (<10k), micro (10k-100k), mid (100k-500k), macro (500k-1M), mega (1M+). "
                    "Empty: all tiers.",
    )
    categories: list[str] = Field(
        default=[], description="Only creators in these content categories (beauty, food, ...), on top of the brief's. Empty: all."
    )
    min_followers: int | None = Field(default=None, description="Only creators with at least this many followers.")
    max_followers: int | None = Field(default=None, description="Only creators with at most this many followers.")
    as_of: str | None = Field(
        default=None,
        description="Vetting date YYYY-MM-DD (UTC). Look-back windows count back from the end of that day and notes or "
                    "comments after it are left out of brand fit, claims and expected engagement. Empty: the data's "
                    "latest capture. Brand-independent signals (authenticity, controversy, disclosure) are used as last computed.",
    )

    def resolve(self, partition_key: str) -> CandidateRequest:
        """The domain request, or a run failure that says in plain words what is wrong."""
        if self.brief not in (None, "", partition_key):
            raise dg.Failure(
                description=f"The request names brief {self.brief!r} but the run is for partition {partition_key!r}: "
                            "leave `brief` empty or pick that partition."
            )
        try:
            return CandidateRequest.model_validate(self.model_dump(exclude={"brief"}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise dg.Failure(description=f"Invalid vetting request: {problems}") from None


def recorded_request(con, brief_name: str) -> CandidateRequest:
    """The request the brief's last ``vetting_request`` recorded; the default (empty) when none."""
    if not wh.table_exists(con, "vetting_requests"):
        return CandidateRequest()
    rows = wh.read_partition(con, "vetting_requests", column="brief", value=brief_name)
    return request_from_record(rows.row(0, named=True)) if rows.height else CandidateRequest()


def _read_signals(con, brief_name: str) -> dict[str, pl.DataFrame | None]:
    out: dict[str, pl.DataFrame | None] = {}
    for signal, table in SIGNAL_TABLES.items():
        if not wh.table_exists(con, table):
            out[signal] = None
        elif signal in BRIEF_SCOPED:
            out[signal] = wh.read_partition(con, table, column="brief", value=brief_name)
        else:
            out[signal] = wh.read_table(con, table)
    return out


@dg.asset(
    group_name="scorecard",
    partitions_def=brief_partitions,
    kinds={"duckdb", "polars"},
    owners=["team:brand-safety"],
    deps=["vetting_request", "creators", "notes", "authenticity_scores", "controversy_scores", "disclosure_scores",
          "claims_scores", "alignment_scores"],
    pool="warehouse",
    description=(
        "The vetting scorecard of one brief: per candidate creator, sub-scores (authenticity, "
        "controversy, disclosure, claims, alignment) with peer percentile and confidence, overall "
        "risk, grade A–F, decision with conditions, reasons, strengths and evidence ids."
    ),
)
def scorecard(context: dg.AssetExecutionContext, warehouse: WarehouseResource, briefs: BriefLibrary) -> dg.MaterializeResult:
    brief = briefs.load(context.partition_key)
    with warehouse.connect() as con:
        request = recorded_request(con, brief.name)
        creators, notes = wh.read_table(con, "creators"), wh.read_table(con, "notes")
        signals = _read_signals(con, brief.name)
        as_of = request.as_of_time or data_as_of(con)
        card = build_scorecard(brief, creators, up_to(notes, "published_at", request.as_of_time), signals, as_of=as_of, request=request)
        # only the comments and followers the evidence names leave DuckDB
        wanted = evidence_ids(card, signals)
        comments = wh.read_rows(con, "comments", column="comment_id", values=wanted)
        samples = wh.read_rows(con, "follower_samples", column="follower_id", values=wanted)
        evidence = evidence_table(card, signals, notes, comments, samples)
        wh.replace_partition(con, {"scorecard": card, "scorecard_evidence": evidence}, column="brief", value=brief.name)
    counts = card.group_by("decision").len()
    by_decision = {DECISION_LABELS[d]: n for d, n in counts.iter_rows()}
    cols = ["display_name", "tier", "decision", "grade", "overall_risk", "quoted_price"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": card.height,
            "request": request.describe(),
            "vetting date (as of)": as_of.isoformat(sep=" ", timespec="seconds"),
            **{f"decision: {k}": v for k, v in sorted(by_decision.items())},
            "needs attention (reject / review first)": dg.MetadataValue.md(markdown_table(card, cols)),
            "best (lowest risk)": dg.MetadataValue.md(markdown_table(card.sort("overall_risk", nulls_last=True), cols)),
            "not assessed": ", ".join(s for s in SIGNALS if signals.get(s) is None) or "none",
            "risk distribution": risk_histogram(card["overall_risk"], f"overall risk, brief {brief.name}"),
        }
    )


@dg.asset_check(asset=scorecard, description="Every candidate of the brief (or of the run's vetting request) has exactly one scorecard row, and no one else has.")
def every_candidate_scored(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, briefs: BriefLibrary) -> dg.AssetCheckResult:
    """Expected = the candidates of the request recorded with the partition (the brief's own when none)."""
    brief = briefs.load(context.partition_key)
    with warehouse.connect(read_only=True) as con:
        creators = wh.read_table(con, "creators")
        card = wh.read_partition(con, "scorecard", column="brief", value=brief.name)
        request = recorded_request(con, brief.name)
    expected = set(select_candidates(creators, brief, request)["creator_id"])
    got = card["creator_id"].to_list()
    missing, extra = expected - set(got), set(got) - expected
    ok = not missing and not extra and len(got) == len(set(got)) == len(expected)
    return dg.AssetCheckResult(
        passed=ok,
        metadata={"candidates": len(expected), "rows": len(got), "missing": len(missing), "unexpected": len(extra),
                  "request": request.describe()},
        description=", ".join(sorted(missing | extra)[:10]) or None,
    )


@dg.asset_check(asset=scorecard, description="No score lies outside 0–100.")
def scores_in_range(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    cols = [f"{s}_risk" for s in SIGNALS] + ["overall_risk"]
    with warehouse.connect(read_only=True) as con:
        card = wh.read_partition(con, "scorecard", column="brief", value=context.partition_key)
    bad = card.filter(pl.any_horizontal([(pl.col(c) < 0) | (pl.col(c) > 100) for c in cols])).height
    return dg.AssetCheckResult(passed=bad == 0, metadata={"rows_out_of_range": bad})


@dg.asset_check(asset=scorecard, description="Every rejected creator has at least one evidence id behind the decision.")
def rejects_have_evidence(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        card = wh.read_partition(con, "scorecard", column="brief", value=context.partition_key)
    rejects = card.filter(pl.col("decision") == "reject")
    bare = rejects.filter(pl.col("evidence_ids").list.len() == 0)
    return dg.AssetCheckResult(
        passed=bare.height == 0,
        metadata={"rejects": rejects.height, "rejects_without_evidence": bare.height},
        description=", ".join(bare["creator_id"].head(10).to_list()) or None,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[scorecard],
        asset_checks=[every_candidate_scored, scores_in_range, rejects_have_evidence],
    )
