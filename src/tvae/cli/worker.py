"""The torchrun worker program: ``python -m tvae.distributed fit DATA -o MODEL [options]``.

What :func:`tvae.cli.launch.launch` runs in every worker (and what users run under their own
torchrun, across machines). It builds a :class:`tvae.TVAE` from the options, calls
:meth:`~tvae.TVAE.fit_distributed` and saves the model on rank 0.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from tvae.cli.parsing import read_kinds_file
from tvae.distributed import DistContext
from tvae.errors import TVAEError
from tvae.synthesizer import TVAE
from tvae.threads import usable_cpus

ERROR_DIR_ENV = "TVAE_WORKER_ERRORS"  # folder where launched workers leave their error message


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
        return quiet_torchrun(argv[1:])
    args = _parser().parse_args(argv)
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


def quiet_torchrun(argv: Sequence[str]) -> int:
    """torchrun without its traceback and failure log: the workers report their own errors."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        run(parse_args(list(argv)))
    except ChildFailedError as error:
        _, failure = error.get_first_failure()
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0
