"""Conditions on a column modelled as its base plus a difference (:mod:`tvae.transformer.offsets`).

The network draws the difference, not the column (a stay's length, not its end date), so a
condition on the column is asked through its base:

* where the row holds the base to one value, the condition moves onto the difference (the asked
  end minus the asked start), which the network then draws conditionally like any number, so
  the other columns follow the asked duration;
* otherwise the base is held to what the condition and the real differences leave it (an end
  on 10 January, with stays of 0 to 39 days, holds the start between 2 December and 10
  January), within the base's own condition, and the network draws the rest.

Either way the column is set to the asked value (clipped into an asked range) once decoded, in
its own dtype; its difference then lies within the real ones. An asked value that no real
difference reaches from the asked base is a :class:`~tvae.errors.ConditionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tvae.conditional.dependent import is_empty
from tvae.errors import ConditionError
from tvae.transformer.granularity import NS
from tvae.transformer.offset_column import (
    OffsetColumn,
    add_bases,
    column_numbers,
    restore_numbers,
)
from tvae.transformer.offsets import Offset, in_chain_order, numbers_of


def through_offsets(transformer: Any, conditions: Any) -> tuple[Any, OffsetSettler | None]:
    """``conditions`` with each condition on an offset column asked through its base (see the
    module docstring), and what sets the asked values once the rows are decoded (None when no
    condition names an offset column). A condition moved onto a base that is itself an offset
    (start -> end -> end as text) is moved on, deepest first."""
    offsets = {c.name: c for c in transformer.columns if isinstance(c, OffsetColumn)}
    if not offsets or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return conditions, None
    names = list(conditions.columns if isinstance(conditions, pd.DataFrame) else conditions)
    if not any(c in offsets for c in names):
        return conditions, None
    models = {c.name: c for c in transformer.columns}
    derived = {d.target for d in transformer.dependencies.determinations}
    derived |= {j.target for j in transformer.dependencies.joint}
    if isinstance(conditions, Mapping):
        table = pd.DataFrame({c: [v] for c, v in conditions.items()}, dtype=object)
    else:
        table = conditions.astype(object).copy()
    settle: dict = {}  # offset column -> per row: None, or how to settle it (see _through)
    for offset in reversed(in_chain_order([Offset(c.base, c.name) for c in offsets.values()])):
        name, column = offset.column, offsets[offset.column]
        if name not in table.columns or all(is_empty(cell) for cell in table[name]):
            continue
        base = column.base
        if base not in table.columns:
            table[base] = pd.Series([None] * len(table), index=table.index, dtype=object)
        cells = [
            _through(column, models[base], cell, base_cell, name not in derived)
            for cell, base_cell in zip(table[name].tolist(), table[base].tolist(), strict=True)
        ]
        table[name] = pd.Series([c[0] for c in cells], index=table.index, dtype=object)
        table[base] = pd.Series([c[1] for c in cells], index=table.index, dtype=object)
        settle[name] = [c[2] for c in cells]
    drawn = [c for c in settle if any(_on_difference(cell) for cell in table[c])]
    if isinstance(conditions, Mapping):  # a base added for nothing asks nothing of it
        kept = [c for c in table.columns if c in conditions or not is_empty(table[c].iloc[0])]
        translated = {c: table[c].iloc[0] for c in kept if not _dropped(table[c].iloc[0])}
    else:
        translated = table.map(lambda cell: None if _dropped(cell) else cell)
        translated = translated.drop(columns=[c for c in settle if c not in drawn])
    return translated, OffsetSettler(transformer.columns, drawn, settle)


class _Drop:
    """The cell of a condition moved off its column (a dict leaves the key out)."""


DROP = _Drop()
NOISE = 1e-9  # the share of a value's size that float arithmetic may put on a difference


def _dropped(cell: Any) -> bool:
    return isinstance(cell, _Drop)


class _Difference(tuple):
    """A condition cell moved onto an offset column's difference: (low, high) of it."""


def _on_difference(cell: Any) -> bool:
    return isinstance(cell, _Difference)


def _through(
    column: OffsetColumn, base_model: Any, cell: Any, base_cell: Any, on_difference: bool
) -> tuple[Any, Any, tuple | None]:
    """(the column's new cell, the base's new cell, how to settle the row once decoded) for
    one row's condition ``cell`` on ``column`` (an empty cell: unchanged). The last is None or
    (low, high, base low, base high) in numbers: the column's asked range, and the range the
    base may move in (NaN where the row holds the base to a value)."""
    if is_empty(cell) or cell is None:
        return cell, base_cell, None
    kind = column.target_kind
    is_range = isinstance(cell, tuple)
    ends = cell if is_range else (cell, cell)
    low, high = (_number(v, kind, column.target, fallback) for v, fallback in
                 zip(ends, (-np.inf, np.inf), strict=True))  # fmt: skip
    smallest, largest = column.difference.low, column.difference.high
    name, base = column.name, column.base
    if not is_empty(base_cell) and not isinstance(base_cell, (tuple, frozenset)):
        start = _number(base_cell, kind, base_model, np.nan)
        # a real row's two values give its difference to float noise (freeny's -0.0945 came
        # back as -0.09450000000000003 and the row was refused): the ends take that noise
        noise = 0.0 if kind in ("datetime", "duration") else NOISE * max(1.0, abs(start))
        smallest, largest = smallest - noise, largest + noise
        if not (low - start <= largest and high - start >= smallest):
            raise ConditionError(
                f"conditions {name!r}={cell!r} and {base!r}={base_cell!r}: {name!r} minus "
                f"{base!r} is {_span(smallest, kind)} to {_span(largest, kind)} in the real "
                "rows; ask values within that"
            )
        if on_difference:  # the network draws the difference under the condition
            difference = _Difference((max(low - start, smallest), min(high - start, largest)))
            return difference, base_cell, (low, high, np.nan, np.nan)
        return DROP, base_cell, (low, high, np.nan, np.nan)
    base_low, base_high = low - largest, high - smallest
    if isinstance(base_cell, tuple):
        open_ends = (-np.inf, np.inf)
        given = [_number(v, kind, base_model, f) for v, f in zip(base_cell, open_ends, strict=True)]
        base_low, base_high = max(base_low, given[0]), min(base_high, given[1])
    real_low, real_high = _real_range(base_model)
    base_low, base_high = max(base_low, real_low), min(base_high, real_high)
    if base_low > base_high:
        raise ConditionError(
            f"condition {name!r}={cell!r}: {name!r} minus {base!r} is {_span(smallest, kind)} "
            f"to {_span(largest, kind)} in the real rows, which puts {base!r} outside its real "
            "range (or its condition)"
        )
    base_range = (_value(base_low, kind), _value(base_high, kind))
    return DROP, base_range, (low, high, base_low, base_high)


