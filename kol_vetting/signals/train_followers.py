"""Reproducible training and evaluation of the follower fake-account classifier.

``train_follower_model(datasets_dir, demo_dir, out_dir)`` reads the labelled collections,
cross-validates, picks the decision threshold, fits the final model on all training rows and
writes three files to ``out_dir``:

* ``follower_classifier.json``: the model artifact (see :mod:`kol_vetting.signals.followers`);
* ``follower_classifier.metrics.json``: every metric below, machine-readable;
* ``follower_classifier.md``: the model card (data, features, metrics, threshold, how to retrain).

Training collections (all labels 1 = fake):

1. ``ig_train``: Instagram fake/genuine accounts (``datasets/followers/ig_fake_spammer_train.csv``),
   mapped onto the follower-sample contract. It has no raw usernames, only the share of digits,
   which feeds the same ``username_digit_share`` feature. ``ig_test`` is held out to the end.
2. ``synthetic_xhs``: XHS-style followers generated here with a fixed seed (clearly synthetic):
   lurkers who keep the default ``小红薯XXXXXX`` nickname, casual users, small creators, honest
   heavy followers, raw bots, and *dressed-up* fakes (avatar, a bio, a few notes, but still
   mass-following), so that no single trait decides.
3. ``demo_world``: follower samples of a demo world with ground-truth fake ids, when the demo
   generator (:mod:`kol_vetting.sources.demo`) is available or a demo directory is given.

Everything is seeded: the same inputs give the same trees, threshold and metrics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedKFold

from kol_vetting.signals.followers import (
    FEATURE_NAMES,
    MONOTONIC,
    OPTIONAL_GROUPS,
    USERNAME_DIGIT_SHARE_COLUMN,
    FollowerAuthenticityModel,
    feature_matrix,
    mask_features,
    save_model,
)

MODEL_STEM = "follower_classifier"
SYNTHETIC_SEED = 20_240_611
#: Seed of the small demo world generated for training (not the Makefile's demo seed, so the
#: world the pipeline is demonstrated on is not the one the model was trained on).
DEMO_TRAIN_SEED = 1_013
DEMO_TRAIN_CREATORS = 150
#: "Today" of the synthetic XHS collection: account ages are measured at this date.
SYNTHETIC_AS_OF = dt.datetime(2025, 6, 30)
CV_FOLDS = 5
CV_SEED = 0
#: Fake shares of a realistic follower base at which metrics are reported.
PREVALENCES = (0.05, 0.15, 0.30)
#: Prevalence at which the decision threshold is chosen (max mean F1 over collections).
THRESHOLD_PREVALENCE = 0.15
RESAMPLE_REPEATS = 200

#: Evaluation scenarios: which optional column groups are masked.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "all_columns": (),
    "counts_only": ("username", "has_avatar", "bio_length", "created_at"),
    "counts_avatar_username": ("bio_length", "created_at"),
    "avatar_masked": ("has_avatar",),
}
#: Extra scenario: every account shows an avatar (fakes dressed up with stolen pictures).
AVATAR_FORCED = "avatar_forced_true"


class TrainingDataError(FileNotFoundError):
    """The labelled datasets needed for training are not where they were looked for."""


@dataclass
class Collection:
    """One labelled collection of follower accounts (contract columns) with its feature matrix."""

    name: str
    frame: pl.DataFrame
    y: np.ndarray
    description: str
    as_of: dt.datetime | None = None
    X: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.X = feature_matrix(self.frame, self.as_of)

    @property
    def fingerprint(self) -> str:
        """Short SHA-256 of the features and labels: tells whether a retrain saw the same data
        (the demo world changes whenever its generator does)."""
        h = hashlib.sha256(np.ascontiguousarray(self.X).tobytes())
        h.update(np.ascontiguousarray(self.y, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def default_datasets_dir() -> Path:
    """``<repo>/../shared/datasets``: where the shared labelled data sits next to the repo."""
    return Path(__file__).resolve().parents[3] / "shared" / "datasets"


def load_ig_collection(datasets_dir: Path, split: str) -> Collection:
    """The Instagram fake/genuine accounts of ``split`` (train or test) in contract columns.

    ``profile pic`` -> has_avatar, ``description length`` -> bio_length, ``#posts`` -> note_count,
    ``#followers`` -> follower_count, ``#follows`` -> following_count, ``nums/length username``
    -> username_digit_share (no raw username exists). ``fake`` is the label.
    """
    path = Path(datasets_dir) / "followers" / f"ig_fake_spammer_{split}.csv"
    if not path.is_file():
        raise TrainingDataError(_missing_message(Path(datasets_dir), path))
    raw = pl.read_csv(path)
    frame = raw.select(
        pl.format("ig_{}_{}", pl.lit(split), pl.int_range(pl.len())).alias("follower_id"),
        pl.lit(None, dtype=pl.String).alias("username"),
        (pl.col("profile pic") == 1).alias("has_avatar"),
        pl.col("description length").cast(pl.Int64).alias("bio_length"),
        pl.col("#followers").cast(pl.Int64).alias("follower_count"),
        pl.col("#follows").cast(pl.Int64).alias("following_count"),
        pl.col("#posts").cast(pl.Int64).alias("note_count"),
        pl.lit(None, dtype=pl.Datetime("us")).alias("created_at"),
        pl.col("nums/length username").cast(pl.Float64).alias(USERNAME_DIGIT_SHARE_COLUMN),
    )
    return Collection(
        name=f"ig_{split}",
        frame=frame,
        y=raw["fake"].cast(pl.Int64).to_numpy(),
        description=f"Instagram fake/spammer vs genuine accounts, {split} split ({path.name})",
    )


def _missing_message(datasets_dir: Path, path: Path) -> str:
    return (
        f"follower model training needs the labelled Instagram accounts at {path} "
        f"(datasets folder {datasets_dir}). Provide the shared datasets folder containing "
        "followers/ig_fake_spammer_train.csv and followers/ig_fake_spammer_test.csv "
        "(see datasets/README.md), e.g. `kol-vetting train --datasets ../shared/datasets`. "
        "Scoring does not need them: it uses the committed models/follower_classifier.json."
    )


# Name parts for synthetic nicknames (illustrative, not taken from any real account).
_CN_PREFIX = [
    "小",
    "阿",
    "大",
    "是",
    "一只",
    "爱吃",
    "今天也要",
    "不吃香菜的",
    "努力的",
    "快乐",
    "",
    "",
]
_CN_CORE = [
    "鱼",
    "猫",
    "桃子",
    "柠檬",
    "兔兔",
    "奶茶",
    "橘子",
    "星星",
    "月亮",
    "小熊",
    "芒果",
    "豆豆",
    "饭团",
    "可乐",
    "西瓜",
    "晴天",
    "草莓",
    "团子",
    "布丁",
    "麻薯",
    "糯米",
    "栗子",
    "小鹿",
    "云朵",
]
_CN_SUFFIX = ["", "", "", "呀", "酱", "吖", "同学", "本人", "_", "🍑", "哒", "子"]
_LATIN = [
    "Luna",
    "Coco",
    "Vivian",
    "Momo",
    "Kiki",
    "Amy",
    "Jason",
    "Yuki",
    "Cherry",
    "Leo",
    "Sunny",
    "Mia",
    "Zoe",
    "Ivy",
    "Kevin",
    "Lily",
    "Anna",
    "Echo",
    "Nana",
    "Tina",
]
_LATIN_SUFFIX = ["", "", "_", "_Li", "_Wang", "1998", "2001", "0521", ".", "酱", "_zz", "99"]


def _pick(rng: np.random.Generator, items: Sequence[str], n: int) -> np.ndarray:
    return np.asarray(items, dtype=object)[rng.integers(0, len(items), n)]


def _names(rng: np.random.Generator, n: int, kind_probs: dict[str, float]) -> list[str]:
    """``n`` nicknames; ``kind_probs`` gives the mix of default / chinese / latin / random /
    digit-suffixed chinese / user+digits names."""
    kinds = list(kind_probs)
    p = np.array([kind_probs[k] for k in kinds], dtype=float)
    choice = rng.choice(len(kinds), size=n, p=p / p.sum())
    cn = _pick(rng, _CN_PREFIX, n) + _pick(rng, _CN_CORE, n) + _pick(rng, _CN_SUFFIX, n)
    latin = _pick(rng, _LATIN, n) + _pick(rng, _LATIN_SUFFIX, n)
    hexes = [f"{v:08X}"[:w] for v, w in zip(rng.integers(0, 16**8, n), rng.choice([6, 6, 8], n))]
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    rand = ["".join(rng.choice(alphabet, k)) for k in rng.integers(7, 13, n)]
    digits = [str(v) for v in rng.integers(10**4, 10**8, n)]
    out = []
    for i, c in enumerate(choice):
        k = kinds[c]
        out.append(
            {
                "default": "小红薯" + hexes[i],
                "chinese": cn[i],
                "latin": latin[i],
                "random": rand[i],
                "cn_digits": cn[i] + digits[i],
                "user_digits": "user" + digits[i] + str(i % 10) * 2,
            }[k]
        )
    return out


def _loguniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def synthetic_xhs_collection(
    n_real: int = 900, n_fake: int = 700, seed: int = SYNTHETIC_SEED
) -> Collection:
    """A synthetic, clearly labelled XHS follower set (ids ``synthetic_xhs_*``), fixed seed.

    Real accounts: lurkers (often the default nickname, no avatar, no notes, but following a
    few dozen), casual users, small creators, and honest heavy followers (some follow > 1,500
    with few followers: mass-following alone must not convict). Fakes: raw bots (default
    nickname, no avatar, no notes, mass-following), dressed-up fakes (avatar, bio, a few notes,
    still mass-following with almost no followers) and young follow-only accounts.
    The mix is an assumption written down here, not measured data; it teaches the model the
    XHS traits the Instagram collection lacks (default nicknames, dressed-up farms, age).
    """
    rng = np.random.default_rng(seed)
    parts: list[dict[str, Any]] = []

    def block(
        n: int,
        fake: int,
        names: dict[str, float],
        avatar: float,
        bio_zero: float,
        bio_range: tuple[int, int],
        notes: Callable[[int], np.ndarray],
        followers: Callable[[int], np.ndarray],
        following: Callable[[int], np.ndarray],
        age: tuple[float, float],
    ) -> None:
        bio = np.where(rng.random(n) < bio_zero, 0, rng.integers(bio_range[0], bio_range[1] + 1, n))
        parts.append(
            {
                "username": _names(rng, n, names),
                "has_avatar": rng.random(n) < avatar,
                "bio_length": bio,
                "note_count": np.round(notes(n)).astype(np.int64),
                "follower_count": np.round(followers(n)).astype(np.int64),
                "following_count": np.round(following(n)).astype(np.int64),
                "age_days": _loguniform(rng, age[0], age[1], n),
                "fake": np.full(n, fake),
            }
        )

    def counts(n_zero: float, lo: float, hi: float) -> Callable[[int], np.ndarray]:
        return lambda n: np.where(rng.random(n) < n_zero, 0, _loguniform(rng, lo, hi, n))

    r = np.round(np.array([0.35, 0.38, 0.15, 0.12]) * n_real).astype(int)
    r[-1] = n_real - r[:-1].sum()
    # Lurkers: read, never post; many keep the default name and avatar.
    block(
        r[0],
        0,
        {"default": 0.45, "chinese": 0.4, "latin": 0.15},
        0.5,
        0.85,
        (2, 30),
        counts(0.75, 1, 6),
        counts(0.4, 1, 25),
        counts(0.02, 3, 600),
        (20, 3000),
    )
    # Casual users: a few notes, some followers.
    block(
        r[1],
        0,
        {"default": 0.06, "chinese": 0.64, "latin": 0.25, "cn_digits": 0.05},
        0.92,
        0.3,
        (4, 100),
        counts(0.1, 1, 80),
        counts(0.05, 3, 400),
        counts(0.0, 20, 1200),
        (60, 3500),
    )
    # Small creators.
    block(
        r[2],
        0,
        {"chinese": 0.6, "latin": 0.4},
        0.99,
        0.05,
        (15, 100),
        counts(0.0, 20, 900),
        counts(0.0, 300, 60_000),
        counts(0.0, 50, 1500),
        (200, 3500),
    )
    # Honest heavy followers: follow thousands; about a third have few followers (look-alikes).
    lookalike = rng.random(r[3]) < 0.35
    block(
        r[3],
        0,
        {"default": 0.1, "chinese": 0.6, "latin": 0.3},
        0.95,
        0.25,
        (5, 80),
        counts(0.05, 3, 300),
        lambda n: np.where(
            lookalike[:n], _loguniform(rng, 20, 300, n), _loguniform(rng, 300, 5000, n)
        ),
        counts(0.0, 1600, 5000),
        (200, 3500),
    )

    f = np.round(np.array([0.45, 0.4, 0.15]) * n_fake).astype(int)
    f[-1] = n_fake - f[:-1].sum()
    # Raw bots: default look, nothing posted, following hundreds to thousands.
    block(
        f[0],
        1,
        {"default": 0.72, "random": 0.12, "user_digits": 0.06, "cn_digits": 0.1},
        0.08,
        0.95,
        (2, 20),
        counts(0.9, 1, 2),
        counts(0.5, 1, 6),
        counts(0.0, 200, 6000),
        (1, 900),
    )
    # Dressed-up fakes: stolen avatar, a bio, a few notes; the mass-following remains.
    block(
        f[1],
        1,
        {"default": 0.2, "chinese": 0.5, "random": 0.15, "cn_digits": 0.15},
        0.9,
        0.55,
        (5, 60),
        counts(0.15, 1, 9),
        counts(0.2, 1, 60),
        counts(0.0, 1400, 7500),
        (20, 1500),
    )
    # Young follow-only accounts, following a few hundred.
    block(
        f[2],
        1,
        {"default": 0.55, "chinese": 0.3, "random": 0.15},
        0.5,
        0.9,
        (2, 20),
        counts(0.95, 1, 2),
        counts(0.5, 1, 10),
        counts(0.0, 150, 1400),
        (1, 90),
    )

    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "username"}
    names = [u for p in parts for u in p["username"]]
    n = len(names)
    created = [SYNTHETIC_AS_OF - dt.timedelta(days=float(a)) for a in cols["age_days"]]
    frame = pl.DataFrame(
        {
            "creator_id": ["synthetic_creator"] * n,
            "follower_id": [f"synthetic_xhs_{i:05d}" for i in range(n)],
            "username": names,
            "has_avatar": cols["has_avatar"],
            "bio_length": cols["bio_length"],
            "follower_count": cols["follower_count"],
            "following_count": cols["following_count"],
            "note_count": cols["note_count"],
            "created_at": pl.Series(created, dtype=pl.Datetime("us")),
        }
    )
    return Collection(
        name="synthetic_xhs",
        frame=frame,
        y=cols["fake"].astype(np.int64),
        description=f"SYNTHETIC XHS-style followers generated in train_followers.py (seed {seed})",
        as_of=SYNTHETIC_AS_OF,
    )


def _read_table(directory: Path, table: str) -> pl.DataFrame | None:
    """Read ``table`` from a demo-world directory (Parquet, CSV or JSON lines; file or folder)."""
    for pattern, reader in (
        ("parquet", pl.read_parquet),
        ("csv", pl.read_csv),
        ("jsonl", pl.read_ndjson),
    ):
        files = sorted(directory.glob(f"{table}.{pattern}")) + sorted(
            directory.glob(f"{table}/*.{pattern}")
        )
        if files:
            return pl.concat([reader(f) for f in files], how="diagonal_relaxed")
    return None


def demo_world_collection(demo_dir: Path) -> Collection | None:
    """Follower samples of a demo world labelled by its ground truth, or None if unusable.

    A sampled follower is fake when its (creator_id, follower_id) is among the ``affected_ids``
    of that creator's ground-truth rows with ``is_anomaly`` true (the bought-followers plants
    list the farm accounts in the sample). Only creators with such a row are kept: the demo
    world also puts a few unlisted farm accounts into every audience, so elsewhere an unlisted
    follower is not known to be real. Accounts sampled under several creators count once.
    """
    samples = _read_table(demo_dir, "follower_samples")
    truth = _read_table(demo_dir, "ground_truth")
    need = {"creator_id", "affected_ids", "is_anomaly"}
    if samples is None or truth is None or samples.height == 0 or not need <= set(truth.columns):
        return None
    planted = (
        truth.filter(pl.col("is_anomaly").cast(pl.Boolean))
        .select(
            pl.col("creator_id").cast(pl.String),
            pl.col("affected_ids").alias("follower_id"),
        )
        .explode("follower_id")
        .with_columns(pl.col("follower_id").cast(pl.String), _fake=pl.lit(1, dtype=pl.Int64))
        .unique(subset=["creator_id", "follower_id"])
    )
    samples = samples.with_columns(
        pl.col("creator_id").cast(pl.String), pl.col("follower_id").cast(pl.String)
    )
    labelled = samples.join(planted, on=["creator_id", "follower_id"], how="left")
    covered = labelled.filter(pl.col("_fake") == 1)["creator_id"].unique()
    labelled = (
        labelled.filter(pl.col("creator_id").is_in(covered.implode()))
        .unique(subset=["follower_id"], keep="first", maintain_order=True)
        .with_columns(pl.col("_fake").fill_null(0))
    )
    y = labelled["_fake"].to_numpy()
    samples = labelled.drop("_fake")
    if y.sum() < 20 or (len(y) - y.sum()) < 20:
        return None  # too few of a class to learn or evaluate anything
    as_of = None
    creators = _read_table(demo_dir, "creators")
    if creators is not None and "captured_at" in creators.columns:
        as_of = creators["captured_at"].cast(pl.Datetime("us")).max()
    elif "created_at" in samples.columns:
        as_of = samples["created_at"].cast(pl.Datetime("us")).max()
    return Collection(
        name="demo_world",
        frame=samples,
        y=y,
        description=f"demo world follower samples with ground-truth fake ids ({demo_dir})",
        as_of=as_of,
    )


def _generated_demo_collection() -> tuple[Collection | None, str]:
    """Generate a small demo world with the project's generator, if it exists."""
    try:
        from kol_vetting.sources.demo import generate_world  # type: ignore[attr-defined]
    except ImportError:
        return None, "demo generator not available (kol_vetting.sources.demo.generate_world)"
    with tempfile.TemporaryDirectory(prefix="kol_follower_demo_") as tmp:
        # A generator that exists but fails is a bug to surface, not a collection to skip.
        generate_world(DEMO_TRAIN_CREATORS, DEMO_TRAIN_SEED, Path(tmp))
        coll = demo_world_collection(Path(tmp))
        if coll is None:
            return None, "demo world has no follower samples with enough ground-truth fakes"
        coll.description = (
            f"demo world generated with {DEMO_TRAIN_CREATORS} creators, seed {DEMO_TRAIN_SEED}"
            " (follower samples of creators with a bought-followers plant, labelled by"
            " ground_truth)"
        )
        return coll, "used"


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall, F1 at ``threshold``; ROC-AUC and average precision of ``p``.

    Plain numpy (same definitions as scikit-learn's ``roc_auc_score`` with tied scores ranked
    by their average rank, and ``average_precision_score``; checked in the tests): the
    imbalance resampling calls this thousands of times and sklearn's input checks dominate.
    """
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / n_pos if n_pos else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    auc = ap = float("nan")
    if n_pos and n_neg:
        ranks = rankdata(p)
        auc = (ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        order = np.argsort(-p, kind="mergesort")
        ps, ys = p[order], y[order]
        last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]  # last row of each distinct score
        tps = np.cumsum(ys)[last]
        precision = tps / (last + 1)
        recall = tps / n_pos
        ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return {
        "n": len(y),
        "n_fake": n_pos,
        "precision": float(prec),
        "recall": float(rec),
        "f1": float(f1),
        "roc_auc": float(auc),
        "average_precision": float(ap),
    }


def imbalance_metrics(
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    prevalences: Sequence[float] = PREVALENCES,
    repeats: int = RESAMPLE_REPEATS,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Metrics when fakes are resampled to each prevalence (all real rows kept).

    For each prevalence, ``repeats`` evaluation sets are drawn (fakes sampled with replacement
    when more are needed than exist); returns the mean and the 5th/95th percentiles of
    precision, recall, F1, ROC-AUC, average precision and the share of rows flagged.
    """
    rng = np.random.default_rng(seed)
    real, fake = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    out: dict[str, dict[str, float]] = {}
    for prev in prevalences:
        n_fake = max(1, round(prev / (1 - prev) * len(real)))
        rows = []
        for _ in range(repeats):
            pick = rng.choice(fake, n_fake, replace=n_fake > len(fake))
            idx = np.concatenate([real, pick])
            m = binary_metrics(y[idx], p[idx], threshold)
            flagged = float(np.mean(p[idx] >= threshold))
            rows.append(
                [
                    m["precision"],
                    m["recall"],
                    m["f1"],
                    m["roc_auc"],
                    m["average_precision"],
                    flagged,
                ]
            )
        arr = np.asarray(rows)
        res: dict[str, float] = {
            "n_real": len(real),
            "n_fake": n_fake,
            "true_share": n_fake / (n_fake + len(real)),
        }
        for j, k in enumerate(
            ("precision", "recall", "f1", "roc_auc", "average_precision", "flagged_share")
        ):
            res[k] = float(arr[:, j].mean())
            res[f"{k}_p05"] = float(np.percentile(arr[:, j], 5))
            res[f"{k}_p95"] = float(np.percentile(arr[:, j], 95))
        out[f"{prev:.2f}"] = res
    return out


