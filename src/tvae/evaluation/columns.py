"""Column kinds and values as the fidelity metrics read them: which columns are numbers,
times, labels or keys (as ``fit`` reads them), and their values as floats or text labels.

No I/O and no randomness here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KINDS = ("numerical", "categorical", "boolean", "datetime", "id")
_ALIASES = {"continuous": "numerical", "discrete": "categorical", "bool": "boolean"}
CONTINUOUS = frozenset({"numerical", "datetime"})
DISCRETE = frozenset({"categorical", "boolean"})


def infer_kinds(
    data: pd.DataFrame,
    *,
    discrete_columns: list[str] | tuple[str, ...] | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, str]:
    """Return ``{column: kind}``.

    ``metadata`` entries win; columns it does not list are "categorical" when named in
    ``discrete_columns`` and "numerical" otherwise, or, without ``discrete_columns``, follow
    their dtype (bool -> boolean, datetime64 and dates as text -> datetime, numbers and
    durations -> numerical, else categorical), but for keys, read as fit reads them (unique on
    every row, with a key-like name or pattern: ``customer_id``, ``C000123``...), which are
    "id" and skipped. The aliases "continuous", "discrete" and "bool" are accepted.
    """
    columns = list(data.columns)
    if discrete_columns is not None:
        if isinstance(discrete_columns, str):
            raise TypeError("discrete_columns must be a list of column names, not a string")
        unknown = [c for c in discrete_columns if c not in data.columns]
        if unknown:
            raise ValueError(f"discrete_columns names columns not in the data: {unknown}")
        chosen = set(discrete_columns)
        kinds = {c: "categorical" if c in chosen else "numerical" for c in columns}
    else:
        from tvae.kinds import detect_kind, dtype_kind, duration_style  # fit's rules (light)

        kinds = {c: dtype_kind(data[c]) for c in columns}
        for c in columns:
            if kinds[c] == "categorical" and duration_style(data[c]) is not None:
                kinds[c] = "numerical"  # durations as text or objects (a CSV's), as in fit
            elif kinds[c] in ("numerical", "categorical"):
                detected = detect_kind(data[c])
                if detected in ("id", "datetime") or detected == "numerical" != kinds[c]:
                    # a key, fresh in synthetic rows by design: skipped, as in fit; dates as
                    # text (a CSV's) or Python objects: compared as times, and numbers as
                    # objects (Decimal, what pandas reads of a Parquet decimal) as numbers, as
                    # fit models them
                    kinds[c] = detected
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict {{column: kind}}, got {type(metadata)!r}")
        extra = [c for c in metadata if c not in data.columns]
        if extra:
            raise ValueError(f"metadata names columns not in the data: {extra}")
        given = {c: _ALIASES.get(k, k) if isinstance(k, str) else k for c, k in metadata.items()}
        bad = {c: k for c, k in given.items() if k not in KINDS}
        if bad:
            raise ValueError(f"metadata has unknown kinds {bad}; allowed kinds are {KINDS}")
        kinds.update(given)
    return kinds


def _date_format(column: pd.Series) -> str | None:
    """The strftime format of a column of date strings, as fit reads it (day-first dates
    included); None for anything else (pandas then reads it as it can)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return None
    from tvae.kinds import parse_date_strings

    observed = column.dropna()
    if not len(observed) or not all(isinstance(v, str) for v in observed.iloc[:100]):
        return None
    return parse_date_strings(observed)


def to_float(column: pd.Series, kind: str, name: object = None) -> np.ndarray:
    """Return a continuous column as float64 with NaN for missing (datetimes as ns since 1970,
    durations as seconds)."""
    label = name if name is not None else column.name
    if kind == "datetime" or pd.api.types.is_datetime64_any_dtype(column):
        if isinstance(column.dtype, pd.PeriodDtype):  # a period as the time it starts
            column = column.dt.start_time
        try:
            stamps = pd.to_datetime(column, format=_date_format(column))
        except (ValueError, TypeError) as error:
            raise ValueError(_unreadable(label, "datetime", error)) from error
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        nat = stamps.isna().to_numpy()
        values = stamps.to_numpy(dtype="datetime64[ns]").view("int64").astype(np.float64)
        values[nat] = np.nan
        return values
    from tvae.kinds import is_duration

    if is_duration(column):  # durations as seconds, NaT as NaN
        from tvae.transformer.duration import duration_seconds

        return duration_seconds(column)
    try:
        from tvae.transformer.dtypes import float_values

        return float_values(column, errors="raise")
    except (ValueError, TypeError) as error:
        raise ValueError(_unreadable(label, "numerical", error)) from error


def _unreadable(label: object, kind: str, error: Exception) -> str:
    """The error for a column scored as ``kind`` whose values (real or synthetic) are not."""
    return (
        f"column {label!r} is scored as {kind} (declared in metadata, or read from the real "
        f"rows) but: {error}; to score it as labels, pass metadata={{{label!r}: 'categorical'}} "
        "(a private model's rows hold '(other)' where its categories were merged)"
    )


def _label(value: object) -> str:
    # 1.0 and 1 give the same label: a generator may return integer codes as floats
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def category_text(column: pd.Series, missing: object = None) -> np.ndarray:
    """Values as text labels (object array), ``missing`` where absent; one ``str`` per unique."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    labels = np.array([_label(u) for u in uniques] + [missing], dtype=object)
    return labels[codes]  # the sentinel -1 picks ``missing``
