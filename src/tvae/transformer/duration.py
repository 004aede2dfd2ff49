"""A duration column: ``timedelta64`` values (a trip's time, a stay's length), a number of kind
"numerical" with a unit of time.

Durations become float seconds and are modelled as a :class:`NumericalColumn` (missing NaT cells
get the missing flag, frequent durations are point masses). Generated durations are rounded to
the coarsest step all but 1 % of the real ones sit on (whole days, hours, minutes, seconds...;
see :mod:`tvae.transformer.granularity`), clipped to the real range and restored to the input's
``timedelta64`` unit. Until December 2026 such a column was refused with a request to convert
it to numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tvae.transformer.columns import Draws
from tvae.transformer.dtypes import DtypeInfo
from tvae.transformer.granularity import NS, grid_range_ns, observed_step_ns
from tvae.transformer.numerical import NumericalColumn


def duration_seconds(series: pd.Series) -> np.ndarray:
    """A duration column as float seconds (N,), NaN where missing."""
    spans = pd.to_timedelta(series)
    ns = spans.to_numpy(dtype="timedelta64[ns]").view(np.int64).astype(np.float64)
    return np.where(spans.isna().to_numpy(), np.nan, ns / NS)


@dataclass
class DurationColumn:
    """Durations as a numerical column of seconds, restored to the input's unit."""

    name: Any
    dtype: DtypeInfo
    numbers: NumericalColumn
    step_ns: int = 1
    low_ns: int = 0  # the real range, exactly
    high_ns: int = 0
    kind: ClassVar[str] = "duration"

    @classmethod
    def fit(
        cls,
        name: Any,
        dtype: DtypeInfo,
        series: pd.Series,
        sample: pd.Series,
        seed: int,
        **options: Any,
    ) -> DurationColumn:
        spans = pd.to_timedelta(series)
        present = spans.notna().to_numpy()
        ns = spans.to_numpy(dtype="timedelta64[ns]").view(np.int64)[present]
        step = observed_step_ns(ns) if len(ns) else 1
        seconds = duration_seconds(series)
        fitted = seconds if sample is series else duration_seconds(sample)
        numbers = NumericalColumn.fit(
            name, DtypeInfo("float64"), seconds, fitted, seed, grid_step=step / NS, **options
        )
        low, high = (int(ns.min()), int(ns.max())) if len(ns) else (0, 0)
        return cls(name, dtype, numbers, int(step), low, high)

    @property
    def spans(self) -> list[tuple]:
        return self.numbers.spans

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.numbers.transform_numbers(duration_seconds(values), rng)

    def inverse(
        self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None
    ) -> pd.Series:
        return self.restore_seconds(self.numbers.inverse_numbers(alphas, codes))

    def restore_seconds(self, seconds: np.ndarray) -> pd.Series:
        """Seconds (N,) float64, NaN for missing, as the column's durations: rounded to its
        step, clipped to its real range (in integer nanoseconds), in its unit."""
        missing = np.isnan(seconds)
        ns = np.round(np.where(missing, 0.0, seconds) * NS / self.step_ns) * self.step_ns
        ns = ns.astype(np.int64)
        if self.numbers.clip:
            ns = np.clip(ns, *grid_range_ns(self.low_ns, self.high_ns, self.step_ns))
        spans = ns.view("timedelta64[ns]").copy()
        spans[missing] = np.timedelta64("NaT", "ns")
        return pd.Series(spans, name=self.name).astype(self.dtype.pandas_dtype())

    def get_state(self) -> dict:
        return {
            "numbers": self.numbers.get_state(),
            "step_ns": self.step_ns,
            "low_ns": self.low_ns,
            "high_ns": self.high_ns,
        }

    @classmethod
    def from_state(cls, name: Any, dtype: DtypeInfo, state: dict) -> DurationColumn:
        return cls(
            name,
            dtype,
            NumericalColumn.from_state(name, DtypeInfo("float64"), state["numbers"]),
            int(state["step_ns"]),
            int(state["low_ns"]),
            int(state["high_ns"]),
        )
