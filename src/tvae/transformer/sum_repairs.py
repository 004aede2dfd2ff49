"""The sums' repair (:mod:`tvae.transformer.sums`): a sampled total is set from its parts, and
where it must take another value, the parts move to make it.

A total must take another value where a condition holds it, where the parts' sum leaves its
real range, and where an order puts it above or below a column the repairs keep
(:func:`total_limits`: midwest's ``popadults <= poptotal`` with ``popadults`` asked at 99,720
broke in 54 % of rows, since the order could move neither side). The parts then scale
together, which keeps their shares of the total and every order among them (the five races
of midwest's ``poptotal``); only what rounding or their real ranges leave over moves one part
at a time.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import pandas as pd

from tvae.transformer.determination import Order
from tvae.transformer.numerical import to_float
from tvae.transformer.sums import Sum

Limits = dict[Hashable, tuple[np.ndarray, np.ndarray]]  # total -> per row (lowest, highest)


def total_limits(
    frame: pd.DataFrame, orders: Iterable[Order], sums: list[Sum], held: set
) -> Limits:
    """Per row, the lowest and highest value each total may take under the orders whose other
    side is ``held`` (a column the orders' repairs do not move: they would move the total,
    which is set again from its parts); -inf and inf where none bounds it."""
    totals = {s.column for s in sums}
    limits: Limits = {}
    if not totals:
        return limits
    for order in orders:
        for total, other, end in ((order.high, order.low, 0), (order.low, order.high, 1)):
            if total not in totals or other not in held:
                continue
            if total not in limits:
                limits[total] = (np.full(len(frame), -np.inf), np.full(len(frame), np.inf))
            values = to_float(frame[other])
            present = ~np.isnan(values)
            bound = limits[total][end]
            pick = np.maximum if end == 0 else np.minimum
            bound[present] = pick(bound[present], values[present])
    return limits


def keep_sums(
    frame: pd.DataFrame, sums: list[Sum], fixed: set, limits: Mapping | None = None
) -> None:
    """Make every sum hold in ``frame``, in place. Each total is set from its parts, within
    its real range (``span``) and the ``limits`` orders put on it (:func:`total_limits`; an
    order outweighs the range); where the total is ``fixed`` (a condition holds it) or its
    parts' sum leaves those, the parts move to make it (:func:`_meet`); a ``fixed`` part
    stays. A total that may be missing on its own (``missing_alone``) stays missing where it
    was drawn missing."""
    for item in sums:
        free = [i for i, p in enumerate(item.parts) if p not in fixed]
        parts = [to_float(frame[p]) for p in item.parts]
        held = item.column in fixed
        drawn = to_float(frame[item.column])
        total = drawn if held else np.sum(parts, axis=0)
        bounded = limits is not None and item.column in limits
        if not held:
            if item.span is not None:
                total = np.clip(total, *item.span)  # missing stays missing
            if bounded:
                lowest, highest = limits[item.column]
                total = np.where(total < lowest, lowest, total)  # NaN compares False: stays
                total = np.where(total > highest, highest, total)
        if free and (held or bounded or item.span is not None):
            grids = [0 if _integer(frame[p]) else item.decimals for p in item.parts]
            moved = _meet(parts, total, free, item.bounds, held, grids, item.missing_alone)
            for i in free:
                write_numbers(frame, item.parts[i], moved[i], item.decimals)
        if not held:
            total = np.sum([to_float(frame[p]) for p in item.parts], axis=0)
            if item.missing_alone:
                total[np.isnan(drawn)] = np.nan
            write_numbers(frame, item.column, total, item.decimals)


def _meet(
    parts: list[np.ndarray], total: np.ndarray, free: list[int], bounds: tuple | None,
    held: bool, grids: list[int | None], missing_alone: bool = False,
) -> list[np.ndarray]:  # fmt: skip
    """``parts`` with the ``free`` ones moved to add up to ``total`` in the rows where every
    value is present: scaled together where they are never negative (:func:`_scaled`), then
    what is left moved onto the last ones, each within its real range (``bounds``), and the
    first by the rest. A held total: a free part missing where it is present reads as 0, and
    the first free part is missing where the total is (unless the total may be missing on its
    own: ``missing_alone``)."""
    parts = [p.copy() for p in parts]
    if held:
        for i in free:
            parts[i][np.isnan(parts[i]) & ~np.isnan(total)] = 0.0
    _scaled(parts, total, free, bounds, grids)
    rest = total - np.sum(parts, axis=0)
    rows = ~np.isnan(rest)
    for i in reversed(free[1:]):
        moved = parts[i][rows] + rest[rows]
        if bounds is not None:
            moved = np.clip(moved, *bounds[i])
        rest[rows] -= moved - parts[i][rows]
        parts[i][rows] = moved
    parts[free[0]][rows] += rest[rows]
    if held and not missing_alone:
        parts[free[0]][np.isnan(total)] = np.nan
    return parts


def _scaled(
    parts: list[np.ndarray], total: np.ndarray, free: list[int], bounds: tuple | None,
    grids: list[int | None],
) -> None:  # fmt: skip
    """In place: in each row where the ``free`` parts are never negative, add up to more
    than 0 and must change to make ``total``, each scaled by one factor, kept within its real
    range and rounded to its ``grids`` decimals (None: not rounded)."""
    free_sum = np.sum([parts[i] for i in free], axis=0)
    rest = total - np.sum(parts, axis=0)
    with np.errstate(invalid="ignore"):  # NaN: a missing value, never scaled
        rows = (rest != 0) & (free_sum > 0) & (free_sum + rest >= 0)
        rows &= np.all([parts[i] >= 0 for i in free], axis=0)
    if not rows.any():
        return
    factor = (free_sum[rows] + rest[rows]) / free_sum[rows]
    for i in free:
        scaled = parts[i][rows] * factor
        if bounds is not None:
            scaled = np.clip(scaled, *bounds[i])
        if grids[i] is not None:
            scaled = np.round(scaled, grids[i])
        parts[i][rows] = scaled


def _integer(series: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(series.dtype)


def write_numbers(
    frame: pd.DataFrame, name: Hashable, values: np.ndarray, decimals: int | None
) -> None:
    """``frame[name] = values``, rounded to ``decimals`` and in the column's dtype where it
    holds them (an integer column without missing cells for missing values becomes float)."""
    dtype = frame[name].dtype
    if pd.api.types.is_integer_dtype(dtype):
        values = np.round(values)
    elif decimals is not None:
        values = np.round(values, decimals)
    series = pd.Series(values, index=frame.index)
    missing = np.isnan(values).any()
    if pd.api.types.is_extension_array_dtype(dtype) or not missing:
        series = series.astype(dtype)
    frame[name] = series
