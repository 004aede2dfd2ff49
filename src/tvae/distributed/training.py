"""The data-parallel fit: rank 0 prepares the transformer, every rank trains its share.

See :mod:`tvae.distributed` for how to launch it.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from tvae.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tvae.distributed.context import (
    DistContext,
    broadcast_json,
    epoch_seed,
    init_process_group,
    mean_over_workers,
    worker_device,
)
from tvae.distributed.shards import READ_ROWS, SHUFFLE_ROWS, ParquetSource, fit_transformer
from tvae.distributed.shards import iter_encoded_batches as _encoded_batches
from tvae.errors import InvalidDataError, InvalidParameterError, TVAEError
from tvae.kinds import Metadata
from tvae.loss import SpanIndex
from tvae.prior import LatentPrior, load_prior
from tvae.schedule import Schedule, resolve_schedule
from tvae.serialization import json_params
from tvae.training import (
    LoopHooks,
    TrainingConfig,
    dense_batch,
    fit_loop,
    make_optimizer,
    n_batches,
)
from tvae.transformer import TableTransformer

FIT_SAMPLE_ROWS = 100_000  # rows the transformer is fitted on when transformer_sample_size is None
RESUME_IGNORED = ("verbose", "device", "enable_gpu")  # params that may change between attempts


@dataclass
class ShardedFit:
    """What a distributed fit learned; :meth:`TVAE.fit_distributed` turns it into a model."""

    transformer: TableTransformer
    kinds: dict
    encoder: torch.nn.Module
    decoder: torch.nn.Module
    history: list[dict]
    device: torch.device
    sampling_seed: int
    schedule: Schedule
    summary: dict
    prior: LatentPrior


def train_sharded(
    model: Any,
    source: str | os.PathLike | Sequence,
    discrete_columns: Sequence = (),
    *,
    metadata: dict | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    read_rows: int = READ_ROWS,
    shuffle_rows: int = SHUFFLE_ROWS,
) -> ShardedFit:
    """Train ``model``'s networks on the Parquet table ``source`` with every torchrun worker.

    ``model`` is an unfitted :class:`tvae.TVAE` (its hyper-parameters are used). With
    ``resume`` (or after a torchrun elastic restart) a checkpoint in ``checkpoint_dir`` is
    continued; without one, training starts afresh. Called on every rank.
    """
    model._validate_params()
    if not (isinstance(checkpoint_every, int) and checkpoint_every >= 1):
        raise InvalidParameterError(
            f"checkpoint_every must be a positive integer, got {checkpoint_every=}"
        )
    started = time.perf_counter()
    ctx = DistContext.from_env()
    device = worker_device(ctx, model.device, model._gpu_enabled())
    table = ParquetSource.open(source)
    if table.n_rows < ctx.world_size:
        raise InvalidDataError(
            f"the table has {table.n_rows} rows, fewer than the {ctx.world_size} workers"
        )
    created = init_process_group(ctx, device)
    try:
        restored = None
        if checkpoint_dir is not None and (resume or ctx.restart_count > 0):
            restored = load_checkpoint(checkpoint_dir)
        if restored is not None:
            _check_same_params(restored.info["params"], model, checkpoint_dir)
            shared = restored.info
        else:
            shared = _shared_state(model, table, discrete_columns, metadata, ctx, device, read_rows)
        transformer = TableTransformer.from_state(shared["transformer"])
        root = np.random.SeedSequence(int(shared["entropy"]))
        _, network_seq, sampling_seq = root.spawn(3)
        network_seed = int(network_seq.generate_state(1)[0])
        transformer_seconds = time.perf_counter() - started

        layout = transformer.layout
        encoder, decoder = model._build_networks(layout.width, network_seed, device)
        schedule = resolve_schedule(
            model.epochs, model.batch_size, model.learning_rate, model.lr_schedule, table.n_rows,
            layout.width, len(transformer.columns),
        )  # fmt: skip
        batch_rows = -(-schedule.batch_size // ctx.world_size)  # per worker: same global batch
        steps = n_batches(n_batches(table.n_rows, ctx.world_size), batch_rows)  # every worker
        config = TrainingConfig(
            epochs=schedule.epochs,
            batch_size=batch_rows,
            learning_rate=schedule.learning_rate,
            weight_decay=model.l2scale,
            loss_factor=model.loss_factor,
            lr_schedule=schedule.lr_schedule,
            verbose=model.verbose and ctx.is_main,
        )
        parameters = list(encoder.parameters()) + list(decoder.parameters())
        optimizer, scheduler = make_optimizer(parameters, config, steps)
        history: list[dict] = []
        start_epoch = 0
        if restored is not None:
            encoder.load_state_dict(restored.encoder, strict=True)
            decoder.load_state_dict(restored.decoder, strict=True)
            optimizer.load_state_dict(restored.optimizer)
            if scheduler is not None and restored.scheduler is not None:
                scheduler.load_state_dict(restored.scheduler)
            history, start_epoch = restored.history, restored.epoch + 1

        train_encoder, train_decoder = encoder, decoder
        if ctx.distributed:
            ids = [device.index] if device.type == "cuda" else None
            train_encoder = torch.nn.parallel.DistributedDataParallel(encoder, device_ids=ids)
            train_decoder = torch.nn.parallel.DistributedDataParallel(decoder, device_ids=ids)
        pieces = table.share(ctx.rank, ctx.world_size)
        generator = torch.Generator(device=device)

        def batches(epoch: int):
            # Reseed everything per epoch: a resumed run continues exactly.
            seeds = epoch_seed(network_seed, ctx.rank, epoch)
            generator.manual_seed(int(seeds.generate_state(1)[0]))
            stream = _encoded_batches(
                table, pieces, transformer, batch_rows, steps, np.random.default_rng(seeds),
                read_rows=read_rows, shuffle_rows=shuffle_rows,
            )  # fmt: skip
            return (
                (torch.from_numpy(a).to(device), torch.from_numpy(c).to(device)) for a, c in stream
            )

        def on_epoch_end(epoch: int, losses: torch.Tensor) -> None:
            last = epoch + 1 == schedule.epochs
            if checkpoint_dir is None or not ctx.is_main or last:
                return
            if (epoch + 1) % checkpoint_every == 0:
                state = Checkpoint(
                    epoch, encoder.state_dict(), decoder.state_dict(), optimizer.state_dict(),
                    scheduler.state_dict() if scheduler is not None else None, history,
                    {**shared, "world_size": ctx.world_size},
                )  # fmt: skip
                save_checkpoint(checkpoint_dir, state)

        hooks = LoopHooks(
            batches=batches,
            optimizer=optimizer,
            scheduler=scheduler,
            start_epoch=start_epoch,
            history=history,
            reduce_losses=lambda losses: mean_over_workers(losses, ctx),
        )
        index = SpanIndex.from_layout(layout, device)
        fit_loop(train_encoder, train_decoder, None, index, config, generator, on_epoch_end, hooks)
        prior = _shared_prior(
            model, encoder, (batches(schedule.epochs) if ctx.is_main else ()), index,
            layout.width, int(network_seq.generate_state(2)[1]), ctx, device,
        )  # fmt: skip
    finally:
        if created:
            dist.destroy_process_group()
    encoder.eval()
    decoder.eval()
    summary = {
        "n_rows": table.n_rows,
        **schedule.to_dict(),
        "final_loss": history[-1]["loss"] if history else float("nan"),
        "transformer_seconds": round(transformer_seconds, 3),
        "fit_seconds": round(time.perf_counter() - started, 3),
        "device": str(device),
        "world_size": ctx.world_size,
        "resumed_from_epoch": None if restored is None else restored.epoch,
    }
    return ShardedFit(
        transformer, Metadata.from_dict(shared["kinds"]), encoder, decoder, history, device,
        int(sampling_seq.generate_state(1)[0]), schedule, summary, prior,
    )  # fmt: skip


def _shared_prior(model, encoder, batches, index, width, seed, ctx, device) -> LatentPrior:
    """Rank 0 fits the latent prior on its share's posteriors; every rank receives it."""
    state = None
    if ctx.is_main:
        encoder.eval()
        with torch.no_grad():
            pairs = [encoder(dense_batch(a, c, index, width)) for a, c in batches]
        prior = model._fit_prior(
            lambda: (torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])), seed
        )
        state = {"kind": prior.kind, **{k: v.tolist() for k, v in prior.tensors().items()}}
    state = broadcast_json(state, ctx, device)
    tensors = {k: torch.as_tensor(v) for k, v in state.items() if k != "kind"}
    return load_prior(state["kind"], model.embedding_dim, tensors)


