"""A duration column: ``timedelta64`` values (a trip's time, a stay's length), a number of kind
"numerical" with a unit of time; or durations held as Python ``timedelta`` objects or as text,
in pandas' form (``0 days 02:30:00``, what ``to_csv`` writes) or ISO 8601 (``P0DT2H30M0S``),
which come back as such (:func:`tvae.kinds.duration_style`).

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

from tvae.kinds import duration_style, is_timedelta_dtype
from tvae.transformer.columns import Draws
from tvae.transformer.dtypes import DtypeInfo
from tvae.transformer.granularity import NS, grid_range_ns, observed_step_ns
from tvae.transformer.missing import decode_marker, encode_marker, missing_marker, put_missing
from tvae.transformer.numerical import NumericalColumn


def duration_nanoseconds(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A duration column as exact int64 nanoseconds (N,), and where it is present (N,) bool."""
    if not is_timedelta_dtype(series.dtype):  # text or objects; "" is missing
        series = series.where(series.astype(str).str.strip() != "", None).astype(object)
    spans = pd.to_timedelta(series)
    return spans.to_numpy(dtype="timedelta64[ns]").view(np.int64), spans.notna().to_numpy()


def duration_seconds(series: pd.Series) -> np.ndarray:
    """A duration column as float seconds (N,), NaN where missing."""
    ns, present = duration_nanoseconds(series)
    return np.where(present, ns / NS, np.nan)


@dataclass
class DurationColumn:
    """Durations as a numerical column of seconds, restored to the input's unit."""

    name: Any
    dtype: DtypeInfo
    numbers: NumericalColumn
    step_ns: int = 1
    low_ns: int = 0  # the real range, exactly
    high_ns: int = 0
    style: str | None = None  # None: timedelta64; "python", "pandas" or "iso" (see the module)
    marker: Any = None  # the missing value of an object or text column
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
        ns, present = duration_nanoseconds(series)
        seconds = np.where(present, ns / NS, np.nan)
        ns = ns[present]
        step = observed_step_ns(ns) if len(ns) else 1
        fitted = seconds if sample is series else duration_seconds(sample)
        numbers = NumericalColumn.fit(
            name, DtypeInfo("float64"), seconds, fitted, seed, grid_step=step / NS, **options
        )
        low, high = (int(ns.min()), int(ns.max())) if len(ns) else (0, 0)
        style = duration_style(series)
        marker = missing_marker(series) if style is not None else None
        return cls(name, dtype, numbers, int(step), low, high, style, marker)

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
        series = pd.Series(spans, name=self.name)
        if self.style is None:
            return series.astype(self.dtype.pandas_dtype())
        if self.style == "python":
            micros = spans.astype("timedelta64[us]").astype(object)  # datetime.timedelta
            values = pd.Series(micros, name=self.name, dtype=object)
            return put_missing(values, missing, self.marker)
        if self.style == "iso":
            text = pd.Series([span.isoformat() for span in series], name=self.name, dtype=object)
        else:  # pandas' form, as to_csv writes it
            text = series.astype(str).astype(object)
        text = put_missing(text, missing, self.marker)
        return self.dtype.restore_labels(text.to_numpy(), self.name)

    def get_state(self) -> dict:
        return {
            "numbers": self.numbers.get_state(),
            "step_ns": self.step_ns,
            "low_ns": self.low_ns,
            "high_ns": self.high_ns,
            "style": self.style,
            "marker": encode_marker(self.marker),
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
            state.get("style"),
            decode_marker(state.get("marker")),
        )
