"""Turn user conditions (a dict or a frame of known values) into per-column conditions.

Every check runs here, before any sampling: unknown columns, unknown categories, values outside
what the model can generate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from tvae.conditional.conditions import (
    MISSING,
    CategoricalCondition,
    Condition,
    FixedCondition,
    NumericCondition,
    describe_condition,
)
from tvae.conditional.kinds import CATEGORY_KINDS, FIXED_KINDS, NUMERIC_KINDS, NumericView
from tvae.errors import ConditionError


def _locate(transformer: Any, layout: Any) -> dict[Any, list[tuple[int, int]]]:
    """Each column's spans as (offset in the decoder output, column in alphas or codes)."""
    located, position = {}, 0
    for column in transformer.columns:
        count = len(column.spans)
        located[column.name] = [
            (layout.spans[i].offset, layout.slots[i]) for i in range(position, position + count)
        ]
        position += count
    return located


def _split_cell(name: Any, value: Any) -> tuple[bool, Any, Any]:
    """(is_range, low, high) of one condition cell; a tuple of two is an inclusive range."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ConditionError(
                f"condition on {name!r}: a range must be a (low, high) tuple, got {value!r}"
            )
        return True, value[0], value[1]
    return False, value, value


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (tuple, str)) and bool(pd.isna(value)))


def _labels(cells: list) -> np.ndarray:
    labels = np.empty(len(cells), dtype=object)
    labels[:] = cells
    return labels


def find_slot(known: pd.Index, cell: Any) -> int:
    """Slot of ``cell``; text such as "3" or "True" (from the command line) matches 3 or True."""
    found = int(known.get_indexer([cell])[0])
    if found < 0 and isinstance(cell, str):
        as_text = [str(value) for value in known]
        found = as_text.index(cell) if as_text.count(cell) == 1 else -1
    return found


def _categorical(column, located, cells: list, is_frame: bool, device) -> CategoricalCondition:
    slots = CATEGORY_KINDS[column.kind](column)
    n_slots = len(slots.values)
    known = pd.Index(slots.values[: n_slots - 1] if slots.shared is not None else slots.values)
    multiplier = np.zeros((len(cells), n_slots))
    override = np.full(len(cells), None, dtype=object)
    rare = np.full(len(cells), None, dtype=object)  # a set's values in the shared slot
    for g, cell in enumerate(cells):
        if cell is MISSING:  # asked through a column it determines: its missing category
            cell = np.nan
        elif is_frame and _is_missing(cell):
            multiplier[g] = 1.0  # an empty cell of a conditions frame: no condition
            continue
        if isinstance(cell, (set, frozenset)):  # any of several values (see dependent.py)
            shared = []
            for member in cell:
                if (found := find_slot(known, member)) >= 0:
                    multiplier[g, found] = 1.0
                elif slots.shared is not None and member in slots.shared:
                    shared.append(member)
            if shared:  # the slot decodes into the set this often; its draw is held to it
                weights = np.asarray([slots.shared[m] for m in shared])
                multiplier[g, -1] = min(1.0, float(weights.sum()))
                rare[g] = (shared, weights / weights.sum())
            if not multiplier[g].any():
                raise ConditionError(
                    f"none of the values {sorted(map(repr, cell))[:8]} is a category of "
                    f"{column.name!r}"
                )
            continue
        is_range, low, high = _split_cell(column.name, cell)
        if is_range:
            if slots.shared is not None:
                raise ConditionError(f"column {column.name!r} has too many categories for a range")
            try:
                keep = [(low is None or v >= low) and (high is None or v <= high) for v in known]
            except TypeError as error:
                raise ConditionError(
                    f"column {column.name!r} holds unordered values; give one value, not the "
                    f"range {cell!r}"
                ) from error
            multiplier[g, :] = keep
        elif (found := find_slot(known, cell)) >= 0:
            multiplier[g, found] = 1.0
        elif slots.shared is not None and cell in slots.shared:
            multiplier[g, -1], override[g] = slots.shared[cell], cell
        else:
            shown = ", ".join(repr(c) for c in list(known[:8]))
            raise ConditionError(
                f"column {column.name!r} has no category {cell!r}; the model learned "
                f"{len(known)} categories, such as {shown}{', ...' if len(known) > 8 else ''}"
            )
        if not multiplier[g].any():
            raise ConditionError(
                f"condition {cell!r} on {column.name!r} matches none of its categories"
            )
    offset, slot = located[0]
    return CategoricalCondition(
        column.name, column, offset, slot,
        torch.as_tensor(multiplier, dtype=torch.float64, device=device), override, _labels(cells),
        rare,
    )  # fmt: skip


def _check_range_holds_a_value(
    column: Any,
    points: np.ndarray,
    ranged: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    labels: np.ndarray,
) -> None:
    """A range asked of a number drawn only at its ``points`` must hold one of them: said at
    once, with the nearest values, not after millions of draws."""
    inside = (points[None, :] >= low[:, None]) & (points[None, :] <= high[:, None])
    empty = np.flatnonzero(ranged & ~inside.any(axis=1))
    if not len(empty):
        return
    g = int(empty[0])
    below, above = points[points < low[g]], points[points > high[g]]
    nearest = [_shown(column, below.max())] if len(below) else []
    nearest += [_shown(column, above.min())] if len(above) else []
    raise ConditionError(
        f"condition {describe_condition(column.name, labels[g])} has estimated probability 0: "
        f"column {column.name!r} is drawn only at the values its real rows hold, and none lies "
        f"in that range (the nearest: {' and '.join(map(str, nearest))}); ask a range holding "
        "one of them, or a single value (which comes back as asked)"
    )


def _holds_fractions(column: Any) -> bool:
    """Whether ``column`` comes back in a float dtype, which holds a value off its grid."""
    dtype = getattr(column, "dtype", None)
    return dtype is not None and pd.api.types.is_float_dtype(dtype.pandas_dtype())


def _numeric(column, view: NumericView, located, cells: list, is_frame, device) -> NumericCondition:
    # a set of numbers (scattered values of a source; see dependent.py) is drawn within its
    # range; the repairs then move each value to the set's nearest (Dependencies.apply)
    cells = [(min(c), max(c)) if isinstance(c, frozenset) else c for c in cells]
    # missing: asked through a column it determines (MISSING), or as None / NaN in a dict (in
    # a frame an empty cell is no condition)
    absent = np.asarray(
        [cell is MISSING or (not is_frame and _is_missing(cell)) for cell in cells], dtype=bool
    )
    if absent.any() and len(located) < 3:
        through = any(cell is MISSING for cell in cells)
        how = "through a column it determines" if through else "None or NaN"
        raise ConditionError(
            f"conditions ask {column.name!r} to be missing ({how}), but it is never missing in "
            "the training rows, so the model never generates it missing"
        )
    cells = [None if gone else cell for cell, gone in zip(cells, absent, strict=True)]
    bounds = np.empty((len(cells), 2), dtype=object)
    ranged = np.zeros(len(cells), dtype=bool)
    for g, cell in enumerate(cells):
        ranged[g], bounds[g, 0], bounds[g, 1] = _split_cell(column.name, cell)
    try:
        low = view.to_numbers(pd.Series(bounds[:, 0], dtype=object))
        high = view.to_numbers(pd.Series(bounds[:, 1], dtype=object))
    except (TypeError, ValueError) as error:
        shown = sorted({repr(c) for c in cells})[:5]
        raise ConditionError(
            f"column {column.name!r} is {column.kind}; its conditions must be such values, got "
            f"{shown} ({error})"
        ) from error
    if (upside_down := ranged & (low > high)).any():
        shown = cells[int(np.flatnonzero(upside_down)[0])]
        raise ConditionError(
            f"condition on {column.name!r}: the range {shown!r} has its low end above its high "
            "end; give it as (low, high)"
        )
    missing = np.isnan(low) & np.isnan(high) & ~absent
    if (missing & ~(ranged | is_frame | absent)).any():
        raise ConditionError(f"column {column.name!r}: a missing value cannot be a condition")
    low, high = np.where(np.isnan(low), -np.inf, low), np.where(np.isnan(high), np.inf, high)
    # a range of width zero asks one value (Forward's difference when a real row asks a column
    # and its base: drawn as a range, the model found it too unlikely)
    ranged &= ~(low == high)
    point = ~ranged & ~missing & ~absent
    clip_low, clip_high = view.snap(low, up=True), view.snap(high, up=False)
    labels = _labels(cells)
    normalizer = view.normalizer
    reach = view.reach()
    # a number between the points of a fine grid (titanic's real age 0.75 on a grid of 0.1)
    # is drawn as its nearest grid point the model reaches, then set to itself
    # (and a real off-grid value of a float column on a whole-number grid: heart's stop 4.5,
    # the one such among 172; it was refused as on no point of the grid)
    fine = 0 < view.step < 1 or (view.step > 0 and _holds_fractions(column))
    between = point & (clip_low > clip_high) & fine
    between &= (low >= reach[0]) & (low <= reach[1])
    asked = np.where(between, low, reach[0])
    below, above = view.snap(asked, up=False), view.snap(asked, up=True)
    nearest = np.clip(np.where(asked - below <= above - asked, below, above), *reach)
    # a number drawn only at its values (each an exact mode: a source's, keyed_numbers) asked
    # at another within its range is drawn as the nearest, then set to itself (anes96's popul
    # asked as 17, which no row holds: its logpopul is then the nearest's)
    points = normalizer.points if normalizer.n_modes and normalizer.exact.all() else None
    if points is not None:
        off = point & ~np.isin(low, points) & (low >= reach[0]) & (low <= reach[1])
        off &= between | (clip_low <= clip_high)  # on the column's grid, or a float it holds
        at = np.abs(points[None, :] - np.where(off, low, points[0])[:, None]).argmin(axis=1)
        between, nearest = between | off, np.where(off, points[at], nearest)
        _check_range_holds_a_value(column, points, ranged & ~missing, low, high, labels)
    clip_low = np.where(between, nearest, clip_low)
    clip_high = np.where(between, nearest, clip_high)
    first, last, step = _shown(column, reach[0]), _shown(column, reach[1]), view.step
    step = pd.Timedelta(seconds=step) if column.kind == "datetime" else f"{step:g}"
    for bad, why in (
        ((clip_high < reach[0]) | (clip_low > reach[1]), "is generated only within "
         f"[{first}, {last}] (the range the model learned)"),
        (clip_low > clip_high, f"holds values on a grid of step {step} and none meets it"),
    ):  # fmt: skip
        if (bad & ~missing).any():
            g = int(np.flatnonzero(bad & ~missing)[0])
            raise ConditionError(
                f"condition {describe_condition(column.name, labels[g])} has estimated "
                "probability 0: "
                f"column {column.name!r} {why}"
            )
    # The column clips decoded numbers to [view.low, view.high]: a range reaching a bound takes
    # in everything beyond it. Rounding to a grid widens the draw by half a step.
    half = view.step / 2
    draw_low = np.where(clip_low <= view.low, -np.inf, clip_low - half)
    draw_high = np.where(clip_high >= view.high, np.inf, clip_high + half)
    # Float equality is weighted by density, except at a clip bound, which holds a point mass.
    density = point & (view.step == 0) & (low > view.low) & (high < view.high)
    # a value on the grid but for float noise (fgl's RI 15.9300000000001, as read from its
    # CSV) comes back as asked, not as the grid point 15.93, which == would not match
    noise = np.maximum(1e-6 * view.step, 1e-12 * np.abs(low))  # as decimals_needed forgives
    with np.errstate(invalid="ignore"):  # an open end: -inf - -inf, never a point
        off_grid = np.abs(clip_low - low)
    as_asked = between | (point & (off_grid <= noise) & (0 < view.step < 1))
    value = np.where(point & ~as_asked, clip_low if view.step else low, np.nan)
    value = np.where(as_asked, low, value)
    # a range's end off the grid by float noise (fgl's RI up to -0.650000000000091) is kept:
    # the grid point -0.65 would pass it (the column's rounding is then clipped back to it)
    with np.errstate(invalid="ignore"):
        ends = [np.where(ranged & (abs(c - e) <= noise) & (c < e if up else c > e), e, c)
                for c, e, up in ((clip_low, low, True), (clip_high, high, False))]  # fmt: skip
    clip_low, clip_high = ends
    as_tensor = lambda a, dtype=torch.float64: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    spans = [*located, (None, None)][:3]
    return NumericCondition(
        column.name, view, tuple(s[0] for s in spans), tuple(s[1] for s in spans),
        as_tensor(normalizer.widths_at(low)),
        as_tensor(~missing, torch.bool),
        as_tensor(normalizer.alphas_of(draw_low)), as_tensor(normalizer.alphas_of(draw_high)),
        as_tensor(density, torch.bool),
        np.stack([value, np.where(as_asked, low, clip_low), np.where(as_asked, low, clip_high)], 1),
        labels, as_tensor(absent, torch.bool),
    )  # fmt: skip


def parse_conditions(
    transformer: Any,
    layout: Any,
    conditions: Mapping | pd.DataFrame,
    n_rows: int | None,
    device: torch.device | str = "cpu",
) -> tuple[list[Condition], np.ndarray, pd.Index | None]:
    """Conditions per column and the group of every requested row.

    Returns (conditions, groups (N,) int64, index of the frame or None). A dict is one group;
    a frame has one group per distinct row, so identical rows share one sampling effort.
    """
    is_frame = isinstance(conditions, pd.DataFrame)
    if not is_frame and not isinstance(conditions, Mapping):
        raise ConditionError(
            "conditions must be a dict {column: value or (low, high)} or a DataFrame of known "
            f"values, got {type(conditions).__name__}"
        )
    names = list(transformer.column_names)
    unknown = [c for c in (conditions.columns if is_frame else conditions) if c not in names]
    if unknown:
        raise ConditionError(
            f"conditions name unknown column(s) {unknown}; the model's columns are "
            f"{names[:20]}{'...' if len(names) > 20 else ''}"
        )
    if is_frame:
        if conditions.columns.duplicated().any():
            raise ConditionError("the conditions frame has duplicate column names; rename them")
        keys = conditions.astype(object).where(conditions.notna(), None)
        groups = np.zeros(len(keys), dtype=np.int64)
        if len(keys.columns):
            by = list(keys.columns)
            groups = keys.groupby(by, dropna=False, sort=False).ngroup().to_numpy()
        first = pd.Series(np.arange(len(groups))).groupby(groups).first().to_numpy()
        cells = {c: keys[c].to_numpy()[first].tolist() for c in keys.columns}
        index = conditions.index
    else:
        groups = np.zeros(n_rows or 0, dtype=np.int64)
        cells = {c: [v] for c, v in conditions.items()}
        index = None
    located = _locate(transformer, layout)
    parsed: list[Condition] = []
    for column in transformer.columns:
        if column.name not in cells:
            continue
        kind, spans, given = column.kind, located[column.name], cells[column.name]
        if kind in CATEGORY_KINDS:
            parsed.append(_categorical(column, spans, given, is_frame, device))
        elif kind in NUMERIC_KINDS:
            view = NUMERIC_KINDS[kind](column)
            parsed.append(_numeric(column, view, spans, given, is_frame, device))
        elif kind in FIXED_KINDS and not any(isinstance(c, tuple) for c in given):
            values = _labels([None if _is_missing(c) else c for c in given])
            parsed.append(FixedCondition(column.name, column, values))
        else:
            raise ConditionError(
                f"column {column.name!r} of kind {kind!r} cannot be conditioned on"
            )
    return parsed, groups.astype(np.int64), index


def check_sets(transformer: Any, conditions: Mapping | pd.DataFrame) -> None:
    """A set of values asks for any of several labels; on a number it would be drawn as the
    range the set spans ({2, 5} gave 3 and 4), so it is refused there."""
    if not isinstance(conditions, Mapping):
        return
    kinds = transformer.kinds
    for name, cell in conditions.items():
        if isinstance(cell, (set, frozenset)) and kinds.get(name) in NUMERIC_KINDS:
            raise ConditionError(
                f"conditions[{name!r}] is a set, but {name!r} is {kinds[name]}: a set of values "
                "is a condition on labels only; give a range (low, high), or sample each value "
                "on its own and concatenate the rows"
            )


def _shown(column: Any, number: float) -> str:
    """A number of the model's scale as the column's values read: a datetime's own time
    (its zone, string format or period), through the column's decoding."""
    if column.kind == "datetime" and np.isfinite(number):
        return str(column.restore_seconds(np.array([number]))[0])
    return f"{number:.6g}"


