"""What ``fit`` receives: input adapters (DataFrame, ndarray, Arrow, Polars) and the checks of
the table's columns, with the resolution of every column's kind (hints first, then detection by
:mod:`tvae.kinds`)."""

from __future__ import annotations

import base64
import sys
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_complex_dtype,
    is_numeric_dtype,
)

from tvae.errors import (
    InvalidDataError,
    InvalidDataTypeError,
    InvalidParameterError,
)
from tvae.kinds import Metadata, check_cells, detect_kind

MAX_MAGNITUDE = 1e150  # a number beyond it overflows float64 once squared (variances)


@dataclass(frozen=True)
class InputInfo:
    """What kind of object ``fit`` received, so ``sample`` can return the same kind."""

    kind: str  # "dataframe" | "ndarray" | "pyarrow" | "polars"
    array_dtype: str | None = None
    arrow_schema: str | None = None  # base64 IPC schema of an Arrow/polars input, to cast back to

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "array_dtype": self.array_dtype,
            "arrow_schema": self.arrow_schema,
        }

    @classmethod
    def from_dict(cls, data: dict) -> InputInfo:
        return cls(data["kind"], data.get("array_dtype"), data.get("arrow_schema"))

    def convert(self, frame: pd.DataFrame) -> Any:
        """``frame`` as the kind of object ``fit`` received (ndarray, pyarrow or polars table)."""
        if self.kind == "ndarray":
            return frame.to_numpy(dtype=np.dtype(self.array_dtype))
        if self.kind == "pyarrow":
            return frame_to_arrow(frame, self.arrow_schema)
        if self.kind == "polars":
            import polars as pl

            return pl.from_arrow(frame_to_arrow(frame, self.arrow_schema))
        return frame


def to_frame(train_data: Any) -> tuple[pd.DataFrame, InputInfo]:
    """Accept a DataFrame, a 2-D ndarray, a pyarrow Table or a polars DataFrame.

    pyarrow and polars are optional: their tables are recognised only when the library is
    already imported by the caller, and are converted to pandas (integer and boolean columns
    with gaps become nullable ``Int64``/``boolean``, not floats or objects).
    """
    if isinstance(train_data, pd.DataFrame):
        frame, info = train_data, InputInfo("dataframe")
    elif _is_arrow_table(train_data):
        info = InputInfo("pyarrow", None, _schema_text(train_data))
        frame = arrow_to_frame(train_data)
    elif _is_polars_frame(train_data):
        arrow = train_data.to_arrow()
        frame, info = arrow_to_frame(arrow), InputInfo("polars", None, _schema_text(arrow))
    elif isinstance(train_data, np.ndarray):
        if train_data.ndim != 2:
            raise InvalidDataError(
                f"train_data must be a 2-D array (rows x columns), got an array of shape "
                f"{train_data.shape}; reshape it, e.g. data.reshape(-1, 1) for one column"
            )
        frame, info = pd.DataFrame(train_data), InputInfo("ndarray", str(train_data.dtype))
    else:
        raise InvalidDataTypeError(
            "train_data must be a pandas DataFrame, a 2-D numpy array, a pyarrow Table or a "
            "polars DataFrame, got "
            f"{type(train_data).__name__}"
        )
    if frame.shape[1] == 0:
        raise InvalidDataError("train_data has no columns; give a table with at least one column")
    if frame.shape[0] == 0:
        raise InvalidDataError("train_data has no rows; give a table with at least one row")
    if isinstance(frame.columns, pd.MultiIndex):
        first = tuple(v.item() if isinstance(v, np.generic) else v for v in frame.columns[0])
        raise InvalidDataError(
            f"train_data has column names of {frame.columns.nlevels} levels, such as "
            f"{first!r}; give it one name per column, e.g. "
            "df.columns = ['_'.join(map(str, name)) for name in df.columns]"
        )
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        raise InvalidDataError(f"train_data has duplicate column names {duplicated}; rename them")
    return frame, info


def checked_discrete_columns(discrete_columns: Any) -> list:
    """``discrete_columns`` as a list, or a clear error where it is not a list of names (a
    string, ``None``, a number): every fit path checks it here before reading the data."""
    if isinstance(discrete_columns, (str, bytes)) or not isinstance(discrete_columns, Iterable):
        raise InvalidDataTypeError(
            "discrete_columns must be a list of column names (or of integer indices for an "
            f"array), got {discrete_columns!r}"
        )
    return list(discrete_columns)


