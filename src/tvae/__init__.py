"""tvae: a Tabular Variational Autoencoder that learns a table and generates synthetic rows.

>>> from tvae import TVAE, load_demo
>>> model = TVAE(epochs=5).fit(load_demo())
>>> synthetic = model.sample(1000)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tvae.errors import (  # light: NotFittedError's scikit-learn base waits for its first use
    ConditionError,
    InvalidDataError,
    InvalidDataTypeError,
    InvalidParameterError,
    InvalidParameterTypeError,
    ModelFileError,
    TVAEError,
    TVAEWarning,
)
from tvae.version import __version__

if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
    from tvae.datasets import DEMO_DISCRETE_COLUMNS, load_demo
    from tvae.errors import NotFittedError
    from tvae.evaluation import evaluate
    from tvae.synthesizer import TVAE, load
    from tvae.threads import set_threads, usable_cpus

# Where each other public name lives. They are imported when first asked for: torch, pandas and
# scikit-learn take 4-5 s to import, which `tvae --help` and `tvae --version` need none of.
_HOMES = {
    "DEMO_DISCRETE_COLUMNS": "tvae.datasets",
    "load_demo": "tvae.datasets",
    "TVAE": "tvae.synthesizer",
    "load": "tvae.synthesizer",
    "set_threads": "tvae.threads",
    "usable_cpus": "tvae.threads",
    "evaluate": "tvae.evaluation",
    "NotFittedError": "tvae.errors",
}

__all__ = [
    "DEMO_DISCRETE_COLUMNS",
    "TVAE",
    "ConditionError",
    "InvalidDataError",
    "InvalidDataTypeError",
    "InvalidParameterError",
    "InvalidParameterTypeError",
    "ModelFileError",
    "NotFittedError",
    "TVAEError",
    "TVAEWarning",
    "__version__",
    "evaluate",
    "load",
    "load_demo",
    "set_threads",
    "usable_cpus",
]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tvae' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
