"""Remember a column's input dtype and cast generated values back to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype

from tvae.codec import decode_values, encode_values


@dataclass
class DtypeInfo:
    """The dtype of an input column, in a form that survives JSON."""

    name: str
    categories: list | None = None  # only for pandas "category" columns
    ordered: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, series: pd.Series) -> DtypeInfo:
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return cls("category", list(dtype.categories), bool(dtype.ordered))
        return cls(str(dtype))

    def pandas_dtype(self) -> Any:
        if self.name == "category":
            return pd.CategoricalDtype(self.categories, ordered=self.ordered)
        try:
            return pd.api.types.pandas_dtype(self.name)
        except TypeError:
            return np.dtype(object)

    def restore_numbers(self, values: np.ndarray, name: Any) -> pd.Series:
        """Cast generated floats to the input dtype (integers are rounded and kept in range)."""
        dtype = self.pandas_dtype()
        if is_integer_dtype(dtype):
            info = np.iinfo(getattr(dtype, "numpy_dtype", dtype))  # Int64 -> int64
            values = np.clip(np.round(values), info.min, info.max)
        return pd.Series(values, name=name).astype(dtype)

    def restore_labels(self, values: np.ndarray, name: Any) -> pd.Series:
        """Cast generated category values (object array) to the input dtype."""
        series = pd.Series(values, name=name, dtype=object)
        try:
            return series.astype(self.pandas_dtype())
        except (TypeError, ValueError):
            return series

    def restore_coded_labels(self, table: np.ndarray, codes: np.ndarray, name: Any) -> pd.Series:
        """Like :meth:`restore_labels` for ``table[codes]``, casting only the distinct values.

        Converting the small table once and then taking by code costs one gather per row,
        where casting every generated value (e.g. to Arrow-backed strings) costs far more.
        """
        codes = np.asarray(codes, dtype=np.int64)
        used = np.bincount(codes, minlength=len(table)) > 0  # cast only what is generated
        renumbered = np.cumsum(used) - 1
        converted = self.restore_labels(np.asarray(table, dtype=object)[used], name)
        taken = converted.array.take(renumbered[codes])
        return pd.Series(taken, name=name, dtype=converted.dtype)

    def get_state(self) -> dict:
        state: dict = {"name": self.name}
        if self.categories is not None:
            state["categories"] = encode_values(self.categories)
            state["ordered"] = self.ordered
        return state

    @classmethod
    def from_state(cls, state: dict) -> DtypeInfo:
        categories = state.get("categories")
        return cls(
            state["name"],
            decode_values(categories) if categories is not None else None,
            bool(state.get("ordered", False)),
        )
