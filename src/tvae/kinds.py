"""Column kinds: which model each column gets, inferred from the table and overridable.

``detect_metadata(frame)`` looks at dtypes and values and returns a :class:`Metadata`, a dict
``{column: kind}``. ``TVAE.fit`` runs it, keeps the result as ``model.metadata_`` and accepts a
(partial) override through ``fit(df, metadata={...})``.

Kinds: "numerical", "categorical", "boolean", "datetime" and "id". Detection rules, in order
(the first that matches wins; conservative: a numeric column stays numerical unless listed):

1. a column listed in ``discrete_columns`` is "categorical" (exactly as the reference);
2. ``bool`` / nullable ``boolean`` dtype, or object values that are all ``True``/``False``
   (missing values aside) -> "boolean";
3. ``datetime64`` (naive or timezone-aware) or ``period`` -> "datetime"; strings that all
   parse as dates with one format (e.g. ``2024-01-31``, ``31/01/2024 10:00``) -> "datetime";
   Python ``date`` or ``datetime`` objects -> "datetime";
4. ``category`` dtype -> "categorical";
5. an integer or string column whose values are all present and unique, with at least
   ``ID_MIN_ROWS`` rows, and whose name looks like a key (``id``, ``customer_id``,
   ``PassengerId``, ``key``, ``uuid``, ``No``, ``index``...) or whose strings share one key
   pattern (``C000123``, UUIDs) -> "id";
6. any other numeric column (integers with few distinct values included), a duration
   (``timedelta64``, Python ``timedelta`` objects, or text as pandas writes durations to CSV,
   ``0 days 02:30:00``, or in ISO 8601, ``P0DT2H30M0S``; see :func:`duration_style`), or an
   object column holding only numbers -> "numerical";
7. everything else (strings, mixed objects) -> "categorical".
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_complex_dtype,
    is_datetime64_any_dtype,
    is_integer_dtype,
    is_numeric_dtype,
    is_object_dtype,
    is_string_dtype,
    is_timedelta64_dtype,
)

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidDataTypeError, InvalidParameterError

KINDS = ("numerical", "categorical", "boolean", "datetime", "id")
ALIASES = {"continuous": "numerical", "discrete": "categorical", "bool": "boolean"}
ID_MIN_ROWS = 10  # below this, "every value unique" says nothing about a column being a key
DATE_SAMPLE = 200  # values tried by the date-string probe before parsing the whole column

_KEY_NAME = re.compile(r"(?:^|[^a-z0-9])(id|key|uuid|guid|no|nr|idx|index)$")
_CAMEL_KEY = re.compile(r"[a-z0-9](Id|ID|Key|No|Nr)$")
KEY_PATTERN = re.compile(r"^(\D*?)(\d+)(\D*)$")  # prefix, digits, suffix: "C000123", "id-17"
UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_MIXED = ("mixed", "mixed-integer", "unknown-array")  # what infer_dtype says of containers
_DATE_SHAPE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
# durations as text: pandas' own form (what to_csv writes) and ISO 8601 (Timedelta.isoformat)
_DURATION_SHAPES = {
    "pandas": re.compile(r"^-?\d+ days? [+-]?\d{1,2}:\d{2}:\d{2}(\.\d+)?$"),
    "iso": re.compile(r"^-?P-?\d+DT-?\d+H-?\d+M-?\d+(\.\d+)?S$"),
}


def _encoded(value: Any) -> Any:
    """A dependency's field for JSON: a column name, or a list of them (a one-hot group's)."""
    return [encode_value(v) for v in value] if isinstance(value, list) else encode_value(value)


def _decoded(value: Any) -> Any:
    return [decode_value(v) for v in value] if isinstance(value, list) else decode_value(value)


class Metadata(dict):
    """``{column: kind}`` for every column of a table; a plain dict with JSON helpers.

    ``dependencies`` lists the exact dependencies between columns (``{"type": "determines",
    "source": A, "target": B}``, with ``"source": [A, B]`` where two columns determine B
    together, ``{"type": "order", "low": A, "high": B}``, ``{"type":
    "one_hot", "columns": [A, B, C]}``, with ``"allow_none": true`` where at most one is 1,
    ``{"type": "offset", "base": A, "column": B}``, B modelled as A plus a learned difference,
    ``{"type": "sum", "columns": [A, B], "column": C}``, C = A + B in every row, and
    ``{"type": "linear", "source": A, "target": B, "slope": s, "intercept": c}``, B = s * A + c
    (``"log": true``: s * log A + c), and ``{"type": "cut", "source": A, "target": B,
    "edges": [e1, ...], "labels": [b0, b1, ...]}``, B = b_i where e_i <= A < e_(i+1), and
    ``{"type": "date_part", "source": A, "target": B, "part": "year"}``, B a calendar part of
    the date A, and ``{"type": "curve", "column": C, "sources": [A, B]}``, C drawn from a
    smooth surface of A and B plus a small residual (not exact), ``{"type": "match",
    "columns": [A, B]}``, A = B in many rows, and ``{"type": "rate", "column": R, "part": A,
    "whole": B}``, R = min(A, B) / B in nearly every row; see
    :mod:`tvae.transformer.dependencies`, :mod:`tvae.transformer.offsets`,
    :mod:`tvae.transformer.sums`, :mod:`tvae.transformer.linear`, :mod:`tvae.transformer.cuts`,
    :mod:`tvae.transformer.date_parts` and :mod:`tvae.transformer.near`): those ``fit``
    found, on ``model.metadata_``; those to
    keep instead, on a metadata given to ``fit`` (an empty list keeps none). None: detect them.
    """

    dependencies: list[dict] | None = None

    def to_dict(self) -> dict:
        """JSON-ready form; column names of any type (ints, floats) survive the round trip."""
        data: dict = {"columns": [{"name": encode_value(k), "kind": v} for k, v in self.items()]}
        if self.dependencies is not None:
            data["dependencies"] = [
                {k: v if k == "type" else _encoded(v) for k, v in item.items()}
                for item in self.dependencies
            ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> Metadata:
        """Inverse of :meth:`to_dict`; also accepts ``{column: kind}`` and SDV-style metadata
        (``{"columns": {column: {"sdtype": kind}}}``, whose sdtypes are our kind names)."""
        columns = data.get("columns") if isinstance(data, Mapping) else None
        listed = isinstance(data, Mapping) and isinstance(data.get("dependencies"), list)
        if isinstance(columns, list):
            items = [(decode_value(d["name"]), d["kind"]) for d in columns]
        elif isinstance(columns, Mapping):
            items = [
                (k, v.get("sdtype") if isinstance(v, Mapping) else v) for k, v in columns.items()
            ]
        else:  # {column: kind}, with {"dependencies": [...]} beside them (a list is no kind)
            items = list(dict(data).items())
            items = [(k, v) for k, v in items if not (listed and k == "dependencies")]
        metadata = cls({name: normalise_kind(name, kind) for name, kind in items})
        if isinstance(data, Metadata):
            metadata.dependencies = data.dependencies
        elif data.get("dependencies") is not None and (columns is not None or listed):
            encoded = columns is not None and isinstance(columns, list)
            metadata.dependencies = [
                {k: v if k == "type" or not encoded else _decoded(v) for k, v in item.items()}
                if isinstance(item, Mapping)
                else item
                for item in data["dependencies"]
            ]
        return metadata


def normalise_kind(name: Any, kind: Any) -> str:
    """``kind`` as one of :data:`KINDS` (aliases such as "continuous" accepted)."""
    kind = ALIASES.get(kind, kind) if isinstance(kind, str) else kind
    if kind not in KINDS:
        raise InvalidParameterError(
            f"metadata gives column {name!r} the kind {kind!r}; allowed kinds are {KINDS}"
        )
    return kind


def detect_metadata(frame: pd.DataFrame, discrete_columns: Iterable | None = None) -> Metadata:
    """Infer every column's kind with the rules of the module docstring."""
    discrete = set(discrete_columns or ())
    return Metadata(
        {
            name: "categorical" if name in discrete else detect_kind(frame[name])
            for name in frame.columns
        }
    )


