"""Checks of constructor and method arguments, run before any long work starts.

Each error names the argument, shows the value and says what is allowed.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterable
from numbers import Integral, Real
from typing import Any

import numpy as np

from tvae.errors import InvalidParameterError, InvalidParameterTypeError


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def check_non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise InvalidParameterError(f"{name} must be a non-negative integer, got {name}={value!r}")
    return int(value)


def check_samples(samples: Any, n_columns: int) -> int:
    """``samples`` as rows to generate: a non-negative integer whose rows fit in this machine's
    memory at 8 bytes a cell (a lower bound); 10**13 rows would run for hours, then fail."""
    n_rows = check_non_negative_int("samples", samples)
    total = physical_memory()
    need = n_rows * max(n_columns, 1) * 8
    if total is not None and need > total:
        raise InvalidParameterError(
            f"samples={n_rows} rows of {n_columns} columns need at least {need / 2**30:,.0f} GiB, "
            f"more than this machine's {total / 2**30:,.0f} GiB of memory: stream them with "
            "model.sample_chunks(n, chunk_rows) or `tvae sample`, which writes chunk by chunk"
        )
    return n_rows


def physical_memory() -> int | None:
    """Bytes of memory this machine has (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def check_real(name: str, value: Any, *, low: float, low_inclusive: bool = True) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = value >= low if low_inclusive else value > low
    if not ok:
        bound = f">= {low}" if low_inclusive else f"> {low}"
        raise InvalidParameterError(f"{name} must be a finite number {bound}, got {name}={value!r}")
    return float(value)


def check_dims(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidParameterError(
            f"{name} must be a sequence of positive integers such as (128, 128), "
            f"got {name}={value!r}"
        )
    dims = tuple(value)
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, Integral) or dim < 1:
            raise InvalidParameterError(
                f"{name} must contain only positive integers, got {name}={value!r}"
            )
    return tuple(int(d) for d in dims)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise InvalidParameterError(f"{name} must be one of {choices}, got {name}={value!r}")
    return value


def check_auto_or_positive_int(name: str, value: Any) -> int | str:
    """``"auto"`` (tvae chooses) or a positive integer."""
    if isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, (Integral, str)):
        raise InvalidParameterTypeError(
            f'{name} must be "auto" or a positive integer, got {name}={value!r} '
            f"of type {type(value).__name__}"
        )
    if isinstance(value, str) or value < 1:
        raise InvalidParameterError(
            f'{name} must be "auto" or a positive integer, got {name}={value!r}'
        )
    return int(value)


def check_seed(name: str, value: Any) -> int | None:
    """None or a non-negative integer; a value of another type raises a ``TypeError`` too."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InvalidParameterTypeError(
            f"{name} must be None or a non-negative integer, got {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    if value < 0:
        raise InvalidParameterError(
            f"{name} must be None or a non-negative integer, got {name}={value!r}"
        )
    return int(value)


RANDOM_STATES = (np.random.RandomState, np.random.Generator)
Seed = int | np.random.RandomState | np.random.Generator | None  # what random_state takes


def check_random_state(name: str, value: Any) -> Any:
    """None, a non-negative integer, or a numpy ``RandomState`` or ``Generator`` (a seed is
    drawn from it when it is used, advancing it, as scikit-learn estimators do)."""
    if isinstance(value, RANDOM_STATES):
        return value
    try:
        return check_seed(name, value)
    except InvalidParameterTypeError:
        raise InvalidParameterTypeError(
            f"{name} must be None, a non-negative integer, a numpy.random.RandomState or a "
            f"numpy.random.Generator, got {name}={value!r} of type {type(value).__name__}"
        ) from None


def seed_of(name: str, value: Any) -> int | None:
    """The seed ``value`` gives (see :func:`check_random_state`): drawn from a ``RandomState``
    or ``Generator``, which advances it; None or the integer itself otherwise."""
    value = check_random_state(name, value)
    if isinstance(value, np.random.RandomState):
        return int(value.randint(np.iinfo(np.int32).max))
    if isinstance(value, np.random.Generator):
        return int(value.integers(np.iinfo(np.int64).max))
    return value


def drawing_seed(method: Callable) -> Callable:
    """Decorator for the fit methods: within the call ``model.random_state`` is the seed it
    gives (:func:`seed_of`), so every part of the fit reads one integer; a ``RandomState`` or
    ``Generator`` is put back after, and the seed drawn from it kept as ``model._drawn_seed``
    (a saved model keeps it)."""

    @functools.wraps(method)
    def wrapper(model: Any, *args: Any, **kwargs: Any) -> Any:
        given = model.random_state
        if not isinstance(given, RANDOM_STATES):
            return method(model, *args, **kwargs)
        model.random_state = model._drawn_seed = seed_of("random_state", given)
        try:
            return method(model, *args, **kwargs)
        finally:
            model.random_state = given

    return wrapper


def seed_from_states(pair: tuple) -> int:
    """A seed derived from the states of a ``(numpy.random.RandomState, torch.Generator)`` pair."""
    import torch

    if not (
        len(pair) == 2
        and isinstance(pair[0], np.random.RandomState)
        and isinstance(pair[1], torch.Generator)
    ):
        raise InvalidParameterTypeError(
            "random_state must be None, a non-negative integer or a (numpy.random.RandomState, "
            f"torch.Generator) pair, got {pair!r}"
        )
    _, keys, position, has_gauss, gauss = pair[0].get_state(legacy=True)
    digest = hashlib.blake2b(np.asarray(keys, dtype=np.uint32).tobytes(), digest_size=8)
    digest.update(repr((int(position), int(has_gauss), float(gauss))).encode())
    digest.update(pair[1].get_state().numpy().tobytes())
    return int.from_bytes(digest.digest(), "little") >> 1  # non-negative, below 2**63
