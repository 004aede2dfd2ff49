"""The data-parallel fit: rank 0 prepares the transformer, every rank trains its share.

See :mod:`tvae.distributed` for how to launch it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from tvae.checkpoint import check_same_params, load_checkpoint
from tvae.devices import gpu_enabled
from tvae.distributed.context import (
    DistContext,
    broadcast_json,
    epoch_seed,
    init_process_group,
    worker_device,
)
from tvae.distributed.shards import READ_ROWS, SHUFFLE_ROWS, ParquetSource, fit_transformer
from tvae.distributed.shards import iter_encoded_batches as _encoded_batches
from tvae.errors import InvalidDataError, TVAEError
from tvae.fitting import (
    FitResult,
    check_checkpointing,
    check_params,
    fit_latents,
    fit_refiner,
    fit_schedule,
    numeric_scale,
    training_config,
)
from tvae.kinds import Metadata
from tvae.layout import SpanIndex
from tvae.prior import LatentPrior, load_prior
from tvae.quantile_fit import fit_maps
from tvae.refiner import TRAIN_ROWS, Refiner, load_refiner
from tvae.serialization import json_params
from tvae.training import Batch, Checkpoints, build_networks, n_batches, train
from tvae.transformer import TableTransformer
from tvae.transformer.quantile_map import QuantileMap

FIT_SAMPLE_ROWS = 100_000  # rows the transformer is fitted on when transformer_sample_size is None
# rank 0's refiner draws its TRAIN_ROWS training rows from this many rows of its shuffled share,
# not from the whole share, which it would have to hold in memory
REFINER_ROWS = 5 * TRAIN_ROWS


class ShardBatches:
    """A worker's share of a Parquet table as an epoch's stream of shuffled, encoded batches.

    Every epoch reseeds the generator and the shuffle from ``(seed, rank, epoch)``, so a resumed
    run continues exactly.
    """

    def __init__(self, table, transformer, ctx, network_seed, batch_rows, device, read_rows,
                 shuffle_rows) -> None:  # fmt: skip
        self.table, self.transformer, self.ctx = table, transformer, ctx
        self.network_seed, self.batch_rows, self.device = network_seed, batch_rows, device
        self.read_rows, self.shuffle_rows = read_rows, shuffle_rows
        self.pieces = table.share(ctx.rank, ctx.world_size)
        # every worker takes the same number of steps: that of the largest share
        self.steps_per_epoch = n_batches(n_batches(table.n_rows, ctx.world_size), batch_rows)
        self.epochs = 0  # set by the fit: rows() streams the epoch after the last one

    def epoch(self, epoch: int, generator: torch.Generator):
        seeds = epoch_seed(self.network_seed, self.ctx.rank, epoch)
        generator.manual_seed(int(seeds.generate_state(1)[0]))
        stream = _encoded_batches(
            self.table, self.pieces, self.transformer, self.batch_rows, self.steps_per_epoch,
            np.random.default_rng(seeds), read_rows=self.read_rows, shuffle_rows=self.shuffle_rows,
        )  # fmt: skip
        return (
            (torch.from_numpy(a).to(self.device), torch.from_numpy(c).to(self.device))
            for a, c in stream
        )

    def rows(self):
        return self.epoch(self.epochs, torch.Generator(device=self.device))


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
) -> FitResult:
    """Train ``model``'s networks on the Parquet table ``source`` with every torchrun worker.

    ``model`` is an unfitted :class:`tvae.TVAE` (its hyper-parameters are used). With
    ``resume`` (or after a torchrun elastic restart) a checkpoint in ``checkpoint_dir`` is
    continued; without one, training starts afresh. Called on every rank.
    """
    check_params(model)
    check_checkpointing(checkpoint_dir, checkpoint_every, resume)
    started = time.perf_counter()
    ctx = DistContext.from_env()
    device = worker_device(ctx, model.device, gpu_enabled(model.enable_gpu, model.cuda))
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
            check_same_params(restored.info["params"], model, checkpoint_dir)
            shared = restored.info
        else:
            shared = _shared_state(model, table, discrete_columns, metadata, ctx, device, read_rows)
        transformer = TableTransformer.from_state(shared["transformer"])
        root = np.random.SeedSequence(int(shared["entropy"]))
        _, network_seq, sampling_seq = root.spawn(3)
        network_seed = int(network_seq.generate_state(1)[0])
        transformer_seconds = time.perf_counter() - started

        layout = transformer.layout
        encoder, decoder = build_networks(model, layout.width, network_seed, device)
        schedule = fit_schedule(model, table.n_rows, layout.width, len(transformer.columns), device)
        batch_rows = -(-schedule.batch_size // ctx.world_size)  # per worker: same global batch
        config = training_config(model, schedule, batch_rows, model.verbose and ctx.is_main)
        batches = ShardBatches(
            table, transformer, ctx, network_seed, batch_rows, device, read_rows, shuffle_rows
        )
        batches.epochs = schedule.epochs
        checkpoints = None
        if checkpoint_dir is not None:
            info = {**shared, "world_size": ctx.world_size}
            checkpoints = Checkpoints(checkpoint_dir, checkpoint_every, info)
        index = SpanIndex.from_layout(layout, device)
        generator = torch.Generator(device=device)
        history = train(
            encoder, decoder, batches, index, config, generator, ctx=ctx,
            checkpoints=checkpoints, restored=restored,
        )  # fmt: skip
        real = partial(table.sample, FIT_SAMPLE_ROWS, np.random.default_rng(0), read_rows)
        prior, refiner, refined, mapped = _shared_sampler(
            model, encoder, decoder, transformer, batches, index, network_seq, ctx, device,
            table.n_rows, real,
        )  # fmt: skip
        if created:
            # every worker leaves its last collective before any tears the group down: gloo
            # aborted a worker ("terminate called without an active exception") once in CI
            dist.barrier()
    finally:
        if created:
            dist.destroy_process_group()
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
    if mapped is not None:
        summary["quantile_maps"] = mapped
    if refined is not None:
        summary["refiner"] = refined
    return FitResult(
        transformer, Metadata.from_dict(shared["kinds"]), encoder, decoder, history, device,
        int(sampling_seq.generate_state(1)[0]), schedule, summary, prior, refiner,
    )  # fmt: skip


def _shared_sampler(
    model, encoder, decoder, transformer, batches, index, network_seq, ctx, device, n_rows, real
) -> tuple[LatentPrior, Refiner | None, dict | None, list[str] | None]:
    """Rank 0 fits the latent prior, calibrates the decoder and trains the refiner on its
    share's rows (as an in-memory fit does on all of them: they see at most a sample anyway),
    and fits the quantile maps against ``real()``, a sample of the whole table; every rank
    receives the prior, the decoder's output bias, the maps and the refiner, so that every
    rank holds the same model (and the mapped columns' names)."""
    state = None
    if ctx.is_main:
        prior = fit_latents(model, encoder, decoder, batches.rows, index, network_seq, transformer)
        mapped = fit_maps(model, decoder, prior, transformer, real, network_seq, n_rows)
        refiner, refined = fit_refiner(
            model, decoder, prior, transformer, lambda: _first_rows(batches.rows(), REFINER_ROWS),
            index, network_seq, n_rows, batches.epochs * batches.steps_per_epoch,
        )  # fmt: skip
        state = {
            "prior": {"kind": prior.kind, **_as_lists(prior.tensors())},
            "decoder.bias": decoder.body[-1].bias.tolist(),
            "quantile_maps": None if mapped is None else {
                str(place): col.quantile_map.get_state()
                for place, col in enumerate(transformer.columns)
                if getattr(col, "quantile_map", None) is not None
            },
            "refiner": None if refiner is None else {
                "hidden": list(refiner.hidden), "tensors": _as_lists(refiner.state_dict()),
                "summary": refined,
            },
        }  # fmt: skip
    state = broadcast_json(state, ctx, device)
    with torch.no_grad():
        bias = decoder.body[-1].bias
        bias.copy_(torch.as_tensor(state["decoder.bias"], dtype=bias.dtype))
    maps = state["quantile_maps"]
    for place, map_state in (maps or {}).items():
        transformer.columns[int(place)].quantile_map = QuantileMap.from_state(map_state)
    kind = state["prior"].pop("kind")
    prior = load_prior(kind, model.embedding_dim, _as_tensors(state["prior"]))
    mapped = None if maps is None else [str(transformer.columns[int(p)].name) for p in maps]
    shared = state["refiner"]
    if shared is None:
        return prior, None, None, mapped
    tensors = _as_tensors(shared["tensors"])
    refiner = load_refiner(index.width, shared["hidden"], tensors).to(device)
    return prior, refiner, shared["summary"], mapped


def _first_rows(batches: Iterable[Batch], limit: int) -> Iterator[Batch]:
    """The batches of a stream up to the one that brings it to ``limit`` rows."""
    seen = 0
    for batch in batches:
        yield batch
        seen += len(batch[1])
        if seen >= limit:
            return


def _as_lists(tensors: dict[str, torch.Tensor]) -> dict[str, list]:
    """Tensors as JSON-able nested lists (float64 and int64 keep every value exactly)."""
    return {name: tensor.detach().cpu().tolist() for name, tensor in tensors.items()}


def _as_tensors(lists: dict[str, list]) -> dict[str, torch.Tensor]:
    """:func:`_as_lists` undone: numbers as float64 or int64, flags as bool (a module's
    ``load_state_dict`` casts them to its own dtypes)."""
    kinds = {"b": torch.bool, "i": torch.int64, "f": torch.float64}
    return {
        name: torch.as_tensor(values, dtype=kinds[np.asarray(values).dtype.kind])
        for name, values in lists.items()
    }


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
                clip=model.enforce_min_max_values, read_rows=read_rows,
                scale=numeric_scale(model.log_scale),
            )  # fmt: skip
            message = {
                "entropy": str(entropy),
                "transformer": transformer.get_state(),
                "kinds": kinds.to_dict(),
                "params": json_params(model.get_params()),
                "files": len(table.files),
            }
        except (TVAEError, ValueError, TypeError, OSError) as error:
            broadcast_json({"error": str(error)}, ctx, device)  # so the others stop waiting
            raise
    message = broadcast_json(message, ctx, device)
    if "error" in message:
        raise InvalidDataError(f"rank 0 could not prepare the data: {message['error']}")
    return message
