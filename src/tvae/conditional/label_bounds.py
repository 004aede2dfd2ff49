"""A range asked of a number, cut to the range that a label asked beside it keeps it in.

Conditions that fix a label (``who="child"``) and ask a range of a number that label bounds
(:mod:`tvae.label_ranges`) would draw the number over the whole range: ``{"who": "child",
"school": "yes"}``, where ``age`` determines ``school`` and so is asked for 5 to 18, gave
children of 16 to 18 in a quarter of the rows. The range is cut to the label's bounds where
the two meet; a range they do not meet, and one number, stay as asked (a condition's value
always stays).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tvae.conditional.dependent import as_table, in_form_of, is_empty
from tvae.conditional.kinds import CATEGORY_KINDS
from tvae.conditional.parse import find_slot


def within_label_ranges(transformer: Any, conditions: Mapping | pd.DataFrame) -> Any:
    """``conditions`` (a dict or a frame of them) with each range asked of a number cut to the
    bounds of the label asked beside it, in every row that asks both."""
    ranges = transformer.label_ranges
    if not ranges or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return conditions
    columns = {str(column.name): column for column in transformer.columns}
    spans = transformer.layout.softmax_spans
    table = None
    for item in ranges:
        label, number = columns[spans[item.span].column], transformer.columns[item.column]
        if label.kind not in CATEGORY_KINDS or not {label.name, number.name} <= set(conditions):
            continue
        table = as_table(conditions) if table is None else table
        known = pd.Index(CATEGORY_KINDS[label.kind](label).values)
        lower, upper = item.ends()
        for row in range(len(table)):
            asked = table[number.name].iat[row]
            code = _code(known, table[label.name].iat[row])
            if code is not None and _is_range(asked):
                table.at[table.index[row], number.name] = _cut(asked, lower[code], upper[code])
    return conditions if table is None else in_form_of(conditions, table)


def _code(known: pd.Index, cell: Any) -> int | None:
    """The slot of the one label ``cell`` asks; None for a set, a range or nothing."""
    if isinstance(cell, (tuple, set, frozenset)) or is_empty(cell):
        return None
    found = find_slot(known, cell)
    return found if found >= 0 else None


def _is_range(cell: Any) -> bool:
    return isinstance(cell, tuple) and len(cell) == 2


def _cut(asked: tuple, low: float, high: float) -> tuple:
    """The range ``asked`` (``(low, high)``, None where open) within [``low``, ``high``]
    (infinite where the label leaves that end free); as asked where the two do not meet."""
    start, end = asked
    if math.isfinite(low) and (start is None or start < low):
        start = low
    if math.isfinite(high) and (end is None or end > high):
        end = high
    if start is not None and end is not None and start > end:
        return asked
    return (start, end)
