"""The orders' repair (:mod:`tvae.transformer.dependencies`): a sampled row that breaks
``low <= high`` gets ``high`` raised to ``low``, or ``low`` lowered to ``high`` where the order
says so or ``high`` must stay."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from tvae.transformer.determination import Order
from tvae.transformer.numerical import to_float
from tvae.transformer.one_hot import OneHotGroup, assign_member, held
from tvae.transformer.repairs import limits_per_row, whole_for


def keep_orders(
    frame: pd.DataFrame, orders: Iterable[Order], groups: list[OneHotGroup], fixed: set,
    paired: set, ranges: Mapping | None = None,
) -> bool:  # fmt: skip
    """Raise each broken order's ``high`` to its ``low`` (or lower the ``low`` where the
    ``high`` is in ``paired``), in passes until none breaks, in place; whether a row changed.
    A one-hot member moves through its group's label (``fixed``: columns a condition holds).
    Where both sides must stay, a ``low`` that a condition holds to a range (``ranges``, as
    :func:`~tvae.transformer.repairs.limits_per_row` reads them) is lowered within it."""
    orders = list(orders)
    ceilings = _ceilings(frame, orders, paired)
    reordered = False
    for _ in range(len(orders)):  # a chain a <= b <= c settles within this many passes
        changed = False
        for order in orders:
            low, high = frame[order.low], frame[order.high]
            broken = (low > high).to_numpy(dtype=bool, na_value=False)
            if broken.any():
                changed = True
                lowered = _lowering(frame, order, groups, (fixed, paired), ranges, ceilings)
                lowered &= broken
                raised = broken & ~lowered
                if lowered.any():
                    moved = whole_for(low, high[lowered], np.floor)
                    assign_member(frame, groups, order.low, lowered, moved, fixed)
                if raised.any():
                    moved = whole_for(high, low[raised], np.ceil)
                    assign_member(frame, groups, order.high, raised, moved, fixed)
        reordered |= changed
        if not changed:
            break
    return reordered


def _ceilings(frame: pd.DataFrame, orders: list[Order], paired: set) -> dict:
    """Per row, the highest value each number may take under the orders, up a chain, where a
    column the repairs keep (``paired``) is above it: raised higher, it would be lowered back
    (midwest's ``popother <= popadults <= poppovertyknown``, the last asked)."""
    ceilings: dict[Hashable, np.ndarray] = {}
    for _ in range(len(orders)):  # a chain of k orders settles within k passes
        moved = False
        for order in orders:
            top = ceilings.get(order.high)
            if order.high in paired and is_numeric_dtype(frame[order.high].dtype):
                top = np.nan_to_num(to_float(frame[order.high]), nan=np.inf)
            below = ceilings.get(order.low)
            if top is None or (below is not None and not (top < below).any()):
                continue
            ceilings[order.low] = top if below is None else np.minimum(below, top)
            moved = True
        if not moved:
            break
    return ceilings


def _lowering(
    frame: pd.DataFrame, order: Order, groups: list[OneHotGroup], held_sets: tuple[set, set],
    ranges: Mapping | None, ceilings: Mapping,
) -> np.ndarray:  # fmt: skip
    """The rows whose broken ``order`` is repaired by lowering ``low``: every row where the
    order says so or ``high`` must stay and ``low`` may move, and those where raising ``high``
    would take it above its ceiling (:func:`_ceilings`). Where both must stay
    (``held_sets``: the columns conditions hold, and those with the columns other repairs
    keep), the rows where a condition holds ``low`` to a range that reaches down to ``high``
    (msleep: ``sleep_rem`` asked at least 3.2, ``sleep_total`` a line's target), and those
    where raising a conditioned ``high`` would leave its condition while ``low`` is only kept
    (GaltonFamilies: ``midparentHeight`` asked within a range stays, ``mother`` is lowered)."""
    fixed, paired = held_sets
    n_rows = len(frame)
    low_held = held(groups, order.low, paired, False)
    high_held = held(groups, order.high, paired, True)
    if (order.lowers or high_held) and not low_held:
        return np.ones(n_rows, dtype=bool)
    if not high_held:
        top = ceilings.get(order.high)
        if top is None or low_held or not is_numeric_dtype(frame[order.low].dtype):
            return np.zeros(n_rows, dtype=bool)
        return to_float(frame[order.low]) > top
    lowered = _reaching(frame, ranges, order.low, frame[order.high], np.floor, 0)
    if order.high in fixed and order.low not in fixed:
        lowered |= ~_reaching(frame, ranges, order.high, frame[order.low], np.ceil, 1)
    return lowered


def _reaching(
    frame: pd.DataFrame, ranges: Mapping | None, column: Hashable, values: pd.Series,
    rounding, end: int,
) -> np.ndarray:  # fmt: skip
    """The rows where the range a condition holds ``column`` to (``ranges``) takes ``values``
    (as ``column`` holds them, rounded by ``rounding``) at its ``end`` (0: low, 1: high); a row
    with no range takes none."""
    cells = limits_per_row(ranges, column, len(frame))
    if cells is None:
        return np.zeros(len(frame), dtype=bool)
    moved = pd.to_numeric(whole_for(frame[column], values, rounding), errors="coerce")
    moved = moved.to_numpy(dtype=np.float64)
    ends = np.asarray([c[end] if isinstance(c, tuple) else np.nan for c in cells], float)
    with np.errstate(invalid="ignore"):  # a row with no range (NaN) takes none
        return ends <= moved if end == 0 else moved <= ends
