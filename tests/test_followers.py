"""Follower fake-account classifier: features, scoring rules, committed artifact, safe loading."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from kol_vetting.signals.followers import (
    AUDIENCE_TYPES,
    FEATURE_NAMES,
    OPTIONAL_GROUPS,
    FollowerAuthenticityModel,
    ModelFormatError,
    _payload_digest,
    default_model_path,
    feature_matrix,
    follower_features,
    load_model,
    save_model,
    score_followers,
)
from kol_vetting.signals.train_followers import (
    TrainingDataError,
    load_ig_collection,
    synthetic_xhs_collection,
    train_follower_model,
)

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REQUIRED = ["follower_id", "follower_count", "following_count", "note_count"]
AS_OF = dt.datetime(2025, 6, 30)


@pytest.fixture(scope="module")
def model() -> FollowerAuthenticityModel:
    return load_model()


def _sample() -> pl.DataFrame:
    """Hand-made accounts covering the interesting shapes (all contract columns)."""
    return pl.DataFrame(
        {
            "creator_id": ["c1"] * 6,
            "follower_id": ["bot", "dressed", "star", "lurker", "casual", "unknown"],
            "username": [
                "小红薯6A3F21",
                "小鱼爱吃糖",
                "旅行的Luna",
                "小红薯77AB01",
                "Luna_Li",
                None,
            ],
            "has_avatar": [False, True, True, False, True, None],
            "bio_length": [0, 25, 60, 0, 40, None],
            "follower_count": [0, 4, 250_000, 4, 120, 1],
            "following_count": [2_500, 3_200, 300, 35, 400, 3_000],
            "note_count": [0, 3, 500, 0, 25, 0],
            "created_at": [
                dt.datetime(2025, 6, 1),
                dt.datetime(2024, 1, 1),
                dt.datetime(2019, 1, 1),
                dt.datetime(2021, 3, 1),
                dt.datetime(2020, 5, 1),
                None,
            ],
        }
    )


# -- features -------------------------------------------------------------------------------


def test_features_with_only_required_columns_are_nan_for_optional_groups():
    df = _sample().select(REQUIRED)
    feats = follower_features(df, AS_OF)
    assert feats.columns == list(FEATURE_NAMES)
    assert feats.height == df.height
    for group, names in OPTIONAL_GROUPS.items():
        for f in names:
            assert feats[f].is_nan().all(), f"{f} should be unknown without {group}"
    for f in (
        "log_followers",
        "log_following",
        "log_notes",
        "log_follow_ratio",
        "mass_following",
        "no_notes",
    ):
        assert feats[f].is_finite().all(), f


def test_features_from_username_and_nulls():
    feats = follower_features(_sample(), AS_OF)
    by = dict(zip(_sample()["follower_id"], feats.iter_rows(named=True)))
    assert by["bot"]["default_nickname"] == 1.0 and by["casual"]["default_nickname"] == 0.0
    assert by["bot"]["username_digit_share"] == pytest.approx(4 / 9)
    assert by["bot"]["mass_following"] == 1.0 and by["star"]["mass_following"] == 0.0
    assert by["bot"]["no_notes"] == 1.0 and by["casual"]["no_notes"] == 0.0
    assert by["bot"]["log_account_age_days"] == pytest.approx(np.log1p(29))
    # A null username / avatar / bio / created_at is unknown, not "no digits" or "no avatar".
    for f in (
        "default_nickname",
        "username_digit_share",
        "username_max_digit_run",
        "has_avatar",
        "log_bio_length",
        "log_account_age_days",
    ):
        assert np.isnan(by["unknown"][f]), f


def test_random_latin_and_digit_share_column_fallback():
    df = pl.DataFrame(
        {
            "username": ["a7k2m9x3", "momo2019", None, "user83920183"],
            "username_digit_share": [None, None, 0.4, None],
            "follower_count": [1, 1, 1, 1],
            "following_count": [1, 1, 1, 1],
            "note_count": [0, 0, 0, 0],
        }
    )
    feats = follower_features(df)
    assert feats["username_random_latin"].to_list()[:2] == [1.0, 0.0]
    assert feats["username_digit_share"][2] == pytest.approx(0.4)  # from the column, no raw name
    assert feats["default_nickname"][3] == 1.0 and feats["username_max_digit_run"][3] == 8.0


# -- scoring --------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [REQUIRED, None])
def test_score_followers_with_required_only_and_all_columns(model, columns):
    df = _sample() if columns is None else _sample().select(columns)
    out = score_followers(df, model, as_of=AS_OF)
    assert out.columns == [*df.columns, "fake_probability", "audience_type"]
    assert out.select(df.columns).equals(df)
    p = out["fake_probability"]
    assert p.dtype == pl.Float64 and p.is_finite().all() and p.min() >= 0.0 and p.max() <= 1.0
    assert set(out["audience_type"]) <= set(AUDIENCE_TYPES)


def test_score_followers_uses_committed_model_by_default_and_handles_empty():
    df = _sample()
    assert score_followers(df, as_of=AS_OF)["fake_probability"].to_list() == pytest.approx(
        score_followers(df, load_model(), as_of=AS_OF)["fake_probability"].to_list()
    )
    empty = score_followers(df.head(0), as_of=AS_OF)
    assert empty.height == 0 and empty["fake_probability"].dtype == pl.Float64
    with pytest.raises(ValueError, match="required"):
        score_followers(df.drop("note_count"))


def test_default_nickname_mass_followers_are_flagged(model):
    rng = np.random.default_rng(1)
    n = 50
    df = pl.DataFrame(
        {
            "follower_id": [f"f{i}" for i in range(n)],
            "username": [f"小红薯{v:06X}" for v in rng.integers(0, 16**6, n)],
            "has_avatar": [False] * n,
            "bio_length": [0] * n,
            "follower_count": rng.integers(0, 6, n),
            "following_count": rng.integers(1_600, 6_000, n),
            "note_count": [0] * n,
        }
    )
    for frame in (df, df.select(REQUIRED), df.with_columns(has_avatar=pl.lit(True))):
        out = score_followers(frame, model)
        assert out["fake_probability"].min() > 0.9
        assert (out["audience_type"] == "mass_follower").all()


def test_dressed_up_fake_is_still_caught_but_honest_lurker_is_not(model):
    out = score_followers(_sample(), model, as_of=AS_OF)
    by = dict(zip(out["follower_id"], out["fake_probability"]))
    assert by["dressed"] >= model.threshold  # avatar, bio, notes, but mass-following
    assert by["lurker"] < model.threshold  # default name, no avatar, but follows only 35
    assert by["casual"] < 0.2


def test_big_account_is_influencer(model):
    out = score_followers(_sample(), model, as_of=AS_OF)
    star = out.filter(pl.col("follower_id") == "star")
    assert star["audience_type"][0] == "influencer"
    assert star["fake_probability"][0] < 0.1
    ratio = score_followers(
        pl.DataFrame(
            {
                "follower_id": ["r"],
                "follower_count": [3_000],
                "following_count": [200],
                "note_count": [80],
            }
        ),
        model,
    )
    assert ratio["audience_type"][0] == "influencer"


# -- committed artifact ---------------------------------------------------------------------


def test_committed_artifact_is_small_json_and_accurate_on_ig_test(model):
    path = default_model_path()
    assert path.stat().st_size < 5 * 1024 * 1024
    assert 0.0 < model.threshold < 1.0
    test = load_ig_collection(DATASETS, "test")
    p = model.predict_proba(test.frame)[:, 1]
    assert roc_auc_score(test.y, p) > 0.9
    assert model.score(test.frame, test.y) > 0.8


def test_loading_refuses_pickle_unknown_format_and_tampering(tmp_path):
    good = json.loads(default_model_path().read_text(encoding="utf-8"))

    pkl = tmp_path / "model.json"
    pkl.write_bytes(pickle.dumps({"format": "kol-vetting/follower-authenticity"}))
    with pytest.raises(ModelFormatError):
        load_model(pkl)

    other = tmp_path / "other.json"
    other.write_text(json.dumps({**good, "format": "sklearn-pickle"}))
    with pytest.raises(ModelFormatError, match="format"):
        load_model(other)

    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**good, "threshold": 0.01}))
    with pytest.raises(ModelFormatError, match="checksum"):
        load_model(edited)

    # Even with a recomputed checksum, a child pointing outside its tree is refused.
    body = {k: v for k, v in good.items() if k != "sha256"}
    ens = dict(body["ensemble"])
    split = ens["is_leaf"].index(0)
    ens["left"] = list(ens["left"])
    ens["left"][split] = len(ens["left"]) + 5
    body["ensemble"] = ens
    looping = tmp_path / "looping.json"
    looping.write_text(json.dumps({**body, "sha256": _payload_digest(body)}))
    with pytest.raises(ModelFormatError, match="child"):
        load_model(looping)

    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.json")


# -- estimator and training -----------------------------------------------------------------


def test_exported_trees_match_sklearn_and_survive_a_round_trip(tmp_path):
    coll = synthetic_xhs_collection(n_real=150, n_fake=120, seed=3)
    m = FollowerAuthenticityModel(max_iter=20, augment_copies=1).fit(coll.frame, coll.y)
    X = feature_matrix(coll.frame)
    X_masked = X.copy()
    X_masked[::2, FEATURE_NAMES.index("has_avatar")] = np.nan
    for M in (X, X_masked):
        np.testing.assert_allclose(
            m.predict_proba_matrix(M), m.estimator_.predict_proba(M)[:, 1], atol=1e-12
        )
    loaded = load_model(save_model(m, tmp_path / "m.json"))
    np.testing.assert_array_equal(loaded.predict_proba(coll.frame), m.predict_proba(coll.frame))
    assert loaded.get_params() == m.get_params()


def test_synthetic_collection_is_deterministic_and_labelled():
    a, b = synthetic_xhs_collection(100, 80), synthetic_xhs_collection(100, 80)
    assert a.frame.equals(b.frame) and np.array_equal(a.y, b.y)
    assert a.y.sum() == 80 and a.frame["follower_id"].str.starts_with("synthetic_xhs_").all()


def test_training_without_datasets_says_what_it_needs(tmp_path):
    with pytest.raises(TrainingDataError, match="ig_fake_spammer_train.csv"):
        train_follower_model(tmp_path / "nowhere", None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fast_metrics_equal_sklearn():
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

    from kol_vetting.signals.train_followers import binary_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.round(np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1), 2)  # rounded: many ties
    m = binary_metrics(y, p, 0.5)
    pred = (p >= 0.5).astype(int)
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["average_precision"] == pytest.approx(average_precision_score(y, p))


def test_demo_world_labels_only_creators_whose_fakes_are_listed(tmp_path):
    from kol_vetting.signals.train_followers import demo_world_collection

    n = 30
    rows = []
    for creator in ("bought", "plain"):
        for i in range(2 * n):
            fake = creator == "bought" and i < n
            rows.append(
                {
                    "creator_id": creator,
                    "follower_id": f"{creator}_{i}",
                    "username": "小红薯ABCDEF" if fake else "小鱼",
                    "has_avatar": not fake,
                    "bio_length": 0,
                    "follower_count": 1 if fake else 50,
                    "following_count": 3000 if fake else 100,
                    "note_count": 0 if fake else 10,
                    "created_at": dt.datetime(2025, 1, 1),
                }
            )
    pl.DataFrame(rows).write_parquet(tmp_path / "follower_samples.parquet")
    pl.DataFrame(
        {
            "creator_id": ["bought", "plain"],
            "kind": ["bought_followers_step", "viral_lookalike"],
            "is_anomaly": [True, False],
            "affected_ids": [[f"bought_{i}" for i in range(n)], ["plain_0"]],
        }
    ).write_parquet(tmp_path / "ground_truth.parquet")
    coll = demo_world_collection(tmp_path)
    assert coll is not None
    assert set(coll.frame["creator_id"]) == {"bought"}  # "plain" may hide unlisted fakes
    assert coll.y.sum() == n and len(coll.y) == 2 * n
    fake_ids = set(coll.frame.filter(pl.Series(coll.y == 1))["follower_id"])
    assert fake_ids == {f"bought_{i}" for i in range(n)}
