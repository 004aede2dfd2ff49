"""What the dependencies' repairs may do with the columns conditions hold.

After :func:`tvae.conditional.dependent.through_dependencies` has moved each condition onto the
columns that decide it, a conditioned column is fixed where its condition is one value, moved
only within a set of labels (:func:`allowed_sets`) or, by a pair's repair, within a range of
numbers (:func:`range_limits`); a frame's column is fixed only in the rows that ask it
(:func:`fixed_rows_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tvae.conditional.dependent import is_empty


def allowed_sets(conditions: Mapping | pd.DataFrame, asked: list) -> dict:
    """The columns whose condition is a set of labels, within which the repairs may move
    them: for a dict's conditions, the columns conditions were moved onto, and the set; for a
    frame's, any column a row's condition leaves a set (the user's, where a row asked nothing
    and a pair narrowed it), and each row's (a value is a set of one, an empty cell None)."""
    if isinstance(conditions, Mapping):
        return {
            c: cell for c, cell in conditions.items()
            if c not in asked and isinstance(cell, frozenset)
        }  # fmt: skip
    found = {}
    for column in conditions.columns:
        cells = conditions[column].tolist()
        if not any(isinstance(cell, frozenset) for cell in cells):
            continue
        sets = [  # a range is no set: range_limits gives it
            cell if isinstance(cell, frozenset)
            else None if is_empty(cell) or isinstance(cell, tuple) else frozenset([cell])
            for cell in cells
        ]  # fmt: skip
        found[column] = np.asarray(sets, dtype=object)
    return found


def range_limits(conditions: Mapping | pd.DataFrame) -> dict:
    """The columns a condition holds to a range of numbers, and the (low, high) (a dict's) or
    each row's (a frame's; None where the row asks a value or nothing): a pair's repair may
    move them within it (:func:`tvae.transformer.pair_repairs.pair_limits`)."""
    if isinstance(conditions, Mapping):
        found = {c: range_of(cell) for c, cell in conditions.items()}
        return {c: bounds for c, bounds in found.items() if bounds is not None}
    found = {}
    for column in conditions.columns:
        cells = [range_of(c) for c in conditions[column]]
        if any(cell is not None for cell in cells):
            found[column] = np.empty(len(cells), dtype=object)
            found[column][:] = cells
    return found


def merged(*limits: Mapping) -> dict:
    """``limits`` (column -> a set, a range, or one of them or None per row) as one: a frame's
    column may hold a set in some rows and a range in others (medpar's ``type``: the set {1, 3}
    where ``type2`` = 0 is asked, the range [1, 2] where ``type3`` = 0 is); each row keeps the
    first it is given. (The ranges had replaced the sets, so ``type`` was drawn as 2 and
    ``type2`` derived as 1 against its condition, in 5 % of a frame's rows.)"""
    found: dict = {}
    for limit in limits:
        for column, cells in limit.items():
            before = found.get(column)
            if isinstance(before, np.ndarray) and isinstance(cells, np.ndarray):
                cells = np.where(pd.isna(before), cells, before)  # None: the row gives none
            found[column] = cells if before is None or isinstance(cells, np.ndarray) else before
    return found


def range_of(cell: Any) -> tuple[float, float] | None:
    """A range condition's (low, high) as numbers, an open end infinite (None: not a range of
    numbers; dates' ranges keep their column fixed)."""
    if not isinstance(cell, tuple):
        return None
    try:
        low, high = (np.nan if is_empty(v) else float(v) for v in cell)
    except (TypeError, ValueError):
        return None
    return (-np.inf if np.isnan(low) else low, np.inf if np.isnan(high) else high)


def fixed_rows_of(conditions: Mapping | pd.DataFrame, given: Any, fixed: list) -> dict:
    """The ``fixed`` columns of a frame of conditions that some rows leave free: the mask of
    the rows that hold them to a value or a range (an empty cell asks nothing of its row, and
    a set lets the repairs move the column within it: :func:`allowed_sets`). A column the
    conditions were moved off (a one-hot member, asked of its group) is fixed where the
    ``given`` frame asked it."""
    if isinstance(conditions, Mapping):
        return {}
    found = {}
    for column in fixed:
        held = np.zeros(len(conditions), dtype=bool)
        # a cell the user asked stays held where a step moved its condition off it (volcano's
        # V41, an offset of V16, asked in rows that asked nothing of V40: an order raised it)
        for source in (conditions, given):
            if isinstance(source, pd.DataFrame) and column in source.columns:
                cells = source[column]
                held |= np.fromiter(
                    (not (is_empty(c) or isinstance(c, frozenset)) for c in cells), bool, len(cells)
                )
        if not held.all():
            found[column] = held
    return found
