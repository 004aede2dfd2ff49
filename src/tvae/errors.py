"""Exceptions and warnings raised by tvae.

Every error a user can cause subclasses ``ValueError`` or ``TypeError`` so that code written
for ``ctgan.TVAE`` (which raises those) keeps working, and every one names the argument or
column at fault.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


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


class NotFittedError(TVAEError, _SklearnNotFittedError):
    """A method that needs a fitted model was called before ``fit``."""


class ModelFileError(TVAEError, ValueError):
    """A model file is missing, truncated, corrupted, foreign or from a newer format."""


class ConditionError(TVAEError, ValueError):
    """Sampling conditions name unknown columns or values, or cannot be met."""


class TVAEWarning(UserWarning):
    """Something was done on the user's behalf that they may want to know about."""
