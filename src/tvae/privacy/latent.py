"""The private latent: an encoder fixed before DP-SGD, from privately released moments.

Trained end to end under DP-SGD, the VAE learns the columns' marginals and no dependency: noise
on the encoder makes the latent uninformative, and noise on the decoder makes the encoder's
gradient (which comes back through the decoder) uninformative (docs/privacy.md). So under
``epsilon`` the encoder is not trained. It is set, before DP-SGD, to a whitened projection onto
the top principal components of the encoded rows, computed from their sum and their sum of
outer products, each released once with the Gaussian mechanism. DP-SGD then trains the decoder
alone, on a latent that already carries each row.

Sensitivity: an encoded row holds a value in [-1, 1] at each tanh position and a single 1 in
each softmax span, so its squared norm is at most ``T + S`` (T tanh positions, S spans). Every
row is scaled by ``1 / sqrt(T + S)`` before the sums: adding or removing a row moves the sum by
at most 1 (L2) and the upper triangle of the outer-product sum by at most 1 (Frobenius).

Budget: that scaling spreads a row's unit norm over its ``T + S`` terms, so the sums' signal
per entry falls with the row's width while their noise does not. On wide tables the two sums
therefore weigh more than another statistic (:func:`latent_weight`): enough to keep the signal
to noise of a ``BASE_TERMS``-term row. Their extra share of ρ is taken from DP-SGD, whose noise
multiplier grows slowly as its share falls (Poisson subsampling), not from the histograms.

The posterior in the ``k`` projected dimensions is N(sqrt(1 - s^2) * h, s^2) for the whitened
projection h, so the aggregate posterior has about unit variance there; the other dimensions
are N(0, 1). The standard prior N(0, I) then matches it without spending more budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from tvae.layout import SpanIndex
from tvae.model import Encoder

MAX_COMPONENTS = 16  # projected latent dimensions (fewer when the networks are narrower)
POSTERIOR_STD = 0.3  # s: the posterior's spread in the projected dimensions
MIN_EIGENVALUE = 1e-6  # floor of a released variance before whitening
MECHANISMS = 2  # the sum and the outer-product sum
# A row of up to BASE_TERMS terms (adult 20, titanic and bank fewer) gives the two sums the ρ of
# any other statistic; wider rows, (terms / BASE_TERMS)^2 times as much. Measured on seeds 0-2
# against weight 1 (docs/privacy.md): covtype (16,000 rows, weight 20.6) 0.927 -> 0.955 at
# epsilon 10, 0.882 -> 0.903 at 3; census 0.951 -> 0.959, 0.927 -> 0.934; digits (28.9) and
# census at epsilon 1 unchanged within 0.001.
BASE_TERMS = 24
TERMS_PER_KIND = {"numerical": 2, "datetime": 2}  # a scalar and its mode; other kinds: 1 span


def n_components(embedding_dim: int, compress_dims: tuple[int, ...], width: int) -> int:
    """Projected dimensions: at most MAX_COMPONENTS, the latent's width and the row's width,
    and half the narrowest hidden layer (each dimension passes a ReLU layer as a +/- pair)."""
    return max(1, min(MAX_COMPONENTS, embedding_dim, width, *(h // 2 for h in compress_dims)))


def latent_weight(kinds: Mapping[Any, str]) -> float:
    """How many statistics' ρ each of the latent's sums takes, from the columns' kinds alone
    (public, known before any release): max(1, terms / BASE_TERMS)^2, with a row's terms
    estimated as TERMS_PER_KIND per column."""
    terms = sum(TERMS_PER_KIND.get(kind, 1) for kind in kinds.values())
    return max(1.0, terms / BASE_TERMS) ** 2


def row_scale(index: SpanIndex) -> float:
    """The factor that bounds every encoded row's L2 norm by 1."""
    bound = index.tanh_positions.numel() + index.softmax_widths.numel()
    return 1.0 / math.sqrt(max(bound, 1))


def release_projection(
    blocks: Iterable[torch.Tensor], n_rows: int, scale: float, k: int,
    release: Callable[[np.ndarray, str], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The whitened top-``k`` principal projection of the encoded rows (``blocks`` of (B, D),
    ``n_rows`` in all) scaled by ``scale``: (centre (D,), projection (D, k)), from the two
    sums released by ``release(values, label)`` (the Gaussian mechanism, sensitivity 1).
    ``h = (scale * x - centre) @ projection``."""
    total, second = None, None
    for block in blocks:
        scaled = block.double().cpu().numpy() * scale  # (B, D)
        if total is None:
            total, second = np.zeros(scaled.shape[1]), np.zeros((scaled.shape[1],) * 2)
        total += scaled.sum(axis=0)
        second += scaled.T @ scaled
    if total is None:
        raise ValueError("no rows to release a latent projection from")
    width = len(total)
    total = release(total, "latent:sum")  # (D,)
    upper = np.triu_indices(width)
    outer = release(second[upper], "latent:outer-products")  # (D (D + 1) / 2,)
    second = np.zeros((width, width))
    second[upper] = outer
    second = second + np.triu(second, 1).T  # symmetric
    centre = total / n_rows
    covariance = second / n_rows - np.outer(centre, centre)
    values, vectors = np.linalg.eigh(covariance)  # ascending
    values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
    return centre, vectors / np.sqrt(np.maximum(values, MIN_EIGENVALUE))


@torch.no_grad()
def set_projection(
    encoder: Encoder, scale: float, centre: np.ndarray, projection: np.ndarray
) -> None:
    """Make ``encoder`` compute the private posterior exactly, then freeze it.

    With h = A x + b (A = c * scale * P^T, b = -c * P^T centre, c = sqrt(1 - s^2)): the first
    hidden layer outputs (h, -h) in its first 2k units, ReLU keeps their positive parts, later
    hidden layers pass those 2k units on unchanged, and ``fc_mu`` takes their difference, which
    is h again. ``fc_logvar`` is constant: log s^2 in the k projected dimensions, 0 elsewhere.
    """
    k = projection.shape[1]
    shrink = math.sqrt(1.0 - POSTERIOR_STD**2)
    weight = torch.as_tensor(shrink * scale * projection.T, dtype=torch.float32)  # (k, D)
    bias = torch.as_tensor(-shrink * projection.T @ centre, dtype=torch.float32)  # (k,)
    hidden = [m for m in encoder.body if isinstance(m, torch.nn.Linear)]
    for layer in [*hidden, encoder.fc_mu, encoder.fc_logvar]:
        layer.weight.zero_()
        layer.bias.zero_()
    device = encoder.fc_mu.weight.device
    weight, bias = weight.to(device), bias.to(device)
    eye = torch.eye(k, device=device)
    if hidden:
        hidden[0].weight[:k], hidden[0].bias[:k] = weight, bias
        hidden[0].weight[k : 2 * k], hidden[0].bias[k : 2 * k] = -weight, -bias
        for layer in hidden[1:]:
            layer.weight[: 2 * k, : 2 * k] = torch.eye(2 * k, device=device)
        encoder.fc_mu.weight[:k, :k], encoder.fc_mu.weight[:k, k : 2 * k] = eye, -eye
    else:
        encoder.fc_mu.weight[:k], encoder.fc_mu.bias[:k] = weight, bias
    encoder.fc_logvar.bias[:k] = math.log(POSTERIOR_STD**2)
    encoder.requires_grad_(False)
