"""Conditions on a column whose presence another decides (:mod:`tvae.transformer.presence`).

Asking such a column for a value asks its source for the values that come with one
(student_placements: a ``salary`` asks ``placed`` to be True), and a condition on the source
that allows none is refused before any row is drawn. Where the source is the missingness of
another column, the repairs keep the asked cell and move that column's presence to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tvae.conditional.conditions import MISSING
from tvae.conditional.dependent import as_table, condition_on_source, in_form_of, is_empty
from tvae.errors import ConditionError
from tvae.transformer.determination import Determination


def through_presence(
    transformer: Any, conditions: Mapping | pd.DataFrame, given: Any = None
) -> Any:
    """``conditions`` with, beside each asked cell of a column whose presence a label or a
    number of few values decides, the condition it implies on that source. A cell that the
    user did not ask (``given``: the conditions as asked), which an order's bound put there,
    is dropped where the source's own condition leaves the column missing: the order holds
    only where both columns hold values (affect: a real row asking ``MEQ`` = 36 bounded
    ``BDI``, which only rows without ``MEQ`` hold)."""
    items = [p for p in transformer.dependencies.presence if not p.by_missing]
    if not items or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return conditions
    names = set(conditions.columns if isinstance(conditions, pd.DataFrame) else conditions)
    items = [p for p in items if p.target in names]
    if not items:
        return conditions
    kinds = {column.name: column.kind for column in transformer.columns}
    table = as_table(conditions)
    asked = as_table(given) if isinstance(given, (Mapping, pd.DataFrame)) else table
    for item in items:
        rule = Determination(item.source, item.target, item.keys, item.present)
        if item.source in table.columns:
            own = table[item.source]
        else:
            own = pd.Series(None, index=table.index, dtype=object)
        cells, targets = [], list(table[item.target])
        for position, (target_cell, source_cell) in enumerate(zip(targets, own, strict=True)):
            if is_empty(target_cell):
                cells.append(source_cell)
                continue
            wanted = target_cell is not MISSING
            either = frozenset({wanted, None})  # a value with no rule allows both
            try:
                cells.append(condition_on_source(rule, kinds.get(item.source), either, source_cell))
            except ConditionError:
                if not _asked(asked, item.target, position):  # an order's bound: dropped
                    cells.append(source_cell)
                    targets[position] = None
                    continue
                pairs = zip(item.keys, item.present, strict=True)
                values = [k for k, p in pairs if p is None or p == wanted]
                raise ConditionError(
                    f"condition {target_cell!r} on {item.target!r} cannot be met: "
                    f"{item.target!r} {'holds a value' if wanted else 'is missing'} only where "
                    f"{item.source!r} is one of {values!r}, and its condition "
                    f"{source_cell!r} allows none of them"
                ) from None
        table[item.source] = pd.Series(cells, index=table.index, dtype=object)
        table[item.target] = pd.Series(targets, index=table.index, dtype=object)
        if all(is_empty(cell) for cell in targets):  # only bounds, all dropped: not asked
            table = table.drop(columns=[item.target])
    return in_form_of(conditions, table)


def _asked(asked: pd.DataFrame, column: Any, position: int) -> bool:
    """Whether the user's conditions ask ``column`` something in row ``position``."""
    if column not in asked.columns or position >= len(asked):
        return False
    return not is_empty(asked[column].iloc[position])