def _number(value: Any, kind: str, model: Any, empty: float) -> float:
    """A condition value as the column's numbers (epoch seconds for times)."""
    if is_empty(value):
        return empty
    if kind == "datetime" and not isinstance(value, (str, pd.Timestamp, np.datetime64)):
        value = pd.Timestamp(value)
    model = model.target if isinstance(model, OffsetColumn) else model
    try:
        numbers = numbers_of(pd.Series([value], dtype=object, name=model.name), kind, model)
    except (TypeError, ValueError) as error:
        message = f"{value!r} is not a value of column {model.name!r} ({error})"
        raise ConditionError(message) from error
    if np.isnan(numbers[0]):
        raise ConditionError(f"{value!r} is not a value of column {model.name!r}")
    return float(numbers[0])


def _real_range(model: Any) -> tuple[float, float]:
    """The real range of a base's numbers (epoch seconds for times, seconds for durations)."""
    model = model.target if isinstance(model, OffsetColumn) else model
    numbers = getattr(model, "numbers", model)  # a datetime's or a duration's: in seconds
    return numbers.low, numbers.high


def _value(number: float, kind: str) -> Any:
    """A number of the base's (epoch seconds for times) as a condition value."""
    if kind == "datetime":
        return pd.Timestamp(round(number * NS), unit="ns")
    if kind == "duration":
        return pd.Timedelta(round(number * NS), unit="ns")
    return number


def _span(number: float, kind: str) -> str:
    return str(pd.Timedelta(seconds=number)) if kind in ("datetime", "duration") else f"{number:g}"


class OffsetSettler:
    """Sets the asked values of offset columns in decoded rows (see :func:`through_offsets`)."""

    def __init__(self, columns: list, drawn: list, settle: Mapping) -> None:
        self.columns, self.drawn, self.settle = columns, drawn, settle
        self.models = {c.name: c for c in columns}
        offsets = [Offset(c.base, c.name) for c in columns if isinstance(c, OffsetColumn)]
        self.chain = in_chain_order(offsets)
        self.decoded: dict = {}

    def capture(self, frame: pd.DataFrame) -> None:
        """Keep each offset column's difference from its base as decoded, before the
        conditions' values are written: the columns that follow a moved base keep theirs."""
        self.decoded = {o.column: self._numbers(frame, o.column) - self._numbers(frame, o.base)
                        for o in self.chain}  # fmt: skip

    def __call__(self, frame: pd.DataFrame) -> None:
        """Add the bases to the ``drawn`` offset columns (the network drew their differences
        under a condition, which wrote them back as differences); set each asked value
        (clipped into each asked range), deepest first, and where the base was free move it
        to that value minus the drawn difference (within the base's range), so the row keeps
        the difference the network drew with its other columns (a short stay's few days);
        then every other offset column follows its base with its decoded difference. In
        place."""
        add_bases(frame, self.columns, only=self.drawn)
        for name, cells in self.settle.items():
            self._settle(frame, name, cells)
        for offset in self.chain:
            if offset.column in self.settle or offset.column not in self.decoded:
                continue
            column = self.models[offset.column]
            base = self._numbers(frame, offset.base)
            values = restore_numbers(column.target, base + self.decoded[offset.column])
            frame[offset.column] = values.set_axis(frame.index)

    def _numbers(self, frame: pd.DataFrame, name: Any) -> np.ndarray:
        return column_numbers(frame, name, self.models[name])

    def _settle(self, frame: pd.DataFrame, name: Any, cells: list) -> None:
        if len(cells) != len(frame):  # a dict's one condition holds in every row
            cells = cells * len(frame)
        asked = np.asarray([cell is not None for cell in cells], dtype=bool)
        if not asked.any():
            return
        column = self.models[name]
        low, high, base_low, base_high = np.asarray(
            [cell if cell is not None else (np.nan,) * 4 for cell in cells], dtype=float
        ).T
        value, start = self._numbers(frame, name), self._numbers(frame, column.base)
        drawn_difference = value - start
        drawn_difference[np.isnan(drawn_difference)] = column.difference.fill_value
        target = np.clip(np.where(np.isnan(value), low, value), low, high)
        moves = asked & ~np.isnan(base_low)
        if moves.any():
            moved = np.clip(target - drawn_difference, base_low, base_high)
            restored = restore_numbers(self.models[column.base], np.where(moves, moved, start))
            frame.loc[moves, column.base] = restored[moves].to_numpy()
        values = restore_numbers(column.target, np.where(asked, target, value))
        frame[name] = values.set_axis(frame.index)
