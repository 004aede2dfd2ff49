"""The loss calculator: Gaussian / cross-entropy reconstruction by span, plus KL divergence.

For a batch of B rows (``loss_factor`` = f):
  * each tanh position j:  sum_rows (x_j - tanh(xhat_j))^2 / (2 sigma_j^2)  +  B log sigma_j
  * each softmax span:     sum_rows cross_entropy(xhat_span, target category)
  * reconstruction = f * (sum of the above) / B
  * KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) / B
All spans are handled in one vectorised pass (no Python loop over columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tvae.layout import SpanIndex


@dataclass(frozen=True)
class LossTerms:
    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent units and averaged over rows."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]


def softmax_cross_entropy(raw: torch.Tensor, codes: torch.Tensor, index: SpanIndex) -> torch.Tensor:
    """Sum over rows and softmax spans of -log softmax(span logits)[target].

    Each span's log-sum-exp is a matrix product with the (D, S) membership matrix, shifted by
    the span's maximum for stability (the shift is a constant: no gradient flows through it).
    Unlike packing spans into a padded (B, S, W_max) tensor, no work or memory is spent on
    padding and the backward pass has no scatter.
    """
    with torch.no_grad():
        span_max = index.softmax_logits(raw).amax(dim=-1)  # (B, S)
    shift = span_max @ index.membership.T  # (B, D): each position's span maximum, 0 elsewhere
    exps = torch.exp(raw - shift + index.tanh_bias)  # (B, D), 0 at tanh positions
    log_sum = torch.log(exps @ index.membership) + span_max  # (B, S)
    target = raw.gather(1, index.softmax_offsets + codes)  # (B, S)
    return (log_sum - target).sum()


def reconstruction_loss(
    raw: torch.Tensor,
    sigma: torch.Tensor,
    alphas: torch.Tensor,
    codes: torch.Tensor,
    index: SpanIndex,
    loss_factor: float,
) -> torch.Tensor:
    """Negative log-likelihood of the encoded batch under the decoder's output.

    ``raw`` (B, D) are decoder outputs before activation, ``alphas`` (B, T) the true tanh-span
    scalars and ``codes`` (B, S) the true index inside each softmax span.
    """
    n_rows = raw.shape[0]
    total = raw.new_zeros(())
    if index.tanh_positions.numel():
        scale = sigma[index.tanh_positions]  # (T,)
        error = alphas - torch.tanh(raw.index_select(1, index.tanh_positions))  # (B, T)
        total = total + (error.pow(2) / (2 * scale.pow(2))).sum() + n_rows * torch.log(scale).sum()
    if index.softmax_offsets.numel():
        total = total + softmax_cross_entropy(raw, codes, index)
    return loss_factor * total / n_rows


def tvae_loss(
    raw: torch.Tensor,
    sigma: torch.Tensor,
    alphas: torch.Tensor,
    codes: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    index: SpanIndex,
    loss_factor: float,
) -> LossTerms:
    """Reconstruction + KL for one batch (see the module docstring for the formula)."""
    reconstruction = reconstruction_loss(raw, sigma, alphas, codes, index, loss_factor)
    kl = kl_divergence(mu, logvar)
    return LossTerms(reconstruction + kl, reconstruction, kl)
