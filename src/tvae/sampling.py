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
    logits = index.softmax_logits(raw)  # (B, S, W)
    if decoding == "sample":
        # differs from the reference: argmax decoding distorts rare categories (SDV #248, #2039).
        logits = logits + gumbel_noise(logits.shape, generator, raw.device)
    codes = logits.argmax(dim=-1)  # (B, S)
    return alphas, codes
