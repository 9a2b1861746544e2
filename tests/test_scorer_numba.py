"""The numba kernel of the character n-gram scorer (``FastCharScorer.decision_function``)
against its numpy reference (``decision_function_numpy``, bit for bit) and against the models'
own scorers, for the committed sentiment and offensive models, on real texts and edge cases."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from kol_vetting.signals import content_text as ct
from kol_vetting.signals.content_text import (
    COMPACT,
    NORM,
    FastCharScorer,
    fast_scorer,
    model_probability,
    model_view_expr,
    with_text_views,
)
from kol_vetting.text.sentiment import SentimentModel, load_offensive_model, load_sentiment_model
from kol_vetting.text.train_text import load_xhs_eval

MODELS = ("sentiment", "offensive")

EDGE = [
    "", " ", "\n", "\x00", "a\x00b", "\x00\x00哈哈\x00", "好\x00看",  # NUL is dropped
    "😀", "😀😀😀好看😀", "好看😀😀", "𠀀𠀁𠀂", "好𠀀看𠀁好看",  # emoji, CJK Extension B
    "\ue001\ue010", "ꙮꙮꙮ", "\U0010ffff", "\x7f\x01", "é", "ﬁ",  # outside the alphabet
    "a", "哈", "哈哈", "哈哈哈哈哈哈", "好好好好 好好", "避雷！烂脸了", "<emo_赞> 好用", "你是个傻逼",
]  # fmt: skip


@pytest.fixture(scope="module")
def models() -> dict[str, SentimentModel]:
    return {"sentiment": load_sentiment_model(), "offensive": load_offensive_model()}


@pytest.fixture(scope="module")
def scorers(models) -> dict[str, FastCharScorer]:
    assert ct._jit_kernel() is not None, "the numba kernel did not load"
    out = {k: fast_scorer(m) for k, m in models.items()}
    assert all(s is not None for s in out.values())
    return out


@pytest.fixture(scope="module")
def views(tmp_path_factory, models) -> dict[str, dict[str, list[str]]]:
    """Model views of real texts per model: demo-world notes and comments, the XHS fixture."""
    from kol_vetting.sources.demo import generate_world

    out = tmp_path_factory.mktemp("numba_world")
    generate_world(40, 5, out)
    notes = pl.read_parquet(out / "notes.parquet").select(
        pl.concat_str([pl.col("title"), pl.col("body"), pl.col("tags").list.join(" ")], separator="\n")
        .alias("t")
    )
    comments = pl.read_parquet(out / "comments.parquet").select(pl.col("text").alias("t"))
    xhs = load_xhs_eval().select(pl.col("text").alias("t"))
    res: dict[str, dict[str, list[str]]] = {}
    for name, model in models.items():
        view = model_view_expr(NORM, COMPACT) if model.text_view == "sentiment" else pl.col(NORM).fill_null("")
        res[name] = {
            src: with_text_views(df, "t").select(view).to_series().to_list()
            for src, df in (("notes", notes), ("comments", comments), ("xhs", xhs))
        }
    assert len(res["sentiment"]["notes"]) > 1000 and len(res["sentiment"]["comments"]) > 10_000
    return res


def _same(scorer: FastCharScorer, texts: list[str]) -> np.ndarray:
    """The kernel on a list and on a String Series equals the numpy reference, bit for bit."""
    ref = scorer.decision_function_numpy(texts)
    got = scorer.decision_function(texts)
    ser = scorer.decision_function(pl.Series(texts, dtype=pl.String))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert np.array_equal(got, ref)
    assert np.array_equal(ser, ref)
    return ref


@pytest.mark.parametrize("name", MODELS)
def test_kernel_equals_numpy_on_real_texts(scorers, views, name) -> None:
    scorer = scorers[name]
    for src, texts in views[name].items():
        z = _same(scorer, texts)
        assert np.isfinite(z).all() and z.std() > 0, src
    # a batch of everything at once, and single texts: the same margins
    everything = [t for texts in views[name].values() for t in texts]
    z = _same(scorer, everything)
    one = np.array([scorer.decision_function([t])[0] for t in everything[::500]])
    assert np.array_equal(one, z[::500])


@pytest.mark.parametrize("name", MODELS)
def test_kernel_edge_cases(scorers, models, name) -> None:
    scorer, model = scorers[name], models[name]
    assert scorer.decision_function([]).shape == (0,)
    assert scorer.decision_function(pl.Series([], dtype=pl.String)).shape == (0,)
    z = _same(scorer, EDGE)
    # and the model's own scorer (which sees the texts without their NULs)
    np.testing.assert_allclose(z, model.decision_function([t.replace("\x00", "") for t in EDGE]), rtol=0, atol=1e-12)
    assert z[EDGE.index("")] == z[EDGE.index("\x00")] == scorer.intercept  # no n-gram: the intercept
    assert z[EDGE.index("a\x00b")] == scorer.decision_function(["ab"])[0]
    # nulls in a Series count as ""; a lone surrogate (possible in a Python str only) is no term
    ser = scorer.decision_function(pl.Series(["哈哈", None, ""], dtype=pl.String))
    assert np.array_equal(ser, scorer.decision_function_numpy(["哈哈", "", ""]))
    assert scorer.decision_function(["好\ud800看"])[0] == scorer.decision_function_numpy(["好\ud800看"])[0]
    # a sliced Series (Arrow offsets not from 0) and one of several chunks
    whole = pl.Series(EDGE, dtype=pl.String)
    assert np.array_equal(scorer.decision_function(whole.slice(5, 9)), z[5:14])
    chunked = pl.concat([whole.slice(0, 7), whole.slice(7)], rechunk=False)
    assert chunked.n_chunks() == 2 and np.array_equal(scorer.decision_function(chunked), z)


@pytest.mark.parametrize("name", MODELS)
def test_kernel_one_megabyte_text(scorers, views, name) -> None:
    scorer = scorers[name]
    notes = "\n".join(views[name]["notes"])
    big = (notes * (1_000_000 // len(notes) + 1))[:1_000_000]
    texts = [big, "哈" * 1_000_000, "好看", big[:300]]
    z = _same(scorer, texts)
    assert z[2] == scorer.decision_function(["好看"])[0]


def test_kernel_hundred_thousand_short_texts(scorers, views) -> None:
    for name, scorer in scorers.items():
        pool = views[name]["comments"] + views[name]["xhs"] + EDGE
        rng = np.random.default_rng(3)
        texts = [pool[i][: rng.integers(0, 12)] for i in rng.integers(0, len(pool), 100_000)]
        _same(scorer, texts)


def _variant(base: SentimentModel, ngram_range: tuple[int, int], *, sublinear: bool, drop_bigrams: bool) -> SentimentModel:
    """The committed model's terms of lengths ngram_range (optionally a tenth of the bigrams
    dropped: a vocabulary not closed under prefixes and suffixes), renumbered."""
    lo, hi = ngram_range
    terms = sorted(base.vocabulary, key=base.vocabulary.get)
    keep = [
        j for j, t in enumerate(terms)
        if lo <= len(t) <= hi and not (drop_bigrams and len(t) == 2 and j % 10 == 0)
    ]  # fmt: skip
    rng = np.random.default_rng(len(keep))
    order = rng.permutation(len(keep))  # feature numbers in no particular order
    return SentimentModel(
        vocabulary={terms[j]: int(order[i]) for i, j in enumerate(keep)},
        idf=base.idf[keep][np.argsort(order)], coef=base.coef[keep][np.argsort(order)],
        intercept=base.intercept, analyzer_name="char", ngram_range=ngram_range, sublinear_tf=sublinear, meta={},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("ngram_range", "sublinear", "drop_bigrams"),
    [((1, 3), True, True), ((1, 1), True, False), ((2, 3), True, False), ((1, 2), False, False), ((3, 3), False, False)],
)
def test_kernel_other_vocabularies(models, scorers, views, ngram_range, sublinear, drop_bigrams) -> None:
    model = _variant(models["sentiment"], ngram_range, sublinear=sublinear, drop_bigrams=drop_bigrams)
    scorer = FastCharScorer(model)
    assert scorer.closed == (ngram_range == (2, 3))
    texts = views["sentiment"]["notes"][:150] + views["sentiment"]["comments"][:300] + EDGE + ["哈" * 3000]
    z = _same(scorer, texts)
    ref = model.decision_function([t.replace("\x00", "") for t in texts])
    np.testing.assert_allclose(z, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_model_probability_is_the_models_probability(models, scorers, views, name) -> None:
    model = models[name]
    texts = pl.Series(
        "t", load_xhs_eval()["text"].to_list() + EDGE[1:] + [None, "", "  ", "全网最低价！", "無廣，純自費分享"],
        dtype=pl.String,
    )
    ref = model.negative_probability(texts)
    got = model_probability(model, texts)
    assert ref.is_null().to_list() == got.is_null().to_list()
    assert ((ref - got).abs().fill_null(0) < 1e-9).all()
    # with precomputed views (as the pipeline calls it): the same values, exactly
    via_views = model_probability(model, views=with_text_views(pl.DataFrame({"t": texts}), "t"))
    assert via_views.to_list() == got.to_list()


def test_numpy_fallback_and_lazy_loading(scorers, monkeypatch) -> None:
    scorer = scorers["sentiment"]
    texts = ["避雷！烂脸了", "好看", "", "哈哈哈哈"] * 2000
    ref = scorer.decision_function_numpy(texts)
    monkeypatch.setattr(ct, "_KERNEL", False)  # numba unavailable: the numpy path
    assert np.array_equal(scorer.decision_function(texts), ref)
    # numba not loaded yet: a small batch stays on numpy and does not load it
    monkeypatch.setattr(ct, "_KERNEL", None)
    assert np.array_equal(scorer.decision_function(texts[:4]), ref[:4])
    assert ct._KERNEL is None
    monkeypatch.setenv("KOL_VETTING_NUMBA", "0")
    assert ct._compile_kernel() is False


def test_kernel_compiles_without_a_usable_cache_directory(monkeypatch) -> None:
    # numba raises RuntimeError("cannot cache function ...: no locator available") at decoration
    # when no cache directory is writable (a read-only install, no writable home; checked by hand
    # with NUMBA_CACHE_LOCATOR_CLASSES=UserProvidedCacheLocator NUMBA_CACHE_DIR=/proc/x): the
    # kernel is then compiled in memory; if even that fails, the numpy path serves
    import numba

    calls: list[bool] = []

    def njit(sig, *, cache=False, nogil=False):
        calls.append(cache)
        if cache or fail_always:
            raise RuntimeError("cannot cache function: no locator available")
        return lambda func: ("compiled in memory", func)

    monkeypatch.setattr(numba, "njit", njit)
    fail_always = False
    assert ct._compile_kernel() == ("compiled in memory", ct._char_ngram_margins)
    assert calls == [True, False]
    fail_always = True
    assert ct._compile_kernel() is False
