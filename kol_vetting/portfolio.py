"""The diversified portfolio: which vetted creators to book, within the brief's budget and rules.

Three steps, each a public function:

* :func:`audience_overlap` estimates how much two creators' audiences overlap, from the
  accounts seen engaging with both (commenters) and from shared accounts in follower samples.
* :func:`recommend_portfolio` picks creators (and optionally several notes each) with a mixed
  integer programme (``scipy.optimize.milp``, HiGHS) that maximises expected quality-adjusted
  engagement under the brief's budget, tier mix, per-creator cap and risk caps, spreads the
  result so no single creator carries too much of it, and keeps overlapping audiences apart.
  It explains itself: why each creator was chosen, why each runner-up was not, how the plan
  compares with two naive plans, and, when the brief cannot be met, which rule to relax.
* :func:`portfolio_markdown` and :func:`portfolio_plot` render a result for the Dagster UI.

Objective (documented here once)
--------------------------------
Each candidate ``i`` booked for ``n_i`` notes contributes ``n_i * E_i * (1 - risk_i / 100)``:
``E_i`` is the expected (median) engagement of one note from the scorecard, and the factor
``1 - risk/100`` discounts it by the vetting risk (a creator with risk 30 is worth 70% of the
same engagement from a spotless one: the risk is read as the chance-weighted share of the
result that is lost to fakes, backlash or a pulled campaign). Extra notes from one creator are
counted linearly (no fatigue model); ``max_notes_per_creator`` bounds that.
When both creators of an overlapping pair are booked, ``overlap_penalty * overlap_ij *
min(q_i, q_j) * notes_per_creator`` is subtracted (``q`` = quality-adjusted engagement of one
note): the overlapping part of the smaller audience is partly reached twice.

Reach estimator
---------------
A creator's audience is its follower count ``F_i``. The expected unique reach of a selection is
the pairwise (second-order Bonferroni) inclusion-exclusion estimate
``sum_i F_i - sum_{i<j} overlap_ij * min(F_i, F_j)``, clipped below at ``max_i F_i`` (it can
never be less than the biggest single audience; the pairwise sum over-subtracts when three or
more audiences share people). Impressions are ``sum_i n_i * F_i`` (one exposure per follower per
note) and average frequency is impressions / unique reach. Pairs without an overlap estimate
count as disjoint, so reach is an upper estimate where overlap is unmeasured.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np
import polars as pl
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from kol_vetting.brief import Brief
from kol_vetting.schema import TIERS

TIER_ORDER = tuple(name for name, _ in TIERS)
APPROVED = ("approve", "approve_with_conditions")
# Constraint families that can be relaxed when a brief is infeasible, in the order they are
# proposed: rules about the mix first, money last (a bigger budget is the hardest ask).
RELAX_ORDER = (
    "tier_min",
    "tier_max",
    "coverage",
    "creator_count",
    "result_share",
    "overlap",
    "average_risk",
    "per_creator_cap",
    "budget",
)
# Keys of PortfolioResult.to_json(), in order (the first 14 are the contract; the rest are extras).
JSON_KEYS = (
    "brief",
    "budget",
    "total_cost",
    "expected_engagement",
    "expected_unique_reach",
    "average_frequency",
    "average_risk",
    "selected",
    "runners_up",
    "by_tier",
    "baselines",
    "optimality_gap",
    "status",
    "infeasible",
    "currency",
    "quality_adjusted_engagement",
    "objective",
    "solve_seconds",
    "worst_case_loss",
    "candidates",
    "message",
)
_EPS = 1e-6

PAIR_SCHEMA = pl.Schema(
    {
        "creator_a": pl.String(),
        "creator_b": pl.String(),
        "shared_engagers": pl.Int64(),
        "engagers_a": pl.Int64(),
        "engagers_b": pl.Int64(),
        "engager_overlap": pl.Float64(),
        "shared_followers": pl.Int64(),
        "followers_a": pl.Int64(),
        "followers_b": pl.Int64(),
        "follower_overlap": pl.Float64(),
        "overlap": pl.Float64(),
    }
)


# ---------------------------------------------------------------------------------------------
# Audience overlap
# ---------------------------------------------------------------------------------------------


def _pair_counts(
    members: pl.LazyFrame,
    *,
    min_audience: int,
    min_shared: int,
    max_creators_per_member: int,
    prefix: str,
) -> pl.DataFrame:
    """Shared members per creator pair (creator_a < creator_b) and the overlap coefficient.

    ``members``: unique (creator_id, member_id). The coefficient is |A∩B| / min(|A|, |B|) on the
    observed sets; creators with fewer than ``min_audience`` observed members get no estimate
    (too noisy), and pairs sharing fewer than ``min_shared`` members are dropped.

    The shared counts are one sparse product: with ``B`` the creator x member incidence matrix,
    ``(B @ B.T)[a, b]`` is the number of members creators ``a`` and ``b`` share. Exact integer
    counts, the same as a self-join on the member grouped by creator pair, at a fraction of the
    cost (a hash self-join of a million memberships builds tens of millions of rows).
    """
    m_all = members.collect()
    sizes = m_all.group_by("creator_id").agg(pl.len().cast(pl.Int64).alias("n"))
    # Creators numbered in string order, so code_a < code_b is creator_a < creator_b.
    codes = (
        sizes.filter(pl.col("n") >= min_audience)
        .select("creator_id")
        .sort("creator_id")
        .with_row_index("_c")
    )
    m = m_all.join(codes, on="creator_id", how="inner")
    shared_col = f"shared_{prefix}"
    pairs = pl.DataFrame(
        schema={"creator_a": pl.String, "creator_b": pl.String, shared_col: pl.Int64}
    )
    if m.height:
        # Dense member numbers and each member's number of creators, without sorting strings.
        member_code = m["member_id"].cast(pl.Categorical).to_physical().to_numpy()
        _, member, per_member = np.unique(member_code, return_inverse=True, return_counts=True)
        # A member seen with hundreds of creators (a bot, a pod account) says little about
        # audience and would add O(k^2) pairs: leave it out.
        keep = (per_member[member] >= 2) & (per_member[member] <= max_creators_per_member)
        rows = m["_c"].to_numpy()[keep].astype(np.int64)
        cols = member.ravel()[keep].astype(np.int64)
        if len(rows):
            incidence = sparse.csr_matrix(
                (np.ones(len(rows), dtype=np.int64), (rows, cols)),
                shape=(codes.height, int(cols.max()) + 1),
            )
            shared = sparse.triu(incidence @ incidence.T, k=1).tocoo()
            ok = shared.data >= min_shared
            names = codes["creator_id"]
            pairs = pl.DataFrame(
                {
                    "creator_a": names.gather(shared.row[ok].astype(np.int64)),
                    "creator_b": names.gather(shared.col[ok].astype(np.int64)),
                    shared_col: pl.Series(shared.data[ok].astype(np.int64), dtype=pl.Int64),
                }
            )
    return (
        pairs.join(
            sizes.rename({"creator_id": "creator_a", "n": f"{prefix}_a"}),
            on="creator_a",
            how="left",
        )
        .join(
            sizes.rename({"creator_id": "creator_b", "n": f"{prefix}_b"}),
            on="creator_b",
            how="left",
        )
        .with_columns(
            (pl.col(shared_col) / pl.min_horizontal(f"{prefix}_a", f"{prefix}_b")).alias(
                f"{prefix[:-1]}_overlap"
            )
        )
    )


def audience_overlap(
    comments: pl.DataFrame,
    notes: pl.DataFrame,
    follower_samples: pl.DataFrame | None = None,
    creators_subset: Iterable[str] | None = None,
    *,
    min_audience: int = 10,
    min_shared: int = 2,
    max_creators_per_member: int = 200,
    exclude_self_comments: bool = True,
    with_graph: bool = True,
) -> tuple[pl.DataFrame, nx.Graph | None]:
    """Pairwise audience overlap between creators, as a table and a weighted graph.

    In:
    * ``comments`` (comment_id, note_id, commenter_id, ...) and ``notes`` (note_id, creator_id):
      a creator's engagers are the distinct commenters under its notes;
    * ``follower_samples`` (creator_id, follower_id), optional: a creator's sampled followers;
    * ``creators_subset``: only these creators (e.g. the approved candidates); default all;
    * ``min_audience``: fewer observed engagers (or sampled followers) than this and that source
      gives no estimate for the creator; ``min_shared``: pairs sharing fewer accounts are dropped;
    * ``max_creators_per_member``: accounts seen with more creators are ignored (bots, pods);
    * ``exclude_self_comments``: a creator replying under its own notes is not its audience.

    Out: ``(pairs, graph)``. ``pairs`` has :data:`PAIR_SCHEMA` columns, one row per pair with
    any evidence (creator_a < creator_b): shared counts, set sizes, per-source overlap
    coefficients |A∩B| / min(|A|, |B|) and ``overlap`` = the larger of the two (the stronger
    evidence of a shared audience decides, as diversification errs on the side of caution).
    ``graph`` has one node per creator seen (attributes ``engagers``, ``followers_sampled``)
    and one edge per pair, ``weight`` = overlap; None when ``with_graph`` is False (callers
    that only need the table save building it: on 2,700 candidates it has a million edges).

    All work is one sparse incidence-matrix product per source: no loop over creators.
    Sampled-follower overlap is measured on the samples themselves; for random samples of big
    audiences it understates the true overlap (it is an indicator, not a census).
    """
    subset = (
        None
        if creators_subset is None
        else pl.DataFrame({"creator_id": list(creators_subset)}, schema={"creator_id": pl.String})
    )
    engagers = (
        comments.lazy()
        .select("note_id", pl.col("commenter_id").alias("member_id"))
        .drop_nulls()
        .join(notes.lazy().select("note_id", "creator_id"), on="note_id", how="inner")
    )
    if exclude_self_comments:
        engagers = engagers.filter(pl.col("member_id") != pl.col("creator_id"))
    engagers = engagers.select("creator_id", "member_id").unique()
    sources = {"engagers": engagers}
    if follower_samples is not None and not follower_samples.is_empty():
        sources["followers"] = (
            follower_samples.lazy()
            .select("creator_id", pl.col("follower_id").alias("member_id"))
            .drop_nulls()
            .unique()
        )
    if subset is not None:
        sources = {
            k: v.join(subset.lazy(), on="creator_id", how="semi") for k, v in sources.items()
        }

    keys = ["creator_a", "creator_b"]
    out: pl.DataFrame | None = None
    node_sizes: dict[str, pl.DataFrame] = {}
    for prefix, lazy_members in sources.items():
        members = lazy_members.collect().lazy()  # evaluated once, used twice below
        part = _pair_counts(
            members,
            min_audience=min_audience,
            min_shared=min_shared,
            max_creators_per_member=max_creators_per_member,
            prefix=prefix,
        )
        if with_graph:
            node_sizes[prefix] = (
                members.group_by("creator_id").agg(pl.len().cast(pl.Int64).alias(prefix)).collect()
            )
        out = part if out is None else out.join(part, on=keys, how="full", coalesce=True)
    assert out is not None
    for col, dtype in PAIR_SCHEMA.items():
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype).alias(col))
    pairs = (
        out.with_columns(
            pl.max_horizontal("engager_overlap", "follower_overlap").clip(0, 1).alias("overlap"),
            pl.col("shared_engagers", "shared_followers").fill_null(0),
        )
        .select(list(PAIR_SCHEMA.names()))
        .cast(dict(PAIR_SCHEMA))
        .sort("overlap", "creator_a", "creator_b", descending=[True, False, False])
    )
    if not with_graph:
        return pairs, None

    graph = nx.Graph()
    nodes = pl.concat([f.select("creator_id") for f in node_sizes.values()]).unique()
    for prefix, sizes in node_sizes.items():
        nodes = nodes.join(sizes, on="creator_id", how="left")
    if "followers" in nodes.columns:
        nodes = nodes.rename({"followers": "followers_sampled"})
    for row in nodes.iter_rows(named=True):
        graph.add_node(row.pop("creator_id"), **{k: (v or 0) for k, v in row.items()})
    graph.add_weighted_edges_from(
        zip(pairs["creator_a"].to_list(), pairs["creator_b"].to_list(), pairs["overlap"].to_list())
    )
    return pairs, graph


def expected_reach(
    selection: pl.DataFrame, overlap_pairs: pl.DataFrame | None = None
) -> dict[str, float]:
    """Expected unique reach, impressions and average frequency of a selection.

    In: ``selection`` with creator_id, follower_count and notes (notes booked, default 1);
    ``overlap_pairs`` with creator_a, creator_b, overlap (from :func:`audience_overlap`).
    Out: ``{"impressions", "unique_reach", "average_frequency"}`` per the module's estimator:
    unique reach = sum F_i - sum_{pairs} overlap * min(F_i, F_j), clipped to [max F_i, sum F_i].
    """
    if selection.is_empty():
        return {"impressions": 0.0, "unique_reach": 0.0, "average_frequency": 0.0}
    sel = selection.select(
        "creator_id",
        pl.col("follower_count").cast(pl.Float64).fill_null(0.0),
        (pl.col("notes") if "notes" in selection.columns else pl.lit(1))
        .cast(pl.Float64)
        .alias("notes"),
    )
    total = float(sel["follower_count"].sum())
    impressions = float((sel["follower_count"] * sel["notes"]).sum())
    dup = 0.0
    if overlap_pairs is not None and not overlap_pairs.is_empty():
        f = sel.select("creator_id", "follower_count")
        dup_frame = (
            overlap_pairs.select(
                pl.min_horizontal("creator_a", "creator_b").alias("creator_a"),
                pl.max_horizontal("creator_a", "creator_b").alias("creator_b"),
                "overlap",
            )
            .filter(pl.col("creator_a") != pl.col("creator_b"))
            .group_by("creator_a", "creator_b")
            .agg(pl.col("overlap").max())  # a pair given in both directions counts once
            .join(
                f.rename({"creator_id": "creator_a", "follower_count": "fa"}),
                on="creator_a",
                how="inner",
            )
            .join(
                f.rename({"creator_id": "creator_b", "follower_count": "fb"}),
                on="creator_b",
                how="inner",
            )
            .select((pl.col("overlap").fill_null(0) * pl.min_horizontal("fa", "fb")).sum())
        )
        dup = float(dup_frame.item() or 0.0)
    reach = min(total, max(total - dup, float(sel["follower_count"].max())))
    return {
        "impressions": impressions,
        "unique_reach": reach,
        "average_frequency": impressions / reach if reach > 0 else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# The optimisation problem
# ---------------------------------------------------------------------------------------------


@dataclass
class _Problem:
    """Arrays of one portfolio problem (index i = row of ``pool``)."""

    pool: pl.DataFrame
    cost: np.ndarray  # per note
    q: np.ndarray  # quality-adjusted engagement per note
    risk: np.ndarray
    tier: np.ndarray
    cap_notes: np.ndarray  # most notes the per-creator cap allows
    risk_ok: np.ndarray  # risk <= max_creator_risk
    k: int
    kmax: int
    budget: float
    currency: str
    tier_targets: dict[str, tuple[float, float]]
    basis: str
    cap_share: float
    max_average_risk: float
    max_creator_risk: float
    result_share: float | None
    coverage: list[tuple[str, str, int, np.ndarray]]
    pair_i: np.ndarray  # all known pairs inside the pool (for reasons and reach)
    pair_j: np.ndarray
    pair_o: np.ndarray
    conflict: np.ndarray  # mask over pairs: not both
    penalised: np.ndarray  # mask over pairs: penalty when both
    pen: np.ndarray  # penalty per pair (0 outside ``penalised``)
    overlap_pairs: pl.DataFrame | None
    max_pair_overlap: float | None
    max_creators: int | None

    @property
    def n(self) -> int:
        return len(self.cost)

    @property
    def fixed_notes(self) -> bool:
        return self.k == self.kmax


@dataclass
class _Solution:
    status: str
    notes: np.ndarray  # notes per candidate (0 = not chosen)
    objective: float | None
    gap: float | None
    seconds: float
    message: str


def _prepare_pool(
    scorecard: pl.DataFrame, brief: Brief, decisions: Sequence[str], coverage_cols: Iterable[str]
) -> tuple[pl.DataFrame, str]:
    """Approved candidates with everything the optimiser needs, and a sentence on who was left out."""
    sc = scorecard
    if "brief" in sc.columns and sc.filter(pl.col("brief") == brief.name).height:
        sc = sc.filter(pl.col("brief") == brief.name)
    approved = sc.filter(pl.col("decision").is_in(list(decisions))).unique(
        "creator_id", keep="first", maintain_order=True
    )
    checks = {
        "no price": pl.col("quoted_price").is_null() | (pl.col("quoted_price") <= 0),
        "no expected engagement": pl.col("expected_engagement").is_null()
        | (pl.col("expected_engagement") < 0),
        "no risk score": pl.col("overall_risk").is_null(),
        "no follower count": pl.col("follower_count").is_null() | pl.col("tier").is_null(),
    }
    counts = (
        approved.select([e.sum().alias(k) for k, e in checks.items()]).row(0, named=True)
        if approved.height
        else {}
    )
    bad = pl.any_horizontal(list(checks.values()))
    pool = approved.filter(~bad)
    extra = [c for c in coverage_cols if c in pool.columns and c not in ("tier", "category")]
    er = (
        pl.col("engagement_rate")
        if "engagement_rate" in pool.columns
        else pl.col("expected_engagement") / pl.col("follower_count").replace(0, None)
    )
    pool = (
        pool.select(
            "creator_id",
            (pl.col("display_name") if "display_name" in pool.columns else pl.col("creator_id"))
            .fill_null(pl.col("creator_id"))
            .alias("display_name"),
            "tier",
            (pl.col("category") if "category" in pool.columns else pl.lit(None, pl.String)).alias(
                "category"
            ),
            pl.col("follower_count").cast(pl.Int64),
            pl.col("quoted_price").cast(pl.Float64).alias("price"),
            pl.col("expected_engagement").cast(pl.Float64),
            pl.col("overall_risk").cast(pl.Float64).clip(0, 100).alias("risk"),
            er.cast(pl.Float64).fill_null(0.0).alias("engagement_rate"),
            (pl.col("decision") if "decision" in pool.columns else pl.lit("approve")).alias(
                "decision"
            ),
            *extra,
        )
        .with_columns(
            (pl.col("expected_engagement") * (1 - pl.col("risk") / 100)).alias("quality_adjusted"),
        )
        .with_columns(
            (pl.col("quality_adjusted") / pl.col("price")).alias("value"),
        )
        .sort("creator_id")
    )
    left = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    note = f"{approved.height} approved creators, {pool.height} usable" + (
        f" (left out: {left})" if left else ""
    )
    return pool, note


def _build_problem(
    pool: pl.DataFrame,
    brief: Brief,
    *,
    overlap_pairs: pl.DataFrame | None,
    notes_per_creator: int,
    max_notes_per_creator: int,
    max_result_share: float | None,
    overlap_penalty: float,
    min_penalty_overlap: float,
    max_penalty_pairs: int,
    max_pair_overlap: float | None,
    coverage: Mapping[str, Mapping[str, int]] | None,
    tier_share_basis: str,
    max_creators: int | None,
) -> _Problem:
    n = pool.height
    cost = pool["price"].to_numpy().astype(float)
    q = pool["quality_adjusted"].to_numpy().astype(float)
    risk = pool["risk"].to_numpy().astype(float)
    tier = np.asarray(pool["tier"].to_list(), dtype=object)
    cap_amount = brief.max_share_per_creator * brief.budget
    with np.errstate(divide="ignore"):
        cap_notes = (
            np.floor(cap_amount / cost * (1 + 1e-12)).astype(np.int64)
            if n
            else np.zeros(0, np.int64)
        )
    cap_notes = np.minimum(cap_notes, max_notes_per_creator)
    cov: list[tuple[str, str, int, np.ndarray]] = []
    for col, wanted in (coverage or {}).items():
        if col not in pool.columns:
            raise ValueError(f"coverage: the candidates have no column {col!r}")
        values = np.asarray(pool[col].cast(pl.String).to_list(), dtype=object)
        for value, m in wanted.items():
            cov.append((col, str(value), int(m), values == str(value)))

    pair_i = pair_j = np.zeros(0, np.int64)
    pair_o = np.zeros(0)
    if overlap_pairs is not None and not overlap_pairs.is_empty() and n:
        idx = pool.select("creator_id").with_row_index("i")
        p = (
            overlap_pairs.select("creator_a", "creator_b", pl.col("overlap").fill_null(0.0))
            .join(idx.rename({"creator_id": "creator_a"}), on="creator_a", how="inner")
            .join(idx.rename({"creator_id": "creator_b", "i": "j"}), on="creator_b", how="inner")
            .filter((pl.col("i") != pl.col("j")) & (pl.col("overlap") > 0))
            .with_columns(
                pl.min_horizontal("i", "j").alias("lo"), pl.max_horizontal("i", "j").alias("hi")
            )
            .group_by("lo", "hi")
            .agg(pl.col("overlap").max())
            .sort("overlap", "lo", "hi", descending=[True, False, False])
        )
        pair_i = p["lo"].to_numpy().astype(np.int64)
        pair_j = p["hi"].to_numpy().astype(np.int64)
        pair_o = p["overlap"].to_numpy().astype(float)
    conflict = (
        (pair_o >= max_pair_overlap)
        if max_pair_overlap is not None
        else np.zeros(len(pair_o), bool)
    )
    penalised = (~conflict) & (pair_o >= min_penalty_overlap) & (overlap_penalty > 0)
    # Only the strongest pairs get a linearised product term (pairs are sorted by overlap).
    penalised &= np.cumsum(penalised) <= max_penalty_pairs
    pen = (
        np.where(
            penalised,
            overlap_penalty * pair_o * np.minimum(q[pair_i], q[pair_j]) * notes_per_creator,
            0.0,
        )
        if len(pair_o)
        else np.zeros(0)
    )

    return _Problem(
        pool=pool,
        cost=cost,
        q=q,
        risk=risk,
        tier=tier,
        cap_notes=cap_notes,
        risk_ok=risk <= brief.max_creator_risk + _EPS,
        k=notes_per_creator,
        kmax=max_notes_per_creator,
        budget=float(brief.budget),
        currency=brief.currency,
        tier_targets={t: (tt.min_share, tt.max_share) for t, tt in brief.tier_targets.items()},
        basis=tier_share_basis,
        cap_share=brief.max_share_per_creator,
        max_average_risk=brief.max_average_risk,
        max_creator_risk=brief.max_creator_risk,
        result_share=max_result_share,
        coverage=cov,
        pair_i=pair_i,
        pair_j=pair_j,
        pair_o=pair_o,
        conflict=conflict,
        penalised=penalised,
        pen=pen,
        overlap_pairs=overlap_pairs,
        max_pair_overlap=max_pair_overlap,
        max_creators=max_creators,
    )


class _Rows:
    """Sparse constraint rows collected as triplets."""

    def __init__(self) -> None:
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lb: list[np.ndarray] = []
        self.ub: list[np.ndarray] = []
        self.count = 0

    def add(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        vals: np.ndarray,
        lb: np.ndarray | float,
        ub: np.ndarray | float,
        n_rows: int,
    ) -> None:
        """Add ``n_rows`` rows; ``rows`` are 0-based within this batch."""
        if n_rows == 0:
            return
        self.r.append(np.asarray(rows, np.int64) + self.count)
        self.c.append(np.asarray(cols, np.int64))
        self.v.append(np.asarray(vals, float))
        self.lb.append(np.broadcast_to(np.asarray(lb, float), (n_rows,)).copy())
        self.ub.append(np.broadcast_to(np.asarray(ub, float), (n_rows,)).copy())
        self.count += n_rows

    def constraint(self, n_vars: int) -> LinearConstraint | None:
        if not self.count:
            return None
        a = sparse.csr_array(
            (np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))),
            shape=(self.count, n_vars),
        )
        return LinearConstraint(a, np.concatenate(self.lb), np.concatenate(self.ub))


def _solve(
    p: _Problem, relaxed: frozenset[str], *, time_limit: float, mip_rel_gap: float
) -> _Solution:
    """Build and solve the MILP with the given constraint families dropped."""
    n = p.n
    cap = p.cap_notes if "per_creator_cap" not in relaxed else np.full(n, p.kmax)
    # A creator that cannot take its minimum number of notes is out.
    nmax = np.where(p.risk_ok & (cap >= p.k), cap, 0)
    fixed = p.fixed_notes
    # Variable layout: z (choose, binary) | n (notes, integer; only if it varies) | T | y (pairs).
    z0 = 0
    n0 = n if not fixed else None
    share_on = p.result_share is not None and "result_share" not in relaxed and p.result_share < 1
    t_col = (2 * n if not fixed else n) if share_on else None
    pen_idx = np.flatnonzero(p.penalised)
    y0 = (2 * n if not fixed else n) + (1 if share_on else 0)
    n_vars = y0 + len(pen_idx)
    ar = np.arange(n)
    # Notes booked are u = mult * x[ucol]: z scaled by k when the note count is fixed.
    ucol = ar + (z0 if fixed else n0)
    mult = float(p.k) if fixed else 1.0

    c = np.zeros(n_vars)
    c[ucol] = -p.q * mult
    c[y0:] = p.pen[pen_idx]
    lb = np.zeros(n_vars)
    ub = np.ones(n_vars)
    ub[z0 : z0 + n] = (nmax > 0).astype(float)
    if not fixed:
        ub[n0 : n0 + n] = nmax
    if share_on:
        ub[t_col] = np.inf
    integrality = np.zeros(n_vars)
    integrality[: (n if fixed else 2 * n)] = 1

    rows = _Rows()
    if not fixed:  # link notes to the choice: k*z <= n <= nmax*z
        rows.add(
            np.r_[ar, ar],
            np.r_[ar + n0, ar + z0],
            np.r_[np.ones(n), -p.k * np.ones(n)],
            0,
            np.inf,
            n,
        )
        rows.add(
            np.r_[ar, ar],
            np.r_[ar + n0, ar + z0],
            np.r_[np.ones(n), -nmax.astype(float)],
            -np.inf,
            0,
            n,
        )
    spend = p.cost * mult
    if "budget" not in relaxed:
        rows.add(np.zeros(n), ucol, spend, -np.inf, p.budget, 1)
    for t, (lo, hi) in p.tier_targets.items():
        in_t = (p.tier == t).astype(float)
        if p.basis == "budget":
            if lo > 0 and "tier_min" not in relaxed:
                rows.add(np.zeros(n), ucol, spend * in_t, lo * p.budget, np.inf, 1)
            if hi < 1 and "tier_max" not in relaxed:
                rows.add(np.zeros(n), ucol, spend * in_t, -np.inf, hi * p.budget, 1)
        else:  # share of the plan's own spend: sum (1[t] - share) * spend >= / <= 0
            if lo > 0 and "tier_min" not in relaxed:
                rows.add(np.zeros(n), ucol, spend * (in_t - lo), 0, np.inf, 1)
            if hi < 1 and "tier_max" not in relaxed:
                rows.add(np.zeros(n), ucol, spend * (in_t - hi), -np.inf, 0, 1)
    if "average_risk" not in relaxed:
        rows.add(np.zeros(n), ar + z0, p.risk - p.max_average_risk, -np.inf, 0, 1)
    if share_on:
        # T = sum q*u ; q_i*u_i - s*T <= 0 for every creator (T as a variable keeps rows sparse).
        rows.add(np.zeros(n + 1), np.r_[ucol, t_col], np.r_[p.q * mult, -1.0], 0, 0, 1)
        live = np.flatnonzero(nmax > 0)
        m = len(live)
        rows.add(
            np.r_[np.arange(m), np.arange(m)],
            np.r_[ucol[live], np.full(m, t_col)],
            np.r_[p.q[live] * mult, np.full(m, -p.result_share)],
            -np.inf,
            0,
            m,
        )
    if "coverage" not in relaxed:
        for _col, _value, m_req, mask in p.coverage:
            rows.add(
                np.zeros(int(mask.sum())), ar[mask] + z0, np.ones(int(mask.sum())), m_req, np.inf, 1
            )
    if p.max_creators is not None and "creator_count" not in relaxed:
        rows.add(np.zeros(n), ar + z0, np.ones(n), -np.inf, p.max_creators, 1)
    if "overlap" not in relaxed and p.conflict.any():
        ci, cj = p.pair_i[p.conflict], p.pair_j[p.conflict]
        m = len(ci)
        rows.add(
            np.r_[np.arange(m), np.arange(m)], np.r_[ci, cj] + z0, np.ones(2 * m), -np.inf, 1, m
        )
    if len(pen_idx):  # y_ij >= z_i + z_j - 1 (y is pushed down by its positive cost)
        m = len(pen_idx)
        rm = np.arange(m)
        rows.add(
            np.r_[rm, rm, rm],
            np.r_[y0 + rm, p.pair_i[pen_idx] + z0, p.pair_j[pen_idx] + z0],
            np.r_[np.ones(m), -np.ones(m), -np.ones(m)],
            -1,
            np.inf,
            m,
        )

    if n_vars == 0:  # no candidates: only the empty plan, which fails any minimum
        needs_some = rows.count and bool((np.concatenate(rows.lb) > 0).any())
        return _Solution(
            "infeasible" if needs_some else "optimal",
            np.zeros(0, np.int64),
            None if needs_some else 0.0,
            0.0,
            0.0,
            "no candidates",
        )
    cons = rows.constraint(n_vars)
    t0 = time.perf_counter()
    res = milp(
        c,
        constraints=[cons] if cons is not None else None,
        integrality=integrality,
        bounds=Bounds(lb, ub),
        options={
            "time_limit": float(time_limit),
            "mip_rel_gap": float(mip_rel_gap),
            "presolve": True,
        },
    )
    seconds = time.perf_counter() - t0
    if res.x is None:
        status = "infeasible" if res.status == 2 else "no_solution"
        return _Solution(status, np.zeros(n, np.int64), None, None, seconds, str(res.message))
    x = np.round(res.x)
    notes = (x[ucol] * mult).astype(np.int64)
    obj = -float(res.fun) + 0.0  # no "-0.0" in reports
    gap = getattr(res, "mip_gap", None)
    if gap is None and getattr(res, "mip_dual_bound", None) is not None:
        gap = abs(res.fun - res.mip_dual_bound) / max(abs(res.fun), 1e-9)
    status = "optimal" if res.status == 0 else "feasible"
    return _Solution(
        status, notes, obj, float(gap) if gap is not None else None, seconds, str(res.message)
    )


def _evaluate(p: _Problem, notes: np.ndarray) -> dict[str, float]:
    """Totals of a plan (notes per pool row): cost, engagement, quality-adjusted, penalty, objective."""
    chosen = notes > 0
    both = chosen[p.pair_i] & chosen[p.pair_j] if len(p.pair_i) else np.zeros(0, bool)
    gross = float((p.q * notes).sum())
    penalty = float(p.pen[both].sum()) if len(both) else 0.0
    return {
        "cost": float((p.cost * notes).sum()),
        "gross": gross,
        "penalty": penalty,
        "objective": gross - penalty,
        "average_risk": float(p.risk[chosen].mean()) if chosen.any() else 0.0,
    }


def _violations(p: _Problem, notes: np.ndarray) -> list[str]:
    """Which of the brief's rules a plan breaks (used for baselines and in tests)."""
    out: list[str] = []
    chosen = notes > 0
    spend = p.cost * notes
    total = spend.sum()
    if total > p.budget * (1 + _EPS):
        out.append("budget")
    base = p.budget if p.basis == "budget" else max(total, _EPS)
    for t, (lo, hi) in p.tier_targets.items():
        s = spend[p.tier == t].sum()
        if lo > 0 and s < lo * base * (1 - _EPS):
            out.append(f"tier_min:{t}")
        if hi < 1 and s > hi * base * (1 + _EPS):
            out.append(f"tier_max:{t}")
    if (spend > p.cap_share * p.budget * (1 + _EPS)).any():
        out.append("per_creator_cap")
    if (notes[chosen] > p.kmax).any() or (notes[chosen] < p.k).any():
        out.append("notes_per_creator")
    if chosen.any() and p.risk[chosen].mean() > p.max_average_risk + _EPS:
        out.append("average_risk")
    if (p.risk[chosen] > p.max_creator_risk + _EPS).any():
        out.append("max_creator_risk")
    res = p.q * notes
    if (
        p.result_share is not None
        and p.result_share < 1
        and res.sum() > 0
        and (res > p.result_share * res.sum() * (1 + _EPS)).any()
    ):
        out.append("result_share")
    for col, value, m, mask in p.coverage:
        if chosen[mask].sum() < m:
            out.append(f"coverage:{col}={value}")
    if p.conflict.any() and (chosen[p.pair_i] & chosen[p.pair_j] & p.conflict).any():
        out.append("overlap")
    if p.max_creators is not None and chosen.sum() > p.max_creators:
        out.append("creator_count")
    return out


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------


