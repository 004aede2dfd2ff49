"""Columns of less common value types fit, sample in their own dtype and survive a model file:
``pandas.cut`` bands (categories that are intervals), periods, bytes, times of day, decimals
(Arrow's and Python's), Arrow durations and dictionaries, and tuple column labels."""

from __future__ import annotations

import datetime
import decimal

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE, evaluate
from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidDataTypeError, InvalidParameterError
from tvae.transformer.dtypes import DtypeInfo

pa = pytest.importorskip("pyarrow")

BANDS = [0, 30, 50, 70, 100]


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.integers(18, 90, n)})
    frame["band"] = pd.cut(frame["age"], BANDS)  # ordered categories of intervals
    months = pd.period_range("2020-01", periods=24, freq="M")
    frame["month"] = pd.Series(months[rng.integers(0, 24, n)])
    quarters = pd.Series(pd.period_range("2019Q1", periods=8, freq="Q")[rng.integers(0, 8, n)])
    frame["quarter"] = quarters.where(rng.random(n) > 0.1)  # NaT in a tenth of the rows
    frame["raw"] = pd.Series(rng.choice([b"\x00ab", b"cd"], n).tolist(), dtype=object)
    times = [datetime.time(int(h), 30) for h in rng.integers(6, 20, n)]
    frame["at"] = pd.Series(times, dtype=object)
    return frame


@pytest.fixture(scope="module")
def fitted():
    frame = _frame()
    return TVAE(epochs=5, random_state=0).fit(frame), frame


