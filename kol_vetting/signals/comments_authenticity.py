"""Comment authenticity: bot comment bursts, duplicated texts across notes, recurring commenter
sequences.

Per comment (vectorized, text work done once per distinct text):

* **generic**: the whole comment is a bot template (``好好看``, ``求链接``, ``已关注`` ...) or emoji
  only, from the ``bot_comments`` lexicon (``kol_vetting/text/lexicons/bot_comments.yaml``);
* **bot-looking commenter**: a default nickname (``小红薯6A3F21``) or an account registered
  shortly before it commented (XHS ids carry their creation time);
* **bot-like** = generic and bot-looking. Real audiences write ``好好看`` too, so neither alone
  is evidence; a *burst* of bot-like comments on one note in a short window is.

Per creator: notes with a burst; the share of comments whose (non-generic, long enough) text
recurs on several of the creator's notes, against platform peers; and pairs of accounts that
comment early on many notes in the same order.

In: conformed ``comments`` and ``notes``. Out: :func:`comment_anomalies` returns
(anomalies, summary) in the schemas below. The creator's own replies are left out throughout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from kol_vetting.signals.auth_common import has_duplicates, hash_join, id_created_at, robust_z


@dataclass(frozen=True)
class CommentParams:
    """Thresholds of the comment detector (defaults tuned on demo seeds 7 and 11)."""

    #: Lexicon of bot templates and emoji-only patterns (kol_vetting/text/lexicons/<name>.yaml).
    lexicon: str = "bot_comments"
    #: Nicknames platforms give new accounts (XHS, Weibo/Douyin, TikTok).
    default_nickname_pattern: str = r"^(小红薯[0-9A-Fa-f]{4,}|用户[0-9A-Za-z_]{5,}|user[0-9]{6,})$"
    #: An account younger than this (days) when it commented is fresh.
    fresh_account_days: int = 30
    #: Burst: at least this many bot-like comments on one note within ``burst_window`` ...
    burst_min_comments: int = 8
    burst_window: str = "2h"
    #: ... making up at least this share of the note's crawled comments.
    burst_min_share: float = 0.25
    #: Duplicates: a non-generic comment text at least this long (Chinese characters + Latin words) ...
    dup_min_units: int = 8
    #: ... seen on at least this many of the creator's notes.
    dup_min_notes: int = 3
    #: Creator flagged when the duplicated share is at least this and this far above peers.
    dup_min_share: float = 0.3
    dup_z: float = 4.0
    #: Sequences: the first ``seq_first_k`` commenters of each note; an ordered pair of accounts
    #: recurring on at least ``seq_min_notes`` notes and ``seq_min_share`` of the creator's notes.
    seq_first_k: int = 5
    seq_min_notes: int = 3
    seq_min_share: float = 0.2
    #: Comments with fewer than this many comments per creator: comment checks not assessed.
    min_comments: int = 20
    #: Comment ids kept as evidence per flag.
    evidence_max: int = 10


ANOMALIES_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "kind": pl.String(),  # bot_burst, duplicate_comments, recurring_sequence
        "note_id": pl.String(),
        "start": pl.Datetime("us"),
        "end": pl.Datetime("us"),
        "n_comments": pl.Int64(),
        "share": pl.Float64(),
        "detail": pl.String(),
        "comment_ids": pl.List(pl.String()),
    }
)

SUMMARY_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "comments_count": pl.Int64(),
        "comments_assessed": pl.Boolean(),
        "bot_like_share": pl.Float64(),
        "bot_burst_notes": pl.Int64(),
        "bot_burst_comments": pl.Int64(),
        "duplicate_share": pl.Float64(),
        "duplicate_peer_z": pl.Float64(),
        "recurring_pairs": pl.Int64(),
        "comment_flags": pl.List(pl.String()),
        "comment_evidence_ids": pl.List(pl.String()),
    }
)


def prepare_comments(comments: pl.DataFrame, notes: pl.DataFrame, *, as_of: dt.datetime,
                     params: CommentParams = CommentParams()) -> pl.DataFrame:
    """Comments with their note's creator and time, and per-comment bot features.

    Out columns: comment_id, note_id, creator_id, published_at, commenter_id, created_at,
    delay_s (seconds after publication), core, units, generic, default_nick, fresh, bot_like, and
    64-bit hashes of the note, creator and commenter ids (nid, cid, aid) for fast grouping.
    The creator's own comments and comments on unknown notes are dropped.
    """
    from kol_vetting.text.lexicons import match_terms
    from kol_vetting.text.normalize import core_expr

    c = comments.select("comment_id", "note_id", "commenter_id", "commenter_name", "created_at", "text").filter(
        (pl.col("created_at") <= as_of) & pl.col("comment_id").is_not_null() & pl.col("note_id").is_not_null()
    )
    # Validated tables are unique on their key already; de-duplicate only when needed (a check
    # on 64-bit hashes is far cheaper than a unique() on millions of string ids).
    if has_duplicates(c, "comment_id"):
        c = c.unique("comment_id", keep="last")
    nt = notes.select("note_id", "creator_id", "published_at").drop_nulls("note_id")
    if has_duplicates(nt, "note_id"):
        nt = nt.unique("note_id", keep="last")
    c = hash_join(c, nt, "note_id", how="inner").filter(
        pl.col("commenter_id").is_null() | (pl.col("commenter_id") != pl.col("creator_id"))
    )
    if c.height == 0:
        return pl.DataFrame(schema=_PREPARED_SCHEMA)
    texts = c.select(pl.col("text").unique()).drop_nulls().with_columns(
        (match_terms("text", params.lexicon).list.len() > 0).alias("generic"),
        core_expr("text").alias("core"),
        # length in "words": Chinese characters plus Latin words, so 'so pretty' is 2, not 8
        (pl.col("text").str.count_matches(r"\p{Han}") + pl.col("text").str.count_matches(r"[A-Za-z]+")).alias("units"),
    )
    names = c.select(pl.col("commenter_name").unique()).drop_nulls().with_columns(
        pl.col("commenter_name").str.contains(params.default_nickname_pattern).alias("default_nick")
    )
    c = hash_join(hash_join(c, texts, "text", how="left"), names, "commenter_name", how="left")
    acct = id_created_at(pl.col("commenter_id"))
    age_days = (pl.col("created_at") - acct).dt.total_seconds() / 86_400.0
    c = c.with_columns(
        pl.col("generic").fill_null(False),
        pl.col("default_nick").fill_null(False),
        # an id minted after the comment is not a usable creation time (unknown, not fresh)
        ((age_days >= 0) & (age_days < params.fresh_account_days)).fill_null(False).alias("fresh"),
        (pl.col("created_at") - pl.col("published_at")).dt.total_seconds().alias("delay_s"),
    ).with_columns(
        (pl.col("generic") & (pl.col("default_nick") | pl.col("fresh"))).alias("bot_like"),
        # 64-bit keys for the group-bys downstream (grouping millions of string ids is slow)
        pl.col("note_id").hash().alias("nid"),
        pl.col("creator_id").hash().alias("cid"),
        pl.col("commenter_id").hash().alias("aid"),
    )
    return c.select(list(_PREPARED_SCHEMA)).cast(_PREPARED_SCHEMA)


_PREPARED_SCHEMA = pl.Schema(
    {
        "comment_id": pl.String(),
        "note_id": pl.String(),
        "creator_id": pl.String(),
        "published_at": pl.Datetime("us"),
        "commenter_id": pl.String(),
        "created_at": pl.Datetime("us"),
        "delay_s": pl.Int64(),
        "core": pl.String(),
        "units": pl.Int64(),
        "generic": pl.Boolean(),
        "default_nick": pl.Boolean(),
        "fresh": pl.Boolean(),
        "bot_like": pl.Boolean(),
        "nid": pl.UInt64(),
        "cid": pl.UInt64(),
        "aid": pl.UInt64(),
    }
)


def comment_anomalies(prepared: pl.DataFrame, creators: pl.DataFrame,
                      params: CommentParams = CommentParams()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bot bursts, duplicated texts and recurring sequences per creator.

    In: :func:`prepare_comments` output; ``creators`` with creator_id and platform (peer group
    for duplicates). Out: (anomalies in :data:`ANOMALIES_SCHEMA`; summary in
    :data:`SUMMARY_SCHEMA`, one row per creator with comments).
    """
    return comment_peers(comment_features(prepared, params), creators, params)


