"""Conditions that bound a number through an order, asked of the columns the repairs keep.

An order ``low <= high`` (:mod:`tvae.transformer.dependencies`) is repaired by moving one of
its two columns. A condition holds one of them; the repair then moves the other. But some
columns are not moved by an order's repair: a column a determination derives or reads, a
total, a line's target (:meth:`~tvae.transformer.dependencies.Dependencies.held`). With
``education-num`` derived from ``education`` under ``education-num <= years``, a condition
``{"years": 12}`` left rows with ``education-num`` 16: neither side could move, and the
repair raised ``years`` off its condition (82 % of rows on a test table).

So a condition's bound is carried along the orders (``years <= 12`` gives ``education-num
<= 12``, and so on down a chain), and each held column it reaches is asked for it: a range
added to its own condition, which the other steps then move onto the column's source
(``education`` to the values whose ``education-num`` is 12 or less). Conditions that an
order makes impossible (``{"a": 5, "b": 3}`` under ``a <= b``) are a :class:`ConditionError`
before any sampling. A total gets no bound: the sums' repair moves it, its parts scaled, to
the orders' other sides (:func:`tvae.transformer.sum_repairs.total_limits`). None passes
through an order that a pair or a sum keeps by itself (see :func:`through_orders`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tvae.conditional.dependent import as_table, in_form_of, is_empty, is_number
from tvae.conditional.held import range_of
from tvae.conditional.kinds import NUMERIC_KINDS
from tvae.errors import ConditionError

Bounds = dict[Hashable, list[float]]  # column -> [lowest, highest]; infinite: open


def through_orders(transformer: Any, conditions: Mapping | pd.DataFrame) -> tuple[Any, list]:
    """``conditions`` with the bound each row's conditions put, through the orders, on a
    column the orders' repairs do not move, added to that column's own condition there; and
    those columns (a later refusal of their conditions names them: :func:`explained`)."""
    dependencies = transformer.dependencies
    orders = dependencies.orders
    if not orders or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return conditions, []
    ordered = {c for o in orders for c in (o.low, o.high)}
    named = set(conditions.columns if isinstance(conditions, pd.DataFrame) else conditions)
    if not ordered & named:
        return conditions, []
    # a total gets no bound: held to one, its parts moved and broke other orders (midwest:
    # summed over its conditions, the shares of rows breaking a dependency came to 8.4 with
    # bounds on its total population, 4.7 without); the sums' repair meets the orders instead
    held = (dependencies.held() - {s.column for s in dependencies.sums}) & ordered
    # an order between a pair's target and one of its sources, or a total and one of its
    # parts, is kept by the pair's real rows or by the sum: no bound is carried through it
    # (Depredations: `late`, which `number` + `early` give, held to at most the asked
    # `number` = 4 while the pair moved, broke the pair in half the rows)
    inner = {frozenset((j.target, c)) for j in dependencies.joint for c in j.sources}
    inner |= {frozenset((s.column, c)) for s in dependencies.sums for c in s.parts}
    orders = [o for o in orders if frozenset((o.low, o.high)) not in inner]
    spans = _spans(transformer, held)
    table = as_table(conditions)
    added: dict[Hashable, list] = {c: [None] * len(table) for c in held}
    for position, row in enumerate(table.to_dict("records")):
        bounds = _carried(orders, _asked_bounds(row, ordered), row)
        for column in held & set(bounds):
            bound = _within_span(bounds[column], spans.get(column, (-np.inf, np.inf)))
            added[column][position] = _narrowed(row.get(column), bound)
    bounded = [c for c, cells in added.items() if any(cell is not None for cell in cells)]
    for column in bounded:
        cells = added[column]
        own = table[column] if column in table.columns else [None] * len(table)
        table[column] = pd.Series(
            [old if new is None else new for new, old in zip(cells, own, strict=True)],
            index=table.index, dtype=object,
        )  # fmt: skip
    return in_form_of(conditions, table), bounded


def explained(error: ConditionError, bounded: list) -> ConditionError:
    """``error`` with a note that the orders put the conditions on the ``bounded`` columns,
    which the user may not have named."""
    if not bounded:
        return error
    names = ", ".join(repr(c) for c in bounded)
    return ConditionError(
        f"{error} (the condition on {names} is the bound that the asked values put on it "
        "through an order that holds in every real row)"
    )


def _spans(transformer: Any, columns: set) -> dict[Hashable, tuple[float, float]]:
    """The range of values the model decodes for each of ``columns`` that it models as a
    number (a count of few values, modelled as labels, has none here)."""
    spans = {}
    for column in transformer.columns:
        if column.name in columns and column.kind in NUMERIC_KINDS:
            spans[column.name] = NUMERIC_KINDS[column.kind](column).reach()
    return spans


def _within_span(bound: list[float], span: tuple[float, float]) -> list[float]:
    """``bound`` less the ends the column's values never pass anyway: held to such a bound, a
    column would only stop following the repairs for nothing."""
    lowest, highest = bound
    return [-np.inf if lowest <= span[0] else lowest, np.inf if highest >= span[1] else highest]


def _asked_bounds(row: Mapping, columns: set) -> Bounds:
    """The lowest and highest value each condition of ``row`` leaves a column of ``columns``
    (one number: both; a range of numbers: its ends). Other cells bound nothing."""
    bounds: Bounds = {}
    for column in columns & set(row):
        cell = row[column]
        if is_number(cell):
            bounds[column] = [float(cell), float(cell)]
        elif (ends := range_of(cell)) is not None:
            bounds[column] = list(ends)
    return bounds


def _carried(orders: list, bounds: Bounds, row: Mapping) -> Bounds:
    """``bounds`` carried along ``orders`` until none moves (every ordered column gets one): a
    ``low`` is at most its ``high``'s highest, a ``high`` at least its ``low``'s lowest. An
    order they break is a :class:`ConditionError`."""
    for _ in range(len(orders) + 1):  # a chain of k orders settles within k passes
        moved = False
        for order in orders:
            below = bounds.setdefault(order.low, [-np.inf, np.inf])
            above = bounds.setdefault(order.high, [-np.inf, np.inf])
            if above[1] < below[1]:
                below[1], moved = above[1], True
            if below[0] > above[0]:
                above[0], moved = below[0], True
        if not moved:
            break
    for order in orders:
        lowest, highest = bounds[order.low][0], bounds[order.high][1]
        if lowest > highest:
            asked = ", ".join(f"{c!r} = {v!r}" for c, v in row.items() if not is_empty(v))
            raise ConditionError(
                f"conditions ask {asked}, but {order.low!r} <= {order.high!r} in every real "
                f"row (and through the orders these would need {order.low!r} at least "
                f"{lowest:g} and {order.high!r} at most {highest:g}); ask values that keep it"
            )
    return bounds


def _narrowed(cell: Any, bound: list[float]) -> tuple | None:
    """The range ``bound`` met together with the column's own condition ``cell`` (``None`` for
    an open end); None where that adds nothing (the cell asks one number, or something other
    than a range, or the bound leaves it as it was)."""
    own = (-np.inf, np.inf) if is_empty(cell) else range_of(cell)
    if is_number(cell) or own is None:
        return None
    lowest, highest = max(bound[0], own[0]), min(bound[1], own[1])
    if (lowest, highest) == tuple(own):
        return None
    return (None if lowest == -np.inf else lowest, None if highest == np.inf else highest)
