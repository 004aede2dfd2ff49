"""Finding exact dependencies: the evidence tests behind :meth:`Dependencies.detect`.

See :mod:`tvae.transformer.dependencies` for what is found and why each test is there.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

from tvae.errors import InvalidParameterError

MIN_ROWS_PER_VALUE = 5  # a source's values repeat this often on average
MAX_SOURCE_VALUES = 1_000  # bounds the stored mapping
MIN_ROWS = 20  # below this many rows, nothing is evidence enough
PROBE_ROWS = 20_000  # candidates are first checked on this many rows, then on all
FIRST_REPEATS = 32  # and before that, all at once, on this many rows that repeat a value
REPEAT_ROWS = 2_000  # the rows those repeats are taken from
MIN_RANDOM_BREAKS = 0.01  # an order random pairs would almost never break says nothing
LABEL_KINDS = ("categorical", "boolean")
SOURCE_KINDS = ("categorical", "boolean", "numerical")  # kinds a determination may start from


def value_codes(series: pd.Series) -> np.ndarray:
    """Integer codes of a column's values, missing values one code of their own."""
    return pd.factorize(series, use_na_sentinel=False)[0]


def hashable(name: object) -> bool:
    """Whether ``name`` can be a column name (a declared list of two sources cannot)."""
    try:
        hash(name)
    except TypeError:
        return False
    return True


def determines(source: np.ndarray, target: np.ndarray) -> bool:
    """Each source code comes with one target code."""
    if len(source) == 0:
        return True
    pairs = combined_codes(source, target)
    return len(pd.unique(pairs)) == len(pd.unique(source))  # hashed: faster than sorting


def combined_codes(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """One int64 code per pair of codes of two columns (not dense: see ``pair_codes``)."""
    return first.astype(np.int64) * (int(second.max()) + 1) + second


def same_as_first(groups: np.ndarray, targets: np.ndarray, limit: int | None = None) -> np.ndarray:
    """For each target (rows of ``targets``, (T, N) codes), whether every row of a group of
    ``groups`` (N,) that repeats a value holds the target code of that value's first row (the
    first ``limit`` such rows only): on all of them, whether ``groups`` determines it. Many
    targets are screened in one pass; on a few repeats nearly every unrelated one fails."""
    first = np.unique(groups, return_index=True, return_inverse=True)
    anchor = first[1][first[2]]  # each row's group's first row
    repeats = np.flatnonzero(anchor != np.arange(len(groups)))[:limit]
    return (targets[:, repeats] == targets[:, anchor[repeats]]).all(axis=1)


def witnessed(source: np.ndarray, target: np.ndarray) -> bool:
    """The mapping is seen on repeated values: among rows whose source value is held by at
    least ``MIN_ROWS_PER_VALUE`` rows, the target takes two values or more. Otherwise a nearly
    constant target (a count that is 0 but in two rows) is "determined" by any column whose
    values at those two rows happen to be unique."""
    frequent = np.bincount(source)[source] >= MIN_ROWS_PER_VALUE
    return len(np.unique(target[frequent])) >= 2


def rank_columns(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], n_unique: Mapping[Hashable, int]
) -> dict[Hashable, tuple]:
    """A strict order on columns: an edge A -> B is kept only when A ranks above B."""
    position = {c: i for i, c in enumerate(frame.columns)}
    return {c: (n_unique[c], kinds.get(c) in LABEL_KINDS, -position[c]) for c in frame.columns}


def pick_parents(
    found: list[tuple[Hashable, Hashable]], rank: Mapping[Hashable, tuple]
) -> list[tuple[Hashable, Hashable]]:
    """One parent per target (the lowest-ranked source above it), parents listed first."""
    parent: dict[Hashable, Hashable] = {}
    for source, target in found:
        if target not in parent or rank[source] < rank[parent[target]]:
            parent[target] = source
    pairs = [(source, target) for target, source in parent.items()]
    return sorted(pairs, key=lambda pair: rank[pair[0]], reverse=True)


def comparable(series: pd.Series) -> bool:
    return is_numeric_dtype(series.dtype) or is_datetime64_any_dtype(series.dtype)


def ordered(low: pd.Series, high: pd.Series, overlap: bool = True) -> bool:
    """``low <= high`` in every row where both are present (and, with ``overlap``, the order
    says something: see :func:`keepable` and :func:`informative`)."""
    if not (comparable(low) and comparable(high)):
        return False
    if is_datetime64_any_dtype(low.dtype) != is_datetime64_any_dtype(high.dtype):
        return False
    if str(low.dtype) != str(high.dtype) and is_datetime64_any_dtype(low.dtype):
        return False
    both = low.notna() & high.notna()
    if not both.any():
        return False
    a, b = low[both], high[both]
    try:
        holds = bool((a <= b).all())
    except TypeError:
        return False
    if not overlap:
        return holds
    # two equal columns (HC's och.gc and och.gcc, copies of many values) hold both orders,
    # which keep them equal in sampled rows: their values were drawn apart before
    return holds and keepable(low, high, int(both.sum())) and informative(low, high)


