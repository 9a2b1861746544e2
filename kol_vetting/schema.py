"""The data contract: every input table the pipeline accepts, as pydantic models and Polars schemas.

One pydantic model per table is the single source of truth. From it we derive

* ``polars_schema(table)``: the Polars dtypes a validated table has in the warehouse;
* ``required_columns(table)``: columns a source must provide (others may be absent or null);
* ``TABLES[table].key``: the columns that identify a row (duplicates resolved on it).

Row-by-row pydantic validation is used for small inputs (briefs, single rows in tests); bulk
validation of millions of rows is vectorized in :mod:`kol_vetting.validate`, which reads the
same specs. All timestamps are UTC, stored without a time zone (``Datetime("us")``).
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

NonNegInt = Annotated[int, Field(ge=0)]

PLATFORMS = ("xiaohongshu", "weibo", "douyin", "instagram", "tiktok")
CATEGORIES = ("beauty", "food", "travel", "fashion", "parenting", "tech", "fitness", "home", "pets")
NOTE_TYPES = ("normal", "video")
PARTNER_STATUSES = ("active", "paused", "ended", "prospect")

# Follower tiers, by follower count (lower bound inclusive). Used by signals and portfolio.
TIERS: tuple[tuple[str, int], ...] = (
    ("nano", 0),
    ("micro", 10_000),
    ("mid", 100_000),
    ("macro", 500_000),
    ("mega", 1_000_000),
)


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class Creator(_Row):
    """A creator's profile as captured at ``captured_at``."""

    creator_id: str = Field(min_length=1, description="Stable platform id of the creator (XHS user_id).")
    platform: str = Field("xiaohongshu", description="Platform: xiaohongshu, weibo, douyin, instagram or tiktok.")
    handle: str | None = Field(None, description="Public handle / red id (小红书号).")
    display_name: str | None = Field(None, description="Nickname shown on the profile.")
    bio: str | None = Field(None, description="Profile description.")
    category: str | None = Field(None, description="Main content category (beauty, food, travel, ...).")
    location: str | None = Field(None, description="IP location or city shown on the profile.")
    follower_count: NonNegInt | None = Field(
        None, description="Followers (粉丝) at capture time; unknown for authors seen only in notes (tier then 'not assessed')."
    )
    following_count: NonNegInt | None = Field(None, description="Accounts the creator follows (关注).")
    note_count: NonNegInt | None = Field(None, description="Notes published, as shown on the profile.")
    verified: bool | None = Field(None, description="Platform verification badge.")
    quoted_price: float | None = Field(None, ge=0, description="Quoted price for one sponsored note.")
    currency: str | None = Field(None, description="Currency of quoted_price (ISO 4217, default CNY).")
    captured_at: dt.datetime = Field(description="When this profile was captured (UTC). Latest capture wins.")


class FollowerHistory(_Row):
    """One daily follower count of a creator."""

    creator_id: str = Field(min_length=1, description="Creator the count belongs to.")
    date: dt.date = Field(description="Calendar day of the count.")
    follower_count: NonNegInt = Field(description="Followers on that day.")


class Note(_Row):
    """A note (笔记): an image or video post with its engagement counts."""

    note_id: str = Field(min_length=1, description="Platform id of the note.")
    creator_id: str = Field(min_length=1, description="Author of the note.")
    published_at: dt.datetime = Field(description="Publication time (UTC).")
    title: str | None = Field(None, description="Title, as written (may be empty).")
    body: str | None = Field(None, description="Body text (desc), as written.")
    tags: list[str] | None = Field(None, description="Hashtags without the leading '#'.")
    note_type: str | None = Field(None, description="normal (image) or video.")
    likes: NonNegInt = Field(description="Likes (点赞) at capture time.")
    collects: NonNegInt | None = Field(None, description="Collects (收藏).")
    comments: NonNegInt | None = Field(None, description="Comment count shown on the note.")
    shares: NonNegInt | None = Field(None, description="Shares.")
    platform_sponsor_label: bool | None = Field(
        None, description="True when the platform shows its paid-partnership label (蒲公英 / brand partner)."
    )
    url: str | None = Field(None, description="Link to the note.")
    captured_at: dt.datetime | None = Field(None, description="When the counts were captured (UTC).")


