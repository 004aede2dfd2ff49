"""Draw latents whose decoded rows meet the conditions: rejection against the decoder's likelihood.

For each group of identical conditions, z drawn from the model's latent prior is kept with
probability w(z) / M, where w(z) is the product of the conditions' likelihoods and M the
largest w seen for the group so far (an estimate of its supremum). Draws are allocated to
groups from their estimated acceptance rates, so a rare condition gets large batches at once
instead of many small ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from tvae.conditional.conditions import Condition, NumericCondition
from tvae.errors import ConditionError

FORWARD_CHUNK = 32_768  # latents decoded per forward pass: bounds memory
ROUND_MAX = 524_288  # most candidate latents per round
PILOT = 512  # fewest first draws per group, to estimate its acceptance rate
# The budget counts latent draws only, never seconds: a seed gives the same rows, or the same
# error, on any machine. 2.5 million draws of the default decoder take about 10 s on one busy
# CPU core (4 s per million measured with the other core loaded), 3 s on 2 idle ones.
MAX_CANDIDATES = 2_500_000
# multiply-adds of one draw through the default decoder's hidden layers (128 -> 128 -> 128): a
# bigger decoder gets proportionally fewer draws, so its budget takes about as long
REFERENCE_DRAW_COST = 2 * 128 * 128


def _allocate(
    need: np.ndarray, drawn: np.ndarray, mean_w: np.ndarray, bound: np.ndarray
) -> np.ndarray:
    """Candidates per group for the next round: enough to finish, judged by acceptance so far."""
    acceptance = np.divide(mean_w, bound, out=np.zeros_like(mean_w), where=bound > 0)
    wanted = np.ceil(1.2 * need / np.maximum(acceptance, 1e-300)) + 64
    wanted = np.where(acceptance > 0, wanted, np.maximum(drawn, PILOT))  # none yet: double
    wanted = np.where(drawn == 0, np.maximum(PILOT, 2 * need), wanted)
    wanted = np.where(need > 0, np.minimum(wanted, MAX_CANDIDATES), 0)
    total = wanted.sum()
    if total > ROUND_MAX:
        wanted = np.where(need > 0, np.maximum(np.floor(wanted * ROUND_MAX / total), 1), 0)
    return wanted.astype(np.int64)


def draw_latents(
    decoder: torch.nn.Module,
    conditions: Sequence[Condition],
    counts: np.ndarray,
    prior: Any,
    generator: torch.Generator,
    decoding: str,
    describe: Callable[[int], str],
    *,
    max_candidates: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Decoder outputs (N, D) of kept latents, sorted by group, ``counts[g]`` rows for group g.

    Returns (raw, sigma, estimated probability of each group's conditions). Raises
    :class:`ConditionError` with the estimate when ``max_candidates`` latent draws would not be
    enough (default: :func:`draw_budget`); the result depends on the generator's state only,
    never on the clock.
    """
    device = generator.device
    forward, complete = _partial_decoder(decoder, conditions)
    if max_candidates is None:
        max_candidates = draw_budget(decoder)
    n_groups = len(counts)
    need = counts.astype(np.int64).copy()
    drawn, weight_sum, bound = np.zeros(n_groups), np.zeros(n_groups), np.zeros(n_groups)
    kept_raw: list[torch.Tensor] = []
    kept_groups: list[torch.Tensor] = []
    sigma = torch.empty(0)
    used, got = 0, np.zeros(n_groups, dtype=np.int64)
    while need.any():
        mean_w = np.divide(weight_sum, drawn, out=np.zeros(n_groups), where=drawn > 0)
        per = np.minimum(_allocate(need, drawn, mean_w, bound), max(max_candidates - used, 1))
        acceptance = np.divide(mean_w, bound, out=np.zeros(n_groups), where=bound > 0)
        projected = np.where(acceptance > 0, need / np.maximum(acceptance, 1e-300), per)
        worst = int(np.argmax(np.where(need > 0, projected, -1)))
        over = used + per.sum() > max_candidates or used + projected[worst] > max_candidates
        if drawn.any() and over:  # the pilot round always runs, so the estimate means something
            raise _give_up(conditions, describe, worst, mean_w, drawn, need, max_candidates)
        groups = torch.repeat_interleave(
            torch.arange(n_groups, device=device), torch.as_tensor(per, device=device)
        )
        for chunk in groups.split(FORWARD_CHUNK):
            z = prior.sample(len(chunk), generator)  # (B, E) from the model's latent prior
            hidden, raw, sigma = forward(z)  # (B, H), (B, D) with the read outputs, (D,)
            weight = torch.ones(len(chunk), dtype=torch.float64, device=device)
            for condition in conditions:
                weight = weight * condition.weight(raw, sigma, chunk, decoding)
            chunk_np, weight_np = chunk.cpu().numpy(), weight.cpu().numpy()
            drawn += np.bincount(chunk_np, minlength=n_groups)
            weight_sum += np.bincount(chunk_np, weight_np, minlength=n_groups)
            np.maximum.at(bound, chunk_np, weight_np)
            uniform = torch.rand(
                len(chunk), generator=generator, device=device, dtype=torch.float64
            )
            accept = uniform * torch.as_tensor(bound, device=device)[chunk] < weight
            kept_raw.append(complete(hidden[accept]))
            kept_groups.append(chunk[accept])
            got += np.bincount(chunk_np[accept.cpu().numpy()], minlength=n_groups)
            used += len(chunk)
            if (got >= counts).all():
                break  # the rest of the round is not needed
        raw_all, groups_all = _first_per_group(torch.cat(kept_raw), torch.cat(kept_groups), counts)
        kept_raw, kept_groups = [raw_all], [groups_all]
        got = np.bincount(groups_all.cpu().numpy(), minlength=n_groups)
        need = counts - got
    probability = np.divide(weight_sum, drawn, out=np.ones(n_groups), where=drawn > 0)
    raw = torch.cat(kept_raw) if kept_raw else torch.empty((0, 0), device=device)
    return raw, sigma, probability


