"""A number's drawn values carried onto the real column's quantiles: its heaps and its shape.

The decoder draws each number as a mixture mode plus smooth noise, so a column whose real values
heap at round numbers (adult's hours per week: 48, 38, 15 ... each in 1-2 % of the rows, beside
40 and 50, which are point masses) comes back smooth, and a classifier told to separate synthetic
rows from real ones uses that first: on adult, ``hours-per-week`` alone gave it most of what
it found. A :class:`QuantileMap` is a monotone map from the values the model draws to the
values the real rows hold: a drawn value's rank among the model's own draws (``drawn_values``
at ``drawn_ranks``) picks the value at that rank among the real ones (``real_values`` at
``real_ranks``). The draws keep their order, so what the model learned of a number's ties to the
other columns stays, while its shape becomes the real one, heaps included.

The real side is a step wherever many rows share a value: a value held by ``MIN_HELD_ROWS``
rows or more keeps its whole share of the ranks (two knots, at the first and the last of its
ranks), so every rank in it maps onto it exactly. Over each run of rarer values the map
interpolates, between the run's ends and a knot every ``ROWS_PER_KNOT`` of its values, so a
rare real value (a continuous column's, where no two rows agree) is not copied out of the
training rows. On a grid (whole hours) a run's ends lie half a step beyond its first and last
values: rounded, each keeps its share, and none goes to the step beside it. Math only: no
torch, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# A value held by this many rows maps exactly (as a spike's rows,
# tvae.transformer.point_masses.SPIKE_MIN_ROWS): at 5 rows, the one numeric column of R's
# treering (6,384 training rows) came back nearer the training rows than held-out rows are
# (DCR share 0.525 on 20,000 rows; without a map 0.497, at 20 rows 0.504), since a value the
# training rows hold 5 times is missing from the held-out rows a third of the time...
MIN_HELD_ROWS = 20
ROWS_PER_KNOT = 20  # ...rarer values are interpolated, with a knot every this many of them
MAX_RARE_KNOTS = 2_000  # at most (wider apart on very many rows): the model file stays small
STEP_EDGE = 1e-12  # a step ends this far below the next value's first rank
DRAWN_KNOTS = 1_001  # ranks at which the model's own draws are kept (0, 0.001, ..., 1)


@dataclass
class QuantileMap:
    """Drawn value -> rank among the model's draws -> real value at that rank (all (K,))."""

    drawn_values: np.ndarray  # increasing
    drawn_ranks: np.ndarray  # increasing, in [0, 1]
    real_ranks: np.ndarray  # non-decreasing, in [0, 1]
    real_values: np.ndarray  # non-decreasing

    @classmethod
    def fit(cls, drawn: np.ndarray, real: np.ndarray, grid: float | None = None) -> QuantileMap:
        """The map from the model's ``drawn`` values (finite floats) to the ``real`` ones, on
        the ``grid`` the column's values are rounded to (None: none)."""
        drawn_values, drawn_ranks = _drawn_knots(np.sort(np.asarray(drawn, dtype=np.float64)))
        real_ranks, real_values = real_knots(np.asarray(real, dtype=np.float64), grid)
        return cls(drawn_values, drawn_ranks, real_ranks, real_values)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """The real values at the ranks of drawn ``values`` (N,) float64."""
        ranks = np.interp(values, self.drawn_values, self.drawn_ranks)
        return np.interp(ranks, self.real_ranks, self.real_values)

    def snap(self, values: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
        """``values`` (N,) float64 with each one within its ``tolerance`` (N,) of a step's
        value set to it exactly. A mapped value comes back through its row's float32 scalar,
        a few ulps off: on a column without a grid to round to, 3.5 would come back as
        3.5000000162 (and real rows decoded again the same way)."""
        steps = self._steps
        if not len(steps) or not len(values):
            return values
        place = np.searchsorted(steps, values)
        below, above = np.clip(place - 1, 0, len(steps) - 1), np.clip(place, 0, len(steps) - 1)
        nearest = np.where(
            np.abs(values - steps[below]) <= np.abs(values - steps[above]), below, above
        )
        close = np.abs(values - steps[nearest]) <= tolerance
        return np.where(close, steps[nearest], values)

    @cached_property
    def _steps(self) -> np.ndarray:
        """The values the map holds over a range of ranks (two knots or more), sorted."""
        repeated = self.real_values[1:][np.diff(self.real_values) == 0]
        return np.unique(repeated)

    def get_state(self) -> dict:
        return {
            "drawn_values": self.drawn_values.tolist(),
            "drawn_ranks": self.drawn_ranks.tolist(),
            "real_ranks": self.real_ranks.tolist(),
            "real_values": self.real_values.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict) -> QuantileMap:
        return cls(*(np.asarray(state[k], dtype=np.float64) for k in _FIELDS))


_FIELDS = ("drawn_values", "drawn_ranks", "real_ranks", "real_values")


def real_knots(values: np.ndarray, grid: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ranks (K,) in [0, 1], non-decreasing, and the real ``values`` at them: the first and
    last rank of every value held by ``MIN_HELD_ROWS`` rows (a step); over each run of rarer
    values, its ends and a knot every ``ROWS_PER_KNOT`` of them; both ends of the range. On a
    ``grid``, a run's ends lie half a step outside its first and last value, so that once
    rounded each value of the run keeps its share and none goes to the steps beside it."""
    ordered = np.sort(values)
    n = len(ordered)
    held, first, counts = np.unique(ordered, return_index=True, return_counts=True)
    step = counts >= MIN_HELD_ROWS
    rare = np.flatnonzero(~np.isin(ordered, held[step]))
    inner = rare[:: max(ROWS_PER_KNOT, -(-len(rare) // MAX_RARE_KNOTS))]
    ranks = [[0.0, 1.0], first[step] / n, (first + counts)[step] / n - STEP_EDGE, (inner + 0.5) / n]
    knots = [ordered[[0, -1]], held[step], held[step], ordered[inner]]
    if len(rare):
        breaks = np.flatnonzero(np.diff(rare) > 1)
        starts, ends = rare[np.r_[0, breaks + 1]], rare[np.r_[breaks, len(rare) - 1]]
        half = grid / 2 if grid else 0.0
        ranks += [starts / n, (ends + 1) / n - STEP_EDGE]
        knots += [ordered[starts] - half, ordered[ends] + half]
    ranks, knots = np.concatenate(ranks), np.concatenate(knots)
    order = np.lexsort((knots, ranks))
    return ranks[order], np.maximum.accumulate(knots[order])


def _drawn_knots(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted draws at ``DRAWN_KNOTS`` ranks, as (values, ranks) with values strictly
    increasing: knots that share a value (draws clipped to a bound) become one, at their mean
    rank, so that a value maps to the middle of the ranks that hold it."""
    ranks = np.linspace(0.0, 1.0, DRAWN_KNOTS)
    at = np.quantile(ordered, ranks)
    values, group = np.unique(at, return_inverse=True)
    mean_ranks = np.bincount(group, ranks) / np.bincount(group)
    return values, mean_ranks