class Comment(_Row):
    """A comment under a note."""

    comment_id: str = Field(min_length=1, description="Platform id of the comment.")
    note_id: str = Field(min_length=1, description="Note the comment is under.")
    commenter_id: str | None = Field(None, description="Account that wrote it (pseudonymised in exports).")
    commenter_name: str | None = Field(None, description="Nickname of the commenter, as shown.")
    created_at: dt.datetime = Field(description="When the comment was written (UTC).")
    text: str | None = Field(None, description="Comment text, emoji codes like [赞R] kept as written.")
    likes: NonNegInt | None = Field(None, description="Likes on the comment.")
    parent_comment_id: str | None = Field(None, description="Comment this one replies to, if any.")


class FollowerSample(_Row):
    """One account from a sample of a creator's followers."""

    creator_id: str = Field(min_length=1, description="Creator being followed.")
    follower_id: str = Field(min_length=1, description="Id of the follower account.")
    username: str | None = Field(None, description="Nickname of the follower (e.g. 小红薯6A3F21).")
    has_avatar: bool | None = Field(None, description="False when the account shows the default avatar.")
    bio_length: NonNegInt | None = Field(None, description="Characters in the follower's bio.")
    follower_count: NonNegInt = Field(description="Followers of the follower account.")
    following_count: NonNegInt = Field(description="Accounts the follower follows.")
    note_count: NonNegInt = Field(description="Notes the follower published.")
    created_at: dt.datetime | None = Field(None, description="Account creation time, where known (UTC).")


class Partner(_Row):
    """A brand partnership with a creator; active partners are re-vetted on a schedule."""

    creator_id: str = Field(min_length=1, description="The partner creator.")
    brand: str = Field(min_length=1, description="Brand that contracted the creator.")
    contract_start: dt.date = Field(description="First day of the contract.")
    contract_end: dt.date | None = Field(None, description="Last day, if fixed.")
    status: str = Field("active", description="active, paused, ended or prospect.")


class GroundTruth(_Row):
    """Demo world only: one planted anomaly (or honest look-alike) with its evidence ids."""

    creator_id: str = Field(description="Creator the plant concerns.")
    kind: str = Field(description="What was planted, e.g. bought_followers_step, undisclosed_ad, viral_lookalike.")
    is_anomaly: bool = Field(description="False for honest look-alikes that must NOT be flagged.")
    start: dt.datetime | None = Field(None, description="Start of the planted window (UTC).")
    end: dt.datetime | None = Field(None, description="End of the planted window (UTC).")
    affected_ids: list[str] = Field(default_factory=list, description="Note, comment or follower ids affected.")
    detail: str | None = Field(None, description="Free-text description of the plant.")


@dataclass(frozen=True)
class TableSpec:
    """How a contract table is identified and which numeric columns may not be negative."""

    name: str
    model: type[BaseModel]
    key: tuple[str, ...]
    description: str
    # Column used to pick the surviving row among duplicates of a key (latest wins).
    recency: str | None = None
    # Timestamp columns that may not lie in the future (relative to ingest time).
    not_future: tuple[str, ...] = ()


TABLES: dict[str, TableSpec] = {
    "creators": TableSpec("creators", Creator, ("creator_id",), "Creator profiles.", "captured_at", ("captured_at",)),
    "follower_history": TableSpec(
        "follower_history", FollowerHistory, ("creator_id", "date"), "Daily follower counts.", None, ("date",)
    ),
    "notes": TableSpec("notes", Note, ("note_id",), "Notes with engagement counts.", "captured_at", ("published_at",)),
    "comments": TableSpec("comments", Comment, ("comment_id",), "Comments under notes.", None, ("created_at",)),
    "follower_samples": TableSpec(
        "follower_samples", FollowerSample, ("creator_id", "follower_id"), "Samples of each creator's followers."
    ),
    "partners": TableSpec("partners", Partner, ("creator_id", "brand"), "Brand partnerships.", "contract_start"),
}

# Tables the demo world writes in addition to the contract tables.
GROUND_TRUTH_TABLE = "ground_truth"


