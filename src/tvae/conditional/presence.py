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
from tvae.conditional.dependent import (
    as_table,
    condition_on_source,
    in_form_of,
    is_empty,
    meets,
)
from tvae.errors import ConditionError
from tvae.transformer.determination import Determination


def through_presence(
    transformer: Any, conditions: Mapping | pd.DataFrame, given: Any = None
) -> Any:
    """``conditions`` with, beside each asked cell of a column whose presence a label or a
    number of few values decides, the condition it implies on that source. A cell that the
    user did not ask (``given``: the conditions as asked), which an order's bound put there,
    is dropped where the row's conditions, through chains of presences, leave the column
    missing: the order holds only where both columns hold values (affect: a real row asking
    ``MEQ`` = 36, or ``Study`` "flat", which gives ``MEQ``, bounded ``BDI``, which only rows
    without ``MEQ`` hold)."""
    presences = transformer.dependencies.presence
    if not presences or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return conditions
    names = set(conditions.columns if isinstance(conditions, pd.DataFrame) else conditions)
    if not any(p.target in names for p in presences):
        return conditions
    kinds = {column.name: column.kind for column in transformer.columns}
    table = as_table(conditions)
    asked = as_table(given) if isinstance(given, (Mapping, pd.DataFrame)) else table
    table = _without_ruled_out_bounds(table, asked, {p.target: p for p in presences})
    for item in [p for p in presences if not p.by_missing and p.target in table.columns]:
        rule = Determination(item.source, item.target, item.keys, item.present)
        if item.source in table.columns:
            own = table[item.source]
        else:
            own = pd.Series(None, index=table.index, dtype=object)
        cells = []
        for target_cell, source_cell in zip(table[item.target], own, strict=True):
            if is_empty(target_cell):
                cells.append(source_cell)
                continue
            wanted = target_cell is not MISSING
            either = frozenset({wanted, None})  # a value with no rule allows both
            try:
                cells.append(condition_on_source(rule, kinds.get(item.source), either, source_cell))
            except ConditionError:
                pairs = zip(item.keys, item.present, strict=True)
                values = [k for k, p in pairs if p is None or p == wanted]
                raise ConditionError(
                    f"condition {target_cell!r} on {item.target!r} cannot be met: "
                    f"{item.target!r} {'holds a value' if wanted else 'is missing'} only where "
                    f"{item.source!r} is one of {values!r}, and its condition "
                    f"{source_cell!r} allows none of them"
                ) from None
        table[item.source] = pd.Series(cells, index=table.index, dtype=object)
    return in_form_of(conditions, table)


def _without_ruled_out_bounds(
    table: pd.DataFrame, asked: pd.DataFrame, by_target: Mapping
) -> pd.DataFrame:
    """``table`` less each cell the user did not ask (an order's bound) of a column that the
    row's other conditions leave missing (a column left with no cell is dropped)."""
    for column in [c for c in table.columns if c in by_target]:
        cells = list(table[column])
        for position, cell in enumerate(cells):
            if is_empty(cell) or cell is MISSING or _asked(asked, column, position):
                continue
            row = table.iloc[position].to_dict()
            if _implied(by_target[column], row, by_target, 0) is False:
                cells[position] = None
        if all(is_empty(cell) for cell in cells):
            table = table.drop(columns=[column])
        else:
            table[column] = pd.Series(cells, index=table.index, dtype=object)
    return table


def _state(row: Mapping, column: Any, by_target: Mapping, depth: int) -> bool | None:
    """Whether ``row``'s conditions give ``column`` a value (True), leave it missing (False),
    or say neither."""
    cell = row.get(column)
    if not is_empty(cell):
        return cell is not MISSING
    item = by_target.get(column)
    if item is None or depth > len(by_target):
        return None
    return _implied(item, row, by_target, depth + 1)


def _implied(item: Any, row: Mapping, by_target: Mapping, depth: int) -> bool | None:
    """What ``item``'s rule says of its target, its source held as ``row`` holds it."""
    if item.by_missing:
        state = _state(row, item.source, by_target, depth)
        return None if state is None else item.present[int(state)]
    cell = row.get(item.source)
    if is_empty(cell):  # the source's own presence, through its own source
        state = _state(row, item.source, by_target, depth)
        if state is None:
            return None
        rules = [p for k, p in zip(item.keys, item.present, strict=True) if is_empty(k) != state]
    else:
        rules = [p for k, p in zip(item.keys, item.present, strict=True) if meets(k, cell)]
    if rules and all(rule is True for rule in rules):
        return True
    if rules and all(rule is False for rule in rules):
        return False
    return None


def _asked(asked: pd.DataFrame, column: Any, position: int) -> bool:
    """Whether the user's conditions ask ``column`` something in row ``position``."""
    if column not in asked.columns or position >= len(asked):
        return False
    return not is_empty(asked[column].iloc[position])