@pytest.mark.parametrize(
    "value",
    [
        pd.Interval(0, 30, closed="right"),
        pd.Interval(0.5, 2.25, closed="both"),
        pd.Interval(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01"), closed="left"),
        pd.Period("2024-03", freq="M"),
        pd.Period("2024Q1", freq="Q"),
        b"\x00\xffraw",
        datetime.time(13, 45, 7, 120),
        ("income", 2024),
        ("a", ("nested", 1.5)),
    ],
)
def test_values_round_trip_through_the_model_file_codec(value):
    restored = decode_value(encode_value(value))
    assert restored == value and type(restored) is type(value)


def test_each_column_comes_back_in_its_own_dtype(fitted):
    model, frame = fitted
    rows = model.sample(300, random_state=1)
    assert rows.dtypes.to_dict() == frame.dtypes.to_dict()
    assert rows["band"].cat.categories.equals(frame["band"].cat.categories)
    assert rows["band"].cat.ordered
    assert set(rows["raw"]) <= {b"\x00ab", b"cd"}
    assert all(isinstance(v, datetime.time) for v in rows["at"])
    assert model.metadata_["month"] == model.metadata_["quarter"] == "datetime"
    assert rows["quarter"].isna().any() and rows["quarter"].notna().any()
    low, high = frame["month"].min(), frame["month"].max()
    assert ((rows["month"] >= low) & (rows["month"] <= high)).all()
    assert evaluate(frame, rows).overall > 0.5  # every kind scored, none refused


def test_periods_keep_their_rates_and_take_conditions():
    frame = _frame(2000)
    model = TVAE(epochs=30, random_state=0).fit(frame)
    rows = model.sample(4000, random_state=1)
    real = frame["month"].value_counts(normalize=True)
    drawn = rows["month"].value_counts(normalize=True).reindex(real.index, fill_value=0)
    assert (real - drawn).abs().max() < 0.02  # each month near its share (about 4 %)
    march = pd.Period("2021-03", freq="M")
    assert (model.sample(20, conditions={"month": march}, random_state=2)["month"] == march).all()


def test_a_saved_model_samples_the_same_rows(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "types.tvae"
    model.save(path)
    loaded = TVAE.load(path)
    pd.testing.assert_frame_equal(
        loaded.sample(100, random_state=3), model.sample(100, random_state=3)
    )


def test_a_private_fit_asks_for_periods_as_times():
    frame = _frame()[["age", "month"]]
    with pytest.raises(InvalidParameterError, match=r"'month'.*to_timestamp"):
        TVAE(epsilon=10).fit(frame)


def test_arrow_dates_come_back_as_arrow_dates():
    days = pd.Series(pd.date_range("2024-01-01", periods=60).date).astype("date32[pyarrow]")
    frame = pd.DataFrame({"x": np.arange(60.0), "day": days})
    rows = TVAE(epochs=3, random_state=0).fit(frame).sample(50, random_state=1)
    assert rows["day"].dtype == frame["day"].dtype
    assert rows["day"].min() >= days.min() and rows["day"].max() <= days.max()


def _money(n: int = 400, seed: int = 0) -> tuple[np.ndarray, list]:
    """Prices in cents and the same as Decimals, about a tenth missing."""
    cents = np.random.default_rng(seed).integers(100, 100_000, n)
    return cents, [decimal.Decimal(int(c)) / 100 if c % 10 else None for c in cents]


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow decimal128", "Decimal objects"])
def test_decimals_are_numbers_that_come_back_as_decimals(arrow, tmp_path):
    # a Parquet decimal column: pandas reads it as Arrow decimals or as Decimal objects
    cents, prices = _money()
    dtype = pd.ArrowDtype(pa.decimal128(12, 2)) if arrow else object
    frame = pd.DataFrame({"price": pd.Series(prices, dtype=dtype), "x": cents % 7})
    model = TVAE(epochs=5, random_state=0).fit(frame)
    assert model.metadata_["price"] == "numerical"
    rows = model.sample(300, random_state=1)
    assert rows["price"].dtype == frame["price"].dtype
    present = rows["price"].dropna()
    assert all(isinstance(v, decimal.Decimal) for v in present)
    assert all(v == v.quantize(decimal.Decimal("0.01")) for v in present)  # cents, as given
    assert frame["price"].min() <= present.min() and present.max() <= frame["price"].max()
    assert 0 < rows["price"].isna().mean() < 0.3
    asked = model.sample(5, conditions={"price": decimal.Decimal("12.34")}, random_state=2)
    assert (asked["price"] == decimal.Decimal("12.34")).all()
    assert evaluate(frame, rows).column_shapes.set_index("column").loc["price", "metric"] == (
        "KSComplement"
    )  # scored as a number, as fit modelled it
    model.save(tmp_path / "money.tvae")
    again = TVAE.load(tmp_path / "money.tvae").sample(300, random_state=1)
    pd.testing.assert_frame_equal(again, rows)


def test_a_private_fit_asks_for_decimal_objects_as_numbers():
    _, prices = _money()
    frame = pd.DataFrame({"price": pd.Series(prices, dtype=object), "x": np.arange(400) % 3})
    with pytest.raises(InvalidParameterError, match=r"'price'.*astype\(float\)"):
        TVAE(epsilon=10).fit(frame)
    declared = TVAE(epochs=2, epsilon=10, random_state=0).fit(
        frame, metadata={"price": "numerical"}
    )
    assert declared.metadata_["price"] == "numerical"


def test_arrow_durations_are_durations_and_dictionaries_keep_their_type():
    rng = np.random.default_rng(0)
    seconds = pd.to_timedelta(rng.integers(60, 7200, 300), unit="s")
    labels = pa.array(rng.choice(["red", "green", "blue"], 300)).dictionary_encode()
    frame = pd.DataFrame(
        {
            "took": pd.Series(seconds, dtype=pd.ArrowDtype(pa.duration("s"))),
            "colour": pd.Series(labels, dtype=pd.ArrowDtype(labels.type)),
        }
    )
    model = TVAE(epochs=3, random_state=0).fit(frame)
    assert model.metadata_["took"] == "numerical"  # a duration, not 300 labels
    rows = model.sample(200, random_state=1)
    assert rows.dtypes.to_dict() == frame.dtypes.to_dict()
    assert rows["took"].nunique() > 50  # drawn, not copied from a list of labels
    assert frame["took"].min() <= rows["took"].min() <= rows["took"].max() <= frame["took"].max()
    assert set(rows["colour"]) <= {"red", "green", "blue"}


@pytest.mark.parametrize(
    "arrow_type, cells",
    [(pa.list_(pa.int64()), [[1, 2]]), (pa.struct([("k", pa.int64())]), [{"k": 1}])],
    ids=["list", "struct"],
)
def test_nested_arrow_columns_are_refused_by_name(arrow_type, cells):
    frame = pd.DataFrame({"x": np.arange(30.0)})
    frame["nested"] = pd.Series(cells * 30, dtype=pd.ArrowDtype(arrow_type))
    with pytest.raises(InvalidDataTypeError, match=r"'nested'.*flatten"):
        TVAE(epochs=1).fit(frame)


def test_tuple_labels_stay_one_level(tmp_path):
    # what DataFrame.columns.to_flat_index() gives: one label per column, each a tuple
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "k": rng.choice(["p", "q"], 200)})
    frame.columns = pd.Index([("income", 2024), ("group", "")], tupleize_cols=False)
    model = TVAE(epochs=2, random_state=0).fit(frame)
    rows = model.sample(20, random_state=1)
    assert not isinstance(rows.columns, pd.MultiIndex)
    assert list(rows.columns) == list(frame.columns)
    asked = model.sample(5, conditions={("group", ""): "q"}, random_state=2)
    assert list(asked.columns) == list(frame.columns) and (asked[("group", "")] == "q").all()
    model.save(tmp_path / "tuples.tvae")
    pd.testing.assert_frame_equal(
        TVAE.load(tmp_path / "tuples.tvae").sample(20, random_state=1), rows
    )


def test_a_model_saved_with_pandas_3_text_samples_missing_labels_on_pandas_2():
    """pandas 3 names its text dtype "str", which pandas 2 reads as numpy's fixed-width text;
    casting to it wrote a missing label as the text "nan" (titanic's embarked, fitted on
    pandas 3, sampled on pandas 2.3), and the labels it determines were then drawn."""
    rng = np.random.default_rng(0)
    port = rng.choice(["S", "C", "Q", None], 300, p=[0.6, 0.2, 0.1, 0.1])
    frame = pd.DataFrame({"port": port, "fare": rng.gamma(2.0, 10.0, 300).round(2)})
    fitted = TVAE(epochs=2, random_state=0).fit(frame)
    column = next(c for c in fitted.transformer_.columns if c.name == "port")
    column.dtype = DtypeInfo(np.dtype(str).str)  # what pandas 2 makes of the name "str"
    rows = fitted.sample(500, random_state=1)["port"]
    assert rows.isna().any() and set(rows.dropna()) <= {"S", "C", "Q"}
