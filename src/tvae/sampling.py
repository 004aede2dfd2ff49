"""Turn decoder outputs into encoded rows (alphas, codes): the sampler's maths, no I/O."""

from __future__ import annotations

import torch

from tvae.loss import SpanIndex

DECODINGS = ("sample", "argmax")
SAMPLE_CHUNK = 16_384  # rows decoded at once by ``sample``: bounds memory, fixed for determinism


def gumbel_noise(
    shape: torch.Size, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Standard Gumbel noise; argmax(logits + noise) draws from softmax(logits)."""
    uniform = torch.rand(shape, generator=generator, device=device)
    return -torch.log(-torch.log(uniform.clamp_(1e-20, 1.0 - 1e-7)))


def draw_categories(
    raw: torch.Tensor, index: SpanIndex, generator: torch.Generator
) -> torch.Tensor:
    """One draw per softmax span from softmax(span logits), by inverse CDF. Returns (B, S).

    Works on the unpadded row (B, D) with one uniform number per span: probabilities are
    exponentials shifted by the row's maximum (in float64, whose range makes underflow of a
    whole span impossible in practice), cumulated along the row; a span's draw is how many of
    its positions lie below ``start + u * span_total``.
    """
    logits = raw.double().masked_fill(index.not_softmax, float("-inf"))  # (B, D)
    weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))  # (B, D), 0 at tanh spots
    membership = index.membership.double()  # (D, S)
    totals = weights @ membership  # (B, S)
    cumulative = weights.cumsum(dim=1)  # (B, D)
    start = cumulative.gather(1, index.softmax_offsets.expand(len(raw), -1))
    start = start - weights.gather(1, index.softmax_offsets.expand(len(raw), -1))  # (B, S)
    uniform = torch.rand(totals.shape, generator=generator, device=raw.device, dtype=torch.float64)
    threshold = (start + uniform * totals) @ membership.T  # (B, D): each position's span threshold
    below = (cumulative < threshold) & ~index.not_softmax  # (B, D)
    codes = (below.double() @ membership).long()  # (B, S)
    return torch.minimum(codes, index.softmax_widths - 1)


@torch.no_grad()
def decode_outputs(
    raw: torch.Tensor,
    sigma: torch.Tensor,
    index: SpanIndex,
    generator: torch.Generator,
    decoding: str = "sample",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw decoder outputs (B, D) -> alphas (B, T) and codes (B, S).

    Each tanh scalar is tanh(output) plus Gaussian noise of the learned scale, clipped to
    [-1, 1], as in the reference. Each softmax span is decoded by ``decoding``:
    "argmax" (the reference: deterministic for a given latent draw) or "sample" (a draw from the
    span's softmax, which keeps rare categories and mixture modes at their learned rates).
    """
    positions = index.tanh_positions
    centre = torch.tanh(raw[:, positions])  # (B, T)
    noise = torch.randn(centre.shape, generator=generator, device=raw.device)
    alphas = (centre + noise * sigma[positions]).clamp_(-1.0, 1.0)
    if decoding == "sample":
        # differs from the reference: argmax decoding distorts rare categories (SDV #248, #2039).
        return alphas, draw_categories(raw, index, generator)
    return alphas, index.softmax_logits(raw).argmax(dim=-1)  # (B, S)
