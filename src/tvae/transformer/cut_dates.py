"""Dates as a cut's source (:mod:`tvae.transformer.cuts`): a period label from a date.

A date cut into periods ("2019Q1", "before" and "after" a change) is a cut like a number's,
read on the date's time line as nanoseconds: naive datetimes, or dates written as text in one
format (a zone's wall time jumps twice a year, so a date with one is not a source). Its edges
are the calendar's round boundaries: between two runs, the start of a year, else of a month, a
day, an hour, a minute or a second in the gap, nearest its middle."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from tvae.transformer.date_parts import as_dates, time_zone
from tvae.transformer.datetime import date_format

BOUNDARIES = ("YS", "MS", "D", "h", "min", "s")  # the roundest first


def date_values(series: pd.Series, text_format: str | None) -> np.ndarray:
    """Nanoseconds since the epoch (N,) as floats, NaN where missing or not a date."""
    dates = as_dates(series, text_format)
    if time_zone(dates) is not None:
        dates = dates.dt.tz_localize(None)
    stamps = dates.to_numpy(dtype="datetime64[ns]")
    return np.where(np.isnat(stamps), np.nan, stamps.view(np.int64).astype(np.float64))


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


def date_source(column: pd.Series) -> str | bool:
    """A date column a cut may read: its text format, True for other dates (no time zone, every
    present cell a date), False for anything else."""
    if is_numeric_dtype(column.dtype) or time_zone(column) is not None:
        return False
    text_format = date_format(column)
    values = date_values(column, text_format)
    readable = bool((~np.isnan(values) == column.notna().to_numpy()).all() and column.notna().any())
    return (text_format or True) if readable else False


def as_stamp(value: float) -> pd.Timestamp:
    return pd.Timestamp(int(value))
