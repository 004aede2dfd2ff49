"""Repairs that make a sampled row keep a dependency (:mod:`tvae.transformer.dependencies`):
a target derived from its source, a source moved to a value that maps to the row's targets,
an order's moved value made one its column can hold."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype, is_numeric_dtype


def repair_source(frame: pd.DataFrame, items: list, allowed: Any = None) -> bool:
    """Checks sharing one source: where the source maps to other values than the row's targets,
    set it to a real value that maps to all of them: the nearest one for a numerical source,
    else the most frequent (among ``allowed`` values, if given: a set or a (low, high) range,
    or one of them or None per row). Returns whether a row changed. (Checks of one source
    share its keys and counts: see ``determination.mapping_of``.)

    A numerical value no real row holds is left as it is: no real row says what it maps to.
    Treating it as wrong moved every such value to one frequent key (intrusion: src_bytes ->
    wrong_fragment sent the smooth draws of 30 % of the synthetic "normal" rows to 1032, the
    smurf attacks' value, 6 points above its real rate)."""
    source = items[0].source
    keys = pd.Index(items[0].keys)
    position = keys.get_indexer(frame[source])
    wrong = np.zeros(len(frame), dtype=bool)
    targets = []
    for item in items:
        expected = np.asarray([*item.values, None], dtype=object)[position]
        target = frame[item.target].to_numpy(dtype=object)
        # codes over both arrays: every kind of missing value is one code (-1)
        codes = pd.factorize(np.concatenate([expected, target]))[0]
        wrong |= codes[: len(frame)] != codes[len(frame) :]
        targets.append(target)
    wrong &= position >= 0
    if not wrong.any():
        return False
    numeric = is_numeric_dtype(keys.dtype) and is_numeric_dtype(frame[source].dtype)
    candidates: dict = {}  # the targets' values -> the keys mapping to them, most frequent first
    counts = np.asarray(items[0].counts or [1] * len(keys))
    for code in np.argsort(-counts, kind="stable"):
        wanted = tuple(missing_alike(item.values[code]) for item in items)
        candidates.setdefault(wanted, []).append(items[0].keys[code])
    column = frame[source].to_numpy(dtype=object, copy=True)
    rows_by_targets: dict = {}
    for row in np.flatnonzero(wrong):
        rows_by_targets.setdefault(tuple(missing_alike(t[row]) for t in targets), []).append(row)
    changed = False
    for wanted, all_rows in rows_by_targets.items():
        by_limit: dict = {}  # a condition's set of values (per row, for a frame's): stay in it
        for row in all_rows:
            limit = allowed[row] if isinstance(allowed, np.ndarray) else allowed
            by_limit.setdefault(limit, []).append(row)
        for limit, rows in by_limit.items():
            keys_here = [k for k in candidates.get(wanted, []) if within(k, limit)]
            if not keys_here:
                continue
            rows = np.asarray(rows)
            if numeric:  # moved least: the nearest fitting key (a missing one: most frequent)
                nearest = nearest_keys(keys_here, column[rows])
                column[rows] = np.where(pd.isna(nearest), keys_here[0], nearest)
            else:  # a label: the most frequent fitting key
                column[rows] = keys_here[0]
            changed = True
    if changed:
        restore_column(frame, source, column)
    return changed


def within(value: Any, limit: Any) -> bool:
    """``value`` is in ``limit``: None (anything), a set of values, or a (low, high) range."""
    if limit is None:
        return True
    if isinstance(limit, tuple):
        try:
            return bool(limit[0] <= float(value) <= limit[1])
        except (TypeError, ValueError):
            return False
    return value in limit


def limits_per_row(allowed: Mapping | None, name: Hashable, n_rows: int) -> np.ndarray | None:
    """Each row's set or range of values ``allowed`` leaves column ``name`` (None: any), or
    None."""
    limit = (allowed or {}).get(name)
    if limit is None or isinstance(limit, np.ndarray):
        return limit
    out = np.empty(n_rows, dtype=object)
    out.fill(limit if isinstance(limit, tuple) else frozenset(limit))
    return out


def nearest_keys(keys: list, values: np.ndarray) -> np.ndarray:
    """The present numerical key nearest each of ``values``; missing where the value is
    missing or no key is present. (N,) of objects"""
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
    out = np.full(len(numbers), np.nan, dtype=object)
    present = [k for k in keys if not pd.isna(k)]
    known = ~np.isnan(numbers)
    if not present or not known.any():
        return out
    order = np.argsort(np.asarray(present, dtype=np.float64), kind="stable")
    ordered = np.asarray(present, dtype=np.float64)[order]
    slot = np.clip(np.searchsorted(ordered, numbers[known]), 1, max(len(ordered) - 1, 1))
    below, above = slot - 1, np.minimum(slot, len(ordered) - 1)
    gap_below = np.abs(numbers[known] - ordered[below])
    nearer = np.where(gap_below <= np.abs(numbers[known] - ordered[above]), below, above)
    out[known] = np.asarray(present, dtype=object)[order[nearer]]
    return out


def missing_alike(value: Any) -> Any:
    """A dict key that treats every missing value alike."""
    return "__missing__" if not isinstance(value, str) and pd.isna(value) else value


def derive(frame: pd.DataFrame, item: Any, fixed: Any = ()) -> None:
    """Set the target column from the source column through the mapping."""
    keys = pd.Index(item.keys)
    source = frame[item.source]
    position = keys.get_indexer(source)
    unseen = position < 0
    if unseen.any() and is_numeric_dtype(keys.dtype) and is_numeric_dtype(source.dtype):
        # a numerical source generated a value no real row holds: snap it to the nearest one
        # (a column that determines another behaves as a set of labels); a conditioned one
        # (in ``fixed``: anes96's popul asked as 17) stays, and its target is the nearest's
        column = source.to_numpy(dtype=object, copy=True)
        column[unseen] = nearest_keys(item.keys, column[unseen])
        snapped = pd.Series(column, index=frame.index).astype(source.dtype)
        if item.source not in fixed:
            frame[item.source] = snapped
        position = keys.get_indexer(snapped)
        unseen = position < 0
    current = frame[item.target]
    values = np.asarray([*item.values, None], dtype=object)[position]  # -1: the None slot
    values[unseen] = current.to_numpy(dtype=object)[unseen]
    restore_column(frame, item.target, values)


def restore_column(frame: pd.DataFrame, name: Any, values: np.ndarray) -> None:
    """``frame[name] = values`` (in place), in the column's dtype where it holds them."""
    restored = pd.Series(values, index=frame.index, dtype=object)
    try:
        frame[name] = restored.astype(frame[name].dtype)
    except (TypeError, ValueError):
        frame[name] = restored


def whole_for(column: pd.Series, values: pd.Series, rounding) -> pd.Series:
    """``values`` (another column's) as ``column`` can hold them: an integer column takes whole
    numbers, rounded by ``rounding`` (``np.ceil`` to raise a ``high``, ``np.floor`` to lower a
    ``low``, so the order holds). An order found between an integer and a decimal column
    (BudgetItaly's ``totexp <= income``) once copied 1.11 into the integers, which pandas 3
    refuses."""
    if is_integer_dtype(column.dtype) and not is_integer_dtype(values.dtype):
        return pd.Series(rounding(values.to_numpy(dtype=np.float64)), index=values.index)
    return values


def into_sets(frame: pd.DataFrame, allowed: Any) -> None:
    """Numbers a condition holds to a set of values, moved to the set's nearest member where
    they are outside it (in place). ``allowed`` maps a column to its set, or to one set (or
    None) per row. Such a set is the scattered values of a numerical source that map into its
    target's condition (Crime's county-level pctmin for region "central"): the number was
    drawn within the set's range, and its nearest member gives the target asked."""
    for name, limit in (allowed or {}).items():
        if name not in frame.columns or not is_numeric_dtype(frame[name].dtype):
            continue
        by_set: dict = {}
        if isinstance(limit, frozenset):  # a dict's condition: every row
            by_set = {limit: np.arange(len(frame))} if limit else {}
        elif isinstance(limit, (list, np.ndarray)):  # a frame's: one set (or None) per row
            for row, cell in enumerate(limit):
                if isinstance(cell, frozenset) and cell:
                    by_set.setdefault(cell, []).append(row)
        column = frame[name].to_numpy(dtype=object, copy=True)
        changed = False
        for members, rows in by_set.items():
            rows = np.asarray(rows)
            outside = rows[~pd.Series(column[rows], dtype=object).isin(members).to_numpy()]
            if len(outside):
                nearest = nearest_keys(sorted(members), column[outside])
                column[outside] = np.where(pd.isna(nearest), min(members), nearest)
                changed = True
        if changed:
            restore_column(frame, name, column)


def onto_keys(frame: pd.DataFrame, determinations: list, fixed: set, allowed: Any) -> None:
    """Numbers that determine another and that a condition holds to a range (``allowed``, as
    :func:`limits_per_row` reads it), moved where no real row holds them onto the nearest
    value one does within the range (:func:`into_sets`, with the values within each row's
    range as its set; in place). epil's ``base`` asked within [11, 18] drew 15, which no row
    holds: it stayed, and its ``lbase`` came from 14."""
    for item in determinations:
        cells = limits_per_row(allowed, item.source, len(frame))
        if item.source not in fixed or cells is None:
            continue
        numbers = pd.to_numeric(pd.Series(item.keys, dtype=object), errors="coerce")
        keys = [(k, v) for k, v in zip(item.keys, numbers, strict=True) if np.isfinite(v)]
        inside: dict = {}  # each range's values, found once
        sets = np.empty(len(frame), dtype=object)
        sets[:] = [
            inside.setdefault(c, frozenset(k for k, v in keys if c[0] <= v <= c[1]))
            if isinstance(c, tuple) else None
            for c in cells
        ]  # fmt: skip
        into_sets(frame, {item.source: sets})
