"""Rounding generated values to the grid nearly every real value sits on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvae import TVAE
from tvae.transformer.datetime import DatetimeColumn
from tvae.transformer.dtypes import DtypeInfo
from tvae.transformer.granularity import coarsest_level, observed_decimals, observed_step_ns
from tvae.transformer.numerical import NumericalColumn


def _pressure(n: int = 4000, seed: int = 0) -> np.ndarray:
    """Whole numbers in a float column, but for a few interpolated values (beijing's PRES)."""
    values = np.random.default_rng(seed).normal(1016, 10, n).round()
    values[:3] = [1003.666667, 1029.333333, 1019.5]
    values[3] = values.min() - 0.333333  # the lowest value is one of the finer ones
    return values


def test_decimals_hold_all_but_one_percent_of_the_values():
    assert observed_decimals(_pressure()) == 0
    # 2 % need one decimal: too many to round away
    values = np.r_[np.arange(98.0), 0.5, 1.5]
    assert observed_decimals(values) == 1
    assert observed_decimals(np.array([0.1 + 0.2, 0.7, 1.25])) == 2  # float noise forgiven
    assert observed_decimals(np.random.default_rng(0).random(500)) is None  # finer than 8
    assert observed_decimals(np.array([np.nan, 3.0])) == 0


def test_noisy_level_counts_pick_the_same_level():
    # the private fit passes a released histogram: negative noisy counts count as zero
    assert coarsest_level(np.array([990.0, 6.0, -3.0, 2.5])) == 0
    assert coarsest_level(np.array([900.0, 80.0, 20.0, -1.0])) == 2


def test_decoded_numbers_stay_on_the_grid_and_in_range():
    values = _pressure()
    column = NumericalColumn.fit(
        "PRES", DtypeInfo("float64"), values, values, seed=0, max_clusters=10,
        weight_threshold=0.005,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    modes = rng.integers(0, column.normalizer.n_modes, (5000, 1))
    decoded = column.inverse_numbers(rng.uniform(-1, 1, (5000, 1)), modes)
    assert (decoded == np.round(decoded)).all()
    # the range ends move inward onto the grid: the off-grid minimum is not crossed
    assert decoded.min() >= np.ceil(values.min()) and decoded.max() <= values.max()


def test_fitted_model_samples_whole_numbers_where_nearly_all_real_ones_are():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"PRES": _pressure(600), "wind": rng.choice(["NE", "SE", "cv"], 600)})
    model = TVAE(epochs=2, batch_size=200, random_state=0).fit(frame, ["wind"])
    pressure = model.sample(500)["PRES"]
    assert pressure.dtype == np.float64
    assert (pressure == pressure.round()).all()


def test_times_round_to_the_step_nearly_all_real_times_sit_on():
    days = pd.Series(pd.date_range("2021-03-01", periods=400, freq="D"))
    days.iloc[0] = pd.Timestamp("2021-02-28 13:45:10")  # one stray time of day, the earliest
    ns = days.to_numpy().astype("datetime64[ns]").view(np.int64)
    assert observed_step_ns(ns) == 86_400 * 10**9
    column = DatetimeColumn.fit(
        "day", DtypeInfo.of(days), days, days, seed=0, max_clusters=10, weight_threshold=0.005
    )
    rng = np.random.default_rng(0)
    modes = rng.integers(0, column.numbers.normalizer.n_modes, (2000, 1))
    decoded = column.inverse(rng.uniform(-1, 1, (2000, 1)), modes)
    assert (decoded == decoded.dt.normalize()).all()  # midnight, every one
    assert decoded.min() >= pd.Timestamp("2021-03-01") and decoded.max() <= days.max()
