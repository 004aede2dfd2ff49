"""The torchrun worker program: ``python -m tvae.distributed fit DATA -o MODEL [options]``.

It is ``tvae fit DATA -o MODEL --nproc 1 [options]`` run in every worker: the same command and
options (one command line, not two), each worker fitting its share of the Parquet rows in its
own process (see :func:`tvae.cli.launch.fit_streamed`). :func:`tvae.cli.launch.launch` runs it
under torchrun for ``tvae fit --nproc N``; users run it under their own torchrun across machines.
``python -m tvae.distributed torchrun ...`` is torchrun itself, quiet about failed workers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = "usage: python -m tvae.distributed fit DATA -o MODEL [tvae fit options]"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker program on ``argv`` (default: the process arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["torchrun"]:
        return quiet_torchrun(argv[1:])
    if argv[:1] != ["fit"]:
        print(USAGE, file=sys.stderr)
        return 2
    from tvae.cli.app import app

    # the last --nproc wins: a worker fits in its own process, whatever the user passed
    app([*argv, "--nproc", "1"], prog_name="python -m tvae.distributed")
    return 0  # pragma: no cover - app() exits


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
