"""Command-line values turned into library arguments: paths, --discrete, --metadata, --where.

Kept apart from :mod:`tvae.cli` so that the parsing rules can be read (and tested) on their own.
Every error names the option and the value at fault and says what to give instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_float_dtype,
    is_integer_dtype,
)

from tvae.errors import InvalidParameterError
from tvae.kinds import Metadata

CATEGORICAL_KINDS = {"categorical", "discrete"}
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "1", "t", "y"}, {"false", "no", "0", "f", "n"}


def check_input(path: Path, what: str) -> None:
    """An input path must exist (checked before any long work)."""
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")


def check_model_output(path: Path) -> None:
    """A model can be written to ``path``: not a folder, and its folder can be created."""
    if path.is_dir():
        raise IsADirectoryError(f"cannot save the model to {str(path)!r}: it is a folder")
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(f"cannot save the model under {str(path.parent)!r}: not a folder")


SEP_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def parse_sep(sep: str | None) -> str | None:
    """``--sep``: one character, or ``tab``/``\\t``, ``comma``, ``semicolon``, ``pipe``."""
    if sep is None:
        return None
    value = SEP_NAMES.get(sep.lower(), sep)
    if len(value) != 1:
        raise InvalidParameterError(
            f"--sep {sep!r} must be one character (e.g. ';' or '|') or 'tab'"
        )
    return value


SWITCH_NAMES = {"auto": "auto", "on": True, "off": False}


def parse_switch(option: str, value: str) -> str | bool:
    """An auto/on/off option (``--refine``, ``--quantile-map``) as ``TVAE`` takes it."""
    if value.lower() not in SWITCH_NAMES:
        raise InvalidParameterError(f"{option} {value!r} must be auto, on or off")
    return SWITCH_NAMES[value.lower()]


def fresh_seed() -> int:
    """A new seed from OS entropy (never the global RNG), printed so a run can be repeated."""
    return int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])


def read_kinds_file(path: Path) -> Metadata:
    """Column kinds, and the exact dependencies to keep, from a JSON file.

    Accepted: ``{"col": "categorical", ...}``; SDV metadata (``{"columns": {"col": {"sdtype":
    "categorical"}}}``, optionally inside a single-table ``{"tables": {...}}``), read as is so
    users can reuse the files they have; and tvae's own form (``model.metadata_.to_dict()``,
    whose ``"columns"`` is a list of ``{"name", "kind"}``). Beside ``"columns"``, a
    ``"dependencies"`` list (``{"type": "determines", "source": A, "target": B}``, ``{"type":
    "order", "low": A, "high": B}``; ``[]`` keeps none) is kept as ``fit`` reads it.
    """
    check_input(path, "metadata file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidParameterError(
            f"metadata file {str(path)!r} is not valid JSON: {error}"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("tables"), dict):
        if len(data["tables"]) != 1:
            raise InvalidParameterError(
                f"metadata file {str(path)!r} describes {len(data['tables'])} tables; "
                "give the metadata of exactly one table"
            )
        data = next(iter(data["tables"].values()))
    dependencies = data.get("dependencies") if isinstance(data, dict) else None
    if dependencies is not None and not isinstance(dependencies, list):
        raise InvalidParameterError(
            f"metadata file {str(path)!r}: 'dependencies' must be a list of "
            "{'type': 'determines', 'source': A, 'target': B} or {'type': 'order', 'low': A, "
            f"'high': B}}, got {dependencies!r}"
        )
    if isinstance(data, dict) and isinstance(data.get("columns"), list):
        try:
            data = Metadata.from_dict(data)
        except (KeyError, TypeError):
            raise InvalidParameterError(
                f"metadata file {str(path)!r}: a 'columns' list holds {{'name': ..., 'kind': "
                "...}} items (the form model.metadata_.to_dict() writes)"
            ) from None
        dependencies = data.dependencies
    elif isinstance(data, dict) and isinstance(data.get("columns"), dict):
        data = data["columns"]
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"metadata file {str(path)!r} must hold a JSON object mapping columns to kinds"
        )
    kinds = Metadata()
    for column, value in data.items():
        kind = value.get("sdtype") if isinstance(value, dict) else value
        if not isinstance(kind, str):
            raise InvalidParameterError(
                f"metadata file {str(path)!r}: column {column!r} has no kind (got {value!r}); "
                "use 'categorical' or 'numerical'"
            )
        kinds[str(column)] = kind.lower()
    kinds.dependencies = dependencies
    return kinds


DEPENDENCY_FIELDS = ("source", "target", "low", "high", "columns")  # "columns": one-hot groups


def _listed(value: Any) -> list:
    return list(value) if isinstance(value, list) else [value]


def _named(names: dict, value: Any) -> Any:
    """A dependency's column name (or list of them, a one-hot group's) as the table names it."""
    if isinstance(value, list):
        return [names[str(v)] for v in value]
    return names[str(value)]


def parse_columns(
    discrete: list[str] | None, kinds: Metadata | None, frame: pd.DataFrame
) -> tuple[list[Any], Metadata | None]:
    """``fit``'s ``discrete_columns`` and ``metadata`` from ``--discrete a,b`` and a kinds file
    (None: no file, and ``metadata`` None too).

    Names (those the dependencies give included) are checked against the table here, so a typo
    fails before the table is learned.
    """
    kinds = kinds if kinds is not None else Metadata()
    names = {str(c): c for c in frame.columns}
    listed = [c.strip() for item in discrete or [] for c in item.split(",") if c.strip()]
    dependencies = kinds.dependencies
    named = [
        str(name) for item in dependencies or [] if isinstance(item, dict)
        for f in DEPENDENCY_FIELDS if f in item for name in _listed(item[f])
    ]  # fmt: skip
    unknown = [c for c in [*listed, *kinds, *named] if c not in names]
    if unknown:
        raise InvalidParameterError(
            f"--discrete/--metadata name columns not in the data: {unknown}; the columns are "
            f"{list(names)[:20]}{'...' if len(names) > 20 else ''}"
        )
    clash = [c for c in listed if kinds.get(c, "categorical") not in CATEGORICAL_KINDS]
    if clash:
        raise InvalidParameterError(
            f"columns {clash} are in --discrete but have another kind in --metadata; choose one"
        )
    columns = [names[c] for c in dict.fromkeys(listed)]
    metadata = Metadata({names[c]: kind for c, kind in kinds.items()})
    if dependencies is not None:
        metadata.dependencies = [
            {k: _named(names, v) if k in DEPENDENCY_FIELDS else v for k, v in item.items()}
            if isinstance(item, dict)
            else item
            for item in dependencies
        ]
    return columns, metadata if metadata or dependencies is not None else None


@dataclass(frozen=True)
class _Indicator:
    """A one-hot group's member as ``--where`` reads it: a name and a numpy dtype."""

    name: Any
    dtype_name: str

    @property
    def dtype(self) -> Any:
        return self

    def pandas_dtype(self) -> np.dtype:
        return np.dtype(self.dtype_name)


