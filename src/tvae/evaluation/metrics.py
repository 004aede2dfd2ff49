"""Fidelity metrics: column shapes and column pair trends, as in the SDMetrics QualityReport.

Definitions follow SDMetrics 0.32 (``sdmetrics.reports.single_table.QualityReport``) so that
scores are comparable with published numbers, but the code is our own and vectorised:

* column shapes: KS complement (1 - two-sample Kolmogorov-Smirnov D) for numerical and datetime
  columns, TV complement (1 - total variation distance of the category frequencies) for
  categorical and boolean columns; missing values are dropped first;
* column pair trends: correlation similarity (1 - |r_real - r_synthetic| / 2, Pearson on the rows
  where both values are present) for two continuous columns, contingency similarity
  (1 - total variation distance of the joint frequencies, missing values as their own category)
  for two discrete columns and for mixed pairs, where the continuous column is cut into the
  10 ``numpy.histogram_bin_edges`` bins of its own frame (real and synthetic separately, as
  SDMetrics does; a missing value lands in the top bin);
* like SDMetrics' report defaults, a pair contributes to the property score only when the real
  data shows a trend: ``|r_real| > real_correlation_threshold`` (0.5) for continuous pairs and
  Cramér's V of the real contingency table ``> real_association_threshold`` (0.3) otherwise.
  Pass 0 for both to average every pair (the pre-0.2x SDMetrics behaviour).

No I/O and no randomness here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .columns import CONTINUOUS, DISCRETE, to_float

DEFAULT_REAL_CORRELATION_THRESHOLD = 0.5
DEFAULT_REAL_ASSOCIATION_THRESHOLD = 0.3
_DECIMALS = 14  # KS inputs are rounded so that float noise does not count as a difference
_N_BINS = 10
_DENSE_LIMIT = 2_000_000  # joint tables bigger than this are counted sparsely


def _joint_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes shared by both frames; missing values get the extra code ``k``."""
    both = pd.concat([real, synthetic], ignore_index=True)
    if isinstance(both.dtype, pd.CategoricalDtype):
        both = both.astype(object)
    codes, uniques = pd.factorize(both, use_na_sentinel=True)
    k = len(uniques)
    codes = np.where(codes < 0, k, codes)
    return codes[: len(real)], codes[len(real) :], k + 1


# --------------------------------------------------------------------------- single columns
def ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - the two-sample KS statistic of the non-missing values (NaN if either is empty)."""
    kind = "datetime" if pd.api.types.is_datetime64_any_dtype(real) else "numerical"
    return ks_complement_values(to_float(real, kind), to_float(synthetic, kind))


def ks_complement_values(real: np.ndarray, synthetic: np.ndarray) -> float:
    """KS complement of two float arrays; NaN entries are ignored."""
    x = np.sort(np.round(real[~np.isnan(real)], _DECIMALS))
    y = np.sort(np.round(synthetic[~np.isnan(synthetic)], _DECIMALS))
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    pooled = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, pooled, side="right") / len(x)
    cdf_y = np.searchsorted(y, pooled, side="right") / len(y)
    return float(1.0 - np.max(np.abs(cdf_x - cdf_y)))


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - total variation distance between the category frequencies (missing values dropped)."""
    real = pd.Series(real).dropna()
    synthetic = pd.Series(synthetic).dropna()
    if len(real) == 0 or len(synthetic) == 0:
        return float("nan")
    r_codes, s_codes, k = _joint_codes(real, synthetic)
    p = np.bincount(r_codes, minlength=k) / len(r_codes)
    q = np.bincount(s_codes, minlength=k) / len(s_codes)
    # disjoint supports sum to 2 give or take rounding: clipped, never -2e-16
    return float(np.clip(1.0 - 0.5 * np.abs(p - q).sum(), 0.0, 1.0))


