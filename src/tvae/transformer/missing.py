"""Missing values: which cells are missing, and which marker (None, NaN, pd.NA, NaT) they used."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value

# A 2-wide softmax span "is this cell missing?": code 0 = present, 1 = missing. It is learned
# jointly with every other span, so missingness keeps its real rate and its correlations.
MISSING_SPAN = ("softmax", 2, "missing")


def missing_marker(series: pd.Series) -> Any:
    """The missing value a column uses (its first one), so generated gaps look the same."""
    mask = series.isna()
    if not mask.any():
        return None
    return series[mask].iloc[0]


def encode_marker(marker: Any) -> Any:
    return encode_value(marker)


def decode_marker(data: Any) -> Any:
    return decode_value(data)


def put_missing(values: pd.Series, mask: np.ndarray, marker: Any) -> pd.Series:
    """Set ``values[mask]`` to ``marker`` for object columns (typed columns use their own NA)."""
    if not mask.any():
        return values
    out = values.astype(object) if values.dtype != object else values.copy()
    out[mask] = marker
    return out
