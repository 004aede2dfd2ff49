"""Dates as a cut's source (:mod:`tvae.transformer.cuts`): a period label from a date.

A date cut into periods ("2019Q1", "before" and "after" a change) is a cut like a number's,
read on the date's time line (naive datetimes, or dates written as text in one format, as
nanoseconds). Its edges are the calendar's round boundaries: between two runs, the start of a
year, else of a month, a day, an hour, a minute or a second in the gap, nearest its middle."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvae.transformer.date_parts import as_dates, time_zone

BOUNDARIES = ("YS", "MS", "D", "h", "min", "s")  # the roundest first


def date_values(series: pd.Series, text_format: str | None) -> np.ndarray:
    """Nanoseconds since the epoch (N,) as floats, NaN where missing or not a date."""
    dates = as_dates(series, text_format)
    if time_zone(dates) is not None:
        dates = dates.dt.tz_localize(None)
    stamps = dates.to_numpy(dtype="datetime64[ns]")
    return np.where(np.isnat(stamps), np.nan, stamps.view(np.int64).astype(np.float64))


def naive_dates(series: pd.Series) -> bool:
    """Whether a datetime column can be a cut's source: no time zone (a zone's wall time
    jumps twice a year)."""
    return time_zone(series) is None


def date_edge_between(below: float, above: float) -> float:
    """The roundest calendar boundary in ``(below, above]`` (nanoseconds), nearest the middle."""
    low, high = pd.Timestamp(int(below)), pd.Timestamp(int(above))
    middle = low + (high - low) / 2
    for freq in BOUNDARIES:
        found = pd.date_range(low.floor("D") if freq in ("YS", "MS") else low.floor(freq),
                              high, freq=freq)  # fmt: skip
        found = found[(found > low) & (found <= high)]
        if len(found):
            nearest = found[np.argmin(np.abs((found - middle).total_seconds()))]
            return float(nearest.value)
    return float(above)


def as_stamp(value: float) -> pd.Timestamp:
    return pd.Timestamp(int(value))
