"""A column that two columns determine together, found in the real rows and kept exactly.

Titanic's ``alone`` is True exactly when ``sibsp`` and ``parch`` are both 0: neither count
determines it alone, the pair does. A default fit broke that in 5 % of its sampled rows (alone
passengers with no family were sampled as not alone), since the decoder draws the three columns
with noise of their own. ``fit`` finds such a pair (:func:`find_joint`) when the column varies
among the pair's frequent values and neither column determines it alone; sampled rows then get
the column from the pair through the real mapping (:func:`derive_joint`), so they always
agree. A pair of values no real row holds first moves to the nearest real one. Where another
dependency already derives or reads the column, :func:`pick_joint` makes the pair a check
instead, and :meth:`Dependencies.apply <tvae.transformer.dependencies.Dependencies.apply>`
keeps it by moving the pair.

Under a condition on the label (``conditions={"alone": False}``) the label stays and the pair
moves where it disagrees: to the most frequent real pair that maps to the label, keeping a
conditioned source's value, else either source's value where a real pair allows it.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from tvae.codec import decode_value, encode_value
from tvae.transformer.dependency_search import (
    MAX_SOURCE_VALUES,
    MIN_ROWS_PER_VALUE,
    determines,
    value_codes,
    witnessed,
)
from tvae.transformer.repairs import missing_alike

PROBE_ROWS = 500  # a candidate is first checked on this many rows: most fail there


@dataclass
class JointDetermination:
    """``target`` = ``mapping[(first, second)]`` in every row."""

    sources: tuple[Hashable, Hashable]
    target: Hashable
    keys: list[tuple]  # the pairs of source values the real rows hold
    values: list  # the target value of each pair
    counts: list[int]  # real rows holding each pair

    def describe(self) -> dict:
        return {"type": "determines", "source": list(self.sources), "target": self.target}

    def get_state(self) -> dict:
        return {
            "sources": [encode_value(s) for s in self.sources],
            "target": encode_value(self.target),
            "keys": [[encode_value(v) for v in key] for key in self.keys],
            "values": [encode_value(v) for v in self.values],
            "counts": self.counts,
        }

    @classmethod
    def from_state(cls, state: Mapping) -> JointDetermination:
        first, second = (decode_value(s) for s in state["sources"])
        return cls(
            (first, second),
            decode_value(state["target"]),
            [tuple(decode_value(v) for v in key) for key in state["keys"]],
            [decode_value(v) for v in state["values"]],
            list(state["counts"]),
        )


def joint_mapping(
    frame: pd.DataFrame, sources: tuple[Hashable, Hashable], target: Hashable
) -> JointDetermination:
    """The mapping from each pair of ``sources`` values in ``frame`` (missing values included)
    to its ``target`` value, pairs in order of first appearance, with their row counts."""
    pairs = pair_codes(value_codes(frame[sources[0]]), value_codes(frame[sources[1]]))
    first = np.unique(pairs, return_index=True)[1]  # codes follow first appearance
    keys = list(
        zip(frame[sources[0]].iloc[first].tolist(), frame[sources[1]].iloc[first].tolist(),
            strict=True)
    )  # fmt: skip
    counts = np.bincount(pairs).tolist()
    return JointDetermination(sources, target, keys, frame[target].iloc[first].tolist(), counts)


def pair_codes(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dense integer codes of the value pairs of two code columns."""
    combined = first.astype(np.int64) * (int(second.max()) + 1) + second
    return pd.factorize(combined)[0]