def dtype_kind(series: pd.Series) -> str:
    """The kind a column's dtype alone gives: boolean, datetime, numerical or categorical.

    ``tvae.evaluate`` reads columns by this rule; :func:`detect_kind` starts from it and looks
    at the values where the dtype says little (integer keys, objects, strings).
    """
    dtype = series.dtype
    if is_bool_dtype(dtype):
        return "boolean"
    if is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return "datetime"  # a period (pandas' Period, e.g. a month) as the time it starts
    if is_numeric_dtype(dtype) or is_timedelta_dtype(dtype):  # a duration is a number
        return "numerical"
    return "categorical"


def detect_kind(series: pd.Series) -> str:
    """The kind of one column (rules 2-7 of the module docstring)."""
    dtype = series.dtype
    if is_complex_dtype(dtype):
        raise InvalidDataTypeError(
            f"column {series.name!r} holds complex numbers, which cannot be modelled; "
            "split them into real and imaginary columns"
        )
    kind = dtype_kind(series)
    if kind in ("boolean", "datetime") or isinstance(dtype, pd.CategoricalDtype):
        return kind
    if is_timedelta_dtype(dtype):
        return "numerical"  # durations (tvae.transformer.duration)
    observed = series.dropna()
    if is_numeric_dtype(dtype):
        if is_integer_dtype(dtype) and _looks_like_key(series, observed, by_pattern=False):
            return "id"
        return "numerical"
    if is_object_dtype(dtype) or is_string_dtype(dtype):
        check_cells(series, observed)
        inferred = infer_dtype(observed, skipna=True)  # one C pass over the values
        if inferred == "boolean":
            return "boolean"
        if _duration_style(observed, inferred) is not None:
            return "numerical"  # durations as objects or text (tvae.transformer.duration)
        if inferred == "string" and parse_date_strings(observed) is not None:
            return "datetime"
        if inferred in ("date", "datetime"):
            return "datetime"  # Python date/datetime objects (databases, Arrow, Excel)
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "numerical"  # numbers stored as objects (e.g. an object ndarray)
        if _looks_like_key(series, observed, by_pattern=inferred == "string"):
            return "id"
    return "categorical"


