"""The private latent prior: a Gaussian mixture over the projected latent, fitted by DP-EM.

The private encoder (:mod:`tvae.privacy.latent`) maps each row to a whitened projection h of
``k`` dimensions. N(0, I) matches only the first two moments of the rows' latents, which are
multimodal; a decoder asked for latents where no real row puts one gives rows unlike the real
ones (adult, 26,048 rows, epsilon 10: a non-private mixture fitted on the latents lifts quality
from 0.946 to 0.971; docs/privacy.md).

Under ``epsilon`` the mixture is fitted by expectation-maximisation that reads the rows once per
iteration, through one released vector: per component, the sum of the rows' responsibilities and
the responsibility-weighted sum of their latents. Each latent is first clipped to norm
``CLIP_NORM`` (R); scaled by a = ``COUNT_WEIGHT`` and b = sqrt(1 - a^2) / R, one row moves that
vector by sqrt(sum_c r_c^2 (a^2 + b^2 |h|^2)) <= 1 (the responsibilities r_c sum to one), so each
iteration is one Gaussian mechanism of sensitivity 1.

The components share one covariance, which is not released: the latents' total covariance is
(1 - s^2) I by construction (whitened, then shrunk by the posterior spread s), so the
within-component covariance is that minus the spread of the released means (the law of total
variance). Sampled latents add the posterior's s^2 I. (Shared and full covariances scored the
same on adult without noise; a shared one needs no second moments, whose noise grows with R^2.)

How many components: as many as keep each released mean within ``MEAN_ERROR`` of its value, up
to ``MAX_COMPONENTS``; below ``MIN_COMPONENTS`` the prior stays N(0, I) and spends nothing
(adult's 4,000 rows at epsilon 10 get 6, and a 6-component mixture lost 0.004 of quality there).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from tvae.prior import MixturePrior

CLIP_NORM = 5.0  # R: latents are clipped to this norm (whitened, k = 16: typical norm ~3.8)
COUNT_WEIGHT = 1 / math.sqrt(2)  # a: the responsibility sums' share of the sensitivity
MEAN_WEIGHT = math.sqrt(1 - COUNT_WEIGHT**2) / CLIP_NORM  # b: the latent sums' scale
ITERATIONS = 6  # EM iterations, one Gaussian mechanism each (15 cost bank more than they gave)
MEAN_ERROR = 0.05  # the noise a component's released mean may carry, per coordinate
MIN_COMPONENTS, MAX_COMPONENTS = 10, 50
DROP_SHARE = 0.5  # components left with fewer than this share of component_rows are dropped
START_SPREAD = 0.5  # the first E-step's components: N(m, 0.5 (1 - s^2) I), m ~ the same
MIN_VARIANCE = 0.02  # floor of the within-component covariance's eigenvalues
CHUNK_ROWS = 65_536  # rows per block of the E-step


def component_rows(noise: float) -> float:
    """The rows a component needs for its released mean to carry at most ``MEAN_ERROR`` of
    noise per coordinate, when each release has noise multiplier ``noise``."""
    return noise / MEAN_WEIGHT / MEAN_ERROR


def dropped_below(noise: float) -> float:
    """Released rows under which a final component is dropped (its mean is mostly noise)."""
    return DROP_SHARE * component_rows(noise)


def planned_components(n_rows: int, noise: float) -> int:
    """Components of the private mixture for ``n_rows`` rows at noise multiplier ``noise``;
    0 when too few for a mixture to pay for its iterations (the prior stays standard)."""
    if not math.isfinite(noise):
        return 0
    count = min(MAX_COMPONENTS, int(n_rows // component_rows(noise)))
    return count if count >= MIN_COMPONENTS else 0


def clip_rows(latents: np.ndarray) -> np.ndarray:
    """Each row scaled down to norm at most ``CLIP_NORM``."""
    norms = np.linalg.norm(latents, axis=1, keepdims=True)
    return latents * np.minimum(1.0, CLIP_NORM / np.maximum(norms, 1e-12))


def responsibilities(
    latents: np.ndarray, weights: np.ndarray, means: np.ndarray, covariance: np.ndarray
) -> np.ndarray:
    """Each row's posterior over components sharing ``covariance``. (N, C)"""
    factor = np.linalg.cholesky(covariance)  # (k, k)
    rows = np.linalg.solve(factor, latents.T).T  # (N, k): whitened by the shared covariance
    centres = np.linalg.solve(factor, means.T).T  # (C, k)
    squared = (rows**2).sum(1, keepdims=True) - 2 * rows @ centres.T + (centres**2).sum(1)
    log_joint = np.log(np.maximum(weights, 1e-300)) - 0.5 * squared
    log_joint -= log_joint.max(axis=1, keepdims=True)
    joint = np.exp(log_joint)
    return joint / joint.sum(axis=1, keepdims=True)


