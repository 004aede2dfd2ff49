"""The training orchestrator: fit_loop -> run_epoch -> train_step -> loss.

It owns the optimiser, the learning-rate schedule, batching, sigma clamping and the loss history;
the maths lives in :mod:`tvae.model` and :mod:`tvae.loss`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from tvae.loss import LossTerms, SpanIndex, tvae_loss
from tvae.model import Decoder, Encoder, reparameterize

LR_SCHEDULES = ("constant", "onecycle")


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    loss_factor: float
    lr_schedule: str = "constant"
    verbose: bool = False


@dataclass
class TrainingData:
    """The encoded table as device tensors."""

    alphas: torch.Tensor  # (N, T) float32
    codes: torch.Tensor  # (N, S) int64

    @property
    def n_rows(self) -> int:
        return (
            self.codes.shape[0]
            if self.codes.numel() or self.alphas.numel() == 0
            else self.alphas.shape[0]
        )


def dense_batch(
    alphas: torch.Tensor, codes: torch.Tensor, index: SpanIndex, width: int
) -> torch.Tensor:
    """Build the encoded rows (B, D): tanh scalars in place, a 1 at each span's category."""
    batch = alphas.new_zeros((codes.shape[0], width))  # (B, D)
    if index.tanh_positions.numel():
        batch[:, index.tanh_positions] = alphas
    if index.softmax_offsets.numel():
        batch.scatter_(1, index.softmax_offsets + codes, 1.0)
    return batch


@torch.no_grad()
def posterior(
    encoder: Encoder, data: TrainingData, index: SpanIndex, width: int, chunk: int = 4_096
) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's posterior of every training row: means and log-variances, (N, E) each."""
    encoder.eval()
    means, logvars = [], []
    for start in range(0, data.n_rows, chunk):
        rows = dense_batch(
            data.alphas[start : start + chunk], data.codes[start : start + chunk], index, width
        )
        mu, logvar = encoder(rows)
        means.append(mu)
        logvars.append(logvar)
    return torch.cat(means), torch.cat(logvars)