def _shared_state(model, table, discrete_columns, metadata, ctx, device, read_rows) -> dict:
    """Rank 0 fits the transformer and draws the seed; every rank receives them as JSON."""
    message: dict = {}
    if ctx.is_main:
        try:
            entropy = model.random_state
            if entropy is None:
                entropy = int(np.random.SeedSequence().entropy)
            transformer_seq = np.random.SeedSequence(entropy).spawn(3)[0]
            sample_size = model.transformer_sample_size or FIT_SAMPLE_ROWS
            transformer, kinds = fit_transformer(
                table, discrete_columns, metadata,
                sample_size=sample_size, rng=np.random.default_rng(transformer_seq),
                max_clusters=model.max_clusters, weight_threshold=model.weight_threshold,
                clip=getattr(model, "enforce_min_max_values", True), read_rows=read_rows,
            )  # fmt: skip
            message = {
                "entropy": str(entropy),
                "transformer": transformer.get_state(),
                "kinds": kinds.to_dict(),
                "params": _json_params(model),
                "files": len(table.files),
            }
        except (TVAEError, ValueError, TypeError, OSError) as error:
            broadcast_json({"error": str(error)}, ctx, device)  # so the others stop waiting
            raise
    message = broadcast_json(message, ctx, device)
    if "error" in message:
        raise InvalidDataError(f"rank 0 could not prepare the data: {message['error']}")
    return message


def _json_params(model: Any) -> dict:
    return json_params(model.get_params())


def _json_params_value(value: Any) -> Any:
    return json_params({"value": value})["value"]


def _check_same_params(saved: dict, model: Any, folder: Any) -> None:
    current = _json_params(model)
    # a setting missing from an older checkpoint was the constructor's default
    defaults = {
        name: _json_params_value(p.default)
        for name, p in inspect.signature(type(model)).parameters.items()
    }
    changed = {
        key: (saved.get(key, defaults.get(key)), value)
        for key, value in current.items()
        if key not in RESUME_IGNORED and saved.get(key, defaults.get(key)) != value
    }
    if changed:
        detail = ", ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in changed.items())
        raise InvalidParameterError(
            f"the checkpoint in {str(folder)!r} was written with other settings ({detail}); "
            "resume with the same settings or use another checkpoint folder"
        )
