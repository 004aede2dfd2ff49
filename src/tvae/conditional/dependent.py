"""Conditions on a column that another determines, asked of the determining column instead.

When A determines B (see :mod:`tvae.transformer.dependencies`), sampled rows get B from A, so a
condition on B is met by asking A for the values that map into it: a set of labels, one value,
or a range of a numerical A whose matching values are contiguous. A condition given on both is
the intersection. The condition on B is then dropped: deriving B from A meets it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tvae.errors import ConditionError

LABEL_KINDS = ("categorical", "boolean", "wide_categorical")


def through_dependencies(transformer: Any, conditions: Mapping | pd.DataFrame) -> Any:
    """``conditions`` with every condition on a derived column moved to its source."""
    dependencies = transformer.dependencies
    derives = dependencies.determinations or dependencies.groups
    if not derives or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return conditions
    kinds = {column.name: column.kind for column in transformer.columns}
    is_frame = isinstance(conditions, pd.DataFrame)
    if is_frame:
        table = conditions.astype(object)
    else:
        table = pd.DataFrame({c: [v] for c, v in conditions.items()}, dtype=object)
    while True:
        derived = next((c for c in table.columns if dependencies.targets_of(c)), None)
        if derived is None:
            break
        item = dependencies.targets_of(derived)
        source = item.source
        own = table[source] if source in table.columns else pd.Series(None, index=table.index)
        cells = [
            _source_cell(item, kinds.get(source), target_cell, source_cell)
            for target_cell, source_cell in zip(table[derived], own, strict=True)
        ]
        table = table.drop(columns=[derived])
        table[source] = pd.Series(cells, index=table.index, dtype=object)
    if is_frame:
        return table
    return {c: table[c].iloc[0] for c in table.columns}


def _empty(cell: Any) -> bool:
    if isinstance(cell, (tuple, frozenset, set, str)):
        return False
    return cell is None or bool(pd.isna(cell))


def _matches(value: Any, cell: Any) -> bool:
    """``value`` meets the condition ``cell`` (a value, a (low, high) range or a set)."""
    if isinstance(cell, (set, frozenset)):
        return any(_matches(value, member) for member in cell)
    if isinstance(cell, tuple) and len(cell) == 2:
        low, high = cell
        try:
            return (low is None or value >= low) and (high is None or value <= high)
        except TypeError:
            return False
    if value == cell:
        return True
    return isinstance(cell, str) and str(value) == cell  # text from the command line


def _source_cell(item: Any, source_kind: str | None, target_cell: Any, source_cell: Any) -> Any:
    """The condition on the source that meets ``target_cell`` (and ``source_cell``, if any)."""
    if _empty(target_cell):
        return source_cell
    allowed = [
        key
        for key, value in zip(item.keys, item.values, strict=True)
        if _matches(value, target_cell) and (_empty(source_cell) or _matches(key, source_cell))
    ]
    if not allowed:
        raise ConditionError(
            f"condition {target_cell!r} on {item.target!r} cannot be met: {item.target!r} is "
            f"determined by {item.source!r}, and no value of it (meeting its own condition, if "
            "given) gives such a value"
        )
    if len(allowed) == 1:
        return allowed[0]
    if source_kind in LABEL_KINDS:
        return frozenset(allowed)
    keys = np.sort(np.asarray([k for k in item.keys if not _empty(k)], dtype=np.float64))
    low, high = min(allowed), max(allowed)
    inside = keys[(keys >= low) & (keys <= high)]
    if len(inside) != len(allowed):
        raise ConditionError(
            f"condition {target_cell!r} on {item.target!r} maps to scattered values of "
            f"{item.source!r}, which determines it; condition on {item.source!r} instead"
        )
    return (low, high)
