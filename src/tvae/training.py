"""The training orchestrator, one for every fit: train -> run_epoch -> train_step -> loss.

:func:`train` runs the epochs over a :class:`BatchSource`: the encoded table in memory
(:class:`TensorBatches`, what ``TVAE.fit`` gives it) or a worker's stream of Parquet shards
(:class:`tvae.distributed.training.ShardBatches`). Data parallelism is a context of it, not a
fork: with several torchrun workers the networks are wrapped in ``DistributedDataParallel`` and
the logged losses averaged over workers. It owns the optimiser, the learning-rate schedule, sigma
clamping, the loss history and checkpoints (every fit can be resumed); the maths lives in
:mod:`tvae.model`, :mod:`tvae.loss` and :mod:`tvae.optimizer` (Adam, the one-cycle rate). A
private fit runs it too, with Poisson batches and a DP-SGD step (:mod:`tvae.privacy.training`)
in place of :class:`TensorBatches` and :func:`train_step`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from tvae.checkpoint import Checkpoint, save_checkpoint
from tvae.distributed.context import DistContext, mean_over_workers
from tvae.layout import SpanIndex, dense_batch
from tvae.loss import LossTerms, latent_draw, tvae_loss
from tvae.model import Decoder, Encoder, standard_normal
from tvae.optimizer import Adam, OneCycle
from tvae.params import check_dims
from tvae.precision import FLOAT32, matmul_precision

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
    precision: str = FLOAT32  # the networks' matrix products: tvae.precision


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


Batch = tuple[torch.Tensor, torch.Tensor]  # alphas (B, T) float32, codes (B, S) int64


class BatchSource(Protocol):
    """Where :func:`train` gets its batches from."""

    steps_per_epoch: int  # optimiser steps in one epoch (the same on every worker)

    def epoch(self, epoch: int, generator: torch.Generator) -> Iterable[Batch]:
        """The batches of epoch ``epoch``, shuffled with ``generator`` (or reseeding it)."""

    def rows(self) -> Iterable[Batch]:
        """Every training row once, in blocks (for the encoder's posterior after training)."""


class TensorBatches:
    """The encoded table in memory, shuffled once per epoch and cut into batches."""

    def __init__(self, data: TrainingData, batch_size: int) -> None:
        self.data = data
        self.batch_size = batch_size
        self.steps_per_epoch = n_batches(data.n_rows, batch_size)

    def epoch(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        n_rows = self.data.n_rows
        order = torch.randperm(n_rows, generator=generator, device=generator.device)
        alphas, codes = self.data.alphas[order], self.data.codes[order]  # one gather, then views
        for start in range(0, n_rows, self.batch_size):
            stop = start + self.batch_size
            yield alphas[start:stop], codes[start:stop]

    def rows(self, chunk: int = 4_096) -> Iterator[Batch]:
        for start in range(0, self.data.n_rows, chunk):
            yield self.data.alphas[start : start + chunk], self.data.codes[start : start + chunk]


@torch.no_grad()
def posterior(
    encoder: Encoder, blocks: Iterable[Batch], index: SpanIndex, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's posterior of the rows in ``blocks``: means and log-variances, (N, E) each."""
    encoder.eval()
    pairs = [encoder(dense_batch(alphas, codes, index, width)) for alphas, codes in blocks]
    return torch.cat([mu for mu, _ in pairs]), torch.cat([logvar for _, logvar in pairs])


def build_networks(
    model: Any, data_dim: int, seed: int, device: torch.device | str
) -> tuple[Encoder, Decoder]:
    """The encoder and decoder ``model`` (a :class:`tvae.TVAE`) asks for, initialised from
    ``seed`` (the global torch RNG is left as the user had it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = Encoder(
            data_dim, check_dims("compress_dims", model.compress_dims), model.embedding_dim
        )
        decoder = Decoder(
            model.embedding_dim, check_dims("decompress_dims", model.decompress_dims), data_dim
        )
    return encoder.to(device), decoder.to(device)


def train_step(
    encoder: Encoder,
    decoder: Decoder,
    optimizer: Adam,
    alphas: torch.Tensor,
    codes: torch.Tensor,
    index: SpanIndex,
    config: TrainingConfig,
    generator: torch.Generator,
) -> LossTerms:
    """One optimiser step on one batch; returns the (detached) loss terms."""
    rows = dense_batch(alphas, codes, index, index.width)
    with matmul_precision(config.precision, rows.device):
        mu, logvar = encoder(rows)
        mu, logvar = mu.float(), logvar.float()  # the draw, the KL and the loss stay float32
        z, kl = latent_draw(mu, logvar, standard_normal(mu, generator))
        raw, sigma = decoder(z)
    raw = raw.float()
    terms = tvae_loss(raw, sigma, alphas, codes, kl, index, config.loss_factor)
    total = terms.total
    if decoder is not _unwrap(decoder) and not index.tanh_positions.numel():
        # No numeric output reads sigma; DistributedDataParallel requires every parameter to
        # get a gradient each step, so sigma joins the graph with weight 0 (its gradient is 0).
        total = total + 0.0 * sigma.sum()
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    _unwrap(decoder).clamp_sigma()
    return LossTerms(terms.total.detach(), terms.reconstruction.detach(), terms.kl.detach())


# one optimiser step on one batch: train_step, or a private fit's DP-SGD step
StepFn = Callable[
    [Encoder, Decoder, Adam, torch.Tensor, torch.Tensor, SpanIndex,
     TrainingConfig, torch.Generator],
    LossTerms,
]  # fmt: skip


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper, or the module itself."""
    return getattr(module, "module", module)


def run_epoch(
    encoder: Encoder,
    decoder: Decoder,
    optimizer: Adam,
    batches: Iterable[Batch],
    index: SpanIndex,
    config: TrainingConfig,
    generator: torch.Generator,
    step: StepFn = train_step,
) -> torch.Tensor:
    """One optimiser step per batch of an epoch. Returns the per-batch losses (n_batches, 3)."""
    losses = []
    for alphas, codes in batches:
        terms = step(encoder, decoder, optimizer, alphas, codes, index, config, generator)
        losses.append(torch.stack([terms.total, terms.reconstruction, terms.kl]))
    return torch.stack(losses)


def n_batches(n_rows: int, batch_size: int) -> int:
    return -(-n_rows // batch_size)


def make_optimizer(
    parameters: list[torch.nn.Parameter], config: TrainingConfig, steps_per_epoch: int
) -> Adam:
    """Adam with ``l2scale`` weight decay, on the learning-rate schedule ``config`` asks for."""
    schedule = None
    if config.lr_schedule != "constant":
        # differs from the reference: a one-cycle schedule reaches the same loss in far fewer
        # epochs.
        schedule = OneCycle(config.learning_rate, config.epochs * steps_per_epoch)
    return Adam(parameters, config.learning_rate, config.weight_decay, schedule)


@dataclass
class Checkpoints:
    """Where and how often :func:`train` saves a resumable state; ``info`` (JSON) goes with it:
    what the fit needs to rebuild everything else (seed, parameters, transformer)."""

    folder: str | os.PathLike
    every: int = 1
    info: dict = field(default_factory=dict)


def train(
    encoder: Encoder,
    decoder: Decoder,
    source: BatchSource,
    index: SpanIndex,
    config: TrainingConfig,
    generator: torch.Generator,
    *,
    ctx: DistContext | None = None,
    checkpoints: Checkpoints | None = None,
    restored: Checkpoint | None = None,
    step: StepFn = train_step,
) -> list[dict]:
    """Train for ``config.epochs`` epochs; returns the history, one record per batch.

    ``ctx`` says where this process stands in a torchrun job (default: alone). ``restored``
    continues a checkpointed run after its last saved epoch (weights, optimiser, schedule,
    history and random state); ``checkpoints`` saves one every ``every`` epochs but the last
    (on rank 0 only). ``step`` takes one optimiser step per batch; parameters that do not
    require a gradient (a private fit's fixed sigma) are left out of the optimiser.
    """
    ctx = ctx if ctx is not None else DistContext()
    parameters = [p for p in [*encoder.parameters(), *decoder.parameters()] if p.requires_grad]
    optimizer = make_optimizer(parameters, config, source.steps_per_epoch)
    history: list[dict] = []
    start_epoch = 0
    if restored is not None:
        encoder.load_state_dict(restored.encoder, strict=True)
        decoder.load_state_dict(restored.decoder, strict=True)
        optimizer.load_state_dict(restored.optimizer)  # the schedule's position with it
        if restored.generator is not None:
            generator.set_state(restored.generator)
        history, start_epoch = restored.history, restored.epoch + 1
    step_encoder, step_decoder = encoder, decoder
    if ctx.distributed:
        device = next(encoder.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        step_encoder = torch.nn.parallel.DistributedDataParallel(encoder, device_ids=ids)
        step_decoder = torch.nn.parallel.DistributedDataParallel(decoder, device_ids=ids)
    step_encoder.train()
    step_decoder.train()
    epochs = range(start_epoch, config.epochs)
    bar = tqdm(epochs, desc="Training", disable=not config.verbose, unit="epoch")
    for epoch in bar:
        batches = source.epoch(epoch, generator)
        losses = run_epoch(
            step_encoder, step_decoder, optimizer, batches, index, config, generator, step,
        )  # fmt: skip
        losses = mean_over_workers(losses, ctx)  # for the log: every worker's mean
        values = losses.cpu().tolist()  # one device sync per epoch, not per batch
        history.extend(
            {"epoch": epoch, "batch": b, "loss": v[0], "reconstruction": v[1], "kl": v[2]}
            for b, v in enumerate(values)
        )
        bar.set_postfix(loss=f"{values[-1][0]:.3f}")
        if _checkpoint_due(checkpoints, epoch, config.epochs, ctx):
            state = Checkpoint(
                epoch, encoder.state_dict(), decoder.state_dict(), optimizer.state_dict(), None,
                history, checkpoints.info, generator.get_state(),
            )  # fmt: skip
            save_checkpoint(checkpoints.folder, state)
    encoder.eval()
    decoder.eval()
    return history


def _checkpoint_due(checkpoints: Checkpoints | None, epoch: int, epochs: int, ctx) -> bool:
    """Rank 0 saves every ``every`` epochs, but not after the last (the model is saved then)."""
    if checkpoints is None or not ctx.is_main or epoch + 1 == epochs:
        return False
    return (epoch + 1) % checkpoints.every == 0
