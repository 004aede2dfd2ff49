"""Conditions on a column that a number's ranges give (:mod:`tvae.transformer.cuts`).

Sampled rows get the target from its source, so a condition on the target is asked of the
source instead: the labels asked (one, a range of numbers or a set, which must be neighbours
on the number's scale) become the source's real range under them, which the network draws
from; deriving the target then meets the condition exactly (birthwt's ``{"low": 1}`` asks
``bwt`` within [709, 2495]). A label no run holds is refused, and so is a row that asks both
columns for values the cut does not join.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tvae.conditional.dependent import (
    as_table,
    asked_targets,
    in_form_of,
    is_empty,
    is_number,
    meets,
)
from tvae.errors import ConditionError
from tvae.transformer.cut_dates import as_stamp
from tvae.transformer.cuts import Cut, span_of_label
from tvae.transformer.date_parts import read_stamp


def through_cuts(transformer: Any, conditions: Any) -> tuple[Any, set]:
    """``conditions`` with each condition on a cut's target moved onto its source (see the
    module docstring; a dict stays a dict, a frame a frame), and the targets no condition
    names any more (derived, not held)."""
    cuts = asked_targets(transformer.dependencies.cuts, conditions)
    if not cuts:
        return conditions, set()
    table = as_table(conditions)
    asked, done = table.copy(), set()  # each target's cells as given, for each cut of it
    for cut in cuts:  # a target several numbers cut: asked of the first (it derives it)
        first = cut.target not in done
        done.add(cut.target)
        own = table[cut.source] if cut.source in table.columns else [None] * len(table)
        cells = [
            _through(cut, t, s) if first or not is_empty(s) else (s, t)  # others: checked
            for t, s in zip(asked[cut.target], own, strict=True)
        ]
        table[cut.source] = pd.Series([s for s, _ in cells], index=table.index, dtype=object)
        if first:
            table[cut.target] = pd.Series([t for _, t in cells], index=table.index, dtype=object)
            if all(is_empty(cell) for cell in table[cut.target]):
                table = table.drop(columns=cut.target)
        if all(is_empty(cell) for cell in table[cut.source]):
            table = table.drop(columns=cut.source)
    moved = {cut.target for cut in cuts} - set(table.columns)
    return in_form_of(conditions, table), moved


def _through(cut: Cut, target: Any, source: Any) -> tuple[Any, Any]:
    """(source cell, target cell) for one row: the labels the target asks as the source's
    range (met with the source's own condition), the target's cell then empty; unchanged
    where the target asks nothing or a missing value."""
    if is_empty(target):
        return source, target
    asked = [i for i, label in enumerate(cut.labels) if meets(label, target)]
    if not asked:
        raise ConditionError(
            f"condition {cut.target!r} = {target!r} is never generated: {cut.target!r} is cut "
            f"from {cut.source!r} in every row, into {list(cut.labels)!r}"
        )
    if asked != list(range(asked[0], asked[-1] + 1)):
        raise ConditionError(
            f"condition {cut.target!r} = {target!r} asks labels that are not neighbours on "
            f"{cut.source!r}'s scale ({cut.target!r} is cut from it in every row, into "
            f"{list(cut.labels)!r}); sample each label on its own"
        )
    low, high = span_of_label(cut, asked[0])[0], span_of_label(cut, asked[-1])[1]
    value = _on_scale(cut, source)
    if value is not None:
        position = int(cut.positions(np.asarray([value]))[0])
        if position not in asked:
            raise ConditionError(
                f"conditions ask {cut.source!r} = {source!r} and {cut.target!r} = {target!r}, "
                f"but {cut.target!r} is cut from {cut.source!r} in every row, and "
                f"{source!r} gives {cut.labels[position]!r}; leave one of them out"
            )
        return source, None
    if isinstance(source, tuple) and len(source) == 2:  # both ranged: the intersection
        ends = [_on_scale(cut, v) for v in source]
        low = low if ends[0] is None else max(low, ends[0])
        high = high if ends[1] is None else min(high, ends[1])
        if low > high:
            raise ConditionError(
                f"conditions ask {cut.source!r} in {source!r} and {cut.target!r} = "
                f"{target!r}, but {cut.target!r} is cut from {cut.source!r} in every row, and "
                "no value meets both"
            )
    elif not is_empty(source):
        return source, target  # left to the source's own checks
    return (_written(cut, low), _written(cut, high)), None


def _on_scale(cut: Cut, cell: Any) -> float | None:
    """One value a condition asks of the source, on the cut's scale (a date's nanoseconds);
    None for anything else."""
    if not cut.dates:
        return float(cell) if is_number(cell) else None
    if is_empty(cell) or isinstance(cell, (tuple, set, frozenset)):
        return None
    try:
        return float(read_stamp(cell, cut.date_format).value)
    except (TypeError, ValueError):
        return None


def _written(cut: Cut, value: float) -> Any:
    """A range's end as the condition gives it: None for an open end, a date for a date."""
    if np.isinf(value):
        return None
    return as_stamp(value) if cut.dates else value