def draw_budget(decoder: torch.nn.Module) -> int:
    """Most latent draws for one ``sample`` call: :data:`MAX_CANDIDATES` for the default decoder,
    fewer for a bigger one (in proportion to its multiply-adds per draw)."""
    cost = sum(
        layer.in_features * layer.out_features
        for layer in decoder.modules()
        if isinstance(layer, torch.nn.Linear)
    )
    # the last layer's cost is mostly skipped (only the conditioned outputs are computed)
    last = getattr(decoder, "body", [None])[-1]
    if isinstance(last, torch.nn.Linear):
        cost -= last.in_features * last.out_features
    factor = min(1.0, REFERENCE_DRAW_COST / max(cost, 1))
    return max(PILOT, int(MAX_CANDIDATES * factor))


def _partial_decoder(decoder: torch.nn.Module, conditions: Sequence[Condition]):
    """Forward passes that compute only the outputs the weights read, and complete kept rows.

    The last layer of a wide table is most of the decoder's work; candidates that are rejected
    never need the rest of it.
    """
    last = (
        decoder.body[-1]
        if isinstance(getattr(decoder, "body", None), torch.nn.Sequential)
        else None
    )
    if not isinstance(last, torch.nn.Linear):  # an unknown decoder: full passes
        return (lambda z: (z, *decoder(z))), (lambda z: decoder(z)[0])
    body = decoder.body[:-1]
    positions = sorted({p for condition in conditions for p in condition.positions})
    index = torch.as_tensor(positions, dtype=torch.long, device=last.weight.device)
    weight, bias = last.weight[index], last.bias[index]

    def forward(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = body(z)  # (B, H)
        raw = hidden.new_zeros((len(z), last.out_features))
        raw[:, index] = torch.nn.functional.linear(hidden, weight, bias)
        return hidden, raw, decoder.sigma

    return forward, last


def _first_per_group(
    raw: torch.Tensor, groups: torch.Tensor, counts: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort kept rows by group (stably) and drop those beyond each group's count."""
    groups, order = torch.sort(groups, stable=True)
    raw = raw[order]
    starts = torch.searchsorted(groups, groups, right=False)  # first position of each row's group
    rank = torch.arange(len(groups), device=groups.device) - starts
    keep = rank < torch.as_tensor(counts, device=groups.device)[groups]
    return raw[keep], groups[keep]


def _give_up(
    conditions: Sequence[Condition],
    describe: Callable[[int], str],
    group: int,
    mean_w: np.ndarray,
    drawn: np.ndarray,
    need: np.ndarray,
    budget: int,
) -> ConditionError:
    probability, n_drawn = float(mean_w[group]), int(drawn[group])
    if math.isnan(probability):
        return ConditionError(f"conditions {describe(group)} cannot be met: the model gives NaN")
    what = "probability"
    if any(isinstance(c, NumericCondition) and bool(c.point[group]) for c in conditions):
        what = "probability density (equality on a float column)"
    if probability > 0:
        estimate = f"estimated {what} {probability:.3g}"
    else:
        bound = 1 / max(n_drawn, 1)
        estimate = f"estimated {what} 0 (none in {n_drawn:,} draws, so below {bound:.1g})"
    return ConditionError(
        f"conditions {describe(group)} are too unlikely under the model ({estimate}): "
        f"{int(need[group]):,} more row(s) would take more than the budget of {budget:,} latent "
        "draws. Relax the conditions (a range instead of a value), ask for "
        "fewer rows, or train longer"
    )
