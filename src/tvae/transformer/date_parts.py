"""Columns that are a calendar part of a date: the year, month, weekday or hour of a timestamp.

Tables that hold a date often hold its parts beside it, computed for a report or a model: an
order date with its year, quarter and month, a timestamp with its hour and day name. Modelled
on their own, the parts are drawn apart from the date, and sampled rows break them (a table of
three years of orders: the year agreed with the date in a third of the rows, the quarter label
in a tenth). A determination keeps such a pair only when the date repeats, and a cut only when
the part rises with the date (a year, not a month).

``fit`` finds them (:func:`find_date_parts`): a datetime source and a column (a number or a
label) equal to one of :data:`PARTS` of it in every real row where the date is present, with
the column present there too, in ``MIN_ROWS`` rows or more, and two values or more. Sampled rows
get the part from the date, in the column's dtype; a conditioned part stays, and its free
date moves to the nearest date that has it (:mod:`tvae.transformer.date_moves`). Parts are
listed with the dependencies (``{"type": "date_part", "source": A, "target": B, "part":
"year"}``), declared or switched off the same way; a declared one is public (a formula), so
it is kept under ``epsilon`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.datetime import arrow_dates, date_format
from tvae.transformer.dependency_search import MIN_ROWS
from tvae.transformer.determination import check_derived

MAX_VALUES = 400  # a column of more values is not searched as a part (a day of the year: 366)
SCREEN_ROWS = 256  # every pair is first tried on this many rows (spread out), then on all
TARGET_KINDS = ("categorical", "boolean", "numerical")

PARTS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "year": lambda d: d.dt.year,
    "quarter": lambda d: d.dt.quarter,
    "month": lambda d: d.dt.month,
    "day": lambda d: d.dt.day,
    "weekday": lambda d: d.dt.day_of_week,  # Monday 0
    "dayofyear": lambda d: d.dt.day_of_year,
    "week": lambda d: d.dt.isocalendar().week.astype("int64"),  # ISO week
    "hour": lambda d: d.dt.hour,
    "minute": lambda d: d.dt.minute,
    "month_name": lambda d: d.dt.month_name(),
    "month_abbr": lambda d: d.dt.month_name().str[:3],
    "day_name": lambda d: d.dt.day_name(),
    "day_abbr": lambda d: d.dt.day_name().str[:3],
}
NAMES = {"month_name", "month_abbr", "day_name", "day_abbr"}


@dataclass(frozen=True)
class DatePart:
    """``target`` = ``PARTS[part](source)`` in every row where ``source`` is present;
    ``date_format``: the source's strftime format where it holds dates as text."""

    source: Hashable
    target: Hashable
    part: str
    date_format: str | None = None

    def describe(self) -> dict:
        return {"type": "date_part", "source": self.source, "target": self.target,
                "part": self.part}  # fmt: skip

    def get_state(self) -> dict:
        return {
            "source": encode_value(self.source),
            "target": encode_value(self.target),
            "part": self.part,
            "date_format": self.date_format,
        }

    @classmethod
    def from_state(cls, state: Mapping) -> DatePart:
        return cls(
            decode_value(state["source"]), decode_value(state["target"]), state["part"],
            state.get("date_format"),
        )  # fmt: skip


def as_dates(series: pd.Series, text_format: str | None) -> pd.Series:
    """The column as datetimes (NaT where missing or unreadable), in its own time zone."""
    if arrow_dates(series):  # Arrow date32 / date64: no clock
        return series.astype("datetime64[ms]")
    if is_datetime64_any_dtype(series.dtype):
        return series
    if isinstance(series.dtype, pd.PeriodDtype):
        return series.dt.start_time
    present = series.where(series.notna())
    if text_format is not None:
        return pd.to_datetime(present.astype(object), format=text_format, errors="coerce")
    return pd.to_datetime(present, errors="coerce", format="mixed")


def time_zone(series: pd.Series) -> object:
    """The column's time zone, None where its times are naive (or it holds no times)."""
    arrow = getattr(series.dtype, "pyarrow_dtype", None)
    return getattr(arrow if arrow is not None else series.dtype, "tz", None)


def matches(part: str, values: pd.Series, target: pd.Series) -> np.ndarray:
    """Where ``target`` (a column's cells) equals the part's ``values`` (N,) bool."""
    if part in NAMES:
        return target.astype(object).astype(str).to_numpy() == values.to_numpy(dtype=object)
    numbers = pd.to_numeric(target, errors="coerce").to_numpy(dtype=np.float64)
    return numbers == values.to_numpy(dtype=np.float64)


