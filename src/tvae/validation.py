"""Checks on user input, run before any long work starts. Each error names the culprit."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_complex_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
    is_timedelta64_dtype,
)

from tvae.errors import InvalidDataError, InvalidDataTypeError, InvalidParameterError


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def check_non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise InvalidParameterError(f"{name} must be a non-negative integer, got {name}={value!r}")
    return int(value)


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
            f"{name} must be a sequence of positive integers such as (128, 128), got {name}={value!r}"
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


def check_seed(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise InvalidParameterError(f"{name} must be None or a non-negative integer, got {name}={value!r}")
    return int(value)


@dataclass(frozen=True)
class InputInfo:
    """What kind of object ``fit`` received, so ``sample`` can return the same kind."""

    kind: str  # "dataframe" | "ndarray"
    array_dtype: str | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "array_dtype": self.array_dtype}

    @classmethod
    def from_dict(cls, data: dict) -> InputInfo:
        return cls(data["kind"], data.get("array_dtype"))


def to_frame(train_data: Any) -> tuple[pd.DataFrame, InputInfo]:
    """Accept a DataFrame or a 2-D ndarray; reject everything else with a clear message."""
    if isinstance(train_data, pd.DataFrame):
        frame, info = train_data, InputInfo("dataframe")
    elif isinstance(train_data, np.ndarray):
        if train_data.ndim != 2:
            raise InvalidDataError(
                f"train_data must be a 2-D array (rows x columns), got an array of shape "
                f"{train_data.shape}; reshape it, e.g. data.reshape(-1, 1) for one column"
            )
        frame, info = pd.DataFrame(train_data), InputInfo("ndarray", str(train_data.dtype))
    else:
        raise InvalidDataTypeError(
            "train_data must be a pandas DataFrame or a 2-D numpy array, got "
            f"{type(train_data).__name__}"
        )
    if frame.shape[1] == 0:
        raise InvalidDataError("train_data has no columns; give a table with at least one column")
    if frame.shape[0] == 0:
        raise InvalidDataError("train_data has no rows; give a table with at least one row")
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        raise InvalidDataError(f"train_data has duplicate column names {duplicated}; rename them")
    return frame, info


def resolve_kinds(
    frame: pd.DataFrame, discrete_columns: Any, info: InputInfo
) -> dict[Hashable, str]:
    """Map every column to "continuous" or "categorical".

    Columns in ``discrete_columns`` are categorical, exactly as given. The others are
    continuous when numeric and categorical otherwise (strings, booleans, pandas categories).
    """
    if isinstance(discrete_columns, (str, bytes)) or not isinstance(discrete_columns, Iterable):
        raise InvalidDataTypeError(
            "discrete_columns must be a list of column names (or of integer indices for an "
            f"array), got {discrete_columns!r}"
        )
    discrete = list(discrete_columns)
    columns = list(frame.columns)
    unknown = [c for c in discrete if c not in columns]
    if unknown:
        what = "integer column indices in range" if info.kind == "ndarray" else "column names of"
        raise InvalidDataError(
            f"discrete_columns names columns not in train_data: {unknown}; "
            f"use {what} train_data (columns: {columns[:20]}{'...' if len(columns) > 20 else ''})"
        )
    kinds = {}
    for name in columns:
        series = frame[name]
        if name in discrete:
            kinds[name] = "categorical"
        elif is_complex_dtype(series.dtype):
            raise InvalidDataTypeError(f"column {name!r} holds complex numbers, which cannot be modelled")
        elif is_datetime64_any_dtype(series.dtype) or is_timedelta64_dtype(series.dtype):
            raise InvalidDataTypeError(
                f"column {name!r} is a datetime column; convert it to numbers (e.g. "
                f"df[{name!r}].astype('int64')) or list it in discrete_columns"
            )
        elif is_numeric_dtype(series.dtype) and not is_bool_dtype(series.dtype):
            kinds[name] = "continuous"
        else:
            kinds[name] = "categorical"
    return kinds


def check_continuous_values(frame: pd.DataFrame, kinds: dict[Hashable, str]) -> None:
    """Continuous columns must hold finite numbers."""
    for name, kind in kinds.items():
        if kind != "continuous":
            continue
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            n_nan = int(np.isnan(values).sum())
            raise InvalidDataError(
                f"continuous column {name!r} has {n_nan} missing and {int(bad.sum()) - n_nan} "
                "infinite values; drop or fill them, or list the column in discrete_columns"
            )
