"""What a private fit may take without spending budget: the kinds dtypes and declarations give,
the facts the user declares public (bounds, category lists), and how many mechanisms the
rest takes (:mod:`tvae.privacy.statistics` releases them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype, is_integer_dtype

from tvae.errors import InvalidParameterError
from tvae.inputs import checked_discrete_columns
from tvae.kinds import Metadata, dtype_kind, is_duration


# ------------------------------------------------------------------ what the user declares
def check_public(public: Any, frame: pd.DataFrame, kinds: Mapping) -> dict:
    """``public`` as ``{column: {"bounds": [lo, hi]} | {"categories": [...]}}``, checked."""
    if public is None:
        return {}
    if not isinstance(public, Mapping):
        raise InvalidParameterError(
            "public must be a dict {column: {'bounds': [low, high]} or {'categories': [...]}}, "
            f"got {type(public).__name__}"
        )
    checked = {}
    for name, spec in public.items():
        if name not in frame.columns:
            raise InvalidParameterError(f"public names column {name!r}, not in train_data")
        if not isinstance(spec, Mapping) or set(spec) - {"bounds", "categories"} or not spec:
            raise InvalidParameterError(
                f"public[{name!r}] must be {{'bounds': [low, high]}} or "
                f"{{'categories': [...]}}, got {spec!r}"
            )
        kind = kinds[name]
        if "bounds" in spec:
            bounds = spec["bounds"]
            if kind not in ("numerical", "datetime") or len(bounds) != 2:
                raise InvalidParameterError(
                    f"public[{name!r}]['bounds'] must be [low, high] of a numerical or datetime "
                    f"column; {name!r} is {kind}, got {bounds!r}"
                )
            low, high = (
                [pd.Timestamp(b) for b in bounds] if kind == "datetime" else map(float, bounds)
            )
            if not low < high:
                raise InvalidParameterError(
                    f"public[{name!r}]['bounds'] must have low < high, got {bounds!r}"
                )
            checked[name] = {"bounds": (low, high)}
        if "categories" in spec:
            categories = list(dict.fromkeys(spec["categories"]))
            if kind != "categorical" or not categories:
                raise InvalidParameterError(
                    f"public[{name!r}]['categories'] must be a non-empty list for a categorical "
                    f"column; {name!r} is {kind}"
                )
            checked.setdefault(name, {})["categories"] = categories
    return checked


def private_kinds(
    frame: pd.DataFrame, discrete_columns: Any, metadata: Any
) -> tuple[dict, list | None]:
    """Every column's kind from its dtype and the user's declarations only (never its values).

    Returns the complete ``{column: kind}`` (to pass as ``metadata`` to the usual checks) and
    the declared dependencies (checked by :func:`tvae.privacy.dependencies.split_declared`;
    None where ``metadata`` gives none, and label determinations are then detected).
    Raises for what would copy rows: ID columns.
    """
    declared = Metadata.from_dict(metadata) if metadata is not None else Metadata()
    discrete = set(checked_discrete_columns(discrete_columns))
    kinds = {}
    for name in frame.columns:
        if name in declared:
            kinds[name] = declared[name]
        elif name in discrete:
            kinds[name] = "categorical"
        else:
            kinds[name] = dtype_kind(frame[name])  # the dtype alone: no value
            if kinds[name] == "categorical" and _numbers_as_objects(frame[name]):
                raise InvalidParameterError(
                    f"column {name!r} holds numbers as Python objects (such as Decimal, what "
                    "pandas reads from a Parquet decimal column); with epsilon a kind comes from "
                    f"the dtype alone: convert it first (df[{name!r}] = df[{name!r}].astype(float))"
                    f" or declare it in metadata ({{{name!r}: 'numerical'}})"
                )
        if kinds[name] == "id":
            raise InvalidParameterError(
                f"column {name!r} is an ID column; with epsilon its IDs' format comes from the "
                "data and is not accounted for: drop the column before fit (add fresh IDs to "
                "the synthetic rows), or declare it another kind in metadata"
            )
        if is_duration(frame[name]):
            raise InvalidParameterError(
                f"column {name!r} holds durations; with epsilon convert them to numbers first, "
                f"e.g. pd.to_timedelta(df[{name!r}]).dt.total_seconds()"
            )
        if isinstance(frame[name].dtype, pd.PeriodDtype):
            raise InvalidParameterError(
                f"column {name!r} holds periods; with epsilon convert them to the times they "
                f"start first, e.g. df[{name!r}].dt.to_timestamp()"
            )
        if kinds[name] == "datetime" and not is_datetime64_any_dtype(frame[name].dtype):
            raise InvalidParameterError(
                f"column {name!r} is datetime but not of a datetime64 dtype; with epsilon its "
                f"format cannot be read from its values: convert it with pd.to_datetime first"
            )
    return kinds, declared.dependencies  # None: none declared, so detected (privately)


def _numbers_as_objects(series: pd.Series) -> bool:
    """An object column whose present values are all numbers (Decimal, int, float objects)."""
    if not pd.api.types.is_object_dtype(series.dtype):
        return False
    inferred = pd.api.types.infer_dtype(series.dropna(), skipna=True)
    return inferred in ("decimal", "integer", "floating", "mixed-integer-float")


def can_be_missing(dtype: Any) -> bool:
    """Whether the dtype can hold a missing cell (public: numpy ints and bools cannot)."""
    return not (isinstance(dtype, np.dtype) and dtype.kind in "biu")


def count_mechanisms(
    frame: pd.DataFrame, kinds: Mapping, public: Mapping, n_mappings: int = 0
) -> tuple[int, int]:
    """How many Gaussian mechanisms the statistics take (``n_mappings``: declared
    determinations, one joint histogram each), and how many release names."""
    total, named = n_mappings, 0
    for name, kind in kinds.items():
        spec = public.get(name, {})
        if kind in ("numerical", "datetime"):
            granular = kind == "datetime" or not is_integer_dtype(frame[name].dtype)
            total += 1 + ("bounds" not in spec) + granular
        else:
            total += 1
            named += kind == "categorical" and "categories" not in spec
    return total, named
