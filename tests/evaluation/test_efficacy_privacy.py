"""ML efficacy and privacy checks on small tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tvae.evaluation import (
    distance_to_closest_record,
    evaluate,
    exact_copy_share,
    ml_efficacy,
    privacy_metrics,
)


@pytest.fixture(scope="module")
def split(adult):
    return adult.iloc[:600].reset_index(drop=True), adult.iloc[600:1000].reset_index(drop=True)


# ----------------------------------------------------------------------------- efficacy


def test_efficacy_of_real_copy_matches_real(split):
    train, holdout = split
    result = ml_efficacy(train, train.copy(), holdout, "income")
    assert result["task"] == "classification" and result["metric"] == "macro_f1"
    assert 0.6 < result["real_score"] <= 1.0
    assert result["synthetic_score"] == pytest.approx(result["real_score"])
    assert result["ratio"] == pytest.approx(1.0)
    assert result["n_holdout"] == len(holdout)


def test_efficacy_drops_when_labels_are_noise(split):
    train, holdout = split
    noise = train.copy()
    noise["income"] = np.random.default_rng(0).permutation(noise["income"].to_numpy())
    result = ml_efficacy(train, noise, holdout, "income")
    assert result["synthetic_score"] < result["real_score"] - 0.1
    assert result["ratio"] < 0.9


def test_efficacy_handles_unseen_categories_and_float_codes(split):
    train, holdout = split
    synthetic = train.copy()
    synthetic.loc[:10, "workclass"] = "never-seen"
    synthetic["education-num"] = synthetic["education-num"].astype(float)
    result = ml_efficacy(train, synthetic, holdout, "income")
    assert 0.0 <= result["synthetic_score"] <= 1.0


def test_efficacy_one_class_synthetic(split):
    train, holdout = split
    synthetic = train.copy()
    synthetic["income"] = synthetic["income"].iloc[0]
    result = ml_efficacy(train, synthetic, holdout, "income")
    assert 0.0 <= result["synthetic_score"] < result["real_score"]


def test_efficacy_learns_around_a_class_held_by_one_row():
    # above 10,000 rows the classifier stops early on a class-stratified split, which a class
    # seen once used to break with a deep scikit-learn error
    rng = np.random.default_rng(0)
    x = rng.normal(size=12_000)
    labels = np.where(x > 0, "high", "low").astype(object)
    labels[0] = "rare"
    frame = pd.DataFrame({"x": x, "y": labels})
    holdout = frame.iloc[1:2_001]
    kinds = {"x": "numerical", "y": "categorical"}
    result = ml_efficacy(frame, frame, holdout, "y", kinds=kinds)
    assert result["synthetic_score"] > 0.95 and result["real_score"] > 0.95


def test_efficacy_drops_synthetic_rows_with_unknown_labels(split):
    train, holdout = split
    synthetic = train.copy()
    synthetic["income"] = synthetic["income"].astype(object)
    synthetic.loc[:59, "income"] = [f"label {i}" for i in range(60)]
    result = ml_efficacy(train, synthetic, holdout, "income")
    assert result["synthetic_unknown_label_share"] == pytest.approx(0.1)
    assert result["n_train_synthetic"] == len(train) - 60
    synthetic["income"] = "nonsense"
    assert ml_efficacy(train, synthetic, holdout, "income")["synthetic_score"] == 0.0


def test_efficacy_regression_for_many_valued_numbers(split):
    train, holdout = split
    result = ml_efficacy(train, train, holdout, "hours-per-week")
    assert result["task"] == "regression" and result["metric"] == "r2"
    assert result["ratio"] == pytest.approx(1.0)


def test_efficacy_errors(split):
    train, holdout = split
    with pytest.raises(ValueError, match="'nope'"):
        ml_efficacy(train, train, holdout, "nope")
    with pytest.raises(TypeError, match="holdout"):
        ml_efficacy(train, train, holdout.to_numpy(), "income")


def test_evaluate_runs_efficacy_only_with_target_and_holdout(split):
    train, holdout = split
    with pytest.warns(UserWarning, match="holdout"):
        assert evaluate(train, train, target="income").efficacy is None
    report = evaluate(train, train, target="income", holdout=holdout)
    assert report.efficacy["target"] == "income"


# ----------------------------------------------------------------------------- privacy


def test_exact_copy_share():
    real = pd.DataFrame({"x": [1, 2, 3], "c": ["a", "b", None]})
    assert exact_copy_share(real, real.copy()) == 1.0
    # ints written as floats and missing values still match
    as_float = real.assign(x=real["x"].astype(float))
    assert exact_copy_share(real, as_float) == 1.0
    other = pd.DataFrame({"x": [1, 2, 9, 9], "c": ["a", "x", None, "b"]})
    assert exact_copy_share(real, other) == pytest.approx(0.25)


def test_exact_copy_share_ignores_id_columns():
    real = pd.DataFrame({"id": [1, 2], "x": [1.0, 2.0]})
    synthetic = pd.DataFrame({"id": [7, 8], "x": [1.0, 5.0]})
    assert exact_copy_share(real, synthetic, kinds={"id": "id", "x": "numerical"}) == 0.5


def test_copy_of_training_data_is_flagged(split):
    train, holdout = split
    result = privacy_metrics(train, train.copy(), holdout)
    assert result["exact_copy_share"] == 1.0
    assert result["dcr_synthetic_median"] == 0.0
    assert result["dcr_ratio"] == 0.0
    assert result["dcr_holdout_median"] > 0


def test_fresh_rows_have_dcr_ratio_near_one(adult):
    train, fresh, holdout = adult.iloc[:500], adult.iloc[500:1000], adult.iloc[1000:]
    result = privacy_metrics(train, fresh, holdout)
    assert result["exact_copy_share"] < 0.05
    assert 0.7 < result["dcr_ratio"] < 1.4


def test_dcr_subsamples_with_seeded_rng(split):
    train, holdout = split
    first = distance_to_closest_record(train, holdout, max_rows=200, rng=np.random.default_rng(5))
    again = distance_to_closest_record(train, holdout, max_rows=200, rng=np.random.default_rng(5))
    assert first == again
    assert first["n_reference"] == 200 and first["n_synthetic"] == 200
    assert first["dcr_ratio"] is None
    with pytest.raises(ValueError, match="max_rows"):
        distance_to_closest_record(train, holdout, max_rows=0)


def test_dcr_with_missing_values_and_datetimes():
    rng = np.random.default_rng(0)
    real = pd.DataFrame(
        {
            "x": rng.normal(size=50),
            "d": pd.date_range("2020-01-01", periods=50, freq="D"),
            "c": rng.choice(["a", "b"], 50),
        }
    )
    synthetic = real.copy()
    synthetic.loc[:5, "x"] = np.nan  # gaps only in synthetic
    result = distance_to_closest_record(real, synthetic, real)
    assert result["dcr_synthetic_median"] == 0.0
    assert math.isnan(result["dcr_ratio"])  # holdout == train: zero baseline distance
