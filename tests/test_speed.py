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


# --- content signals: shared note text views, deduplicated comment scoring, fast n-gram scorer ---


def _tricky_notes() -> pl.DataFrame:
    """Notes whose texts stress the shared views: Chinese text meeting a hashtag pile at the
    join (glued in the compact view), filler and emoji tokens at the edges, empty parts, null
    and all-null tag lists, full-width and upper-case text, NFKC-only characters."""
    from kol_vetting.schema import polars_schema

    rows = [
        ("n1", "新品", "广 告-", ["护肤", "好物"]),
        ("n2", "", "", []),
        ("n3", None, None, None),
        ("n4", "[赞R]", "", ["广告"]),
        ("n5", "标题", "正文 #", ["#话题[话题]", "AD"]),
        ("n6", "ＡＤ合作", "１００％有效，ＳＰＦ５０～", [None]),
        ("n7", "Σ TEST", "ﬁ ① e\u0301 ＃广＃告 [哭惹R]", [None, "sp"]),
        ("n8", "过敏-", "—", ["-过敏", ""]),
        ("n9", "无广\u200b自费", "   ", ["[doge]"]),
    ]
    schema = polars_schema("notes")
    data = [{"note_id": n, "creator_id": "c1", "title": t, "body": b, "tags": g} for n, t, b, g in rows]
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in data], schema=schema, orient="row")


def test_note_text_views_equal_each_signals_own_views(small_world):
    from kol_vetting.signals.content_text import (
        note_body_text,
        note_full_text,
        note_text_views,
    )
    from kol_vetting.text.normalize import compact_expr, normalize_expr_reference

    notes = pl.concat([pl.read_parquet(small_world / "notes.parquet"), _tricky_notes()], how="diagonal_relaxed")
    views = note_text_views(notes)
    assert views.height == notes.height
    full = notes.select(normalize_expr_reference(note_full_text(pl.col("title"), pl.col("body"), pl.col("tags"))).alias("n"))
    body = notes.select(normalize_expr_reference(note_body_text(pl.col("title"), pl.col("body"))).alias("n"))
    assert views["norm"].to_list() == full["n"].to_list()
    assert views["text_norm"].to_list() == body["n"].to_list()
    assert views["compact"].to_list() == full.select(compact_expr(pl.col("n"), normalized=True)).to_series().to_list()
    assert views["text_compact"].to_list() == body.select(compact_expr(pl.col("n"), normalized=True)).to_series().to_list()


def test_content_signals_give_the_same_results_with_shared_views(small_world):
    import datetime as dt

    from polars.testing import assert_frame_equal

    from kol_vetting.brief import load_brief
    from kol_vetting.signals.alignment import score_alignment
    from kol_vetting.signals.content_text import note_text_views
    from kol_vetting.signals.controversy import detect_controversy
    from kol_vetting.signals.disclosure import audit_disclosure

    cr = pl.read_parquet(small_world / "creators.parquet")
    nt = pl.concat([pl.read_parquet(small_world / "notes.parquet"), _tricky_notes()], how="diagonal_relaxed")
    cm = pl.read_parquet(small_world / "comments.parquet")
    as_of = dt.datetime(2026, 11, 1)
    views = note_text_views(nt)
    brief = load_brief(Path(__file__).resolve().parents[1] / "briefs" / "lanxi-spring.yaml")
    for fn in (detect_controversy, audit_disclosure):
        ref, got = fn(cr, nt, cm, as_of=as_of), fn(cr, nt, cm, as_of=as_of, views=views)
        for name in ref:
            assert_frame_equal(got[name], ref[name], check_exact=True)
    audit = audit_disclosure(cr, nt, cm, as_of=as_of)["disclosure_audit"]
    ref = score_alignment(brief, cr, nt, cm, as_of=as_of, disclosure_audit=audit)
    got = score_alignment(brief, cr, nt, cm, as_of=as_of, disclosure_audit=audit, views=views)
    for name in ref:
        assert_frame_equal(got[name], ref[name], check_exact=True)
    # views of other notes (or with a note missing) are completed, not trusted blindly
    partial = views.filter(pl.col("note_id") != nt["note_id"][0])
    got = detect_controversy(cr, nt, cm, as_of=as_of, views=partial)
    assert_frame_equal(got["controversy_flags"], detect_controversy(cr, nt, cm, as_of=as_of)["controversy_flags"])


def test_negative_comments_score_each_distinct_text_once():
    from kol_vetting.signals.content_text import model_probability
    from kol_vetting.signals.controversy import ControversyParams, negative_comments
    from kol_vetting.text.sentiment import load_sentiment_model

    texts = ["避雷！烂脸了", "好看", None, "好看", "", "避雷！烂脸了", "[哭惹R][哭惹R]", "太差了 退款"] * 5
    cm = pl.DataFrame({"comment_id": [str(i) for i in range(len(texts))], "text": texts}, schema={"comment_id": pl.String, "text": pl.String})
    model = load_sentiment_model()
    out = negative_comments(cm, model, ControversyParams())
    assert out.columns == ["comment_id", "text", "neg_p", "cue_terms", "category", "negative"]
    assert out["comment_id"].to_list() == cm["comment_id"].to_list()
    ref = model_probability(model, cm["text"])  # every row scored on its own
    assert out["neg_p"].to_list() == ref.to_list()


def _model_without_some_bigrams():
    """The committed model with a tenth of its bigrams dropped: a vocabulary that is not closed
    under prefixes/suffixes (the scorer's general path)."""
    from kol_vetting.text.sentiment import SentimentModel, load_sentiment_model

    m = load_sentiment_model()
    terms = [t for t, _ in sorted(m.vocabulary.items(), key=lambda kv: kv[1])]
    keep = [j for j, t in enumerate(terms) if not (len(t) == 2 and j % 10 == 0)]
    return SentimentModel(
        vocabulary={terms[j]: i for i, j in enumerate(keep)},
        idf=m.idf[keep], coef=m.coef[keep], intercept=m.intercept, analyzer_name="char",
        ngram_range=m.ngram_range, sublinear_tf=m.sublinear_tf, meta={},
    )


@pytest.mark.parametrize("which", ["committed", "not_closed"])
def test_fast_char_scorer_matches_the_model(which):
    from kol_vetting.signals.content_text import FastCharScorer
    from kol_vetting.text.sentiment import load_sentiment_model

    model = load_sentiment_model() if which == "committed" else _model_without_some_bigrams()
    scorer = FastCharScorer(model)
    assert scorer.closed == (which == "committed")
    rng = np.random.default_rng(1)
    alphabet = list({c for t in list(model.vocabulary)[:3000] for c in t}) + list("xyz \x00\ue001\ue010")
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 60))) for _ in range(2_000)]
    texts += ["", "a", "哈哈哈哈哈哈", "好好好好 好好", "\x00\x00"]
    got = scorer.decision_function(texts)
    ref = model.decision_function([t.replace("\x00", "") for t in texts])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    # batching does not change a text's margin, bit for bit
    one = np.array([scorer.decision_function([t])[0] for t in texts[:50]])
    assert np.array_equal(one, got[:50])
    assert scorer.decision_function([]).shape == (0,)