def keepable(low: pd.Series, high: pd.Series, paired_rows: int) -> bool:
    """An order seen in enough rows (``MIN_ROWS`` with both present) that sampled rows can
    keep without a column leaving its real range. Its repair raises ``high`` to ``low`` when
    ``low``'s largest value, over every row it is present in, does not pass ``high``'s, else
    lowers ``low`` to ``high`` when ``high``'s smallest value does not pass below ``low``'s
    (:func:`tvae.transformer.determination.order_of`); neither fits, no order. A column often
    missing can hold an order only where both are present (msleep: ``brainwt <= sleep_cycle``
    in the 30 rows with both, but brainwt reaches 5.7 where sleep_cycle is missing, and
    sleep_cycle never passes 1.5): raising sleep_cycle made values it never holds, lowering
    brainwt does not."""
    if paired_rows < MIN_ROWS:
        return False
    return bool(low.max() <= high.max() or high.min() >= low.min())


def refuted_orders(head: pd.DataFrame, columns: list[Hashable]) -> set[tuple[Hashable, Hashable]]:
    """Pairs (a, b) of ``columns`` for which some row of ``head`` holds a > b, both present:
    orders that cannot hold, screened in one vectorised pass per column before
    :func:`ordered` (digits' 62 pixel columns: 3,782 pairs took 1 s one by one). Only plain
    numeric columns are screened; a float conversion rounds monotonically, so it never
    refutes a pair that holds."""
    numeric = [c for c in columns if is_numeric_dtype(head[c].dtype)]
    if not numeric:
        return set()
    values = np.column_stack([head[c].to_numpy(dtype=float, na_value=np.nan) for c in numeric])
    refuted = set()
    for i, low in enumerate(numeric):
        above = (values[:, i : i + 1] > values).any(axis=0)  # NaN compares False: missing
        refuted.update((low, numeric[j]) for j in np.flatnonzero(above))
    return refuted


def informative(low: pd.Series, high: pd.Series) -> bool:
    """The order says more than the two columns' values do: paired at random, at least
    ``MIN_RANDOM_BREAKS`` of the rows would break it (an indicator column <= a slope in degrees
    holds in every row of covtype, and almost every random pairing keeps it too).

    The rate is exact over every pair of the (up to PROBE_ROWS) rows, not one random
    pairing: on a small table one pairing misjudges it (wine, 142 rows: hue <= total_phenols
    breaks in 1.05 % of all pairs but in 0 or 0.7 % of one pairing, so it was left out, and
    then broken in 1 % of sampled rows). Each column's values are those of every row it is
    present in, not only the rows with both: the model draws each column over all of them
    (boot's neuro: V2 <= V3, V2 missing in 11 % of rows, broke in 0.2 % of sampled rows
    when it was left out)."""
    rng = np.random.default_rng(0)
    rows = rng.choice(len(low), min(len(low), PROBE_ROWS), replace=False)
    a = low.to_numpy()[rows]
    a = a[pd.notna(a)]
    b = high.to_numpy()[rows]
    b = np.sort(b[pd.notna(b)])
    if not len(a) or not len(b):
        return False  # too rare among the rows read to tell
    below = np.searchsorted(b, a, side="left")  # for each low value: the high values under it
    return bool(below.mean() / len(b) >= MIN_RANDOM_BREAKS)


def sources_first(pairs: list[tuple]) -> list[tuple]:
    """Declared (source, target) ``pairs`` ordered so that a column is derived before it
    derives another (a chain A -> B -> C derives B first, whatever order it was declared in);
    one source per target and no cycle, else an error."""
    targets = [t for _, t in pairs]
    if len(set(targets)) < len(targets):
        raise InvalidParameterError(
            "metadata gives a column more than one determining column; keep one per target"
        )
    parent = {t: s for s, t in pairs}
    depth: dict = {}
    for _, target in pairs:
        seen, column = [], target
        while column in parent:
            if column in seen:
                raise InvalidParameterError(
                    f"metadata's 'determines' dependencies form a cycle through {column!r}; "
                    "a column cannot determine its own source"
                )
            seen.append(column)
            column = parent[column]
        depth[target] = len(seen)
    return sorted(pairs, key=lambda pair: depth[pair[1]])


def find_orders(
    frame: pd.DataFrame,
    candidates: list,
    wanted: Callable[[Hashable, Hashable], bool] | None = None,
) -> list[tuple]:
    """The pairs (a, b) of ``candidates`` (those ``wanted`` accepts, if given) with a <= b in
    every row of ``frame``, first refuted or confirmed on its first PROBE_ROWS rows."""
    head = frame.head(PROBE_ROWS)
    refuted = refuted_orders(head, candidates)
    return [
        (a, b)
        for a in candidates
        for b in candidates
        if a != b
        and (wanted is None or wanted(a, b))
        and (a, b) not in refuted
        and ordered(head[a], head[b], overlap=False)
        and ordered(frame[a], frame[b])
    ]
