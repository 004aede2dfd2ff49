"""The loss calculator: Gaussian / cross-entropy reconstruction by span, plus KL divergence.

For a batch of B rows (``loss_factor`` = f):
  * each tanh position j:  sum_rows (x_j - tanh(xhat_j))^2 / (2 sigma_j^2)  +  B log sigma_j
  * each softmax span:     sum_rows cross_entropy(xhat_span, target category)
  * reconstruction = f * (sum of the above) / B
  * KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) / B
All spans are handled in one vectorised pass (no Python loop over columns), and each term is
one autograd node whose gradient is computed in closed form with it.
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


class _LatentDraw(torch.autograd.Function):
    """z = mu + eps * exp(logvar / 2) and KL(N(mu, exp(logvar)) || N(0, I)) in one node.

    Both read exp(logvar / 2), and their gradients are short closed forms, where autograd
    would record a dozen small element-wise nodes (with :class:`_Reconstruction`, bank's
    training step is 9 % cheaper; docs/fidelity.md).
    """

    @staticmethod
    def forward(ctx, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor):
        std = torch.exp(0.5 * logvar)
        noise = eps * std
        z = mu + noise
        n_rows = mu.shape[0]
        # -1/2 sum(1 + logvar - mu^2 - std^2) / B. Sums, not BLAS dot products: a dot's
        # rounding depends on the memory alignment of its operands, and a fit resumed from a
        # checkpoint must repeat the uninterrupted one
        summed = mu.numel() + logvar.sum() - mu.square().sum() - std.square().sum()
        kl = -0.5 * summed / n_rows if n_rows else summed * float("nan")
        ctx.save_for_backward(mu, std, noise)
        return z, kl

    @staticmethod
    def backward(ctx, grad_z: torch.Tensor, grad_kl: torch.Tensor):
        mu, std, noise = ctx.saved_tensors
        per_row = grad_kl / mu.shape[0]
        grad_mu = torch.addcmul(grad_z, mu, per_row)  # dz/dmu = 1, dKL/dmu = mu / B
        # dz/dlogvar = noise / 2, dKL/dlogvar = (std^2 - 1) / (2 B)
        grad_logvar = (std * std).sub_(1.0).mul_(per_row).addcmul_(grad_z, noise).mul_(0.5)
        return grad_mu, grad_logvar, None


def latent_draw(
    mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reparameterised latent z = mu + eps * exp(logvar / 2) (B, E) for standard normal
    ``eps``, and the KL term: KL(N(mu, exp(logvar)) || N(0, I)) summed over latent units and
    averaged over rows."""
    return _LatentDraw.apply(mu, logvar, eps)


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


def _softmax_part(
    raw: torch.Tensor, codes: torch.Tensor, index: SpanIndex, gradient: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sum over rows and softmax spans of -log softmax(span logits)[target], and (with
    ``gradient``) its gradient, softmax - one-hot (B, D), 0 at tanh positions.

    The log-sum-exp of a span is shifted by a constant for stability: on the CPU, the span's
    maximum over the whole batch (a reduction over D values instead of over every row's
    spans), unless some row's span would then underflow below SPAN_SUM_FLOOR; then, and on
    other devices (no host sync per step), each row's own maximum. Each span's sum is a product
    with the (D, S) membership matrix: no padding, no scatter.
    """
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
    if not gradient:
        return total, None
    ones = sums.new_ones((len(sums), 1))  # tanh positions: 0 / 1
    softmax = exps.div_(torch.cat([sums, ones], dim=1).index_select(1, index.position_span))
    return total, softmax.scatter_add_(1, target, softmax.new_full(target.shape, -1.0))


class _Reconstruction(torch.autograd.Function):
    """The reconstruction loss (see the module docstring), its gradients computed with it.

    The gradient with respect to the raw outputs is softmax - one-hot at softmax positions and
    -(x - tanh(raw)) (1 - tanh(raw)^2) / sigma^2 at tanh positions; sigma's is
    (B - sum_rows (x - tanh(raw))^2 / sigma^2) / sigma. One autograd node instead of a few
    dozen: on wide rows (digits: 65 spans, 800 outputs) the loss and its backward once took a
    fifth of each training step.
    """

    @staticmethod
    def forward(ctx, raw, sigma, alphas, codes, index: SpanIndex, loss_factor: float):
        n_rows = raw.shape[0]
        want_raw, want_sigma = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        total, gradient, grad_sigma = raw.new_zeros(()), None, None
        if index.softmax_offsets.numel():
            total, gradient = _softmax_part(raw, codes, index, want_raw)
        positions = index.tanh_positions
        if positions.numel():
            scale = sigma[positions]  # (T,)
            squashed = torch.tanh(raw.index_select(1, positions))  # (B, T)
            error = alphas - squashed
            precision = scale.pow(-2)
            squares = error.square().sum(0)  # (T,)
            total = total + 0.5 * (squares * precision).sum() + n_rows * torch.log(scale).sum()
            if want_raw:
                gradient = raw.new_zeros(raw.shape) if gradient is None else gradient
                # (tanh^2 - 1) (x - tanh) / sigma^2
                gradient[:, positions] = squashed.square_().sub_(1.0).mul_(error).mul_(precision)
            if want_sigma:
                grad_sigma = sigma.new_zeros(sigma.shape)
                grad_sigma[positions] = (n_rows - squares * precision) / scale
        ctx.factor = loss_factor / n_rows if n_rows else float("nan")
        ctx.save_for_backward(gradient, grad_sigma)
        return total * ctx.factor

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        gradient, grad_sigma = ctx.saved_tensors
        scale = grad_total * ctx.factor
        grad_raw = gradient * scale if gradient is not None else None
        grad_sigma = grad_sigma * scale if grad_sigma is not None else None
        return grad_raw, grad_sigma, None, None, None, None


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
    return _Reconstruction.apply(raw, sigma, alphas, codes, index, loss_factor)


def tvae_loss(
    raw: torch.Tensor,
    sigma: torch.Tensor,
    alphas: torch.Tensor,
    codes: torch.Tensor,
    kl: torch.Tensor,
    index: SpanIndex,
    loss_factor: float,
) -> LossTerms:
    """Reconstruction + KL for one batch (see the module docstring for the formula); ``kl`` is
    the KL term :func:`latent_draw` returned with the latents that gave ``raw``."""
    reconstruction = reconstruction_loss(raw, sigma, alphas, codes, index, loss_factor)
    return LossTerms(reconstruction + kl, reconstruction, kl)
