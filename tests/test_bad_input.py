"""Every bad input is a clear ValueError/TypeError naming the culprit, raised before training."""

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE, InvalidDataError, InvalidDataTypeError, InvalidParameterError


@pytest.fixture
def small():
    return pd.DataFrame({"x": np.arange(20, dtype=float), "c": list("ab") * 10})


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -3}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"epochs": "fast"}, "epochs"),
        ({"epochs": None}, "epochs"),
        ({"batch_size": "AUTO"}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"compress_dims": (128, 0)}, "compress_dims"),
        ({"decompress_dims": "128"}, "decompress_dims"),
        ({"l2scale": -1.0}, "l2scale"),
        ({"loss_factor": 0}, "loss_factor"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": "0"}, "random_state"),
        ({"cuda": True, "enable_gpu": False}, "cuda"),
        ({"decoding": "mode"}, "decoding"),
        ({"lr_schedule": "cosine"}, "lr_schedule"),
        ({"precision": "half"}, "precision"),
    ],
)
def test_invalid_parameters_name_the_parameter(small, params, name):
    with pytest.raises(InvalidParameterError, match=name):
        TVAE(**params).fit(small, ["c"])


def test_empty_tables(small):
    with pytest.raises(InvalidDataError, match="no rows"):
        TVAE(epochs=1).fit(small.iloc[:0], ["c"])
    with pytest.raises(InvalidDataError, match="no columns"):
        TVAE(epochs=1).fit(pd.DataFrame(index=range(5)))


def test_unknown_discrete_column_is_named(small):
    with pytest.raises(InvalidDataError, match="'colour'"):
        TVAE(epochs=1).fit(small, ["c", "colour"])


def test_discrete_columns_must_be_a_list(small):
    with pytest.raises(InvalidDataTypeError, match="discrete_columns"):
        TVAE(epochs=1).fit(small, "c")


def test_arrays_must_be_two_dimensional():
    with pytest.raises(InvalidDataError, match="2-D"):
        TVAE(epochs=1).fit(np.arange(10.0))
    with pytest.raises(InvalidDataError, match="2-D"):
        TVAE(epochs=1).fit(np.zeros((2, 3, 4)))


def test_ndarray_discrete_index_out_of_range():
    with pytest.raises(InvalidDataError, match=r"\[5\]"):
        TVAE(epochs=1).fit(np.zeros((10, 2)), discrete_columns=[5])


def test_wrong_train_data_type():
    with pytest.raises(InvalidDataTypeError, match="DataFrame"):
        TVAE(epochs=1).fit([[1, 2], [3, 4]])


def test_negative_or_non_integer_sample_count(small):
    model = TVAE(epochs=1, random_state=0).fit(small, ["c"])
    with pytest.raises(InvalidParameterError, match="samples"):
        model.sample(-1)
    with pytest.raises(InvalidParameterError, match="samples"):
        model.sample(2.5)


def test_duplicate_column_names():
    frame = pd.DataFrame([[1.0, 2.0]] * 5, columns=["a", "a"])
    with pytest.raises(InvalidDataError, match="duplicate"):
        TVAE(epochs=1).fit(frame)


def test_complex_numbers_are_rejected():
    frame = pd.DataFrame({"z": np.array([1 + 2j, 3 + 0j] * 5)})
    with pytest.raises(InvalidDataTypeError, match="'z'"):
        TVAE(epochs=1).fit(frame)


def _with(column: pd.Series | list | np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(30, dtype=float), "odd": column})


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([pd.Timestamp("2024-01-01").date().replace(year=1500 + i) for i in range(30)]),
        np.array([f"{1500 + i}-01-01" for i in range(30)], dtype=object),
        np.array([f"{1500 + i}-01-01" for i in range(30)], dtype="datetime64[s]"),
        np.array([f"{2500 + i}-06-30" for i in range(30)], dtype="datetime64[s]"),
    ],
    ids=["python dates", "date strings", "datetime64[s]", "after 2262"],
)
def test_times_beyond_nanoseconds_are_refused_not_wrapped_around(column):
    # numpy turned the years 1500-1798 into 1713-2212 silently before
    with pytest.raises(InvalidDataError, match=r"'odd'.* from 1[56]\d\d-|'odd'.* from 25"):
        TVAE(epochs=1).fit(_with(column))


def test_times_of_several_zones_as_objects_ask_for_one():
    zones = ["UTC", "Asia/Tokyo"] * 15
    stamps = pd.Series([pd.Timestamp("2024-01-01", tz=z) for z in zones], dtype=object)
    with pytest.raises(InvalidDataError, match=r"'odd'.*utc=True"):
        TVAE(epochs=1).fit(_with(stamps))


def test_numbers_whose_squares_overflow_ask_to_be_rescaled():
    with pytest.raises(InvalidDataError, match=r"'odd'.*rescale"):
        TVAE(epochs=1).fit(_with(np.linspace(-1, 1, 30) * 1e300))


def test_column_names_of_several_levels_ask_for_one_level():
    frame = pd.DataFrame(np.ones((5, 2)), columns=pd.MultiIndex.from_tuples([("a", 1), ("a", 2)]))
    with pytest.raises(InvalidDataError, match=r"2 levels.*\('a', 1\)"):
        TVAE(epochs=1).fit(frame)