def choose_threshold(
    ys: Sequence[np.ndarray], ps: Sequence[np.ndarray], prevalence: float
) -> float:
    """Threshold maximizing the mean (over collections) F1 expected at ``prevalence``.

    Expected precision at prevalence pi is pi*TPR / (pi*TPR + (1-pi)*FPR), computed from each
    collection's out-of-fold TPR and FPR, so the choice does not depend on how balanced the
    training collections happen to be. At the F1 optimum false positives and false negatives
    are of similar size, so the flagged share is close to the true fake share.
    """
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    best_t, best_f1 = 0.5, -1.0
    for t in grid:
        f1s = []
        for y, p in zip(ys, ps):
            tpr = float(np.mean(p[y == 1] >= t))
            fpr = float(np.mean(p[y == 0] >= t))
            denom = prevalence * tpr + (1 - prevalence) * fpr
            prec = prevalence * tpr / denom if denom > 0 else 0.0
            f1s.append(2 * prec * tpr / (prec + tpr) if prec + tpr > 0 else 0.0)
        if np.mean(f1s) > best_f1 + 1e-12:
            best_t, best_f1 = float(t), float(np.mean(f1s))
    return best_t


def _scenario_matrix(X: np.ndarray, scenario: str) -> np.ndarray:
    if scenario == AVATAR_FORCED:
        X = X.copy()
        X[:, FEATURE_NAMES.index("has_avatar")] = 1.0
        return X
    return mask_features(X, SCENARIOS[scenario])


