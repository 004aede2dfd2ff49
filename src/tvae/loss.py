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


SPAN_SUM_FLOOR = 1e-30  # a span's exp-sum below this under the batch's shift: shift by row


def _shifted_exps(
    raw: torch.Tensor, index: SpanIndex, span_max: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(raw - the span's shift) (B, D), 0 at tanh positions, and each span's sum (B, S);
    ``span_max`` (1 or B, S) holds the shifts."""
    inf = span_max.new_full((len(span_max), 1), float("inf"))  # tanh positions: exp(-inf) = 0
    shift = torch.cat([span_max, inf], dim=1).index_select(1, index.position_span)  # (1|B, D)
    exps = torch.exp(raw - shift)
    return exps, exps @ index.membership


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """Sum over rows and softmax spans of -log softmax(span logits)[target].

    The gradient, softmax - one-hot, is computed with the loss, so autograd records one node
    instead of a dozen; on wide rows (digits: 65 spans, 800 outputs) the loss and its backward
    took a fifth of each training step. The log-sum-exp of a span is shifted by a constant for
    stability: on the CPU, the span's maximum over the whole batch (a reduction over D values
    instead of over every row's spans), unless some row's span would then underflow below
    SPAN_SUM_FLOOR; then, and on other devices (no host sync per step), each row's own maximum.
    Each span's sum is a product with the (D, S) membership matrix: no padding, no scatter.
    """

    @staticmethod
    def forward(ctx, raw: torch.Tensor, codes: torch.Tensor, index: SpanIndex) -> torch.Tensor:
        exps = sums = None
        if raw.device.type == "cpu" and len(raw):
            span_max = index.softmax_logits(raw.amax(dim=0, keepdim=True)).amax(dim=-1)  # (1, S)
            exps, sums = _shifted_exps(raw, index, span_max)
            if bool((sums < SPAN_SUM_FLOOR).any()):
                exps = None
        if exps is None:
            span_max = index.softmax_logits(raw).amax(dim=-1)  # (B, S)
            exps, sums = _shifted_exps(raw, index, span_max)
        target = index.softmax_offsets + codes  # (B, S) positions of the true categories
        total = (torch.log(sums) + span_max).sum() - raw.gather(1, target).sum()
        if ctx.needs_input_grad[0]:
            ones = sums.new_ones((len(sums), 1))  # tanh positions: 0 / 1
            gradient = exps / torch.cat([sums, ones], dim=1).index_select(1, index.position_span)
            gradient.scatter_add_(1, target, gradient.new_full(target.shape, -1.0))
            ctx.save_for_backward(gradient)
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        (gradient,) = ctx.saved_tensors
        return gradient * grad_total, None, None


def softmax_cross_entropy(raw: torch.Tensor, codes: torch.Tensor, index: SpanIndex) -> torch.Tensor:
    """Sum over rows and softmax spans of -log softmax(span logits)[target]; ``codes`` (B, S)
    are the targets' indices inside their spans."""
    return _SoftmaxCrossEntropy.apply(raw, codes, index)


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