def resolve_kinds(
    frame: pd.DataFrame, discrete_columns: Any, info: InputInfo, metadata: Any = None
) -> Metadata:
    """Map every column to its kind (see :mod:`tvae.kinds`): hints first, then detection.

    Columns in ``discrete_columns`` are categorical, exactly as given; ``metadata`` (a partial or
    complete ``{column: kind}``) fixes other columns; the rest are detected from the data.
    """
    discrete = checked_discrete_columns(discrete_columns)
    columns = list(frame.columns)
    unknown = [c for c in discrete if c not in columns]
    if unknown:
        what = "integer column indices in range" if info.kind == "ndarray" else "column names of"
        # "Invalid columns found: ..." as the reference's CTGAN words it (a set for a frame)
        found = unknown if info.kind == "ndarray" else set(unknown)
        raise InvalidDataError(
            f"Invalid columns found: {found}: discrete_columns names columns not in train_data; "
            f"use {what} train_data (columns: {columns[:20]}{'...' if len(columns) > 20 else ''})"
        )
    overrides = _metadata_overrides(metadata, columns, discrete)
    kinds = Metadata()
    kinds.dependencies = overrides.dependencies  # None: ``fit`` detects them
    for name in columns:
        series = frame[name]
        if is_complex_dtype(series.dtype):
            raise InvalidDataTypeError(
                f"column {name!r} holds complex numbers, which cannot be modelled; "
                "split them into real and imaginary columns"
            )
        check_cells(series, series.dropna())
        if name in overrides:
            kinds[name] = overrides[name]
        elif name in discrete:
            kinds[name] = "categorical"
        else:
            kinds[name] = detect_kind(series)
    if all(kind == "id" for kind in kinds.values()):
        raise InvalidDataError(
            f"every column of train_data is an ID column ({list(kinds)}); there is nothing to "
            "learn: declare some of them with another kind in metadata, or add columns"
        )
    return kinds


def _metadata_overrides(metadata: Any, columns: list, discrete: list) -> Metadata:
    """The user's ``metadata`` argument, checked against the columns and ``discrete_columns``."""
    if metadata is None:
        return Metadata()
    if not isinstance(metadata, Mapping):
        raise InvalidDataTypeError(
            "metadata must be a dict {column: kind} (or a Metadata from model.metadata_), "
            f"got {type(metadata).__name__}"
        )
    overrides = Metadata.from_dict(metadata)
    unknown = [c for c in overrides if c not in columns]
    if unknown:
        raise InvalidDataError(
            f"metadata names columns not in train_data: {unknown}; "
            f"use column names of train_data (columns: {columns[:20]})"
        )
    conflicts = {
        c: overrides[c] for c in discrete if overrides.get(c, "categorical") != "categorical"
    }
    if conflicts:
        raise InvalidParameterError(
            f"columns {list(conflicts)} are listed in discrete_columns but metadata gives them "
            f"the kinds {conflicts}; drop them from one of the two"
        )
    return overrides


def check_continuous_values(frame: pd.DataFrame, kinds: Mapping[Hashable, str]) -> None:
    """Numerical columns must not hold infinite values (missing values are modelled).

    Infinity is rejected rather than handled: it has no place on a scale the networks learn,
    and replacing it silently (by the max, or by a missing value) would change the data.
    """
    for name, kind in kinds.items():
        if kind not in ("numerical", "continuous"):
            continue
        series = frame[name]
        if not is_numeric_dtype(series.dtype) or is_bool_dtype(series.dtype):
            continue
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            raise InvalidDataError(
                f"numerical column {name!r} has {n_inf} infinite values; replace them "
                f"(e.g. df[{name!r}].replace([np.inf, -np.inf], np.nan) to model them as missing)"
            )
        largest = float(np.nanmax(np.abs(values), initial=0.0))
        if largest > MAX_MAGNITUDE:
            raise InvalidDataError(
                f"numerical column {name!r} holds values as large as {largest:.3g}; their "
                f"squares overflow while fitting: rescale it first (e.g. df[{name!r}] / "
                f"{largest:.0e}) and scale the synthetic column back"
            )


def _is_arrow_table(data: Any) -> bool:
    module = sys.modules.get("pyarrow")
    return module is not None and isinstance(data, module.Table)


def _is_polars_frame(data: Any) -> bool:
    module = sys.modules.get("polars")
    return module is not None and isinstance(data, module.DataFrame)


def _schema_text(table: Any) -> str:
    return base64.b64encode(table.schema.serialize().to_pybytes()).decode("ascii")


def arrow_to_frame(table: Any) -> pd.DataFrame:
    """A pyarrow Table as pandas, keeping integers with gaps as ``Int64`` (not float)."""
    import pyarrow as pa

    nullable = {
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
    }  # fmt: skip
    gappy = {f.name for f, c in zip(table.schema, table.columns, strict=True) if c.null_count}
    frame = table.to_pandas(date_as_object=False, types_mapper=None)
    for field in table.schema:
        if field.name in gappy and field.type in nullable:
            frame[field.name] = table.column(field.name).to_pandas(types_mapper=nullable.get)
    return frame


def frame_to_arrow(frame: pd.DataFrame, schema_text: str | None) -> Any:
    """A generated frame as a pyarrow Table, cast to the schema ``fit`` received."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if schema_text is None:
        return table
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(schema_text)))
    return table.cast(schema.remove_metadata(), safe=False)
