"""Turn decoder outputs into encoded rows (alphas, codes): the sampler's maths, no I/O."""

from __future__ import annotations

import torch

from tvae.loss import SpanIndex

DECODINGS = ("sample", "argmax")
SAMPLE_CHUNK = 4_096  # rows decoded at once by ``sample``: bounds memory, fixed for determinism


def gumbel_noise(
    shape: torch.Size, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Standard Gumbel noise; argmax(logits + noise) draws from softmax(logits)."""
    uniform = torch.rand(shape, generator=generator, device=device)
    return -torch.log(-torch.log(uniform.clamp_(1e-20, 1.0 - 1e-7)))


def _span_bounds(index: SpanIndex) -> list[tuple[int, int]]:
    """``(start, end)`` of each softmax span in the encoded row."""
    starts = index.softmax_offsets.tolist()
    return [(a, a + w) for a, w in zip(starts, index.softmax_widths.tolist(), strict=True)]


def draw_categories(
    raw: torch.Tensor, index: SpanIndex, generator: torch.Generator
) -> torch.Tensor:
    """One draw per softmax span from softmax(span logits), by inverse CDF. Returns (B, S).

    Works on the transposed outputs (D, B), where each span is a contiguous block of rows:
    exponentials shifted by the span's maximum (so the total is at least 1 and nothing
    underflows), cumulated down the span by a triangular matrix product; the draw is how many
    positions lie below a uniform number times the span's total (so rounding can never push it
    past the last category). Spans are visited in a loop of a few vectorised operations each:
    this is the sampler, not the training step.
    """
    columns = raw.T.contiguous()  # (D, B)
    spans = _span_bounds(index)
    uniform = torch.rand((len(spans), len(raw)), generator=generator, device=raw.device)
    codes = torch.empty((len(spans), len(raw)), dtype=torch.int32, device=raw.device)
    for s, (start, end) in enumerate(spans):
        block = columns[start:end]  # (W, B)
        weights = (block - block.amax(dim=0)).exp_()
        lower = torch.ones((end - start, end - start), device=raw.device).tril_()
        cumulative = lower @ weights  # (W, B): running totals down each span
        below = cumulative < uniform[s].mul_(cumulative[-1])
        torch.sum(below.view(torch.uint8), dim=0, dtype=torch.int32, out=codes[s])
        codes[s].clamp_(max=end - start - 1)
    return codes.T.long()


def argmax_categories(raw: torch.Tensor, index: SpanIndex) -> torch.Tensor:
    """The most likely category of each softmax span (the reference's decoding). Returns (B, S)."""
    codes = [raw[:, start:end].argmax(dim=1) for start, end in _span_bounds(index)]
    if not codes:
        return torch.empty((len(raw), 0), dtype=torch.long, device=raw.device)
    return torch.stack(codes, dim=1)


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
    centre = torch.tanh(raw.index_select(1, positions))  # (B, T)
    noise = torch.randn(centre.shape, generator=generator, device=raw.device)
    alphas = (centre + noise * sigma[positions]).clamp_(-1.0, 1.0)
    if decoding == "sample":
        # differs from the reference: argmax decoding distorts rare categories (SDV #248, #2039).
        return alphas, draw_categories(raw, index, generator)
    return alphas, argmax_categories(raw, index)