ALL_SCENARIOS = (*SCENARIOS, AVATAR_FORCED)


def _fit(
    colls: Sequence[Collection], params: dict[str, Any], idx: list[np.ndarray] | None = None
) -> FollowerAuthenticityModel:
    """Fit on the given collections (optionally only rows ``idx[i]`` of collection i)."""
    sel = idx or [np.arange(len(c.y)) for c in colls]
    X = np.vstack([c.X[i] for c, i in zip(colls, sel)])
    y = np.concatenate([c.y[i] for c, i in zip(colls, sel)])
    sizes = [len(i) for i in sel]
    total = sum(sizes)
    w = np.concatenate([np.full(s, total / (len(sizes) * s)) for s in sizes])
    return FollowerAuthenticityModel(**params).fit_matrix(X, y, sample_weight=w)


def cross_validate(
    colls: Sequence[Collection], params: dict[str, Any]
) -> dict[str, dict[str, np.ndarray]]:
    """Stratified k-fold over all training collections (strata: collection x label).

    Each fold's model is fitted on the other folds of *all* collections; returns out-of-fold
    fake probabilities per collection and scenario: ``oof[collection][scenario]``.
    """
    skf = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=CV_SEED)
    oof = {c.name: {s: np.full(len(c.y), np.nan) for s in ALL_SCENARIOS} for c in colls}
    splits = [list(skf.split(c.X, c.y)) for c in colls]
    for k in range(CV_FOLDS):
        model = _fit(colls, params, [splits[i][k][0] for i in range(len(colls))])
        for i, c in enumerate(colls):
            test = splits[i][k][1]
            for s in ALL_SCENARIOS:
                oof[c.name][s][test] = model.predict_proba_matrix(_scenario_matrix(c.X[test], s))
    return oof


