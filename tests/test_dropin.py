"""Drop-in for ``ctgan.TVAE``: what code written for the reference does, tvae does too.

Our own tests of the behaviours the reference's TVAE (and shared CTGAN) integration tests check;
see the module docstring of :mod:`tvae.synthesizer` for where tvae differs on purpose.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from tvae import TVAE, InvalidParameterTypeError
from tvae.schedule import resolve_schedule
from tvae.serialization import load_model, save_model


def _mixed(n: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"continuous": rng.random(n), "discrete": rng.choice(list("abc"), n)})


@pytest.fixture(scope="module")
def fitted() -> TVAE:
    return TVAE(epochs=1).fit(_mixed(), ["discrete"])


# ---------------------------------------------------------------- fit and sample
def test_dataframe_in_dataframe_out(fitted):
    sampled = fitted.sample(100)
    assert isinstance(sampled, pd.DataFrame) and sampled.shape == (100, 2)
    assert list(sampled.columns) == ["continuous", "discrete"]
    assert set(sampled["discrete"]) <= {"a", "b", "c"}
    losses = fitted.loss_values
    assert list(losses.columns) == ["Epoch", "Batch", "Loss"] and len(losses) == 1


def test_array_in_array_out_with_index_discrete_columns():
    data = _mixed().to_numpy()
    model = TVAE(epochs=1).fit(data, [1])
    sampled = model.sample(50)
    assert isinstance(sampled, np.ndarray) and sampled.shape == (50, 2)
    assert set(sampled[:, 1]) <= {"a", "b", "c"}


def test_numeric_only_table():
    model = TVAE(epochs=1).fit(pd.DataFrame({"continuous": np.random.default_rng(0).random(300)}))
    assert model.sample(20).shape == (20, 1)
    assert len(model.loss_values) == 1


def test_several_numbers_and_a_label_keep_dtypes_through_save_and_load(tmp_path):
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(5, 1, (150, 4)), columns=[f"f{i}" for i in range(4)])
    data["label"] = rng.choice(["x", "y", "z"], 150)
    model = TVAE(epochs=10).fit(data, ["label"])
    model.save(str(tmp_path / "model.pkl"))  # any file name, as the reference
    loaded = TVAE.load(str(tmp_path / "model.pkl"))
    sampled = loaded.sample(100)
    assert sampled.shape == (100, 5) and set(sampled.dtypes) == set(data.dtypes)
    losses = loaded.loss_values
    assert len(losses) == 10 and (losses["Batch"] == 0).all()  # one batch per epoch


def test_missing_category_is_generated():
    data = pd.DataFrame({"continuous": np.random.default_rng(2).random(30)})
    data["discrete"] = [np.nan, "b", "c"] * 10
    sampled = TVAE(epochs=1, random_state=0).fit(data, ["discrete"]).sample(100)
    values = set(sampled["discrete"].unique())
    assert len(values) == 3 and {"b", "c"} <= values and any(pd.isna(v) for v in values)


def test_unknown_discrete_columns_are_value_errors_naming_them():
    data = pd.DataFrame({"discrete": ["a", "b"]})
    with pytest.raises(ValueError, match=r"Invalid columns found: \{'.', '.'\}"):
        TVAE(epochs=1).fit(data, ["b", "c"])
    with pytest.raises(ValueError, match=r"Invalid columns found: \[1\]"):
        TVAE(epochs=1).fit(data.to_numpy(), [0, 1])


# ---------------------------------------------------------------- random state
def test_set_random_state_restarts_the_same_sequence(fitted):
    unseeded = fitted.sample(10)
    fitted.set_random_state(0)
    first = [fitted.sample(10), fitted.sample(10)]
    fitted.set_random_state(0)
    again = [fitted.sample(10), fitted.sample(10)]
    for left, right in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(left, right)
    assert not np.array_equal(unseeded.to_numpy(), first[0].to_numpy())
    assert not np.array_equal(first[0].to_numpy(), first[1].to_numpy())


def test_set_random_state_takes_the_reference_pair(fitted):
    def pair(seed: int) -> tuple:
        return np.random.RandomState(seed), torch.Generator().manual_seed(seed)

    states = pair(3)
    before = states[0].get_state()[1].copy(), states[1].get_state().clone()
    fitted.set_random_state(states)
    seed, first = fitted.random_state, fitted.sample(10)
    assert isinstance(seed, int) and seed >= 0
    assert (states[0].get_state()[1] == before[0]).all()  # read, not advanced
    assert torch.equal(states[1].get_state(), before[1])
    fitted.set_random_state(pair(3))
    assert fitted.random_state == seed
    pd.testing.assert_frame_equal(fitted.sample(10), first)
    fitted.set_random_state(pair(4))
    assert fitted.random_state != seed


@pytest.mark.parametrize("bad", ["0", 1.5, True, (np.random.RandomState(0), 3), (1, 2, 3)])
def test_seed_of_the_wrong_type_is_a_type_error(fitted, bad):
    with pytest.raises(TypeError, match="random_state") as error:
        fitted.set_random_state(bad)
    assert isinstance(error.value, InvalidParameterTypeError)
    with pytest.raises(TypeError, match="random_state"):
        TVAE(epochs=1, random_state=bad).fit(_mixed(), ["discrete"])


@pytest.mark.parametrize("make", [np.random.RandomState, np.random.default_rng])
def test_a_numpy_random_state_seeds_each_fit_as_scikit_learn_does(make, tmp_path):
    def fitted_with(state) -> TVAE:
        return TVAE(epochs=1, random_state=state).fit(_mixed(), ["discrete"])

    first, again = fitted_with(make(5)), fitted_with(make(5))
    pd.testing.assert_frame_equal(first.sample(20), again.sample(20))
    state = make(5)
    model = fitted_with(state)
    assert model.get_params()["random_state"] is state  # the parameter is left as given
    refit = clone(model).set_params(random_state=state).fit(_mixed(), ["discrete"])
    assert not refit.sample(20).equals(again.sample(20))  # the state advanced between fits
    model.save(tmp_path / "state.tvae")  # a file holds the seed the fit drew, not live state
    loaded = TVAE.load(tmp_path / "state.tvae")
    assert isinstance(loaded.random_state, int)
    pd.testing.assert_frame_equal(loaded.sample(20), model.sample(20))
    drawn = [first.sample(10, random_state=make(1)) for _ in range(2)]
    pd.testing.assert_frame_equal(*drawn)


# ---------------------------------------------------------------- constructor
def test_cuda_is_a_deprecated_alias_of_enable_gpu(tmp_path):
    with pytest.warns(FutureWarning, match="cuda"):
        model = TVAE(epochs=1, cuda=False)
    assert model.get_params()["cuda"] is False
    with pytest.warns(FutureWarning):
        copy = clone(model)  # scikit-learn rebuilds it from get_params
    assert copy.get_params() == model.get_params()
    fitted = model.fit(_mixed(), ["discrete"])
    assert fitted.device_.type == "cpu"
    fitted.save(tmp_path / "cuda.tvae")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert TVAE.load(tmp_path / "cuda.tvae").cuda is False  # warned once, not on every load
    with pytest.warns(FutureWarning):
        TVAE(1, cuda=True)  # also positional, as the reference's tenth argument
        conflicting = TVAE(epochs=1, enable_gpu=False, cuda=True)
    with pytest.raises(ValueError, match="cuda"):
        conflicting.fit(_mixed(), ["discrete"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TVAE(epochs=1)  # no warning without cuda


def test_loss_values_before_fit_is_an_empty_frame():
    losses = TVAE().loss_values
    assert losses.empty and list(losses.columns) == ["Epoch", "Batch", "Loss"]


def test_default_schedule_is_visible_and_any_integer_is_the_reference():
    default, reference = TVAE(), TVAE(epochs=300, batch_size=500)
    assert default.get_params()["epochs"] == "auto" and default.get_params()["batch_size"] == "auto"
    assert repr(default) != repr(reference) and "epochs=300" in repr(reference)

    def schedule(model: TVAE):
        params = (model.epochs, model.batch_size, model.learning_rate, model.lr_schedule)
        return resolve_schedule(*params, n_rows=26_000, width=157)

    assert (schedule(reference).epochs, schedule(reference).batch_size) == (300, 500)
    assert schedule(reference).lr_schedule == "constant"
    assert schedule(default).lr_schedule == "onecycle" and schedule(default).epochs < 300
    assert clone(default).get_params() == default.get_params()
    fitted = TVAE(epochs="auto", batch_size=50, random_state=0).fit(_mixed(60), ["discrete"])
    assert fitted.schedule_.lr_schedule == "onecycle" and fitted.schedule_.batch_size == 50


@pytest.mark.parametrize("bad", ["fast", "", None, 0, -1, 2.0, True])
def test_epochs_and_batch_size_take_auto_or_a_positive_integer(bad):
    for name in ("epochs", "batch_size"):
        with pytest.raises((ValueError, TypeError), match=f'{name} must be "auto" or a positive'):
            TVAE(**{name: bad}).fit(_mixed(), ["discrete"])


def test_model_files_keep_the_schedule_arguments(tmp_path):
    model = TVAE(epochs=2, batch_size=50, random_state=0).fit(_mixed(), ["discrete"])
    model.save(tmp_path / "given.tvae")
    loaded = TVAE.load(tmp_path / "given.tvae")
    assert (loaded.epochs, loaded.batch_size) == (2, 50)
    tensors, description = load_model(tmp_path / "given.tvae")
    del description["params"]["epochs"], description["params"]["batch_size"]  # as files of
    save_model(tmp_path / "old.tvae", tensors, description)  # versions that left defaults out
    old = TVAE.load(tmp_path / "old.tvae")
    assert (old.epochs, old.batch_size) == ("auto", "auto")
    assert len(old.sample(5)) == 5