def train_step(
    encoder: Encoder,
    decoder: Decoder,
    optimizer: torch.optim.Optimizer,
    alphas: torch.Tensor,
    codes: torch.Tensor,
    index: SpanIndex,
    config: TrainingConfig,
    generator: torch.Generator,
) -> LossTerms:
    """One optimiser step on one batch; returns the (detached) loss terms."""
    width = _unwrap(decoder).sigma.shape[0]  # DDP wraps the decoder in distributed runs
    rows = dense_batch(alphas, codes, index, width)
    mu, logvar = encoder(rows)
    z = reparameterize(mu, logvar, generator)
    raw, sigma = decoder(z)
    terms = tvae_loss(raw, sigma, alphas, codes, mu, logvar, index, config.loss_factor)
    total = terms.total
    if decoder is not _unwrap(decoder) and not index.tanh_positions.numel():
        # No numeric output reads sigma; DistributedDataParallel requires every parameter to
        # get a gradient each step, so sigma joins the graph with weight 0 (its gradient is 0).
        total = total + 0.0 * sigma.sum()
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    _unwrap(decoder).clamp_sigma()
    return LossTerms(terms.total.detach(), terms.reconstruction.detach(), terms.kl.detach())


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper, or the module itself."""
    return getattr(module, "module", module)


def run_epoch(
    encoder: Encoder,
    decoder: Decoder,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    data: TrainingData,
    index: SpanIndex,
    config: TrainingConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """One shuffled pass over the data. Returns the per-batch total losses (n_batches, 3)."""
    order = torch.randperm(data.n_rows, generator=generator, device=generator.device)
    alphas, codes = data.alphas[order], data.codes[order]  # one gather per epoch, then views
    losses = []
    for start in range(0, data.n_rows, config.batch_size):
        stop = start + config.batch_size
        terms = train_step(
            encoder, decoder, optimizer, alphas[start:stop], codes[start:stop], index, config,
            generator,
        )  # fmt: skip
        if scheduler is not None:
            scheduler.step()
        losses.append(torch.stack([terms.total, terms.reconstruction, terms.kl]))
    return torch.stack(losses)


def n_batches(n_rows: int, batch_size: int) -> int:
    return -(-n_rows // batch_size)


def _adam(parameters: list[torch.nn.Parameter], config: TrainingConfig) -> torch.optim.Optimizer:
    """Adam with ``l2scale`` weight decay; the fused kernel where the device has one.

    Fused Adam updates every parameter in one kernel instead of a dozen small ones per step;
    the update rule is the same.
    """
    try:
        return torch.optim.Adam(
            parameters, lr=config.learning_rate, weight_decay=config.weight_decay, fused=True
        )
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(
            parameters, lr=config.learning_rate, weight_decay=config.weight_decay
        )


def make_optimizer(
    parameters: list[torch.nn.Parameter], config: TrainingConfig, steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    optimizer = _adam(parameters, config)
    if config.lr_schedule == "constant":
        return optimizer, None
    # differs from the reference: a one-cycle schedule reaches the same loss in far fewer epochs.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=config.learning_rate,
        total_steps=config.epochs * steps_per_epoch,
    )
    return optimizer, scheduler


@dataclass
class LoopHooks:
    """Optional extensions of :func:`fit_loop` for streamed, distributed and resumed training.

    ``batches(epoch)`` yields that epoch's (alphas, codes) batches in place of shuffling ``data``;
    ``optimizer``/``scheduler`` (from :func:`make_optimizer`, possibly with restored state) are
    used instead of fresh ones; training starts at ``start_epoch`` and appends to ``history``;
    ``reduce_losses`` maps each epoch's (n_batches, 3) losses before they are logged (e.g. the
    mean over workers).
    """

    batches: Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]] | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    start_epoch: int = 0
    history: list[dict] | None = None
    reduce_losses: Callable[[torch.Tensor], torch.Tensor] | None = None


def run_batches(
    encoder: Encoder,
    decoder: Decoder,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    index: SpanIndex,
    config: TrainingConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """One optimiser step per given batch. Returns the per-batch losses (n_batches, 3)."""
    losses = []
    for alphas, codes in batches:
        terms = train_step(encoder, decoder, optimizer, alphas, codes, index, config, generator)
        if scheduler is not None:
            scheduler.step()
        losses.append(torch.stack([terms.total, terms.reconstruction, terms.kl]))
    return torch.stack(losses)


def fit_loop(
    encoder: Encoder,
    decoder: Decoder,
    data: TrainingData,
    index: SpanIndex,
    config: TrainingConfig,
    generator: torch.Generator,
    on_epoch_end: Callable[[int, torch.Tensor], None] | None = None,
    hooks: LoopHooks | None = None,
) -> list[dict]:
    """Train for ``config.epochs`` epochs; returns the history, one record per batch.

    ``hooks`` (optional) streams batches instead of ``data``, resumes from an epoch with a given
    optimiser and history, and reduces the losses across workers (see :class:`LoopHooks`).
    """
    hooks = hooks if hooks is not None else LoopHooks()
    optimizer, scheduler = hooks.optimizer, hooks.scheduler
    if optimizer is None:
        steps = n_batches(data.n_rows, config.batch_size)
        parameters = list(encoder.parameters()) + list(decoder.parameters())
        optimizer, scheduler = make_optimizer(parameters, config, steps)
    encoder.train()
    decoder.train()
    history: list[dict] = hooks.history if hooks.history is not None else []
    epochs = range(hooks.start_epoch, config.epochs)
    bar = tqdm(epochs, desc="Training", disable=not config.verbose, unit="epoch")
    for epoch in bar:
        if hooks.batches is None:
            losses = run_epoch(
                encoder, decoder, optimizer, scheduler, data, index, config, generator
            )
        else:
            batches = hooks.batches(epoch)
            losses = run_batches(
                encoder, decoder, optimizer, scheduler, batches, index, config, generator
            )
        if hooks.reduce_losses is not None:
            losses = hooks.reduce_losses(losses)
        values = losses.cpu().tolist()  # one device sync per epoch, not per batch
        history.extend(
            {"epoch": epoch, "batch": b, "loss": v[0], "reconstruction": v[1], "kl": v[2]}
            for b, v in enumerate(values)
        )
        bar.set_postfix(loss=f"{values[-1][0]:.3f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, losses)
    encoder.eval()
    decoder.eval()
    return history
