"""Keeping :mod:`presences <tvae.transformer.presence>` in sampled rows.

The columns one source decides are kept together (a source value with no rule for a column
leaves it as drawn). Where the source says a column is missing
and it holds a value, the value is emptied. Where the source says it holds one and it is
missing, the row takes the values of every column the source says is present from one other
sampled row with the same source value, which holds them all, the one most like it
(:mod:`tvae.transformer.donors`): values drawn together stay consistent (a start before its
end, a salary beside its contract), and with the rest of the row; where no row can lend them
(a single row), each column's typical value. A column the user asked
for that disagrees with its source moves the source instead, where the source is free to move.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tvae.transformer.donors import nearest_donors, row_features
from tvae.transformer.presence import Presence


def keep_presence(
    frame: pd.DataFrame, items: list[Presence], fixed: set, held: set, allowed: Mapping | None
) -> bool:
    """Make every presence of ``items`` hold in ``frame`` (in place); whether anything moved.

    ``fixed`` columns (asked) keep their cells; a source in ``held`` (set by another
    dependency) or limited by ``allowed`` (a condition's set) is never moved."""
    groups: dict[tuple, list[Presence]] = {}
    for item in items:
        groups.setdefault((item.source, item.by_missing), []).append(item)
    changed = False
    features: list = []  # the rows' features, built once where a row needs a donor
    for group in groups.values():
        source = group[0].source
        movable = source not in held and source not in fixed and source not in (allowed or {})
        changed |= _keep_group(frame, group, fixed, movable, features)
    return changed


def _keep_group(
    frame: pd.DataFrame, group: list[Presence], fixed: set, movable: bool, features: list
) -> bool:
    first = group[0]
    members = [item.target for item in group]
    # (keys, members): the rule's "present", and whether a key has a rule at all
    table = np.array([[bool(p) for p in item.present] for item in group], dtype=bool).T
    ruled = np.array([[p is not None for p in item.present] for item in group], dtype=bool).T
    markers = [item.marker for item in group]
    fallbacks = [item.fallback for item in group]
    if first.by_missing:  # the source's own presence is the key: it is kept as a member too
        members = [first.source, *members]
        table = np.column_stack([np.array([False, True]), table])
        ruled = np.column_stack([np.array([True, True]), ruled])
        markers = [first.source_marker, *markers]
        fallbacks = [first.source_fallback, *fallbacks]
    codes = first.key_codes(frame[first.source])
    have = np.column_stack([frame[m].notna().to_numpy() for m in members])
    pinned = np.array([m in fixed for m in members])
    counts = np.asarray(first.counts or [1] * len(table), dtype=np.float64)
    known = codes >= 0
    moved = np.zeros(len(frame), dtype=bool)
    if movable and pinned.any():  # an asked cell the source disagrees with: the source moves
        at = np.maximum(codes, 0)
        clash = ruled[at][:, pinned] & (have[:, pinned] != table[at][:, pinned])
        for row in np.flatnonzero(known & clash.any(axis=1)):
            key = _best_key(table, ruled, have[row], pinned, counts)
            if key is not None:
                codes[row], moved[row] = key, True
    at = np.maximum(codes, 0)
    want = table[at] & ruled[at] & known[:, None]
    blank = known[:, None] & ruled[at] & ~table[at] & have & ~pinned
    need = want & ~have & ~pinned
    lonely = np.zeros(len(frame), dtype=bool)
    copies: dict[int, np.ndarray] = {}  # row -> donor row
    for key in np.unique(codes[need.any(axis=1)]):
        rows = np.flatnonzero((codes == key) & need.any(axis=1))
        wanted = table[key] & ruled[key]
        donors = np.flatnonzero((have | ~wanted).all(axis=1) & (codes == key))
        if not len(donors):  # none with this value: any row holding the columns
            donors = np.flatnonzero(have[:, wanted].all(axis=1))
        if not len(donors):
            lonely[rows] = True
            continue
        if not features:
            features.append(row_features(frame))
        copies.update(zip(rows, nearest_donors(features[0], rows, donors), strict=True))
    if movable and lonely.any():  # no row to copy from: the source moves to what the row holds
        for row in np.flatnonzero(lonely):
            key = _best_key(table, ruled, have[row], pinned, counts, within=True)
            if key is not None:
                codes[row], moved[row], lonely[row] = key, True, False
                blank[row] = ruled[key] & ~table[key] & have[row] & ~pinned
    typical = need & lonely[:, None]  # else a typical value (a single row, its source held)
    if not (blank.any() or copies or moved.any() or typical.any()):
        return False
    if moved.any() and not first.by_missing:
        _write(frame, first.source, np.flatnonzero(moved), [first.keys[k] for k in codes[moved]])
    rows = np.fromiter(copies, dtype=np.int64, count=len(copies))
    donors = np.fromiter(copies.values(), dtype=np.int64, count=len(copies))
    for j, member in enumerate(members):
        if pinned[j]:
            continue
        if len(rows):
            takes = want[rows, j]  # every column the row's value gives: one donor's
            _write(frame, member, rows[takes], frame[member].to_numpy()[donors[takes]])
        filled = np.flatnonzero(typical[:, j])
        if len(filled) and fallbacks[j] is not None:
            _write(frame, member, filled, [fallbacks[j]] * len(filled))
        emptied = np.flatnonzero(blank[:, j])
        if len(emptied):
            _write(frame, member, emptied, [markers[j]] * len(emptied))
    return True


def _best_key(
    table: np.ndarray,
    ruled: np.ndarray,
    row: np.ndarray,
    pinned: np.ndarray,
    counts: np.ndarray,
    within: bool = False,
) -> int | None:
    """The key whose rules the ``pinned`` columns of ``row`` meet (``within``: whose columns
    it says are present the row all holds), meeting most rules on the others, then the most
    frequent."""
    meets = ~ruled | (table == row)
    fits = meets[:, pinned].all(axis=1)
    if within:
        fits &= (~(table & ruled) | row).all(axis=1)
    if not fits.any():
        return None
    agree = meets.sum(axis=1) + counts / (counts.sum() + 1.0)
    return int(np.flatnonzero(fits)[np.argmax(agree[fits])])


def _write(frame: pd.DataFrame, column: Hashable, rows: np.ndarray, values: Any) -> None:
    """``frame[column]`` at positions ``rows`` set to ``values``, the column's dtype kept."""
    if not len(rows):
        return
    series = frame[column].copy()
    series.iloc[rows] = values
    frame[column] = series
