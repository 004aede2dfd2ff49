"""The data transformer: posterior, round trips, span bookkeeping and invariants."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.mixture import BayesianGaussianMixture

from tvae.transformer import TableTransformer
from tvae.transformer.categorical import OneHotEncoder
from tvae.transformer.continuous import ModeNormalizer
from tvae.transformer.mixture import MixtureFit, compress


def _sklearn_fit(values: np.ndarray, seed: int) -> tuple[MixtureFit, BayesianGaussianMixture]:
    mixture = BayesianGaussianMixture(
        n_components=10,
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=1e-3,
        n_init=1,
        random_state=seed,
    ).fit(values.reshape(-1, 1))
    fit = MixtureFit(
        weights=mixture.weights_,
        means=mixture.means_.ravel(),
        covariances=mixture.covariances_.ravel(),
        precisions_cholesky=mixture.precisions_cholesky_.ravel(),
        degrees_of_freedom=mixture.degrees_of_freedom_,
        mean_precision=mixture.mean_precision_,
        weight_concentration=mixture.weight_concentration_,
        converged=mixture.converged_,
    )
    return fit, mixture


def test_posterior_equals_the_mixture_predict_proba():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(0, 1, 500), rng.normal(20, 3, 500)])
    fit, mixture = _sklearn_fit(values, seed=7)
    keep = mixture.weights_ > 0.005
    normalizer = ModeNormalizer._from_mixture(fit, keep)
    expected = mixture.predict_proba(values.reshape(-1, 1))[:, keep]
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(normalizer.responsibilities(values), expected, atol=1e-9)


def test_our_mixture_finds_the_components_sklearn_finds():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0, 1, 3000), rng.normal(20, 3, 1000), np.full(500, 50.0)])
    ours = ModeNormalizer.fit(values, np.random.default_rng(0))
    reference, mixture = _sklearn_fit(values, seed=0)
    keep = mixture.weights_ > 0.005
    theirs = ModeNormalizer._from_mixture(reference, keep)
    # Responsibility-weighted means of the three groups agree between the two fits.
    for group in (values[:3000], values[3000:4000], values[4000:]):
        ours_mean = (ours.responsibilities(group) @ ours.mean).mean()
        theirs_mean = (theirs.responsibilities(group) @ theirs.mean).mean()
        assert abs(ours_mean - theirs_mean) < 0.05 * (1 + abs(theirs_mean))
    # Fitting on distinct values with counts equals fitting on every row.
    alphas, modes = ours.transform(values, np.random.default_rng(2))
    restored = ours.inverse(alphas, modes)
    inside = np.abs(alphas) < 0.99
    np.testing.assert_allclose(restored[inside], values[inside], rtol=1e-6, atol=1e-6)


def test_many_distinct_values_are_fitted_on_bounded_groups():
    values = np.random.default_rng(0).lognormal(3, 1, 50_000)
    points, weights = compress(values, max_points=1_000)
    assert len(points) == 1_000
    assert weights.sum() == len(values)
    np.testing.assert_allclose((points * weights).sum(), values.sum(), rtol=1e-9)
    normalizer = ModeNormalizer.fit(values, 0, max_points=1_000)
    assert 1 <= normalizer.n_modes <= 10


def test_continuous_round_trip_and_alpha_clipping():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(-5, 1, 300), rng.normal(50, 2, 300)])
    normalizer = ModeNormalizer.fit(values, 0)
    alphas, modes = normalizer.transform(values, np.random.default_rng(1))
    assert alphas.dtype == np.float32 and modes.dtype == np.int64
    assert np.abs(alphas).max() <= 0.99
    restored = normalizer.inverse(alphas, modes)
    inside = np.abs(alphas) < 0.99  # clipped values cannot be restored, by design
    np.testing.assert_allclose(restored[inside], values[inside], rtol=1e-5, atol=1e-4)


def test_modes_are_drawn_not_argmax():
    # A value halfway between two equal modes must be assigned to both, across rows.
    values = np.concatenate([np.full(200, 0.0), np.full(200, 10.0), np.full(200, 5.0)])
    normalizer = ModeNormalizer.fit(values + np.random.default_rng(0).normal(0, 2, 600), 0)
    _, modes = normalizer.transform(np.full(2000, 5.0), np.random.default_rng(0))
    assert len(np.unique(modes)) >= 2


def test_categorical_round_trip_keeps_missing_and_order():
    values = pd.Series(["b", None, "a", "b", np.nan, "c"], dtype=object)
    encoder = OneHotEncoder.fit(values)
    codes = encoder.transform(values, column="x")
    assert codes.tolist() == [0, 1, 2, 0, 1, 3]  # None and NaN: one "missing" category
    restored = encoder.inverse(codes)
    assert restored.tolist() == ["b", None, "a", "b", None, "c"]
    clone = OneHotEncoder.from_state(encoder.get_state())
    assert clone.categories == ["b", None, "a", "c"]
    assert clone.transform(values, column="x").tolist() == codes.tolist()


def test_unknown_category_is_a_clear_error():
    encoder = OneHotEncoder.fit(pd.Series(["a", "b"]))
    with pytest.raises(ValueError, match=r"column 'colour'.*never seen"):
        encoder.transform(pd.Series(["a", "zebra"]), column="colour")


def test_table_spans_follow_the_reference_order(mixed_frame):
    kinds = {
        "amount": "continuous",
        "count": "continuous",
        "colour": "categorical",
        "size": "categorical",
    }
    transformer = TableTransformer().fit(mixed_frame, kinds, np.random.default_rng(0))
    layout = transformer.layout
    kinds_in_order = [(s.kind, s.column) for s in layout.spans]
    assert kinds_in_order[:4] == [
        ("tanh", "amount"),
        ("softmax", "amount"),
        ("tanh", "count"),
        ("softmax", "count"),
    ]
    assert kinds_in_order[4:] == [("softmax", "colour"), ("softmax", "size")]
    assert layout.spans[-1].width == 3  # only observed categories are learned
    encoded = transformer.transform(mixed_frame, np.random.default_rng(1))
    assert encoded.alphas.shape == (400, 2)
    assert encoded.codes.shape == (400, 4)
    assert (encoded.codes < layout.softmax_widths).all()


def test_table_inverse_restores_values_and_dtypes(mixed_frame):
    kinds = {
        "amount": "continuous",
        "count": "continuous",
        "colour": "categorical",
        "size": "categorical",
    }
    transformer = TableTransformer().fit(mixed_frame, kinds, np.random.default_rng(0))
    encoded = transformer.transform(mixed_frame, np.random.default_rng(1))
    restored = transformer.inverse_transform(encoded.alphas, encoded.codes)
    assert list(restored.columns) == list(mixed_frame.columns)
    assert restored.dtypes.equals(mixed_frame.dtypes)
    pd.testing.assert_series_equal(restored["colour"], mixed_frame["colour"])
    pd.testing.assert_series_equal(restored["size"], mixed_frame["size"])
    assert list(restored["size"].cat.categories) == ["S", "M", "L", "XL"]  # dtype kept whole
    inside = np.abs(encoded.alphas[:, 0]) < 0.99
    np.testing.assert_allclose(restored["amount"][inside], mixed_frame["amount"][inside], rtol=1e-4)
    assert (restored["count"] == mixed_frame["count"]).mean() > 0.95


def test_transformer_state_round_trips(mixed_frame):
    kinds = {
        "amount": "continuous",
        "count": "continuous",
        "colour": "categorical",
        "size": "categorical",
    }
    transformer = TableTransformer().fit(mixed_frame, kinds, np.random.default_rng(0))
    clone = TableTransformer.from_state(transformer.get_state())
    assert clone.layout == transformer.layout
    a = transformer.transform(mixed_frame, np.random.default_rng(5))
    b = clone.transform(mixed_frame, np.random.default_rng(5))
    np.testing.assert_array_equal(a.codes, b.codes)
    pd.testing.assert_frame_equal(
        clone.inverse_transform(a.alphas, a.codes), transformer.inverse_transform(a.alphas, a.codes)
    )


@settings(max_examples=15, deadline=None)
@given(
    n_rows=st.integers(5, 60),
    n_categories=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_encoded_rows_are_consistent_with_the_layout(n_rows, n_categories, seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n_rows) * rng.uniform(0.1, 100),
            "label": rng.integers(0, n_categories, n_rows).astype(str),
        }
    )
    transformer = TableTransformer().fit(
        frame, {"x": "continuous", "label": "categorical"}, np.random.default_rng(seed)
    )
    encoded = transformer.transform(frame, np.random.default_rng(seed))
    layout = transformer.layout
    # Each softmax block holds exactly one category: the code lies inside the block.
    assert ((encoded.codes >= 0) & (encoded.codes < layout.softmax_widths)).all()
    assert encoded.alphas.shape[1] == layout.n_tanh
    assert layout.width == sum(s.width for s in layout.spans)
    restored = transformer.inverse_transform(encoded.alphas, encoded.codes)
    assert restored["label"].tolist() == frame["label"].tolist()


def test_one_registry_rebuilds_every_column_kind() -> None:
    """build_column and column_from_state agree through COLUMN_MODELS (kind -> class)."""
    from tvae import TVAE
    from tvae.transformer.build import COLUMN_MODELS, column_from_state

    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({
        "x": rng.normal(size=n),
        "c": rng.choice(list("abc"), n),
        "b": rng.choice([True, False], n),
        "d": pd.date_range("2020-01-01", periods=n, freq="D"),
        "key": np.arange(n),
    })  # fmt: skip
    transformer = TVAE(epochs=1, random_state=0).fit(frame, metadata={"key": "id"}).transformer_
    assert {c.kind for c in transformer.columns} == {
        "numerical", "categorical", "boolean", "datetime", "id",
    }  # fmt: skip
    for column in transformer.columns:
        assert COLUMN_MODELS[column.kind] is type(column)
        for member in ("spans", "transform", "inverse", "get_state", "from_state"):
            assert hasattr(type(column), member), (column.kind, member)  # the ColumnModel protocol
        again = column_from_state(column.name, column.kind, column.dtype, column.get_state())
        assert type(again) is type(column) and again.get_state() == column.get_state()
    assert len(set(COLUMN_MODELS.values())) == len(COLUMN_MODELS)  # one class per kind
    with pytest.raises(ValueError, match="unknown column kind"):
        column_from_state("x", "continuous", transformer.columns[0].dtype, {})
