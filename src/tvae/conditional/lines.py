"""Conditions on a column that is a line in another number (:mod:`tvae.transformer.linear`).

Sampled rows get the target from its source, so a condition on a target written with a fixed
number of decimals is asked of the source instead: the source values whose line, rounded, gives
the asked value (or falls in the asked range) form a range, which the network draws on the
source's own grid; deriving the target then meets the condition exactly (pounds 154.32 asks
kilograms within [69.9971, 70.0016], which on their grid of 0.1 is 70.0). A target with no fixed
decimals keeps its condition, and the source is set from it once decoded. A value no source
value on its grid reaches is then refused by the source's condition ("estimated probability
0"). A row that asks both columns for values the line does not join is refused here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tvae.conditional.dependent import as_table, asked_targets, in_form_of, is_empty, is_number
from tvae.errors import ConditionError
from tvae.transformer.linear import Linear, tolerance_of

EDGE = 1e-9  # a range's ends stay this share of a half step inside the rounding's edges


def through_lines(transformer: Any, conditions: Any) -> tuple[Any, set]:
    """``conditions`` with each condition on a rounded line target moved onto its source (see
    the module docstring; a dict stays a dict, a frame a frame), and the targets no condition
    names any more (derived, not held)."""
    lines = asked_targets(transformer.dependencies.linear, conditions)
    if not lines:
        return conditions, set()
    table = as_table(conditions)
    steps = {c.name: 10.0**-c.decimals for c in transformer.columns if _on_grid(c)}
    for line in lines:
        own = table[line.source] if line.source in table.columns else [None] * len(table)
        step = steps.get(line.source)
        cells = [_through(line, t, s, step) for t, s in zip(table[line.target], own, strict=True)]
        if line.decimals is None:
            continue  # checked only: the target keeps its condition
        table[line.source] = pd.Series([s for s, _ in cells], index=table.index, dtype=object)
        table[line.target] = pd.Series([t for _, t in cells], index=table.index, dtype=object)
        if all(is_empty(cell) for cell in table[line.target]):
            table = table.drop(columns=line.target)
    moved = {line.target for line in lines} - set(table.columns)
    return in_form_of(conditions, table), moved


def _on_grid(column: Any) -> bool:
    return column.kind == "numerical" and getattr(column, "decimals", None) is not None


def _through(line: Linear, target: Any, source: Any, step: float | None) -> tuple[Any, Any]:
    """(source cell, target cell) for one row: the target's condition as the source's range
    (intersected with the source's own), the target's cell then empty; unchanged where the
    target asks nothing or asks a missing value. ``step``: the source's grid, if any."""
    if is_empty(target) or not _is_number_or_range(target):
        return source, target
    low, high = (None if v is None else float(v)
                 for v in (target if isinstance(target, tuple) else (target, target)))  # fmt: skip
    if is_number(source):
        derived = float(line.values(np.asarray([float(source)]))[0])
        # the noise a real row may carry scales with the column's size, as the line was found
        # (nuts: a real row's sntrees, 5e-6 off its line, was refused against the one value)
        scale = np.asarray([derived, *(line.span or ())])
        reach = float(tolerance_of(scale, *line.written)[0])
        if (low is not None and derived + reach < low) or (
            high is not None and derived - reach > high
        ):
            raise ConditionError(
                f"conditions ask {line.source!r} = {source!r} and {line.target!r} = "
                f"{target!r}, but {_formula(line)} in every row, which gives {derived!r}; leave "
                "one of them out"
            )
        return source, None if line.decimals is not None else target
    if line.decimals is None:
        return source, target
    half = 0.5 * 10.0**-line.decimals * (1 - EDGE)
    ends = [None if v is None else float(line.sources(np.asarray([v + d]))[0])
            for v, d in ((low, -half), (high, half))]  # fmt: skip
    if line.slope < 0:
        ends.reverse()
    asked = tuple(ends)
    if step and low == high and np.ceil(asked[0] / step - EDGE) * step > asked[1]:
        below, above = np.floor(asked[0] / step) * step, np.ceil(asked[1] / step) * step
        gives = line.values(np.asarray([below, above]))
        raise ConditionError(
            f"condition {line.target!r} = {target!r} is never generated: {_formula(line)} in "
            f"every row, and no {line.source!r} on its grid of {step:g} gives it (the nearest, "
            f"{below:g} and {above:g}, give {gives[0]:g} and {gives[1]:g})"
        )
    if isinstance(source, tuple):  # both ranged: the intersection
        asked = (_max(asked[0], source[0]), _min(asked[1], source[1]))
        if None not in asked and asked[0] > asked[1]:
            raise ConditionError(
                f"conditions ask {line.source!r} in {source!r} and {line.target!r} in "
                f"{target!r}, but {_formula(line)} in every row, and no value meets both"
            )
    return asked, None


def _formula(line: Linear) -> str:
    shown = f"log({line.source!r})" if line.log else repr(line.source)
    return f"{line.target!r} = {line.slope:g} * {shown} + {line.intercept:g}"


def _is_number_or_range(cell: Any) -> bool:
    if isinstance(cell, tuple):
        return len(cell) == 2 and all(v is None or is_number(v) for v in cell)
    return is_number(cell)


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def _min(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)