def constant_per_group(groups: np.ndarray, targets: np.ndarray) -> np.ndarray | bool:
    """Whether each group code comes with one target code: for one target (N,), a bool; for
    several (T, N), one bool per row."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    values = targets[..., order]
    low = np.minimum.reduceat(values, starts, axis=-1)
    same = (low == np.maximum.reduceat(values, starts, axis=-1)).all(axis=-1)
    return bool(same) if targets.ndim == 1 else same


def find_joint(
    codes: Mapping[Hashable, np.ndarray],
    sources: Iterable[Hashable],
    targets: Iterable[Hashable],
    n_rows: int,
) -> list[tuple[tuple[Hashable, Hashable], Hashable]]:
    """Pairs of ``sources`` that together, and neither alone, determine a column of
    ``targets`` in every row, as ((first, second), target), those of fewest distinct value
    pairs first.

    The evidence asked of a single source is asked of the pair: its value pairs repeat (at most
    ``n_rows / MIN_ROWS_PER_VALUE`` and MAX_SOURCE_VALUES of them), and the target varies
    among the frequent ones. A pair in which one column determines the other says nothing a
    single source does not, and is skipped."""
    sources, targets = list(sources), list(targets)
    if not targets:
        return []
    limit = min(MAX_SOURCE_VALUES, n_rows / MIN_ROWS_PER_VALUE)
    sizes = {c: len(np.unique(codes[c])) for c in {*sources, *targets}}
    heads = np.stack([codes[t][:PROBE_ROWS] for t in targets])  # (T, PROBE_ROWS)
    single: dict = {}

    def alone(source: Hashable, target: Hashable) -> bool:  # the source determines the target
        if (source, target) not in single:
            single[source, target] = determines(codes[source], codes[target])
        return single[source, target]

    found = []
    for first, second in itertools.combinations(sources, 2):
        probe = pair_codes(codes[first][:PROBE_ROWS], codes[second][:PROBE_ROWS])
        held = constant_per_group(probe, heads)
        candidates = [t for t, ok in zip(targets, held, strict=True) if ok]
        candidates = [t for t in candidates if t not in (first, second)]
        if not candidates:
            continue
        pairs = pair_codes(codes[first], codes[second])
        n_pairs = int(pairs.max()) + 1
        if n_pairs > limit or n_pairs in (sizes[first], sizes[second]):
            continue
        whole = constant_per_group(pairs, np.stack([codes[t] for t in candidates]))
        for target in (t for t, ok in zip(candidates, whole, strict=True) if ok):
            if (
                witnessed(pairs, codes[target])
                and not alone(first, target)
                and not alone(second, target)
            ):
                found.append((n_pairs, (first, second), target))
    return [(pair, target) for _, pair, target in sorted(found, key=lambda item: item[0])]


def pick_joint(
    found: list[tuple[tuple[Hashable, Hashable], Hashable]], held: set, derived: set
) -> tuple[list[tuple[tuple[Hashable, Hashable], Hashable]], list]:
    """Of ``found`` (fewest value pairs first), the labels to derive from their pair and the
    pairs to check, given the columns other dependencies read or write (``held``), of which
    determinations derive ``derived``.

    A label outside ``held`` is derived from its first pair, and is then no other pair's
    source. A column in ``held`` gets its pairs as checks (:meth:`Dependencies.apply` sets it
    from its first pair; where a determination derives it, every pair with a column outside
    ``held`` moves instead); a checked column is no other check's source."""
    chosen: list = []
    for pair, target in found:
        taken = {t for _, t in chosen}
        read = {s for p, _ in chosen for s in p}
        if target in held or target in taken or target in read or taken & set(pair):
            continue
        chosen.append((pair, target))
    frozen = held | {t for _, t in chosen}
    checks: list = []
    for pair, target in found:
        taken = {t for _, t in checks}
        read = {s for p, _ in checks for s in p}
        stuck = target in derived and set(pair) <= frozen  # nothing it may move
        again = target in taken and target not in derived  # set from two pairs: they'd differ
        if target not in held or again or target in read or taken & set(pair) or stuck:
            continue
        checks.append((pair, target))
    return chosen, checks


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
    limits = [_limits(allowed, name, len(frame)) for name in item.sources]
    position = _positions(frame, item)
    held_target = item.target in fixed
    current = frame[item.target].to_numpy(dtype=object)
    if move_unseen and (position < 0).any():
        unseen = position < 0
        _move_pairs(frame, item, unseen, current if held_target else None, fixed, limits=limits)
        position = _positions(frame, item)
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
    derived = pd.Series(values, index=frame.index, dtype=object)
    try:
        frame[item.target] = derived.astype(frame[item.target].dtype)
    except (TypeError, ValueError):
        frame[item.target] = derived