def _polars_dtype(annotation: object) -> pl.DataType:
    """Map a pydantic field annotation onto the Polars dtype stored in the warehouse."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _polars_dtype(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _polars_dtype(inner[0])
    if origin is list:
        return pl.List(_polars_dtype(typing.get_args(annotation)[0]))
    mapping: dict[object, pl.DataType] = {
        str: pl.String(),
        int: pl.Int64(),
        float: pl.Float64(),
        bool: pl.Boolean(),
        dt.datetime: pl.Datetime("us"),
        dt.date: pl.Date(),
    }
    if annotation in mapping:
        return mapping[annotation]
    if typing.get_origin(annotation) is Literal:
        return pl.String()
    raise TypeError(f"no Polars dtype for {annotation!r}")


def polars_schema(table: str) -> pl.Schema:
    """Return the Polars schema (column -> dtype, in contract order) of a contract table."""
    model = _model(table)
    return pl.Schema({name: _polars_dtype(f.annotation) for name, f in model.model_fields.items()})


def required_columns(table: str) -> list[str]:
    """Columns that must be present and non-null in every accepted row of ``table``."""
    model = _model(table)
    return [name for name, f in model.model_fields.items() if f.is_required()]


def optional_columns(table: str) -> list[str]:
    """Columns a source may omit; they are filled with their default (usually null)."""
    model = _model(table)
    return [name for name, f in model.model_fields.items() if not f.is_required()]


def column_docs(table: str) -> list[dict[str, str]]:
    """Column, type, meaning and required flag for documentation (README, UI metadata)."""
    model = _model(table)
    schema = polars_schema(table)
    return [
        {
            "column": name,
            "type": _type_name(schema[name]),
            "required": "yes" if f.is_required() else "no",
            "meaning": f.description or "",
        }
        for name, f in model.model_fields.items()
    ]


def _type_name(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "timestamp (UTC)"
    if isinstance(dtype, pl.List):
        return "list of strings"
    return {pl.String(): "string", pl.Int64(): "integer", pl.Float64(): "number", pl.Boolean(): "boolean",
            pl.Date(): "date"}.get(dtype, str(dtype))


def empty_frame(table: str) -> pl.DataFrame:
    """An empty DataFrame with the contract schema of ``table``."""
    return pl.DataFrame(schema=polars_schema(table))


def tier_of(follower_count: pl.Expr) -> pl.Expr:
    """Polars expression: the tier name (nano..mega) of a follower count."""
    expr = pl.lit(TIERS[0][0])
    for name, lower in TIERS[1:]:
        expr = pl.when(follower_count >= lower).then(pl.lit(name)).otherwise(expr)
    return expr


def _model(table: str) -> type[BaseModel]:
    if table == GROUND_TRUTH_TABLE:
        return GroundTruth
    try:
        return TABLES[table].model
    except KeyError:
        raise KeyError(f"unknown table {table!r}; contract tables are {sorted(TABLES)}") from None


def contract_markdown() -> str:
    """The data contract as Markdown tables (the README's contract section is generated from this)."""
    parts = []
    for table in [*TABLES, GROUND_TRUTH_TABLE]:
        spec = TABLES.get(table)
        title = spec.description if spec else "Demo world only: planted anomalies and honest look-alikes."
        key = f" Key: `{', '.join(spec.key)}`." if spec else ""
        lines = [f"#### `{table}`", "", f"{title}{key}", "", "| column | type | required | meaning |", "|---|---|---|---|"]
        lines += [f"| `{d['column']}` | {d['type']} | {d['required']} | {d['meaning']} |" for d in column_docs(table)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# Output tables shared by the signals and the scorecard.
# Every per-creator signal table starts with these columns (more may follow). ``risk`` is on
# 0-100, higher is riskier; ``assessed`` False (risk null) means the data needed was absent,
# and the scorecard says "not assessed" rather than inventing a value.
SIGNAL_SCORE_SCHEMA = pl.Schema(
    {
        "creator_id": pl.String(),
        "risk": pl.Float64(),
        "confidence": pl.Float64(),  # 0-1: how much data stands behind the risk
        "assessed": pl.Boolean(),
        "reasons": pl.List(pl.String()),  # short sentences a procurement officer understands
        "evidence_ids": pl.List(pl.String()),  # note, comment, follower ids or dates behind the reasons
        "data_as_of": pl.Datetime("us"),
    }
)
