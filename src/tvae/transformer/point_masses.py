"""Which values of a numerical column come back exactly: its point masses.

A point mass gets an exact mode of its own in the column's mode softmax (see
:class:`tvae.transformer.continuous.ModeNormalizer`), so it is sampled as itself and at its
learned rate, and the smooth mixture is fitted on the other values only. Two kinds:

* **Frequent values**: held by ``POINT_MASS_SHARE`` of the observed cells (and
  ``POINT_MASS_MIN_ROWS`` rows): zeros, caps, hours-per-week's 40.
* **Spikes**: rarer values that stand out from their neighbours on the column's grid, held by
  ``SPIKE_SHARE`` of the cells or ``SPIKE_SHARE_OF_REST`` of those off the frequent values,
  whichever is fewer (and ``SPIKE_MIN_ROWS`` rows), and by ``SPIKE_RATIO`` times as many rows
  as an average smooth grid value within ``SPIKE_WINDOW`` steps of them (frequent values and
  spikes found are not neighbours). Beijing's cumulated wind speed holds 0.89, 1.79, 3.13,
  4.92 ... in 58 % of its rows and almost nothing between them; covtype's distances sit on a
  lattice of whole-metre values (30, 42, 60, 67 ...); bank's credit score has a cap at 850;
  census's wage per hour is 0 in 94 % of rows, and 500, 600 ... in many of the rest. A smooth
  mixture spreads such a spike over its neighbourhood, filling values the real column does not
  hold, which a classifier uses to tell synthetic rows from real ones. An ordinal column (age,
  education-num) has no spikes: each value holds about as many rows as its neighbours, and
  stays with the mixture, which keeps its order.
"""

from __future__ import annotations

import numpy as np

# Measured on adult (quality, benchmarks/protocol.py; seed 0): share 0.01 gave 0.956 (3-seed
# mean 0.964), 0.05 gave 0.978 (seed 1: 0.978), 0.10 gave 0.980. A low share turns ordinal
# columns (age) into dozens of unordered modes, which the decoder learns less well; 0.05 makes
# exact what the fidelity target checks (every value held by 5 % of rows) and leaves smooth
# columns to the mixture.
POINT_MASS_SHARE = 0.05  # a value held by this share of the observed cells is a point mass...
# ...and by at least this many rows (tiny tables: not every value). Measured with calibration
# on wine (142 training rows) and student_placements (172), seeds 0-2: 5 rows against 10 gave
# quality 0.887 vs 0.873 and 0.792 vs 0.789, and the model's worst point-mass rate 2.9 vs 5.4
# and 3.6 vs 6.4 points off (benchmarks/point_masses.py); 10 left values held by 8-9 rows
# (over 5 %) to the smooth mixture. Above 200 rows the share decides alone.
POINT_MASS_MIN_ROWS = 5
SPIKE_SHARE = 0.005  # a spike: a value held by this share of the cells...
# ...or by this share of the cells off the frequent values, if that is fewer rows. Until
# December 2026 only the first: a column that is 0 in 94 % of rows (census's wage per hour and
# dividends, adult's capital-gain) then needed 8 % of its non-zero rows for a spike, and its
# codes (wages of 500, 600, 700 ...; gains of 3103, 4386 ...) were spread by the mixture.
# Against the rest alone (0.005 of it), beijing's cumulated wind speed, 25 % on frequent values,
# took 37 spikes instead of 25, and its detection fell 0.430 -> 0.367 over six seeds
# (docs/fidelity.md, "Spikes among spikes").
SPIKE_SHARE_OF_REST = 0.01
# ...and by at least this many rows: sampled exactly, a value held by fewer would bring whole
# rows back as copies on small tables (titanic, 712 rows, seeds 0-2: at 5 rows 13 % of the
# synthetic rows were exact copies of training rows, at 20 rows 5 %; its held-out rows: 16 %)
SPIKE_MIN_ROWS = 20
SPIKE_RATIO = 5.0  # ...and this many times an average grid value's rows around it
SPIKE_WINDOW = 10  # grid steps on each side that make "around"
MAX_POINT_MASSES = 64  # the most frequent ones, at most: bounds the mode span


def point_masses(observed: np.ndarray, step: float | None = None) -> np.ndarray:
    """Values of ``observed`` (finite floats) sampled exactly, most frequent first. (P,)

    ``step`` is the grid the column's values sit on (1 for integers, 0.01 for two decimals, a
    datetime's step in seconds). Where there is none (None: finer than 8 decimals), a value has
    no neighbours to stand out from, and only frequent values are point masses. Measured on
    anes96 (seeds 0-2): taking every value of such a column held by a spike's share of the rows
    made one log-population value exact while the population it is computed from stayed
    smooth, and detection fell from 0.972 to 0.879.
    """
    if len(observed) == 0:
        return np.empty(0)
    values, counts = np.unique(observed, return_counts=True)
    wanted = counts >= max(POINT_MASS_SHARE * len(observed), POINT_MASS_MIN_ROWS)
    rest = int(counts[~wanted].sum())  # the cells the mixture would model
    spike_rows = min(SPIKE_SHARE * len(observed), SPIKE_SHARE_OF_REST * rest)
    candidates = (counts >= max(spike_rows, SPIKE_MIN_ROWS)) & ~wanted
    if step is not None:
        wanted = _add_spikes(values, counts, wanted, candidates, step)
    order = np.argsort(-counts[wanted], kind="stable")[:MAX_POINT_MASSES]
    return values[wanted][order]


def _add_spikes(
    values: np.ndarray, counts: np.ndarray, wanted: np.ndarray, candidates: np.ndarray, step: float
) -> np.ndarray:
    """``wanted`` with the ``candidates`` that stand out from their smooth neighbours.

    A spike found leaves its neighbours' windows, as the frequent values do, and the search
    runs again until it finds no more: a spike stands out from the values around it, not from
    the other spikes beside it. Adult's hours-per-week holds 40 (46 % of rows) and spikes at
    multiples of 5 and 10; against windows that counted 50, 45 and 60, its 25, 30, 55, 65 and 70
    (0.7-3.5 % of rows each) did not stand out 5 times, were left to the mixture and came back
    at a third to two thirds of their rates.
    """
    wanted = wanted.copy()
    while True:
        smooth = np.where(wanted, 0, counts)  # exact already: not a neighbour
        found = [
            i
            for i in np.flatnonzero(candidates & ~wanted)
            if counts[i] >= SPIKE_RATIO * _around(values, smooth, i, step)
        ]
        if not found:
            return wanted
        wanted[found] = True


def _around(values: np.ndarray, counts: np.ndarray, i: int, step: float) -> float:
    """Rows an average grid value holds within ``SPIKE_WINDOW`` steps of ``values[i]``.

    Only grid values inside the column's range count, and neither ``values[i]`` itself nor the
    point masses found so far (``counts`` 0), which are exact already: hours-per-week's 35 stands
    out from 30-34 and 36-39, not from 40, held by 46 % of rows.
    """
    low = max(values[i] - SPIKE_WINDOW * step, values[0])
    high = min(values[i] + SPIKE_WINDOW * step, values[-1])
    first, last = np.searchsorted(values, [low - step / 2, high + step / 2])
    # grid values in the window, less values[i] itself and the point masses found
    slots = round((high - low) / step) - int(np.sum(counts[first:last] == 0))
    return float(counts[first:last].sum() - counts[i]) / max(slots, 1)
