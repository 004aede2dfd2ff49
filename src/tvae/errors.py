"""Exceptions and warnings raised by tvae.

Every error a user can cause subclasses ``ValueError`` or ``TypeError`` so that code written
for ``ctgan.TVAE`` (which raises those) keeps working, and every one names the argument or
column at fault.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING


class TVAEError(Exception):
    """Base class of every exception raised on purpose by tvae."""


class InvalidParameterError(TVAEError, ValueError):
    """A constructor or method argument is out of its allowed range."""


class InvalidParameterTypeError(InvalidParameterError, TypeError):
    """A constructor or method argument has the wrong type (e.g. a float or a string seed)."""


class InvalidDataError(TVAEError, ValueError):
    """The table given to ``fit`` (or to a conditional ``sample``) cannot be modelled as is."""


class InvalidDataTypeError(TVAEError, TypeError):
    """An argument or a column has a type tvae does not accept."""


class ModelFileError(TVAEError, ValueError):
    """A model file is missing, truncated, corrupted, foreign or from a newer format."""


class ConditionError(TVAEError, ValueError):
    """Sampling conditions name unknown columns or values, or cannot be met."""


class TVAEWarning(UserWarning):
    """Something was done on the user's behalf that they may want to know about."""


_INTERNAL = ("tvae", "contextlib")  # modules a warning's stacklevel skips to reach the user


def user_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the caller that names the first frame
    outside tvae (and contextlib): the user's call, not a line of ours, at any depth."""
    frame, level = sys._getframe(2), 2  # the frame that called warnings.warn's caller
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in _INTERNAL:
        frame, level = frame.f_back, level + 1
    return level


if TYPE_CHECKING:  # what type checkers see; at run time the class is made on first use
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(TVAEError, _SklearnNotFittedError):
        """A method that needs a fitted model was called before ``fit``."""


@cache
def _not_fitted_error() -> type[TVAEError]:
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(TVAEError, SklearnNotFittedError):
        """A method that needs a fitted model was called before ``fit``."""

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"
    return NotFittedError


def __getattr__(name: str):
    # NotFittedError subclasses scikit-learn's, which takes about 1.5 s to import; it is made on
    # first use so that the command line's help and usage errors need none of it.
    if name == "NotFittedError":
        return _not_fitted_error()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
