"""Two numbers equal in many rows, not all: a brand's price in two stores, two counts.

Counts of overlapping things (connections to a service and to the same service on the host,
a child's age and its age at an illness) and prices set together are often the same number,
far more often than chance would make them. Each drawn with its own noise, the two come back
equal less often: intrusion's ``srv_count`` and ``dst_host_srv_count`` are equal in 20 % of
the real rows and were in 3.7 % of sampled ones; pneumon's ``chldage`` and ``agepn`` in 65 %
and 46 %. An exact equality is two orders (:mod:`tvae.transformer.dependencies`); this one
holds in some rows only.

``fit`` finds such a *match* (:func:`find_matches`): two numerical columns of at least three
values each, equal in at least ``MIN_SHARE`` of the rows where both are present and one is off
its most frequent value (so two mostly-zero counts do not match by their zeros), and
``CHANCE_RATIO`` times more often there than two independent columns with their values would
be, in ``MIN_ROWS`` rows or more; a row counter (whole numbers, all distinct) matches nothing.
It keeps how often the rows are equal (``share``) and, for the ``MAX_VALUES`` values they are
most often equal at, how often at each.

In sampled rows, after the repairs and curves and before the rates (which read counts), rows
are made equal where the drawn rows are equal at a value less often than the real ones, the
unequal rows nearest equality first, until the rows are equal as often as the real ones
(:meth:`Match.settled`). Each such row takes one of its two values: the one whose move keeps
the moved column's distribution nearest the drawn one. Making the nearest rows equal without
the per-value shares broke up Tuna's pairs of prices the network drew as often as the real
rows hold them (0.84 and 0.89) and moved its point masses by up to 2.4 points. A conditioned
column is not moved: where its rows are made equal, the other column takes its value. A
column matches one other at most, the pairs equal most often first; a column an exact
dependency, an order, an offset or a curve touches matches none. Matches are listed with the
dependencies (``{"type": "match", "columns": [A, B]}``, with the real ``share``), declared or
switched off the same way.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.numerical import is_number, to_float

MIN_SHARE = 0.3  # rows equal, at least, of those where one is off its most frequent value
CHANCE_RATIO = 3.0  # that many times the share two independent columns would be equal in
MIN_ROWS = 200  # rows where both are present, at least
MAX_COLUMNS = 60  # numerical columns searched, at most
PROBE_ROWS = 2_000  # pairs are first checked on this many rows, then on all
MAX_KEYS = 512  # a column with more values is counted in quantile bins when rows are matched
MAX_VALUES = 256  # equal values whose share is kept, at most (the most frequent)


@dataclass(frozen=True)
class Match:
    """``first == second`` in ``share`` of the rows where both are present; ``values`` the
    most frequent of the values they are equal at, each in ``shares`` of those rows."""

    first: Hashable
    second: Hashable
    share: float
    values: tuple[float, ...] = ()
    shares: tuple[float, ...] = ()

    @classmethod
    def measured(cls, first: Hashable, second: Hashable, frame: pd.DataFrame) -> Match:
        """The match of two columns of ``frame``, its shares read off its rows."""
        a, b = to_float(frame[first]), to_float(frame[second])
        both = ~np.isnan(a) & ~np.isnan(b)
        equal = a[both & (a == b)]
        values, counts = np.unique(equal, return_counts=True)
        kept = np.sort(np.argsort(-counts, kind="stable")[:MAX_VALUES])
        shares = counts[kept] / max(int(both.sum()), 1)
        share = len(equal) / max(int(both.sum()), 1)
        return cls(first, second, share, tuple(values[kept].tolist()), tuple(shares.tolist()))

    def settled(
        self, first: np.ndarray, second: np.ndarray, free_first: np.ndarray, free_second: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The rows' common value and, for each row, which column takes it: 0 none, 1 the first
        (set to the second's value), 2 the second (set to the first's).

        Rows are made equal at the values they are equal at less often than in the real rows
        (``values`` and ``shares``; the rarer ones together), until they are as many, and the
        rows equal as often as the real ones. Unequal rows nearest equality go first; each
        moves the column that keeps its drawn distribution best (:func:`_cost`). A row whose
        pair the network drew often (Tuna's 0.84 and 0.89, 473 real rows) is no longer made
        equal where its equal value is already as frequent as in the real rows. A column moves
        only in its ``free_*`` rows. (N,) each."""
        both = ~np.isnan(first) & ~np.isnan(second)
        moves = np.zeros(len(first), dtype=np.int8)
        present, equal = int(both.sum()), both & (first == second)
        wanted = round(self.share * present) - int(equal.sum())
        movable = np.flatnonzero(both & ~equal & (free_first | free_second))
        if wanted <= 0 or len(movable) == 0:
            return second, moves
        rows = movable[np.argsort(np.abs(first - second)[movable], kind="stable")]
        # rows still wanted equal at each value (its place in ``values``; the last: the others)
        target = np.append(self.shares, self.share - sum(self.shares)) * present
        need = np.round(target) - np.bincount(self._place(first[equal]), minlength=len(target))
        a, b = first[rows], second[rows]
        key_first, key_second = _binning(first[both]), _binning(second[both])
        options = (  # moving the first (to b) or the second (to a): value place, lost, gained
            (self._place(b), key_first(a), key_first(b), free_first[rows]),
            (self._place(a), key_second(b), key_second(a), free_second[rows]),
        )
        moves[rows] = _take_turns(options, need, wanted)
        return np.where(moves == 1, second, first), moves

    def _place(self, values: np.ndarray) -> np.ndarray:
        """Each value's place in ``values``; ``len(values)`` for a value not among them."""
        known = np.asarray(self.values, dtype=float)
        found = np.minimum(np.searchsorted(known, values), max(len(known) - 1, 0))
        hit = len(known) > 0 and known[found] == values
        return np.where(hit, found, len(known))

    def describe(self) -> dict:
        return {"type": "match", "columns": [self.first, self.second], "share": self.share}

    def get_state(self) -> dict:
        return {
            "first": encode_value(self.first),
            "second": encode_value(self.second),
            "share": self.share,
            "values": list(self.values),
            "shares": list(self.shares),
        }

    @classmethod
    def from_state(cls, state: Mapping) -> Match:
        first, second = decode_value(state["first"]), decode_value(state["second"])
        values, shares = tuple(state["values"]), tuple(state["shares"])
        return cls(first, second, state["share"], values, shares)