# --------------------------------------------------------------------------------------------
# Training entry point
# --------------------------------------------------------------------------------------------


def train_follower_model(
    datasets_dir: Path | None,
    demo_dir: Path | None,
    out_dir: Path,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, evaluate and write the follower classifier; return the metrics dict.

    ``datasets_dir``: the shared datasets folder (``followers/ig_fake_spammer_{train,test}.csv``);
    ``None`` means ``<repo>/../shared/datasets``. Raises :class:`TrainingDataError` with what is
    needed when the files are not there. ``demo_dir``: a demo-world directory with
    ``follower_samples`` and ``ground_truth`` tables to add as a collection; ``None`` generates
    a small world with the demo generator when it exists (skipped otherwise). ``out_dir``:
    where the artifact, metrics JSON and model card are written (normally ``models/``).
    ``params``: overrides of :class:`FollowerAuthenticityModel` parameters.
    """
    datasets_dir = Path(datasets_dir) if datasets_dir is not None else default_datasets_dir()
    if not datasets_dir.is_dir():
        raise TrainingDataError(
            _missing_message(datasets_dir, datasets_dir / "followers" / "ig_fake_spammer_train.csv")
        )
    ig_train = load_ig_collection(datasets_dir, "train")
    ig_test = load_ig_collection(datasets_dir, "test")
    synth = synthetic_xhs_collection()
    colls: list[Collection] = [ig_train, synth]
    if demo_dir is not None:
        demo = demo_world_collection(Path(demo_dir))
        demo_status = (
            "used" if demo is not None else f"no usable follower ground truth in {demo_dir}"
        )
    else:
        demo, demo_status = _generated_demo_collection()
    if demo is not None:
        colls.append(demo)

    params = {**FollowerAuthenticityModel().get_params(), **(params or {})}
    params.pop("threshold", None)

    # 1. Cross-validation on all training collections; threshold from out-of-fold predictions.
    oof = cross_validate(colls, params)
    threshold = choose_threshold(
        [c.y for c in colls], [oof[c.name]["all_columns"] for c in colls], THRESHOLD_PREVALENCE
    )
    cv = {
        c.name: {s: binary_metrics(c.y, oof[c.name][s], threshold) for s in ALL_SCENARIOS}
        for c in colls
    }
    cv_imbalance = {
        c.name: imbalance_metrics(c.y, oof[c.name]["all_columns"], threshold) for c in colls
    }
    # For transparency only: the threshold each scenario alone would pick (the model uses one).
    threshold_by_scenario = {
        s: choose_threshold(
            [c.y for c in colls], [oof[c.name][s] for c in colls], THRESHOLD_PREVALENCE
        )
        for s in ALL_SCENARIOS
    }

    # 2. Final model on all training rows, evaluated on the held-out IG test split.
    model = _fit(colls, params)
    model.threshold = threshold
    p_test = {s: model.predict_proba_matrix(_scenario_matrix(ig_test.X, s)) for s in ALL_SCENARIOS}
    ig_test_metrics = {s: binary_metrics(ig_test.y, p_test[s], threshold) for s in ALL_SCENARIOS}
    ig_test_imbalance = imbalance_metrics(ig_test.y, p_test["all_columns"], threshold)

    # 3. Cross-collection: train on one collection only, test on another. Shows how much a
    #    model leans on one collection's quirks (e.g. "IG fakes have no avatar").
    cross: dict[str, dict[str, float]] = {}
    ig_only = _fit([ig_train], params)
    synth_only = _fit([synth], params)
    cross["ig_train -> synthetic_xhs"] = binary_metrics(
        synth.y, ig_only.predict_proba_matrix(synth.X), threshold
    )
    cross["ig_train -> synthetic_xhs (counts only)"] = binary_metrics(
        synth.y, ig_only.predict_proba_matrix(_scenario_matrix(synth.X, "counts_only")), threshold
    )
    cross["synthetic_xhs -> ig_test"] = binary_metrics(
        ig_test.y, synth_only.predict_proba_matrix(ig_test.X), threshold
    )
    if demo is not None:
        no_demo = _fit([ig_train, synth], params)
        cross["ig_train + synthetic_xhs -> demo_world"] = binary_metrics(
            demo.y, no_demo.predict_proba_matrix(demo.X), threshold
        )

    trained_at = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
    metrics: dict[str, Any] = {
        "model": MODEL_STEM,
        "trained_at": trained_at,
        "threshold": threshold,
        "threshold_rule": f"max mean F1 over collections at {THRESHOLD_PREVALENCE:.0%} fakes (out-of-fold)",
        "threshold_if_chosen_per_scenario": threshold_by_scenario,
        "params": params,
        "features": list(FEATURE_NAMES),
        "collections": {
            c.name: {
                "rows": len(c.y),
                "fakes": int(c.y.sum()),
                "description": c.description,
                "fingerprint": c.fingerprint,
            }
            for c in [*colls, ig_test]
        },
        "demo_world": demo_status,
        "cv_folds": CV_FOLDS,
        "cv": cv,
        "cv_imbalance": cv_imbalance,
        "ig_test": ig_test_metrics,
        "ig_test_imbalance": ig_test_imbalance,
        "cross_collection": cross,
        "scenarios": {
            **{k: list(v) for k, v in SCENARIOS.items()},
            AVATAR_FORCED: ["has_avatar set to true"],
        },
    }

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = save_model(
        model,
        out_dir / f"{MODEL_STEM}.json",
        metadata={
            "trained_at": trained_at,
            "collections": metrics["collections"],
            "ig_test_roc_auc": ig_test_metrics["all_columns"]["roc_auc"],
        },
    )
    metrics["artifact"] = {"file": artifact.name, "bytes": artifact.stat().st_size}
    (out_dir / f"{MODEL_STEM}.metrics.json").write_text(
        json.dumps(_json_safe(metrics), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    (out_dir / f"{MODEL_STEM}.md").write_text(model_card(metrics), encoding="utf-8")
    return metrics


def _json_safe(x: Any) -> Any:
    """``x`` with NaN/inf floats replaced by None, so the metrics file is strict JSON."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


# --------------------------------------------------------------------------------------------
# Model card
# --------------------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if np.isnan(v) else f"{v:.3f}"
        return str(v)

    head = "| " + " | ".join(h for _, h in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(fmt(r.get(k, "")) for k, _ in cols) + " |" for r in rows]
    return "\n".join([head, sep, *body])


_METRIC_COLS = [
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("roc_auc", "ROC-AUC"),
    ("average_precision", "avg precision"),
]


def model_card(m: dict[str, Any]) -> str:
    """The model card (markdown) for a metrics dict returned by :func:`train_follower_model`."""
    t = m["threshold"]
    coll_rows = [{"name": k, **v} for k, v in m["collections"].items()]
    cv_rows = [
        {
            "collection": c,
            "n": v["all_columns"]["n"],
            "n_fake": v["all_columns"]["n_fake"],
            **v["all_columns"],
        }
        for c, v in m["cv"].items()
    ]
    scen_rows = []
    for c, v in m["cv"].items():
        for s, r in v.items():
            scen_rows.append({"collection": c + " (CV)", "scenario": s, **r})
    for s, r in m["ig_test"].items():
        scen_rows.append({"collection": "ig_test (held out)", "scenario": s, **r})
    imb_rows = []
    for c, v in [*m["cv_imbalance"].items(), ("ig_test (held out)", m["ig_test_imbalance"])]:
        for prev, r in v.items():
            imb_rows.append(
                {
                    "collection": c,
                    "fakes": f"{float(prev):.0%}",
                    "n": f"{r['n_real']}+{r['n_fake']}",
                    "precision": f"{r['precision']:.3f} ({r['precision_p05']:.2f}–{r['precision_p95']:.2f})",
                    "recall": f"{r['recall']:.3f} ({r['recall_p05']:.2f}–{r['recall_p95']:.2f})",
                    "flagged": f"{r['flagged_share']:.1%}",
                    "roc_auc": r["roc_auc"],
                    "average_precision": r["average_precision"],
                }
            )
    cross_rows = [{"train -> test": k, **v} for k, v in m["cross_collection"].items()]
    scen_thr = ", ".join(f"{k} {v:.2f}" for k, v in m["threshold_if_chosen_per_scenario"].items())
    feature_rows = [
        {
            "feature": f,
            "monotone": {1: "↑ fake", -1: "↓ fake", 0: "free"}[MONOTONIC[f]],
            "column": next(
                (g for g, fs in OPTIONAL_GROUPS.items() if f in fs), "counts (required)"
            ),
        }
        for f in m["features"]
    ]
    p = m["params"]
    return f"""# Model card: follower fake-account classifier

`models/{m["artifact"]["file"]}` ({m["artifact"]["bytes"] / 1024:.0f} KB, JSON, no pickle) ·
trained {
        m["trained_at"]
    } · code `kol_vetting/signals/followers.py`, `kol_vetting/signals/train_followers.py`.

## What it does
Given one sampled follower account (a `follower_samples` row: only `follower_count`,
`following_count` and `note_count` are required), it returns `fake_probability`, the
probability that the account is fake/bought, and `score_followers` derives an `audience_type`:

1. `influencer`: ≥ 10,000 followers, or ≥ 2,000 followers and ≥ 5× as many followers as followings;
2. `mass_follower`: follows > 1,500 accounts while its followers are < 10% of that;
3. `suspicious`: `fake_probability` ≥ **{t:.2f}** (the decision threshold);
4. `real`: everything else.

`fake_probability` is calibrated to the balanced training mix (about half fakes): read it as
"how fake-like", not as a base rate. For a creator's fake share, count accounts at or above the
threshold (`suspicious`, and most `mass_follower`s) rather than averaging probabilities: at the
F1-optimal threshold false positives and false negatives roughly cancel, so the flagged share
tracks the true share (column "flagged" below).

## Model
Gradient-boosted trees (scikit-learn `HistGradientBoostingClassifier`: {p["max_iter"]} trees,
≤ {p["max_leaf_nodes"]} leaves, learning rate {p["learning_rate"]}, min {
        p["min_samples_leaf"]
    } samples per
leaf, L2 {p["l2_regularization"]}) with monotonic constraints, copied into plain JSON arrays and
evaluated by our own numpy code (equal to scikit-learn's output; tested). Unknown values are
`NaN` and routed by the trees natively. Training rows are repeated {p["augment_copies"]}× with each
optional column (username, avatar, bio, created_at) masked with probability {p["mask_probability"]},
so the model works when a source lacks a column. Each collection gets equal total weight.

### Features
{
        _table(
            feature_rows,
            [
                ("feature", "feature"),
                ("column", "from (optional column group)"),
                ("monotone", "constraint"),
            ],
        )
    }

Username features work from a raw nickname (`小红薯` + hex default names, Weibo/Douyin `用户…`,
TikTok `user…`; digit share; longest digit run; random latin handles like `a7k2m9x`) or, for
collections without raw names, from a `username_digit_share` column. Account age is measured
at `as_of` (default now; pass the capture date).

## Training data
{
        _table(
            coll_rows,
            [
                ("name", "collection"),
                ("rows", "rows"),
                ("fakes", "fakes"),
                ("description", "source"),
            ],
        )
    }

Demo world: {m["demo_world"]}.

`synthetic_xhs` is **synthetic**: generated by `synthetic_xhs_collection()` from written
assumptions about XHS accounts (lurkers keep default names; dressed-up fakes have avatars and a
few notes but still mass-follow; some honest users follow thousands). `demo_world` is synthetic
too, from the project's separately written demo generator (`kol_vetting/sources/demo.py`, a
different seed from the world `make demo` builds); only creators whose bought followers are
listed in its ground truth are used, since every demo audience also holds a few unlisted farm
accounts. Metrics on both measure consistency with their assumptions, not real-world accuracy;
the "ig_train + synthetic_xhs -> demo_world" row below is the closest thing to an
out-of-collection test of XHS traits. The Instagram collection is real
but small, balanced, and its fakes mostly lack avatars (59% vs 1% of genuine accounts): a quirk
the avatar-masked and avatar-forced rows below guard against.

## Metrics
Threshold {t:.2f}: {m["threshold_rule"]}.

### Cross-validated ({m["cv_folds"]}-fold stratified, all columns)
{_table(cv_rows, [("collection", "collection"), ("n", "n"), ("n_fake", "fakes"), *_METRIC_COLS])}

### Missing or misleading columns
`counts_only`: username, avatar, bio, created_at all missing. `counts_avatar_username`: bio and
created_at missing. `avatar_masked`: avatar missing. `avatar_forced_true`: every account shows an
avatar (fakes dressed up with stolen pictures).

{_table(scen_rows, [("collection", "collection"), ("scenario", "scenario"), *_METRIC_COLS])}

One threshold serves every scenario. With fewer columns the probabilities are less extreme, so
ranking (ROC-AUC) holds up better than recall at the threshold: with counts only, an Instagram
fake (few followers, few follows, no posts) looks like an XHS lurker, and the model hedges.
Threshold each scenario alone would pick (same rule): {scen_thr}.

### At realistic imbalance
All real accounts kept, fakes resampled to 5/15/30% of the set ({RESAMPLE_REPEATS} draws; mean,
with 5th–95th percentile). Precision falls with prevalence; ROC-AUC does not.

{
        _table(
            imb_rows,
            [
                ("collection", "collection"),
                ("fakes", "fakes"),
                ("n", "real+fake"),
                ("precision", "precision"),
                ("recall", "recall"),
                ("flagged", "flagged"),
                ("roc_auc", "ROC-AUC"),
                ("average_precision", "avg precision"),
            ],
        )
    }

### Cross-collection (trained on one, tested on another)
How far a model trained on one collection's traits carries to another one (precision/recall at
the shipped threshold, which was not chosen for these single-collection models: read ROC-AUC).

{_table(cross_rows, [("train -> test", "train → test"), ("n", "n"), *_METRIC_COLS])}

## Limits
- No real XHS labelled followers exist in the training data; XHS traits come from synthetic
  data and the demo world. Expect lower accuracy on a customer's collection than above;
  re-check the threshold on any labelled sample before relying on per-account decisions.
- Single-account traits only: coordinated behaviour (many accounts created the same day,
  following the same creators) is not seen here and belongs to creator-level signals.
- Probabilities assume the balanced training mix; they are not a fake share.

## How to retrain
```
kol-vetting train            # or:
python -c "from pathlib import Path; from kol_vetting.signals.train_followers import train_follower_model; \\
train_follower_model(Path('../shared/datasets'), None, Path('models'))"
```
Needs `followers/ig_fake_spammer_{{train,test}}.csv` in the datasets folder. Deterministic
(seeds: synthetic {SYNTHETIC_SEED}, CV {CV_SEED}, model {p["random_state"]}); writes
`follower_classifier.json`, `.metrics.json` and this card. Takes well under a minute on 2 cores.
"""
