"""Engagement pods: groups of creators who comment on each other's notes within minutes.

A pod (互赞群 / 互评群) is a group of creators who agree to like and comment on every new note
of the others right after it is published, so the platform reads early engagement as quality.
The trace is reciprocal and early: A's account comments on B's notes within minutes, and B's
on A's, note after note. A second trace is a shared set of non-creator accounts (alts, a farm)
that comment early on the notes of several creators.

Steps (tables in Polars; networkx only on the small creator graph):

1. *early comments*: written at most ``early_minutes`` after the note was published;
2. *direct ties*: A -> B counts A's early comments on B's notes and their share of B's notes;
   a *reciprocal* tie needs both directions at ``min_comments`` and ``min_share``;
3. *shared ties*: creators sharing at least ``shared_min_accounts`` accounts that are early
   commenters on at least ``shared_min_notes`` notes of each;
4. strong ties form a graph; Louvain communities (networkx) of at least ``min_pod_size``
   creators are pods, with their members, density and tie strength.

In: :func:`kol_vetting.signals.comments_authenticity.prepare_comments` output, the creator ids,
notes per creator. Out: :func:`detect_pods` returns (pods, one row per pod member; edges, one
row per strong tie).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import polars as pl


@dataclass(frozen=True)
class PodParams:
    """Thresholds of the pod detector (defaults tuned on demo seeds 7 and 11)."""

    #: A comment within this many minutes of publication is early.
    early_minutes: float = 60.0
    #: Reciprocal tie: early comments in each direction at least this many ...
    min_comments: int = 3
    #: ... and at least this share of the other creator's notes, in each direction.
    min_share: float = 0.1
    #: Shared tie: accounts early on at least ``shared_min_notes`` notes of both creators ...
    shared_min_notes: int = 2
    #: ... at least this many such accounts.
    shared_min_accounts: int = 3
    #: Shared accounts at which a shared tie counts as full strength (1.0).
    shared_full_strength: int = 10
    #: Communities smaller than this are not reported as pods.
    min_pod_size: int = 3
    #: Louvain resolution and seed (fixed: the same data gives the same pods).
    resolution: float = 1.0
    seed: int = 0
    #: Comment ids kept as evidence per creator.
    evidence_max: int = 10


PODS_SCHEMA = pl.Schema(
    {
        "pod_id": pl.String(),
        "creator_id": pl.String(),
        "pod_size": pl.Int64(),
        "members": pl.List(pl.String()),
        "density": pl.Float64(),  # strong ties / possible ties among members
        "pod_strength": pl.Float64(),  # mean strength of the pod's ties (0-1)
        "tie_strength": pl.Float64(),  # mean strength of this member's ties inside the pod
        "early_comments_received": pl.Int64(),  # early comments by other members on this creator's notes
        "early_comments_given": pl.Int64(),
        "median_delay_minutes": pl.Float64(),  # of the received ones
        "evidence_ids": pl.List(pl.String()),  # comment ids received from members
    }
)

EDGES_SCHEMA = pl.Schema(
    {
        "creator_a": pl.String(),
        "creator_b": pl.String(),
        "tie": pl.String(),  # reciprocal or shared
        "a_to_b": pl.Int64(),  # early comments by a on b's notes
        "b_to_a": pl.Int64(),
        "shared_accounts": pl.Int64(),
        "strength": pl.Float64(),
    }
)


def early_comments(prepared: pl.DataFrame, params: PodParams = PodParams()) -> pl.DataFrame:
    """The comments pods are built from: by a known account within ``early_minutes`` of the
    note (columns comment_id, note_id, creator_id, commenter_id, delay_s). A small share of all
    comments, so a sharded run can gather them from every shard (idempotent: filtering them
    again keeps them all)."""
    return prepared.filter(
        (pl.col("delay_s") >= 0) & (pl.col("delay_s") <= params.early_minutes * 60) & pl.col("commenter_id").is_not_null()
    ).select("comment_id", "note_id", "creator_id", "commenter_id", "delay_s")


def detect_pods(
    prepared: pl.DataFrame,
    creator_ids: pl.Series,
    notes_per_creator: pl.DataFrame,
    params: PodParams = PodParams(),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Find engagement pods.

    In: prepared comments (creator_id of the note, commenter_id, delay_s, comment_id), the ids
    of all creators, ``notes_per_creator`` (creator_id, notes). Out: (pods in
    :data:`PODS_SCHEMA`; strong ties in :data:`EDGES_SCHEMA`).
    """
    p = params
    empty = (pl.DataFrame(schema=PODS_SCHEMA), pl.DataFrame(schema=EDGES_SCHEMA))
    if prepared.height == 0:
        return empty
    early = early_comments(prepared, p)
    if early.height == 0:
        return empty
    is_creator = pl.col("commenter_id").is_in(creator_ids.implode())

    # --- direct ties: creator accounts commenting early on other creators' notes
    direct = early.filter(is_creator & (pl.col("commenter_id") != pl.col("creator_id")))
    d = direct.group_by(pl.col("commenter_id").alias("src"), pl.col("creator_id").alias("dst")).agg(
        pl.len().cast(pl.Int64).alias("n")
    ).join(notes_per_creator.select(pl.col("creator_id").alias("dst"), pl.col("notes").alias("dst_notes")), on="dst", how="left")
    d = d.with_columns((pl.col("n") / pl.col("dst_notes").clip(1, None)).alias("share"))
    recip = d.join(
        d.select(pl.col("src").alias("dst"), pl.col("dst").alias("src"), pl.col("n").alias("n_back"), pl.col("share").alias("share_back")),
        on=["src", "dst"], how="inner",
    ).filter(
        (pl.col("src") < pl.col("dst"))
        & (pl.col("n") >= p.min_comments) & (pl.col("n_back") >= p.min_comments)
        & (pl.col("share") >= p.min_share) & (pl.col("share_back") >= p.min_share)
    ).select(
        pl.col("src").alias("creator_a"), pl.col("dst").alias("creator_b"), pl.lit("reciprocal").alias("tie"),
        pl.col("n").alias("a_to_b"), pl.col("n_back").alias("b_to_a"), pl.lit(0, dtype=pl.Int64).alias("shared_accounts"),
        pl.min_horizontal("share", "share_back").clip(0.0, 1.0).alias("strength"),
    )

    # --- shared ties: the same non-creator accounts early on several notes of both creators
    regulars = early.filter(~is_creator).group_by("commenter_id", "creator_id").agg(pl.len().alias("k")).filter(
        pl.col("k") >= p.shared_min_notes
    ).select("commenter_id", "creator_id")
    shared = regulars.join(regulars, on="commenter_id", suffix="_b").filter(pl.col("creator_id") < pl.col("creator_id_b"))
    shared = shared.group_by(pl.col("creator_id").alias("creator_a"), pl.col("creator_id_b").alias("creator_b")).agg(
        pl.len().cast(pl.Int64).alias("shared_accounts")
    ).filter(pl.col("shared_accounts") >= p.shared_min_accounts).select(
        "creator_a", "creator_b", pl.lit("shared").alias("tie"), pl.lit(0, dtype=pl.Int64).alias("a_to_b"),
        pl.lit(0, dtype=pl.Int64).alias("b_to_a"), "shared_accounts",
        (pl.col("shared_accounts") / p.shared_full_strength).clip(0.0, 1.0).alias("strength"),
    )
    edges = pl.concat([recip.cast(EDGES_SCHEMA), shared.cast(EDGES_SCHEMA)])
    # one row per pair: keep the stronger description, sum what both saw
    edges = edges.group_by("creator_a", "creator_b").agg(
        pl.col("tie").sort_by("strength").last(),
        pl.col("a_to_b").sum(), pl.col("b_to_a").sum(), pl.col("shared_accounts").sum(),
        pl.col("strength").max(),
    ).sort("creator_a", "creator_b").cast(EDGES_SCHEMA)
    if edges.height == 0:
        return pl.DataFrame(schema=PODS_SCHEMA), edges

    # --- communities on the strong-tie graph (small: only creators with a strong tie)
    g = nx.Graph()
    g.add_weighted_edges_from(edges.select("creator_a", "creator_b", "strength").iter_rows())
    comms = nx.community.louvain_communities(g, weight="weight", resolution=p.resolution, seed=p.seed)
    comms = [sorted(c) for c in comms if len(c) >= p.min_pod_size]
    if not comms:
        return pl.DataFrame(schema=PODS_SCHEMA), edges
    comms.sort(key=lambda c: (-len(c), c[0]))
    member = pl.DataFrame(
        {
            "pod_id": [f"pod-{i + 1}" for i, c in enumerate(comms) for _ in c],
            "creator_id": [m for c in comms for m in c],
        }
    )
    members = member.group_by("pod_id").agg(pl.col("creator_id").sort().alias("members"), pl.len().cast(pl.Int64).alias("pod_size"))

    # ties inside each pod
    inside = edges.join(member.rename({"creator_id": "creator_a"}), on="creator_a").join(
        member.rename({"creator_id": "creator_b", "pod_id": "pod_b"}), on="creator_b"
    ).filter(pl.col("pod_id") == pl.col("pod_b"))
    pod_stats = inside.group_by("pod_id").agg(pl.len().alias("_ties"), pl.col("strength").mean().alias("pod_strength"))
    long = pl.concat([
        inside.select("pod_id", pl.col("creator_a").alias("creator_id"), "strength"),
        inside.select("pod_id", pl.col("creator_b").alias("creator_id"), "strength"),
    ])
    mem_strength = long.group_by("pod_id", "creator_id").agg(pl.col("strength").mean().alias("tie_strength"))

    # early comments among members: received / given, with evidence
    among = direct.join(member, on="creator_id").join(
        member.rename({"creator_id": "commenter_id", "pod_id": "pod_c"}), on="commenter_id"
    ).filter(pl.col("pod_id") == pl.col("pod_c"))
    received = among.sort("delay_s", "comment_id").group_by("creator_id").agg(
        pl.len().cast(pl.Int64).alias("early_comments_received"),
        (pl.col("delay_s").median() / 60.0).alias("median_delay_minutes"),
        pl.col("comment_id").head(p.evidence_max).alias("evidence_ids"),
    )
    given = among.group_by(pl.col("commenter_id").alias("creator_id")).agg(pl.len().cast(pl.Int64).alias("early_comments_given"))

    pods = (
        member.join(members, on="pod_id")
        .join(pod_stats, on="pod_id", how="left")
        .join(mem_strength, on=["pod_id", "creator_id"], how="left")
        .join(received, on="creator_id", how="left")
        .join(given, on="creator_id", how="left")
        .with_columns(
            (pl.col("_ties") / (pl.col("pod_size") * (pl.col("pod_size") - 1) / 2)).alias("density"),
            pl.col("early_comments_received").fill_null(0),
            pl.col("early_comments_given").fill_null(0),
            pl.col("evidence_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("tie_strength").fill_null(0.0),
        )
    )
    return pods.select(list(PODS_SCHEMA)).cast(PODS_SCHEMA).sort("pod_id", "creator_id"), edges