def _evidence(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, int]:
    """Over the rows where both are present: the share equal, the share equal among those
    with one off its most frequent value, the share two independent columns with the same
    values would be equal there, and the rows."""
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    if len(a) == 0:
        return 0.0, 0.0, 1.0, 0
    off = (a != _mode(a)) | (b != _mode(b))
    if not off.any():
        return 0.0, 0.0, 1.0, len(a)
    x, y = a[off], b[off]
    values_x, counts_x = np.unique(x, return_counts=True)
    values_y, counts_y = np.unique(y, return_counts=True)
    _, ix, iy = np.intersect1d(values_x, values_y, return_indices=True)
    chance = float((counts_x[ix] / len(x) * counts_y[iy] / len(y)).sum())
    return float((a == b).mean()), float((x == y).mean()), chance, len(a)


def _promising(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether a pair is worth checking on every row: on a few evenly spaced rows, equal in
    half the share a match needs, or too few rows off the most frequent values to tell."""
    both = ~np.isnan(first) & ~np.isnan(second)
    first, second = first[both], second[both]
    if len(first) == 0:
        return False
    off = (first != _mode(first)) | (second != _mode(second))
    return off.sum() < 50 or (first[off] == second[off]).mean() >= MIN_SHARE / 2


def _varied(values: np.ndarray) -> bool:
    """Three values or more, and no row counter (whole numbers, all distinct: a file's order)."""
    present = values[~np.isnan(values)]
    distinct = len(np.unique(present))
    return distinct >= 3 and not (distinct == len(values) and np.all(present == np.round(present)))


def _mode(values: np.ndarray) -> float:
    found, counts = np.unique(values, return_counts=True)
    return float(found[np.argmax(counts)])


def find_matches(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], skip: set | frozenset = frozenset()
) -> list[Match]:
    """The matches of ``frame`` (see the module docstring), none naming a column of ``skip``."""
    names = [c for c in frame.columns if c not in skip and is_number(frame[c], kinds)]
    numbers = {c: to_float(frame[c]) for c in names[:MAX_COLUMNS]}
    numbers = {c: v for c, v in numbers.items() if _varied(v)}
    names = list(numbers)
    probe_rows = np.linspace(0, len(frame) - 1, min(len(frame), PROBE_ROWS)).astype(int)
    probe = {c: v[probe_rows] for c, v in numbers.items()}
    found = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if not _promising(probe[first], probe[second]):
                continue
            share, off_share, chance, rows = _evidence(numbers[first], numbers[second])
            strong = off_share >= MIN_SHARE and off_share >= CHANCE_RATIO * chance
            if strong and share < 1.0 and rows >= MIN_ROWS:
                found.append((off_share, first, second))
    kept, used = [], set()
    for _, first, second in sorted(found, key=lambda item: -item[0]):
        if first not in used and second not in used:
            kept.append(Match.measured(first, second, frame))
            used.update((first, second))
    return kept


def is_match(item: object) -> bool:
    """Whether a metadata dependency item declares a match."""
    return isinstance(item, Mapping) and item.get("type") == "match"


def declared_matches(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], items: list, skip: set | frozenset
) -> list[Match]:
    """The matches a metadata dependency list declares, their shares read off ``frame``; a
    column another dependency touches (``skip``), or one named twice, is refused."""
    matches = [_declared(frame, kinds, item, skip) for item in items if is_match(item)]
    named = [c for m in matches for c in (m.first, m.second)]
    twice = sorted({str(c) for c in named if named.count(c) > 1})
    if twice:
        raise InvalidParameterError(
            f"metadata's 'match' dependencies name {twice} twice: a column matches one other "
            "at most"
        )
    return matches


