"""Fidelity metrics on hand-computed examples, edge cases and properties."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvae.evaluation import (
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    evaluate,
    infer_kinds,
    ks_complement,
    tv_complement,
)
from tvae.evaluation.metrics import pearson, property_score

# ----------------------------------------------------------------------------- KS complement


def test_ks_complement_hand_computed():
    # ECDFs of {1,2,3,4} and {3,4,5,6} differ by at most 0.5 (at 2 and at 4).
    assert ks_complement(pd.Series([1, 2, 3, 4]), pd.Series([3, 4, 5, 6])) == pytest.approx(0.5)
    # disjoint supports: D = 1
    assert ks_complement(pd.Series([1.0, 2.0]), pd.Series([5.0, 6.0])) == pytest.approx(0.0)
    # {1,2} vs {1,2,3}: max gap 1 - 2/3 at 2
    assert ks_complement(pd.Series([1, 2]), pd.Series([1, 2, 3])) == pytest.approx(2 / 3)


def test_ks_complement_drops_missing_and_handles_datetimes():
    assert ks_complement(pd.Series([1.0, 2.0, np.nan]), pd.Series([2.0, 1.0])) == 1.0
    assert math.isnan(ks_complement(pd.Series([np.nan]), pd.Series([1.0])))
    days = pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]))
    later = days + pd.Timedelta(days=2)
    assert ks_complement(days, later) == pytest.approx(0.5)


def test_ks_complement_ignores_float_noise():
    values = pd.Series([0.1 + 0.2, 1.0, 2.0])
    assert ks_complement(values, pd.Series([0.3, 1.0, 2.0])) == 1.0


# ----------------------------------------------------------------------------- TV complement


def test_tv_complement_hand_computed():
    # frequencies (1/2, 1/2) vs (1/4, 3/4): TV = 1/4
    assert tv_complement(pd.Series(list("aabb")), pd.Series(list("abbb"))) == pytest.approx(0.75)
    # a category only in synthetic counts fully
    assert tv_complement(pd.Series(list("aa")), pd.Series(list("ac"))) == pytest.approx(0.5)
    # missing values are dropped before counting
    assert tv_complement(pd.Series(["a", None, "b"]), pd.Series(["b", "a"])) == 1.0


def test_tv_complement_booleans_and_mixed_number_types():
    assert tv_complement(pd.Series([True, False]), pd.Series([True, True])) == pytest.approx(0.5)
    assert tv_complement(pd.Series([1, 2]), pd.Series([1.0, 2.0])) == 1.0


# ----------------------------------------------------------------------------- pairs


def test_correlation_similarity_hand_computed():
    real = pd.DataFrame({"x": [1, 2, 3], "y": [1, 2, 3]})  # r = 1
    assert correlation_similarity(real, pd.DataFrame({"x": [1, 2, 3], "y": [3, 2, 1]})) == 0.0
    # centred x = (-1, 0, 1), y = (-1, 1, 0): r = 1 / 2, score = 1 - (1 - 1/2) / 2
    half = pd.DataFrame({"x": [1, 2, 3], "y": [1, 3, 2]})
    assert correlation_similarity(real, half) == pytest.approx(0.75)


def test_pearson_uses_complete_rows_only():
    x = np.array([1.0, 2.0, np.nan, 3.0])
    y = np.array([2.0, 4.0, 100.0, 6.0])
    assert pearson(x, y) == pytest.approx(1.0)
    assert math.isnan(pearson(np.array([1.0, 1.0]), np.array([1.0, 2.0])))


def test_contingency_similarity_hand_computed():
    real = pd.DataFrame({"a": list("aabb"), "b": list("xyxy")})  # four cells of 1/4
    synthetic = pd.DataFrame({"a": list("aabb"), "b": list("xxyy")})  # two cells of 1/2
    assert contingency_similarity(real, synthetic) == pytest.approx(0.5)
    # missing values are a category of their own
    real = pd.DataFrame({"a": ["a", "a"], "b": [None, "x"]})
    synthetic = pd.DataFrame({"a": ["a", "a"], "b": ["x", "x"]})
    assert contingency_similarity(real, synthetic) == pytest.approx(0.5)


def test_cramers_v_matches_scipy():
    association = pytest.importorskip("scipy.stats.contingency").association
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, 500)
    b = (a + rng.integers(0, 3, 500)) % 5
    frame = pd.DataFrame({"a": a.astype(str), "b": b.astype(str)})
    pairs = column_pair_trends(frame, frame, {"a": "categorical", "b": "categorical"})
    table = pd.crosstab(frame["a"], frame["b"]).to_numpy()
    assert pairs.loc[0, "real_association"] == pytest.approx(association(table, method="cramer"))


def test_mixed_pair_uses_bins_of_each_frame():
    real = pd.DataFrame({"x": np.arange(10.0), "c": list("aaaaabbbbb")})
    # The synthetic numbers are the real ones times 10: binned on their own range they fall
    # into the same bins, so the joint frequencies (and the score) are identical.
    synthetic = pd.DataFrame({"x": np.arange(10.0) * 10, "c": list("aaaaabbbbb")})
    pairs = column_pair_trends(
        real, synthetic, {"x": "numerical", "c": "categorical"}, real_association_threshold=0
    )
    assert pairs.loc[0, "metric"] == "ContingencySimilarity"
    assert pairs.loc[0, "score"] == pytest.approx(1.0)


def test_thresholds_choose_the_pairs_that_count():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    frame = pd.DataFrame({"x": x, "y": x + 0.1 * rng.normal(size=400), "z": rng.normal(size=400)})
    kinds = dict.fromkeys(frame.columns, "numerical")
    pairs = column_pair_trends(frame, frame.sample(frac=1, random_state=1), kinds)
    assert list(pairs["contributes"]) == [True, False, False]  # only x-y correlates
    everything = column_pair_trends(frame, frame, kinds, real_correlation_threshold=0)
    assert everything["contributes"].all()
    with pytest.raises(ValueError, match="real_correlation_threshold"):
        column_pair_trends(frame, frame, kinds, real_correlation_threshold=2)


def test_constant_column_gives_no_correlation_score():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "k": [5.0, 5.0, 5.0]})
    pairs = column_pair_trends(
        frame, frame, {"x": "numerical", "k": "numerical"}, real_correlation_threshold=0
    )
    assert math.isnan(pairs.loc[0, "score"]) and not pairs.loc[0, "contributes"]
    assert math.isnan(property_score(pairs))


# ----------------------------------------------------------------------------- properties


def test_identical_frames_score_one(adult):
    report = evaluate(adult, adult.copy())
    assert report.overall == pytest.approx(1.0)
    assert report.column_shapes_score == pytest.approx(1.0)
    assert report.column_pair_trends_score == pytest.approx(1.0)
    np.testing.assert_allclose(report.column_shapes["score"], 1.0)
    assert set(report.column_shapes["metric"]) == {"KSComplement", "TVComplement"}
    assert len(report.column_pair_trends) == 15 * 14 // 2


def test_column_shapes_and_pairs_skip_ids():
    frame = pd.DataFrame({"id": range(6), "x": np.arange(6.0), "c": list("ababab")})
    kinds = {"id": "id", "x": "numerical", "c": "categorical"}
    assert list(column_shapes(frame, frame, kinds)["column"]) == ["x", "c"]
    assert len(column_pair_trends(frame, frame, kinds)) == 1


def test_infer_kinds():
    frame = pd.DataFrame(
        {
            "n": [1, 2],
            "f": [0.5, 1.5],
            "b": [True, False],
            "s": ["a", "b"],
            "d": pd.to_datetime(["2020-01-01", "2021-01-01"]),
            "c": pd.Categorical(["x", "y"]),
        }
    )
    assert infer_kinds(frame) == {
        "n": "numerical",
        "f": "numerical",
        "b": "boolean",
        "s": "categorical",
        "d": "datetime",
        "c": "categorical",
    }
    assert infer_kinds(frame, discrete_columns=["n"])["n"] == "categorical"
    assert infer_kinds(frame, discrete_columns=["n"])["s"] == "numerical"
    meta = dict.fromkeys(frame.columns, "categorical") | {"n": "id"}
    assert infer_kinds(frame, metadata=meta)["n"] == "id"
    with pytest.raises(ValueError, match="unknown kinds"):
        infer_kinds(frame, metadata=dict.fromkeys(frame.columns, "text"))
    partial = infer_kinds(frame, discrete_columns=["f"], metadata={"n": "id", "s": "discrete"})
    assert partial == {
        "n": "id",
        "f": "categorical",
        "b": "numerical",
        "s": "categorical",
        "d": "numerical",
        "c": "numerical",
    }
    assert infer_kinds(frame, metadata={"s": "id"})["d"] == "datetime"
    with pytest.raises(ValueError, match="'zzz'"):
        infer_kinds(frame, metadata={"zzz": "numerical"})
    with pytest.raises(ValueError, match="'zzz'"):
        infer_kinds(frame, discrete_columns=["zzz"])
    with pytest.raises(TypeError, match="discrete_columns"):
        infer_kinds(frame, discrete_columns="s")


def test_declared_numerical_text_column_is_named_in_error():
    frame = pd.DataFrame({"x": ["a", "b"]})
    with pytest.raises(ValueError, match="'x'"):
        column_shapes(frame, frame, {"x": "numerical"})


values = st.lists(st.integers(-5, 5), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(values, values)
def test_scores_are_bounded_and_symmetric(a, b):
    real, synthetic = pd.Series(a), pd.Series(b)
    for metric in (ks_complement, tv_complement):
        score = metric(real, synthetic)
        assert 0.0 <= score <= 1.0
        assert score == pytest.approx(metric(synthetic, real))
        assert metric(real, real.sample(frac=1, random_state=0)) == pytest.approx(1.0)


LIGHT_MODULES = {
    "__future__",
    "dataclasses",
    "itertools",
    "math",
    "io",
    "base64",
    "html",
    "pathlib",
    "typing",
    "warnings",
    "numpy",
    "pandas",
    "threadpoolctl",
    "",
}


def test_evaluation_imports_no_torch_and_only_light_modules_at_import_time():
    """No torch anywhere; matplotlib and scikit-learn only inside functions."""
    root = Path(__import__("tvae.evaluation").evaluation.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["" if node.level else (node.module or "")]
            else:
                continue
            tops = {n.split(".")[0] for n in names}
            assert "torch" not in tops, path
            if node in tree.body:
                assert tops <= LIGHT_MODULES, (path, tops)
