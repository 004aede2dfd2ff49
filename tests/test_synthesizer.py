"""The public TVAE object end to end on small tables."""

import numpy as np
import pandas as pd
import pytest
import torch

from tvae import TVAE, NotFittedError, load


def test_fit_returns_self_and_sample_matches_columns_dtypes_and_categories(
    adult_small, adult_discrete
):
    model = TVAE(epochs=3, batch_size=200, random_state=0)
    assert model.fit(adult_small, adult_discrete) is model
    synthetic = model.sample(300)
    assert isinstance(synthetic, pd.DataFrame)
    assert list(synthetic.columns) == list(adult_small.columns)
    assert synthetic.dtypes.equals(adult_small.dtypes)
    assert len(synthetic) == 300
    for column in adult_discrete:
        assert set(synthetic[column]) <= set(adult_small[column])


def test_loss_values_has_one_row_per_batch(adult_small, adult_discrete):
    model = TVAE(epochs=2, batch_size=250, random_state=0).fit(adult_small, adult_discrete)
    losses = model.loss_values
    assert list(losses.columns) == ["Epoch", "Batch", "Loss"]
    assert len(losses) == 2 * 3  # 600 rows in batches of 250 -> 3 batches, the last partial
    assert losses["Epoch"].tolist() == [0, 0, 0, 1, 1, 1]


def test_same_seed_same_rows_and_global_rng_untouched(adult_small, adult_discrete):
    np.random.seed(123)
    torch.manual_seed(123)
    numpy_state = np.random.get_state()[1].copy()
    torch_state = torch.random.get_rng_state().clone()
    first = TVAE(epochs=2, random_state=7).fit(adult_small, adult_discrete).sample(200)
    second = TVAE(epochs=2, random_state=7).fit(adult_small, adult_discrete).sample(200)
    pd.testing.assert_frame_equal(first, second)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    other = TVAE(epochs=2, random_state=8).fit(adult_small, adult_discrete).sample(200)
    assert not first.equals(other)


def test_sample_stream_continues_and_set_random_state_restarts_it(adult_small, adult_discrete):
    model = TVAE(epochs=1, random_state=1).fit(adult_small, adult_discrete)
    a, b = model.sample(50), model.sample(50)
    assert not a.equals(b)
    model.set_random_state(1)
    pd.testing.assert_frame_equal(model.sample(50), a)
    pd.testing.assert_frame_equal(
        model.sample(50, random_state=9), model.sample(50, random_state=9)
    )


def test_ndarray_input_with_integer_discrete_indices():
    rng = np.random.default_rng(0)
    data = np.column_stack([rng.normal(size=300), rng.integers(0, 3, 300), rng.normal(5, 2, 300)])
    model = TVAE(epochs=2, random_state=0).fit(data, discrete_columns=[1])
    synthetic = model.sample(100)
    assert isinstance(synthetic, np.ndarray)
    assert synthetic.shape == (100, 3)
    assert synthetic.dtype == data.dtype
    assert set(np.unique(synthetic[:, 1])) <= {0.0, 1.0, 2.0}


def test_table_smaller_than_one_batch_still_trains(adult_small, adult_discrete):
    model = TVAE(epochs=2, batch_size=500, random_state=0).fit(adult_small.head(40), adult_discrete)
    assert len(model.loss_values) == 2
    assert len(model.sample(10)) == 10


def test_sample_zero_rows_keeps_columns_and_dtypes(adult_small, adult_discrete):
    empty = TVAE(epochs=1, random_state=0).fit(adult_small, adult_discrete).sample(0)
    assert len(empty) == 0
    assert list(empty.columns) == list(adult_small.columns)


def test_it_learns_a_bimodal_column_and_category_rates():
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {
            "x": np.concatenate([rng.normal(0, 1, n // 2), rng.normal(30, 1, n // 2)]),
            "flag": np.where(rng.random(n) < 0.9, "common", "rare"),
        }
    )
    model = TVAE(epochs=30, batch_size=200, random_state=0).fit(frame, ["flag"])
    synthetic = model.sample(4000)
    losses = model.loss_values.groupby("Epoch")["Loss"].mean()
    assert losses.iloc[-1] < losses.iloc[0]
    near_modes = ((synthetic["x"] - 0).abs() < 4) | ((synthetic["x"] - 30).abs() < 4)
    assert near_modes.mean() > 0.9
    assert 0.3 < (synthetic["x"] > 15).mean() < 0.7
    assert 0.03 < (synthetic["flag"] == "rare").mean() < 0.2


def test_sigma_stays_clamped_after_training(adult_small, adult_discrete):
    model = TVAE(epochs=2, random_state=0).fit(adult_small, adult_discrete)
    sigma = model.decoder_.sigma.detach()
    assert sigma.min() >= 0.01 and sigma.max() <= 1.0


def test_save_load_round_trip_gives_the_same_rows(tmp_path, adult_small, adult_discrete):
    model = TVAE(epochs=2, random_state=3).fit(adult_small, adult_discrete)
    path = tmp_path / "model.tvae"
    model.save(path)
    loaded = TVAE.load(path)
    pd.testing.assert_frame_equal(loaded.sample(100), model.sample(100))
    pd.testing.assert_frame_equal(
        load(path).sample(30, random_state=4), model.sample(30, random_state=4)
    )
    assert loaded.get_params() == model.get_params()
    pd.testing.assert_frame_equal(loaded.loss_values, model.loss_values)


def test_constructor_matches_the_reference_signature():
    model = TVAE()
    assert model.embedding_dim == 128
    assert tuple(model.compress_dims) == (128, 128) and tuple(model.decompress_dims) == (128, 128)
    assert model.l2scale == 1e-5 and model.loss_factor == "auto"  # 2 on the reference's path
    assert model.enable_gpu is True and model.verbose is False


def test_sample_before_fit_is_not_fitted_error():
    with pytest.raises(NotFittedError, match="fit"):
        TVAE().sample(10)
    assert TVAE().loss_values.empty  # as the reference: an empty frame, not an error