def _column_models(model: Any) -> dict[str, Any]:
    """The model's columns by name as text; a one-hot group's members, not its label."""
    groups = model.transformer_.dependencies.groups
    members = {
        str(m): _Indicator(m, dtype)
        for g in groups
        for m, dtype in zip(g.members, g.dtypes, strict=True)
    }
    labels = {g.label for g in groups}
    models = {str(c.name): c for c in model.transformer_.columns if c.name not in labels}
    return {**models, **members}


def parse_where(items: list[str], model: Any) -> dict[Any, Any]:
    """``["sex=Female", "age=30..40"]`` -> ``{"sex": "Female", "age": (30, 40)}``.

    Values are read with the column's dtype as the model learned it (numbers, booleans, dates),
    and a text value matches a category that differs only by surrounding spaces.
    """
    columns = _column_models(model)
    conditions: dict[Any, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidParameterError(
                f"--where {item!r} must look like column=value or column=low..high"
            )
        if name not in columns:
            raise InvalidParameterError(
                f"--where {item!r}: the model has no column {name!r}; its columns are "
                f"{list(columns)[:20]}"
            )
        column = columns[name]
        if column.name in conditions:  # the second would silently replace the first
            raise InvalidParameterError(
                f"--where names {name!r} twice ({item!r} and an earlier one); give one "
                "condition per column (a range: column=low..high)"
            )
        low, dots, high = text.partition("..")
        if dots and low.strip() and high.strip():
            value: Any = (_parse_value(item, column, low), _parse_value(item, column, high))
            _check_order(item, name, *value)
        else:
            value = _parse_value(item, column, text)
        conditions[column.name] = value
    return conditions


def _check_order(item: str, name: str, low: Any, high: Any) -> None:
    """A range ``low..high`` must not have low above high."""
    try:
        reversed_range = bool(low > high)
    except TypeError:  # values that do not compare (text): the library judges them
        return
    if reversed_range:
        raise InvalidParameterError(
            f"--where {item!r}: for column {name!r} the low end {low!r} is above the high end "
            f"{high!r}; write it as {name}={high}..{low}"
        )


def _parse_value(item: str, column: Any, text: str) -> Any:
    dtype_info = getattr(column, "dtype", None)
    try:
        dtype = dtype_info.pandas_dtype() if dtype_info is not None else np.dtype(object)
    except (AttributeError, TypeError, ValueError):
        dtype = np.dtype(object)
    stripped = text.strip()
    try:
        if is_bool_dtype(dtype):
            if stripped.lower() in TRUE_WORDS | FALSE_WORDS:
                return stripped.lower() in TRUE_WORDS
            raise ValueError(text)
        if is_integer_dtype(dtype):
            number = float(stripped)
            return int(number) if number.is_integer() else number
        if is_float_dtype(dtype):
            return float(stripped)
        if is_datetime64_any_dtype(dtype):
            return pd.Timestamp(stripped)
    except ValueError:
        raise InvalidParameterError(
            f"--where {item!r}: column {str(column.name)!r} holds {dtype} values, and {text!r} "
            "is not one"
        ) from None
    return _match_category(column, text)


def _match_category(column: Any, text: str) -> Any:
    """The learned category ``text`` names, allowing for surrounding spaces; else ``text``."""
    categories = getattr(getattr(column, "encoder", None), "categories", None)
    if not categories:
        return text
    if text in categories:
        return text
    matches = [c for c in categories if isinstance(c, str) and c.strip() == text.strip()]
    if len(matches) == 1:
        return matches[0]
    numeric = [c for c in categories if isinstance(c, (int, float)) and not isinstance(c, bool)]
    if numeric:
        try:
            number = float(text)
        except ValueError:
            return text
        for category in numeric:
            if category == number:
                return category
    return text


def conditional_chunks(
    model: Any, n: int, chunk_rows: int, conditions: dict, seed: int
) -> Iterator[pd.DataFrame]:
    """``n`` rows meeting ``conditions``, ``chunk_rows`` at a time, reproducible from ``seed``.

    Checked now (support for conditions, and the conditions themselves on one row), before
    any output file is started.
    """
    import inspect

    if "conditions" not in inspect.signature(model.sample).parameters:
        raise InvalidParameterError(
            "--where needs conditional sampling, which this version of tvae does not support"
        )
    from tvae.transformer.identifier import seeded_id_offset

    n_chunks = max(-(-n // chunk_rows), 1)
    seeds = np.random.SeedSequence(seed).generate_state(n_chunks, dtype=np.uint32)
    model.sample(1, conditions=conditions, random_state=int(seeds[0]))
    # ID columns are numbered through the whole output, as by ``tvae sample`` without --where
    return _conditional_iter(model, n, chunk_rows, conditions, seeds, seeded_id_offset(seed))


def _conditional_iter(
    model: Any, n: int, chunk_rows: int, conditions: dict, seeds: np.ndarray, first_id: int
) -> Iterator[pd.DataFrame]:
    from tvae.sampling import seeded_chunks

    columns = list(model.feature_names_in_)
    chunks = seeded_chunks(model, 0, n, chunk_rows, seeds, first_id, conditions=conditions)
    for start, rows in chunks:
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=columns)
        frame.index = pd.RangeIndex(start, start + len(frame))
        yield frame
