"""``python -m tvae.distributed fit ...``: the torchrun worker (see :mod:`tvae.cli.worker`)."""

import sys

from tvae.cli.worker import main

if __name__ == "__main__":
    sys.exit(main())
