"""How fine a column's values are: the coarsest grid (decimals, a time step) nearly all sit on.

Generated numbers and times are rounded to that grid, so they look like the real ones. The grid
holds all but at most ``OFF_GRID_SHARE`` of the values, not every one: beijing's pressure is a
whole number in all but 4 of its 41,757 rows (interpolated ones such as 1029.666667), and
requiring every value on the grid left the column unrounded, so a classifier told synthetic rows
from real ones by that one column alone (ROC AUC 0.94). The rare finer values are then rounded
like the others: a draw never reproduces them, and no draw falls off the grid.
"""

from __future__ import annotations

import numpy as np

OFF_GRID_SHARE = 0.01  # at most this share of the values may need a finer grid
MAX_DECIMALS = 8  # columns with finer values than this are not rounded
NS = 1_000_000_000  # nanoseconds in a second
STEPS_NS = (86_400 * NS, 3_600 * NS, 60 * NS, NS, 1_000_000, 1_000, 1)  # day ... nanosecond


def decimals_needed(values: np.ndarray) -> np.ndarray:
    """Fewest decimals (0..MAX_DECIMALS) that write each finite value, MAX_DECIMALS + 1 if none.

    (N,) int64; a value within float noise of a grid point (0.1 + 0.2) sits on it.
    """
    needed = np.full(len(values), MAX_DECIMALS + 1, dtype=np.int64)
    for decimals in range(MAX_DECIMALS, -1, -1):
        scaled = values * 10.0**decimals
        exact = np.abs(scaled - np.round(scaled)) <= np.maximum(1e-6, 1e-12 * np.abs(scaled))
        needed[exact] = decimals
    return needed


def steps_needed(ns: np.ndarray) -> np.ndarray:
    """Index in ``STEPS_NS`` of the coarsest step each integer nanosecond time sits on. (N,)"""
    needed = np.full(len(ns), len(STEPS_NS) - 1, dtype=np.int64)
    for level in range(len(STEPS_NS) - 1, -1, -1):
        needed[ns % STEPS_NS[level] == 0] = level
    return needed


def coarsest_level(counts: np.ndarray) -> int:
    """The coarsest level (0 = coarsest) all but ``OFF_GRID_SHARE`` of the values sit on.

    ``counts[j]`` is how many values need level ``j`` (and no coarser one); the counts may be
    noisy (the private fit passes a released histogram), so negative ones count as 0.
    """
    counts = np.maximum(np.asarray(counts, dtype=np.float64), 0.0)
    finer = np.cumsum(counts[::-1])[::-1]  # finer[j]: values needing level j or a finer one
    allowed = OFF_GRID_SHARE * max(float(counts.sum()), 1.0)
    for level in range(len(counts) - 1):
        if finer[level + 1] <= allowed:
            return level
    return len(counts) - 1


def observed_step_ns(ns: np.ndarray) -> int:
    """The time step (a day, an hour, ... a nanosecond) to round a datetime column to."""
    return STEPS_NS[coarsest_level(np.bincount(steps_needed(ns), minlength=len(STEPS_NS)))]


def observed_decimals(values: np.ndarray) -> int | None:
    """Decimals to round a float column to (see the module), or None: finer than MAX_DECIMALS."""
    values = values[np.isfinite(values)]
    level = coarsest_level(np.bincount(decimals_needed(values), minlength=MAX_DECIMALS + 2))
    return level if level <= MAX_DECIMALS else None


def grid_range_ns(low_ns: int, high_ns: int, step_ns: int) -> tuple[int, int]:
    """A real range of integer nanoseconds with its ends moved inward onto the step, where one
    is a rare value finer than the step, so clipped values stay on it; the range as it is
    where no step lies inside it."""
    low = -(-low_ns // step_ns) * step_ns
    high = high_ns // step_ns * step_ns
    return (low, high) if low <= high else (low_ns, high_ns)
