"""tvae: a Tabular Variational Autoencoder that learns a table and generates synthetic rows.

>>> from tvae import TVAE, load_demo
>>> model = TVAE(epochs=5).fit(load_demo())
>>> synthetic = model.sample(1000)
"""

from __future__ import annotations

from tvae.datasets import DEMO_DISCRETE_COLUMNS, load_demo
from tvae.errors import (
    ConditionError,
    InvalidDataError,
    InvalidDataTypeError,
    InvalidParameterError,
    InvalidParameterTypeError,
    ModelFileError,
    NotFittedError,
    TVAEError,
    TVAEWarning,
)
from tvae.synthesizer import TVAE, load
from tvae.threads import set_threads, usable_cpus
from tvae.version import __version__

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
    # The evaluation package pulls in plotting and model-fitting code: import it on first use.
    if name == "evaluate":
        from tvae.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'tvae' has no attribute {name!r}")