# --------------------------------------------------------------------------- column pairs
def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation on rows where both are present; NaN if undefined."""
    mask = ~(np.isnan(x) | np.isnan(y))
    x, y = x[mask], y[mask]
    if len(x) < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    if denominator == 0 or not np.isfinite(denominator):
        return float("nan")
    return float(np.clip(np.dot(dx, dy) / denominator, -1.0, 1.0))


def correlation_similarity(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """1 - |Pearson(real) - Pearson(synthetic)| / 2 for the two columns of each frame."""
    _check_pair(real, synthetic)
    kinds = [
        "datetime" if pd.api.types.is_datetime64_any_dtype(real[c]) else "numerical"
        for c in real.columns[:2]
    ]
    a, b = real.columns[:2]
    r_real = pearson(to_float(real[a], kinds[0]), to_float(real[b], kinds[1]))
    r_syn = pearson(to_float(synthetic[a], kinds[0]), to_float(synthetic[b], kinds[1]))
    return float(1.0 - abs(r_real - r_syn) / 2.0)


def contingency_similarity(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """1 - total variation distance between the joint frequencies of two discrete columns."""
    _check_pair(real, synthetic)
    a, b = real.columns[:2]
    ra, sa, ka = _joint_codes(real[a], synthetic[a])
    rb, sb, kb = _joint_codes(real[b], synthetic[b])
    return _contingency(ra, rb, sa, sb, ka, kb)[0]


def _check_pair(real: pd.DataFrame, synthetic: pd.DataFrame) -> None:
    for name, frame in (("real", real), ("synthetic", synthetic)):
        if not isinstance(frame, pd.DataFrame) or frame.shape[1] != 2:
            raise ValueError(f"{name} must be a DataFrame with exactly two columns")
    if list(real.columns) != list(synthetic.columns):
        raise ValueError("real and synthetic must have the same two columns")


def _contingency(
    ra: np.ndarray, rb: np.ndarray, sa: np.ndarray, sb: np.ndarray, ka: int, kb: int
) -> tuple[float, float, float]:
    """(TV complement of the joint frequencies, Cramér's V real, Cramér's V synthetic)."""
    if len(ra) == 0 or len(sa) == 0:
        return float("nan"), float("nan"), float("nan")
    joint_r = ra.astype(np.int64) * kb + rb
    joint_s = sa.astype(np.int64) * kb + sb
    if ka * kb <= _DENSE_LIMIT:
        cells = np.arange(ka * kb)
        count_r = np.bincount(joint_r, minlength=ka * kb)
        count_s = np.bincount(joint_s, minlength=ka * kb)
    else:
        cells, inverse = np.unique(np.concatenate([joint_r, joint_s]), return_inverse=True)
        count_r = np.bincount(inverse[: len(joint_r)], minlength=len(cells))
        count_s = np.bincount(inverse[len(joint_r) :], minlength=len(cells))
    tv = 0.5 * np.abs(count_r / len(joint_r) - count_s / len(joint_s)).sum()
    rows, cols = cells // kb, cells % kb
    return float(1.0 - tv), _cramers_v(count_r, rows, cols), _cramers_v(count_s, rows, cols)


def _cramers_v(counts: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    """Cramér's V (no continuity correction) of a sparse table given by its cells."""
    keep = counts > 0
    counts, rows, cols = counts[keep].astype(np.float64), rows[keep], cols[keep]
    n = counts.sum()
    if n == 0:
        return float("nan")
    _, row_idx = np.unique(rows, return_inverse=True)
    _, col_idx = np.unique(cols, return_inverse=True)
    row_tot = np.bincount(row_idx, weights=counts)
    col_tot = np.bincount(col_idx, weights=counts)
    smaller = min(len(row_tot), len(col_tot))
    if smaller < 2:
        return float("nan")
    chi2 = n * (np.sum(counts**2 / (row_tot[row_idx] * col_tot[col_idx])) - 1.0)
    return float(np.sqrt(max(chi2, 0.0) / (n * (smaller - 1))))


# --------------------------------------------------------------------------- properties
def column_shapes(
    real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]
) -> pd.DataFrame:
    """One row per scored column: column, kind, metric, score."""
    rows = []
    for column, kind in kinds.items():
        if kind in CONTINUOUS:
            score = ks_complement_values(
                to_float(real[column], kind, column), to_float(synthetic[column], kind, column)
            )
            rows.append((column, kind, "KSComplement", score))
        elif kind in DISCRETE:
            rows.append(
                (column, kind, "TVComplement", tv_complement(real[column], synthetic[column]))
            )
    return pd.DataFrame(rows, columns=["column", "kind", "metric", "score"]).astype(
        {"score": "float64"}
    )


@dataclass
class _Prepared:
    """A column turned into arrays once, for all the pairs it appears in."""

    continuous: bool
    real_values: np.ndarray | None  # float, continuous columns only
    syn_values: np.ndarray | None
    real_codes: np.ndarray | None  # category or histogram-bin codes (None if binning failed)
    syn_codes: np.ndarray | None
    n_codes: int
    real_constant: bool = False
    syn_constant: bool = False