def _declared(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], item: Mapping, skip: set | frozenset
) -> Match:
    columns = item.get("columns")
    valid = isinstance(columns, (list, tuple)) and len(columns) == 2
    if not valid or any(not isinstance(c, Hashable) or c not in frame.columns for c in columns):
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r} is not valid: give {{'type': 'match', "
            "'columns': [A, B]} with two column names of train_data"
        )
    first, second = columns
    wrong = [c for c in columns if not is_number(frame[c], kinds)]
    if first == second or wrong:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: a match needs two different numerical "
            "columns held as numbers"
        )
    clash = [c for c in columns if c in skip]
    if clash:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: {clash[0]!r} is also read or written by "
            "another dependency, whose repair the match's would undo; leave one of the two out"
        )
    return Match.measured(first, second, frame)


def _binning(values: np.ndarray):
    """Keys of values among ``values``, as an array: the values themselves where they are few,
    else their quantile bins (64), so that counts of keys describe the column's distribution."""
    if len(np.unique(values)) <= MAX_KEYS:
        return lambda given: np.asarray(given, dtype=float)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 65)[1:-1]))
    return lambda given: np.searchsorted(edges, given).astype(float)


def _take_turns(options: tuple, need: np.ndarray, wanted: int) -> np.ndarray:
    """Which column each row moves (0 none, 1 the first, 2 the second), the rows in order,
    until ``wanted`` rows moved: a move only where its value is still ``need``ed, and of the
    two the one whose column drifts least from its drawn counts (:func:`_cost`). ``options``:
    for moving each column, the value's place, the keys lost and gained, and the rows free."""
    places, losts, gaineds, frees = ([o[k].tolist() for o in options] for k in range(4))
    need = need.tolist()
    drift: tuple[dict, dict] = ({}, {})  # each column's drift from its drawn counts, by key
    sides = np.zeros(len(places[0]), dtype=np.int8)
    for row in range(len(sides)):
        costs = [
            _cost(drift[s], losts[s][row], gaineds[s][row])
            if frees[s][row] and need[places[s][row]] > 0
            else np.inf
            for s in (0, 1)
        ]
        if costs[0] == costs[1] == np.inf:
            continue
        side = 0 if costs[0] < costs[1] else 1
        lost, gained = losts[side][row], gaineds[side][row]
        drift[side][lost] = drift[side].get(lost, 0) - 1
        drift[side][gained] = drift[side].get(gained, 0) + 1
        need[places[side][row]] -= 1
        sides[row] = side + 1
        wanted -= 1
        if wanted == 0:
            break
    return sides


def _cost(drift: dict, lost: object, gained: object) -> float:
    """How much a column's squared drift from the drawn counts grows when a row loses the
    value keyed ``lost`` and gains one keyed ``gained``. Squared, so that a drift already
    made costs more to repeat: rows made equal the same way take turns between the columns."""
    if lost == gained:
        return 0.0
    return 2.0 + 2.0 * (drift.get(gained, 0) - drift.get(lost, 0))
