"""A one-dimensional variational Gaussian mixture with a Dirichlet-process weight prior.

The same model and updates as scikit-learn's ``BayesianGaussianMixture`` (stick-breaking
weights, Gaussian-Wishart component priors, coordinate-ascent variational inference), written
for one dimension and for *weighted* points. Fitting on the distinct values of a column with
their counts gives exactly the fit on every row, at a cost that grows with the number of
distinct values instead of the number of rows; long columns of many distinct values are
fitted on a bounded random sample of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln, logsumexp

REG_COVAR = 1e-6
TOL = 1e-3
MAX_ITER = 100
KMEANS_ITER = 30


@dataclass(frozen=True)
class MixtureFit:
    """Fitted variational parameters (one entry per component)."""

    weights: np.ndarray  # expected mixing weights
    means: np.ndarray
    covariances: np.ndarray  # expected component variances
    precisions_cholesky: np.ndarray  # 1 / sqrt(covariances)
    degrees_of_freedom: np.ndarray
    mean_precision: np.ndarray
    weight_concentration: tuple[np.ndarray, np.ndarray]  # Beta parameters of the sticks
    converged: bool


@dataclass(frozen=True)
class _Priors:
    concentration: float
    mean: float
    mean_precision: float
    dof: float
    covariance: float


def compress(values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The weighted form of a column: points and their weights, at most ``max_points`` of them.

    Distinct values with their counts when there are few (exact: the fit equals the fit on
    every row); otherwise the means of ``max_points`` equal-count groups of the sorted values
    (every row counts; within-group spread is far below any component's width).
    """
    points, counts = np.unique(values, return_counts=True)
    if len(points) <= max_points:
        return points, counts.astype(np.float64)
    ordered = np.sort(values)
    bounds = np.linspace(0, len(ordered), max_points + 1).astype(np.int64)
    sizes = np.diff(bounds).astype(np.float64)
    sums = np.add.reduceat(ordered, bounds[:-1])
    return sums / sizes, sizes


def _kmeans_resp(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Hard responsibilities from weighted k-means++ and Lloyd steps on 1-D points. (P, k)."""
    centres = [points[rng.choice(len(points), p=weights / weights.sum())]]
    for _ in range(1, k):
        dist = np.min((points[:, None] - np.asarray(centres)[None, :]) ** 2, axis=1) * weights
        total = dist.sum()
        if total <= 0:  # fewer distinct points than components: reuse one
            centres.append(points[rng.integers(len(points))])
            continue
        centres.append(points[rng.choice(len(points), p=dist / total)])
    centres = np.asarray(centres, dtype=np.float64)
    for _ in range(KMEANS_ITER):
        labels = np.argmin((points[:, None] - centres[None, :]) ** 2, axis=1)
        mass = np.bincount(labels, weights=weights, minlength=k)
        sums = np.bincount(labels, weights=weights * points, minlength=k)
        updated = np.where(mass > 0, sums / np.maximum(mass, 1e-300), centres)
        if np.allclose(updated, centres):
            break
        centres = updated
    labels = np.argmin((points[:, None] - centres[None, :]) ** 2, axis=1)
    resp = np.zeros((len(points), k))
    resp[np.arange(len(points)), labels] = 1.0
    return resp


class _State:
    """Variational parameters updated in place by the M-step."""

    def __init__(self, k: int) -> None:
        self.k = k

    def m_step(
        self, points: np.ndarray, weights: np.ndarray, resp: np.ndarray, prior: _Priors
    ) -> None:
        wr = resp * weights[:, None]  # (P, K)
        nk = wr.sum(axis=0) + 10 * np.finfo(np.float64).eps
        xk = (wr * points[:, None]).sum(axis=0) / nk
        sk = (wr * (points[:, None] - xk) ** 2).sum(axis=0) / nk + REG_COVAR
        # Stick-breaking Beta parameters: mass of this component vs. all later ones.
        tail = np.concatenate([np.cumsum(nk[::-1])[-2::-1], [0.0]])
        self.concentration = (1.0 + nk, prior.concentration + tail)
        self.mean_precision = prior.mean_precision + nk
        self.means = (prior.mean_precision * prior.mean + nk * xk) / self.mean_precision
        self.dof = prior.dof + nk
        scatter = (
            prior.covariance
            + nk * sk
            + nk * prior.mean_precision / self.mean_precision * (xk - prior.mean) ** 2
        )
        self.covariances = scatter / self.dof
        self.precisions_cholesky = 1.0 / np.sqrt(self.covariances)

    def log_weights(self) -> np.ndarray:
        a, b = self.concentration
        total = digamma(a + b)
        return digamma(a) - total + np.concatenate([[0.0], np.cumsum(digamma(b) - total)[:-1]])

    def weighted_log_prob(self, points: np.ndarray) -> np.ndarray:
        """E[log pi_k] + E[log N(x | mu_k, Lambda_k)] for each point and component. (P, K)."""
        pc = self.precisions_cholesky
        log_gauss = (
            -0.5 * (np.log(2 * np.pi) + ((points[:, None] - self.means) * pc) ** 2)
            + np.log(pc)
            - 0.5 * np.log(self.dof)
        )
        log_lambda = np.log(2.0) + digamma(0.5 * self.dof)
        return log_gauss + 0.5 * (log_lambda - 1.0 / self.mean_precision) + self.log_weights()

    def lower_bound(self, weights: np.ndarray, resp: np.ndarray, log_resp: np.ndarray) -> float:
        log_det_chol = np.log(self.precisions_cholesky) - 0.5 * np.log(self.dof)
        log_wishart = -(
            self.dof * log_det_chol + self.dof * 0.5 * np.log(2.0) + gammaln(0.5 * self.dof)
        )
        entropy = -np.sum(weights[:, None] * resp * log_resp)
        return float(
            entropy
            - log_wishart.sum()
            + betaln(*self.concentration).sum()
            - 0.5 * np.log(self.mean_precision).sum()
        )

    def expected_weights(self) -> np.ndarray:
        a, b = self.concentration
        sticks = a / (a + b)
        rest = np.concatenate([[1.0], np.cumprod(b / (a + b))[:-1]])
        weights = sticks * rest
        return weights / weights.sum()


def fit_mixture(
    points: np.ndarray,
    weights: np.ndarray,
    n_components: int,
    rng: np.random.Generator,
    concentration_prior: float = 1e-3,
) -> MixtureFit:
    """Fit the mixture to ``points`` (P,) with ``weights`` (P,) (e.g. counts of distinct values)."""
    points = np.asarray(points, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    mean = float(np.sum(weights * points) / total)
    variance = float(np.sum(weights * (points - mean) ** 2) / max(total - 1.0, 1.0))
    prior = _Priors(concentration_prior, mean, 1.0, 1.0, variance)
    state = _State(n_components)
    state.m_step(points, weights, _kmeans_resp(points, weights, n_components, rng), prior)
    bound, converged = -np.inf, False
    for _ in range(MAX_ITER):
        log_prob = state.weighted_log_prob(points)
        log_resp = log_prob - logsumexp(log_prob, axis=1, keepdims=True)
        resp = np.exp(log_resp)
        state.m_step(points, weights, resp, prior)
        previous, bound = bound, state.lower_bound(weights, resp, log_resp)
        if abs(bound - previous) < TOL:
            converged = True
            break
    return MixtureFit(
        weights=state.expected_weights(),
        means=state.means,
        covariances=state.covariances,
        precisions_cholesky=state.precisions_cholesky,
        degrees_of_freedom=state.dof,
        mean_precision=state.mean_precision,
        weight_concentration=state.concentration,
        converged=converged,
    )
