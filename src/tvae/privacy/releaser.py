"""The Gaussian mechanism behind every DP statistic (:mod:`tvae.privacy.statistics`): noisy
histograms recorded in the accountant, and the floors below which a noisy bin is taken as empty."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from tvae.privacy.accountant import Accountant

MIN_BINS, MAX_BINS = 8, 256
BINS_PER_NOISE = 4.0  # fine histograms get about n / (4 noise) bins: coarse under heavy noise
# Bins whose noisy count is below a threshold are taken as empty; the threshold is set so that
# across a whole histogram of K empty bins, noise alone clears it with these probabilities:
# far rarer than a missed tail bin (whose rows are only clipped): at 0.01, noise gave adult's
# 1..16 education-num a bin at 2^55 and the column came back as 10^14 (docs/privacy.md)
RANGE_FALSE_BINS = 1e-6
FINE_FALSE_BINS = 0.05  # a spurious fine bin adds a few rows inside the range: rare too
# A spurious missing bin gives a column that never misses a value missing cells, which breaks
# what users rely on (a key that is never empty): at FINE_FALSE_BINS over a label's few bins,
# 7 of 300 releases of a complete two-valued label and a float column had some (a test). So its
# floor is its own, and a true missing rate under it (3.7 noise standard deviations of rows) is
# lost instead, as a tail is.
MISSING_FALSE_BIN = 1e-4


@dataclass
class Releaser:
    """Draws the noise of every histogram and records each in the accountant."""

    noise: float  # noise multiplier (= std, sensitivity 1)
    rng: np.random.Generator
    accountant: Accountant
    n_rows: int
    threshold: float = math.inf  # a found category name is released above this noisy count
    released: list = field(default_factory=list)  # labels of the mechanisms, in order
    hidden: list = field(default_factory=list)  # columns whose range the noise hides

    def histogram(self, counts: np.ndarray, label: str) -> np.ndarray:
        """``counts`` plus N(0, noise^2) per bin: the Gaussian mechanism (sensitivity 1)."""
        self.accountant.record(label, self.noise, 1.0, 1)
        self.released.append(label)
        return np.asarray(counts, dtype=np.float64) + self.rng.normal(0, self.noise, len(counts))

    def missing_floor(self) -> float:
        """Noisy count below which a missing bin is taken as empty (``MISSING_FALSE_BIN``)."""
        return empty_floor(self.noise, 1, MISSING_FALSE_BIN)

    def n_bins(self) -> int:
        return int(np.clip(self.n_rows / (BINS_PER_NOISE * self.noise), MIN_BINS, MAX_BINS))


def category_threshold(noise: float, delta_per_column: float) -> float:
    """Noisy count above which a category name found in the data is released: a category held
    by one row clears it with probability ``delta_per_column``."""
    return 1.0 + noise * float(norm.isf(delta_per_column))


def allocate(weights: np.ndarray, n_rows: int) -> np.ndarray:
    """``n_rows`` split in proportion to ``weights`` (>= 0), by largest remainder. (K,) int"""
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    exact = weights / weights.sum() * n_rows
    counts = np.floor(exact).astype(np.int64)
    rest = n_rows - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:rest]] += 1
    return counts


def empty_floor(noise: float, n_bins: int, false_bins: float) -> float:
    """Noisy count below which a bin is taken as empty: noise alone clears it in any of
    ``n_bins`` empty bins with probability about ``false_bins``."""
    return noise * float(norm.isf(min(0.5, false_bins / max(n_bins, 1))))


def clean(noisy: np.ndarray, floor: float) -> np.ndarray:
    return np.where(noisy >= floor, noisy, 0.0)
