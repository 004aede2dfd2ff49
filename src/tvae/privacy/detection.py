"""Label determinations found under differential privacy, from a budget set aside for them.

Without ``epsilon`` tvae finds every column that another determines (``embarked`` gives
``embark_town``) by reading the rows; under ``epsilon`` that search would be a release. Here it
runs in two steps, each accounted for:

1. **Candidates, at no cost.** A determination A -> B merges A's values into B's, so B's
   released counts are sums of A's. Pairs of label columns whose released counts (the
   surrogate's: post-processing) can be so partitioned, within the counts' noise, and would
   rarely be by chance, are candidates; at most ``DETECTION_SLOTS``, the least likely by
   chance first.
2. **A test that is also the mapping.** Each candidate's joint histogram over the two columns'
   released values is released with Gaussian noise (the real rows projected onto those values;
   each row adds 1 to one cell: L2 sensitivity 1; mechanism ``detect:A->B``), at the
   statistics' noise. A candidate is kept where its rows off the mapping (each value of A to its
   largest cell's value of B), plus twice their noise, are at most ``MAX_EXCEPTIONS`` of the
   rows: so on few rows or under heavy noise nothing is kept.

The budget for ``DETECTION_SLOTS`` tests is set aside from DP-SGD's part; once the candidates
are tested, DP-SGD's noise is found again and takes back what they left
(:func:`tvae.privacy.plan.unspent_to_dp_sgd`). A pair whose rows nearly always agree (exceptions
under that share) is kept as exact: the synthetic rows lose those exceptions, as they lose a
rare category.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

import numpy as np
import pandas as pd

from tvae.privacy.dependencies import LABEL_KINDS, noisy_joint
from tvae.privacy.releaser import Releaser
from tvae.transformer.dependencies import Determination
from tvae.transformer.dependency_search import sources_first

DETECTION_SLOTS = 6  # at most so many candidates, each one statistic at the statistics' noise
MATCH_TOLERANCE = 2.5  # noise standard deviations a merged count may miss its target's by
# A candidate is kept where its noisy histogram puts its exceptions (rows off the mapping), with
# two standard deviations of their noise added, at most at this share of the rows
MAX_EXCEPTIONS = 0.03
MAX_VALUES = 24  # wider label columns are not searched (the partition search would explode)
SEARCH_NODES = 2_000  # partial partitions tried per pair before giving up


def can_keep_one(n_rows: int, noise: float) -> bool:
    """Whether a test at ``noise`` could keep a pair: a 2 x 2 table with no exception must
    pass (:func:`detect_determinations`). A fact of n, epsilon and the dtypes, not of values."""
    return MAX_EXCEPTIONS * n_rows >= 2 * noise * math.sqrt(2)


def detection_slots(kinds: Mapping[Hashable, str]) -> int:
    """The statistics' mechanisms set aside for detection: none without two label columns
    (a fact of the dtypes and declarations, not of the values)."""
    return DETECTION_SLOTS if sum(k in LABEL_KINDS for k in kinds.values()) >= 2 else 0


def merge_of(source: np.ndarray, target: np.ndarray, tolerance: float) -> float | None:
    """How closely ``target``'s counts are sums of ``source``'s (each source value joins one
    target value): the largest miss in tolerances ``tolerance * sqrt(members + 1)``, at most 1;
    None where no partition fits."""
    order = np.argsort(-source, kind="stable")
    best: list[float] = []
    nodes = 0

    def search(position: int, left: np.ndarray, members: np.ndarray) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > SEARCH_NODES or best:
            return
        if position == len(order):
            miss = np.abs(left) / (tolerance * np.sqrt(members + 1))
            if miss.max() <= 1:
                best.append(float(miss.max()))
            return
        count = source[order[position]]
        for b in np.argsort(-left, kind="stable"):  # the emptiest target value first
            if left[b] - count >= -tolerance * np.sqrt(members[b] + 2):
                left[b] -= count
                members[b] += 1
                search(position + 1, left, members)
                left[b] += count
                members[b] -= 1

    search(0, target.astype(np.float64).copy(), np.zeros(len(target)))
    return best[0] if best else None


def chance_fits(n_source: int, n_target: int, tolerance: float, n_rows: int) -> float:
    """About how many of the ``n_target ** n_source`` ways to merge a column's values into
    another's would fit its counts by chance: each of ``n_target - 1`` free counts must land in
    a window of ``2 * tolerance * sqrt(members + 1)`` rows out of ``n_rows``. Twenty values
    merged into two fit almost any split (a candidate that only costs budget); three values
    matched to three, rarely."""
    window = 2 * tolerance * math.sqrt(n_source / n_target + 1) / max(n_rows, 1)
    return float(n_target**n_source * min(1.0, window) ** (n_target - 1))


def candidates(surrogate: pd.DataFrame, kinds: Mapping[Hashable, str], noise: float) -> list:
    """Ordered (source, target) label pairs whose released counts could be a determination's
    and would rarely fit by chance (:func:`chance_fits` under 1), at most ``DETECTION_SLOTS``,
    the least likely by chance first, then the closest fits; a one-to-one pair once, its
    earlier column the source."""
    labels = [c for c, k in kinds.items() if k in LABEL_KINDS]
    counts = {c: surrogate[c].value_counts(dropna=False).to_numpy() for c in labels}
    found = []
    for position, source in enumerate(labels):
        for place, target in enumerate(labels):
            a, b = counts[source], counts[target]
            if source == target or not 2 <= len(b) <= len(a) <= MAX_VALUES:
                continue
            if len(a) == len(b) and place < position:
                continue  # one-to-one: tried from the earlier column
            chance = chance_fits(len(a), len(b), MATCH_TOLERANCE * noise, len(surrogate))
            if chance >= 1:  # counts that any pair of such columns would fit
                continue
            miss = merge_of(a, b, MATCH_TOLERANCE * noise)
            if miss is not None:
                found.append((chance, miss, source, target))
    found.sort(key=lambda item: item[:2])
    return [(s, t) for *_, s, t in found[:DETECTION_SLOTS]]


def detect_determinations(
    projected: pd.DataFrame, surrogate: pd.DataFrame, kinds: Mapping[Hashable, str],
    releaser: Releaser, slots: int,
) -> list[Determination]:  # fmt: skip
    """The determinations between label columns kept by the test above, sources first, one
    source per target; at most ``slots`` candidates tested, each one statistic (the plan sets
    none aside where :func:`can_keep_one` fails)."""
    pairs = candidates(surrogate, kinds, releaser.noise)[:slots] if slots else []
    if not pairs:
        return []
    kept, targets = [], set()
    for source, target in pairs:
        if target in targets:  # one source per target: not tested, nothing spent
            continue
        label = f"detect:{source}->{target}"
        keys, values, table = noisy_joint(projected, surrogate, source, target, label, releaser)
        largest = table.argmax(axis=1)
        exceptions = table.sum() - table[np.arange(len(keys)), largest].sum()
        spread = 2 * releaser.noise * np.sqrt(table.size - len(keys))
        if exceptions + spread > MAX_EXCEPTIONS * len(projected):
            continue
        targets.add(target)
        kept.append(Determination(source, target, keys, [values[i] for i in largest], None))
    # no cycle can arise: a source has at least its target's values, and of two columns with
    # as many values, the earlier is the source
    order = sources_first([(d.source, d.target) for d in kept])
    return sorted(kept, key=lambda d: order.index((d.source, d.target)))
