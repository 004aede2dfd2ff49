"""Drawing one value per softmax span of the decoder's outputs (math only).

The sampler (:mod:`tvae.sampling`) draws every span at once; the repairs
(:mod:`tvae.sampled_repairs`) and conditional sampling draw single spans again with
:func:`gumbel_noise`.
"""

from __future__ import annotations

import torch

from tvae.layout import SpanIndex


def gumbel_noise(
    shape: torch.Size, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Standard Gumbel noise; argmax(logits + noise) draws from softmax(logits)."""
    uniform = torch.rand(shape, generator=generator, device=device)
    return -torch.log(-torch.log(uniform.clamp_(1e-20, 1.0 - 1e-7)))


def span_bounds(index: SpanIndex) -> list[tuple[int, int]]:
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
    spans = span_bounds(index)
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
    codes = [raw[:, start:end].argmax(dim=1) for start, end in span_bounds(index)]
    if not codes:
        return torch.empty((len(raw), 0), dtype=torch.long, device=raw.device)
    return torch.stack(codes, dim=1)
