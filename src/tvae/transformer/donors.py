"""Donor rows: for a sampled row that must hold values it lacks, the other sampled row most
like it, whose values it takes (hot-deck imputation among the sampled rows).

Rows are compared on every column both hold: numbers (dates as numbers) in units of their
spread across the rows, each difference capped at ``CAP``, labels as equal or not; the score
is the mean over the columns the two rows share. A row is compared with at most
``CANDIDATES`` donors, each block of rows with a different spread of them, so that no single
donor lends to every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

CANDIDATES = 128  # donors a row is compared with
BLOCK = 256  # rows compared at once: BLOCK x CANDIDATES x columns differences in memory
CAP = 3.0  # a number's difference counts at most this many spreads


def row_features(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``frame`` as numbers in spreads (N, C), NaN where missing, and label codes (N, L), -1
    where missing."""
    numbers, labels = [], []
    for _, values in frame.items():
        if is_bool_dtype(values) or not (is_numeric_dtype(values) or values.dtype.kind in "mM"):
            labels.append(pd.factorize(values)[0])
            continue
        if values.dtype.kind in "mM":
            as_float = values.to_numpy().view(np.int64).astype(np.float64)
            as_float[values.isna().to_numpy()] = np.nan
        else:
            as_float = pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        present = as_float[~np.isnan(as_float)]
        spread = present.std() if len(present) > 1 else 0.0
        if spread > 0:
            numbers.append((as_float - present.mean()) / spread)
    empty = np.empty((len(frame), 0))
    return (
        np.column_stack(numbers) if numbers else empty,
        np.column_stack(labels) if labels else empty.astype(np.int64),
    )


def nearest_donors(
    features: tuple[np.ndarray, np.ndarray], rows: np.ndarray, donors: np.ndarray
) -> np.ndarray:
    """For each of ``rows``, the donor (of ``donors``) most like it."""
    numbers, labels = features
    chosen = np.empty(len(rows), dtype=np.int64)
    stride = max(1, len(donors) // CANDIDATES)
    for block, start in enumerate(range(0, len(rows), BLOCK)):
        part = rows[start : start + BLOCK]
        picked = donors[(np.arange(min(CANDIDATES, len(donors))) * stride + block) % len(donors)]
        gaps = np.abs(numbers[part][:, None, :] - numbers[picked][None, :, :])
        shared = ~np.isnan(gaps)
        score = np.where(shared, np.minimum(gaps, CAP), 0.0).sum(axis=2)
        count = shared.sum(axis=2)
        mine, theirs = labels[part][:, None, :], labels[picked][None, :, :]
        both = (mine >= 0) & (theirs >= 0)
        score += ((mine != theirs) & both).sum(axis=2)
        count += both.sum(axis=2)
        chosen[start : start + BLOCK] = picked[np.argmin(score / np.maximum(count, 1), axis=1)]
    return chosen