@dataclass
class PortfolioResult:
    """A recommended portfolio and everything needed to explain it.

    ``selected``: creator_id, display_name, tier, category, notes, cost, expected_engagement,
    quality_adjusted, risk, marginal_contribution (result lost if that creator fails), result_share,
    why_chosen. ``runners_up``: the best-value candidates not chosen with why_not_code and why_not.
    ``totals_by_tier``: spend and result per tier against the brief's targets. ``baselines``:
    two naive plans on the same pool and budget. ``candidates``: the whole pool with a ``selected``
    flag (for plots). ``infeasible``: None, or the constraint to relax and what it would buy;
    ``relaxed`` then holds the plan under that relaxation. ``status``: optimal | feasible (time
    limit hit with a solution) | infeasible | no_solution (time limit hit without one).
    """

    brief: str
    budget: float
    currency: str
    status: str
    objective: float
    optimality_gap: float | None
    solve_seconds: float
    selected: pl.DataFrame
    runners_up: pl.DataFrame
    totals_by_tier: pl.DataFrame
    baselines: list[dict[str, Any]]
    candidates: pl.DataFrame
    total_cost: float = 0.0
    expected_engagement: float = 0.0
    quality_adjusted: float = 0.0
    expected_unique_reach: float = 0.0
    average_frequency: float = 0.0
    average_risk: float = 0.0
    worst_case_loss: dict[str, Any] | None = None
    infeasible: dict[str, Any] | None = None
    relaxed: PortfolioResult | None = None
    message: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with the keys in :data:`JSON_KEYS` (plain floats, lists and dicts)."""
        sel = [
            {
                "creator_id": r["creator_id"],
                "display_name": r["display_name"],
                "tier": r["tier"],
                "notes": int(r["notes"]),
                "cost": _num(r["cost"]),
                "expected_engagement": _num(r["expected_engagement"]),
                "quality_adjusted": _num(r["quality_adjusted"]),
                "risk": _num(r["risk"]),
                "marginal_contribution": _num(r["marginal_contribution"]),
                "why": r["why_chosen"],
            }
            for r in self.selected.iter_rows(named=True)
        ]
        runners = [
            {
                "creator_id": r["creator_id"],
                "display_name": r["display_name"],
                "tier": r["tier"],
                "cost": _num(r["cost"]),
                "risk": _num(r["risk"]),
                "why_not_code": r["why_not_code"],
                "why_not": r["why_not"],
            }
            for r in self.runners_up.iter_rows(named=True)
        ]
        by_tier = [
            {k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()}
            for r in self.totals_by_tier.iter_rows(named=True)
        ]
        out = {
            "brief": self.brief,
            "budget": _num(self.budget),
            "total_cost": _num(self.total_cost),
            "expected_engagement": _num(self.expected_engagement),
            "expected_unique_reach": _num(self.expected_unique_reach),
            "average_frequency": _num(self.average_frequency),
            "average_risk": _num(self.average_risk),
            "selected": sel,
            "runners_up": runners,
            "by_tier": by_tier,
            "baselines": [
                {k: (_num(v) if isinstance(v, float) else v) for k, v in b.items()}
                for b in self.baselines
            ],
            "optimality_gap": _num(self.optimality_gap),
            "status": self.status,
            "infeasible": None
            if self.infeasible is None
            else {k: (_num(v) if isinstance(v, float) else v) for k, v in self.infeasible.items()},
            "currency": self.currency,
            "quality_adjusted_engagement": _num(self.quality_adjusted),
            "objective": _num(self.objective),
            "solve_seconds": _num(self.solve_seconds),
            "worst_case_loss": self.worst_case_loss,
            "candidates": self.candidates.height,
            "message": self.message,
        }
        assert tuple(out) == JSON_KEYS
        return out


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else round(f, 4)


def _money(v: float, currency: str) -> str:
    return f"{v:,.0f} {currency}"


def _plan_frame(p: _Problem, notes: np.ndarray) -> pl.DataFrame:
    """Chosen rows of the pool with notes, cost, engagement and marginal contribution."""
    chosen = notes > 0
    both = chosen[p.pair_i] & chosen[p.pair_j] if len(p.pair_i) else np.zeros(0, bool)
    # Penalty a creator shares with the rest of the plan (each pair's penalty counts for both).
    shared_pen = np.zeros(p.n)
    if both.any():
        np.add.at(shared_pen, p.pair_i[both], p.pen[both])
        np.add.at(shared_pen, p.pair_j[both], p.pen[both])
    frame = p.pool.with_columns(
        pl.Series("notes", notes, dtype=pl.Int64),
        pl.Series("_shared_pen", shared_pen),
    ).filter(pl.col("notes") > 0)
    return frame.with_columns(
        (pl.col("price") * pl.col("notes")).alias("cost"),
        (pl.col("expected_engagement") * pl.col("notes")).alias("expected_engagement"),
        (pl.col("quality_adjusted") * pl.col("notes")).alias("quality_adjusted"),
    ).with_columns(
        # Result lost if this creator fails and nothing replaces it: its own result minus the
        # overlap penalty it was causing.
        (pl.col("quality_adjusted") - pl.col("_shared_pen")).alias("marginal_contribution"),
    )


def _baseline(p: _Problem, name: str, order_col: str, label: str) -> dict[str, Any]:
    """Naive plan: go down the candidates by ``order_col`` (descending), booking each that still fits the budget.

    Same pool (creators under the per-creator risk maximum) and budget as the optimiser, none
    of its other rules; ``violates`` lists the brief's rules the naive plan breaks.
    """
    ranked = (
        p.pool.with_row_index("_i")
        .filter(pl.Series(p.risk_ok))
        .sort([order_col, "creator_id"], descending=[True, False], nulls_last=True)
    )
    idx = ranked["_i"].to_numpy()
    price = ranked["price"].to_numpy() * p.k
    notes = np.zeros(p.n, np.int64)
    left = p.budget
    for i, c in zip(
        idx, price
    ):  # first-fit greedy is sequential by nature (each pick changes what is left)
        if c <= left * (1 + _EPS):
            notes[i] = p.k
            left -= c
    ev = _evaluate(p, notes)
    plan = _plan_frame(p, notes)
    reach = expected_reach(plan, p.overlap_pairs)
    eng = float(plan["expected_engagement"].sum()) if plan.height else 0.0
    return {
        "name": name,
        "description": label,
        "creators": int(plan.height),
        "total_cost": ev["cost"],
        "expected_engagement": eng,
        "quality_adjusted_engagement": ev["gross"],
        "objective": ev["objective"],
        "expected_unique_reach": reach["unique_reach"],
        "average_frequency": reach["average_frequency"],
        "cost_per_engagement": ev["cost"] / eng if eng > 0 else None,
        "average_risk": ev["average_risk"],
        "violates": _violations(p, notes),
    }


def _why_chosen(p: _Problem, plan: pl.DataFrame, total_q: float) -> pl.DataFrame:
    """Plain-language reason per chosen creator: value rank, risk, tier, share of result, overlap."""
    ranks = p.pool.select(
        "creator_id", pl.col("value").rank("min", descending=True).cast(pl.Int64).alias("_rank")
    )
    partner = pl.DataFrame(
        schema={"creator_id": pl.String, "_partner": pl.String, "_po": pl.Float64}
    )
    if len(p.pair_i):
        ids = p.pool["creator_id"]
        names = p.pool["display_name"]
        chosen = set(plan["creator_id"].to_list())
        pairs = pl.DataFrame(
            {
                "a": ids.gather(p.pair_i),
                "b": ids.gather(p.pair_j),
                "na": names.gather(p.pair_i),
                "nb": names.gather(p.pair_j),
                "o": p.pair_o,
            }
        ).filter(pl.col("a").is_in(list(chosen)) & pl.col("b").is_in(list(chosen)))
        both = pl.concat(
            [
                pairs.select(
                    pl.col("a").alias("creator_id"),
                    pl.col("nb").alias("_partner"),
                    pl.col("o").alias("_po"),
                ),
                pairs.select(
                    pl.col("b").alias("creator_id"),
                    pl.col("na").alias("_partner"),
                    pl.col("o").alias("_po"),
                ),
            ]
        )
        partner = both.sort("_po", descending=True).unique("creator_id", keep="first")
    tiers = {t: p.tier_targets.get(t, (0.0, 1.0)) for t in TIER_ORDER}
    tier_share = plan.group_by("tier").agg((pl.col("cost").sum() / p.budget).alias("_tshare"))
    cur = p.currency
    out = (
        plan.join(ranks, on="creator_id", how="left")
        .join(partner, on="creator_id", how="left")
        .join(tier_share, on="tier", how="left")
        .with_columns(
            (pl.col("marginal_contribution") / total_q if total_q > 0 else pl.lit(0.0)).alias(
                "result_share"
            )
        )
    )
    target = pl.col("tier").replace_strict(
        {t: f"target {lo:.0%}-{hi:.0%}" for t, (lo, hi) in tiers.items()},
        default="no target",
        return_dtype=pl.String,
    )
    why = pl.concat_str(
        [
            pl.format(
                "Value rank {} of {}: {} quality-adjusted engagements per 1,000 " + cur,
                pl.col("_rank"),
                pl.lit(p.n),
                (pl.col("value") * 1000).round(1),
            ),
            pl.format(
                f"risk {{}} (brief: average at most {p.max_average_risk:.0f})",
                pl.col("risk").round(0).cast(pl.Int64),
            ),
            pl.format(
                "{} tier now {}% of budget ({})",
                pl.col("tier"),
                (pl.col("_tshare") * 100).round(0).cast(pl.Int64),
                target,
            ),
            pl.format(
                "{}% of the expected result", (pl.col("result_share") * 100).round(0).cast(pl.Int64)
            ),
            pl.when(pl.col("_partner").is_null())
            .then(pl.lit("no measured audience overlap with the rest of the plan"))
            .otherwise(
                pl.format(
                    "largest audience overlap {}% with {}",
                    (pl.col("_po") * 100).round(0).cast(pl.Int64),
                    pl.col("_partner"),
                )
            ),
            pl.when(pl.col("decision") == "approve_with_conditions").then(
                pl.lit("approved with conditions (see scorecard)")
            ),
        ],
        separator="; ",
        ignore_nulls=True,
    )
    return out.with_columns(why.alias("why_chosen"))


def _why_not(p: _Problem, notes: np.ndarray) -> pl.DataFrame:
    """For every candidate not chosen: which rule it would break if added to the plan.

    Each rule is checked on its own against the chosen plan with the candidate added (at its
    minimum number of notes); ``why_not_code`` is the first of risk (above the per-creator
    maximum), per_creator_cap, budget, tier_full, risk (average), overlap, result_share, and
    ``why_not`` lists every rule it breaks. A candidate that breaks none was beaten on value
    (a swap would not raise the result, or the difference is within the optimality gap).
    Swaps are not searched: the reasons are exact for "add it", indicative for "swap it in".
    Columns: creator_id, why_not_code, why_not (rows only for candidates not chosen).
    """
    cur = p.currency
    chosen = notes > 0
    spend = p.cost * notes
    total = float(spend.sum())
    tier_spend = {t: float(spend[p.tier == t].sum()) for t in set(p.tier.tolist())}
    add = p.cost * p.k
    hi = np.array([p.tier_targets.get(str(t), (0.0, 1.0))[1] for t in p.tier], dtype=float)
    base = np.full(p.n, p.budget) if p.basis == "budget" else total + add
    tspend = np.array([tier_spend.get(t, 0.0) for t in p.tier], dtype=float) + add
    new_avg = (p.risk[chosen].sum() + p.risk) / (chosen.sum() + 1)
    tot_q = float((p.q * notes).sum()) + p.q * p.k
    plan_value = float((p.q * notes).sum()) / total * 1000 if total > 0 else 0.0
    share = p.result_share if p.result_share is not None and p.result_share < 1 else None

    # Overlap with chosen creators: both directions of every pair, partner chosen, self not.
    names = p.pool.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"), "display_name")
    ov = pl.DataFrame(
        {
            "_i": np.r_[p.pair_i, p.pair_j],
            "_partner": np.r_[p.pair_j, p.pair_i],
            "_o": np.r_[p.pair_o, p.pair_o],
            "_hard": np.r_[p.conflict, p.conflict],
            "_pen": np.r_[p.pen, p.pen],
        },
        schema={
            "_i": pl.Int64,
            "_partner": pl.Int64,
            "_o": pl.Float64,
            "_hard": pl.Boolean,
            "_pen": pl.Float64,
        },
    ).filter(
        pl.Series(np.r_[chosen[p.pair_j], chosen[p.pair_i]] if len(p.pair_i) else np.zeros(0, bool))
    )
    ov = (
        ov.sort("_o", descending=True)
        .group_by("_i")
        .agg(
            pl.col("_partner").filter(pl.col("_hard")).first().alias("_hard_partner"),
            pl.col("_o").filter(pl.col("_hard")).first().alias("_hard_o"),
            pl.col("_pen").sum().alias("_pen_sum"),
            pl.col("_partner").filter(pl.col("_pen") > 0).first().alias("_soft_partner"),
            pl.col("_o").filter(pl.col("_pen") > 0).first().alias("_soft_o"),
        )
    )
    f = (
        p.pool.select("creator_id", "tier", "risk", "value")
        .with_row_index("_i")
        .with_columns(
            pl.col("_i").cast(pl.Int64),
            pl.Series("_chosen", chosen),
            pl.Series("_risk_ok", p.risk_ok),
            pl.Series("_add", add),
            pl.Series("_hi", hi),
            pl.Series("_tshare", tspend / np.maximum(base, _EPS)),
            pl.Series("_tover", (hi < 1) & (tspend > hi * base * (1 + _EPS))),
            pl.Series("_avg", new_avg),
            pl.Series("_rshare", p.q * p.k / np.maximum(tot_q, _EPS)),
            pl.Series("_q", p.q * p.k),
        )
        .filter(~pl.col("_chosen"))
        .join(ov, on="_i", how="left")
        .join(
            names.rename({"_i": "_hard_partner", "display_name": "_hard_name"}),
            on="_hard_partner",
            how="left",
        )
        .join(
            names.rename({"_i": "_soft_partner", "display_name": "_soft_name"}),
            on="_soft_partner",
            how="left",
        )
    )
    pct = lambda e: (e * 100).round(0).cast(pl.Int64)
    rules = [
        (
            "risk",
            ~pl.col("_risk_ok"),
            pl.format(
                f"risk {{}} is above the brief's per-creator maximum {p.max_creator_risk:.0f}",
                pl.col("risk").round(0).cast(pl.Int64),
            ),
        ),
        (
            "per_creator_cap",
            pl.col("_add") > p.cap_share * p.budget * (1 + _EPS),
            pl.format(
                f"per-creator cap: {{}} {cur} is more than {p.cap_share:.0%} of the budget ({_money(p.cap_share * p.budget, cur)})",
                pl.col("_add").round(0).cast(pl.Int64),
            ),
        ),
        (
            "budget",
            total + pl.col("_add") > p.budget * (1 + _EPS),
            pl.format(
                f"budget: costs {{}} {cur} with {_money(max(p.budget - total, 0.0), cur)} left; {{}} quality-adjusted engagements per 1,000 {cur} vs {plan_value:.1f} for the chosen plan",
                pl.col("_add").round(0).cast(pl.Int64),
                (pl.col("value") * 1000).round(1),
            ),
        ),
        (
            "tier_full",
            pl.col("_tover"),
            pl.format(
                "tier full: {} would take {}% of the budget (max {}%)",
                pl.col("tier"),
                pct(pl.col("_tshare")),
                pct(pl.col("_hi")),
            ),
        ),
        (
            "risk",
            pl.col("_avg") > p.max_average_risk + _EPS,
            pl.format(
                f"risk {{}} would lift the average risk to {{}} (max {p.max_average_risk:.0f})",
                pl.col("risk").round(0).cast(pl.Int64),
                pl.col("_avg").round(1),
            ),
        ),
        (
            "overlap",
            pl.col("_hard_partner").is_not_null(),
            pl.format(
                f"overlap with {{}}: {{}}% of the smaller audience (limit {(p.max_pair_overlap or 0):.0%})",
                pl.col("_hard_name"),
                pct(pl.col("_hard_o")),
            ),
        ),
        (
            "overlap",
            pl.col("_hard_partner").is_null()
            & (pl.col("_pen_sum").fill_null(0) >= pl.col("_q") - _EPS)
            & pl.col("_soft_partner").is_not_null(),
            pl.format(
                "overlap with {}: {}% shared audience; the overlap penalty outweighs its gain",
                pl.col("_soft_name"),
                pct(pl.col("_soft_o")),
            ),
        ),
        (
            "creator_count",
            pl.lit(p.max_creators is not None and int(chosen.sum()) >= p.max_creators),
            pl.lit(f"creator count: the plan already has the maximum of {p.max_creators} creators"),
        ),
        (
            "result_share",
            (pl.col("_rshare") > share * (1 + _EPS)) if share is not None else pl.lit(False),
            pl.format(
                f"would carry {{}}% of the expected result (max {(share or 1):.0%})",
                pct(pl.col("_rshare")),
            ),
        ),
    ]
    code = pl.lit("gap")
    for c, cond, _ in reversed(rules):
        code = pl.when(cond).then(pl.lit(c)).otherwise(code)
    text = pl.concat_str(
        [pl.when(cond).then(msg) for _, cond, msg in rules], separator="; ", ignore_nulls=True
    )
    fallback = "fits every rule on its own: beaten on value (a swap would not raise the result, or within the optimality gap)"
    return f.select(
        "creator_id",
        code.alias("why_not_code"),
        pl.when(text == "").then(pl.lit(fallback)).otherwise(text).alias("why_not"),
    )


def _runners_up(p: _Problem, notes: np.ndarray, why_not: pl.DataFrame, n: int) -> pl.DataFrame:
    """The ``n`` best-value eligible candidates not chosen (quality-adjusted engagement per unit cost), with why not.

    Eligible (risk and per-creator cap allow them) come first: they are the ones next in line;
    candidates excluded outright only fill the list when fewer remain.
    """
    return (
        p.pool.with_columns(pl.Series("_eligible", p.risk_ok & (p.cap_notes >= p.k)))
        .join(why_not, on="creator_id", how="inner")
        .sort(["_eligible", "value", "creator_id"], descending=[True, True, False])
        .head(n)
        .select(
            "creator_id",
            "display_name",
            "tier",
            (pl.col("price") * p.k).alias("cost"),
            (pl.col("expected_engagement") * p.k).alias("expected_engagement"),
            (pl.col("quality_adjusted") * p.k).alias("quality_adjusted"),
            "risk",
            "why_not_code",
            "why_not",
        )
    )


def _by_tier(p: _Problem, plan: pl.DataFrame) -> pl.DataFrame:
    tiers = pl.DataFrame(
        {
            "tier": list(TIER_ORDER),
            "min_share": [p.tier_targets.get(t, (0.0, 1.0))[0] for t in TIER_ORDER],
            "max_share": [p.tier_targets.get(t, (0.0, 1.0))[1] for t in TIER_ORDER],
        }
    )
    agg = plan.group_by("tier").agg(
        pl.len().cast(pl.Int64).alias("creators"),
        pl.col("notes").sum().cast(pl.Int64),
        pl.col("cost").sum(),
        pl.col("expected_engagement").sum(),
        pl.col("quality_adjusted").sum(),
    )
    avail = p.pool.group_by("tier").agg(pl.len().cast(pl.Int64).alias("candidates"))
    return (
        tiers.join(agg, on="tier", how="left")
        .join(avail, on="tier", how="left")
        .with_columns(
            pl.col("creators", "notes", "candidates").fill_null(0),
            pl.col("cost", "expected_engagement", "quality_adjusted").fill_null(0.0),
        )
        .with_columns((pl.col("cost") / p.budget).alias("share_of_budget"))
        .select(
            "tier",
            "candidates",
            "creators",
            "notes",
            "cost",
            "share_of_budget",
            "min_share",
            "max_share",
            "expected_engagement",
            "quality_adjusted",
        )
    )


def _relaxation_text(p: _Problem, family: str) -> str:
    cur = p.currency
    if family == "tier_min":
        mins = ", ".join(f"{t} {lo:.0%}" for t, (lo, _) in p.tier_targets.items() if lo > 0)
        return f"drop the tier minimum shares ({mins})"
    if family == "tier_max":
        maxs = ", ".join(f"{t} {hi:.0%}" for t, (_, hi) in p.tier_targets.items() if hi < 1)
        return f"lift the tier maximum shares ({maxs})"
    if family == "coverage":
        return (
            "drop the coverage requirement ("
            + ", ".join(f"{m}x {c}={v}" for c, v, m, _ in p.coverage)
            + ")"
        )
    if family == "creator_count":
        return f"book more than {p.max_creators} creators"
    if family == "result_share":
        return f"allow one creator more than {p.result_share:.0%} of the expected result"
    if family == "overlap":
        return f"allow creators whose audiences overlap {p.max_pair_overlap:.0%} or more in the same plan"
    if family == "average_risk":
        return f"allow an average risk above {p.max_average_risk:.0f}"
    if family == "per_creator_cap":
        return f"allow one creator more than {p.cap_share:.0%} of the budget ({_money(p.cap_share * p.budget, cur)})"
    return f"spend more than the budget of {_money(p.budget, cur)}"


def _present(p: _Problem) -> set[str]:
    """Constraint families that actually constrain this problem (others are not worth relaxing)."""
    fam = {"budget", "per_creator_cap", "average_risk"}
    if any(lo > 0 for lo, _ in p.tier_targets.values()):
        fam.add("tier_min")
    if any(hi < 1 for _, hi in p.tier_targets.values()):
        fam.add("tier_max")
    if p.coverage:
        fam.add("coverage")
    if p.result_share is not None and p.result_share < 1:
        fam.add("result_share")
    if p.conflict.any():
        fam.add("overlap")
    if p.max_creators is not None:
        fam.add("creator_count")
    return fam


def _tier_min_detail(p: _Problem) -> str:
    """Tiers whose minimum spend cannot be reached even by booking every eligible creator in them."""
    if p.basis != "budget":
        return ""
    usable = np.where(p.risk_ok & (p.cap_notes >= p.k), p.cap_notes, 0)
    parts = []
    for t, (lo, _) in p.tier_targets.items():
        need = lo * p.budget
        can = float((p.cost * usable)[p.tier == t].sum())
        if lo > 0 and can < need * (1 - _EPS):
            parts.append(
                f"{t} needs at least {_money(need, p.currency)} ({lo:.0%} of budget) but all eligible {t} creators "
                f"together can absorb only {_money(can, p.currency)}"
            )
    total_min = sum(lo for lo, _ in p.tier_targets.values())
    if total_min > 1 + _EPS:
        parts.append(f"tier minimums add up to {total_min:.0%} of the budget")
    return "; ".join(parts)


def _diagnose(
    p: _Problem, *, time_limit: float, mip_rel_gap: float
) -> tuple[dict[str, Any], _Solution | None]:
    """Re-solve with each constraint family relaxed in turn; the first that restores feasibility leads."""
    tried = []
    first: tuple[str, _Solution] | None = None
    for fam in RELAX_ORDER:
        if fam not in _present(p):
            continue
        sol = _solve(p, frozenset({fam}), time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        ok = sol.objective is not None
        tried.append(
            {
                "constraint": fam,
                "relaxation": _relaxation_text(p, fam),
                "feasible": ok,
                "objective_if_relaxed": sol.objective,
                "total_cost_if_relaxed": float((p.cost * sol.notes).sum()) if ok else None,
            }
        )
        if ok and first is None:
            first = (fam, sol)
    detail = _tier_min_detail(p)
    if first is not None:
        fam, sol = first
        head = next(t for t in tried if t["constraint"] == fam)
        report = {
            "constraint": fam,
            "relaxation": head["relaxation"],
            "objective_if_relaxed": sol.objective,
            "total_cost_if_relaxed": head["total_cost_if_relaxed"],
            "detail": detail,
            "alternatives": tried,
        }
        return report, sol
    fams = frozenset(_present(p))
    sol = _solve(p, fams, time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    report = {
        "constraint": "several",
        "relaxation": "no single relaxation is enough; relaxing all of "
        + ", ".join(sorted(fams))
        + " gives the objective shown",
        "objective_if_relaxed": sol.objective,
        "total_cost_if_relaxed": float((p.cost * sol.notes).sum())
        if sol.objective is not None
        else None,
        "detail": detail,
        "alternatives": tried,
    }
    return report, (sol if sol.objective is not None else None)


def _assemble(
    p: _Problem,
    sol: _Solution,
    brief: Brief,
    pool_note: str,
    n_runners_up: int,
    params: dict[str, Any],
) -> PortfolioResult:
    notes = sol.notes
    plan = _plan_frame(p, notes)
    ev = _evaluate(p, notes)
    reach = expected_reach(plan, p.overlap_pairs)
    total_q = ev["gross"]
    selected = (
        _why_chosen(p, plan, total_q)
        .select(
            "creator_id",
            "display_name",
            "tier",
            "category",
            "notes",
            "cost",
            "expected_engagement",
            "quality_adjusted",
            "risk",
            "marginal_contribution",
            "result_share",
            "why_chosen",
        )
        .sort(["quality_adjusted", "creator_id"], descending=[True, False])
    )
    worst = None
    if plan.height:
        # The riskiest creator is the likeliest to fail: what would its failure cost?
        r = plan.sort(["risk", "marginal_contribution"], descending=[True, True]).row(0, named=True)
        biggest = plan.sort("marginal_contribution", descending=True).row(0, named=True)
        worst = {
            "riskiest_creator": r["creator_id"],
            "risk": _num(r["risk"]),
            "loss_if_riskiest_fails": _num(r["marginal_contribution"]),
            "share_of_result": _num(r["marginal_contribution"] / ev["objective"])
            if ev["objective"] > 0
            else None,
            "largest_single_loss_creator": biggest["creator_id"],
            "largest_single_loss": _num(biggest["marginal_contribution"]),
        }
    baselines = [
        _baseline(
            p,
            "top_by_followers",
            "follower_count",
            "Down the list by follower count, booking every creator that still fits the budget",
        ),
        _baseline(
            p,
            "top_by_engagement_rate",
            "engagement_rate",
            "Down the list by engagement rate, booking every creator that still fits the budget",
        ),
    ]
    why_not = _why_not(p, notes)
    cand = p.pool.with_columns(
        pl.Series("notes", notes, dtype=pl.Int64),
        pl.Series("selected", notes > 0),
        pl.Series("eligible", p.risk_ok & (p.cap_notes >= p.k)),
    ).join(why_not, on="creator_id", how="left")
    eng = float(plan["expected_engagement"].sum()) if plan.height else 0.0
    return PortfolioResult(
        brief=brief.name,
        budget=float(brief.budget),
        currency=brief.currency,
        status=sol.status,
        objective=ev["objective"],
        optimality_gap=sol.gap,
        solve_seconds=sol.seconds,
        selected=selected,
        runners_up=_runners_up(p, notes, why_not, n_runners_up),
        totals_by_tier=_by_tier(p, plan),
        baselines=baselines,
        candidates=cand,
        total_cost=ev["cost"],
        expected_engagement=eng,
        quality_adjusted=total_q,
        expected_unique_reach=reach["unique_reach"],
        average_frequency=reach["average_frequency"],
        average_risk=ev["average_risk"],
        worst_case_loss=worst,
        message=f"{pool_note}; solver: {sol.message}",
        params=params,
    )


def recommend_portfolio(
    scorecard: pl.DataFrame,
    brief: Brief,
    *,
    overlap_pairs: pl.DataFrame | None = None,
    notes_per_creator: int = 1,
    max_notes_per_creator: int = 1,
    decisions: Sequence[str] = APPROVED,
    max_result_share: float | None = 0.35,
    overlap_penalty: float = 0.5,
    min_penalty_overlap: float = 0.05,
    max_penalty_pairs: int = 2000,
    max_pair_overlap: float | None = 0.5,
    coverage: Mapping[str, Mapping[str, int]] | None = None,
    max_creators: int | None = None,
    tier_share_basis: Literal["budget", "spend"] = "budget",
    n_runners_up: int = 10,
    time_limit: float = 30.0,
    mip_rel_gap: float = 1e-4,
    diagnose_infeasible: bool = True,
) -> PortfolioResult:
    """Recommend which creators to book for ``brief``, as an explained :class:`PortfolioResult`.

    In:
    * ``scorecard``: rows in ``SCORECARD_SCHEMA`` (creator_id, display_name, tier, category,
      follower_count, quoted_price, expected_engagement, engagement_rate, overall_risk, decision);
      rows of other briefs (``brief`` column) are ignored. Candidates are the ``decisions`` rows
      (approve, approve_with_conditions) with a price, expected engagement, risk and follower count.
    * ``brief``: budget, tier_targets (min/max share per tier; tiers it does not list are
      unconstrained), max_share_per_creator,
      max_average_risk (cap on the plain average over chosen creators), max_creator_risk
      (creators above it are never chosen).
    * ``overlap_pairs``: creator_a, creator_b, overlap from :func:`audience_overlap` (optional).
    * ``notes_per_creator`` / ``max_notes_per_creator``: notes booked per chosen creator (an
      integer between the two; equal means a plain yes/no choice).
    * ``max_result_share``: no creator may carry more than this share of the plan's expected
      quality-adjusted engagement (None or >= 1 turns it off).
    * ``overlap_penalty``: weight of the pairwise overlap penalty in the objective (see the
      module doc), applied to the ``max_penalty_pairs`` strongest pairs with overlap at least
      ``min_penalty_overlap``; ``max_pair_overlap``: pairs at or above it are never both chosen.
    * ``coverage``: ``{column: {value: minimum creators}}``, e.g. ``{"category": {"food": 2}}``
      (any pool column, e.g. a ``location`` column carried in the scorecard).
    * ``max_creators``: most creators in the plan (what partnership ops can manage), optional.
    * ``tier_share_basis``: tier shares are of the budget (default, as the brief defines them) or
      of the plan's own spend.
    * ``time_limit`` (seconds) and ``mip_rel_gap`` for HiGHS; ``diagnose_infeasible`` re-solves
      with each rule relaxed when the brief cannot be met.

    Out: a :class:`PortfolioResult`. The MILP maximises sum n_i*q_i - overlap penalties subject
    to budget, tier min/max spend, per-creator budget cap, average and maximum risk, result
    share, coverage, creator count and overlap conflicts.
    """
    if notes_per_creator < 1 or max_notes_per_creator < notes_per_creator:
        raise ValueError("need 1 <= notes_per_creator <= max_notes_per_creator")
    pool, pool_note = _prepare_pool(scorecard, brief, decisions, (coverage or {}).keys())
    p = _build_problem(
        pool,
        brief,
        overlap_pairs=overlap_pairs,
        notes_per_creator=notes_per_creator,
        max_notes_per_creator=max_notes_per_creator,
        max_result_share=max_result_share,
        overlap_penalty=overlap_penalty,
        min_penalty_overlap=min_penalty_overlap,
        max_penalty_pairs=max_penalty_pairs,
        max_pair_overlap=max_pair_overlap,
        coverage=coverage,
        tier_share_basis=tier_share_basis,
        max_creators=max_creators,
    )
    params = {
        "notes_per_creator": notes_per_creator,
        "max_notes_per_creator": max_notes_per_creator,
        "max_result_share": max_result_share,
        "overlap_penalty": overlap_penalty,
        "max_pair_overlap": max_pair_overlap,
        "tier_share_basis": tier_share_basis,
        "time_limit": time_limit,
        "penalised_pairs": int(p.penalised.sum()),
        "conflict_pairs": int(p.conflict.sum()),
    }
    sol = _solve(p, frozenset(), time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    if sol.status not in ("infeasible", "no_solution"):
        return _assemble(p, sol, brief, pool_note, n_runners_up, params)

    result = _assemble(p, sol, brief, pool_note, n_runners_up, params)
    result.objective = 0.0
    result.runners_up = result.runners_up.clear()  # "why not" means nothing without a plan
    if sol.status == "infeasible" and diagnose_infeasible:
        report, relaxed_sol = _diagnose(
            p, time_limit=min(time_limit, 10.0), mip_rel_gap=mip_rel_gap
        )
        result.infeasible = report
        if relaxed_sol is not None:
            result.relaxed = _assemble(p, relaxed_sol, brief, pool_note, n_runners_up, params)
            result.relaxed.message = (
                f"plan if relaxed ({report['relaxation']}); " + result.relaxed.message
            )
    elif sol.status == "infeasible":
        result.infeasible = {
            "constraint": "unknown",
            "relaxation": "not diagnosed",
            "objective_if_relaxed": None,
            "detail": _tier_min_detail(p),
        }
    return result


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _md_table(
    frame: pl.DataFrame, cols: Sequence[str], fmt: Mapping[str, str] | None = None
) -> str:
    fmt = fmt or {}
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    lines = []
    for row in frame.select(cols).iter_rows(named=True):
        cells = []
        for c in cols:
            v = row[c]
            if v is None:
                cells.append("")
            elif c in fmt:
                cells.append(fmt[c].format(v))
            else:
                cells.append(str(v).replace("|", "/").replace("\n", " "))
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def portfolio_markdown(result: PortfolioResult) -> str:
    """The result as Markdown (summary, chosen creators, tiers, baselines, runners-up) for the UI."""
    cur = result.currency
    gap = "n/a" if result.optimality_gap is None else f"{result.optimality_gap:.2%}"
    out = [
        f"### Portfolio for `{result.brief}`: {result.status}",
        "",
        f"- Budget {_money(result.budget, cur)}, spent {_money(result.total_cost, cur)} on {result.selected.height} creators",
        f"- Expected engagement {result.expected_engagement:,.0f} (quality-adjusted {result.quality_adjusted:,.0f}); "
        f"cost per engagement {result.total_cost / result.expected_engagement:,.2f} {cur}"
        if result.expected_engagement
        else "- No expected engagement",
        f"- Expected unique reach {result.expected_unique_reach:,.0f}, average frequency {result.average_frequency:.2f}; average risk {result.average_risk:.1f}",
        f"- Optimality gap {gap}, solved in {result.solve_seconds:.2f} s",
    ]
    if result.worst_case_loss:
        w = result.worst_case_loss
        share = (
            "" if w["share_of_result"] is None else f" ({w['share_of_result']:.0%} of the result)"
        )
        out.append(
            f"- If the riskiest creator (risk {w['risk']:.0f}) fails: lose {w['loss_if_riskiest_fails']:,.0f} quality-adjusted engagement{share}"
        )
    if result.infeasible:
        inf = result.infeasible
        obj = inf.get("objective_if_relaxed")
        out += [
            "",
            f"**The brief cannot be met.** Blocking rule: `{inf['constraint']}`. {inf.get('detail') or ''}",
            f"Relaxing it ({inf['relaxation']}) gives an expected quality-adjusted engagement of "
            + (f"{obj:,.0f}." if obj is not None else "nothing feasible either."),
        ]
        if result.relaxed is not None and result.relaxed.selected.height:
            rel = result.relaxed
            names = ", ".join(rel.selected["display_name"].head(12).to_list())
            more = "" if rel.selected.height <= 12 else f" and {rel.selected.height - 12} more"
            out.append(
                f"That plan books {rel.selected.height} creators for "
                f"{_money(rel.total_cost, cur)}: {names}{more}."
            )
    if result.selected.height:
        out += ["", "#### Chosen creators", ""]
        out.append(
            _md_table(
                result.selected,
                [
                    "display_name",
                    "tier",
                    "notes",
                    "cost",
                    "expected_engagement",
                    "risk",
                    "marginal_contribution",
                    "why_chosen",
                ],
                {
                    "cost": "{:,.0f}",
                    "expected_engagement": "{:,.0f}",
                    "risk": "{:.0f}",
                    "marginal_contribution": "{:,.0f}",
                },
            )
        )
    out += ["", "#### By tier", ""]
    out.append(
        _md_table(
            result.totals_by_tier,
            [
                "tier",
                "candidates",
                "creators",
                "cost",
                "share_of_budget",
                "min_share",
                "max_share",
                "expected_engagement",
            ],
            {
                "cost": "{:,.0f}",
                "share_of_budget": "{:.0%}",
                "min_share": "{:.0%}",
                "max_share": "{:.0%}",
                "expected_engagement": "{:,.0f}",
            },
        )
    )
    base = pl.DataFrame(
        [
            {
                "plan": "recommended",
                "creators": result.selected.height,
                "total_cost": result.total_cost,
                "expected_engagement": result.expected_engagement,
                "expected_unique_reach": result.expected_unique_reach,
                "cost_per_engagement": result.total_cost / result.expected_engagement
                if result.expected_engagement
                else None,
                "average_risk": result.average_risk,
                "breaks": "",
            },
            *[
                {
                    "plan": b["name"],
                    "creators": b["creators"],
                    "total_cost": b["total_cost"],
                    "expected_engagement": b["expected_engagement"],
                    "expected_unique_reach": b["expected_unique_reach"],
                    "cost_per_engagement": b["cost_per_engagement"],
                    "average_risk": b["average_risk"],
                    "breaks": ", ".join(b["violates"]),
                }
                for b in result.baselines
            ],
        ],
        schema={
            "plan": pl.String,
            "creators": pl.Int64,
            "total_cost": pl.Float64,
            "expected_engagement": pl.Float64,
            "expected_unique_reach": pl.Float64,
            "cost_per_engagement": pl.Float64,
            "average_risk": pl.Float64,
            "breaks": pl.String,
        },
    )
    out += ["", "#### Against naive plans", ""]
    out.append(
        _md_table(
            base,
            list(base.columns),
            {
                "total_cost": "{:,.0f}",
                "expected_engagement": "{:,.0f}",
                "expected_unique_reach": "{:,.0f}",
                "cost_per_engagement": "{:,.2f}",
                "average_risk": "{:.1f}",
            },
        )
    )
    if result.runners_up.height:
        out += ["", "#### Runners-up", ""]
        out.append(
            _md_table(
                result.runners_up,
                ["display_name", "tier", "cost", "risk", "why_not"],
                {"cost": "{:,.0f}", "risk": "{:.0f}"},
            )
        )
    return "\n".join(out) + "\n"


def portfolio_plot(
    result: PortfolioResult, candidates: pl.DataFrame | None, path: str | Path
) -> Path:
    """Scatter of cost vs expected engagement per note of every candidate, chosen ones highlighted.

    ``candidates``: a frame with creator_id, price (or quoted_price) and expected_engagement;
    None uses ``result.candidates``. Writes a PNG (matplotlib Agg, no global backend change) to
    ``path`` and returns it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cand = result.candidates if candidates is None else candidates
    if "price" not in cand.columns and "quoted_price" in cand.columns:
        cand = cand.with_columns(pl.col("quoted_price").alias("price"))
    chosen = set(result.selected["creator_id"].to_list())
    cand = cand.filter(
        pl.col("price").is_not_null() & pl.col("expected_engagement").is_not_null()
    ).with_columns(pl.col("creator_id").is_in(list(chosen)).alias("_chosen"))
    fig = Figure(figsize=(8, 5.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    excluded = (~pl.col("eligible")) if "eligible" in cand.columns else pl.lit(False)
    other = cand.filter(~pl.col("_chosen") & ~excluded)
    out_rule = cand.filter(~pl.col("_chosen") & excluded)
    ax.scatter(
        other["price"].to_numpy(),
        other["expected_engagement"].to_numpy(),
        s=14,
        c="#b0b0b0",
        alpha=0.6,
        label="candidate, not chosen",
    )
    if out_rule.height:
        ax.scatter(
            out_rule["price"].to_numpy(),
            out_rule["expected_engagement"].to_numpy(),
            s=16,
            c="#c0392b",
            marker="x",
            alpha=0.6,
            label="excluded (risk or per-creator cap)",
        )
    colors = {
        "nano": "#1b9e77",
        "micro": "#d95f02",
        "mid": "#7570b3",
        "macro": "#e7298a",
        "mega": "#66a61e",
    }
    sel = cand.filter(pl.col("_chosen"))
    for t in TIER_ORDER:
        part = sel.filter(pl.col("tier") == t) if "tier" in sel.columns else sel.clear()
        if part.height:
            ax.scatter(
                part["price"].to_numpy(),
                part["expected_engagement"].to_numpy(),
                s=46,
                c=colors[t],
                edgecolors="black",
                linewidths=0.6,
                label=f"chosen: {t}",
            )
    if cand.height and float(cand["price"].min()) > 0:
        ax.set_xscale("log")
    if cand.height and float(cand["expected_engagement"].min()) > 0:
        ax.set_yscale("log")
    ax.set_xlabel(f"Cost per note ({result.currency})")
    ax.set_ylabel("Expected engagement per note (median)")
    ax.set_title(
        f"Portfolio for {result.brief}: {len(chosen)} of {cand.height} candidates, {_money(result.total_cost, result.currency)} spent"
    )
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
