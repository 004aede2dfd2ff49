"""Data-parallel training on PyTorch's distributed runtime (torchrun; gloo on CPU, NCCL on GPU).

One machine, 4 workers (the ``tvae`` command launches torchrun for you)::

    tvae fit data/ -o model.tvae --nproc 4 --checkpoint-dir ckpt/

The same through torchrun, and across machines (run on every node; rank 0's node hosts the
rendezvous; data and checkpoint folders must be visible to every node)::

    torchrun --standalone --nproc-per-node 4 -m tvae.distributed fit data/ -o model.tvae
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-id job1 \\
        --rdzv-endpoint node0:29500 -m tvae.distributed fit 'data/*.parquet' -o model.tvae

From Python, under torchrun: ``TVAE(...).fit_distributed("data/", discrete_columns=[...])``.

Every worker reads only its share of the Parquet rows (see :mod:`tvae.shards`). Rank 0 fits the
transformer from a bounded sample plus one scan and broadcasts it as JSON; the networks are
wrapped in ``DistributedDataParallel``; each worker takes ``batch_size / world_size`` rows per
step, so the global batch, the steps per epoch and hence the learning curve match a
single-process fit. Losses are averaged over workers for the log; only rank 0 writes files.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from tvae.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tvae.devices import resolve_device
from tvae.errors import InvalidDataError, InvalidParameterError, TVAEError
from tvae.loss import SpanIndex
from tvae.metadata import Metadata
from tvae.prior import LatentPrior, load_prior
from tvae.schedule import Schedule, resolve_schedule
from tvae.shards import READ_ROWS, SHUFFLE_ROWS, ParquetSource, fit_transformer
from tvae.shards import iter_encoded_batches as _encoded_batches
from tvae.threads import usable_cpus
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
ERROR_DIR_ENV = "TVAE_WORKER_ERRORS"  # folder where launched workers leave their error message


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a torchrun job (a lone process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    restart_count: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> DistContext:
        env = os.environ if env is None else env
        return cls(
            rank=int(env.get("RANK", 0)),
            world_size=int(env.get("WORLD_SIZE", 1)),
            local_rank=int(env.get("LOCAL_RANK", 0)),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", 1)),
            restart_count=int(env.get("TORCHELASTIC_RESTART_COUNT", 0)),
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def is_main_process() -> bool:
    """True on rank 0 (and in a lone process): the one process that should write files."""
    return DistContext.from_env().is_main


def worker_device(ctx: DistContext, device: str | None, enable_gpu: bool) -> torch.device:
    """The model's device; with several workers on a GPU node, GPU ``local_rank``."""
    resolved = resolve_device(device, enable_gpu)
    if resolved.type == "cuda" and ctx.distributed:
        return torch.device("cuda", ctx.local_rank)
    return resolved


def init_process_group(ctx: DistContext, device: torch.device) -> bool:
    """Join the torchrun job (NCCL on CUDA, gloo otherwise); False if nothing was to be done."""
    if not ctx.distributed or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return True


def broadcast_json(value: Any, ctx: DistContext, device: torch.device) -> Any:
    """Rank 0's JSON-able ``value`` on every rank (bytes in a tensor: nothing is pickled)."""
    if not ctx.distributed:
        return value
    payload = json.dumps(value).encode() if ctx.is_main else b""
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if ctx.is_main:
        buffer.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    dist.broadcast(buffer, src=0)
    return json.loads(buffer.cpu().numpy().tobytes())


