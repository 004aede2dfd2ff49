"""What conditional sampling needs from each column kind: the per-kind hook.

A *numeric* kind is encoded as a tanh alpha plus a mode softmax (plus, optionally, a 2-wide
"is missing" softmax) by a :class:`~tvae.transformer.continuous.ModeNormalizer`; its
:class:`NumericView` says how condition values become numbers and how numbers become the column's
values again. A *categorical* kind is one softmax span whose slots decode to known values.
New kinds plug in by adding a factory to :data:`NUMERIC_KINDS` or :data:`CATEGORY_KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype

from tvae.transformer.duration import duration_seconds

Fix = Callable[[np.ndarray], np.ndarray]  # sets equalities and clips ranges on decoded numbers


@dataclass(frozen=True)
class NumericView:
    """A numeric-like column seen as numbers.

    ``step`` is the grid decoded numbers are rounded to (0: none), ``low``/``high`` the range
    decoded numbers are clipped to, and ``finish(alphas, codes, fix)`` decodes the column's own
    slices of alphas (N, 1) and codes (N, 1 or 2) into its values after applying ``fix``.
    """

    normalizer: Any
    to_numbers: Callable[[pd.Series], np.ndarray]  # condition values -> float64 (NaN: none)
    finish: Callable[[np.ndarray, np.ndarray, Fix], pd.Series]
    step: float = 0.0
    low: float = -np.inf
    high: float = np.inf

    def reach(self) -> tuple[float, float]:
        """The range of numbers the model decodes: its modes' reach, within the clip range."""
        reach_low, reach_high = self.normalizer.value_range()
        return max(reach_low, self.low), min(reach_high, self.high)

    def snap(self, numbers: np.ndarray, up: bool) -> np.ndarray:
        """Round numbers to the grid (up or down); unchanged when there is no grid."""
        if not self.step:
            return numbers
        scaled = np.round(numbers / self.step, 9)  # forgive float noise such as 0.07 / 0.01
        snapped = (np.ceil(scaled) if up else np.floor(scaled)) * self.step
        decimals = max(0, -int(np.floor(np.log10(self.step))))
        return np.round(snapped, decimals) if self.step < 1 else snapped


def _numbers(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="raise")
    return pd.Series(numbers, dtype="float64").to_numpy(na_value=np.nan)


def _continuous(column: Any) -> NumericView:
    integer = is_integer_dtype(column.dtype.pandas_dtype())

    def finish(alphas: np.ndarray, codes: np.ndarray, fix: Fix) -> pd.Series:
        numbers = column.normalizer.inverse(alphas[:, 0], codes[:, 0])
        return column.dtype.restore_numbers(fix(numbers), column.name)

    return NumericView(column.normalizer, _numbers, finish, step=1.0 if integer else 0.0)


def _numerical(column: Any) -> NumericView:
    def finish(alphas: np.ndarray, codes: np.ndarray, fix: Fix) -> pd.Series:
        return column.dtype.restore_numbers(fix(column.inverse_numbers(alphas, codes)), column.name)

    step = 10.0**-column.decimals if column.decimals is not None else 0.0
    low, high = (-np.inf, np.inf)
    if column.clip:  # the real range, or its ends on the grid where float noise put them out
        grid_low, grid_high = column.grid_bounds()  # (fgl's RI: -6.85 for -6.84999999999991)
        low, high = min(column.low, grid_low), max(column.high, grid_high)
    return NumericView(column.normalizer, _numbers, finish, step, low, high)


