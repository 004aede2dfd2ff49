"""Training the refiner (:mod:`tvae.refiner`): its classifier learns real encoded rows against
the model's own, with an early stop on rows held aside. Math and training only: no I/O."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from tvae.layout import SpanIndex
from tvae.optimizer import Adam
from tvae.refiner import ACCEPT_FLOOR, ACCEPT_QUANTILE, Refiner, build_refiner

BATCH = 256  # of each kind per step
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
MAX_STEPS = 3_000
CHECK_EVERY = 100  # steps between looks at the held-aside loss
# Looks without a new best before training stops. It was 5; in 18 default fits of eight shared
# and unseen tables of 4,000-16,000 rows no best came after three looks without one, so the
# last two only cost time (bank: 200 of its 600 steps, about 1 s of a 19 s fit), and 15 looks
# changed nothing either (docs/fidelity.md).
PATIENCE = 3
HELD_ASIDE = 0.2
# A refiner trains no longer than the model it refines, but at least five looks' steps:
# TVAE(epochs=2) on msq (3,896 rows, 92 columns) spent 19 of its 24 s in the refiner's 3,000
# steps. Default fits train at least 3,000 steps, so they keep MAX_STEPS.
MIN_STEPS = CHECK_EVERY * 5


def step_budget(training_steps: int | None) -> int:
    """The most steps the refiner takes after a fit of ``training_steps`` optimiser steps."""
    if training_steps is None:
        return MAX_STEPS
    return min(MAX_STEPS, max(MIN_STEPS, int(training_steps)))


def _split(n_rows: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random permutation of ``n_rows`` cut into the rows to learn from and those held aside."""
    order = torch.randperm(n_rows, generator=generator, device=generator.device)
    aside = max(1, int(n_rows * HELD_ASIDE))
    return order[aside:], order[:aside]


def train_refiner(
    real: tuple[torch.Tensor, torch.Tensor],
    drawn: tuple[torch.Tensor, torch.Tensor],
    index: SpanIndex,
    transformer: Any,
    generator: torch.Generator,
    max_steps: int = MAX_STEPS,
) -> tuple[Refiner, dict]:
    """A :class:`Refiner` trained on encoded real rows ``real`` (alphas, codes) against the
    model's rows ``drawn`` for at most ``max_steps`` steps (:func:`step_budget`), and a
    summary of its training (steps, the held-aside loss and AUC,
    the acceptance constant and the share of sampled rows it keeps on average, raked as the
    sampler rakes them: the sampler draws about 1 / that share rows for each it returns)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        refiner = build_refiner(real, index, transformer)
    real_rows = refiner.features(*real, index, refiner.numbers(*real, transformer))
    drawn_values = refiner.numbers(*drawn, transformer)
    drawn_rows = refiner.features(*drawn, index, drawn_values)
    learn_real, aside_real = _split(len(real_rows), generator)
    learn_drawn, aside_drawn = _split(len(drawn_rows), generator)
    steps, best = _fit_classifier(
        refiner, (real_rows[learn_real], drawn_rows[learn_drawn]),
        (real_rows[aside_real], drawn_rows[aside_drawn]), generator, max_steps,
    )  # fmt: skip
    with torch.no_grad():
        drawn_odds = refiner.log_odds(drawn_rows[aside_drawn])
        real_odds = refiner.log_odds(real_rows[aside_real])
        refiner.log_threshold.fill_(float(torch.quantile(drawn_odds, ACCEPT_QUANTILE)))
        chance = torch.exp(drawn_odds - refiner.log_threshold).clamp(ACCEPT_FLOOR, 1.0)
        aside = aside_drawn.cpu()
        chance = refiner.raked(chance, drawn[1][aside_drawn], index, drawn_values[aside])
    summary = {
        "steps": steps,
        "held_aside_loss": round(best, 4) if steps else None,
        "held_aside_auc": round(_auc(real_odds, drawn_odds), 4),
        "log_threshold": round(float(refiner.log_threshold), 4),
        "kept_share": round(float(chance.mean()), 4),
        "point_masses_raked": len(refiner.mass_values),
    }
    return refiner, summary


def _fit_classifier(
    refiner: Refiner,
    learn: tuple[torch.Tensor, torch.Tensor],
    aside: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    max_steps: int = MAX_STEPS,
) -> tuple[int, float]:
    """Train ``refiner``'s MLP on featured real rows against drawn ones (``learn``), batches of
    BATCH of each; stop where the loss on ``aside`` (the mean of the real rows' and the drawn
    rows' mean losses, as balanced as the batches) has not fallen for PATIENCE looks, and keep
    the weights of its best look. Returns that look's step (0: none better than the start) and
    loss."""
    real = learn[0]
    batch_labels = torch.cat([real.new_ones(BATCH), real.new_zeros(BATCH)])
    optimizer = Adam(
        list(refiner.parameters()), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, decoupled=True
    )
    loss_fn = nn.BCEWithLogitsLoss()
    device = generator.device
    best, best_state, looks, best_step = math.inf, None, 0, 0
    for step in range(1, max_steps + 1):
        picks = [
            part[torch.randint(len(part), (BATCH,), generator=generator, device=device)]
            for part in learn
        ]
        loss = loss_fn(refiner.body(torch.cat(picks)).squeeze(1), batch_labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % CHECK_EVERY == 0:
            with torch.no_grad():
                held = _balanced_loss(refiner, aside)
            if held < best - 1e-4:
                best, best_step, looks = held, step, 0
                best_state = {k: v.clone() for k, v in refiner.state_dict().items()}
            else:
                looks += 1
                if looks >= PATIENCE:
                    break
    if best_state is not None:
        refiner.load_state_dict(best_state)
    refiner.eval()
    return best_step, best


def _balanced_loss(refiner: Refiner, rows: tuple[torch.Tensor, torch.Tensor]) -> float:
    """The mean of the real rows' (``rows[0]``) and the drawn rows' mean cross-entropy."""
    real, drawn = (refiner.body(part).squeeze(1) for part in rows)
    ones, zeros = torch.ones_like(real), torch.zeros_like(drawn)
    losses = [
        nn.functional.binary_cross_entropy_with_logits(*pair)
        for pair in ((real, ones), (drawn, zeros))
    ]
    return float(sum(losses) / 2)


def _auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Area under the ROC curve of scores ``positive`` against ``negative``."""
    from sklearn.metrics import roc_auc_score  # imported when a refiner is trained

    scores = torch.cat([positive, negative]).double().cpu().numpy()
    labels = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    return float(roc_auc_score(labels, scores))