def is_timedelta_dtype(dtype: Any) -> bool:
    """``timedelta64`` or an Arrow duration (``duration[s][pyarrow]``)."""
    return is_timedelta64_dtype(dtype) or (isinstance(dtype, pd.ArrowDtype) and dtype.kind == "m")


def check_cells(series: pd.Series, observed: pd.Series) -> None:
    """Reject cells holding containers (lists, dicts, sets, arrays; Arrow lists, structs and
    maps): they cannot be modelled."""
    arrow = getattr(series.dtype, "pyarrow_dtype", None)
    if arrow is not None and _arrow_nested(arrow):
        raise InvalidDataTypeError(
            f"column {series.name!r} holds nested Arrow values of type {arrow}; flatten them "
            "into scalar columns first (e.g. pandas' Series.struct.explode or list.flatten)"
        )
    if not is_object_dtype(series.dtype) or infer_dtype(observed, skipna=True) not in _MIXED:
        return
    nested = observed.map(lambda v: isinstance(v, (list, dict, set, tuple, np.ndarray)))
    if nested.any():
        example = observed[nested].iloc[0]
        raise InvalidDataTypeError(
            f"column {series.name!r} holds nested objects such as {example!r} "
            f"({type(example).__name__}); flatten them into scalar columns first"
        )


def _arrow_nested(arrow_type: Any) -> bool:
    import pyarrow.types  # only reached for Arrow columns, so pyarrow is there

    return pyarrow.types.is_nested(arrow_type)


def is_duration(series: pd.Series) -> bool:
    """``timedelta64`` values, or Python timedeltas or duration text (:func:`duration_style`)."""
    return is_timedelta_dtype(series.dtype) or duration_style(series) is not None


def duration_style(series: pd.Series) -> str | None:
    """How an object or string column holds durations: "python" (``datetime.timedelta``
    objects), "pandas" (``0 days 02:30:00``) or "iso" (``P0DT2H30M0S``), every present value
    alike; None when it holds something else (and for ``timedelta64`` columns)."""
    if not (is_object_dtype(series.dtype) or is_string_dtype(series.dtype)):
        return None
    observed = series.dropna()
    return _duration_style(observed, infer_dtype(observed, skipna=True))


def _duration_style(observed: pd.Series, inferred: str) -> str | None:
    """:func:`duration_style` of the present values, whose ``infer_dtype`` is ``inferred``."""
    if not len(observed):
        return None
    if inferred == "timedelta":
        return "python"
    if inferred != "string":
        return None
    text = observed.astype(str)
    for style, shape in _DURATION_SHAPES.items():
        if shape.match(text.iloc[0]) and text.str.match(shape).all():
            try:
                pd.to_timedelta(text)
            except (ValueError, OverflowError):
                return None
            return style
    return None


def parse_date_strings(observed: pd.Series) -> str | None:
    """The strftime format every string of ``observed`` follows, or None when they are not dates.

    Only strings shaped like dates (``2024-01-31``, ``31/01/2024``...) are tried, so numbers
    stored as text and codes such as ``"12"`` never turn into datetimes.
    """
    from pandas.tseries.api import guess_datetime_format

    head = observed.iloc[:DATE_SAMPLE].astype(str)
    if not head.str.match(_DATE_SHAPE).all():
        return None
    first = str(head.iloc[0])
    # Month-first is tried before day-first: "01/05/2021" is ambiguous, "13/05/2021" is not.
    for dayfirst in (False, True):
        with warnings.catch_warnings():  # pandas warns when it reads day-first: asked below
            warnings.simplefilter("ignore", UserWarning)
            fmt = guess_datetime_format(first, dayfirst=dayfirst)
        if fmt is None:
            continue
        try:
            pd.to_datetime(observed.astype(str), format=fmt)
        except (ValueError, TypeError, OverflowError):
            continue
        return fmt
    return None


def _looks_like_key(series: pd.Series, observed: pd.Series, *, by_pattern: bool) -> bool:
    """Present and unique on every row, with a key-like name or (strings) a key-like pattern."""
    n_rows = len(series)
    if n_rows < ID_MIN_ROWS or len(observed) != n_rows or not observed.is_unique:
        return False
    name = str(series.name)
    if _KEY_NAME.search(name.lower()) or _CAMEL_KEY.search(name):
        return True
    if not by_pattern:  # only strings are recognised by their pattern
        return False
    values = observed.astype(str)
    if values.str.match(UUID_PATTERN).all():
        return True
    parts = values.str.extract(KEY_PATTERN)
    return bool(parts[1].notna().all() and parts[0].nunique() == 1 and parts[2].nunique() == 1)
