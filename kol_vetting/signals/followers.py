"""Follower-level fake-account classifier: features, estimator, scoring and the model artifact.

Input is a ``follower_samples`` frame (see :class:`kol_vetting.schema.FollowerSample`). Only
``follower_id``, ``follower_count``, ``following_count`` and ``note_count`` are required;
``username``, ``has_avatar``, ``bio_length`` and ``created_at`` may be absent or null, and the
model is trained (with random masking of those columns) to stay accurate without them.

Pieces:

* :func:`follower_features` turns a frame into the numeric feature matrix (vectorized Polars
  expressions; ``NaN`` marks "unknown", never a guessed value).
* :class:`FollowerAuthenticityModel` is a scikit-learn style estimator: gradient-boosted trees
  (``HistGradientBoostingClassifier``, which routes ``NaN`` natively) with monotonic constraints
  so that no feature can be learned "the wrong way round" from one collection's quirks. After
  ``fit`` the trees are copied into a plain array ensemble, which is what predicts and what is
  saved, so a loaded model and a freshly fitted one run the same code.
* :func:`score_followers` adds ``fake_probability`` and ``audience_type`` to a frame.
* :func:`save_model` / :func:`load_model` write and read the JSON artifact
  ``models/follower_classifier.json`` (no pickle: plain arrays, a format tag and a checksum).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from threadpoolctl import threadpool_limits

# --------------------------------------------------------------------------------------------
# Constants: feature names, rules, artifact format
# --------------------------------------------------------------------------------------------

#: Follows more than this many accounts ...
MASS_FOLLOWING_MIN = 1_500
#: ... while having fewer followers than this share of the accounts it follows: a mass follower.
MASS_FOLLOWING_MAX_RATIO = 0.1
#: An account with at least this many followers is an influencer in the audience ...
INFLUENCER_MIN_FOLLOWERS = 10_000
#: ... as is one with at least this many followers and ``INFLUENCER_RATIO`` x its following.
INFLUENCER_RATIO_MIN_FOLLOWERS = 2_000
INFLUENCER_RATIO = 5.0

AUDIENCE_TYPES = ("real", "mass_follower", "suspicious", "influencer")

# Default nicknames platforms hand to new accounts: XHS `小红薯6A3F21` (hex), Weibo / Douyin
# `用户5839201734`, TikTok `user8392017`. Bought accounts often keep them; so do lurkers.
DEFAULT_NICKNAME_PATTERN = r"^(小红薯[0-9A-Fa-f]{4,}|用户[0-9A-Za-z_]{5,}|user[0-9]{6,})$"
# A "random" latin handle: only ASCII letters/digits/._, at least 6 long, and switching between
# letters and digits at least this often (`a7k2m9x`, `xhs8d7f2`), unlike `momo2019`.
RANDOM_LATIN_PATTERN = r"^[A-Za-z0-9_.]{6,}$"
RANDOM_LATIN_MIN_SWITCHES = 3

#: Column a non-XHS collection may provide instead of a raw username: share of digits in it
#: (e.g. the Instagram dataset's ``nums/length username``). Not a contract column.
USERNAME_DIGIT_SHARE_COLUMN = "username_digit_share"

#: Feature names in the order of the model's columns.
FEATURE_NAMES: tuple[str, ...] = (
    "log_followers",
    "log_following",
    "log_notes",
    "log_follow_ratio",
    "mass_following",
    "no_notes",
    "has_avatar",
    "log_bio_length",
    "default_nickname",
    "username_digit_share",
    "username_max_digit_run",
    "username_random_latin",
    "log_account_age_days",
)

#: Direction each feature may push the fake probability (+1 up, -1 down, 0 free). Encodes domain
#: knowledge so the trees cannot learn e.g. "more notes = more fake" from a sampling accident.
MONOTONIC: Mapping[str, int] = {
    "log_followers": -1,
    "log_following": 0,  # IG fakes follow few, XHS bots follow thousands: not monotone
    "log_notes": -1,
    "log_follow_ratio": -1,
    "mass_following": 1,
    "no_notes": 1,
    "has_avatar": -1,
    "log_bio_length": -1,
    "default_nickname": 1,
    "username_digit_share": 1,
    "username_max_digit_run": 1,
    "username_random_latin": 1,
    "log_account_age_days": -1,
}

#: Optional contract columns and the features that depend on each; used to mask them together
#: (training augmentation, missing-column evaluation).
OPTIONAL_GROUPS: Mapping[str, tuple[str, ...]] = {
    "username": (
        "default_nickname",
        "username_digit_share",
        "username_max_digit_run",
        "username_random_latin",
    ),
    "has_avatar": ("has_avatar",),
    "bio_length": ("log_bio_length",),
    "created_at": ("log_account_age_days",),
}

FORMAT_NAME = "kol-vetting/follower-authenticity"
FORMAT_VERSION = 1
MODEL_FILENAME = "follower_classifier.json"
#: Refuse to parse anything bigger: the committed artifact is a few hundred KB.
MAX_ARTIFACT_BYTES = 20 * 1024 * 1024
#: Environment variable that points at a directory holding the artifact (overrides the default).
MODELS_DIR_ENV = "KOL_VETTING_MODELS_DIR"


class ModelFormatError(ValueError):
    """The artifact is not a follower-classifier JSON this code can trust (format, checksum...)."""


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def _column(schema: pl.Schema, name: str, dtype: pl.DataType) -> pl.Expr:
    """The column cast to ``dtype`` (non-castable values -> null), or all-null if absent."""
    if name not in schema:
        return pl.lit(None, dtype=dtype)
    return pl.col(name).cast(dtype, strict=False)


def _bool_column(schema: pl.Schema, name: str) -> pl.Expr:
    """A 0/1 Float64 column from a bool, number or 'true'/'false' string column (null if unknown)."""
    if name not in schema:
        return pl.lit(None, dtype=pl.Float64)
    if schema[name] == pl.String:
        s = pl.col(name).str.strip_chars().str.to_lowercase()
        return (
            pl.when(s.is_in(["true", "1", "yes", "y", "t"]))
            .then(1.0)
            .when(s.is_in(["false", "0", "no", "n", "f"]))
            .then(0.0)
            .otherwise(None)
        )
    return pl.col(name).cast(pl.Float64, strict=False)


def _datetime_column(schema: pl.Schema, name: str) -> pl.Expr:
    """A naive-UTC ``Datetime('us')`` column from datetime, date or ISO string; null if absent."""
    if name not in schema:
        return pl.lit(None, dtype=pl.Datetime("us"))
    dtype = schema[name]
    col = pl.col(name)
    if dtype == pl.String:
        return col.str.to_datetime(strict=False, time_unit="us")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.cast(pl.Datetime("us"))
    if dtype == pl.Date:
        return col.cast(pl.Datetime("us"))
    return pl.lit(None, dtype=pl.Datetime("us"))


def feature_expressions(schema: pl.Schema, as_of: dt.datetime | None = None) -> list[pl.Expr]:
    """Polars expressions computing :data:`FEATURE_NAMES` for a frame with ``schema``.

    Every expression yields Float64 and ``null`` where its input is missing (absent column or
    null value); :func:`follower_features` turns those into ``NaN``. ``as_of`` (naive UTC) is the
    date account ages are measured at; default now.
    """
    as_of = as_of or dt.datetime.now(dt.UTC)
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(dt.UTC).replace(tzinfo=None)
    followers = _column(schema, "follower_count", pl.Float64).clip(lower_bound=0)
    following = _column(schema, "following_count", pl.Float64).clip(lower_bound=0)
    notes = _column(schema, "note_count", pl.Float64).clip(lower_bound=0)
    bio = _column(schema, "bio_length", pl.Float64).clip(lower_bound=0)

    # Username: empty or blank names count as unknown, not as a (very short) name.
    name = _column(schema, "username", pl.String).str.strip_chars()
    name = pl.when(name.str.len_chars() > 0).then(name).otherwise(None)
    n_chars = name.str.len_chars().cast(pl.Float64)
    digit_share = name.str.count_matches(r"[0-9]").cast(pl.Float64) / n_chars
    if USERNAME_DIGIT_SHARE_COLUMN in schema:
        # A collection without raw names may still know the digit share (IG dataset).
        digit_share = pl.coalesce(
            digit_share, pl.col(USERNAME_DIGIT_SHARE_COLUMN).cast(pl.Float64, strict=False)
        )
    max_run = (
        name.str.extract_all(r"[0-9]+")
        .list.eval(pl.element().str.len_chars())
        .list.max()
        .cast(pl.Float64)
        .fill_null(0.0)
    )
    switches = name.str.count_matches(r"[A-Za-z][0-9]") + name.str.count_matches(r"[0-9][A-Za-z]")
    random_latin = name.str.contains(RANDOM_LATIN_PATTERN) & (switches >= RANDOM_LATIN_MIN_SWITCHES)

    created = _datetime_column(schema, "created_at")
    age_days = (
        (pl.lit(as_of, dtype=pl.Datetime("us")) - created).dt.total_seconds() / 86_400.0
    ).clip(lower_bound=0.0)

    mass = (following > MASS_FOLLOWING_MIN) & (followers < MASS_FOLLOWING_MAX_RATIO * following)
    exprs = {
        "log_followers": followers.log1p(),
        "log_following": following.log1p(),
        "log_notes": notes.log1p(),
        "log_follow_ratio": followers.log1p() - following.log1p(),
        "mass_following": mass.cast(pl.Float64),
        "no_notes": (notes == 0).cast(pl.Float64),
        "has_avatar": _bool_column(schema, "has_avatar"),
        "log_bio_length": bio.log1p(),
        "default_nickname": name.str.contains(DEFAULT_NICKNAME_PATTERN).cast(pl.Float64),
        "username_digit_share": digit_share,
        # fill_null(0) above must not turn a missing name into "no digits": re-null it.
        "username_max_digit_run": pl.when(name.is_not_null()).then(max_run),
        "username_random_latin": random_latin.cast(pl.Float64),
        "log_account_age_days": age_days.log1p(),
    }
    return [exprs[f].cast(pl.Float64).alias(f) for f in FEATURE_NAMES]


def follower_features(df: pl.DataFrame, as_of: dt.datetime | None = None) -> pl.DataFrame:
    """Feature frame (columns :data:`FEATURE_NAMES`, Float64) for a follower-samples frame.

    Missing inputs give ``NaN`` (never a guess), which the model routes natively.
    """
    # with_columns (not select) so all-literal expressions still get one value per row.
    feats = df.with_columns(feature_expressions(df.schema, as_of)).select(FEATURE_NAMES)
    return feats.with_columns(pl.all().fill_null(float("nan")))


def feature_matrix(df: pl.DataFrame, as_of: dt.datetime | None = None) -> np.ndarray:
    """``follower_features`` as a C-contiguous float64 array of shape (rows, n_features)."""
    return np.ascontiguousarray(follower_features(df, as_of).to_numpy(), dtype=np.float64)


def mask_features(X: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Copy of ``X`` with the features of the given optional column groups set to ``NaN``.

    ``groups`` are keys of :data:`OPTIONAL_GROUPS` (``username``, ``has_avatar``, ...).
    """
    X = X.copy()
    for g in groups:
        for f in OPTIONAL_GROUPS[g]:
            X[:, FEATURE_NAMES.index(f)] = np.nan
    return X


