"""Mode-specific normalisation of a continuous column (the TVAE/CTGAN paper's transform).

A variational Gaussian mixture with a Dirichlet-process weight prior is fitted to the column;
components carrying almost no weight are dropped. A value x becomes a mode k, drawn from the
posterior responsibilities of the kept components, and a scalar alpha = (x - mu_k) / (4 sigma_k)
clipped to [-0.99, 0.99]. Decoding reverses it: x = alpha * 4 sigma_k + mu_k.

Point masses (a value held by many rows: zeros, caps, round numbers) may be added as extra,
*exact* modes after the mixture's: a row holding such a value gets that mode and alpha 0, and
the mode decodes to the value itself, whatever alpha says. Their ``std`` is a tiny positive
width, so code that reasons about modes in alpha space (conditional sampling) sees a spike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, softmax

from tvae.transformer.mixture import MixtureFit, compress, fit_mixture

MAX_CLUSTERS = 10
WEIGHT_THRESHOLD = 0.005
CONCENTRATION_PRIOR = 1e-3
ALPHA_SCALE = 4  # alpha = (x - mu_k) / (ALPHA_SCALE * sigma_k): the reference's 4-sigma scale
ALPHA_CLIP = 0.99  # |alpha| at most this, as the reference (inside tanh's range)
POINT_WIDTH = 1e-9  # std of an exact mode, relative to max(1, |value|): a spike, never zero
MAX_POINTS = 4_096  # distinct values fitted exactly; beyond that, equal-count groups
_CHUNK = 262_144  # rows per posterior block: bounds memory on very long columns


@dataclass
class ModeNormalizer:
    """Fitted mixture of one continuous column, reduced to its kept components.

    ``log_prior`` and ``precision`` give each kept component's unnormalised posterior
    log-responsibility ``log_prior_k - precision_k / 2 * (x - mean_k)^2``: the same numbers the
    variational mixture's ``predict_proba`` computes, restricted to kept components, but cheap
    to evaluate and to store as JSON.
    """

    mean: np.ndarray  # (K,)
    std: np.ndarray  # (K,)
    log_prior: np.ndarray  # (K,)
    precision: np.ndarray  # (K,)
    exact: np.ndarray | None = None  # (K,) bool: point-mass modes (decode to ``mean`` exactly)

    def __post_init__(self) -> None:
        if self.exact is None:
            self.exact = np.zeros(len(self.mean), dtype=bool)

    @property
    def n_modes(self) -> int:
        return len(self.mean)

    @property
    def points(self) -> np.ndarray:
        """Values of the point-mass modes. Shape (P,)."""
        return self.mean[self.exact]

    @classmethod
    def empty(cls) -> ModeNormalizer:
        """No mixture mode: for a column whose every value is a point mass."""
        nothing = np.empty(0, dtype=np.float64)
        return cls(nothing, nothing.copy(), nothing.copy(), nothing.copy())

    def with_points(self, points: np.ndarray) -> ModeNormalizer:
        """This normalizer plus one exact mode per value of ``points``, after the mixture's."""
        points = np.asarray(points, dtype=np.float64)
        spike = POINT_WIDTH * np.maximum(1.0, np.abs(points))
        zeros = np.zeros(len(points))
        return ModeNormalizer(
            mean=np.concatenate([self.mean, points]),
            std=np.concatenate([self.std, spike]),
            log_prior=np.concatenate([self.log_prior, zeros]),
            precision=np.concatenate([self.precision, zeros]),
            exact=np.concatenate([self.exact, np.ones(len(points), dtype=bool)]),
        )

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        rng: np.random.Generator | int,
        max_clusters: int = MAX_CLUSTERS,
        weight_threshold: float = WEIGHT_THRESHOLD,
        max_points: int = MAX_POINTS,
    ) -> ModeNormalizer:
        """Fit the mixture on ``values`` (1-D, finite), drawing randomness from ``rng``.

        The fit runs on the column's distinct values weighted by their counts, which equals
        fitting every row; a column with more than ``max_points`` distinct values is fitted on
        ``max_points`` equal-count groups of its sorted values (see :func:`compress`).
        """
        rng = np.random.default_rng(rng)  # an int seed or a Generator (used as is)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        # differs from the reference: it fits every row, which does not scale (CTGAN #7).
        points, counts = compress(values, max_points)
        n_components = max(1, min(max_clusters, len(points)))
        mixture = fit_mixture(points, counts, n_components, rng, CONCENTRATION_PRIOR)
        keep = mixture.weights > weight_threshold
        if not keep.any():  # cannot happen with <= 10 components, but never leave zero modes
            keep = mixture.weights == mixture.weights.max()
        return cls._from_mixture(mixture, keep)

    @classmethod
    def _from_mixture(cls, mixture: MixtureFit, keep: np.ndarray) -> ModeNormalizer:
        # Expected log weights of the stick-breaking (Dirichlet process) prior.
        a, b = mixture.weight_concentration
        digamma_total = digamma(a + b)
        log_stick = digamma(a) - digamma_total
        log_rest = np.concatenate([[0.0], np.cumsum(digamma(b) - digamma_total)[:-1]])
        log_weights = log_stick + log_rest
        # 1-D Gaussian log-density terms of the variational posterior (Wishart precision).
        precision_chol = mixture.precisions_cholesky
        dof = mixture.degrees_of_freedom
        log_prior = (
            log_weights
            + np.log(precision_chol)
            - 0.5 * np.log(2 * np.pi)
            - 0.5 * np.log(dof)
            + 0.5 * (np.log(2.0) + digamma(0.5 * dof) - 1.0 / mixture.mean_precision)
        )
        return cls(
            mean=mixture.means[keep].copy(),
            std=np.sqrt(mixture.covariances)[keep].copy(),
            log_prior=log_prior[keep].copy(),
            precision=(precision_chol**2)[keep].copy(),
        )

    def responsibilities(self, values: np.ndarray) -> np.ndarray:
        """Posterior probability of each mixture mode for each value (0 for exact modes). (N, K)

        Without any mixture mode (every value a point mass), the nearest point takes it all.
        """
        values = np.asarray(values, dtype=np.float64)[:, None]  # (N, 1)
        if self.exact.all():
            nearest = np.argmin(np.abs(values - self.mean), axis=1)
            return np.eye(self.n_modes)[nearest]
        logits = self.log_prior - 0.5 * self.precision * (values - self.mean) ** 2  # (N, K)
        return softmax(np.where(self.exact, -np.inf, logits), axis=1)

    def _point_modes(self, values: np.ndarray) -> np.ndarray:
        """The exact mode holding each value, or -1. Shape (N,)."""
        modes = np.full(len(values), -1, dtype=np.int64)
        if not self.exact.any():
            return modes
        exact_modes = np.flatnonzero(self.exact)
        order = np.argsort(self.mean[exact_modes])
        points, exact_modes = self.mean[exact_modes][order], exact_modes[order]
        slot = np.clip(np.searchsorted(points, values), 0, len(points) - 1)
        hit = points[slot] == values
        modes[hit] = exact_modes[slot[hit]]
        return modes

    def transform(
        self, values: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode values as (alpha (N,) float32, mode (N,) int64), drawing each row's mode."""
        values = np.asarray(values, dtype=np.float64)
        alphas = np.empty(len(values), dtype=np.float32)
        modes = np.empty(len(values), dtype=np.int64)
        for start in range(0, len(values), _CHUNK):
            block = values[start : start + _CHUNK]
            cumulative = np.cumsum(self.responsibilities(block), axis=1)  # (n, K)
            draws = rng.random(len(block))[:, None] * cumulative[:, -1:]
            mode = np.minimum((cumulative < draws).sum(axis=1), self.n_modes - 1)
            point = self._point_modes(block)
            mode = np.where(point >= 0, point, mode)
            alpha = (block - self.mean[mode]) / (ALPHA_SCALE * self.std[mode])
            alpha[point >= 0] = 0.0
            alphas[start : start + len(block)] = np.clip(alpha, -ALPHA_CLIP, ALPHA_CLIP)
            modes[start : start + len(block)] = mode
        return alphas, modes

    def inverse(self, alphas: np.ndarray, modes: np.ndarray) -> np.ndarray:
        """Decode (alpha, mode) pairs back to values. Returns float64 (N,)."""
        alphas = np.clip(np.asarray(alphas, dtype=np.float64), -1.0, 1.0)
        values = alphas * ALPHA_SCALE * self.std[modes] + self.mean[modes]
        return np.where(self.exact[modes], self.mean[modes], values)

    def get_state(self) -> dict:
        state = {
            name: getattr(self, name).tolist() for name in ("mean", "std", "log_prior", "precision")
        }
        return {**state, "exact": self.exact.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> ModeNormalizer:
        numbers = {
            k: np.asarray(state[k], dtype=np.float64)
            for k in ("mean", "std", "log_prior", "precision")
        }
        exact = np.asarray(state.get("exact", np.zeros(len(numbers["mean"]))), dtype=bool)
        return cls(**numbers, exact=exact)
