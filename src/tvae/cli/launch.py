"""Streamed and data-parallel training from the command line: ``tvae fit ... --nproc N``.

:func:`fit_streamed` is one worker's fit, in this process; :func:`launch` runs N workers
(``python -m tvae.distributed fit ...``, see :mod:`tvae.cli.worker`) under torchrun on this
machine. A worker that fails leaves its one-line message in a folder the launcher reads; the
launcher raises it once (:class:`WorkerError`), and torchrun's own failure traceback and log,
which repeat what the worker said, are kept quiet (:func:`tvae.cli.worker.quiet_torchrun`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tvae.cli.errors import ERROR_DIR_ENV
from tvae.cli.parsing import parse_switch, read_kinds_file
from tvae.distributed import DistContext
from tvae.distributed.shards import ParquetSource
from tvae.errors import InvalidParameterError, TVAEError
from tvae.synthesizer import TVAE
from tvae.threads import usable_cpus


class WorkerError(TVAEError, RuntimeError):
    """A torchrun worker stopped on an error (its message, reported once by the launcher)."""


def launch(nproc: int, argv: Sequence[str], *, max_restarts: int = 0) -> int:
    """Run ``python -m tvae.distributed ARGV`` as ``nproc`` torchrun workers on this machine.

    Returns torchrun's exit code; a worker that stops on an error raises :class:`WorkerError`
    with its one-line message (once, not once per worker, and without torchrun's traceback).
    Each worker gets ``usable_cpus() // nproc`` threads.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise InvalidParameterError(f"nproc must be a positive integer, got {nproc=}")
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, usable_cpus() // nproc)))
    with tempfile.TemporaryDirectory(prefix="tvae-workers-") as errors:
        env[ERROR_DIR_ENV] = errors
        command = [
            sys.executable, "-m", "tvae.distributed", "torchrun", "--standalone",
            f"--nproc-per-node={nproc}", f"--max-restarts={max_restarts}",
            "-m", "tvae.distributed", *argv,
        ]  # fmt: skip
        code = subprocess.call(command, env=env)
        messages = [p.read_text(encoding="utf-8") for p in sorted(Path(errors).glob("rank-*"))]
    if code and messages:
        raise WorkerError("; ".join(dict.fromkeys(m.strip() for m in messages if m.strip())))
    return code


def fit_command(data: Any, output: Any, *, nproc: int = 1, **options: Any) -> int:
    """``tvae fit ... --nproc N``: N workers under torchrun (N = 1: in this process).

    ``options`` are ``tvae fit``'s long options by name (``epochs=10``, ``discrete=["a,b"]``,
    ``resume=True``); for the workers' command line, None and False are left out.
    """
    if options.get("resume") and options.get("checkpoint_dir") is None:
        raise InvalidParameterError("--resume needs --checkpoint-dir, the folder to resume from")
    ParquetSource.open(data)  # a missing or empty source fails here, before any launch
    argv = ["fit", str(data), "-o", str(output)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            argv += [item for v in value for item in (flag, str(v))]
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    if nproc == 1:
        fit_streamed(data, output, **options)
        return 0
    return launch(nproc, argv)


def fit_streamed(
    data: Any, output: Any, *, epochs: int | None = None, batch_size: int | None = None,
    discrete: Sequence[str] | None = None, metadata: Any = None, device: str = "auto",
    seed: int | None = None, quiet: bool = False, checkpoint_dir: Any = None,
    checkpoint_every: int = 1, resume: bool = False, threads: int | None = None,
    lr_schedule: str = "auto", transformer_sample_size: int | None = None,
    precision: str = "auto", refine: str = "auto", quantile_map: str = "auto",
) -> None:  # fmt: skip
    """Fit the Parquet table ``data`` as this process's part of a torchrun job (or alone), with
    :meth:`tvae.TVAE.fit_distributed`; rank 0 saves the model to ``output``."""
    import torch

    ctx = DistContext.from_env()
    torch.set_num_threads(threads or max(1, usable_cpus() // ctx.local_world_size))
    columns = [c for item in discrete or [] for c in item.split(",") if c]
    given = {"epochs": epochs, "batch_size": batch_size}  # None: TVAE's default
    model = TVAE(
        **{k: v for k, v in given.items() if v is not None}, random_state=seed, device=device,
        lr_schedule=lr_schedule, verbose=not quiet, transformer_sample_size=transformer_sample_size,
        precision=precision, refine=parse_switch("--refine", refine),
        quantile_map=parse_switch("--quantile-map", quantile_map),
    )  # fmt: skip
    kinds = read_kinds_file(Path(metadata)) if metadata is not None else None
    model.fit_distributed(
        data, columns, metadata=kinds, checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every, resume=resume,
    )  # fmt: skip
    if ctx.is_main:
        model.save(output)
        if not quiet:
            summary = model.training_summary_
            print(
                f"Fitted {summary['n_rows']:,} rows with {ctx.world_size} workers for "
                f"{summary['epochs']} epochs in {summary['fit_seconds']:.1f} s; saved {output}",
                file=sys.stderr,
            )
