"""The demo world: a deterministic, vectorized generator of a synthetic Xiaohongshu world.

``generate_world(n_creators, seed, out_dir)`` writes one Parquet file per contract table
(creators, follower_history, notes, comments, follower_samples, partners) plus
``ground_truth``: every planted anomaly and every honest look-alike, with the ids of the notes,
comments or follower accounts that carry it, so each signal can be measured against it.

How it stays fast and small:

* A *plan* (arrays with one entry per creator, a few MB even at 100k creators) fixes every
  creator's profile and every plant, including the ids and times of all planted notes, so
  plants that span creators (engagement pods, seeding campaigns, call-out notes) need no
  second pass.
* Creators are then generated in chunks of ``CHUNK_CREATORS``; each chunk's rows are appended
  to the Parquet files with ``pyarrow.parquet.ParquetWriter``, so memory is bounded by a chunk.
* Inside a chunk everything is numpy/polars column arithmetic: strings are gathered from small
  pools of pre-composed texts and joined with ``pl.concat_str``; there is no Python loop over
  notes, comments or followers (loops run over the handful of template kinds only).
* Randomness comes from ``numpy.random.default_rng([seed, stream, chunk])`` and ids from a
  counter-based hash (splitmix64) of (seed, namespace, indexes), so the world is the same for a
  given (n_creators, seed) on every run, whatever the thread count (for one numpy version).
* A background thread compresses and appends chunk k while chunk k+1 is generated.

Ids look like XHS ids: 24 hex characters whose first 8 are the creation time (unix seconds).
All timestamps are naive UTC. Text (Chinese, some English) comes from the YAML files in
``demo_data/``; only fictional brands appear (``DEMO_BRANDS``).

Ground truth has one row per (creator, kind). ``affected_ids`` holds, by kind:

* ``bought_followers_step`` / ``_drip``: the farm accounts (follower_id) in the creator's
  follower sample; start/end bound the follower jump (exact round steps, or a slow drip).
* ``bought_likes``, ``undisclosed_ad``, ``false_no_ad_claim``, ``ad_law_absolute_claim``,
  ``ad_law_medical_claim``, ``competitor_paid_work``, ``audience_rejects_ads``: note ids.
* ``engagement_pod``: ids of the pod members' comments under this creator's notes (the members
  are listed in ``detail``); ``bot_comments``: the note ids, then the bot comment ids.
* ``controversy``: the recommendation that blew up, the apology note, call-out notes posted by
  other creators, then the backlash comment ids.
* ``seeding_campaign``: every note of the campaign (all members), on each member's row.
* Look-alikes (``is_anomaly`` False): ``viral_lookalike`` (the hit note), ``loved_ads_lookalike``
  (disclosed ads), ``harsh_negative_lookalike`` (note, then the comment),
  ``organic_praise_lookalike`` (unpaid 自费 notes on a demo brand), ``callout_author_lookalike``
  (the creator's call-outs of someone else) and ``baseline_fake_followers`` (the few % of farm
  accounts every audience has; no time window).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from kol_vetting.schema import CATEGORIES, GROUND_TRUTH_TABLE, polars_schema

DATA_DIR = Path(__file__).with_name("demo_data")
WORLD_TABLES: tuple[str, ...] = (
    "creators",
    "follower_history",
    "notes",
    "comments",
    "follower_samples",
    "partners",
    GROUND_TRUTH_TABLE,
)
# Creators per generated chunk. Fixed (not tuned to the machine) because chunk boundaries are
# part of the random streams: changing it changes the world.
CHUNK_CREATORS = 2000

DAY = 86_400
CHINA_OFFSET = 8 * 3600  # XHS users live on UTC+8; activity peaks are defined in local time
PARQUET_COMPRESSION = "zstd"
PARQUET_LEVEL = 1  # level 1 compresses these tables as well as the default at less CPU
# Columns worth dictionary-encoding (repetitive) and worth min/max statistics (ids that rows are
# grouped by, times, counts). Random ids and free text get neither: it costs time and buys nothing.
_PARQUET_DICT: dict[str, list[str]] = {
    "follower_history": ["creator_id"],
    "notes": ["creator_id", "title", "note_type"],
    "comments": ["note_id", "text", "commenter_name"],
    "follower_samples": ["creator_id", "username"],
}
_PARQUET_NO_STATS: dict[str, set[str]] = {
    "notes": {"title", "body", "tags", "url"},
    "comments": {"comment_id", "commenter_id", "commenter_name", "text", "parent_comment_id"},
    "follower_samples": {"follower_id", "username"},
}

# Ground-truth kinds: planted anomalies (is_anomaly True) and honest look-alikes (False).
ANOMALY_KINDS: tuple[str, ...] = (
    "bought_followers_step",
    "bought_followers_drip",
    "bought_likes",
    "engagement_pod",
    "bot_comments",
    "controversy",
    "undisclosed_ad",
    "seeding_campaign",
    "false_no_ad_claim",
    "ad_law_absolute_claim",
    "ad_law_medical_claim",
    "competitor_paid_work",
    "audience_rejects_ads",
)
LOOKALIKE_KINDS: tuple[str, ...] = (
    "viral_lookalike",
    "loved_ads_lookalike",
    "harsh_negative_lookalike",
    "organic_praise_lookalike",
    # posts 避雷/翻车 call-outs about another creator, is not itself in a controversy
    "callout_author_lookalike",
    # the ordinary few % of farm accounts every audience has (labels them for follower metrics)
    "baseline_fake_followers",
)
GROUND_TRUTH_KINDS = ANOMALY_KINDS + LOOKALIKE_KINDS


# --------------------------------------------------------------------------------------
# Fictional brands
# --------------------------------------------------------------------------------------


class CompetitorBrand(TypedDict):
    """A fictional competitor of a demo brand."""

    brand: str
    latin_name: str
    aliases: list[str]
    products: list[str]


class DemoBrand(TypedDict):
    """A fictional brand example briefs are written against."""

    brand: str
    latin_name: str
    aliases: list[str]
    category: str
    regulated_category: str
    products: list[str]
    competitors: list[CompetitorBrand]


def _load_yaml(name: str) -> Any:
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


DEMO_BRANDS: list[DemoBrand] = _load_yaml("brands.yaml")["demo_brands"]


# --------------------------------------------------------------------------------------
# Hashing, ids, conversions
# --------------------------------------------------------------------------------------

_U = np.uint64
_GOLDEN = _U(0x9E3779B97F4A7C15)
_HEX_UP = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
# byte -> its two upper-case hex characters packed in one little-endian uint16
_HEX16_UP = _HEX_UP[np.arange(256) >> 4].astype(np.uint16) | (
    _HEX_UP[np.arange(256) & 15].astype(np.uint16) << 8
)

# Hash namespaces: one per kind of generated id or attribute stream.
NS_CREATOR, NS_NOTE, NS_SPECIAL, NS_COMMENT, NS_GENUINE, NS_FARM, NS_BOT = range(1, 8)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a fast, well-mixed bijection of uint64 (wraps on purpose)."""
    x = x ^ (x >> _U(30))
    x = x * _U(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U(27))
    x = x * _U(0x94D049BB133111EB)
    return x ^ (x >> _U(31))


