"""A column that two columns determine together, found in the real rows and kept exactly.

Titanic's ``alone`` is True exactly when ``sibsp`` and ``parch`` are both 0: neither count
determines it alone, the pair does. A default fit broke that in 5 % of its sampled rows (alone
passengers with no family were sampled as not alone), since the decoder draws the three columns
with noise of their own. ``fit`` finds such a pair (:func:`find_joint`) when the column varies
among the pair's frequent values and neither column determines it alone; sampled rows then get
the column from the pair through the real mapping
(:func:`tvae.transformer.pair_repairs.derive_joint`), so they always
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

from tvae.codec import decode_value, encode_value
from tvae.transformer.dependency_search import (
    FIRST_REPEATS,
    MAX_SOURCE_VALUES,
    MIN_ROWS_PER_VALUE,
    combined_codes,
    determines,
    same_as_first,
    value_codes,
    witnessed,
)

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

    def positions(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's place among ``keys`` (-1: a pair no real row holds). (N,)"""
        keys = pd.MultiIndex.from_tuples(self.keys)
        pairs = pd.MultiIndex.from_arrays([frame[self.sources[0]], frame[self.sources[1]]])
        return keys.get_indexer(pairs)

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
    return pd.factorize(combined_codes(first, second))[0]


def constant_per_group(groups: np.ndarray, targets: np.ndarray) -> np.ndarray | bool:
    """Whether each group code comes with one target code: for one target (N,), a bool; for
    several (T, N), one bool per row (:func:`same_as_first` on every repeated row)."""
    same = same_as_first(groups, np.atleast_2d(targets))
    return bool(same[0]) if targets.ndim == 1 else same


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
    place = {t: i for i, t in enumerate(targets)}
    single: dict = {}

    def alone(source: Hashable, target: Hashable) -> bool:  # the source determines the target
        if (source, target) not in single:
            single[source, target] = determines(codes[source], codes[target])
        return single[source, target]

    found = []
    for first, second in itertools.combinations(sources, 2):
        probe = combined_codes(codes[first][:PROBE_ROWS], codes[second][:PROBE_ROWS])
        # a few repeated pairs rule out nearly every target (600 columns of ten values: 326 s
        # to fit, of which the pairs took most, checking every target on all probe rows)
        held = same_as_first(probe, heads, FIRST_REPEATS)
        held[[place[c] for c in (first, second) if c in place]] = False  # they hold trivially
        if not held.any():
            continue
        held[held] = same_as_first(probe, heads[held])
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