def find_date_parts(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], skip: Iterable[Hashable] = ()
) -> list[DatePart]:
    """Every (date, column) pair where the column is a part of the date (see the module);
    each target with one source and part (the first found)."""
    skip = set(skip)
    sources = [c for c in frame.columns if kinds.get(c) == "datetime" and c not in skip]
    targets = [
        c
        for c in frame.columns
        if kinds.get(c) in TARGET_KINDS and c not in skip and 2 <= frame[c].nunique() <= MAX_VALUES
    ]
    if not sources or not targets:
        return []
    rows = np.unique(np.linspace(0, len(frame) - 1, SCREEN_ROWS).astype(np.int64))
    found: dict[Hashable, DatePart] = {}
    for source in sources:
        text_format = date_format(frame[source])
        dates = as_dates(frame[source], text_format)
        present = dates.notna().to_numpy()
        if present.sum() < MIN_ROWS:
            continue
        head = dates.iloc[rows][present[rows]]
        head_parts = {part: compute(head) for part, compute in PARTS.items()}  # once a date
        for target in targets:
            cells = frame[target].iloc[rows][present[rows]]
            if target in found or not cells.notna().all():
                continue
            for part, compute in PARTS.items():
                if part not in NAMES and not is_numeric_dtype(frame[target].dtype):
                    continue
                if not matches(part, head_parts[part], cells).all():
                    continue
                every = frame[target][present]
                if every.notna().all() and matches(part, compute(dates[present]), every).all():
                    found[target] = DatePart(source, target, part, text_format)
                    break
    return list(found.values())


def parse_date_part(item: Mapping, kinds: Mapping[Hashable, str]) -> DatePart:
    """A declared ``{"type": "date_part", ...}`` between two columns of ``kinds``."""
    source, target, part = item.get("source"), item.get("target"), item.get("part")
    if part not in PARTS or source not in kinds or target not in kinds or source == target:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r} is not valid: give {{'type': 'date_part', "
            f"'source': A, 'target': B, 'part': P}} with two column names of train_data and P "
            f"one of {sorted(PARTS)}"
        )
    if kinds[source] != "datetime":
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: the source of a date part must be a datetime "
            f"column, but {source!r} is {kinds[source]}"
        )
    return DatePart(source, target, part)


def declared_date_part(frame: pd.DataFrame, item: Mapping) -> DatePart:
    """A declared date part, checked on ``frame``: the source reads as dates, and the column
    equals the part wherever the date is present."""
    column = item.get("source")
    is_date = column in frame.columns and not is_numeric_dtype(frame[column].dtype)
    parsed = parse_date_part(item, {c: "datetime" if c == column and is_date else "other"
                                    for c in frame.columns})  # fmt: skip
    text_format = date_format(frame[parsed.source])
    dates = as_dates(frame[parsed.source], text_format)
    present = dates.notna().to_numpy()
    cells = frame[parsed.target][present]
    if (present != frame[parsed.source].notna().to_numpy()).any():
        raise InvalidParameterError(
            f"metadata's date part: {parsed.source!r} holds values that are not dates"
        )
    computed = PARTS[parsed.part](dates[present])
    if not (cells.notna().all() and matches(parsed.part, computed, cells).all()):
        raise InvalidParameterError(
            f"metadata says {parsed.target!r} is the {parsed.part} of {parsed.source!r}, but "
            "train_data has rows where it is not"
        )
    return DatePart(parsed.source, parsed.target, parsed.part, text_format)


def check_date_parts(items: list[DatePart], busy: set) -> list[DatePart]:
    """Declared parts, refused where they cannot all be kept (see ``check_derived``; ``busy``:
    the columns other dependencies write, since others may read a date too)."""
    return check_derived(items, busy, "date part")


def read_stamp(value: Any, text_format: str | None) -> pd.Timestamp:
    """A date a condition gives, text read in the column's format (03/11/2020 as written)."""
    if isinstance(value, str) and text_format is not None:
        return pd.to_datetime(value, format=text_format)
    return pd.Timestamp(value)


def conflicts(item: DatePart, source: Any, target: Any) -> bool:
    """Whether a condition's date (one value) lacks the part a condition on the target asks."""
    try:
        stamp = pd.Series([read_stamp(source, item.date_format)])
    except (TypeError, ValueError):
        return False
    return not bool(matches(item.part, PARTS[item.part](stamp), pd.Series([target]))[0])
