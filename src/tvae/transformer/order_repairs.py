"""The orders' repair (:mod:`tvae.transformer.dependencies`): a sampled row that breaks
``low <= high`` gets ``high`` raised to ``low``, or ``low`` lowered to ``high`` where the order
says so or ``high`` must stay."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from tvae.transformer.determination import Order
from tvae.transformer.one_hot import OneHotGroup, assign_member, held
from tvae.transformer.pair_repairs import limits_per_row
from tvae.transformer.repairs import whole_for


def keep_orders(
    frame: pd.DataFrame, orders: Iterable[Order], groups: list[OneHotGroup], fixed: set,
    paired: set, ranges: Mapping | None = None,
) -> bool:  # fmt: skip
    """Raise each broken order's ``high`` to its ``low`` (or lower the ``low`` where the
    ``high`` is in ``paired``), in passes until none breaks, in place; whether a row changed.
    A one-hot member moves through its group's label (``fixed``: columns a condition holds).
    Where both sides must stay, a ``low`` that a condition holds to a range (``ranges``, as
    :func:`~tvae.transformer.pair_repairs.limits_per_row` reads them) is lowered within it."""
    orders = list(orders)
    reordered = False
    for _ in range(len(orders)):  # a chain a <= b <= c settles within this many passes
        changed = False
        for order in orders:
            low, high = frame[order.low], frame[order.high]
            broken = (low > high).to_numpy(dtype=bool, na_value=False)
            if broken.any():
                changed = True
                lowered = broken & _lowering(frame, order, groups, paired, ranges)
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


def _lowering(
    frame: pd.DataFrame, order: Order, groups: list[OneHotGroup], paired: set,
    ranges: Mapping | None,
) -> np.ndarray:  # fmt: skip
    """The rows whose broken ``order`` is repaired by lowering ``low``: every row where the
    order says so or ``high`` must stay and ``low`` may move. Where both must stay, a ``low``
    that a condition holds to a range moves within it where that reaches down to ``high``
    (msleep: ``sleep_rem`` asked at least 3.2, ``sleep_total`` a line's target)."""
    n_rows = len(frame)
    low_held = held(groups, order.low, paired, False)
    high_held = held(groups, order.high, paired, True)
    if (order.lowers or high_held) and not low_held:
        return np.ones(n_rows, dtype=bool)
    if not high_held:
        return np.zeros(n_rows, dtype=bool)
    cells = limits_per_row(ranges, order.low, n_rows)
    if cells is None:
        return np.zeros(n_rows, dtype=bool)
    moved = whole_for(frame[order.low], frame[order.high], np.floor)  # low's value if lowered
    moved = pd.to_numeric(moved, errors="coerce").to_numpy(dtype=np.float64)
    reaches = [isinstance(c, tuple) and c[0] <= v for c, v in zip(cells, moved, strict=True)]
    return np.asarray(reaches, dtype=bool)
