"""A smooth surface of one or two numbers: piecewise linear between knots at each number's
quantiles (bilinear on their grid for two), fitted by least squares with a light penalty on
its curvature, so that cells of the grid no row falls in follow their neighbours. Math only:
what :mod:`tvae.transformer.curves` fits and evaluates."""

from __future__ import annotations

import numpy as np
from scipy import sparse

KNOTS = 24  # per source, at most: quantiles, or its distinct values where fewer
SMOOTHING = 1e-4  # the curvature penalty's weight, per row and grid value


def knots_of(values: np.ndarray) -> np.ndarray:
    """A source's knots: its distinct values where there are at most KNOTS, else quantiles."""
    distinct = np.unique(values)
    if len(distinct) <= KNOTS:
        return distinct.astype(float)
    return np.unique(np.quantile(values, np.linspace(0.0, 1.0, KNOTS)))


def _place(values: np.ndarray, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's interval among ``knots`` and its place in it, in [0, 1]."""
    interval = np.clip(np.searchsorted(knots, values, side="right") - 1, 0, len(knots) - 2)
    low, high = knots[interval], knots[interval + 1]
    return interval, np.clip((values - low) / (high - low), 0.0, 1.0)


def design(sources: list[np.ndarray], knots: tuple[np.ndarray, ...]) -> sparse.csr_matrix:
    """The interpolation weights of each row on the grid's values: (N, grid size)."""
    i, t = _place(sources[0], knots[0])
    if len(sources) == 1:
        cells, weights = [i, i + 1], [1 - t, t]
    else:
        j, s = _place(sources[1], knots[1])
        width = len(knots[1])
        cells = [i * width + j, i * width + j + 1, (i + 1) * width + j, (i + 1) * width + j + 1]
        weights = [(1 - t) * (1 - s), (1 - t) * s, t * (1 - s), t * s]
    n_rows, size = len(i), int(np.prod([len(k) for k in knots]))
    rows = np.tile(np.arange(n_rows), len(cells))
    data = (np.concatenate(weights), (rows, np.concatenate(cells)))
    return sparse.csr_matrix(data, shape=(n_rows, size))


def _curvature(shape: tuple[int, ...]) -> sparse.csr_matrix:
    """Second differences of the grid's values along each source."""
    blocks = []
    for axis, length in enumerate(shape):
        if length < 3:
            continue
        second = sparse.diags_array([1.0, -2.0, 1.0], offsets=[0, 1, 2], shape=(length - 2, length))
        factors = [sparse.identity(n, format="csr") for n in shape]
        factors[axis] = second
        block = factors[0]
        for factor in factors[1:]:
            block = sparse.kron(block, factor)
        blocks.append(block)
    size = int(np.prod(shape))
    return sparse.vstack(blocks).tocsr() if blocks else sparse.csr_matrix((0, size))


def fit_values(sources: list[np.ndarray], target: np.ndarray, knots: tuple) -> np.ndarray:
    """The grid's values that fit ``target`` best, the curvature lightly penalised."""
    interpolation = design(sources, knots)
    penalty = _curvature(tuple(len(k) for k in knots))
    strength = SMOOTHING * len(target) / interpolation.shape[1]
    normal = (interpolation.T @ interpolation + strength * (penalty.T @ penalty)).toarray()
    normal[np.diag_indices_from(normal)] += 1e-9 * max(1.0, float(np.abs(normal).max()))
    return np.linalg.solve(normal, interpolation.T @ target)