def within_covariance(total: float, weights: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``total`` I minus the weighted spread of ``means``, its eigenvalues floored."""
    centred = means - weights @ means
    between = (weights[:, None] * centred).T @ centred
    values, vectors = np.linalg.eigh(total * np.eye(means.shape[1]) - between)
    return (vectors * np.maximum(values, MIN_VARIANCE)) @ vectors.T


def release_mixture(
    latents: np.ndarray, n_components: int, total: float, min_rows: float,
    release: Callable[[np.ndarray, str], np.ndarray], rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """DP-EM on ``latents`` (N, k) whose total covariance is ``total`` I: the components'
    weights (C,), means (C, k) and shared covariance (k, k). ``release(values, label)`` is the
    Gaussian mechanism (sensitivity 1); components whose released rows fall below
    ``min_rows`` are dropped at the end (their means are mostly noise)."""
    clipped = clip_rows(np.asarray(latents, dtype=np.float64))
    k = clipped.shape[1]
    spread = START_SPREAD * total
    weights = np.full(n_components, 1.0 / n_components)
    means = rng.normal(0.0, math.sqrt(spread), (n_components, k))
    covariance = spread * np.eye(k)
    counts = np.zeros(n_components)
    for iteration in range(ITERATIONS):
        mass, weighted = np.zeros(n_components), np.zeros((n_components, k))
        for start in range(0, len(clipped), CHUNK_ROWS):  # (N, C) never held whole
            block = clipped[start : start + CHUNK_ROWS]
            share = responsibilities(block, weights, means, covariance)  # (B, C)
            mass += share.sum(axis=0)
            weighted += share.T @ block
        exact = np.concatenate([mass * COUNT_WEIGHT, weighted.ravel() * MEAN_WEIGHT])
        released = release(exact, f"prior:em-{iteration + 1}")
        counts = np.maximum(released[:n_components] / COUNT_WEIGHT, 1.0)
        sums = released[n_components:].reshape(n_components, k) / MEAN_WEIGHT
        weights = counts / counts.sum()
        means = clip_rows(sums / counts[:, None])  # no released mean beyond the clipped rows
        covariance = within_covariance(total, weights, means)
    kept = counts >= min_rows
    if not kept.any():
        kept = counts == counts.max()
    weights = counts[kept] / counts[kept].sum()
    means = means[kept]
    return weights, means, within_covariance(total, weights, means)


def mixture_prior(
    embedding_dim: int, weights: np.ndarray, means: np.ndarray, covariance: np.ndarray,
    posterior_std: float,
) -> MixturePrior:  # fmt: skip
    """The prior that samples the released mixture in the first k latent dimensions (adding
    the posterior's spread) and N(0, 1) in the others."""
    k = means.shape[1]
    factor = np.linalg.cholesky(covariance + posterior_std**2 * np.eye(k))
    return MixturePrior(
        embedding_dim=embedding_dim,
        active=torch.arange(k),
        weights=torch.as_tensor(weights, dtype=torch.float32),
        means=torch.as_tensor(means, dtype=torch.float32),
        cholesky=torch.as_tensor(np.repeat(factor[None], len(weights), 0), dtype=torch.float32),
    )