def _datetime(column: Any) -> NumericView:
    numbers = column.numbers

    def to_numbers(values: pd.Series) -> np.ndarray:
        values = pd.Series(values, dtype=object)
        try:
            return column._seconds(values, column.string_format)
        except (TypeError, ValueError):
            return column._seconds(pd.Series(pd.to_datetime(values)), None)

    def finish(alphas: np.ndarray, codes: np.ndarray, fix: Fix) -> pd.Series:
        seconds = fix(numbers.inverse_numbers(alphas, codes))
        present = ~np.isnan(seconds)
        alphas, codes = alphas.astype(np.float64).copy(), codes.copy()
        alpha, mode = numbers.normalizer.reencode(seconds[present], codes[present, 0])
        alphas[present, 0], codes[present, 0] = alpha, mode
        return column.inverse(alphas, codes)

    low, high = (numbers.low, numbers.high) if numbers.clip else (-np.inf, np.inf)
    return NumericView(numbers.normalizer, to_numbers, finish, column.step_ns / 1e9, low, high)


def _duration(column: Any) -> NumericView:
    """A duration column (:mod:`tvae.transformer.duration`) seen as seconds; conditions give
    durations (``pd.Timedelta("2h")``, ``"2 hours"``)."""
    numbers = column.numbers

    def to_numbers(values: pd.Series) -> np.ndarray:
        return duration_seconds(pd.Series(values, dtype=object))

    def finish(alphas: np.ndarray, codes: np.ndarray, fix: Fix) -> pd.Series:
        return column.restore_seconds(fix(numbers.inverse_numbers(alphas, codes)))

    low, high = (column.low_ns / 1e9, column.high_ns / 1e9) if numbers.clip else (-np.inf, np.inf)
    return NumericView(numbers.normalizer, to_numbers, finish, column.step_ns / 1e9, low, high)


def _offset(column: Any) -> NumericView:
    """An offset column (:mod:`tvae.transformer.offsets`) seen as its difference from its base:
    conditions reach it as differences (:mod:`tvae.conditional.offsets`), and it decodes to
    them, the base added afterwards."""
    difference = column.difference

    def finish(alphas: np.ndarray, codes: np.ndarray, fix: Fix) -> pd.Series:
        return pd.Series(fix(difference.inverse_numbers(alphas, codes)), name=column.name)

    step = 10.0**-difference.decimals if difference.decimals is not None else 0.0
    if hasattr(column.target, "step_ns"):  # a datetime's or a duration's step, in seconds
        step = column.target.step_ns / 1e9
    return NumericView(
        difference.normalizer, _numbers, finish, step, difference.low, difference.high
    )


# Kind -> NumericView factory, for kinds encoded as (tanh alpha, mode softmax[, missing flag]).
NUMERIC_KINDS: dict[str, Callable[[Any], NumericView]] = {
    "continuous": _continuous,
    "numerical": _numerical,
    "datetime": _datetime,
    "duration": _duration,
    "offset": _offset,
}


@dataclass(frozen=True)
class CategorySlots:
    """The values each slot of a categorical span decodes to; the last slot may be shared."""

    values: list  # value of each slot (the shared slot's entry is unused)
    shared: dict | None = None  # value -> share of the shared (last) slot, e.g. rare values


def _categorical(column: Any) -> CategorySlots:
    encoder = column.encoder
    values = list(encoder.categories)
    if encoder.missing_index is not None:
        values[encoder.missing_index] = encoder.missing_value
    return CategorySlots(values)


def _boolean(column: Any) -> CategorySlots:
    return CategorySlots([False, True, column.marker] if column.has_missing else [False, True])


def _wide(column: Any) -> CategorySlots:
    total = float(sum(column.rare_counts)) or 1.0
    shares = {v: c / total for v, c in zip(column.rare_values, column.rare_counts, strict=True)}
    return CategorySlots([*_categorical(column).values, None], shares)


# Kind -> CategorySlots factory, for kinds encoded as one softmax span.
CATEGORY_KINDS: dict[str, Callable[[Any], CategorySlots]] = {
    "categorical": _categorical,
    "boolean": _boolean,
    "wide_categorical": _wide,
}

# Kinds with no span (regenerated, not learned): requested values are written as given.
FIXED_KINDS = ("id",)