def _hash(seed: int, ns: int, *keys: np.ndarray | int) -> np.ndarray:
    """Counter-based hash of (seed, namespace, keys...) -> uint64 array (broadcast over keys)."""
    h = _mix64(
        np.array([(seed * 0x100000001B3 + ns * 0x9E3779B1) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
    )
    for k in keys:
        h = _mix64(h ^ (np.asarray(k, dtype=np.int64).astype(np.uint64) + _GOLDEN))
    return h


def _sub(h: np.ndarray, j: int) -> np.ndarray:
    """The j-th independent stream derived from hashes ``h``."""
    return _mix64(h ^ _U((j * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF))


def _unit(h: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) floats from uint64 hashes."""
    return (h >> _U(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _normal(h: np.ndarray) -> np.ndarray:
    """Standard normal floats from uint64 hashes (Box-Muller on two derived uniforms)."""
    u1 = 1.0 - _unit(_sub(h, 101))
    u2 = _unit(_sub(h, 102))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _bytes_series(mat: np.ndarray, name: str = "") -> pl.Series:
    """A String Series from a (n, width) uint8 matrix of fixed-width UTF-8 text, zero-copy."""
    n, w = mat.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    arr = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(mat).reshape(-1))
    )
    return pl.Series(name, arr)


def _xhs_ids(ts_s: np.ndarray, h: np.ndarray, name: str = "") -> pl.Series:
    """XHS-like ids: 8 hex chars of the creation time, ``0000``, 12 hex chars of the hash."""
    n = len(h)
    raw = np.empty((n, 12), dtype=np.uint8)  # 4 time bytes, 2 zero bytes, 6 hash bytes
    raw[:, 0:4] = np.asarray(ts_s, dtype=np.int64).astype(">u4").view(np.uint8).reshape(n, 4)
    raw[:, 4:6] = 0
    raw[:, 6:12] = np.asarray(h, dtype=np.uint64).astype(">u8").view(np.uint8).reshape(n, 8)[:, 2:]
    offsets = np.arange(0, (n + 1) * 12, 12, dtype=np.int64)
    binary = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw.reshape(-1))]
    )
    return pl.Series(name, binary).bin.encode("hex")  # hex-encoding in Rust beats numpy lookups


_DEFAULT_NICK_PREFIX = np.frombuffer("小红薯".encode(), dtype=np.uint8)


def _default_nicknames(h: np.ndarray) -> pl.Series:
    """Default XHS nicknames: ``小红薯`` + 6 upper-case hex characters."""
    n = len(h)
    out = np.empty((n, len(_DEFAULT_NICK_PREFIX) + 6), dtype=np.uint8)
    out[:, : len(_DEFAULT_NICK_PREFIX)] = _DEFAULT_NICK_PREFIX
    b = np.asarray(h, dtype=np.uint64).astype(">u8").view(np.uint8).reshape(n, 8)[:, 5:]
    out[:, len(_DEFAULT_NICK_PREFIX) :] = _HEX16_UP[b].view(np.uint8)
    return _bytes_series(out)


def _ts(sec: np.ndarray, name: str = "") -> pl.Series:
    """Unix seconds -> naive UTC ``Datetime("us")`` Series."""
    return pl.Series(name, np.asarray(sec, dtype=np.int64) * 1_000_000).cast(pl.Datetime("us"))


def _epoch(moment: datetime) -> int:
    """Unix seconds of a datetime taken as UTC when naive."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return int((moment - datetime(1970, 1, 1)).total_seconds())


def _gather(pool: pl.Series, idx: np.ndarray, name: str = "") -> pl.Series:
    return pool.gather(np.asarray(idx, dtype=np.int64)).alias(name)


def _pick(u: np.ndarray, off: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Index into a flat pool: ``off + floor(u * n)`` (segment chosen per row)."""
    return off + np.minimum((u * n).astype(np.int64), np.maximum(n - 1, 0))


def _lognormal_mean1(rng: np.random.Generator, sigma: float, size: int) -> np.ndarray:
    return np.exp(rng.normal(-0.5 * sigma * sigma, sigma, size))


def _ragged_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ragged groups of ``counts``: the group of each row and its position in the group."""
    counts = np.asarray(counts, dtype=np.int64)
    grp = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(int(counts.sum()), dtype=np.int64) - starts[grp]
    return grp, pos


# --------------------------------------------------------------------------------------
# Vocabulary: YAML pools compiled into flat Series with per-category offsets
# --------------------------------------------------------------------------------------

COMMENT_CLASSES: tuple[str, ...] = (
    "praise",
    "question",
    "chat",
    "emoji",
    "mild_negative",
    "english",
    "ad_positive",
    "ad_negative",
    "backlash",
    "apology_reaction",
    "callout_agree",
    "pod",
    "bot",
    "harsh",
    "creator_reply",
)
_CC = {c: i for i, c in enumerate(COMMENT_CLASSES)}
# Classes that may get an emoji/punctuation suffix (bots, pods and replies keep their template).
_SUFFIXED = np.array(
    [
        c
        in {
            "praise",
            "question",
            "chat",
            "mild_negative",
            "ad_positive",
            "ad_negative",
            "backlash",
            "apology_reaction",
            "callout_agree",
        }
        for c in COMMENT_CLASSES
    ]
)

# Comment mixes: which classes the crawled comments under a note are drawn from.
_MIXES: dict[str, dict[str, float]] = {
    "organic": {
        "praise": 42,
        "question": 20,
        "chat": 17,
        "emoji": 9,
        "mild_negative": 5,
        "english": 1.5,
    },
    "sponsored": {
        "praise": 35,
        "question": 28,
        "chat": 12,
        "emoji": 6,
        "mild_negative": 6,
        "ad_positive": 5,
        "ad_negative": 4,
        "english": 1.5,
    },
    "viral": {
        "praise": 45,
        "question": 25,
        "chat": 15,
        "emoji": 10,
        "mild_negative": 3,
        "english": 2,
    },
    "apology": {
        "apology_reaction": 60,
        "backlash": 15,
        "chat": 10,
        "emoji": 5,
        "mild_negative": 10,
    },
    "callout": {"callout_agree": 55, "backlash": 15, "chat": 15, "question": 10, "emoji": 5},
    "loved_ad": {"ad_positive": 35, "praise": 35, "question": 20, "chat": 5, "emoji": 5},
    "rejected_ad": {
        "ad_negative": 55,
        "mild_negative": 15,
        "chat": 10,
        "question": 10,
        "praise": 10,
    },
    "english": {"english": 55, "praise": 20, "emoji": 15, "question": 10},
}
_MIX_NAMES = tuple(_MIXES)
_MIX = {m: i for i, m in enumerate(_MIX_NAMES)}

# Note kinds: 0 regular (incl. honest disclosed ads), the rest are planned in the plan.
NOTE_KINDS: tuple[str, ...] = (
    "regular",
    "viral",
    "controversy",
    "apology",
    "callout",
    "campaign",
    "undisclosed_ad",
    "false_no_ad",
    "adlaw_absolute",
    "adlaw_medical",
    "competitor_ad",
    "partner_ad",
    "loved_ad",
    "rejected_ad",
    "organic_praise",
)
_NK = {k: i for i, k in enumerate(NOTE_KINDS)}
# Engagement multiplier of each planned note kind relative to the creator's usual note.
_KIND_ENGAGEMENT = np.array(
    [1.0, 1.0, 2.5, 1.8, 1.5, 1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.85, 1.0, 0.3, 1.0]
)
# Comment mix of each note kind (regular notes switch to "sponsored" when they are ads).
_KIND_MIX = np.array(
    [
        _MIX[m]
        for m in (
            "organic",
            "viral",
            "organic",
            "apology",
            "callout",
            "sponsored",
            "sponsored",
            "sponsored",
            "sponsored",
            "sponsored",
            "sponsored",
            "sponsored",
            "loved_ad",
            "rejected_ad",
            "organic",
        )
    ]
)


class _Vocab:
    """All text pools, compiled once: flat ``pl.Series`` plus numpy offset/length arrays."""

    def __init__(self) -> None:
        cats_yaml: dict[str, Any] = _load_yaml("categories.yaml")
        text: dict[str, Any] = _load_yaml("text.yaml")
        brands_yaml: dict[str, Any] = _load_yaml("brands.yaml")
        missing = [c for c in CATEGORIES if c not in cats_yaml]
        if missing:
            raise ValueError(f"categories.yaml lacks categories {missing}")
        self.text = text
        cats = [cats_yaml[c] for c in CATEGORIES]
        nc = len(CATEGORIES)

        def arr(key: str) -> np.ndarray:
            return np.array([float(c[key]) for c in cats])

        self.collect_ratio = arr("collect_ratio")
        self.comment_ratio = arr("comment_ratio")
        self.share_ratio = arr("share_ratio")
        self.video_share = arr("video_share")
        self.location_prob = arr("location_prob")

        # Titles and openers are pre-composed (template x product word) per category, so a
        # note's title and body name the same product with a gather, no per-row formatting.
        def composed(
            tkey: str, pkey: str, en: bool
        ) -> tuple[pl.Series, np.ndarray, np.ndarray, np.ndarray]:
            pool: list[str] = []
            off, ntpl, nprod = [], [], []
            for c in cats:
                tpls = text["english"][tkey] if en else c[tkey]
                prods = c[pkey]
                off.append(len(pool))
                ntpl.append(len(tpls))
                nprod.append(len(prods))
                pool.extend(t.replace("{p}", p) for t in tpls for p in prods)
            return pl.Series(pool), np.array(off), np.array(ntpl), np.array(nprod)

        self.title, self.title_off, self.title_nt, self.n_prod = composed(
            "titles", "products", False
        )
        self.opener, self.opener_off, self.opener_nt, _ = composed("openers", "products", False)
        self.title_en, self.title_en_off, self.title_en_nt, self.n_prod_en = composed(
            "titles", "products_en", True
        )
        self.opener_en, self.opener_en_off, self.opener_en_nt, _ = composed(
            "openers", "products_en", True
        )
        self.products, self.prod_off, self.prod_n = self._flat([c["products"] for c in cats])
        self.details, self.det_off, self.det_n = self._flat([c["details"] for c in cats])
        self.bios, self.bio_off, self.bio_n = self._flat([c["bios"] for c in cats])
        self.name_parts, self.np_off, self.np_n = self._flat([c["name_parts"] for c in cats])
        self.details_en = pl.Series([d + " " for d in text["english"]["details"]])
        self.closers = pl.Series(text["closers"])
        self.closers_en = pl.Series(text["english"]["closers"])
        self.locations = pl.Series(
            [f"\n📍{city}·{place}" for city, places in text["cities"].items() for place in places]
        )
        self.ip_locations = pl.Series(text["ip_locations"])

        # Brands: demo brands, their competitors, other fictional brands; one flat table.
        names, latin, bcat, role, demo_of, prods = [], [], [], [], [], []
        for d, b in enumerate(brands_yaml["demo_brands"]):
            entries = [(b, 0)] + [(cb, 1) for cb in b["competitors"]]
            for e, r in entries:
                names.append(e["brand"])
                latin.append(e["latin_name"])
                bcat.append(CATEGORIES.index(b["category"]))
                role.append(r)
                demo_of.append(d)
                prods.append(e["products"])
        for cat, lst in brands_yaml["other_brands"].items():
            for e in lst:
                names.append(e["brand"])
                latin.append(e["latin_name"])
                bcat.append(CATEGORIES.index(cat))
                role.append(2)
                demo_of.append(-1)
                prods.append(e["products"])
        self.brand_name = pl.Series(names)
        self.brand_latin = pl.Series(latin)
        self.brand_cat = np.array(bcat)
        self.brand_role = np.array(role)
        self.brand_demo = np.array(demo_of)
        self.n_brands = len(names)
        self.bprod, self.bprod_off, self.bprod_n = self._flat(prods)
        # Category -> its "other" brands: ordinary ads, organic mentions and most plants use
        # them, so demo brands and their competitors appear only where a plant puts them.
        other = np.flatnonzero(self.brand_role == 2)
        self.cat_brands = other[np.argsort(self.brand_cat[other], kind="stable")]
        self.cat_brand_n = np.bincount(self.brand_cat[other], minlength=nc)
        self.cat_brand_off = np.cumsum(self.cat_brand_n) - self.cat_brand_n
        self.demo_brand_idx = np.flatnonzero(self.brand_role == 0)
        self.cat_demo = np.full(nc, -1)
        for bi in self.demo_brand_idx:
            self.cat_demo[self.brand_cat[bi]] = bi
        comp = [
            np.flatnonzero((self.brand_role == 1) & (self.brand_demo == self.brand_demo[bi]))
            for bi in self.demo_brand_idx
        ]
        self.comp_n = np.array([len(c) for c in comp])
        self.comp_off = np.cumsum(self.comp_n) - self.comp_n
        self.comp_flat = np.concatenate(comp)

        # Brand-slot lines, pre-composed template x brand.
        self.brand_lines = pl.Series(
            [
                t.replace("{b}", b)
                for t in ("是{b}家的～", "（{b}家的）", "，用的是{b}的")
                for b in names
            ]
        )
        self.n_brand_lines = 3
        disc = text["disclosure_text"]
        self.disclosure_lines = pl.Series([" " + t.replace("{b}", b) for t in disc for b in names])
        self.n_disclosure = len(disc)
        self.sponsor_intro = pl.Series(
            [t.replace("{b}", b) for t in ("感谢{b}的邀请，", "这次和{b}合作，", "") for b in names]
        )
        self.n_sponsor_intro = 3

        # Tags: one pool, index 0 is the empty tag (a slot left unused).
        tag_list: list[str] = [""]
        tag_id: dict[str, int] = {"": 0}

        def tid(t: str) -> int:
            if t not in tag_id:
                tag_id[t] = len(tag_list)
                tag_list.append(t)
            return tag_id[t]

        cat_tags = [[tid(t) for t in c["tags"]] for c in cats]
        self.cat_tag_n = np.array([len(t) for t in cat_tags])
        self.cat_tag_off = np.cumsum(self.cat_tag_n) - self.cat_tag_n
        self.cat_tags = np.array([t for ts in cat_tags for t in ts])
        self.generic_tags = np.array(
            [tid(t) for t in ("好物推荐", "日常分享", "分享", "生活记录", "种草", "宝藏")]
        )
        self.disclosure_tags = np.array([tid(t) for t in text["disclosure_tags"]])
        self.brand_tag = np.array([tid(b) for b in names])
        self.bprod_tag = np.array([tid(p) for p in self.bprod.to_list()])
        # tag of the city of each location line (same order as self.locations)
        self.location_tags = np.array(
            [tid(city) for city, places in text["cities"].items() for _ in places]
        )
        for t in (
            "避雷",
            "翻车",
            "拔草",
            "塌房",
            "无广",
            "福利",
            "抽奖",
            "自费分享",
            "声明",
            "真实测评",
            "回购",
        ):
            tid(t)
        self.tag_id = tag_id
        self.tags = pl.Series(tag_list)
        self.hashtags = pl.Series([""] + [f"#{t}[话题]#" for t in tag_list[1:]])

        # Comment pools: per (category, class) segments of one flat pool. Praise and questions
        # mix generic and category-specific texts.
        cm = text["comments"]
        pool: list[str] = []
        c_off = np.zeros((nc, len(COMMENT_CLASSES)), dtype=np.int64)
        c_n = np.zeros_like(c_off)
        generic_off: dict[str, tuple[int, int]] = {}
        for cls in COMMENT_CLASSES:
            generic_off[cls] = (len(pool), len(cm[cls]))
            pool.extend(cm[cls])
        for ci, c in enumerate(cats):
            for k, cls in enumerate(COMMENT_CLASSES):
                if cls in ("praise", "question"):
                    c_off[ci, k] = len(pool)
                    items = cm[cls] + c[f"comments_{cls}"]
                    c_n[ci, k] = len(items)
                    pool.extend(items)
                else:
                    c_off[ci, k], c_n[ci, k] = generic_off[cls]
        self.c_off, self.c_n = c_off, c_n
        # every comment text with every suffix ("" first): one gather picks both
        self.n_suffix = len(text["comment_suffixes"])
        self.cpool = pl.Series([t + x for t in pool for x in text["comment_suffixes"]])
        mix = np.zeros((len(_MIX_NAMES), len(COMMENT_CLASSES)))
        for m, weights in _MIXES.items():
            for cls, w in weights.items():
                mix[_MIX[m], _CC[cls]] = w
        self.mix_cum = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
        self.mix_cum[:, -1] = 1.0 + 1e-9
        # mixes laid end to end (mix m spans [m, m+1)) so one searchsorted picks every class
        self.mix_flat = (self.mix_cum + np.arange(len(_MIX_NAMES))[:, None]).reshape(-1)

        # Nicknames: pre-composed prefix x core x suffix.
        self.nicks = pl.Series(
            [
                p + c + s
                for p in text["nickname_prefixes"]
                for c in text["nickname_cores"]
                for s in text["nickname_suffixes"]
            ]
        )

    @staticmethod
    def _flat(lists: list[list[str]]) -> tuple[pl.Series, np.ndarray, np.ndarray]:
        n = np.array([len(x) for x in lists])
        return pl.Series([s for x in lists for s in x]), np.cumsum(n) - n, n


@lru_cache(maxsize=1)
def _vocab() -> _Vocab:
    return _Vocab()


# --------------------------------------------------------------------------------------
# Accounts: genuine users and farm (bought) accounts, attributes derived from their index
# --------------------------------------------------------------------------------------

_COMMUNITY = 3000  # genuine accounts per audience community (creators sharing one overlap)
_FARM_BATCH = 500  # farm accounts registered together


@dataclass(frozen=True)
class _Pools:
    """Sizes of the account pools; attributes of account i are a pure function of (seed, i)."""

    seed: int
    as_of_s: int
    seg: int  # genuine accounts per category segment
    n_comm: int  # communities per category
    farm: int  # farm accounts
    farm_t0: int  # registration time of farm batch 0
    farm_dt: float  # seconds between farm batches

    @property
    def n_cat(self) -> int:
        return len(CATEGORIES)


def _make_pools(n: int, seed: int, as_of_s: int) -> _Pools:
    seg = max(6 * _COMMUNITY, -(-40 * n // len(CATEGORIES)))
    farm = max(40 * _FARM_BATCH, 8 * n)
    t0 = as_of_s - 730 * DAY
    return _Pools(
        seed,
        as_of_s,
        seg,
        max(1, seg // _COMMUNITY),
        farm,
        t0,
        (as_of_s - 2 * DAY - t0) / (farm // _FARM_BATCH),
    )


def _draw_genuine(
    rng: np.random.Generator, pools: _Pools, cat: np.ndarray, comm: np.ndarray
) -> np.ndarray:
    """Genuine account indexes for rows of (creator category, creator community).

    Half come from the creator's community, a third from the category at large (popular
    accounts more often), the rest from anywhere: audiences overlap within a niche.
    """
    n = len(cat)
    u = rng.random(n)
    v = rng.random(n)
    j = np.where(
        u < 0.5,
        comm * _COMMUNITY + (v * _COMMUNITY).astype(np.int64),
        (v**1.6 * pools.seg).astype(np.int64),
    )
    c = np.where(u < 0.85, cat, rng.integers(0, pools.n_cat, n))
    return j * pools.n_cat + c


def _genuine_accounts(pools: _Pools, idx: np.ndarray, full: bool) -> dict[str, Any]:
    """Attributes of genuine accounts ``idx``: id and nickname, plus profile when ``full``.

    Real users vary: most have a chosen nickname and avatar, some lurk with a default
    nickname and no notes, a few have an audience of their own; following counts are moderate.
    """
    h = _hash(pools.seed, NS_GENUINE, idx)
    u_age = _unit(_sub(h, 1))
    span = pools.as_of_s - 3 * DAY - _epoch(datetime(2014, 6, 1))
    created = (pools.as_of_s - 3 * DAY - u_age**1.6 * span).astype(np.int64)
    default_nick = _unit(_sub(h, 2)) < 0.09
    voc = _vocab()
    names = _gather(voc.nicks, (_sub(h, 3) % _U(len(voc.nicks))).astype(np.int64))
    where = np.flatnonzero(default_nick)
    if len(where):
        names = names.scatter(where, _default_nicknames(h[where]))
    out: dict[str, Any] = {"id": _xhs_ids(created, _sub(h, 4)), "name": names}
    if not full:
        return out
    lurker = _unit(_sub(h, 5)) < np.where(default_nick, 0.7, 0.25)
    out["created"] = created
    out["has_avatar"] = _unit(_sub(h, 6)) < np.where(default_nick, 0.45, 0.93)
    out["bio_length"] = np.where(
        _unit(_sub(h, 7)) < 0.35, 0, np.clip(np.exp(np.log(18) + 0.8 * _normal(_sub(h, 8))), 1, 100)
    ).astype(np.int64)
    fol = np.exp(np.log(25) + 1.6 * _normal(_sub(h, 9)))
    out["follower_count"] = np.where(lurker, np.minimum(fol, 8) * _unit(_sub(h, 10)), fol).astype(
        np.int64
    )
    out["following_count"] = np.clip(
        np.exp(np.log(150) + 0.9 * _normal(_sub(h, 11))), 1, 3000
    ).astype(np.int64)
    out["note_count"] = np.where(lurker, 0, np.exp(np.log(12) + 1.2 * _normal(_sub(h, 12)))).astype(
        np.int64
    )
    return out


def _farm_accounts(pools: _Pools, idx: np.ndarray) -> dict[str, Any]:
    """Attributes of farm (bought) accounts ``idx``.

    Plain fakes: default nickname and avatar, no notes, almost no followers, mass-following.
    Dressed-up fakes (share set per registration batch): nickname, avatar, a few notes, but
    still following well over 1,500 accounts, the trace hardest to hide.
    """
    h = _hash(pools.seed, NS_FARM, idx)
    batch = idx // _FARM_BATCH
    hb = _hash(pools.seed, NS_FARM, -1 - batch)
    created = (pools.farm_t0 + batch * pools.farm_dt + _unit(_sub(h, 1)) * 2 * DAY).astype(np.int64)
    dressed = _unit(_sub(h, 2)) < _unit(hb) * 0.7
    voc = _vocab()
    names = _default_nicknames(h)
    where = np.flatnonzero(dressed | (_unit(_sub(h, 3)) < 0.05))
    if len(where):
        names = names.scatter(
            where, _gather(voc.nicks, (_sub(h[where], 4) % _U(len(voc.nicks))).astype(np.int64))
        )
    u = _unit(_sub(h, 5))
    following = np.where(
        dressed,
        1500 + (u**2) * 4500,
        np.clip(np.exp(np.log(900) + 0.7 * _normal(_sub(h, 6))), 150, 7500),
    ).astype(np.int64)
    return {
        "id": _xhs_ids(created, _sub(h, 7)),
        "name": names,
        "created": created,
        "has_avatar": np.where(dressed, True, _unit(_sub(h, 8)) < 0.08),
        "bio_length": np.where(
            dressed & (_unit(_sub(h, 9)) < 0.5), (_unit(_sub(h, 10)) * 20).astype(np.int64), 0
        ),
        "follower_count": np.where(dressed, _unit(_sub(h, 11)) * 30, _unit(_sub(h, 11)) * 6).astype(
            np.int64
        ),
        "following_count": following,
        "note_count": np.where(dressed, 1 + (_unit(_sub(h, 12)) * 4).astype(np.int64), 0),
        "dressed": dressed,
    }


def _bot_accounts(pools: _Pools, idx: np.ndarray, burst_s: np.ndarray) -> dict[str, Any]:
    """Fresh accounts used for templated bot comments: registered days before the burst."""
    h = _hash(pools.seed, NS_BOT, idx)
    created = (burst_s - (1 + _unit(_sub(h, 1)) * 19) * DAY).astype(np.int64)
    return {"id": _xhs_ids(created, _sub(h, 2)), "name": _default_nicknames(_sub(h, 3))}


# --------------------------------------------------------------------------------------
# The plan: every creator's profile and every plant
# --------------------------------------------------------------------------------------

_TIER_SHARE = np.array([0.46, 0.36, 0.12, 0.04, 0.02])
_TIER_BOUNDS = [
    (500, 10_000, 0.35),
    (10_000, 100_000, 0.8),
    (100_000, 500_000, 1.0),
    (500_000, 1_000_000, 1.2),
    (1_000_000, 15_000_000, 1.3),
]


@dataclass
class _Plan:
    n: int
    seed: int
    as_of_s: int
    days: int
    start_s: int  # midnight UTC of the first history day
    pools: _Pools
    a: dict[str, np.ndarray]  # per-creator arrays
    creator_id: pl.Series
    display_name: pl.Series
    pod_members: np.ndarray  # (n_pods, 8), -1 padded
    special: pl.DataFrame  # planned notes, sorted by creator
    partners: pl.DataFrame


def _counts(n: int, rate: float) -> int:
    """How many creators get one plant: a rate, but several even in small worlds."""
    floor = max(1, min(5, n // 30))
    return max(floor, round(rate * n))


def _tier_followers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Heavy-tailed follower counts: tier shares fixed (each tier present), truncated Pareto inside."""
    raw = _TIER_SHARE * n
    cnt = np.floor(raw).astype(np.int64)
    cnt[np.argsort(-(raw - cnt))[: n - cnt.sum()]] += 1
    if n >= 50:  # every tier present, so tier comparisons are possible in small worlds
        while (cnt < 2).any():
            cnt[np.argmin(cnt)] += 1
            cnt[np.argmax(cnt)] -= 1
    out = []
    for (lo, hi, alpha), k in zip(_TIER_BOUNDS, cnt, strict=True):
        u = rng.random(k)
        out.append(lo * (1 - u * (1 - (lo / hi) ** alpha)) ** (-1 / alpha))
    f = np.concatenate(out)
    return np.floor(f[rng.permutation(n)]).astype(np.int64)


def _take(
    rng: np.random.Generator, eligible: np.ndarray, used: np.ndarray, count: int
) -> np.ndarray:
    """Pick ``count`` eligible creators, unused ones first; marks them used."""
    perm = rng.permutation(len(eligible))
    fresh = perm[eligible[perm] & ~used[perm]]
    again = perm[eligible[perm] & used[perm]]
    chosen = np.concatenate([fresh, again])[:count]
    used[chosen] = True
    return np.sort(chosen)


def _groups(
    rng: np.random.Generator, cand: np.ndarray, key: np.ndarray, n_groups: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Carve groups of lo..hi candidates sharing ``key`` (e.g. a category).

    Returns (member creator index, group number) for ``n_groups`` groups at most.
    """
    if len(cand) < lo or n_groups == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cand = cand[rng.permutation(len(cand))]
    cand = cand[np.argsort(key[cand], kind="stable")]
    k = key[cand]
    run_start = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
    run_len = np.diff(np.r_[run_start, len(k)])
    pos = np.arange(len(k)) - np.repeat(run_start, run_len)
    sizes = rng.integers(lo, hi + 1, len(k) + 1)
    bounds = np.cumsum(sizes)
    g_in_run = np.searchsorted(bounds, pos, side="right")
    complete = bounds[g_in_run] <= np.repeat(run_len, run_len)
    gkey = np.repeat(np.arange(len(run_len)), run_len) * (len(k) + 1) + g_in_run
    keys = np.unique(gkey[complete])
    chosen = keys[rng.permutation(len(keys))[:n_groups]]
    chosen.sort()
    member = np.isin(gkey, chosen) & complete
    grp = np.searchsorted(chosen, gkey[member])
    return cand[member], grp


def _plan_world(n: int, seed: int, as_of: datetime, days: int) -> _Plan:
    """Fix every creator's profile and every plant. Small: O(n_creators) numbers."""
    voc = _vocab()
    rng = np.random.default_rng([seed, 1])
    as_of_s = _epoch(as_of)
    start_s = _epoch(datetime.combine(as_of.date() - timedelta(days=days), datetime.min.time()))
    pools = _make_pools(n, seed, as_of_s)
    nc = len(CATEGORIES)
    a: dict[str, np.ndarray] = {}
    cat_w = np.array([0.2, 0.16, 0.1, 0.14, 0.07, 0.09, 0.09, 0.08, 0.07])
    a["cat"] = rng.choice(nc, n, p=cat_w / cat_w.sum())
    f_now = _tier_followers(rng, n)
    a["english"] = rng.random(n) < 0.03
    a["note_rate"] = np.exp(
        rng.normal(np.log(100 / 180) - 0.18, 0.6, n)
    )  # notes/day, mean ~100/180
    a["growth"] = rng.normal(0.001, 0.0008, n)  # daily log growth of real followers
    a["vol"] = rng.uniform(0.0005, 0.003, n)
    a["cr"] = voc.collect_ratio[a["cat"]] * np.exp(rng.normal(0, 0.15, n))
    a["cmr"] = voc.comment_ratio[a["cat"]] * np.exp(rng.normal(0, 0.2, n))
    tier = np.searchsorted([10_000, 100_000, 500_000, 1_000_000], f_now, side="right")
    a["sp_rate"] = np.array([0.05, 0.08, 0.11, 0.13, 0.15])[tier] * rng.uniform(0.3, 1.7, n)
    a["community"] = rng.integers(0, pools.n_comm, n)
    a["crawl_cap"] = rng.choice([5, 5, 10, 10, 10, 15], n)  # comments a crawler kept per note
    a["fake_base"] = rng.beta(1.2, 18, n)  # every audience has a few farm accounts
    a["acct_created"] = (as_of_s - rng.uniform(200, 2800, n) * DAY).astype(np.int64)
    used = np.zeros(n, bool)

    # --- groups first: engagement pods (nano/micro) and seeding campaigns (same category)
    small = f_now < 100_000
    n_pods = max(2 if n >= 100 else (1 if n >= 12 else 0), round(0.01 * n / 6))
    pod_member, pod_grp = _groups(rng, np.flatnonzero(small), np.zeros(n, np.int64), n_pods, 4, 8)
    used[pod_member] = True
    a["pod"] = np.full(n, -1)
    a["pod"][pod_member] = pod_grp
    n_pods = int(pod_grp.max()) + 1 if len(pod_grp) else 0
    pod_members = np.full((n_pods, 8), -1)
    if n_pods:
        order = np.lexsort((pod_member, pod_grp))
        g, pos = _ragged_index(np.bincount(pod_grp, minlength=n_pods))
        pod_members[g, pos] = pod_member[order]
    a["pod_start"] = np.zeros(n, np.int64)
    a["pod_start"][pod_member] = (rng.uniform(0, 0.4, n_pods) * days).astype(np.int64)[pod_grp]

    n_camp = max(2 if n >= 60 else (1 if n >= 10 else 0), round(0.01 * n / 4))
    camp_member, camp_grp = _groups(rng, np.flatnonzero(~used), a["cat"], n_camp, 3, 6)
    used[camp_member] = True

    # --- single-creator plants
    anyone = np.ones(n, bool)
    buyable = (f_now >= 3000) & (f_now <= 800_000)
    beauty_food = np.isin(a["cat"], [CATEGORIES.index("beauty"), CATEGORIES.index("food")])
    has_demo = voc.cat_demo[a["cat"]] >= 0
    k = _counts(n, 0.015)
    kl = _counts(n, 0.01)
    sel = {
        "bought_followers_step": _take(rng, buyable, used, k),
        "bought_followers_drip": _take(rng, buyable, used, k),
        "bought_likes": _take(rng, anyone, used, k),
        "bot_comments": _take(rng, anyone, used, k),
        "controversy": _take(rng, anyone, used, k),
        "undisclosed_ad": _take(rng, anyone, used, k),
        "false_no_ad_claim": _take(rng, anyone, used, k),
        "ad_law_absolute_claim": _take(rng, beauty_food, used, k),
        "ad_law_medical_claim": _take(rng, beauty_food, used, k),
        "competitor_paid_work": _take(rng, has_demo, used, k),
        "audience_rejects_ads": _take(rng, anyone, used, k),
        "viral_lookalike": _take(rng, f_now < 300_000, used, kl),
        "loved_ads_lookalike": _take(rng, anyone, used, kl),
        "harsh_negative_lookalike": _take(rng, anyone, used, kl),
        "organic_praise_lookalike": _take(rng, anyone, used, kl),
    }

    # --- bought followers: the observed count includes them, the real audience does not
    a["bf_kind"] = np.zeros(n, np.int64)
    a["bf_total"] = np.zeros(n, np.int64)
    a["bf_unit"] = np.zeros(n, np.int64)
    a["bf_d1"] = np.full(n, -1)
    a["bf_d2"] = np.full(n, -1)
    a["bf_w"] = np.ones(n, np.int64)
    s = sel["bought_followers_step"]
    nsteps = rng.integers(1, 3, len(s))
    rounds = np.array([500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000])
    target = f_now[s] * rng.uniform(0.25, 0.55, len(s)) / nsteps
    unit = rounds[np.maximum(np.searchsorted(rounds, target, side="right") - 1, 0)]
    a["bf_kind"][s] = 1
    a["bf_unit"][s] = unit
    a["bf_total"][s] = unit * nsteps
    d1 = rng.integers(int(days * 0.15), int(days * 0.75), len(s))
    a["bf_d1"][s] = d1
    a["bf_d2"][s] = np.where(
        nsteps == 2, np.minimum(d1 + rng.integers(7, 41, len(s)), days - 3), -1
    )
    s = sel["bought_followers_drip"]
    a["bf_kind"][s] = 2
    a["bf_total"][s] = (f_now[s] * rng.uniform(0.25, 0.55, len(s))).astype(np.int64)
    a["bf_w"][s] = rng.integers(14, 43, len(s))
    a["bf_d1"][s] = rng.integers(
        int(days * 0.1), np.maximum(int(days * 0.1) + 1, days - 5 - a["bf_w"][s])
    )
    # purchase time -> farm batch the accounts come from
    purchase_s = start_s + np.maximum(a["bf_d1"], 0) * DAY
    batch_now = ((purchase_s - pools.farm_t0) / pools.farm_dt).astype(np.int64)
    a["bf_batch"] = np.clip(batch_now - rng.integers(1, 6, n), 0, pools.farm // _FARM_BATCH - 4)
    a["f_now"] = f_now
    a["real_end"] = f_now - a["bf_total"]

    # Engagement rate falls with (real) audience size: a few % for nano, well under 1% for mega.
    a["er"] = np.clip(
        0.06 * (np.maximum(a["real_end"], 300) / 1000.0) ** -0.33 * np.exp(rng.normal(0, 0.3, n)),
        0.002,
        0.25,
    )

    # --- viral look-alike: a hit note, followed by a real follower jump
    a["viral_day"] = np.full(n, -1)
    a["viral_jump"] = np.zeros(n)
    a["viral_mult"] = np.ones(n)
    s = sel["viral_lookalike"]
    a["viral_day"][s] = rng.integers(int(days * 0.15), int(days * 0.85), len(s))
    a["viral_mult"][s] = rng.uniform(25, 60, len(s))
    # followers won ~ 8-15% of the hit note's engagement
    a["viral_jump"][s] = np.clip(
        a["viral_mult"][s] * a["er"][s] * rng.uniform(0.08, 0.15, len(s)), 0.08, 1.5
    )

    a["bought_likes"] = np.isin(np.arange(n), sel["bought_likes"])
    a["bot_comments"] = np.isin(np.arange(n), sel["bot_comments"])
    a["harsh"] = np.isin(np.arange(n), sel["harsh_negative_lookalike"])

    # --- identities
    h = _hash(seed, NS_CREATOR, np.arange(n))
    creator_id = _xhs_ids(a["acct_created"], h, "creator_id")
    display_name = _creator_names(rng, a["cat"], a["english"])

    # --- partners: ~10% of creators, some of them risky on purpose (monitoring must catch them)
    n_partners = max(3, round(0.10 * n))
    risky = np.concatenate(
        [
            sel[k][:2]
            for k in (
                "controversy",
                "bought_followers_step",
                "undisclosed_ad",
                "audience_rejects_ads",
            )
        ]
    )
    risky = np.unique(risky)[: max(2, n_partners // 3)]
    rest = np.setdiff1d(np.arange(n), risky)
    w = np.where(has_demo[rest], 3.0, 1.0)
    rest = rest[np.argsort(-(rng.random(len(rest)) ** (1 / w)))][: n_partners - len(risky)]
    p_idx = np.sort(np.concatenate([risky, rest]))
    p_brand = voc.cat_demo[a["cat"][p_idx]]
    p_brand = np.where(
        p_brand >= 0,
        p_brand,
        voc.demo_brand_idx[rng.integers(0, len(voc.demo_brand_idx), len(p_idx))],
    )
    status = rng.choice(4, len(p_idx), p=[0.7, 0.1, 0.1, 0.1])  # active, paused, ended, prospect
    today = as_of_s // DAY
    c_start = today - rng.integers(30, 300, len(p_idx))
    c_start = np.where(status == 3, today + rng.integers(7, 45, len(p_idx)), c_start)
    c_end = c_start + rng.integers(180, 540, len(p_idx))
    c_end = np.where(
        status == 2,
        today - rng.integers(1, 20, len(p_idx)),
        np.maximum(c_end, today + rng.integers(10, 300, len(p_idx))),
    )
    c_start = np.minimum(c_start, c_end - 30)
    end_null = (rng.random(len(p_idx)) < 0.2) & (status != 2)
    partners = pl.DataFrame(
        {
            "creator_id": creator_id.gather(p_idx),
            "brand": _gather(voc.brand_name, p_brand),
            "contract_start": pl.Series(c_start.astype(np.int32)).cast(pl.Date),
            "contract_end": pl.Series(c_end.astype(np.int32)).cast(pl.Date),
            "status": pl.Series(np.array(["active", "paused", "ended", "prospect"])[status]),
        }
    ).with_columns(
        pl.when(pl.Series(end_null))
        .then(None)
        .otherwise(pl.col("contract_end"))
        .alias("contract_end")
    )
    a["partner_brand"] = np.full(n, -1)
    a["partner_brand"][p_idx] = p_brand
    a["partner_from"] = np.zeros(n, np.int64)
    a["partner_to"] = np.zeros(n, np.int64)
    a["partner_from"][p_idx] = np.maximum(c_start * DAY, start_s)
    a["partner_to"][p_idx] = np.where(status == 3, 0, np.minimum(c_end * DAY, as_of_s - 2 * 3600))

    special = _plan_special_notes(
        rng, a, sel, camp_member, camp_grp, p_idx, n, seed, start_s, as_of_s, days
    )
    return _Plan(
        n,
        seed,
        as_of_s,
        days,
        start_s,
        pools,
        a,
        creator_id,
        display_name,
        pod_members,
        special,
        partners,
    )


def _creator_names(rng: np.random.Generator, cat: np.ndarray, english: np.ndarray) -> pl.Series:
    """Display names: generic nicknames, or '<core>的<category word><suffix>' styles."""
    voc = _vocab()
    text = voc.text
    n = len(cat)
    cores = pl.Series(text["nickname_cores"])
    generic = _gather(voc.nicks, rng.integers(0, len(voc.nicks), n))
    core = _gather(cores, rng.integers(0, len(cores), n))
    part = _gather(voc.name_parts, _pick(rng.random(n), voc.np_off[cat], voc.np_n[cat]))
    tail = _gather(pl.Series(["日记", "日常", "小屋", "", "研究所", "手帐"]), rng.integers(0, 6, n))
    num = pl.Series(rng.integers(1, 999, n)).cast(pl.String)
    style = rng.random(n)
    df = pl.DataFrame(
        {"g": generic, "c": core, "p": part, "t": tail, "num": num, "s": style, "en": english}
    )
    return df.select(
        pl.when(pl.col("en"))
        .then(pl.concat_str([pl.col("c"), pl.lit("_"), pl.col("num")]))
        .when(pl.col("s") < 0.45)
        .then(pl.col("g"))
        .when(pl.col("s") < 0.85)
        .then(pl.concat_str([pl.col("c"), pl.lit("的"), pl.col("p"), pl.col("t")]))
        .otherwise(pl.concat_str([pl.col("p"), pl.col("c"), pl.col("num")]))
        .alias("display_name")
    ).to_series()


def _random_times(
    rng: np.random.Generator, day: np.ndarray, start_s: int, as_of_s: int
) -> np.ndarray:
    """Publication times on given window days, at hours XHS users post (local time, UTC+8)."""
    w = np.array(
        [1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 2, 3, 3, 3, 4, 6, 5, 3, 3, 3, 4, 6, 8, 9, 9, 8, 4.0]
    )
    hour = rng.choice(24, len(day), p=w / w.sum())
    t = start_s + day * DAY + hour * 3600 + rng.integers(0, 3600, len(day)) - CHINA_OFFSET
    t = np.where(t < start_s, t + DAY, t)  # early local hours of the first day: next day instead
    return np.minimum(t, as_of_s - 3600)


def _plan_special_notes(
    rng: np.random.Generator,
    a: dict[str, np.ndarray],
    sel: dict[str, np.ndarray],
    camp_member: np.ndarray,
    camp_grp: np.ndarray,
    p_idx: np.ndarray,
    n: int,
    seed: int,
    start_s: int,
    as_of_s: int,
    days: int,
) -> pl.DataFrame:
    """Every planned note: who posts it, when, its kind, brand and product, and its id.

    Planned notes get ids up front, so ground truth can name notes posted by other creators
    (call-outs, campaign peers) before any chunk is generated.
    """
    voc = _vocab()
    cat = a["cat"]
    parts: list[dict[str, np.ndarray]] = []

    def cat_brand(c: np.ndarray) -> np.ndarray:
        return voc.cat_brands[_pick(rng.random(len(c)), voc.cat_brand_off[c], voc.cat_brand_n[c])]

    def add(
        kind: str,
        creator: np.ndarray,
        ts: np.ndarray,
        brand: np.ndarray,
        target: np.ndarray | None = None,
        group: np.ndarray | None = None,
        variant: np.ndarray | None = None,
        product: np.ndarray | None = None,
    ) -> None:
        m = len(creator)
        if product is None:
            product = _pick(rng.random(m), voc.bprod_off[brand], voc.bprod_n[brand])
        parts.append(
            {
                "creator": creator.astype(np.int64),
                "ts": ts.astype(np.int64),
                "kind": np.full(m, _NK[kind]),
                "brand": brand.astype(np.int64),
                "product": product.astype(np.int64),
                "target": (np.full(m, -1) if target is None else target).astype(np.int64),
                "group": (np.full(m, -1) if group is None else group).astype(np.int64),
                "variant": (rng.integers(0, 1 << 30, m) if variant is None else variant).astype(
                    np.int64
                ),
            }
        )

    def repeat(creators: np.ndarray, lo: int, hi: int) -> np.ndarray:
        return np.repeat(creators, rng.integers(lo, hi + 1, len(creators)))

    def days_between(lo: np.ndarray | int, hi: np.ndarray | int, m: int) -> np.ndarray:
        return np.floor(lo + rng.random(m) * (np.asarray(hi) - np.asarray(lo))).astype(np.int64)

    # controversy: the note, an apology 1-4 days later, 1-3 call-outs by other creators
    c = sel["controversy"]
    c_day = rng.integers(int(days * 0.15), int(days * 0.8), len(c))
    c_ts = _random_times(rng, c_day, start_s, as_of_s)
    c_brand = cat_brand(cat[c])
    c_var = rng.integers(0, 1 << 30, len(c))
    c_prod = _pick(rng.random(len(c)), voc.bprod_off[c_brand], voc.bprod_n[c_brand])
    add("controversy", c, c_ts, c_brand, group=np.arange(len(c)), variant=c_var, product=c_prod)
    add(
        "apology",
        c,
        np.minimum(c_ts + rng.uniform(1, 4, len(c)) * DAY, as_of_s - 3600),
        c_brand,
        group=np.arange(len(c)),
        variant=c_var,
        product=c_prod,
    )
    n_call = rng.integers(1, 4, len(c))
    tgt = np.repeat(c, n_call)
    cgrp = np.repeat(np.arange(len(c)), n_call)
    order = np.argsort(cat, kind="stable")
    cat_n = np.bincount(cat, minlength=len(CATEGORIES))
    cat_off = np.cumsum(cat_n) - cat_n
    author = order[_pick(rng.random(len(tgt)), cat_off[cat[tgt]], cat_n[cat[tgt]])]
    other = (tgt + 1 + rng.integers(0, max(n - 1, 1), len(tgt))) % n
    author = np.where(author == tgt, other, author)
    call_ts = np.minimum(
        np.repeat(c_ts, n_call) + rng.uniform(0.5, 10, len(tgt)) * DAY, as_of_s - 3600
    )
    if n > 1:
        add(
            "callout",
            author,
            call_ts,
            np.repeat(c_brand, n_call),
            target=tgt,
            group=cgrp,
            variant=np.repeat(c_var, n_call),
            product=np.repeat(c_prod, n_call),
        )

    # seeding campaign: 3-6 creators, same product, near-identical notes within 4 days
    if len(camp_member):
        n_c = int(camp_grp.max()) + 1
        camp_cat = np.zeros(n_c, np.int64)
        camp_cat[camp_grp] = cat[camp_member]
        camp_brand = cat_brand(camp_cat)
        camp_day = rng.integers(int(days * 0.1), max(int(days * 0.1) + 1, days - 5), n_c)
        ts = _random_times(
            rng, camp_day[camp_grp] + rng.integers(0, 4, len(camp_member)), start_s, as_of_s
        )
        camp_var = rng.integers(0, 1 << 30, n_c)
        camp_prod = _pick(rng.random(n_c), voc.bprod_off[camp_brand], voc.bprod_n[camp_brand])
        # all members share one product and one template (variant): near-identical notes
        add(
            "campaign",
            camp_member,
            ts,
            camp_brand[camp_grp],
            group=camp_grp,
            variant=camp_var[camp_grp],
            product=camp_prod[camp_grp],
        )

    def spread(
        kind: str,
        creators: np.ndarray,
        lo: int,
        hi: int,
        brand_fn: Callable[[np.ndarray], np.ndarray],
        first_day: int = 0,
    ) -> None:
        cr = repeat(creators, lo, hi)
        if len(cr):
            add(
                kind,
                cr,
                _random_times(rng, days_between(first_day, days, len(cr)), start_s, as_of_s),
                brand_fn(cr),
            )

    spread("undisclosed_ad", sel["undisclosed_ad"], 2, 4, lambda cr: cat_brand(cat[cr]))
    spread("false_no_ad", sel["false_no_ad_claim"], 1, 2, lambda cr: cat_brand(cat[cr]))
    spread("adlaw_absolute", sel["ad_law_absolute_claim"], 1, 3, lambda cr: cat_brand(cat[cr]))
    spread("adlaw_medical", sel["ad_law_medical_claim"], 1, 3, lambda cr: cat_brand(cat[cr]))

    def competitor(cr: np.ndarray) -> np.ndarray:
        demo = voc.cat_demo[cat[cr]]
        d = np.searchsorted(voc.demo_brand_idx, demo)
        return voc.comp_flat[_pick(rng.random(len(cr)), voc.comp_off[d], voc.comp_n[d])]

    spread(
        "competitor_ad", sel["competitor_paid_work"], 1, 3, competitor, first_day=max(0, days - 88)
    )
    spread("rejected_ad", sel["audience_rejects_ads"], 3, 5, lambda cr: cat_brand(cat[cr]))
    spread("loved_ad", sel["loved_ads_lookalike"], 3, 5, lambda cr: cat_brand(cat[cr]))

    def demo_of(cr: np.ndarray) -> np.ndarray:
        d = voc.cat_demo[cat[cr]]
        return np.where(
            d >= 0, d, voc.demo_brand_idx[rng.integers(0, len(voc.demo_brand_idx), len(cr))]
        )

    spread("organic_praise", sel["organic_praise_lookalike"], 1, 2, demo_of)

    # viral look-alike: the hit note on the planned day
    v = sel["viral_lookalike"]
    add("viral", v, _random_times(rng, a["viral_day"][v], start_s, as_of_s), cat_brand(cat[v]))

    # partners: disclosed sponsored notes for the partner brand inside the contract
    pp = p_idx[a["partner_to"][p_idx] > a["partner_from"][p_idx] + DAY]
    pr = repeat(pp, 1, 3)
    if len(pr):
        ts = a["partner_from"][pr] + rng.random(len(pr)) * (
            a["partner_to"][pr] - a["partner_from"][pr]
        )
        add("partner_ad", pr, ts, a["partner_brand"][pr])

    if not parts:  # only in degenerate worlds (a single creator): keep the columns
        parts.append(
            {
                k: np.zeros(0, np.int64)
                for k in ("creator", "ts", "kind", "brand", "product", "target", "group", "variant")
            }
        )
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((cols["ts"], cols["creator"]))
    df = pl.DataFrame({k: v[order] for k, v in cols.items()})
    return df.with_columns(
        _xhs_ids(df["ts"].to_numpy(), _hash(seed, NS_SPECIAL, np.arange(len(df))), "note_id")
    )


# --------------------------------------------------------------------------------------
# Text rendering
# --------------------------------------------------------------------------------------


def _tags(mat: np.ndarray) -> tuple[pl.Series, pl.Series]:
    """Tag lists and their in-body hashtag text from a (rows, slots) matrix of tag ids.

    Slot value 0 means no tag; repeated tags within a row are dropped, order is kept.
    """
    voc = _vocab()
    w = mat.shape[1]
    keep = mat != 0
    for j in range(1, w):
        for i in range(j):
            keep[:, j] &= mat[:, j] != mat[:, i]
    flat = mat[keep]
    offsets = pa.array(np.r_[0, np.cumsum(keep.sum(axis=1))].astype(np.int64))
    lvl = pl.CompatLevel.oldest()
    tags = pa.LargeListArray.from_arrays(offsets, voc.tags.gather(flat).to_arrow(compat_level=lvl))
    hashes = pa.LargeListArray.from_arrays(
        offsets, voc.hashtags.gather(flat).to_arrow(compat_level=lvl)
    )
    return pl.Series("tags", tags), pl.Series("hashtags", hashes).list.join(" ")


def _render_regular(
    rng: np.random.Generator,
    cat: np.ndarray,
    english: np.ndarray,
    sponsored: np.ndarray,
    style: np.ndarray,
    brand: np.ndarray,
    mention: np.ndarray,
) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Titles, bodies and tag lists of ordinary notes (and honest disclosed ads).

    ``style`` of a sponsored note: 0 platform label and text disclosure, 1 label only, 2 text only.
    Returns (title, body, tags).
    """
    voc = _vocab()
    m = len(cat)
    u = rng.random((12, m))
    prod = np.minimum((u[0] * voc.n_prod[cat]).astype(np.int64), voc.n_prod[cat] - 1)
    tpl = np.minimum((u[1] * voc.title_nt[cat]).astype(np.int64), voc.title_nt[cat] - 1)
    opn = np.minimum((u[2] * voc.opener_nt[cat]).astype(np.int64), voc.opener_nt[cat] - 1)
    title = _gather(voc.title, voc.title_off[cat] + tpl * voc.n_prod[cat] + prod)
    opener = _gather(voc.opener, voc.opener_off[cat] + opn * voc.n_prod[cat] + prod)
    dn = voc.det_n[cat]
    d1 = np.minimum((u[3] * dn).astype(np.int64), dn - 1)
    d2 = (d1 + 1 + (u[4] * (dn - 1)).astype(np.int64)) % dn
    det1 = _gather(voc.details, voc.det_off[cat] + d1)
    det2 = _gather(voc.details, voc.det_off[cat] + d2)
    closer = _gather(voc.closers, (u[5] * len(voc.closers)).astype(np.int64))
    nb = voc.n_brands
    empty = pl.Series([""])
    zeros = np.zeros(m, np.int64)
    brand_part = pl.concat([empty, voc.brand_lines]).gather(
        np.where(mention, 1 + (u[6] * voc.n_brand_lines).astype(np.int64) * nb + brand, zeros)
    )
    intro = pl.concat([empty, voc.sponsor_intro]).gather(
        np.where(sponsored, 1 + (u[7] * voc.n_sponsor_intro).astype(np.int64) * nb + brand, zeros)
    )
    # English creators disclose with #ad / #sponsored, others with Chinese text
    d_idx = np.where(english, 6 + (u[8] * 2).astype(np.int64), (u[8] * 6).astype(np.int64))
    disclosure = pl.concat([empty, voc.disclosure_lines]).gather(
        np.where(sponsored & (style != 1), 1 + d_idx * nb + brand, zeros)
    )
    has_loc = u[9] < voc.location_prob[cat]
    location = pl.concat([empty, voc.locations]).gather(
        np.where(has_loc, 1 + (loc := (u[10] * len(voc.locations)).astype(np.int64)), zeros)
    )

    en = np.flatnonzero(english)
    if len(en):  # English notes: own templates, product words and details
        ce = cat[en]
        pe = np.minimum((u[0][en] * voc.n_prod_en[ce]).astype(np.int64), voc.n_prod_en[ce] - 1)
        title = title.scatter(
            en,
            _gather(
                voc.title_en,
                voc.title_en_off[ce]
                + (u[1][en] * voc.title_en_nt[ce]).astype(np.int64) * voc.n_prod_en[ce]
                + pe,
            ),
        )
        opener = opener.scatter(
            en,
            _gather(
                voc.opener_en,
                voc.opener_en_off[ce]
                + (u[2][en] * voc.opener_en_nt[ce]).astype(np.int64) * voc.n_prod_en[ce]
                + pe,
            ),
        )
        nd = len(voc.details_en)
        det1 = det1.scatter(en, _gather(voc.details_en, (u[3][en] * nd).astype(np.int64)))
        det2 = det2.scatter(
            en, _gather(voc.details_en, ((u[3][en] * nd).astype(np.int64) + 1) % nd)
        )
        closer = closer.scatter(
            en, _gather(voc.closers_en, (u[5][en] * len(voc.closers_en)).astype(np.int64))
        )

    # tags: 1-3 category tags, maybe a generic one, brand, disclosure and city tags
    mat = np.zeros((m, 7), np.int64)
    k_cat = 1 + (u[11] * 3).astype(np.int64)
    for j in range(3):
        pick = _pick(rng.random(m), voc.cat_tag_off[cat], voc.cat_tag_n[cat])
        mat[:, j] = np.where(j < k_cat, voc.cat_tags[pick], 0)
    mat[:, 3] = np.where(
        rng.random(m) < 0.5, voc.generic_tags[rng.integers(0, len(voc.generic_tags), m)], 0
    )
    mat[:, 4] = np.where((sponsored | mention) & (rng.random(m) < 0.7), voc.brand_tag[brand], 0)
    mat[:, 5] = np.where(
        sponsored & (style != 1) & (rng.random(m) < 0.6),
        voc.disclosure_tags[rng.integers(0, len(voc.disclosure_tags), m)],
        0,
    )
    mat[:, 6] = np.where(has_loc & (rng.random(m) < 0.4), voc.location_tags[loc], 0)
    tags, hashtags = _tags(mat)
    body = (
        pl.DataFrame(
            [intro, opener, brand_part, det1, det2, disclosure, location, closer, hashtags],
            schema=[f"c{i}" for i in range(9)],
        )
        .select(
            pl.concat_str(
                [
                    pl.col("c0"),
                    pl.col("c1"),
                    pl.col("c2"),
                    pl.lit("\n"),
                    pl.col("c3"),
                    pl.col("c4"),
                    pl.col("c5"),
                    pl.col("c6"),
                    pl.lit("\n"),
                    pl.col("c7"),
                    pl.lit("\n"),
                    pl.col("c8"),
                ]
            ).alias("body")
        )
        .to_series()
    )
    return title, body, tags


# Planted note kinds that are paid and disclose it in text.
_DISCLOSED_KINDS = (
    "adlaw_absolute",
    "adlaw_medical",
    "competitor_ad",
    "partner_ad",
    "loved_ad",
    "rejected_ad",
)


def _concat(parts: list[pl.Series | pl.Expr]) -> pl.Series:
    """Row-wise concatenation of string Series (and literals) into a Series."""
    return pl.select(pl.concat_str(parts)).to_series()


def _render_special(
    rng: np.random.Generator,
    plan: _Plan,
    kind: np.ndarray,
    cat: np.ndarray,
    brand: np.ndarray,
    product: np.ndarray,
    target: np.ndarray,
    variant: np.ndarray,
) -> tuple[pl.Series, pl.Series, pl.Series, np.ndarray]:
    """Titles, bodies, tags and platform labels of planned notes (few rows; templates + slots).

    ``variant`` picks the template, so a campaign's notes (one shared variant) come out
    near-identical and an apology matches its controversy.
    """
    voc = _vocab()
    plants = voc.text["plants"]
    m = len(kind)
    title = pl.Series([""] * m)
    core = pl.Series([""] * m)
    pre = pl.Series([""] * m)
    extra = pl.Series([""] * m)
    mat = np.zeros((m, 7), np.int64)
    for j in range(2):
        mat[:, j] = voc.cat_tags[_pick(rng.random(m), voc.cat_tag_off[cat], voc.cat_tag_n[cat])]
    mat[:, 2] = voc.brand_tag[brand]
    mat[:, 3] = np.where(rng.random(m) < 0.5, voc.bprod_tag[product], 0)
    label = np.zeros(m, bool)
    beauty = cat == CATEGORIES.index("beauty")
    tid = voc.tag_id
    u = rng.random((4, m))

    def templates(key: str, rows: np.ndarray, spec: dict[str, Any]) -> pl.Series:
        base = spec.get(key, [])
        both = base + spec.get(f"{key}_beauty", [])
        size = np.where(beauty[rows], len(both), len(base))
        return _gather(pl.Series(both), variant[rows] % size)

    def lines(items: list[str], rows: np.ndarray, uu: np.ndarray) -> pl.Series:
        return _gather(pl.Series(items), (uu[rows] * len(items)).astype(np.int64))

    hints = voc.text["ad_hints"]
    claims = voc.text["self_paid_claims"]
    for k in np.unique(kind):
        name = NOTE_KINDS[k]
        rows = np.flatnonzero(kind == k)
        spec = plants.get(
            {
                "undisclosed_ad": "undisclosed_ad",
                "false_no_ad": "undisclosed_ad",
                "adlaw_absolute": "undisclosed_ad",
                "adlaw_medical": "undisclosed_ad",
                "loved_ad": "partner_ad",
                "rejected_ad": "partner_ad",
            }.get(name, name),
            {},
        )
        title = title.scatter(rows, templates("titles", rows, spec))
        core = core.scatter(rows, templates("bodies", rows, spec))
        if name == "campaign":
            pre = pre.scatter(rows, lines(spec["openers"], rows, u[0]))
            mat[rows, 4] = tid["好物推荐"]
        elif name == "undisclosed_ad":
            two = _concat([lines(hints, rows, u[0]), pl.lit(" "), lines(hints, rows, u[1])])
            one = lines(hints, rows, u[0])
            extra = extra.scatter(
                rows,
                pl.select(
                    pl.when(pl.Series(u[2][rows] < 0.5)).then(two).otherwise(one)
                ).to_series(),
            )
            mat[rows, 4] = np.where(u[3][rows] < 0.3, tid["福利"], 0)
        elif name == "false_no_ad":
            # paid (platform label on half of them, discount code/link hints on the rest) but claims 无广/自费
            label[rows] = u[0][rows] < 0.5
            claim = lines(claims, rows, u[1])
            hint = lines(hints, rows, u[2])
            extra = extra.scatter(rows, _concat([pl.lit(" "), claim, pl.lit(" "), hint]))
            mat[rows, 4] = np.where(u[3][rows] < 0.5, tid["无广"], 0)
        elif name in ("adlaw_absolute", "adlaw_medical"):
            if name == "adlaw_absolute":
                claim = lines(voc.text["absolute_claims"], rows, u[0])
            else:
                med = voc.text["medical_claims"]
                food = pl.Series(med["food"])
                bea = pl.Series(med["beauty"])
                is_food = cat[rows] == CATEGORIES.index("food")
                claim = pl.select(
                    pl.when(pl.Series(is_food))
                    .then(_gather(food, (u[0][rows] * len(food)).astype(np.int64)))
                    .otherwise(_gather(bea, (u[0][rows] * len(bea)).astype(np.int64)))
                ).to_series()
            extra = extra.scatter(rows, _concat([pl.lit("，"), claim, pl.lit("！ #广告")]))
        elif name == "organic_praise":
            extra = extra.scatter(rows, _concat([pl.lit(" "), lines(claims[2:], rows, u[0])]))
            mat[rows, 4] = np.where(u[1][rows] < 0.5, tid["自费分享"], tid["回购"])
        elif name == "callout":
            mat[rows, 2] = 0
            mat[rows, 4] = tid["避雷"]
            mat[rows, 5] = np.array([tid["翻车"], tid["拔草"], tid["塌房"]])[
                (u[0][rows] * 3).astype(np.int64)
            ]
        elif name == "apology":
            mat[rows, 0:4] = 0
            mat[rows, 4] = np.where(u[0][rows] < 0.5, tid["声明"], 0)
        if name in _DISCLOSED_KINDS:
            label[rows] = u[3][rows] < 0.8
            if name not in ("adlaw_absolute", "adlaw_medical"):
                disc = pl.Series(["#广告", "品牌合作", "#合作", "#广告 #品牌合作"])
                extra = extra.scatter(
                    rows, _concat([pl.lit(" "), lines(disc.to_list(), rows, u[0])])
                )
            mat[rows, 5] = np.where(u[1][rows] < 0.6, tid["广告"], tid["合作"])

    closer = _gather(voc.closers, (rng.random(m) * len(voc.closers)).astype(np.int64))
    tags, hashtags = _tags(mat)
    code_digits = pl.Series((variant % 90 + 10).astype(np.int64)).cast(pl.String)
    slots = pl.DataFrame(
        {
            "b": _gather(voc.brand_name, brand),
            "p": _gather(voc.bprod, product),
            "n": plan.display_name.gather(np.maximum(target, 0)),
            "code": _concat(
                [
                    _gather(voc.brand_latin, brand)
                    .str.replace_all(r"[^A-Za-z]", "")
                    .str.to_uppercase()
                    .str.slice(0, 5),
                    code_digits,
                ]
            ),
            "title": title,
            "body": _concat([pre, core, extra, pl.lit("\n"), closer, pl.lit("\n"), hashtags]),
        }
    )

    def fill(col: str) -> pl.Expr:
        e = pl.col(col)
        for s in ("b", "p", "n", "code"):
            e = e.str.replace_all("{" + s + "}", pl.col(s), literal=True)
        return e

    out = slots.select(fill("title"), fill("body"))
    return out["title"], out["body"], tags, label


# --------------------------------------------------------------------------------------
# One chunk of creators: history, notes, comments, follower samples, ground truth
# --------------------------------------------------------------------------------------


@dataclass
class _Block:
    """Comments of one origin, before ids and text are attached."""

    code: int  # id namespace of the block
    note: np.ndarray  # row in the chunk's notes
    created: np.ndarray  # unix seconds
    cls: np.ndarray  # comment class (text pool)
    ids: pl.Series  # commenter ids
    names: pl.Series  # commenter names
    likes: np.ndarray
    parent: np.ndarray  # row of the parent comment in the final frame, -1 for none
    suffix: bool  # whether texts get an emoji/punctuation suffix


def _chunk(plan: _Plan, lo: int, hi: int) -> dict[str, pl.DataFrame]:
    """Generate every table's rows for creators ``lo..hi-1`` of the plan."""
    voc = _vocab()
    seed, D, start_s, as_of_s = plan.seed, plan.days, plan.start_s, plan.as_of_s
    rng = np.random.default_rng([seed, 2, lo])
    C = hi - lo
    a = {k: v[lo:hi] for k, v in plan.a.items()}
    cid = plan.creator_id.slice(lo, C)
    cat_c = a["cat"]

    # ---------------- follower history: real audience + bought followers
    t = np.arange(D + 1)
    eps = rng.normal(0.0, 1.0, (C, D + 1)) * a["vol"][:, None]
    tail = np.cumsum(eps[:, ::-1], axis=1)[:, ::-1] - eps  # noise still to come after day t
    logr = np.log(np.maximum(a["real_end"], 1))[:, None] - a["growth"][:, None] * (D - t) - tail
    vd = a["viral_day"][:, None]
    ramp = np.where(vd >= 0, np.clip((t - vd) / 4.0, 0.0, 1.0), 0.0)
    jump = a["viral_jump"][:, None]
    logr += np.log1p(jump * ramp) - np.log1p(jump)  # the viral note's followers arrive over 4 days
    real = np.exp(logr)
    real_int = np.rint(real).astype(np.int64)
    kind_bf = a["bf_kind"]
    d1, d2 = a["bf_d1"][:, None], a["bf_d2"][:, None]
    step = (kind_bf == 1)[:, None]
    bought = np.where(step & (t >= d1), a["bf_unit"][:, None], 0) + np.where(
        step & (d2 >= 0) & (t >= d2), a["bf_unit"][:, None], 0
    )
    frac = np.clip((t - d1 + 1) / a["bf_w"][:, None], 0.0, 1.0)
    bought = bought + np.where(
        (kind_bf == 2)[:, None], np.rint(frac * a["bf_total"][:, None]).astype(np.int64), 0
    )
    steps = np.flatnonzero(kind_bf == 1)
    for d in (a["bf_d1"], a["bf_d2"]):  # a round step is the whole day's change: exactly +10,000
        r = steps[d[steps] >= 1]
        real_int[r, d[r]] = real_int[r, d[r] - 1]
    observed = real_int + bought
    history = pl.DataFrame(
        {
            "creator_id": cid.gather(np.repeat(np.arange(C), D + 1)),
            "date": pl.Series(np.tile(start_s // DAY + t, C).astype(np.int32)).cast(pl.Date),
            "follower_count": observed.reshape(-1),
        }
    )

    # ---------------- notes: regular ones plus the planned ones of these creators
    n_reg = np.maximum(rng.poisson(a["note_rate"] * D), 2)
    rc, rpos = _ragged_index(n_reg)
    rts = _random_times(rng, rng.integers(0, D, len(rc)), start_s, as_of_s)
    rid = _xhs_ids(rts, _hash(seed, NS_NOTE, rc + lo, rpos))
    sp_c = plan.special["creator"].to_numpy()
    s_lo, s_hi = np.searchsorted(sp_c, [lo, hi])
    sp = plan.special.slice(int(s_lo), int(s_hi - s_lo))

    def both(reg: np.ndarray | int, col: str) -> np.ndarray:
        r = np.broadcast_to(np.asarray(reg), (len(rc),))
        return np.concatenate([r, sp[col].to_numpy()])

    cre = np.concatenate([rc, sp_c[s_lo:s_hi] - lo])
    ts = both(rts, "ts")
    kind = both(0, "kind")
    order = np.lexsort((ts, cre))
    cre, ts, kind = cre[order], ts[order], kind[order]
    brand = both(-1, "brand")[order]
    product = both(-1, "product")[order]
    target = both(-1, "target")[order]
    variant = both(0, "variant")[order]
    note_id = pl.concat([rid, sp["note_id"]]).gather(order)
    N = len(cre)
    cat = cat_c[cre]
    counts_c = np.bincount(cre, minlength=C)
    off_c = np.cumsum(counts_c) - counts_c

    # engagement follows the real audience on the day, not the bought one
    day = np.clip((ts - start_s) // DAY, 0, D)
    video = rng.random(N) < voc.video_share[cat]
    regular = kind == 0
    sponsored = regular & (rng.random(N) < a["sp_rate"][cre])
    m = _lognormal_mean1(rng, 0.85, N) * np.where(rng.random(N) < 0.02, rng.uniform(3, 8, N), 1.0)
    mult = _KIND_ENGAGEMENT[kind] * np.where(sponsored, 0.85, 1.0) * np.where(video, 1.1, 0.95)
    is_viral = kind == _NK["viral"]
    m = np.where(is_viral, a["viral_mult"][cre], m)
    lam_e = real[cre, day] * a["er"][cre] * m * mult
    cr = a["cr"][cre] * _lognormal_mean1(rng, 0.2, N)
    cmr = a["cmr"][cre] * _lognormal_mean1(rng, 0.3, N)
    lam_l = lam_e / (1.0 + cr + cmr)
    likes = rng.poisson(lam_l)
    collects = rng.poisson(lam_l * cr)
    comments_shown = rng.poisson(lam_l * cmr)
    shares = rng.poisson(lam_l * cr * voc.share_ratio[cat] * _lognormal_mean1(rng, 0.3, N))

    # bought likes: 1-2 notes get a like spike with no matching collects or comments
    bl_c = np.flatnonzero(a["bought_likes"])
    bl_c = np.repeat(bl_c, rng.integers(1, 3, len(bl_c)))
    bl_rows = np.unique(off_c[bl_c] + (rng.random(len(bl_c)) * counts_c[bl_c]).astype(np.int64))
    likes[bl_rows] = np.maximum(
        likes[bl_rows] * rng.uniform(8, 30, len(bl_rows)),
        likes[bl_rows] + rng.integers(300, 3000, len(bl_rows)),
    ).astype(np.int64)

    # text
    label = np.zeros(N, bool)
    reg_rows = np.flatnonzero(regular | is_viral)
    # organic brand mentions (Chinese notes only: the brand line is Chinese)
    mention = (
        (~sponsored[reg_rows]) & (rng.random(len(reg_rows)) < 0.12) & ~a["english"][cre[reg_rows]]
    )
    style = rng.choice(3, len(reg_rows), p=[0.4, 0.3, 0.3])
    rb = voc.cat_brands[
        _pick(
            rng.random(len(reg_rows)),
            voc.cat_brand_off[cat[reg_rows]],
            voc.cat_brand_n[cat[reg_rows]],
        )
    ]
    t1, b1, g1 = _render_regular(
        rng, cat[reg_rows], a["english"][cre[reg_rows]], sponsored[reg_rows], style, rb, mention
    )
    label[reg_rows] = sponsored[reg_rows] & (style != 2)
    sp_rows = np.flatnonzero(~(regular | is_viral))
    t2, b2, g2, l2 = _render_special(
        rng,
        plan,
        kind[sp_rows],
        cat[sp_rows],
        brand[sp_rows],
        product[sp_rows],
        target[sp_rows],
        variant[sp_rows],
    )
    label[sp_rows] = l2
    pos = np.concatenate([reg_rows, sp_rows])
    inv = np.empty(N, np.int64)
    inv[pos] = np.arange(N)
    title = pl.concat([t1, t2]).gather(inv)
    body = pl.concat([b1, b2]).gather(inv)
    tags = pl.concat([g1, g2]).gather(inv)

    # ---------------- comments
    mix = _KIND_MIX[kind]
    mix = np.where(sponsored, _MIX["sponsored"], mix)
    mix = np.where(a["english"][cre] & (regular | is_viral), _MIX["english"], mix)
    cap = np.where(is_viral, 50, a["crawl_cap"][cre])
    k = np.minimum(comments_shown, cap)
    cn, cpos = _ragged_index(k)
    K = len(cn)
    room = (as_of_s - 60 - ts[cn]).astype(np.float64)
    delay = np.exp(rng.normal(np.log(4 * 3600), 1.5, K))
    delay = np.where(delay < room, delay, rng.random(K) * room)
    created = ts[cn] + 30 + delay.astype(np.int64)
    mc = mix[cn]
    cls = np.searchsorted(voc.mix_flat, mc + rng.random(K), side="right") - mc * len(
        COMMENT_CLASSES
    )
    reply = (cpos >= 1) & (rng.random(K) < 0.12)
    parent = np.where(reply, (np.arange(K) - cpos) + (rng.random(K) * cpos).astype(np.int64), -1)
    # XHS threads replies under the root comment: climb to a comment that is not a reply
    climb = np.flatnonzero(reply)
    while len(climb := climb[reply[parent[climb]]]):
        parent[climb] = parent[parent[climb]]
    by_creator = reply & (rng.random(K) < 0.7)
    cls = np.where(by_creator, _CC["creator_reply"], np.where(reply, _CC["chat"], cls))
    pr = np.flatnonzero(reply)
    created[pr] = np.minimum(
        created[parent[pr]] + rng.integers(60, 6 * 3600, len(pr)), as_of_s - 30
    )
    created[pr] = np.maximum(created[pr], created[parent[pr]] + 1)
    gacc = _genuine_accounts(
        plan.pools, _draw_genuine(rng, plan.pools, cat[cn], a["community"][cre[cn]]), full=False
    )
    c_ids, c_names = gacc["id"], gacc["name"]
    bc = np.flatnonzero(by_creator)
    if len(bc):
        c_ids = c_ids.scatter(bc, cid.gather(cre[cn[bc]]))
        c_names = c_names.scatter(bc, plan.display_name.gather(cre[cn[bc]] + lo))
    c_likes = rng.poisson(
        np.minimum(
            0.2 + likes[cn] * 0.002 * _lognormal_mean1(rng, 1.2, K) * (1 + 2.0 / (1 + cpos)), 1e7
        )
    )
    blocks = [_Block(0, cn, created, cls, c_ids, c_names, c_likes, parent, True)]

    # engagement pods: the other members comment within minutes of publication
    pod = a["pod"][cre]
    pr_rows = np.flatnonzero((pod >= 0) & (day >= a["pod_start"][cre]))
    if len(pr_rows):
        mem = plan.pod_members[pod[pr_rows]]
        rr = np.repeat(pr_rows, mem.shape[1])
        mm = mem.reshape(-1)
        keep = (mm >= 0) & (mm != cre[rr] + lo) & (rng.random(len(mm)) < 0.85)
        rr, mm = rr[keep], mm[keep]
        pc = np.minimum(ts[rr] + rng.integers(60, 20 * 60, len(rr)), as_of_s - 30)
        blocks.append(
            _Block(
                1,
                rr,
                pc,
                np.full(len(rr), _CC["pod"]),
                plan.creator_id.gather(mm),
                plan.display_name.gather(mm),
                rng.poisson(1.5, len(rr)),
                np.full(len(rr), -1),
                False,
            )
        )

    # bot comments: templated short comments from fresh accounts in a short window
    bot_c = np.flatnonzero(a["bot_comments"])
    if len(bot_c):
        bc_c = np.repeat(bot_c, rng.integers(1, 4, len(bot_c)))
        # prefer the creator's more recent notes
        bn = np.unique(
            off_c[bc_c]
            + ((0.4 + 0.6 * rng.random(len(bc_c))) * counts_c[bc_c])
            .astype(np.int64)
            .clip(0, counts_c[bc_c] - 1)
        )
        nb = rng.integers(20, 61, len(bn))
        rr, _ = _ragged_index(nb)
        rows = bn[rr]
        start = np.minimum(ts[bn] + rng.integers(600, 36 * 3600, len(bn)), as_of_s - 3 * 3600)
        window = rng.integers(30 * 60, 120 * 60, len(bn))
        bcreated = np.minimum(
            start[rr] + (rng.random(len(rr)) * window[rr]).astype(np.int64), as_of_s - 30
        )
        serial = (lo << 20) + np.arange(len(rr))
        bacc = _bot_accounts(plan.pools, serial, start[rr])
        blocks.append(
            _Block(
                2,
                rows,
                bcreated,
                np.full(len(rr), _CC["bot"]),
                bacc["id"],
                bacc["name"],
                rng.poisson(0.3, len(rr)),
                np.full(len(rr), -1),
                False,
            )
        )

    # backlash wave under each controversy note: many real users, negative, within days
    cv = np.flatnonzero(kind == _NK["controversy"])
    if len(cv):
        nb = rng.integers(30, 121, len(cv))
        rr, _ = _ragged_index(nb)
        rows = cv[rr]
        start = ts[cv] + rng.integers(6 * 3600, 48 * 3600, len(cv))
        bcreated = np.minimum(
            start[rr] + rng.exponential(8 * 3600, len(rr)).astype(np.int64), as_of_s - 30
        )
        bcreated = np.maximum(bcreated, ts[rows] + 60)
        g = _genuine_accounts(
            plan.pools,
            _draw_genuine(
                rng,
                plan.pools,
                rng.integers(0, len(CATEGORIES), len(rr)),
                rng.integers(0, plan.pools.n_comm, len(rr)),
            ),
            full=False,
        )
        blocks.append(
            _Block(
                3,
                rows,
                bcreated,
                np.full(len(rr), _CC["backlash"]),
                g["id"],
                g["name"],
                rng.poisson(3 + likes[rows] * 0.002),
                np.full(len(rr), -1),
                True,
            )
        )

    # harsh but isolated negative comment (look-alike)
    hc = np.flatnonzero(a["harsh"])
    if len(hc):
        rows = off_c[hc] + (rng.random(len(hc)) * counts_c[hc]).astype(np.int64)
        hcreated = np.minimum(ts[rows] + rng.integers(3600, 48 * 3600, len(rows)), as_of_s - 30)
        g = _genuine_accounts(
            plan.pools,
            _draw_genuine(rng, plan.pools, cat[rows], a["community"][cre[rows]]),
            full=False,
        )
        blocks.append(
            _Block(
                4,
                rows,
                hcreated,
                np.full(len(rows), _CC["harsh"]),
                g["id"],
                g["name"],
                rng.poisson(2, len(rows)),
                np.full(len(rows), -1),
                False,
            )
        )

    comments, block_of = _assemble_comments(rng, plan, lo, blocks, note_id, cat)
    planted = (
        np.concatenate([b.note for b in blocks[1:]]) if len(blocks) > 1 else np.zeros(0, np.int64)
    )
    comments_shown = comments_shown + np.bincount(planted, minlength=N)

    notes = pl.DataFrame(
        {
            "note_id": note_id,
            "creator_id": cid.gather(cre),
            "published_at": _ts(ts),
            "title": title,
            "body": body,
            "tags": tags,
            "note_type": pl.Series(np.where(video, "video", "normal")),
            "likes": likes.astype(np.int64),
            "collects": collects.astype(np.int64),
            "comments": comments_shown.astype(np.int64),
            "shares": shares.astype(np.int64),
            "platform_sponsor_label": label,
        }
    ).with_columns(
        pl.concat_str([pl.lit("https://www.xiaohongshu.com/explore/"), pl.col("note_id")]).alias(
            "url"
        ),
        pl.lit(datetime.fromtimestamp(as_of_s, UTC).replace(tzinfo=None))
        .cast(pl.Datetime("us"))
        .alias("captured_at"),
    )

    samples, owner, fake_rows = _follower_samples(rng, plan, a, cid)
    creators = _creators_frame(rng, plan, lo, a, cid, counts_c)
    gt = _ground_truth(
        plan,
        lo,
        hi,
        a,
        cid,
        cre,
        ts,
        kind,
        brand,
        note_id,
        comments,
        block_of,
        samples,
        owner,
        fake_rows,
        bl_rows,
        blocks,
    )
    return {
        "creators": creators,
        "follower_history": history,
        "notes": notes,
        "comments": comments,
        "follower_samples": samples,
        GROUND_TRUTH_TABLE: gt,
    }


def _assemble_comments(
    rng: np.random.Generator,
    plan: _Plan,
    lo: int,
    blocks: list[_Block],
    note_id: pl.Series,
    cat: np.ndarray,
) -> tuple[pl.DataFrame, np.ndarray]:
    """Stack comment blocks, attach ids and texts. Returns (comments frame, block code per row)."""
    voc = _vocab()
    note = np.concatenate([b.note for b in blocks])
    created = np.concatenate([b.created for b in blocks])
    cls = np.concatenate([b.cls for b in blocks])
    code = np.concatenate([np.full(len(b.note), b.code) for b in blocks])
    suffix = np.concatenate([np.full(len(b.note), b.suffix) for b in blocks])
    parent = np.concatenate(
        [b.parent for b in blocks]
    )  # only block 0 has replies, and it comes first
    K = len(note)
    serial = np.concatenate([np.arange(len(b.note)) for b in blocks])
    ids = _xhs_ids(created, _hash(plan.seed, NS_COMMENT, lo, code, serial))
    c = cat[note]
    tidx = voc.c_off[c, cls] + (rng.random(K) * voc.c_n[c, cls]).astype(np.int64)
    sidx = np.where(suffix & _SUFFIXED[cls], rng.integers(0, voc.n_suffix, K), 0)
    has_parent = parent >= 0
    df = (
        pl.DataFrame(
            {
                "comment_id": ids,
                "note_id": note_id.gather(note),
                "commenter_id": pl.concat([b.ids for b in blocks]),
                "commenter_name": pl.concat([b.names for b in blocks]),
                "created_at": _ts(created),
                "text": _gather(voc.cpool, tidx * voc.n_suffix + sidx),
                "likes": np.concatenate([b.likes for b in blocks]).astype(np.int64),
                "parent_comment_id": ids.gather(np.maximum(parent, 0)),
                "has_parent": has_parent,
            }
        )
        .with_columns(
            pl.when(pl.col("has_parent"))
            .then(pl.col("parent_comment_id"))
            .otherwise(None)
            .alias("parent_comment_id"),
        )
        .drop("has_parent")
    )
    return df, code


def _follower_samples(
    rng: np.random.Generator, plan: _Plan, a: dict[str, np.ndarray], cid: pl.Series
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """~200 followers per creator: genuine accounts from the creator's niche plus farm accounts.

    Every audience has a few farm accounts; creators who bought followers have 20-60%, from
    farm batches registered shortly before the purchase. Returns (frame, owner row in the
    chunk, is-farm mask).
    """
    C = len(cid)
    size = np.minimum(a["f_now"], rng.integers(170, 231, C))
    bought_share = a["bf_total"] / np.maximum(a["f_now"], 1)
    share = np.clip(bought_share + a["fake_base"] * np.where(a["bf_kind"] > 0, 0.5, 1.0), 0, 0.95)
    n_fake = rng.binomial(size, share)
    gc, _ = _ragged_index(size - n_fake)
    fc, _ = _ragged_index(n_fake)
    g_idx = _draw_genuine(rng, plan.pools, a["cat"][gc], a["community"][gc])
    from_purchase = rng.random(len(fc)) < bought_share[fc] / np.maximum(share[fc], 1e-9)
    f_idx = np.where(
        from_purchase,
        a["bf_batch"][fc] * _FARM_BATCH + (rng.random(len(fc)) * 4 * _FARM_BATCH).astype(np.int64),
        (rng.random(len(fc)) * plan.pools.farm).astype(np.int64),
    )
    # one row per (creator, account)
    g_keep = pl.Series((gc.astype(np.int64) << 40) + g_idx).is_first_distinct().to_numpy()
    f_keep = pl.Series((fc.astype(np.int64) << 40) + f_idx).is_first_distinct().to_numpy()
    gc, g_idx = gc[g_keep], g_idx[g_keep]
    fc, f_idx = fc[f_keep], f_idx[f_keep]
    g = _genuine_accounts(plan.pools, g_idx, full=True)
    f = _farm_accounts(plan.pools, f_idx)
    owner = np.concatenate([gc, fc])
    fake = np.r_[np.zeros(len(gc), bool), np.ones(len(fc), bool)]
    order = np.lexsort((rng.random(len(owner)), owner))  # followers in no telling order
    df = pl.DataFrame(
        {
            "creator_id": cid.gather(owner),
            "follower_id": pl.concat([g["id"], f["id"]]),
            "username": pl.concat([g["name"], f["name"]]),
            "has_avatar": np.concatenate([g["has_avatar"], f["has_avatar"]]),
            "bio_length": np.concatenate([g["bio_length"], f["bio_length"]]).astype(np.int64),
            "follower_count": np.concatenate([g["follower_count"], f["follower_count"]]).astype(
                np.int64
            ),
            "following_count": np.concatenate([g["following_count"], f["following_count"]]).astype(
                np.int64
            ),
            "note_count": np.concatenate([g["note_count"], f["note_count"]]).astype(np.int64),
            "created_at": _ts(np.concatenate([g["created"], f["created"]])),
        }
    )[order]
    return df, owner[order], fake[order]


def _creators_frame(
    rng: np.random.Generator,
    plan: _Plan,
    lo: int,
    a: dict[str, np.ndarray],
    cid: pl.Series,
    notes_in_window: np.ndarray,
) -> pl.DataFrame:
    """Profiles as captured at ``as_of``: counts, bio, location, badge and quoted price."""
    voc = _vocab()
    C = len(cid)
    cat = a["cat"]
    f = a["f_now"]
    tier = np.searchsorted([10_000, 100_000, 500_000, 1_000_000], f, side="right")
    h = _hash(plan.seed, NS_CREATOR, np.arange(lo, lo + C))
    price = f * rng.uniform(0.05, 0.2, C) * np.exp(rng.normal(0, 0.25, C))
    price = np.maximum(price, rng.uniform(200, 600, C))
    price = np.round(price / np.where(price < 5000, 10, 100)) * np.where(price < 5000, 10, 100)
    older = rng.poisson(a["note_rate"] * rng.uniform(0, 900, C))
    loc = rng.integers(0, len(voc.ip_locations), C)
    loc = np.where(
        a["english"] & (rng.random(C) < 0.6), len(voc.ip_locations) - 1 - rng.integers(0, 4, C), loc
    )
    df = pl.DataFrame(
        {
            "creator_id": cid,
            "platform": pl.Series(["xiaohongshu"] * C),
            "handle": pl.Series(1_000_000_000 + (h % _U(8_999_999_999)).astype(np.int64)).cast(
                pl.String
            ),
            "display_name": plan.display_name.slice(lo, C),
            "bio": _gather(voc.bios, _pick(rng.random(C), voc.bio_off[cat], voc.bio_n[cat])),
            "category": pl.Series(np.array(CATEGORIES)[cat]),
            "location": _gather(voc.ip_locations, loc),
            "follower_count": f.astype(np.int64),
            "following_count": np.clip(np.exp(rng.normal(np.log(300), 0.8, C)), 5, 3000).astype(
                np.int64
            ),
            "note_count": (notes_in_window + older).astype(np.int64),
            "verified": rng.random(C) < np.array([0.03, 0.08, 0.35, 0.6, 0.8])[tier],
            "quoted_price": price,
            "currency": pl.Series(["CNY"] * C),
            "captured_at": _ts(np.full(C, plan.as_of_s)),
        }
    )
    no_price = pl.Series(rng.random(C) < 0.08)
    return df.with_columns(
        pl.when(no_price).then(None).otherwise(pl.col("quoted_price")).alias("quoted_price")
    )


# --------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------

_SPECIAL_GT: dict[str, tuple[str, str]] = {
    "undisclosed_ad": (
        "undisclosed_ad",
        "brand mentions, brand tags, codes or link-in-comments hints, no label, no disclosure",
    ),
    "false_no_ad": (
        "false_no_ad_claim",
        "paid notes (platform label or codes/links) that claim 无广/自费",
    ),
    "adlaw_absolute": (
        "ad_law_absolute_claim",
        "sponsored notes with absolute claims banned by the Advertising Law",
    ),
    "adlaw_medical": (
        "ad_law_medical_claim",
        "sponsored notes with medical claims for a cosmetic or food product",
    ),
    "competitor_ad": (
        "competitor_paid_work",
        "disclosed paid work for a demo brand's competitor in the last 90 days: ",
    ),
    "rejected_ad": (
        "audience_rejects_ads",
        "disclosed ads whose audience turns hostile: low engagement, 恰饭/取关 comments",
    ),
    "loved_ad": (
        "loved_ads_lookalike",
        "disclosed ads the audience welcomes: engagement on par with organic notes, positive comments",
    ),
    "organic_praise": (
        "organic_praise_lookalike",
        "unpaid praise of a demo brand marked 自费: no label, codes or links; a credible voice",
    ),
    "viral": (
        "viral_lookalike",
        "a genuinely viral note; the follower jump follows it and engagement rises with it",
    ),
}


def _collect(
    c: np.ndarray, ids: pl.Series, when: np.ndarray, extra: dict[str, np.ndarray] | None = None
) -> pl.DataFrame:
    """Group evidence by creator (chunk row): ids list, first and last time, first extra value."""
    df = pl.DataFrame(
        {"c": c.astype(np.int64), "id": ids, "w": when.astype(np.int64), **(extra or {})}
    )
    aggs = [
        pl.col("id").alias("affected_ids"),
        pl.col("w").min().alias("start"),
        pl.col("w").max().alias("end"),
    ]
    aggs += [pl.col(k).first() for k in (extra or {})]
    return df.group_by("c", maintain_order=True).agg(aggs).sort("c")


def _ground_truth(
    plan: _Plan,
    lo: int,
    hi: int,
    a: dict[str, np.ndarray],
    cid: pl.Series,
    cre: np.ndarray,
    ts: np.ndarray,
    kind: np.ndarray,
    brand: np.ndarray,
    note_id: pl.Series,
    comments: pl.DataFrame,
    block_of: np.ndarray,
    samples: pl.DataFrame,
    owner: np.ndarray,
    fake_rows: np.ndarray,
    bl_rows: np.ndarray,
    blocks: list[_Block],
) -> pl.DataFrame:
    """Ground-truth rows for the chunk's creators: one per (creator, planted kind)."""
    voc = _vocab()
    out: list[pl.DataFrame] = []
    c_ids = comments["comment_id"]
    c_created = (comments["created_at"].cast(pl.Int64) // 1_000_000).to_numpy()
    c_note = np.concatenate([b.note for b in blocks])

    def emit(g: pl.DataFrame, kind_name: str, anomaly: bool, detail: pl.Expr) -> None:
        if g.height == 0:
            return
        out.append(
            g.with_columns(
                creator_id=cid.gather(g["c"].to_numpy()),
                kind=pl.lit(kind_name),
                is_anomaly=pl.lit(anomaly),
                detail=detail,
            )
        )

    def lit_num(x: np.ndarray, decimals: int | None = None) -> pl.Series:
        s = pl.Series(np.round(x, decimals) if decimals is not None else x)
        return s.cast(pl.String)

    # bought followers: the farm accounts in the sample; the window of the jump
    for code, name in ((1, "bought_followers_step"), (2, "bought_followers_drip")):
        rows = np.flatnonzero(fake_rows & (a["bf_kind"][owner] == code))
        if not len(rows):
            continue
        g = _collect(owner[rows], samples["follower_id"].gather(rows), np.zeros(len(rows)))
        c = g["c"].to_numpy()
        d1 = a["bf_d1"][c]
        last = (
            np.where(a["bf_d2"][c] >= 0, a["bf_d2"][c], d1) if code == 1 else d1 + a["bf_w"][c] - 1
        )
        share = (
            100.0
            * g["affected_ids"].list.len().to_numpy()
            / np.maximum(np.bincount(owner, minlength=len(cid))[c], 1)
        )
        g = g.with_columns(
            start=pl.Series(plan.start_s + d1 * DAY),
            end=pl.Series(plan.start_s + last * DAY + DAY - 1),
        )
        if code == 1:
            steps = np.where(a["bf_d2"][c] >= 0, 2, 1)
            detail = pl.concat_str(
                [
                    pl.lit("follower history jumps by exactly +"),
                    lit_num(a["bf_unit"][c]),
                    pl.lit(" in a day ("),
                    lit_num(steps),
                    pl.lit(" step(s)) with flat engagement; "),
                    lit_num(share, 0),
                    pl.lit("% of sampled followers are farm accounts"),
                ]
            )
        else:
            detail = pl.concat_str(
                [
                    pl.lit("+"),
                    lit_num(a["bf_total"][c]),
                    pl.lit(" followers dripped over "),
                    lit_num(a["bf_w"][c]),
                    pl.lit(" days with flat engagement; "),
                    lit_num(share, 0),
                    pl.lit("% of sampled followers are farm accounts"),
                ]
            )
        emit(g, name, True, detail)

    if len(bl_rows):
        g = _collect(cre[bl_rows], note_id.gather(bl_rows), ts[bl_rows])
        emit(
            g,
            "bought_likes",
            True,
            pl.lit("like spike on these notes with no matching collects or comments"),
        )

    # every audience's ordinary farm accounts, for creators who bought none
    rows = np.flatnonzero(fake_rows & (a["bf_kind"][owner] == 0))
    if len(rows):
        g = _collect(owner[rows], samples["follower_id"].gather(rows), np.zeros(len(rows)))
        c = g["c"].to_numpy()
        share = (
            100.0
            * g["affected_ids"].list.len().to_numpy()
            / np.bincount(owner, minlength=len(cid))[c]
        )
        g = g.with_columns(start=pl.lit(None, pl.Int64), end=pl.lit(None, pl.Int64))
        emit(
            g,
            "baseline_fake_followers",
            False,
            pl.concat_str(
                [
                    pl.lit("ordinary share of farm accounts any audience has ("),
                    lit_num(share, 0),
                    pl.lit("% of the sample); none bought, no jump in the follower history"),
                ]
            ),
        )

    # creators whose own notes call out someone else
    rows = np.flatnonzero(kind == _NK["callout"])
    if len(rows):
        g = _collect(cre[rows], note_id.gather(rows), ts[rows])
        emit(
            g,
            "callout_author_lookalike",
            False,
            pl.lit(
                "posted 避雷/翻车/塌房 call-out notes about another creator; not in a controversy itself"
            ),
        )

    # comment plants
    def block_rows(code: int) -> np.ndarray:
        return np.flatnonzero(block_of == code)

    r = block_rows(1)
    if len(r):
        g = _collect(cre[c_note[r]], c_ids.gather(r), c_created[r])
        pods = a["pod"][g["c"].to_numpy()]
        members = plan.pod_members[pods]
        flat = members.reshape(-1)
        grp = np.repeat(np.arange(len(pods)), members.shape[1])[flat >= 0]
        joined = (
            pl.DataFrame({"g": grp, "id": plan.creator_id.gather(flat[flat >= 0])})
            .group_by("g", maintain_order=True)
            .agg(pl.col("id").str.join(","))["id"]
        )
        emit(
            g,
            "engagement_pod",
            True,
            pl.concat_str(
                [
                    pl.lit("engagement pod "),
                    lit_num(pods),
                    pl.lit(": early reciprocal comments by members "),
                    joined,
                ]
            ),
        )

    for code, name, anomaly, text in (
        (
            2,
            "bot_comments",
            True,
            "templated short comments from fresh default-nickname accounts in a short window",
        ),
        (
            4,
            "harsh_negative_lookalike",
            False,
            "one harsh negative comment, isolated: no wave, no agreement",
        ),
    ):
        r = block_rows(code)
        if len(r):
            nr = np.unique(c_note[r])
            g = _collect(
                np.r_[cre[nr], cre[c_note[r]]],
                pl.concat([note_id.gather(nr), c_ids.gather(r)]),
                np.r_[ts[nr], c_created[r]],
            )
            emit(g, name, anomaly, pl.lit(text))

    # controversy: the note, the apology, call-outs by others, the backlash wave
    cv = np.flatnonzero((kind == _NK["controversy"]) | (kind == _NK["apology"]))
    if len(cv):
        sp = plan.special
        calls = sp.filter(
            (pl.col("kind") == _NK["callout"]) & (pl.col("target") >= lo) & (pl.col("target") < hi)
        )
        r = block_rows(3)
        g = _collect(
            np.r_[cre[cv], calls["target"].to_numpy() - lo, cre[c_note[r]]],
            pl.concat([note_id.gather(cv), calls["note_id"], c_ids.gather(r)]),
            np.r_[ts[cv], calls["ts"].to_numpy(), c_created[r]],
        )
        n_calls = np.bincount(calls["target"].to_numpy() - lo, minlength=len(cid))[
            g["c"].to_numpy()
        ]
        emit(
            g,
            "controversy",
            True,
            pl.concat_str(
                [
                    pl.lit(
                        "backlash wave of negative comments under a recommendation, an apology note, and "
                    ),
                    lit_num(n_calls),
                    pl.lit(" call-out note(s) by other creators"),
                ]
            ),
        )

    # planted notes
    for k_name, (gt_kind, text) in _SPECIAL_GT.items():
        rows = np.flatnonzero(kind == _NK[k_name])
        if not len(rows):
            continue
        g = _collect(cre[rows], note_id.gather(rows), ts[rows], {"b": brand[rows]})
        b = g["b"].to_numpy()
        if k_name == "competitor_ad":
            demo = voc.demo_brand_idx[voc.brand_demo[b]]
            detail = pl.concat_str(
                [
                    pl.lit(text),
                    _gather(voc.brand_name, b),
                    pl.lit(" (competitor of "),
                    _gather(voc.brand_name, demo),
                    pl.lit(")"),
                ]
            )
        elif k_name == "organic_praise":
            detail = pl.concat_str([pl.lit(text + ": "), _gather(voc.brand_name, b)])
        elif k_name == "viral":
            c = g["c"].to_numpy()
            detail = pl.concat_str(
                [
                    pl.lit(text + " (x"),
                    lit_num(a["viral_mult"][c], 0),
                    pl.lit(" usual engagement, +"),
                    lit_num(100 * a["viral_jump"][c], 0),
                    pl.lit("% real followers)"),
                ]
            )
            g = g.with_columns(end=pl.col("end") + 5 * DAY)
        else:
            detail = pl.lit(text)
        emit(g.drop("b"), gt_kind, gt_kind in ANOMALY_KINDS, detail)

    # seeding campaigns: every member's row lists the whole campaign's notes
    rows = np.flatnonzero(kind == _NK["campaign"])
    if len(rows):
        camp = (
            plan.special.filter(pl.col("kind") == _NK["campaign"])
            .group_by("group", maintain_order=True)
            .agg(
                pl.col("note_id").alias("affected_ids"),
                pl.col("ts").min().alias("start"),
                pl.col("ts").max().alias("end"),
                pl.len().alias("members"),
            )
        )
        mine = pl.DataFrame(
            {
                "c": cre[rows],
                "group": plan.special.filter(
                    (pl.col("kind") == _NK["campaign"])
                    & (pl.col("creator") >= lo)
                    & (pl.col("creator") < hi)
                )["group"],
            }
        )
        g = mine.join(camp, on="group", how="left", maintain_order="left")
        emit(
            g,
            "seeding_campaign",
            True,
            pl.concat_str(
                [
                    pl.lit("seeding campaign "),
                    pl.col("group").cast(pl.String),
                    pl.lit(": "),
                    pl.col("members").cast(pl.String),
                    pl.lit(
                        " creators posted near-identical undisclosed notes on one product within 4 days"
                    ),
                ]
            ),
        )

    schema = polars_schema(GROUND_TRUTH_TABLE)
    if not out:
        return pl.DataFrame(schema=schema)
    return pl.concat(
        [
            g.with_columns(
                pl.col("start").mul(1_000_000).cast(pl.Datetime("us")),
                pl.col("end").mul(1_000_000).cast(pl.Datetime("us")),
            )
            .select(list(schema))
            .cast(schema)
            for g in out
        ]
    )


# --------------------------------------------------------------------------------------
# Writing, the public API, benchmark
# --------------------------------------------------------------------------------------


def _arrow_schema(table: str) -> pa.Schema:
    return (
        pl.DataFrame(schema=polars_schema(table))
        .to_arrow(compat_level=pl.CompatLevel.oldest())
        .schema
    )


class _Writers:
    """One ParquetWriter per table, appending chunk after chunk into ``<table>.parquet.part``.

    Writing (Arrow conversion, zstd compression) runs in a background thread: pyarrow releases
    the GIL, so the next chunk is generated while the previous one is compressed. The queue
    holds at most two chunks, which bounds memory.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.schemas = {t: polars_schema(t) for t in WORLD_TABLES}
        self.arrow = {t: _arrow_schema(t) for t in WORLD_TABLES}
        self.writers = {
            t: pq.ParquetWriter(
                out_dir / f"{t}.parquet.part",
                self.arrow[t],
                compression=PARQUET_COMPRESSION,
                compression_level=PARQUET_LEVEL,
                use_dictionary=_PARQUET_DICT.get(t, True),
                write_statistics=[
                    c for c in self.schemas[t] if c not in _PARQUET_NO_STATS.get(t, set())
                ],
            )
            for t in WORLD_TABLES
        }
        self.rows = dict.fromkeys(WORLD_TABLES, 0)
        self.queue: queue.Queue[dict[str, pl.DataFrame] | None] = queue.Queue(maxsize=2)
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, name="demo-parquet-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (tables := self.queue.get()) is not None:
            if self.error is not None:
                continue  # drain after a failure
            try:
                for table, df in tables.items():
                    self._write(table, df)
            except Exception as exc:  # noqa: BLE001 - re-raised in the generating thread
                self.error = exc

    def _write(self, table: str, df: pl.DataFrame) -> None:
        schema = self.schemas[table]
        if list(df.columns) != list(schema) or df.schema != schema:
            df = df.select(list(schema)).cast(schema)
        tbl = df.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(self.arrow[table])
        self.writers[table].write_table(tbl)

    def write(self, tables: dict[str, pl.DataFrame]) -> None:
        """Queue one chunk's frames (table -> frame) for appending."""
        if self.error is not None:
            raise self.error
        for table, df in tables.items():
            self.rows[table] += df.height
        self.queue.put(tables)

    def close(self, ok: bool) -> None:
        """Flush and close every file; publish them (rename) only when ``ok``."""
        self.queue.put(None)
        self.thread.join()
        for w in self.writers.values():
            w.close()
        ok = ok and self.error is None
        for t in WORLD_TABLES:
            part = self.out_dir / f"{t}.parquet.part"
            if ok:
                os.replace(part, self.out_dir / f"{t}.parquet")
            else:
                part.unlink(missing_ok=True)
        if self.error is not None:
            raise self.error


def generate_world(
    n_creators: int,
    seed: int,
    out_dir: str | Path,
    *,
    as_of: datetime = datetime(2026, 11, 1),
    days: int = 180,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, int]:
    """Write a synthetic XHS world of ``n_creators`` creators to ``out_dir``.

    In: creator count (>= 1), seed, output folder (created if missing), the capture time
    ``as_of`` (naive UTC), the window length in ``days`` (daily follower history has days+1
    rows per creator), and an optional ``progress(stage, fraction)`` callback.
    Out: ``{table}.parquet`` for creators, follower_history, notes, comments,
    follower_samples, partners and ground_truth, each with exactly ``polars_schema(table)``;
    returns the row count per table. The same (n_creators, seed, as_of, days) always gives the
    same rows. Files appear only when the whole world was written.
    """
    if n_creators < 1:
        raise ValueError("n_creators must be at least 1")
    if days < 30:
        raise ValueError("days must be at least 30")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if progress:
        progress("plan", 0.0)
    plan = _plan_world(n_creators, seed, as_of, days)
    writers = _Writers(out)
    ok = False
    try:
        writers.write({"partners": plan.partners})
        n_chunks = -(-n_creators // CHUNK_CREATORS)
        for i in range(n_chunks):
            lo, hi = i * CHUNK_CREATORS, min(n_creators, (i + 1) * CHUNK_CREATORS)
            writers.write(_chunk(plan, lo, hi))
            if progress:
                progress("creators", (i + 1) / n_chunks)
        ok = True
    finally:
        writers.close(ok)
    return dict(writers.rows)


def _bench_child(n: int, seed: int, out_dir: str) -> None:
    """Run one generation and print its timing and row counts as JSON (benchmark subprocess)."""
    import resource

    t0 = time.perf_counter()
    rows = generate_world(n, seed, out_dir)
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "self_peak_rss_mb": peak_kib / 1024, "rows": rows}))


def benchmark_demo(
    sizes: list[int], seed: int = 7, workdir: str | Path | None = None, keep: bool = False
) -> list[dict[str, Any]]:
    """Time demo generation at each size, each in a fresh subprocess (peak RSS per size).

    In: creator counts, seed, a scratch folder (a temporary one when None); ``keep`` keeps
    the generated worlds under ``workdir/demo_<n>``. Out: one dict per size with
    ``creators``, ``seconds`` (generation only, without interpreter start-up),
    ``peak_rss_mb`` (the child's peak resident memory) and ``rows`` per table.
    """
    import shutil
    import tempfile

    base = (
        Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="kol_demo_bench_"))
    )
    base.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    results = []
    for n in sizes:
        out = base / f"demo_{n}"
        code = "import sys; from kol_vetting.sources.demo import _bench_child; _bench_child(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])"
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(n), str(seed), str(out)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        text = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"demo generation of {n} creators failed (exit {proc.returncode})")
        child = json.loads(text.strip().splitlines()[-1])
        results.append(
            {
                "creators": n,
                "seconds": round(child["seconds"], 2),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "rows": child["rows"],
            }
        )
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
    if workdir is None and not keep:
        shutil.rmtree(base, ignore_errors=True)
    return results
