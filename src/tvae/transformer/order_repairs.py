"""The orders' repair (:mod:`tvae.transformer.dependencies`): a sampled row that breaks
``low <= high`` gets ``high`` raised to ``low``, or ``low`` lowered to ``high`` where the order
says so or ``high`` must stay."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from tvae.transformer.determination import Order
from tvae.transformer.one_hot import OneHotGroup, assign_member, held
from tvae.transformer.repairs import whole_for


def keep_orders(
    frame: pd.DataFrame, orders: Iterable[Order], groups: list[OneHotGroup], fixed: set,
    paired: set,
) -> bool:  # fmt: skip
    """Raise each broken order's ``high`` to its ``low`` (or lower the ``low`` where the
    ``high`` is in ``paired``), in passes until none breaks, in place; whether a row changed.
    A one-hot member moves through its group's label (``fixed``: columns a condition holds)."""
    orders = list(orders)
    reordered = False
    for _ in range(len(orders)):  # a chain a <= b <= c settles within this many passes
        changed = False
        for order in orders:
            low, high = frame[order.low], frame[order.high]
            broken = (low > high).to_numpy(dtype=bool, na_value=False)
            if broken.any():
                changed = True
                lower = order.lowers or held(groups, order.high, paired, True)
                if lower and not held(groups, order.low, paired, False):
                    moved = whole_for(low, high[broken], np.floor)
                    assign_member(frame, groups, order.low, broken, moved, fixed)
                else:
                    moved = whole_for(high, low[broken], np.ceil)
                    assign_member(frame, groups, order.high, broken, moved, fixed)
        reordered |= changed
        if not changed:
            break
    return reordered