def _positions(frame: pd.DataFrame, item: JointDetermination) -> np.ndarray:
    """Each row's place among ``item.keys`` (-1: a pair no real row holds)."""
    keys = pd.MultiIndex.from_tuples(item.keys)
    pairs = pd.MultiIndex.from_arrays([frame[item.sources[0]], frame[item.sources[1]]])
    return keys.get_indexer(pairs)


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
    order = np.argsort(-np.asarray(item.counts), kind="stable")
    ranked = [(item.keys[i], missing_alike(item.values[i])) for i in order]
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
    for (_, _, wanted, bounds), members in groups.items():
        own = (columns[0][members[0]], columns[1][members[0]])
        options = [
            k for k, v in ranked
            if (target is None or v == wanted)
            and all(_within(k[s], bound) for s, bound in enumerate(bounds))
        ]  # fmt: skip
        keeping = [k for k in options if all(_same(k[s], own[s]) for s in (0, 1) if held[s])]
        if not keeping and strict != held:  # some held source may move
            keeping = [k for k in options if all(_same(k[s], own[s]) for s in (0, 1) if strict[s])]
        options = keeping
        found = [_nearest_sharing(options, own, side) for side in (0, 1)]
        found = [f for f in found if f is not None]  # (moved along a number?, key)
        nearest = min(found, key=lambda f: (not f[0], options.index(f[1])), default=None)
        chosen = nearest[1] if nearest else (options or [None])[0]
        if chosen is not None:
            for side in (0, 1):
                columns[side][members] = chosen[side]
            moved = True
    if not moved:
        return
    for name, column in zip(item.sources, columns, strict=True):
        restored = pd.Series(column, index=frame.index, dtype=object)
        try:
            frame[name] = restored.astype(frame[name].dtype)
        except (TypeError, ValueError):
            frame[name] = restored


def _limits(allowed: Mapping | None, name: Hashable, n_rows: int) -> np.ndarray | None:
    """Each row's set or range of values ``allowed`` leaves column ``name`` (None: any), or
    None."""
    limit = (allowed or {}).get(name)
    if limit is None or isinstance(limit, np.ndarray):
        return limit
    out = np.empty(n_rows, dtype=object)
    out.fill(limit if isinstance(limit, tuple) else frozenset(limit))
    return out


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
        cells = _limits(limits, column, len(frame))
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
        own = _limits(limits, column, len(frame))
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


def _within(value: object, limit: object) -> bool:
    """``value`` is in ``limit``: a set of labels, a (low, high) range, or None (anything)."""
    if limit is None:
        return True
    if isinstance(limit, tuple):
        try:
            return bool(limit[0] <= float(value) <= limit[1])
        except (TypeError, ValueError):
            return False
    return value in limit


def _same(a: object, b: object) -> bool:
    return bool(missing_alike(a) == missing_alike(b))


def _nearest_sharing(options: list[tuple], own: tuple, side: int) -> tuple[bool, tuple] | None:
    """Of ``options`` (most frequent first), one that keeps ``own[side]``: the nearest in the
    other source for a number (True, key), else the most frequent (False, key)."""
    sharing = [k for k in options if _same(k[side], own[side])]
    if not sharing:
        return None
    other = 1 - side
    try:
        value = float(own[other])
        gaps = np.asarray([float(k[other]) for k in sharing]) - value
    except (TypeError, ValueError):
        return False, sharing[0]
    if np.isnan(value) or np.isnan(gaps).any():
        return False, sharing[0]
    return True, sharing[int(np.argmin(np.abs(gaps)))]
