"""Keeping a column two columns determine (:mod:`tvae.transformer.joint`) in sampled rows.

A label only its pair determines is derived from the pair; a pair no real row holds moves first
to the nearest real one. Where another dependency derives or reads the column, the pair moves
instead (:func:`derive_joint`), within what conditions and orders leave it
(:func:`pair_limits`); where no move fits, the column's parent follows the pair
(:func:`parents_follow`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from tvae.transformer.joint import JointDetermination
from tvae.transformer.repairs import (
    limits_per_row,
    missing_alike,
    repair_source,
    restore_column,
    within,
)


def derive_joint(
    frame: pd.DataFrame,
    item: JointDetermination,
    fixed: set,
    move_unseen: bool = True,
    loose: frozenset | set = frozenset(),
    allowed: Mapping | None = None,
) -> None:
    """Make ``item`` hold in ``frame`` (in place). With ``move_unseen`` a pair no real row
    holds moves first to the nearest real one (:func:`_move_pairs`); then the target is derived
    from its pair, or, with the target in ``fixed`` (a condition, or a column another
    dependency derives), the pairs that map elsewhere move instead. A source that ``allowed``
    limits (a condition's set of labels, or one per row) moves only within it."""
    limits = [limits_per_row(allowed, name, len(frame)) for name in item.sources]
    position = item.positions(frame)
    held_target = item.target in fixed
    current = frame[item.target].to_numpy(dtype=object)
    if move_unseen and (position < 0).any():
        unseen = position < 0
        _move_pairs(frame, item, unseen, current if held_target else None, fixed, limits=limits)
        position = item.positions(frame)
    known = position >= 0
    expected = np.asarray([*item.values, None], dtype=object)[position]
    if held_target:
        codes = pd.factorize(np.concatenate([expected, current]))[0]
        wrong = known & (codes[: len(frame)] != codes[len(frame) :])
        if wrong.any():
            _move_pairs(frame, item, wrong, current, fixed, loose, limits)
        return
    values = current.copy()
    values[known] = expected[known]
    restore_column(frame, item.target, values)


def parents_follow(
    frame: pd.DataFrame, deps: Any, fixed: set | frozenset, allowed: Mapping
) -> bool:
    """Where a pair check's column, derived by a parent, still differs from what its real pair
    gives (no move of the pair fits what conditions and orders leave it), the column takes the
    pair's value and the parent moves to a value that maps to it and to the parent's other
    checks (census: a man of 33 whose conditions hold his sunbelt code at "not in universe"
    and, through an order, his age above 2, drawn with a newborn's migration code: the code
    moves to one of a man who lived in the house). Returns whether a parent moved."""
    moved = False
    for item in deps.joint_checks:
        parent = next((d for d in deps.determinations if d.target == item.target), None)
        if parent is None or parent.source in fixed or item.target in fixed:
            continue
        position = item.positions(frame)
        expected = np.asarray([*item.values, None], dtype=object)[position]
        current = frame[item.target].to_numpy(dtype=object)
        codes = pd.factorize(np.concatenate([expected, current]))[0]
        wrong = (position >= 0) & (codes[: len(frame)] != codes[len(frame) :])
        if not wrong.any():
            continue
        values = current.copy()
        values[wrong] = expected[wrong]
        restore_column(frame, item.target, values)
        items = [parent, *(c for c in deps.checks if c.source == parent.source)]
        moved |= repair_source(frame, items, allowed.get(parent.source))
    return moved


def _move_pairs(
    frame: pd.DataFrame,
    item: JointDetermination,
    rows: np.ndarray,
    target: np.ndarray | None,
    fixed: set,
    loose: frozenset | set = frozenset(),
    limits: list | None = None,
) -> None:
    """Move the sources of the ``rows`` (a mask) to a real pair, mapping to the row's
    ``target`` value where that is given: one that keeps a conditioned source's value, and if
    possible either source's value (the other moved to its nearest real value, for a number);
    a move along a number before a changed label, then the more frequent pair; failing that,
    the most frequent pair. Where no real pair keeps the ``fixed`` sources, one that keeps those
    of them not in ``loose``. A source's values stay within its row's limit (``limits``: per
    source, an array of sets or None). Rows no real pair fits stay as they are."""
    limits = limits or [None, None]
    ranked = _RankedPairs(item)
    columns = [frame[name].to_numpy(dtype=object, copy=True) for name in item.sources]
    held = [name in fixed for name in item.sources]
    strict = [name in fixed and name not in loose for name in item.sources]
    groups: dict = {}
    for row in np.flatnonzero(rows):
        wanted = missing_alike(target[row]) if target is not None else None
        own = (columns[0][row], columns[1][row])
        bounds = tuple(None if limit is None else limit[row] for limit in limits)
        key = (missing_alike(own[0]), missing_alike(own[1]), wanted, bounds)
        groups.setdefault(key, []).append(row)
    moved = False
    for (first, second, wanted, bounds), members in groups.items():
        own = (columns[0][members[0]], columns[1][members[0]])
        options = ranked.fitting(None if target is None else wanted, bounds)
        same = (ranked.side[0] == first, ranked.side[1] == second)
        keeping = options & np.logical_and.reduce([same[s] for s in (0, 1) if held[s]] or [True])
        if not keeping.any() and strict != held:  # some held source may move
            kept = [same[s] for s in (0, 1) if strict[s]] or [True]
            keeping = options & np.logical_and.reduce(kept)
        options = keeping
        found = [ranked.nearest_sharing(options & same[side], own, side) for side in (0, 1)]
        found = [f for f in found if f is not None]  # (moved along a number?, rank)
        nearest = min(found, key=lambda f: (not f[0], f[1]), default=None)
        chosen = nearest[1] if nearest else (np.flatnonzero(options)[:1].tolist() or [None])[0]
        if chosen is not None:
            for side in (0, 1):
                columns[side][members] = ranked.keys[chosen][side]
            moved = True
    if not moved:
        return
    for name, column in zip(item.sources, columns, strict=True):
        restore_column(frame, name, column)


def repair_checks(frame: pd.DataFrame, checks: list, fixed: set, allowed: Mapping | None) -> bool:
    """Each source of ``checks`` repaired (:func:`~tvae.transformer.repairs.repair_source`)
    where a row breaks one: a free source within the set a condition leaves it, and one that a
    condition holds to a range within that range (Fishing's ``cboat`` asked within [0.016,
    0.053], which also determines ``cbeach``: 69 % of rows broke it). Whether a row changed."""
    by_source: dict = {}
    for item in checks:
        by_source.setdefault(item.source, []).append(item)
    repaired = [
        repair_source(frame, items, (allowed or {}).get(column))
        for column, items in by_source.items()
        if column not in fixed or _ranged(allowed, column)
    ]
    return any(repaired)


def _ranged(allowed: Mapping | None, column: Hashable) -> bool:
    """A condition holds ``column`` to a range of numbers in every row (in a frame whose rows
    also ask one value of it, none moves)."""
    limit = (allowed or {}).get(column)
    cells = limit if isinstance(limit, np.ndarray) else [limit]
    return limit is not None and all(isinstance(cell, tuple) for cell in cells)


def pair_limits(
    frame: pd.DataFrame, pairs: list, orders: list, allowed: Mapping, fixed: set
) -> tuple[dict, set]:
    """What moving the ``pairs``' sources may do: each source's limit per row (a condition's set
    of labels or range of numbers, or the range that orders with a ``fixed`` other side leave a
    free number), and ``fixed`` less the sources a condition holds to a range, which then move
    within it (in a row that holds one to a value, within that value). So a conditioned age
    range leaves a pair its nearest fitting age, and a conditioned 6 employers keeps a
    spouse's age off 2 (census; a real but rare pair)."""
    sources = {c for j in pairs for c in j.sources} - {j.target for j in pairs}
    limits, free = dict(allowed), set()
    for column in sources & fixed:
        cells = limits_per_row(limits, column, len(frame))
        if cells is None or not any(isinstance(cell, tuple) for cell in cells):
            continue
        values = frame[column].to_numpy(dtype=object)
        held = [c if c is not None else (v, v) for c, v in zip(cells, values, strict=True)]
        limits[column], free = _as_cells(held), free | {column}
    moving = [c for c in sources if c in free or c not in fixed]
    for column in (c for c in moving if is_numeric_dtype(frame[c].dtype)):
        lows = [o.low for o in orders if o.high == column and o.low in fixed]
        highs = [o.high for o in orders if o.low == column and o.high in fixed]
        lows = [c for c in lows if is_numeric_dtype(frame[c].dtype)]
        highs = [c for c in highs if is_numeric_dtype(frame[c].dtype)]
        if not lows and not highs:
            continue
        low = frame[lows].astype(float).max(axis=1).fillna(-np.inf).to_numpy()
        high = frame[highs].astype(float).min(axis=1).fillna(np.inf).to_numpy()
        own = limits_per_row(limits, column, len(frame))
        if own is not None and any(isinstance(r, frozenset) for r in own):
            continue  # a label kept to a condition's set
        if own is not None:  # within the condition's range too
            low = np.maximum(low, [-np.inf if r is None else float(r[0]) for r in own])
            high = np.minimum(high, [np.inf if r is None else float(r[1]) for r in own])
        limits[column] = _as_cells(list(zip(low, high, strict=True)))
    return limits, fixed - free


def _as_cells(cells: list) -> np.ndarray:
    """An object array holding each of ``cells`` (tuples stay whole)."""
    out = np.empty(len(cells), dtype=object)
    out[:] = cells
    return out


class _RankedPairs:
    """A pair check's real pairs, most frequent first, with each side's values as a dict key
    (:func:`~tvae.transformer.repairs.missing_alike`) and as a number, so that a move compares
    every pair at once: census's 3,000 moved pairs against its thousands of real ones took 9 s
    one comparison at a time."""

    def __init__(self, item: JointDetermination) -> None:
        order = np.argsort(-np.asarray(item.counts), kind="stable")
        self.keys = [item.keys[i] for i in order]
        self.side = [_as_cells([missing_alike(k[s]) for k in self.keys]) for s in (0, 1)]
        self.number = [np.asarray([_as_number(k[s]) for k in self.keys]) for s in (0, 1)]
        self.target = _as_cells([missing_alike(item.values[i]) for i in order])

    def fitting(self, wanted: object, bounds: tuple) -> np.ndarray:
        """Which pairs map to ``wanted`` (any, for None) with each side within its bound."""
        mask = np.ones(len(self.keys), dtype=bool) if wanted is None else self.target == wanted
        for side, bound in enumerate(bounds):
            if bound is not None:
                mask &= np.fromiter((within(k[side], bound) for k in self.keys), bool)
        return mask

    def nearest_sharing(self, sharing: np.ndarray, own: tuple, side: int) -> tuple | None:
        """Of the pairs ``sharing`` marks (they keep ``own[side]``), the nearest in the other
        source for a number (True, rank), else the most frequent (False, rank)."""
        ranks = np.flatnonzero(sharing)
        if not len(ranks):
            return None
        value = _as_number(own[1 - side])
        gaps = self.number[1 - side][ranks] - value
        if np.isnan(value) or np.isnan(gaps).any():
            return False, int(ranks[0])
        return True, int(ranks[np.argmin(np.abs(gaps))])


def _as_number(value: object) -> float:
    """``value`` as a float, NaN where it is none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
