"""``python -m tvae.distributed fit ...``: the torchrun worker (see :mod:`tvae.cli.worker`).

Once the command has finished (the model saved, the process group destroyed), the process
leaves with ``os._exit``: gloo's C++ threads then cannot abort it while the interpreter and
the C++ runtime tear down. That abort ("terminate called without an active exception",
SIGABRT) hit a worker twice in CI, each time after the fit had ended and rank 0 had saved a
valid model, and torchrun then reported the whole fit as failed.
"""

import os
import sys

from tvae.cli.worker import main


def exit_code() -> int:
    """Run the worker program; its exit status, as ``sys.exit`` would have set it."""
    try:
        return main()
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = exit_code()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