def comment_features(prepared: pl.DataFrame, params: CommentParams = CommentParams()) -> dict[str, pl.DataFrame] | None:
    """The per-creator half of :func:`comment_anomalies` (each creator's own comments only).

    Out: ``bursts`` (bot bursts per note), ``per`` (one row per creator: comment count,
    bot-like share, duplicated-text counts) and ``seq`` (recurring commenter pairs); None when
    there are no comments. Creators can be split into groups (shards), each group run here and
    the frames concatenated (:func:`concat_comment_features`) before :func:`comment_peers`.
    """
    p = params
    if prepared.height == 0:
        return None
    c = prepared

    # --- bursts of bot-like comments on one note
    bots = c.filter(pl.col("bot_like")).sort("nid", "created_at", "comment_id")
    bursts = pl.DataFrame(schema=ANOMALIES_SCHEMA)
    if bots.height:
        per_note = c.join(bots.select("nid").unique(), on="nid", how="semi").group_by("nid").agg(
            pl.len().alias("note_comments"))
        rolled = bots.rolling(index_column="created_at", period=p.burst_window, group_by="nid").agg(
            pl.len().alias("in_window")
        )
        best = rolled.group_by("nid").agg(pl.col("in_window").max().alias("max_window"))
        note_bots = bots.group_by("nid").agg(
            pl.col("note_id").first(),
            pl.col("creator_id").first(),
            pl.len().alias("n_bot"),
            pl.col("created_at").min().alias("start"),
            pl.col("created_at").max().alias("end"),
            pl.col("comment_id").head(p.evidence_max).alias("comment_ids"),
        ).join(best, on="nid").join(per_note, on="nid")
        flagged = note_bots.filter(
            (pl.col("max_window") >= p.burst_min_comments)
            & (pl.col("n_bot") / pl.col("note_comments") >= p.burst_min_share)
        )
        bursts = flagged.select(
            "creator_id", pl.lit("bot_burst").alias("kind"), "note_id", "start", "end",
            pl.col("n_bot").cast(pl.Int64).alias("n_comments"),
            (pl.col("n_bot") / pl.col("note_comments")).alias("share"),
            pl.concat_str([pl.col("max_window").cast(pl.String),
                           pl.lit(f" bot-like comments within {p.burst_window}")]).alias("detail"),
            "comment_ids",
        ).cast(ANOMALIES_SCHEMA)

    # --- the same (non-generic, long enough) text on several of the creator's notes
    long_text = c.filter((~pl.col("generic")) & (pl.col("units") >= p.dup_min_units)).select(
        "cid", "nid", "core", "comment_id")
    dup_keys = long_text.group_by("cid", "core").agg(pl.col("nid").n_unique().alias("_notes")).filter(
        pl.col("_notes") >= p.dup_min_notes
    )
    dup_rows = long_text.join(dup_keys.select("cid", "core"), on=["cid", "core"], how="semi")
    dup_per = dup_rows.group_by("cid").agg(
        pl.len().alias("_dup_n"),
        pl.col("nid").n_unique().cast(pl.Int64).alias("_dup_notes"),
        pl.col("comment_id").head(p.evidence_max).alias("_dup_ids"),
    )

    # --- the same commenters in the same order on many notes
    seq = _recurring_pairs(c, p)

    per = c.group_by("cid").agg(
        pl.col("creator_id").first(),
        pl.len().cast(pl.Int64).alias("comments_count"),
        pl.col("bot_like").mean().alias("bot_like_share"),
    ).join(dup_per, on="cid", how="left").with_columns(
        (pl.col("_dup_n").fill_null(0) / pl.col("comments_count")).alias("duplicate_share"),
        pl.col("_dup_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.col("_dup_notes").fill_null(0),
        (pl.col("comments_count") >= p.min_comments).alias("comments_assessed"),
    ).drop("cid")
    return {"bursts": bursts, "per": per, "seq": seq}


def concat_comment_features(parts: list[dict[str, pl.DataFrame] | None]) -> dict[str, pl.DataFrame] | None:
    """:func:`comment_features` of several creator groups as one (None when all are None)."""
    got = [x for x in parts if x is not None]
    if not got:
        return None
    return {k: pl.concat([x[k] for x in got]) for k in got[0]}


def comment_peers(
    features: dict[str, pl.DataFrame] | None, creators: pl.DataFrame, params: CommentParams = CommentParams()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The cross-creator half of :func:`comment_anomalies`: the duplicate share against
    platform peers needs every creator (rows sorted by creator id first, so the result does not
    depend on how they arrive), then the flags and the per-creator summary."""
    p = params
    if features is None:
        return pl.DataFrame(schema=ANOMALIES_SCHEMA), pl.DataFrame(schema=SUMMARY_SCHEMA)
    bursts, seq = features["bursts"], features["seq"]
    per = features["per"].sort("creator_id")
    per = per.join(creators.select("creator_id", "platform"), on="creator_id", how="left").with_columns(
        pl.col("platform").fill_null("unknown")
    )
    per = per.with_columns(
        pl.when(pl.col("comments_assessed")).then(robust_z(pl.col("duplicate_share"), "platform", 0.02)).alias("duplicate_peer_z")
    )
    dup_flag = (
        pl.col("comments_assessed") & (pl.col("duplicate_share") >= p.dup_min_share) & (pl.col("duplicate_peer_z") >= p.dup_z)
    ).fill_null(False)
    dups = per.filter(dup_flag).select(
        "creator_id", pl.lit("duplicate_comments").alias("kind"), pl.lit(None, dtype=pl.String).alias("note_id"),
        pl.lit(None, dtype=pl.Datetime("us")).alias("start"), pl.lit(None, dtype=pl.Datetime("us")).alias("end"),
        (pl.col("duplicate_share") * pl.col("comments_count")).round(0).cast(pl.Int64).alias("n_comments"),
        pl.col("duplicate_share").alias("share"),
        pl.concat_str([pl.lit("same texts on "), pl.col("_dup_notes").cast(pl.String), pl.lit(" notes")]).alias("detail"),
        pl.col("_dup_ids").alias("comment_ids"),
    ).cast(ANOMALIES_SCHEMA)

    # a total order (ties broken by note, time and text) so evidence lists never depend on row order
    anomalies = pl.concat([bursts, dups, seq]).sort("creator_id", "kind", "note_id", "start", "detail", nulls_last=True)
    b = bursts.group_by("creator_id").agg(
        pl.len().cast(pl.Int64).alias("bot_burst_notes"),
        pl.col("n_comments").sum().cast(pl.Int64).alias("bot_burst_comments"),
    )
    sq = seq.group_by("creator_id").agg(pl.len().cast(pl.Int64).alias("recurring_pairs"))
    ev = anomalies.group_by("creator_id", maintain_order=True).agg(
        pl.concat_list(
            pl.when(pl.col("note_id").is_not_null()).then(pl.concat_list("note_id")).otherwise(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("comment_ids"),
        ).list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True).alias("comment_evidence_ids")
    )
    empty = pl.lit([], dtype=pl.List(pl.String))
    summary = per.join(b, on="creator_id", how="left").join(sq, on="creator_id", how="left").join(ev, on="creator_id", how="left").with_columns(
        pl.col("bot_burst_notes").fill_null(0),
        pl.col("bot_burst_comments").fill_null(0),
        pl.col("recurring_pairs").fill_null(0),
        pl.col("comment_evidence_ids").fill_null(empty),
    ).with_columns(
        pl.concat_list(
            pl.when(pl.col("bot_burst_notes") > 0).then(pl.lit(["bot_comments"])).otherwise(empty),
            pl.when(dup_flag).then(pl.lit(["duplicate_comments"])).otherwise(empty),
            pl.when(pl.col("recurring_pairs") > 0).then(pl.lit(["recurring_commenters"])).otherwise(empty),
        ).alias("comment_flags")
    )
    return anomalies, summary.select(list(SUMMARY_SCHEMA)).cast(SUMMARY_SCHEMA)


def _recurring_pairs(c: pl.DataFrame, p: CommentParams) -> pl.DataFrame:
    """Ordered pairs of accounts among the first commenters that recur across notes."""
    # The first few comments of each note (a margin over k, so repeat comments by one account
    # still leave k distinct accounts), then the first k distinct accounts.
    first = (
        c.filter(pl.col("commenter_id").is_not_null())
        .select("cid", "nid", "aid", "created_at", "comment_id")
        .sort("nid", "created_at", "comment_id")  # comment id breaks ties: "first" is well defined
        .with_columns(_position_in_run("nid").alias("pos"))
        .filter(pl.col("pos") < 2 * p.seq_first_k)
        .filter(pl.struct("nid", "aid").hash().is_first_distinct())
        .with_columns(_position_in_run("nid").alias("pos"))
        .filter(pl.col("pos") < p.seq_first_k)
    )
    if first.height == 0:
        return pl.DataFrame(schema=ANOMALIES_SCHEMA)
    notes_per_creator = first.group_by("cid").agg(pl.col("nid").n_unique().alias("_notes"))
    # Only accounts early on >= seq_min_notes notes of the creator can form a recurring pair:
    # filtering first keeps the self-join small.
    regular = first.group_by("cid", "aid").agg(pl.len().alias("_k")).filter(pl.col("_k") >= p.seq_min_notes)
    first = first.join(regular.select("cid", "aid"), on=["cid", "aid"], how="semi")
    pairs = first.join(first, on=["cid", "nid"], suffix="_b").filter(pl.col("pos") < pl.col("pos_b"))
    if pairs.height == 0:
        return pl.DataFrame(schema=ANOMALIES_SCHEMA)
    rec = pairs.group_by("cid", "aid", "aid_b").agg(
        pl.col("nid").n_unique().alias("_n"),
        pl.concat_list("comment_id", "comment_id_b").list.explode(keep_nulls=False, empty_as_null=False)
        .head(p.evidence_max).alias("comment_ids"),
    ).join(notes_per_creator, on="cid").filter(
        (pl.col("_n") >= p.seq_min_notes) & (pl.col("_n") / pl.col("_notes") >= p.seq_min_share)
    )
    if rec.height == 0:
        return pl.DataFrame(schema=ANOMALIES_SCHEMA)
    # back to readable ids (small tables)
    names = c.select("aid", "commenter_id").unique("aid")
    creators = c.select("cid", "creator_id").unique("cid")
    rec = rec.join(creators, on="cid").join(names, on="aid").join(
        names.rename({"aid": "aid_b", "commenter_id": "commenter_id_b"}), on="aid_b")
    return rec.select(
        "creator_id", pl.lit("recurring_sequence").alias("kind"), pl.lit(None, dtype=pl.String).alias("note_id"),
        pl.lit(None, dtype=pl.Datetime("us")).alias("start"), pl.lit(None, dtype=pl.Datetime("us")).alias("end"),
        pl.col("_n").cast(pl.Int64).alias("n_comments"),
        (pl.col("_n") / pl.col("_notes")).alias("share"),
        pl.concat_str([pl.lit("accounts "), pl.col("commenter_id"), pl.lit(" then "), pl.col("commenter_id_b"),
                       pl.lit(" among the first commenters on "), pl.col("_n").cast(pl.String), pl.lit(" notes")]).alias("detail"),
        "comment_ids",
    ).cast(ANOMALIES_SCHEMA)


def _position_in_run(key: str) -> pl.Expr:
    """0-based position of each row within its run of equal ``key`` values (frame sorted by key).

    Same as ``int_range(len()).over(key)`` on sorted data, with scans instead of a group-by.
    """
    idx = pl.int_range(pl.len(), dtype=pl.Int64)
    start = pl.when(pl.col(key) != pl.col(key).shift(1)).then(idx).otherwise(None)
    return idx - start.fill_null(strategy="forward").fill_null(0)