def count_requested(samples: int | None, conditions: Any, n_columns: int) -> int | None:
    """Rows asked for: ``samples`` with a dict of conditions; None (one per row) with a frame."""
    from tvae.errors import InvalidParameterError, InvalidParameterTypeError
    from tvae.params import check_non_negative_int, check_samples

    if isinstance(conditions, pd.DataFrame):
        if samples is not None and check_non_negative_int("samples", samples) != len(conditions):
            raise InvalidParameterError(
                f"samples={samples!r} differs from the {len(conditions)} rows of the "
                "conditions frame; omit samples (one row is returned per row of the frame)"
            )
        return None
    if not isinstance(conditions, Mapping):
        raise InvalidParameterTypeError(
            "conditions must be a dict {column: value} or a pandas DataFrame (one condition "
            f"per row), got {type(conditions).__name__}"
        )
    for column, cell in conditions.items():
        if isinstance(cell, (list, np.ndarray, pd.Series, pd.Index)):
            raise InvalidParameterError(
                f"conditions[{column!r}] is a {type(cell).__name__}: give a set for any of "
                "several labels ({'a', 'b'}), a tuple (low, high) for a range, or a DataFrame "
                "of conditions for one value per row"
            )
    if samples is None:
        raise InvalidParameterError(
            "samples is required with a dict of conditions, e.g. "
            "sample(100, conditions={'sex': 'Female'})"
        )
    return check_samples(samples, n_columns)
