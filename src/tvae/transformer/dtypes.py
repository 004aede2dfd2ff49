"""Remember a column's input dtype and cast generated values back to it.

Most dtypes are kept by name (``"Int64"``, ``"timestamp[us, tz=UTC][pyarrow]"``). An Arrow type
whose name pandas cannot parse back (``decimal128(10, 2)``, a dictionary) is kept as its Arrow
schema (the IPC bytes, base64: data, not code). A column of Python ``Decimal`` objects (what
pandas reads from a Parquet decimal column) comes back as ``Decimal`` objects.
"""

from __future__ import annotations

import base64
import decimal
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype, is_numeric_dtype

from tvae.codec import decode_values, encode_values


@dataclass
class DtypeInfo:
    """The dtype of an input column, in a form that survives JSON."""

    name: str
    categories: list | None = None  # only for pandas "category" columns
    ordered: bool = False
    extra: dict = field(default_factory=dict)
    arrow: str | None = None  # an Arrow type its name does not give back: its schema, base64
    decimals: bool = False  # an object column of decimal.Decimal values

    @classmethod
    def of(cls, series: pd.Series) -> DtypeInfo:
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return cls("category", list(dtype.categories), bool(dtype.ordered))
        if isinstance(dtype, pd.ArrowDtype) and not _named(dtype):
            return cls(str(dtype), arrow=_arrow_schema(dtype.pyarrow_dtype))
        if pd.api.types.is_object_dtype(dtype) and _all_decimals(series):
            return cls("object", decimals=True)
        return cls(str(dtype))

    def pandas_dtype(self) -> Any:
        if self.name == "category":
            return pd.CategoricalDtype(self.categories, ordered=self.ordered)
        if self.arrow is not None:
            return pd.ArrowDtype(_arrow_type(self.arrow))
        try:
            dtype = pd.api.types.pandas_dtype(self.name)
        except TypeError:
            return np.dtype(object)
        # pandas 3's text dtype "str", read by pandas 2, is numpy's fixed-width text, whose
        # cast writes a missing label as the text "nan" (a model saved on pandas 3 and loaded
        # on pandas 2 sampled titanic's embarked as "nan"): text columns there are objects
        return np.dtype(object) if isinstance(dtype, np.dtype) and dtype.kind in "US" else dtype

    def restore_numbers(self, values: np.ndarray, name: Any) -> pd.Series:
        """Cast generated floats to the input dtype (integers are rounded and kept in range;
        decimals are rounded to their scale and come back as decimals)."""
        dtype = self.pandas_dtype()
        if is_integer_dtype(dtype):
            info = np.iinfo(getattr(dtype, "numpy_dtype", dtype))  # Int64 -> int64
            values = np.clip(np.round(values), info.min, info.max)
        arrow = getattr(dtype, "pyarrow_dtype", None)
        if arrow is not None and hasattr(arrow, "scale"):  # an Arrow decimal
            import pyarrow as pa

            rounded = pa.array(np.round(values, arrow.scale), from_pandas=True)
            return pd.Series(rounded.cast(arrow), name=name, dtype=dtype)
        if self.decimals:
            cells = [None if np.isnan(v) else decimal.Decimal(repr(float(v))) for v in values]
            return pd.Series(cells, name=name, dtype=object)
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
        if self.arrow is not None:
            state["arrow"] = self.arrow
        if self.decimals:
            state["decimals"] = True
        return state

    @classmethod
    def from_state(cls, state: dict) -> DtypeInfo:
        categories = state.get("categories")
        return cls(
            state["name"],
            decode_values(categories) if categories is not None else None,
            bool(state.get("ordered", False)),
            arrow=state.get("arrow"),
            decimals=bool(state.get("decimals", False)),
        )


def float_values(series: pd.Series, errors: str = "coerce") -> np.ndarray:
    """A column's numbers as float64 (N,), missing cells NaN: ``pd.to_numeric`` (``errors`` as
    there), but Arrow numbers are read directly (to_numeric fails on an Arrow decimal column
    with nulls)."""
    if isinstance(series.dtype, pd.ArrowDtype) and is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = pd.to_numeric(series, errors=errors)
    return pd.Series(numbers).to_numpy(dtype=np.float64, na_value=np.nan)


def _named(dtype: pd.ArrowDtype) -> bool:
    """Whether pandas gives ``dtype`` back from its name (not a decimal, a dictionary...)."""
    try:
        return pd.api.types.pandas_dtype(str(dtype)) == dtype
    except (TypeError, ValueError, NotImplementedError):
        return False


def _arrow_schema(arrow_type: Any) -> str:
    import pyarrow as pa

    schema = pa.schema([pa.field("value", arrow_type)])
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def _arrow_type(encoded: str) -> Any:
    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded))).field("value").type


def _all_decimals(series: pd.Series) -> bool:
    """Whether every present value of an object column is a ``decimal.Decimal``."""
    present = series.dropna()
    return bool(len(present)) and pd.api.types.infer_dtype(present, skipna=True) == "decimal"
