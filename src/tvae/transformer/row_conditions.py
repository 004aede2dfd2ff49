"""Repairs under a frame of conditions whose columns hold a condition in some rows only.

A frame of conditions may leave a cell empty: that row asks nothing of the column, so the
dependencies' repairs may move it there (census: a row conditioned only on a migration code
gets its age from the code's pair, while the next row keeps the age it asked for). The rows are
split by which columns their conditions hold, and each part is repaired with its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import numpy as np
import pandas as pd

Repair = Callable[[pd.DataFrame, set, "Mapping | None"], pd.DataFrame]


def repair_by_rows(
    frame: pd.DataFrame,
    fixed: set,
    fixed_rows: Mapping[Hashable, np.ndarray],
    allowed: Mapping | None,
    repair: Repair,
) -> pd.DataFrame:
    """``repair(part, fixed, allowed)`` on each part of ``frame`` whose rows hold a condition on
    the same columns of ``fixed_rows`` (column -> a mask of the rows it is fixed in), with those
    columns added to ``fixed`` and each per-row ``allowed`` array cut to the part; the parts are
    written back into ``frame`` (in place; also returned), in its row order."""
    columns = list(fixed_rows)
    masks = np.column_stack([np.asarray(fixed_rows[c], dtype=bool) for c in columns])
    patterns, group = np.unique(masks, axis=0, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    if len(patterns) == 1:
        here = fixed | {c for c, on in zip(columns, patterns[0], strict=True) if on}
        return repair(frame, here, allowed)
    parts, positions = [], []
    for index, pattern in enumerate(patterns):
        rows = np.flatnonzero(group == index)
        here = fixed | {c for c, on in zip(columns, pattern, strict=True) if on}
        limits = {
            c: limit[rows] if isinstance(limit, np.ndarray) else limit
            for c, limit in (allowed or {}).items()
        }
        parts.append(repair(frame.iloc[rows].copy(), here, limits))
        positions.append(rows)
    joined = pd.concat(parts).iloc[np.argsort(np.concatenate(positions), kind="stable")]
    joined.index = frame.index
    for column in joined.columns:
        frame[column] = joined[column]
    return frame
