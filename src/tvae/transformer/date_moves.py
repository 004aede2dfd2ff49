"""Keeping date parts (:mod:`tvae.transformer.date_parts`) in sampled rows: a free part is set
from its date; a part a condition holds stays, and its date moves to the nearest date that has
it.

A date moves part by part (the year or month replaced with the day clipped to the month, the
day moved by the fewest days to an asked weekday, ...). Where a row holds several parts of one
date and one move undoes another (a Thursday 29 February moved to the nearest Sunday lands in
March; a Friday asked on the 13th), the date is searched day by day, nearest first, for one
that has every asked part (:func:`nearest_with_parts`); the clock's parts (hour, minute) are
then set within its day. A row whose parts no date has is refused before sampling
(:func:`some_date_has`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype

from tvae.transformer.date_parts import NAMES, PARTS, DatePart, as_dates, matches, time_zone
from tvae.transformer.datetime import python_dates
from tvae.transformer.repairs import restore_column

PERIODS = {"weekday": "7D", "hour": "1D", "minute": "1h"}  # a part that recurs this often
CLOCK = ("hour", "minute")  # parts set within a day; every other part is the day's
BLOCK = 64  # days tried at once per row in the search
YEARS_SEARCHED = 29  # the weekdays of a Gregorian calendar repeat every 28 years (1901-2099)
CYCLE = pd.date_range("2000-01-01", "2027-12-31", freq="D")  # every day of one such cycle
Limits = tuple[np.ndarray, np.ndarray]  # each row's lowest and highest date (datetime64)


def keep_date_parts(
    frame: pd.DataFrame, items: Iterable[DatePart], fixed: set, ranges: Mapping | None = None
) -> None:
    """Make every part hold in ``frame`` (in place) where the date is present: the part from
    the date; a ``fixed`` part (a condition holds it) stays, and its free date moves to the
    nearest date that has it, and every other fixed part of it. A date a condition holds to a
    range (``ranges``: the column's (low, high) Timestamps, None for an open end) moves within
    it, where it can (a frame's conditions: one range, or None, per row). Dates move before
    any part is read off them: a Sunday asked in a range may move its date into June."""
    items = list(items)
    moving: dict = {}
    for item in (item for item in items if item.target in fixed):
        bounds = (ranges or {}).get(item.source)
        dates = as_dates(frame[item.source], item.date_format)
        dated = _dated(bounds)
        if item.source not in fixed or (dated and time_zone(dates) is None):
            limits = row_limits(bounds, len(frame), time_zone(dates)) if dated else None
            _move_dates(frame, item, dates, dates.notna().to_numpy(), limits)
            moving.setdefault(item.source, (limits, []))[1].append(item)
    for limits, together in moving.values():
        if len(together) > 1:
            _settle_together(frame, together, limits)
    for item in (item for item in items if item.target not in fixed):
        dates = as_dates(frame[item.source], item.date_format)
        present = dates.notna().to_numpy()
        values = frame[item.target].to_numpy(dtype=object, copy=True)
        values[present] = PARTS[item.part](dates[present]).to_numpy(dtype=object)
        restore_column(frame, item.target, values)


def _move_dates(
    frame: pd.DataFrame, item: DatePart, dates: pd.Series, present: np.ndarray,
    limits: Limits | None = None,
) -> None:  # fmt: skip
    """The dates whose part is not the row's (fixed) target, moved to the nearest that has
    it (within each row's ``limits``, a period away where the nearest leaves them, else not
    moved); written back in the column's own type."""
    wanted = frame[item.target][present]
    wrong = ~matches(item.part, PARTS[item.part](dates[present]), wanted)
    if not wrong.any():
        return
    rows = np.flatnonzero(present)[wrong]
    moved = with_part(dates.iloc[rows], item.part, wanted.iloc[np.flatnonzero(wrong)])
    if limits is not None:
        moved, inside = _within(moved, item.part, (limits[0][rows], limits[1][rows]))
        rows, moved = rows[inside], moved[inside]
    _write_dates(frame, item, dates, rows, moved)


def _settle_together(frame: pd.DataFrame, items: list[DatePart], limits: Limits | None) -> None:
    """Rows of one date whose fixed parts (``items``, two or more) do not all hold after each
    part's own move: the nearest date (within the row's ``limits``) that has every one."""
    first = items[0]
    dates = as_dates(frame[first.source], first.date_format)
    present = dates.notna().to_numpy()
    wanted = {item.part: frame[item.target] for item in items}
    holds = np.ones(len(frame), dtype=bool)
    for part, cells in wanted.items():
        holds[present] &= matches(part, PARTS[part](dates[present]), cells[present])
    rows = np.flatnonzero(present & ~holds)
    if not len(rows):
        return
    asked = {part: cells.iloc[rows].reset_index(drop=True) for part, cells in wanted.items()}
    within = None if limits is None else (limits[0][rows], limits[1][rows])
    moved, found = nearest_with_parts(dates.iloc[rows].reset_index(drop=True), asked, within)
    moved.index = dates.index[rows]
    _write_dates(frame, first, dates, rows[found], moved[found])


def _write_dates(
    frame: pd.DataFrame, item: DatePart, dates: pd.Series, rows: np.ndarray, moved: pd.Series
) -> None:
    """``moved`` (the dates of ``rows``) written into ``item.source`` in the column's own type:
    numpy or Arrow datetimes, text in its format, Python date objects."""
    if not len(rows):
        return
    column = frame[item.source]
    if is_datetime64_any_dtype(column.dtype):  # numpy or Arrow, a zone or none
        values = dates.copy()
        try:
            values.iloc[rows] = moved.to_numpy()
            frame[item.source] = values.astype(column.dtype)
        except (TypeError, ValueError, NotImplementedError):
            return  # a type the dates do not go back into: the part alone holds
    elif item.date_format is not None:
        text = column.astype(object).to_numpy(copy=True)
        text[rows] = moved.dt.strftime(item.date_format).to_numpy(dtype=object)
        restore_column(frame, item.source, text)
    elif python_dates(column):  # Python date or datetime objects, as they came
        cells = column.to_numpy(dtype=object, copy=True)
        days = all(type(v) is date for v in cells[rows])
        cells[rows] = list(moved.dt.date if days else moved.dt.to_pydatetime())
        frame[item.source] = pd.Series(cells, index=frame.index, dtype=object)


def _within(moved: pd.Series, part: str, limits: Limits) -> tuple:
    """``moved`` kept within ``limits`` (each row's low and high): a date outside them tries a
    period earlier and later (a weekday: a week); (the dates, which of them are inside)."""
    zone = time_zone(moved)

    def inside(d: pd.Series) -> np.ndarray:
        local = (d.dt.tz_localize(None) if zone is not None else d).to_numpy()
        return (local >= limits[0]) & (local <= limits[1])

    period = PERIODS.get(numeric_part(part))
    if period is not None:
        for step in (pd.Timedelta(period), -pd.Timedelta(period)):
            shifted = moved + step
            moved = moved.where(inside(moved) | ~inside(shifted), shifted)
    return moved, inside(moved)


def with_part(dates: pd.Series, part: str, wanted: pd.Series) -> pd.Series:
    """``dates`` moved to the nearest date whose ``part`` is ``wanted`` (same index)."""
    zone = time_zone(dates)
    local = dates.dt.tz_localize(None) if zone is not None else dates
    target = as_number(part, wanted).to_numpy(dtype=np.float64)
    now = PARTS[numeric_part(part)](local).to_numpy(dtype=np.float64)
    time = local - local.dt.normalize()
    year, month, day = (local.dt.year.to_numpy(), local.dt.month.to_numpy(),
                        local.dt.day.to_numpy())  # fmt: skip
    kind = numeric_part(part)
    if kind in ("year", "month", "quarter", "day"):
        if kind == "year":
            year = target.astype(np.int64)
        elif kind == "month":
            month = target.astype(np.int64)
        elif kind == "quarter":
            month = month + 3 * (target - now).astype(np.int64)
        else:
            day = target.astype(np.int64)
        start = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": 1}))
        length = start.dt.days_in_month.to_numpy()
        if kind == "day":  # a day the month lacks: the next month has it
            start = start.where(day <= length, start + pd.offsets.MonthBegin(1))
        else:
            day = np.minimum(day, start.dt.days_in_month.to_numpy())
        result = pd.Series(start.to_numpy() + pd.to_timedelta(day - 1, unit="D").to_numpy(),
                           index=dates.index) + time.to_numpy()  # fmt: skip
    else:
        period = {"weekday": 7, "hour": 24, "minute": 60}.get(kind)
        shift = target - now
        if period:
            shift = (shift + period // 2) % period - period // 2  # the nearest way round
        step = 7 if kind == "week" else 1
        unit = {"hour": "h", "minute": "min"}.get(kind, "D")
        result = local + pd.to_timedelta(shift * step, unit=unit).to_numpy()
    if zone is not None:
        result = result.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    return result


def numeric_part(part: str) -> str:
    return {"month_name": "month", "month_abbr": "month", "day_name": "weekday",
            "day_abbr": "weekday"}.get(part, part)  # fmt: skip


def as_number(part: str, wanted: pd.Series) -> pd.Series:
    """The wanted parts as numbers (names as their month, or weekday from Monday 0)."""
    if part not in NAMES:
        return pd.to_numeric(wanted, errors="coerce")
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    months = pd.date_range("2000-01-01", periods=12, freq="MS").month_name().tolist()
    names = days if part.startswith("day") else months
    first = 0 if part.startswith("day") else 1
    lookup = {
        name[: 3 if part.endswith("abbr") else None]: i + first for i, name in enumerate(names)
    }
    return wanted.astype(str).map(lookup)


def nearest_with_parts(
    dates: pd.Series, asked: Mapping[str, pd.Series], limits: Limits | None = None
) -> tuple[pd.Series, np.ndarray]:
    """Each of ``dates`` moved to the nearest date (within each row's ``limits``, from
    :func:`row_limits`) that has every part ``asked`` of it (part -> the row's value): the clock's
    parts set within the day, then the day searched outward, a day at a time. Returns the
    dates (in their own zone) and where one was found (rows none is found are unchanged)."""
    zone = time_zone(dates)
    local = dates.dt.tz_localize(None) if zone is not None else dates
    wanted = {numeric_part(p): as_number(p, v).to_numpy(np.float64) for p, v in asked.items()}
    for part, unit in (("hour", "h"), ("minute", "min")):
        if part in wanted:
            now = PARTS[part](local).to_numpy(np.float64)
            local = local + pd.to_timedelta(np.nan_to_num(wanted[part] - now), unit=unit)
    low, high = limits if limits is not None else row_limits((None, None), len(dates), zone)
    days = {p: v for p, v in wanted.items() if p not in CLOCK}
    offsets = _offsets(800 if "year" in days else 366 * YEARS_SEARCHED)
    base = local.to_numpy()
    ticks_a_day = float(np.timedelta64(1, "D") / np.timedelta64(1, np.datetime_data(base.dtype)[0]))
    result = base.copy()
    pending = np.flatnonzero(local.notna().to_numpy())
    found = np.zeros(len(local), dtype=bool)
    for start in range(0, len(offsets), BLOCK):
        if not len(pending):
            break
        step = offsets[start : start + BLOCK]
        tried = pd.Series(
            (base[pending][:, None] + step[None, :].astype("timedelta64[D]")).reshape(-1)
        )
        ends = [np.repeat(end[pending], len(step)) for end in (low, high)]
        good = ((tried >= ends[0]) & (tried <= ends[1])).to_numpy(copy=True)
        ticks = base[pending].astype(np.int64)[:, None] + step[None, :] * ticks_a_day
        good &= (np.abs(ticks) < 9.2233e18).reshape(-1)  # no date beyond what datetime64 holds
        for part, value in wanted.items():  # the clock's parts too: a day a clock change skips
            good &= PARTS[part](tried).to_numpy(np.float64) == np.repeat(value[pending], len(step))
        good = good.reshape(len(pending), len(step))
        hit = good.any(axis=1)
        result[pending[hit]] = tried.to_numpy().reshape(len(pending), len(step))[
            hit, good[hit].argmax(axis=1)
        ]
        found[pending[hit]] = True
        pending = pending[~hit]
        if not days:
            break
    moved = pd.Series(result, index=dates.index)
    if zone is not None:
        moved = moved.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    return moved, found


def some_date_has(asked: Mapping[str, object], bounds: tuple | None = None) -> bool:
    """Whether any date (within ``bounds``) has every part ``asked`` (part -> one value): a
    condition row that asks parts no date has (the 30th of February) is refused up front."""
    wanted = {numeric_part(p): float(as_number(p, pd.Series([v], dtype=object)).iloc[0])
              for p, v in asked.items()}  # fmt: skip
    if any(np.isnan(v) for v in wanted.values()):
        return False
    if not all(0 <= wanted[p] < n and wanted[p] == int(wanted[p])
               for p, n in (("hour", 24), ("minute", 60)) if p in wanted):  # fmt: skip
        return False
    low, high = _bounds(bounds)
    days = CYCLE
    if "year" in wanted:
        year = wanted["year"]
        if year != int(year) or not pd.Timestamp.min.year < year < pd.Timestamp.max.year:
            return False
        days = pd.date_range(f"{int(year)}-01-01", f"{int(year)}-12-31", freq="D")
    elif bounds is not None and (bounds[0] is not None or bounds[1] is not None):
        span = pd.DateOffset(years=YEARS_SEARCHED)
        earliest = pd.Timestamp.min.ceil("D")
        first = low.normalize() if bounds[0] is not None else high.normalize() - span
        first = max(first, earliest) if bounds[0] is None else first
        days = pd.date_range(first, min(high, first + span), freq="D")
    days = pd.Series(days)
    time = pd.to_timedelta(wanted.get("hour", 0), unit="h") + pd.to_timedelta(
        wanted.get("minute", 0), unit="min"
    )
    good = ((days + time >= low) & (days <= high)).to_numpy(copy=True)
    for part, value in wanted.items():
        if part not in CLOCK:
            good &= PARTS[part](days).to_numpy(np.float64) == value
    return bool(good.any())


def row_limits(bounds: tuple | np.ndarray, n: int, zone: object = None) -> Limits:
    """Each of ``n`` rows' (low, high) as datetime64 arrays on the clock of ``zone``: one
    range (low, high; None open) for every row, or one per row (None: no range)."""
    if isinstance(bounds, tuple):  # one range: read once
        ends = _bounds(bounds, zone)
        return tuple(np.full(n, end.to_datetime64(), dtype="datetime64[ns]") for end in ends)
    pairs = [_bounds(cell if isinstance(cell, tuple) else None, zone) for cell in bounds]
    return tuple(
        np.array([pair[i].to_datetime64() for pair in pairs], dtype="datetime64[ns]")
        for i in (0, 1)
    )


def _dated(bounds: object) -> bool:
    """Whether ``bounds`` (a range, or one per row) holds a date to a range somewhere."""
    cells = [bounds] if isinstance(bounds, tuple) else bounds
    if not isinstance(cells, (list, np.ndarray)):
        return False
    return any(
        isinstance(cell, tuple) and any(isinstance(b, pd.Timestamp) for b in cell) for cell in cells
    )


def _bounds(bounds: tuple | None, zone: object = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(low, high) as naive Timestamps (open ends the extremes), a zoned one on the clock of
    ``zone`` (the dates' zone) or its own."""
    ends, extremes = [], (pd.Timestamp.min, pd.Timestamp.max)
    for end, extreme in zip(bounds or (None, None), extremes, strict=True):
        stamp = extreme if end is None else pd.Timestamp(end)
        if stamp.tzinfo is not None:
            stamp = (stamp.tz_convert(zone) if zone is not None else stamp).tz_localize(None)
        ends.append(stamp)
    return ends[0], ends[1]


def _offsets(horizon: int) -> np.ndarray:
    """Whole days 0, 1, -1, 2, -2, ... up to ``horizon``: the nearest first."""
    steps = np.arange(1, horizon + 1)
    return np.concatenate([[0], np.column_stack([steps, -steps]).reshape(-1)])