def _bin_codes(values: np.ndarray) -> np.ndarray | None:
    """Histogram-bin index of each value, edges from this frame's own values (None if inf)."""
    try:
        edges = np.histogram_bin_edges(values[~np.isnan(values)], bins=_N_BINS)
    except ValueError:
        return None
    return np.digitize(values, edges)


def _prepare(real: pd.Series, synthetic: pd.Series, kind: str) -> _Prepared:
    if kind in CONTINUOUS:
        rv, sv = to_float(real, kind, real.name), to_float(synthetic, kind, real.name)
        return _Prepared(
            True,
            rv,
            sv,
            _bin_codes(rv),
            _bin_codes(sv),
            _N_BINS + 2,
            real_constant=pd.Series(rv).nunique() == 1,
            syn_constant=pd.Series(sv).nunique() == 1,
        )
    rc, sc, k = _joint_codes(real, synthetic)
    return _Prepared(False, None, None, rc, sc, k)


def column_pair_trends(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    kinds: dict[str, str],
    *,
    real_correlation_threshold: float = DEFAULT_REAL_CORRELATION_THRESHOLD,
    real_association_threshold: float = DEFAULT_REAL_ASSOCIATION_THRESHOLD,
) -> pd.DataFrame:
    """One row per pair of scored columns.

    Columns: column_1, column_2, metric, score, real and synthetic (Pearson correlations of
    continuous pairs), real_association and synthetic_association (Cramér's V of discrete and
    mixed pairs) and ``contributes`` (whether the pair counts towards the property score).
    """
    for name, value in (
        ("real_correlation_threshold", real_correlation_threshold),
        ("real_association_threshold", real_association_threshold),
    ):
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
    scored = [c for c, k in kinds.items() if k in CONTINUOUS or k in DISCRETE]
    prepared = {c: _prepare(real[c], synthetic[c], kinds[c]) for c in scored}
    rows = []
    for a, b in itertools.combinations(scored, 2):
        pa, pb = prepared[a], prepared[b]
        if pa.continuous and pb.continuous:
            rows.append((a, b, *_correlation_row(pa, pb, real_correlation_threshold)))
        else:
            rows.append((a, b, *_contingency_row(pa, pb, real_association_threshold)))
    columns = [
        "column_1",
        "column_2",
        "metric",
        "score",
        "real",
        "synthetic",
        "real_association",
        "synthetic_association",
        "contributes",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    float_columns = columns[3:8]
    return frame.astype({c: "float64" for c in float_columns} | {"contributes": "bool"})


def _correlation_row(pa: _Prepared, pb: _Prepared, threshold: float) -> tuple:
    nan = float("nan")
    if pa.real_constant or pb.real_constant or pa.syn_constant or pb.syn_constant:
        return ("CorrelationSimilarity", nan, nan, nan, nan, nan, False)
    r_real = pearson(pa.real_values, pb.real_values)
    r_syn = pearson(pa.syn_values, pb.syn_values)
    score = 1.0 - abs(r_real - r_syn) / 2.0
    contributes = threshold <= 0 or bool(not np.isnan(r_real) and abs(r_real) > threshold)
    return ("CorrelationSimilarity", score, r_real, r_syn, nan, nan, contributes)


def _contingency_row(pa: _Prepared, pb: _Prepared, threshold: float) -> tuple:
    nan = float("nan")
    if (
        pa.real_codes is None
        or pb.real_codes is None
        or pa.syn_codes is None
        or pb.syn_codes is None
    ):
        return ("ContingencySimilarity", nan, nan, nan, nan, nan, False)
    score, v_real, v_syn = _contingency(
        pa.real_codes, pb.real_codes, pa.syn_codes, pb.syn_codes, pa.n_codes, pb.n_codes
    )
    contributes = threshold <= 0 or bool(not np.isnan(v_real) and v_real > threshold)
    return ("ContingencySimilarity", score, nan, nan, v_real, v_syn, contributes)


def property_score(details: pd.DataFrame) -> float:
    """Mean of the scores that count (the ``contributes`` rows when that column exists)."""
    if "contributes" in details.columns:
        details = details[details["contributes"]]
    scores = details["score"].dropna()
    return float(scores.mean()) if len(scores) else float("nan")