# --------------------------------------------------------------------------------------------
# Tree ensemble: plain arrays, what is saved and what predicts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeEnsemble:
    """Binary gradient-boosted trees flattened into node arrays (all trees concatenated).

    Node ``i`` splits on ``feature[i]``: ``x <= threshold[i]`` goes to ``left[i]``, larger to
    ``right[i]``, ``NaN`` to ``left`` when ``missing_left[i]``. Leaves carry ``value[i]`` (the
    learning rate already applied). Raw score = ``baseline`` + one leaf value per tree; the
    probability of "fake" is its logistic sigmoid. ``roots[t]`` is tree ``t``'s first node.
    """

    baseline: float
    roots: np.ndarray  # int64 (n_trees,)
    feature: np.ndarray  # int64 (n_nodes,)
    threshold: np.ndarray  # float64
    missing_left: np.ndarray  # bool
    left: np.ndarray  # int64, global node index
    right: np.ndarray  # int64
    is_leaf: np.ndarray  # bool
    value: np.ndarray  # float64
    max_depth: int

    @classmethod
    def from_hist_gradient_boosting(cls, clf: Any) -> TreeEnsemble:
        """Copy the trees of a fitted binary ``HistGradientBoostingClassifier``.

        Reads the fitted predictors' node arrays (numeric splits only; categorical features are
        not used by this model). Checked against ``clf.predict_proba`` in the tests.
        """
        parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("feature", "threshold", "miss", "left", "right", "leaf", "value")
        }
        roots: list[int] = []
        offset = 0
        max_depth = 0
        for stage in clf._predictors:  # one list per boosting iteration
            (pred,) = stage  # binary: one tree per iteration
            nodes = pred.nodes
            if np.any(nodes["is_categorical"]):
                raise ValueError("categorical splits are not supported")
            roots.append(offset)
            parts["feature"].append(nodes["feature_idx"].astype(np.int64))
            parts["threshold"].append(nodes["num_threshold"].astype(np.float64))
            parts["miss"].append(nodes["missing_go_to_left"].astype(bool))
            leaf = nodes["is_leaf"].astype(bool)
            parts["left"].append(np.where(leaf, 0, nodes["left"].astype(np.int64) + offset))
            parts["right"].append(np.where(leaf, 0, nodes["right"].astype(np.int64) + offset))
            parts["leaf"].append(leaf)
            parts["value"].append(nodes["value"].astype(np.float64))
            max_depth = max(max_depth, int(nodes["depth"].max()))
            offset += len(nodes)
        return cls(
            baseline=float(np.asarray(clf._baseline_prediction).ravel()[0]),
            roots=np.asarray(roots, dtype=np.int64),
            feature=np.concatenate(parts["feature"]),
            threshold=np.concatenate(parts["threshold"]),
            missing_left=np.concatenate(parts["miss"]),
            left=np.concatenate(parts["left"]),
            right=np.concatenate(parts["right"]),
            is_leaf=np.concatenate(parts["leaf"]),
            value=np.concatenate(parts["value"]),
            max_depth=max_depth,
        )

    def raw_score(self, X: np.ndarray, chunk_rows: int = 32_768) -> np.ndarray:
        """Log-odds of "fake" for each row of ``X`` (rows, n_features), NaN = unknown.

        Compiled evaluation (see :class:`_CompiledTrees`): every distinct split condition is
        evaluated once per block of rows as a whole column; each tree's internal-node outcomes
        are packed into a small integer code per row, and a per-tree lookup table turns the code
        into the leaf. Leaf values are added tree by tree onto the baseline, the order
        scikit-learn uses, so results equal ``HistGradientBoostingClassifier``'s exactly.
        Ensembles with trees too large for the tables fall back to :meth:`_raw_score_walk`.
        """
        X = np.asarray(X, dtype=np.float64)
        comp = self._compiled
        if comp is None:
            return self._raw_score_walk(X)
        return comp.raw_score(X, self.baseline, chunk_rows)

    @cached_property
    def _compiled(self) -> _CompiledTrees | None:
        return _CompiledTrees.build(self)

    def _raw_score_walk(self, X: np.ndarray, chunk_rows: int = 8_192) -> np.ndarray:
        """Reference evaluation: walk all trees for all rows level by level (slow, ~70 µs/row).

        Kept as the fallback for trees with more than :data:`_MAX_CODE_BITS` internal nodes and
        as the reference the compiled path is tested against.
        """
        out = np.empty(X.shape[0], dtype=np.float64)
        n_trees = len(self.roots)
        for start in range(0, X.shape[0], chunk_rows):
            Xc = X[start : start + chunk_rows]
            rows = np.arange(Xc.shape[0])[:, None]
            idx = np.broadcast_to(self.roots, (Xc.shape[0], n_trees)).copy()
            # Walk all trees for all rows at once, one level per step (depth is small).
            for _ in range(self.max_depth):
                leaf = self.is_leaf[idx]
                if leaf.all():
                    break
                x = Xc[rows, self.feature[idx]]
                go_left = np.where(np.isnan(x), self.missing_left[idx], x <= self.threshold[idx])
                nxt = np.where(go_left, self.left[idx], self.right[idx])
                idx = np.where(leaf, idx, nxt)
            out[start : start + chunk_rows] = self.baseline + self.value[idx].sum(axis=1)
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict of the arrays (floats written exactly, as shortest round-trip repr)."""
        return {
            "baseline": self.baseline,
            "max_depth": self.max_depth,
            "roots": self.roots.tolist(),
            "feature": self.feature.tolist(),
            # JSON has no infinity; a +inf split ("all known values go left") becomes the
            # largest float, which orders the same against any finite feature value.
            "threshold": np.clip(self.threshold, -_FLOAT_MAX, _FLOAT_MAX).tolist(),
            "missing_left": self.missing_left.astype(int).tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "is_leaf": self.is_leaf.astype(int).tolist(),
            "value": self.value.tolist(),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any], n_features: int) -> TreeEnsemble:
        """Rebuild from :meth:`to_json` output, checking every index so prediction cannot loop
        or read out of bounds. Raises :class:`ModelFormatError` on any inconsistency."""
        try:
            roots = np.asarray(d["roots"], dtype=np.int64)
            feature = np.asarray(d["feature"], dtype=np.int64)
            threshold = np.asarray(d["threshold"], dtype=np.float64)
            missing_left = np.asarray(d["missing_left"], dtype=np.int64)
            left = np.asarray(d["left"], dtype=np.int64)
            right = np.asarray(d["right"], dtype=np.int64)
            is_leaf = np.asarray(d["is_leaf"], dtype=np.int64)
            value = np.asarray(d["value"], dtype=np.float64)
            baseline = float(d["baseline"])
            max_depth = int(d["max_depth"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"malformed tree arrays: {exc}") from exc
        n = len(feature)
        arrays = (threshold, missing_left, left, right, is_leaf, value)
        if (
            n == 0
            or any(a.ndim != 1 or len(a) != n for a in arrays)
            or roots.ndim != 1
            or len(roots) == 0
        ):
            raise ModelFormatError("tree arrays have inconsistent lengths")
        if not (np.isin(missing_left, (0, 1)).all() and np.isin(is_leaf, (0, 1)).all()):
            raise ModelFormatError("flags must be 0 or 1")
        if not (
            np.isfinite(threshold).all() and np.isfinite(value).all() and math.isfinite(baseline)
        ):
            raise ModelFormatError("non-finite threshold or value")
        if not (0 < max_depth <= 64):
            raise ModelFormatError("implausible max_depth")
        ends = np.append(roots[1:], n)
        if roots[0] != 0 or np.any(np.diff(roots) <= 0) or roots[-1] >= n:
            raise ModelFormatError("tree roots out of order")
        tree_end = np.repeat(ends, np.diff(np.append(roots, n)))
        split = is_leaf == 0
        node = np.arange(n)
        # Children lie after their parent and inside its tree: walks always end at a leaf.
        for child in (left, right):
            ok = (child[split] > node[split]) & (child[split] < tree_end[split])
            if not ok.all():
                raise ModelFormatError("child index out of its tree")
        if np.any(feature[split] < 0) or np.any(feature[split] >= n_features):
            raise ModelFormatError("split on an unknown feature")
        return cls(
            baseline=baseline,
            roots=roots,
            feature=np.where(split, feature, 0),
            threshold=threshold,
            missing_left=missing_left.astype(bool),
            left=np.where(split, left, node),
            right=np.where(split, right, node),
            is_leaf=is_leaf.astype(bool),
            value=value,
            max_depth=max_depth,
        )


_FLOAT_MAX = float(np.finfo(np.float64).max)


#: A tree whose internal nodes fit in this many bits is evaluated through a lookup table of
#: ``2**bits`` leaf indices (one byte each); larger trees use the level-by-level walk.
_MAX_CODE_BITS = 16


@dataclass(frozen=True)
class _CompiledTrees:
    """A :class:`TreeEnsemble` rearranged for fast, exact, column-at-a-time evaluation.

    * ``cond_*``: the distinct split conditions ``x[feature] <= threshold`` (NaN counts as true
      where ``missing_left``) over all trees: the model has ~2,800 internal nodes but only a few
      hundred distinct conditions, each evaluated once per block of rows.
    * ``node_cond[t]`` / ``node_bit[t]``: tree ``t``'s internal nodes as (condition, bit); a
      row's *code* in tree ``t`` has bit ``k`` set when internal node ``k``'s condition holds
      (the row would go left there).
    * ``lut[t]``: code -> local leaf index (every code reaches exactly one leaf: the path
      decided by the bits of the nodes it passes; bits of nodes off the path do not matter).
    * ``leaf_value[t]``: the leaf values of tree ``t`` (learning rate applied).

    Same comparisons as the walk, so the leaf reached is the same for every row, including
    NaN and infinite values.
    """

    cond_feature: np.ndarray  # int64 (n_cond,)
    cond_threshold: np.ndarray  # float64
    cond_missing_left: np.ndarray  # bool
    node_cond: tuple[np.ndarray, ...]  # per tree: int64 condition index per internal node
    node_bit: tuple[np.ndarray, ...]  # per tree: bit position per internal node
    lut: tuple[np.ndarray, ...]  # per tree: uint8 leaf index per code
    leaf_value: tuple[np.ndarray, ...]  # per tree: float64 value per local leaf

    @classmethod
    def build(cls, ens: TreeEnsemble) -> _CompiledTrees | None:
        """Compile ``ens``; None when a tree has more internal nodes than :data:`_MAX_CODE_BITS`."""
        n = len(ens.feature)
        ends = np.append(ens.roots[1:], n)
        split = ~ens.is_leaf
        nodes = np.flatnonzero(split)
        key = np.stack(
            [
                ens.feature[nodes].astype(np.float64),
                ens.threshold[nodes],
                ens.missing_left[nodes].astype(np.float64),
            ],
            axis=1,
        )
        if len(nodes):
            uniq, inv = np.unique(key, axis=0, return_inverse=True)
        else:
            uniq, inv = np.empty((0, 3)), np.empty(0, dtype=np.int64)
        cond_of = np.full(n, -1, dtype=np.int64)
        cond_of[nodes] = np.asarray(inv).ravel()
        node_cond, node_bit, luts, leaf_values = [], [], [], []
        for root, end in zip(ens.roots.tolist(), ends.tolist()):
            internal = np.flatnonzero(split[root:end]) + root
            m = len(internal)
            if m > _MAX_CODE_BITS:
                return None
            bit = {int(i): k for k, i in enumerate(internal)}
            codes = np.arange(1 << m, dtype=np.int64)
            lut = np.zeros(1 << m, dtype=np.uint8)
            values: list[float] = []
            # Depth-first over the tree: each leaf fixes the bits of the nodes on its path.
            stack = [(root, 0, 0)]
            while stack:
                i, fixed_mask, fixed_bits = stack.pop()
                if not split[i]:
                    lut[(codes & fixed_mask) == fixed_bits] = len(values)
                    values.append(float(ens.value[i]))
                    continue
                b = 1 << bit[i]
                stack.append((int(ens.right[i]), fixed_mask | b, fixed_bits))
                stack.append((int(ens.left[i]), fixed_mask | b, fixed_bits | b))
            if len(values) > 256:
                return None
            node_cond.append(cond_of[internal])
            node_bit.append(np.arange(m, dtype=np.int64))
            luts.append(lut)
            leaf_values.append(np.asarray(values, dtype=np.float64))
        return cls(
            cond_feature=uniq[:, 0].astype(np.int64),
            cond_threshold=uniq[:, 1].astype(np.float64),
            cond_missing_left=uniq[:, 2] > 0,
            node_cond=tuple(node_cond),
            node_bit=tuple(node_bit),
            lut=tuple(luts),
            leaf_value=tuple(leaf_values),
        )

    def raw_score(self, X: np.ndarray, baseline: float, chunk_rows: int) -> np.ndarray:
        """Baseline plus the leaf value of every tree, for each row of ``X``."""
        n_rows = X.shape[0]
        out = np.empty(n_rows, dtype=np.float64)
        n_cond = len(self.cond_feature)
        features = self.cond_feature.tolist()
        thresholds = self.cond_threshold.tolist()
        missing_left = self.cond_missing_left.tolist()
        trees = [
            (list(zip(c.tolist(), b.tolist())), lut, val)
            for c, b, lut, val in zip(self.node_cond, self.node_bit, self.lut, self.leaf_value)
        ]
        for start in range(0, n_rows, chunk_rows):
            Xc = np.asfortranarray(X[start : start + chunk_rows])  # columns contiguous
            rows = Xc.shape[0]
            nan = np.isnan(Xc)
            cond = np.empty((n_cond, rows), dtype=np.uint16)
            hold = np.empty(rows, dtype=bool)
            for j in range(n_cond):
                col = Xc[:, features[j]]
                np.less_equal(col, thresholds[j], out=hold)
                if missing_left[j]:
                    hold |= nan[:, features[j]]
                cond[j] = hold
            acc = np.full(rows, baseline, dtype=np.float64)
            code = np.empty(rows, dtype=np.uint16)
            tmp = np.empty(rows, dtype=np.uint16)
            for nodes, lut, val in trees:
                code.fill(0)
                for j, k in nodes:
                    np.left_shift(cond[j], k, out=tmp)
                    code |= tmp
                acc += val[lut[code]]
            out[start : start + rows] = acc
        return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return expit(z)


# --------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------


class FollowerAuthenticityModel(ClassifierMixin, BaseEstimator):
    """Fake-follower classifier on :data:`FEATURE_NAMES`, robust to missing optional columns.

    ``fit(df, y)`` takes a follower-samples frame (only the four required columns are needed) and
    labels (1 = fake). Before fitting, the training rows are repeated ``augment_copies`` times
    with each optional column group (username, avatar, bio, created_at) masked with probability
    ``mask_probability``, so the trees learn what to do when a source lacks that column.
    Gradient-boosted trees with monotonic constraints (:data:`MONOTONIC`) are fitted by
    scikit-learn's ``HistGradientBoostingClassifier``; its trees are then held as a
    :class:`TreeEnsemble`.

    Parameters
    ----------
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization:
        Passed to ``HistGradientBoostingClassifier`` (``early_stopping`` is off for determinism).
    monotonic:
        Apply :data:`MONOTONIC` constraints.
    augment_copies:
        Number of randomly masked copies added to the training rows (0 = no augmentation).
    mask_probability:
        Probability that an optional column group is masked in an augmented copy.
    threshold:
        Decision threshold on the fake probability used by :meth:`predict` and for
        ``audience_type == "suspicious"``. Training picks it from cross-validation.
    random_state:
        Seed for augmentation and the booster.
    """

    def __init__(
        self,
        learning_rate: float = 0.05,
        max_iter: int = 200,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 20,
        l2_regularization: float = 1.0,
        monotonic: bool = True,
        augment_copies: int = 3,
        mask_probability: float = 0.5,
        threshold: float = 0.5,
        random_state: int = 0,
    ) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.monotonic = monotonic
        self.augment_copies = augment_copies
        self.mask_probability = mask_probability
        self.threshold = threshold
        self.random_state = random_state

    # -- training ---------------------------------------------------------------------------

    def augment(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Training rows plus ``augment_copies`` copies with optional column groups masked.

        Returns the stacked ``(X, y, sample_weight)``; weights are divided by the number of
        copies so the total weight of the data does not change.
        """
        rng = np.random.default_rng(self.random_state)
        Xs, ys, ws = [X], [y], [w]
        for _ in range(self.augment_copies):
            Xc = X.copy()
            for feats in OPTIONAL_GROUPS.values():
                masked = rng.random(X.shape[0]) < self.mask_probability
                for f in feats:
                    Xc[masked, FEATURE_NAMES.index(f)] = np.nan
            Xs.append(Xc)
            ys.append(y)
            ws.append(w)
        k = self.augment_copies + 1
        return np.vstack(Xs), np.concatenate(ys), np.concatenate(ws) / k

    def fit_matrix(
        self, X: np.ndarray, y: Any, sample_weight: np.ndarray | None = None
    ) -> FollowerAuthenticityModel:
        """Fit on a precomputed feature matrix (columns :data:`FEATURE_NAMES`)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(np.int64).ravel()
        if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
            raise ValueError(
                f"X must have {len(FEATURE_NAMES)} feature columns, got shape {X.shape}"
            )
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("y must contain both classes 0 (real) and 1 (fake)")
        w = (
            np.ones(len(y))
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64)
        )
        Xa, ya, wa = self.augment(X, y, w)
        # A column unknown in every row (e.g. created_at in a collection that lacks it) trips
        # sklearn's binning; a constant column gives the same model (it can never be split on).
        Xa[:, np.isnan(Xa).all(axis=0)] = 0.0
        clf = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            monotonic_cst=[MONOTONIC[f] for f in FEATURE_NAMES] if self.monotonic else None,
            early_stopping=False,
            random_state=self.random_state,
        )
        # One OpenMP thread: on a few thousand rows extra threads only add contention
        # (measured 4x slower with 2 threads on a shared 2-core machine).
        with threadpool_limits(limits=1, user_api="openmp"):
            clf.fit(Xa, ya, sample_weight=wa)
        self.estimator_ = clf  # kept for inspection; not saved
        self.ensemble_ = TreeEnsemble.from_hist_gradient_boosting(clf)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(FEATURE_NAMES)
        self.feature_names_ = list(FEATURE_NAMES)
        return self

    def fit(
        self, df: pl.DataFrame, y: Any, sample_weight: np.ndarray | None = None
    ) -> FollowerAuthenticityModel:
        """Fit on a follower-samples frame ``df`` and labels ``y`` (1 = fake, 0 = real)."""
        return self.fit_matrix(feature_matrix(df), y, sample_weight)

    # -- prediction -------------------------------------------------------------------------

    def _check_fitted(self) -> TreeEnsemble:
        ens = getattr(self, "ensemble_", None)
        if ens is None:
            raise RuntimeError(
                "FollowerAuthenticityModel is not fitted; call fit() or load_model()"
            )
        return ens

    def predict_proba_matrix(self, X: np.ndarray) -> np.ndarray:
        """Probability of fake (shape (rows,)) for a feature matrix from :func:`feature_matrix`."""
        return _sigmoid(self._check_fitted().raw_score(np.asarray(X, dtype=np.float64)))

    def predict_proba(self, df: pl.DataFrame, as_of: dt.datetime | None = None) -> np.ndarray:
        """Class probabilities, shape (rows, 2): column 0 real, column 1 fake (sklearn order)."""
        p = self.predict_proba_matrix(feature_matrix(df, as_of))
        return np.column_stack([1.0 - p, p])

    def predict(self, df: pl.DataFrame, as_of: dt.datetime | None = None) -> np.ndarray:
        """1 (fake) where the fake probability is at least ``threshold``, else 0."""
        return (self.predict_proba(df, as_of)[:, 1] >= self.threshold).astype(np.int64)

    # score(): ClassifierMixin.score, i.e. accuracy of predict() against y.

    # -- serialization ----------------------------------------------------------------------

    def to_json(self, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The artifact as a JSON-ready dict (format tag, params, features, trees, checksum)."""
        ens = self._check_fitted()
        payload: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "feature_names": list(FEATURE_NAMES),
            "params": self.get_params(),
            "threshold": float(self.threshold),
            "ensemble": ens.to_json(),
            "metadata": dict(metadata or {}),
        }
        payload["sha256"] = _payload_digest(payload)
        return payload

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> FollowerAuthenticityModel:
        """Rebuild a fitted model from :meth:`to_json` output; :class:`ModelFormatError` if the
        format tag, version, checksum, feature list or tree arrays do not check out."""
        if not isinstance(payload, Mapping):
            raise ModelFormatError("artifact is not a JSON object")
        if payload.get("format") != FORMAT_NAME:
            raise ModelFormatError(
                f"unknown artifact format {payload.get('format')!r}; expected {FORMAT_NAME!r}"
            )
        if payload.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(f"unsupported format_version {payload.get('format_version')!r}")
        body = {k: v for k, v in payload.items() if k != "sha256"}
        if payload.get("sha256") != _payload_digest(body):
            raise ModelFormatError(
                "checksum mismatch: the artifact was modified after it was written"
            )
        if list(payload.get("feature_names", [])) != list(FEATURE_NAMES):
            raise ModelFormatError("artifact was trained on other features; retrain it")
        params = payload.get("params")
        if not isinstance(params, Mapping):
            raise ModelFormatError("params missing")
        known = set(cls().get_params())
        unknown = set(params) - known
        if unknown:
            raise ModelFormatError(f"unknown params {sorted(unknown)}")
        model = cls(**params)
        threshold = payload.get("threshold")
        if not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) <= 1.0:
            raise ModelFormatError("threshold must be a number in [0, 1]")
        model.threshold = float(threshold)
        model.ensemble_ = TreeEnsemble.from_json(payload.get("ensemble") or {}, len(FEATURE_NAMES))
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = len(FEATURE_NAMES)
        model.feature_names_ = list(FEATURE_NAMES)
        model.metadata_ = dict(payload.get("metadata") or {})
        return model


