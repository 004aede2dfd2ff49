"""Privacy checks: exact copies of training rows and distance to closest record (DCR).

A generator that memorises its training table produces rows that are copies of, or much
closer to, training rows than genuinely new rows from the same population would be. The
held-out real rows give that baseline: ``dcr_ratio`` = median DCR of synthetic rows / median
DCR of holdout rows, both measured against the same training rows. A ratio near 1 (or above)
means the synthetic rows are no closer to the training rows than fresh real rows are; a ratio
well below 1 hints at memorisation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .columns import CONTINUOUS, category_text, infer_kinds, to_float

DEFAULT_MAX_ROWS = 5_000
_MAX_ONE_HOT = 100  # categories per column kept in the encoding (most frequent in real)
_MISSING = "\x00<missing>"


def _canonical(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Comparable values: floats for continuous columns, text for the rest (ids dropped)."""
    out = {}
    for column, kind in kinds.items():
        if kind == "id":
            continue
        if kind in CONTINUOUS:
            out[column] = to_float(frame[column], kind, column)
        else:
            out[column] = category_text(frame[column], _MISSING)
    return pd.DataFrame(out, index=frame.index)


def exact_copy_share(
    real: pd.DataFrame, synthetic: pd.DataFrame, *, kinds: dict[str, str] | None = None
) -> float:
    """Share of ``synthetic`` rows equal to some ``real`` row on every non-id column."""
    if kinds is None:
        kinds = infer_kinds(real)
    if len(synthetic) == 0:
        return float("nan")
    hash_real = pd.util.hash_pandas_object(_canonical(real, kinds), index=False).to_numpy()
    hash_syn = pd.util.hash_pandas_object(_canonical(synthetic, kinds), index=False).to_numpy()
    return float(np.isin(hash_syn, hash_real).mean())


class _Encoder:
    """Standardised numbers (missing -> mean, plus a missing flag) and scaled one-hot codes.

    One-hot columns are scaled by 1/sqrt(2) so that two different categories are at distance 1,
    the same as one standard deviation on a numerical column.
    """

    def __init__(
        self, reference: pd.DataFrame, kinds: dict[str, str], frames: list[pd.DataFrame]
    ) -> None:
        self.kinds = {c: k for c, k in kinds.items() if k != "id"}
        flag_missing = {
            c
            for c, k in self.kinds.items()
            if k in CONTINUOUS and any(f[c].isna().any() for f in frames)
        }
        self.stats: dict[str, tuple[float, float, bool]] = {}
        self.categories: dict[str, dict[str, int]] = {}
        canon = _canonical(reference, self.kinds)
        for column, kind in self.kinds.items():
            values = canon[column]
            if kind in CONTINUOUS:
                numbers = values.to_numpy(dtype=np.float64)
                finite = numbers[~np.isnan(numbers)]
                mean = float(finite.mean()) if len(finite) else 0.0
                std = float(finite.std()) if len(finite) else 1.0
                # a missing flag for columns with gaps in any frame (fixes the width)
                self.stats[column] = (mean, std if std > 0 else 1.0, column in flag_missing)
            else:
                top = values.value_counts().index[:_MAX_ONE_HOT]
                self.categories[column] = {value: i for i, value in enumerate(top)}

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        canon = _canonical(frame, self.kinds)
        blocks = []
        for column, kind in self.kinds.items():
            if kind in CONTINUOUS:
                mean, std, flag = self.stats[column]
                numbers = canon[column].to_numpy(dtype=np.float64)
                missing = np.isnan(numbers)
                blocks.append(np.where(missing, 0.0, (numbers - mean) / std)[:, None])
                if flag:
                    blocks.append(missing.astype(np.float64)[:, None])
            else:
                index = self.categories[column]
                codes = canon[column].map(index).to_numpy(dtype=np.float64, na_value=-1)
                one_hot = np.zeros((len(frame), max(len(index), 1)))
                known = codes >= 0
                one_hot[np.flatnonzero(known), codes[known].astype(np.int64)] = 1 / np.sqrt(2)
                blocks.append(one_hot)
        if not blocks:
            return np.zeros((len(frame), 1))
        return np.hstack(blocks)


def _subsample(frame: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=max_rows, replace=False))]


def distance_to_closest_record(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    *,
    kinds: dict[str, str] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    rng: np.random.Generator | None = None,
) -> dict[str, float | int | None]:
    """Median Euclidean distance from synthetic (and holdout) rows to their nearest real row.

    Each frame is subsampled to at most ``max_rows`` rows with ``rng`` (default: seed 0). The
    encoding is fitted on the real rows.
    """
    from sklearn.neighbors import NearestNeighbors

    if kinds is None:
        kinds = infer_kinds(real)
    if not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    reference = _subsample(real, max_rows, rng)
    if len(reference) == 0 or len(synthetic) == 0:
        raise ValueError("real and synthetic must each have at least one row for the DCR")
    frames = [f for f in (real, synthetic, holdout) if f is not None]
    encoder = _Encoder(reference, kinds, frames)
    index = NearestNeighbors(n_neighbors=1).fit(encoder.transform(reference))

    def median_distance(frame: pd.DataFrame) -> tuple[float, int]:
        sample = _subsample(frame, max_rows, rng)
        distances, _ = index.kneighbors(encoder.transform(sample))
        return float(np.median(distances[:, 0])), len(sample)

    dcr_syn, n_syn = median_distance(synthetic)
    result: dict[str, float | int | None] = {
        "dcr_synthetic_median": dcr_syn,
        "dcr_holdout_median": None,
        "dcr_ratio": None,
        "n_reference": len(reference),
        "n_synthetic": n_syn,
        "n_holdout": None,
    }
    if holdout is not None and len(holdout):
        dcr_hold, n_hold = median_distance(holdout)
        result["dcr_holdout_median"] = dcr_hold
        result["dcr_ratio"] = dcr_syn / dcr_hold if dcr_hold > 0 else float("nan")
        result["n_holdout"] = n_hold
    return result


def privacy_metrics(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    *,
    kinds: dict[str, str] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    rng: np.random.Generator | None = None,
) -> dict[str, float | int | None]:
    """Exact-copy shares (synthetic, and holdout as a baseline) plus the DCR summary."""
    if kinds is None:
        kinds = infer_kinds(real)
    result: dict[str, float | int | None] = {
        "exact_copy_share": exact_copy_share(real, synthetic, kinds=kinds),
        "holdout_exact_copy_share": (
            exact_copy_share(real, holdout, kinds=kinds) if holdout is not None else None
        ),
    }
    result.update(
        distance_to_closest_record(
            real, synthetic, holdout, kinds=kinds, max_rows=max_rows, rng=rng
        )
    )
    return result
