"""Quantile maps: drawn numbers carried onto the real column's values by their rank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import InvalidParameterError, InvalidParameterTypeError
from tvae.refiner import MIN_ROWS
from tvae.transformer.quantile_map import ROWS_PER_KNOT, QuantileMap, real_knots


def _heaped(n_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Whole hours 1-99 where every multiple of 5 is three times as common as its neighbours:
    heaps too small and too many to be point masses or spikes (42 % of the rows in all)."""
    hours = np.arange(1, 100)
    weights = np.where(hours % 5 == 0, 3.0, 1.0)
    return rng.choice(hours, n_rows, p=weights / weights.sum()).astype(float)


def test_a_map_gives_smooth_draws_the_real_heaps_and_keeps_their_order():
    rng = np.random.default_rng(0)
    real = _heaped(20_000, rng)
    drawn = rng.normal(50, 20, 20_000)  # a smooth model of the same column, shifted in shape
    mapping = QuantileMap.fit(drawn, real)
    fresh = rng.normal(50, 20, 20_000)
    mapped = np.round(mapping(fresh))
    assert np.all(np.diff(mapping(np.sort(fresh))) >= 0)  # monotone: ranks kept
    for value in (5.0, 50.0, 95.0, 51.0):
        assert abs(np.mean(mapped == value) - np.mean(real == value)) < 0.004
    assert abs(np.mean(mapped % 5 == 0) - np.mean(real % 5 == 0)) < 0.01


def test_rare_real_values_are_interpolated_not_copied():
    rng = np.random.default_rng(1)
    real = rng.lognormal(10, 1, 2_000)  # every value distinct
    _, values = real_knots(real)
    assert len(values) <= 2_000 // ROWS_PER_KNOT + 5
    mapped = QuantileMap.fit(rng.normal(size=5_000), real)(rng.normal(size=5_000))
    assert np.isin(mapped, real).mean() < 0.05


def test_a_value_many_rows_hold_is_a_plateau():
    values = np.r_[np.arange(100.0), np.full(50, 40.0)]
    ranks, knots = real_knots(values)
    at_40 = ranks[knots == 40.0]
    assert at_40.max() - at_40.min() >= 50 / len(values) - 1e-9
    assert np.all(np.diff(ranks) >= 0) and np.all(np.diff(knots) >= 0)


def _heaped_table(n_rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = _heaped(n_rows, rng)
    pay = 10 * hours + rng.normal(0, 50, n_rows)
    return pd.DataFrame({"hours": hours.astype(int), "pay": pay.round(2)})


def _multiples_of_five(frame: pd.DataFrame) -> float:
    return float((frame["hours"] % 5 == 0).mean())


def test_a_default_fit_brings_the_heaps_back_and_no_map_does_not():
    table = _heaped_table(MIN_ROWS, 0)
    mapped = TVAE(epochs=3, random_state=0).fit(table)
    assert mapped.training_summary_["quantile_maps"] == ["hours", "pay"]
    share = _multiples_of_five(table)
    assert abs(_multiples_of_five(mapped.sample(5_000, random_state=1)) - share) < 0.04
    plain = TVAE(epochs=3, random_state=0, quantile_map=False).fit(table)
    assert "quantile_maps" not in plain.training_summary_
    assert share - _multiples_of_five(plain.sample(5_000, random_state=1)) > 0.1


def test_a_saved_model_keeps_its_maps_and_conditions_hold(tmp_path):
    table = _heaped_table(600, 1)
    model = TVAE(epochs=2, random_state=0, quantile_map=True).fit(table)
    assert model.training_summary_["quantile_maps"] == ["hours", "pay"]
    path = tmp_path / "model.tvae"
    model.save(path)
    loaded = TVAE.load(path)
    pd.testing.assert_frame_equal(
        loaded.sample(300, random_state=3), model.sample(300, random_state=3)
    )
    rows = loaded.sample(100, conditions={"hours": (20, 30)}, random_state=4)
    assert rows["hours"].between(20, 30).all()


@pytest.mark.parametrize("params", [{}, {"quantile_map": False}, {"decoding": "argmax"}])
def test_no_map_on_few_rows_when_turned_off_or_with_argmax_decoding(params):
    big = params != {}
    table = _heaped_table(MIN_ROWS if big else 600, 2)
    model = TVAE(epochs=1, random_state=0, **params).fit(table)
    assert "quantile_maps" not in model.training_summary_
    assert all(getattr(c, "quantile_map", None) is None for c in model.transformer_.columns)


def test_quantile_map_is_checked_before_any_work():
    table = _heaped_table(100, 3)
    with pytest.raises(InvalidParameterTypeError, match="quantile_map"):
        TVAE(quantile_map="always").fit(table)
    with pytest.raises(InvalidParameterError, match="quantile_map=True"):
        TVAE(quantile_map=True, epsilon=1.0).fit(table)


def test_values_off_any_grid_come_back_exactly():
    """Income read from float32 (1.79999995231628 for 1.8): no grid to round to, so a mapped
    value must come back as the real value itself, not as its float32 scalar decodes it."""
    rng = np.random.default_rng(4)
    repeated = np.float32(np.arange(1.1, 4.0, 0.15)).astype(np.float64)  # 20 values, 3 % each
    n_rows = MIN_ROWS
    income = np.where(
        rng.random(n_rows) < 0.6, rng.choice(repeated, n_rows), rng.uniform(0.5, 5.0, n_rows)
    )
    table = pd.DataFrame({"income": income, "size": rng.integers(1, 6, n_rows)})
    model = TVAE(epochs=3, random_state=0).fit(table)
    assert model.transformer_.columns[0].decimals is None
    rows = model.sample(5_000, random_state=1)
    exact = np.isin(rows["income"].to_numpy(), repeated).mean()
    assert abs(exact - np.isin(income, repeated).mean()) < 0.05


def test_a_heavy_tail_keeps_its_small_values():
    """Bytes sent: 0 in 30 % of rows, else log-normal over six orders of magnitude. A mapped
    value is snapped onto a real one only within its scalar's rounding: a tolerance read off
    the column's range (millions wide) would pull every small value onto the nearest heap."""
    rng = np.random.default_rng(5)
    n_rows = MIN_ROWS
    sent = np.where(rng.random(n_rows) < 0.3, 0, np.round(rng.lognormal(6, 3, n_rows)))
    table = pd.DataFrame({"sent": sent.astype(int), "kind": rng.choice(["a", "b"], n_rows)})
    model = TVAE(epochs=3, random_state=0).fit(table)
    assert "sent" in model.training_summary_["quantile_maps"]
    rows = model.sample(5_000, random_state=1)["sent"].to_numpy()
    for low, high in [(0, 0), (1, 100), (101, 10_000), (10_001, 10**12)]:
        real_share = np.mean((sent >= low) & (sent <= high))
        assert abs(np.mean((rows >= low) & (rows <= high)) - real_share) < 0.04, (low, high)


def test_mapped_rows_are_the_same_in_chunks_and_under_conditions():
    table = _heaped_table(MIN_ROWS, 6)
    model = TVAE(epochs=1, random_state=0).fit(table)
    assert model.training_summary_["quantile_maps"]
    whole = model.sample(9_000, random_state=3)
    chunks = pd.concat(list(model.sample_chunks(9_000, 2_000, random_state=3)), ignore_index=True)
    pd.testing.assert_frame_equal(whole, chunks)
    assert (model.sample(200, conditions={"hours": 45}, random_state=2)["hours"] == 45).all()
