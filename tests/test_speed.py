"""Speed work keeps results: compiled tree scoring, sparse audience overlap, filtered evidence
joins; and the pipeline benchmark runs end to end on a small world."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from kol_vetting.signals.followers import (
    FEATURE_NAMES,
    TreeEnsemble,
    _CompiledTrees,
    _default_model,
)


def _random_rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(2.0, 2.0, size=(n, len(FEATURE_NAMES)))
    X[:, 4:7] = rng.integers(0, 2, size=(n, 3))  # 0/1 features
    X[rng.random(X.shape) < 0.15] = np.nan  # unknown values go the learned way
    X[rng.random(X.shape) < 0.01] = np.inf
    X[rng.random(X.shape) < 0.01] = -np.inf
    return X


def test_compiled_trees_match_the_level_walk_on_the_committed_model():
    ens = _default_model().ensemble_
    assert ens._compiled is not None  # the committed model fits the lookup tables
    X = _random_rows(5_000)
    fast = ens.raw_score(X, chunk_rows=1_024)  # several blocks, the last one partial
    slow = ens._raw_score_walk(X)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


def test_compiled_trees_handle_empty_and_single_rows():
    ens = _default_model().ensemble_
    assert ens.raw_score(np.empty((0, len(FEATURE_NAMES)))).shape == (0,)
    x = _random_rows(1, seed=3)
    np.testing.assert_allclose(ens.raw_score(x), ens._raw_score_walk(x), atol=1e-12)


def _chain_tree(depth: int) -> TreeEnsemble:
    """One tree that is a chain of ``depth`` splits on feature 0 (depth + 1 leaves)."""
    n = 2 * depth + 1
    feature = np.zeros(n, dtype=np.int64)
    threshold = np.zeros(n)
    left = np.arange(n)
    right = np.arange(n)
    is_leaf = np.ones(n, dtype=bool)
    value = np.zeros(n)
    for k in range(depth):  # node 2k splits: left -> leaf 2k+1, right -> node 2k+2
        i = 2 * k
        is_leaf[i] = False
        threshold[i] = float(k)
        left[i], right[i] = i + 1, i + 2
        value[i + 1] = float(k)
    value[n - 1] = float(depth)
    return TreeEnsemble(
        baseline=0.5, roots=np.array([0]), feature=feature, threshold=threshold,
        missing_left=np.zeros(n, dtype=bool), left=left, right=right, is_leaf=is_leaf,
        value=value, max_depth=depth,
    )


def test_trees_too_large_for_the_tables_fall_back_to_the_walk():
    small, big = _chain_tree(5), _chain_tree(20)
    assert small._compiled is not None
    assert _CompiledTrees.build(big) is None and big._compiled is None
    X = np.zeros((30, len(FEATURE_NAMES)))
    X[:, 0] = np.linspace(-1, 25, 30)
    X[3, 0] = np.nan
    expected = 0.5 + np.clip(np.ceil(np.nan_to_num(X[:, 0], nan=100.0)), 0, 20)
    np.testing.assert_allclose(big.raw_score(X), expected)
    expected_small = 0.5 + np.clip(np.ceil(np.nan_to_num(X[:, 0], nan=100.0)), 0, 5)
    np.testing.assert_allclose(small.raw_score(X), expected_small)


def test_audience_overlap_without_graph_gives_the_same_pairs(small_world):
    from kol_vetting.portfolio import audience_overlap

    notes = pl.read_parquet(small_world / "notes.parquet")
    comments = pl.read_parquet(small_world / "comments.parquet")
    samples = pl.read_parquet(small_world / "follower_samples.parquet")
    pairs, graph = audience_overlap(comments, notes, samples)
    fast, none = audience_overlap(comments, notes, samples, with_graph=False)
    assert none is None
    assert fast.equals(pairs)
    assert graph.number_of_edges() == pairs.height
    # set arithmetic on a few pairs, straight from the data (engagers: distinct commenters other
    # than the creator; creators with at least 10; accounts seen with 2-200 of those creators)
    eng = (
        comments.join(notes.select("note_id", "creator_id"), on="note_id")
        .filter(pl.col("commenter_id") != pl.col("creator_id"))
        .select("creator_id", "commenter_id")
        .unique()
    )
    big = eng.group_by("creator_id").len().filter(pl.col("len") >= 10).select("creator_id")
    eng = eng.join(big, on="creator_id", how="semi")
    k = eng.group_by("commenter_id").len()
    usable = set(k.filter(pl.col("len").is_between(2, 200))["commenter_id"].to_list())
    sets = {c: set(m) for c, m in eng.group_by("creator_id").agg("commenter_id").iter_rows()}
    checked = 0
    for a, b, shared in (
        pairs.filter(pl.col("shared_engagers") > 0)
        .select("creator_a", "creator_b", "shared_engagers")
        .head(20)
        .iter_rows()
    ):
        assert a < b
        assert len(sets[a] & sets[b] & usable) == shared
        checked += 1
    assert checked > 0


def test_scaling_exponent_and_floor_sql(small_world):
    from kol_vetting.bench import floor_sql, run_floor, scaling_exponent

    assert scaling_exponent([(1000, 10.0)]) is None
    assert scaling_exponent([(1000, 10.0), (10000, 100.0)]) == pytest.approx(1.0)
    assert scaling_exponent([(1000, 10.0), (10000, 10.0 * 10**1.2)]) == pytest.approx(1.2)
    sql = floor_sql(small_world)
    for table in ("creators", "notes", "comments", "follower_samples", "follower_history", "partners"):
        assert f"{table}.parquet" in sql
    seconds, rows = run_floor(small_world)
    assert rows == pl.read_parquet(small_world / "creators.parquet").height
    assert seconds >= 0


def test_benchmark_runs_every_stage_on_a_small_world(tmp_path):
    from kol_vetting.bench import STAGES, run_benchmark

    out = tmp_path / "bench.json"
    result = run_benchmark(
        [40], workdir=tmp_path / "work", json_out=out, max_dossiers=3, follower_rows=20_000, echo=None
    )
    saved = json.loads(out.read_text())
    assert saved["runs"][0]["creators"] == 40
    run = result["runs"][0]
    for key in ("notes", "comments", "follower_samples", "pipeline_s", "floor_s", "ratio", "peak_rss_mb"):
        assert key in run
    ran = set(run["stages"])
    missing = set(run["missing"])
    assert ran | missing == set(STAGES)
    assert {"ingest", "authenticity", "alignment", "scorecard", "portfolio", "exports"} <= ran
    assert run["peak_rss_mb"] > 50
    assert math.isclose(run["ratio"], run["pipeline_s"] / run["floor_s"], rel_tol=0.01)
    assert result["scaling_exponent"] is None
    assert run["follower_scoring_1m"]["rows"] == 20_000
    for key in ("cpu", "cores", "ram_gb", "python", "polars", "duckdb", "os"):
        assert key in result["machine"]
    # the world is cached and reused
    assert (tmp_path / "work" / "world_40_s7" / "notes.parquet").is_file()
    folder = tmp_path / "work" / "run_40" / "exports" / "lanxi-spring" / "dossiers"
    assert (folder / "index.html").is_file()
    assert len(list(folder.glob("*.html"))) <= 3 + 1  # at most three dossiers, and the index