def _payload_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``body`` (sorted keys, no whitespace)."""
    canon = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def default_model_path() -> Path:
    """Where the committed artifact lives: ``$KOL_VETTING_MODELS_DIR`` or ``<repo>/models``.

    The repo root is found from this file (``kol_vetting/signals/followers.py``), so it does not
    depend on the working directory or on ``/work/shared``.
    """
    env = os.environ.get(MODELS_DIR_ENV)
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "models"
    return base / MODEL_FILENAME


def save_model(
    model: FollowerAuthenticityModel, path: Path, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``model`` as JSON to ``path`` (atomically: temp file then rename). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        model.to_json(metadata), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_model(path: Path | str | None = None) -> FollowerAuthenticityModel:
    """Load the follower classifier from a JSON artifact (default :func:`default_model_path`).

    Raises ``FileNotFoundError`` when there is no artifact (run ``kol-vetting train``) and
    :class:`ModelFormatError` when the file is not a valid, unmodified artifact of this format
    (e.g. a pickle, another model, or an edited file).
    """
    p = Path(path) if path is not None else default_model_path()
    if not p.is_file():
        raise FileNotFoundError(f"no follower model at {p}; run `kol-vetting train` to create it")
    if p.stat().st_size > MAX_ARTIFACT_BYTES:
        raise ModelFormatError(
            f"{p} is larger than {MAX_ARTIFACT_BYTES} bytes; not a follower model"
        )
    try:
        payload = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{p} is not a JSON follower model: {exc}") from exc
    return FollowerAuthenticityModel.from_json(payload)


@lru_cache(maxsize=4)
def _cached_model(path: str, mtime_ns: int) -> FollowerAuthenticityModel:
    return load_model(path)


def _default_model() -> FollowerAuthenticityModel:
    p = default_model_path()
    if not p.is_file():
        return load_model(p)  # raises a clear FileNotFoundError
    return _cached_model(str(p), p.stat().st_mtime_ns)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def audience_type_expr(schema: pl.Schema, threshold: float) -> pl.Expr:
    """Polars expression for ``audience_type`` given a ``fake_probability`` column.

    Rules, first match wins:

    1. ``influencer``: ``follower_count >= 10,000``, or ``>= 2,000`` followers and at least 5x
       as many followers as followings (an account with an audience of its own);
    2. ``mass_follower``: follows more than 1,500 accounts while its followers are fewer than
       10% of that (the trace bought accounts find hardest to hide);
    3. ``suspicious``: ``fake_probability >= threshold`` (the model's decision threshold);
    4. ``real``: everything else.
    """
    followers = _column(schema, "follower_count", pl.Float64)
    following = _column(schema, "following_count", pl.Float64)
    influencer = (followers >= INFLUENCER_MIN_FOLLOWERS) | (
        (followers >= INFLUENCER_RATIO_MIN_FOLLOWERS) & (followers >= INFLUENCER_RATIO * following)
    )
    mass = (following > MASS_FOLLOWING_MIN) & (followers < MASS_FOLLOWING_MAX_RATIO * following)
    return (
        pl.when(influencer.fill_null(False))
        .then(pl.lit("influencer"))
        .when(mass.fill_null(False))
        .then(pl.lit("mass_follower"))
        .when(pl.col("fake_probability") >= threshold)
        .then(pl.lit("suspicious"))
        .otherwise(pl.lit("real"))
    )


def score_followers(
    df: pl.DataFrame,
    model: FollowerAuthenticityModel | None = None,
    as_of: dt.datetime | None = None,
) -> pl.DataFrame:
    """Score a follower-samples frame.

    Takes any frame with ``follower_count``, ``following_count`` and ``note_count`` (other
    contract columns optional) and returns it unchanged plus ``fake_probability`` (Float64 in
    [0, 1]) and ``audience_type`` (String: real, mass_follower, suspicious, influencer; rules in
    :func:`audience_type_expr`). ``model`` defaults to the committed artifact; ``as_of`` is
    the date account ages are measured at (default now, naive UTC).

    ``fake_probability`` is calibrated to a balanced training mix (about half fakes), i.e. it
    reads as odds of the account's traits under "fake" vs "real"; to estimate a creator's
    fake share count ``suspicious`` + ``mass_follower`` rather than averaging probabilities.
    """
    missing = [
        c for c in ("follower_count", "following_count", "note_count") if c not in df.columns
    ]
    if missing:
        raise ValueError(f"follower samples lack required columns {missing}")
    model = model if model is not None else _default_model()
    proba = model.predict_proba(df, as_of)[:, 1] if df.height else np.empty(0)
    out = df.with_columns(pl.Series("fake_probability", proba, dtype=pl.Float64))
    return out.with_columns(audience_type_expr(out.schema, model.threshold).alias("audience_type"))
