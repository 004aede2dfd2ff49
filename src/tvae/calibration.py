"""Marginal calibration: each category's and each mode's sampled rate brought to its real rate.

A trained decoder, fed latents from the prior, draws each softmax span (a categorical column,
the mode of a numerical column, a point mass, a missing flag) at a rate that is close to the
training rows' rate but not equal to it: the prior is only an approximation of the aggregate
posterior, and the decoder's logits are fitted on posterior draws. Small tables and rare values
show it most (a value held by 9 % of 142 rows came back in 14 % of sampled rows).

After the prior is fitted, one logit shift per category is found such that the softmax
probabilities, averaged over latents drawn from the prior, equal the training rows' frequencies
of the codes (a few fixed-point rounds of ``shift += log(real) - log(sampled)``). The shift is
added to the decoder's output bias, so sampling, conditional sampling and saved models use it
with no other change. A shift multiplies a category's odds by the same factor for every latent:
of all the changes that give the real rates, it is the one that moves each latent's
distribution least (in Kullback-Leibler divergence), so the dependencies between columns the
decoder learned are kept.

A numerical column with missing cells holds a filler mode in its missing rows, which no sampled
value shows. Its mode span is therefore matched to the present rows' rates, each latent's
probabilities weighted by its probability of a present cell (student_placements' salary, missing
for the 30 % of students not placed, came back 3.3 points too often at its 30,000 point mass).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from tvae.layout import SpanIndex
from tvae.model import Decoder
from tvae.prior import LatentPrior

CALIBRATION_DRAWS = 20_000  # latents drawn from the prior (fewer for very wide rows)
CALIBRATION_FLOATS = 50_000_000  # the decoded draws held at once: draws x row width, at most
ROUNDS = 10
MAX_SHIFT = 6.0  # a category's odds move by e^6 at most (one the decoder never draws stays rare)
FLOOR = 1e-6  # rates below this are treated as this (log of zero)
DRAWN_ROUNDS = 4  # rounds of matching drawn rates where the sampler redraws rows
DRAWN_STEP = 0.5  # of the log-rate gap per round: a full step overshoots (the redraws follow)
DRAWN_TOLERANCE = 0.005  # a first draw this close to the real rates needs no rounds


def calibration_draws(width: int) -> int:
    """Rows drawn to measure the decoder's rates, for rows encoded ``width`` wide:
    CALIBRATION_DRAWS, fewer where they would hold more than CALIBRATION_FLOATS floats."""
    return int(min(CALIBRATION_DRAWS, max(1_000, CALIBRATION_FLOATS // max(width, 1))))


@torch.no_grad()
def sharpen_softmax_spans(decoder: Decoder, index: SpanIndex, factor: float) -> None:
    """Multiply the logits of every softmax span of ``decoder`` by ``factor`` (its output
    layer's rows for those positions): each span's softmax at temperature 1 / ``factor``.
    Sharper per-latent distributions make columns that depend on each other agree more often
    when each is drawn on its own given the latent; calibration then restores their rates."""
    spans = index.position_span < len(index.softmax_widths)  # (D,): softmax positions
    output = decoder.body[-1]
    output.weight[spans] *= factor
    output.bias[spans] *= factor


@torch.no_grad()
def calibrate_marginals(
    decoder: Decoder,
    prior: LatentPrior,
    index: SpanIndex,
    codes: torch.Tensor,
    generator: torch.Generator,
) -> float:
    """Shift ``decoder``'s output bias so that each softmax span's sampled rates match the
    rates of ``codes`` (N, S), the training rows' codes. Returns the largest rate difference
    left (in [0, 1]; before calibration it is typically 0.01-0.05)."""
    widths = index.softmax_widths.tolist()
    if not widths or len(codes) == 0:
        return 0.0
    offsets = index.softmax_offsets.tolist()
    n_draws = calibration_draws(index.width)
    decoder.eval()
    raw = torch.cat(
        [
            decoder(prior.sample(min(4_096, n_draws - start), generator))[0]
            for start in range(0, n_draws, 4_096)
        ]
    )  # (M, D)
    bias = decoder.body[-1].bias
    gates = list(index.presence_gates) or [-1] * len(widths)
    present: dict[int, torch.Tensor] = {}  # missing span -> P(present | latent), calibrated
    everywhere = torch.ones(len(raw), 1, dtype=raw.dtype, device=raw.device)  # ungated weights
    worst = 0.0
    # ungated spans first (the missing flags among them), then the spans a flag gates
    for span in sorted(range(len(widths)), key=lambda s: gates[s] >= 0):
        offset, span_width, gate = offsets[span], widths[span], gates[span]
        logits = raw[:, offset : offset + span_width]  # (M, W)
        rows = _present(codes, span, gates)
        weights = everywhere if gate < 0 else present[gate][:, None]
        shift, gap = _shift(logits, rows, span_width, weights)
        worst = max(worst, gap)
        bias[offset : offset + span_width] += shift.to(bias.dtype)
        if gate < 0 and span in gates:
            present[span] = torch.softmax(logits + shift, dim=1)[:, 0]
    return worst


def _shift(
    logits: torch.Tensor, rows: torch.Tensor, width: int, weights: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """The logit shift (W,) that brings the mean softmax of ``logits`` (M, W), each latent
    weighted by ``weights`` (M, 1), to the code rates of ``rows``; and the largest rate
    difference left."""
    if len(rows) == 0:
        return torch.zeros(width, dtype=logits.dtype, device=logits.device), 0.0
    real = torch.bincount(rows, minlength=width).to(logits.dtype)
    real = (real / len(rows)).clamp_min(FLOOR)
    total = weights.sum().clamp_min(FLOOR)
    # softmax(logits + shift) = odds * e^shift / (its row sum): the exponentials are taken once
    # and each round only rescales them (|shift| <= MAX_SHIFT keeps e^shift finite)
    odds = torch.exp(logits - logits.amax(dim=1, keepdim=True))  # (M, W), contiguous

    def sampled_rates(shift: torch.Tensor) -> torch.Tensor:
        scaled = odds * shift.exp()
        return (scaled * (weights / scaled.sum(dim=1, keepdim=True))).sum(dim=0) / total

    shift = torch.zeros(width, dtype=logits.dtype, device=logits.device)
    for _ in range(ROUNDS):
        sampled = sampled_rates(shift).clamp_min(FLOOR)
        shift = (shift + real.log() - sampled.log()).clamp_(-MAX_SHIFT, MAX_SHIFT)
    return shift, float((sampled_rates(shift) - real).abs().max())


@torch.no_grad()
def match_drawn_rates(
    decoder: Decoder,
    index: SpanIndex,
    codes: torch.Tensor,
    draw: Callable[[], torch.Tensor],
    spans: Sequence[int],
    pooled: Mapping[int, np.ndarray] | None = None,
    rounds: int = DRAWN_ROUNDS,
) -> float:
    """Shift the output bias of softmax ``spans`` so that the rates of the rows ``draw()``
    gives (codes (M, S), drawn as the sampler draws them) match those of ``codes`` (N, S).

    A sampler that draws again one value of each excluded pair a row holds (tvae.exclusions)
    moves some of the rates :func:`calibrate_marginals` matched. A few rounds of
    ``shift += DRAWN_STEP * (log(real) - log(drawn))`` on the drawn rows, with one pseudo-row
    per category against the noise of rare ones, bring them back (a full step overshoots: the
    redraws change with the shift). A span gated by a missing flag is matched on the rows that
    hold a value (tvae.drawn_rates: the numbers a presence empties); a span's ``pooled`` codes
    (W,) bool, as one, all shifted alike. A round that leaves a larger difference than the best
    so far is undone and the step halved (binary traits with orders between them swung from 6 %
    to 36 % and back in four rounds). Returns the largest rate difference of the shifts kept."""
    offsets, widths = index.softmax_offsets.tolist(), index.softmax_widths.tolist()
    gates = list(index.presence_gates) or [-1] * len(widths)
    pools = {span: torch.as_tensor(mask) for span, mask in (pooled or {}).items()}
    bias = decoder.body[-1].bias
    best, kept, matched = math.inf, bias.detach().clone(), []
    step = DRAWN_STEP
    for round_ in range(rounds + 1):
        drawn = draw().to(codes.device)
        rates = [
            (
                _smoothed_rates(_present(codes, span, gates), widths[span], pools.get(span)),
                _smoothed_rates(_present(drawn, span, gates), widths[span], pools.get(span)),
            )
            for span in spans
        ]
        worst = max(float((real - got).abs().max()) for real, got in rates)
        if worst < best:
            best, matched = worst, rates
            kept.copy_(bias.detach())
        else:  # the step overshot (the redraws couple the spans): back, and half as far
            bias.data.copy_(kept)
            step /= 2
        if round_ == rounds or best < DRAWN_TOLERANCE:
            break  # within the draws' own noise
        for span, (real, got) in zip(spans, matched, strict=True):
            shift = (step * (real.log() - got.log())).clamp_(-MAX_SHIFT, MAX_SHIFT)
            bias[offsets[span] : offsets[span] + widths[span]] += shift.to(bias)
    return best


def _present(codes: torch.Tensor, span: int, gates: Sequence[int]) -> torch.Tensor:
    """The codes (N,) of ``span`` in the rows where its column holds a value (a missing cell
    holds a filler mode that no sampled value shows)."""
    gate = gates[span]
    return codes[:, span] if gate < 0 else codes[codes[:, gate] == 0, span]


def _smoothed_rates(
    codes: torch.Tensor, width: int, pooled: torch.Tensor | None = None
) -> torch.Tensor:
    """Each code's rate with one pseudo-row each, on the CPU in float64 (some devices have no
    float64); the ``pooled`` codes (W,) bool each given their total rate."""
    counts = torch.bincount(codes, minlength=width).cpu().double()
    rates = (counts + 1) / (len(codes) + width)
    if pooled is not None and pooled.any():
        rates[pooled] = rates[pooled].sum()
    return rates