def mean_over_workers(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The element-wise mean of ``values`` over all workers (for the loss log)."""
    if not ctx.distributed:
        return values
    total = values.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / ctx.world_size


def epoch_seed(network_seed: int, rank: int, epoch: int) -> np.random.SeedSequence:
    """The random state of one worker's epoch: a function of the seed, the rank and the epoch."""
    return np.random.SeedSequence([network_seed, rank, epoch])


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
    from tvae.persistence import json_params as as_json

    return as_json(model.get_params())


def _json_params_value(value: Any) -> Any:
    from tvae.persistence import json_params as as_json

    return as_json({"value": value})["value"]


def _check_same_params(saved: dict, model: Any, folder: Any) -> None:
    import inspect

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


# ---------------------------------------------------------------------- the worker
def _report(error: Exception, ctx: DistContext) -> None:
    """A worker's error: to the launcher's folder (``tvae fit --nproc``) or to stderr."""
    folder = os.environ.get(ERROR_DIR_ENV)
    if folder and Path(folder).is_dir():
        one_line = " ".join(str(error).split()) or type(error).__name__
        (Path(folder) / f"rank-{ctx.rank:05d}").write_text(one_line, encoding="utf-8")
    else:
        print(f"error (rank {ctx.rank}): {error}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, *, raise_errors: bool = False) -> int:
    """The worker program: ``python -m tvae.distributed fit DATA -o MODEL [options]``.

    ``python -m tvae.distributed torchrun ...`` is torchrun itself, quiet about failed workers
    (what :func:`launch` runs). With ``raise_errors`` an error propagates instead of being
    printed (one process, in the caller's own process).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["torchrun"]:
        from tvae.launch import quiet_torchrun

        return quiet_torchrun(argv[1:])
    args = _parser().parse_args(argv)
    from tvae.synthesizer import TVAE

    ctx = DistContext.from_env()
    torch.set_num_threads(args.threads or max(1, usable_cpus() // ctx.local_world_size))
    discrete = [c for item in args.discrete or [] for c in item.split(",") if c]
    try:
        given = {"epochs": args.epochs, "batch_size": args.batch_size}  # None: TVAE's default
        model = TVAE(
            **{k: v for k, v in given.items() if v is not None}, random_state=args.seed,
            device=args.device, lr_schedule=args.lr_schedule, verbose=not args.quiet,
            transformer_sample_size=args.transformer_sample_size,
        )  # fmt: skip
        kinds = None
        if args.metadata is not None:
            from tvae.cli_parsing import read_kinds_file

            kinds = read_kinds_file(Path(args.metadata))
        model.fit_distributed(
            args.data, discrete, metadata=kinds, checkpoint_dir=args.checkpoint_dir,
            checkpoint_every=args.checkpoint_every, resume=args.resume,
        )  # fmt: skip
    except (TVAEError, ValueError, TypeError, OSError) as error:
        if raise_errors:
            raise
        _report(error, ctx)
        return 1
    if ctx.is_main:
        model.save(args.output)
        if not args.quiet:
            summary = model.training_summary_
            print(
                f"Fitted {summary['n_rows']:,} rows with {ctx.world_size} workers for "
                f"{summary['epochs']} epochs in {summary['fit_seconds']:.1f} s; "
                f"saved {args.output}",
                file=sys.stderr,
            )
    return 0


def _parser():
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tvae.distributed")
    verbs = parser.add_subparsers(dest="verb", required=True)
    fit = verbs.add_parser("fit", help="train on a Parquet folder or glob (run under torchrun)")
    fit.add_argument("data", help="folder, glob or file of Parquet data")
    fit.add_argument("-o", "--output", required=True, help="model file to write")
    fit.add_argument("--discrete", action="append", help="categorical columns, comma-separated")
    fit.add_argument("--metadata", default=None, help="JSON file of column kinds")
    fit.add_argument("--epochs", type=int, default=None)
    fit.add_argument("--batch-size", type=int, default=None, help="global rows per step")
    fit.add_argument("--seed", type=int, default=None)
    fit.add_argument("--device", default="auto")
    fit.add_argument("--lr-schedule", default="auto", choices=("auto", "constant", "onecycle"))
    fit.add_argument("--transformer-sample-size", type=int, default=None)
    fit.add_argument("--checkpoint-dir", default=None)
    fit.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    fit.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    fit.add_argument("--threads", type=int, default=None, help="torch threads per worker")
    fit.add_argument("-q", "--quiet", action="store_true")
    return parser


if __name__ == "__main__":
    sys.exit(main())
