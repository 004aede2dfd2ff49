"""The public names of ``tvae``: imported on first use, the same objects as their modules'."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

import tvae


@pytest.mark.parametrize("name", tvae.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(tvae, name) is not None
    assert name in dir(tvae)


def test_names_are_the_objects_of_their_modules() -> None:
    from tvae.errors import InvalidParameterError
    from tvae.synthesizer import TVAE

    assert tvae.TVAE is TVAE and tvae.InvalidParameterError is InvalidParameterError
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        tvae.nothing  # noqa: B018


def test_not_fitted_error_is_scikit_learns_and_pickles() -> None:
    from tvae.errors import NotFittedError

    assert tvae.NotFittedError is NotFittedError
    assert issubclass(NotFittedError, SklearnNotFittedError)
    assert issubclass(NotFittedError, tvae.TVAEError) and issubclass(NotFittedError, ValueError)
    error = pickle.loads(pickle.dumps(NotFittedError("call fit first")))
    assert type(error) is NotFittedError and str(error) == "call fit first"
    with pytest.raises(SklearnNotFittedError, match="fit"):
        tvae.TVAE().sample(3)


def test_star_import_gives_every_public_name() -> None:
    code = "from tvae import *\nprint(TVAE.__name__, load_demo.__name__, NotFittedError.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["TVAE", "load_demo", "NotFittedError"]
