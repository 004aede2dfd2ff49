"""Which column model each column kind gets: the dispatch used by :class:`TableTransformer`.

Kinds are those of :mod:`tvae.kinds` ("numerical", "categorical", "boolean", "datetime",
"id"); "continuous" is accepted as another name for "numerical". Two cases override the kind:

* a column with no value at all (every cell missing) becomes a one-category column whose only
  category is its missing marker, so it stays entirely missing in every sample;
* a boolean column holding a single value (always True, say) becomes a categorical column
  with that one slot, so the other value is never generated;
* a categorical column with more than ``MAX_CATEGORIES`` distinct values gets the bounded
  :class:`WideCategoricalColumn`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tvae.errors import InvalidDataError
from tvae.kinds import is_duration
from tvae.transformer.boolean import BooleanColumn
from tvae.transformer.columns import CategoricalColumn, ColumnModel
from tvae.transformer.datetime import DatetimeColumn
from tvae.transformer.dtypes import DtypeInfo
from tvae.transformer.duration import DurationColumn
from tvae.transformer.identifier import IdColumn
from tvae.transformer.numerical import NumericalColumn, to_float
from tvae.transformer.offset_column import OffsetColumn
from tvae.transformer.wide import WideCategoricalColumn, needs_rare_slot

# One class per saved kind: build_column picks among them, column_from_state reads them back.
COLUMN_MODELS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        NumericalColumn, DatetimeColumn, BooleanColumn, IdColumn, CategoricalColumn,
        WideCategoricalColumn, OffsetColumn, DurationColumn,
    )
}  # fmt: skip


def model_kind(kind: str, series: pd.Series) -> str:
    """The key in :data:`COLUMN_MODELS` of the model a column of ``kind`` gets (the overrides
    of the module docstring applied)."""
    if kind in ("numerical", "continuous", "datetime") and series.notna().any():
        if kind == "datetime":
            return DatetimeColumn.kind
        return DurationColumn.kind if is_duration(series) else NumericalColumn.kind
    if kind == "boolean" and (n_values := series.nunique(dropna=True)) > 2:
        shown = series.dropna().unique()[:5].tolist()
        raise InvalidDataError(
            f"column {series.name!r} is declared boolean but holds {n_values} values, such as "
            f"{shown}; declare it 'categorical'"
        )
    if kind == "boolean" and n_values == 2:
        return BooleanColumn.kind
    if kind == "id":
        return IdColumn.kind
    if needs_rare_slot(series):
        return WideCategoricalColumn.kind
    return CategoricalColumn.kind


def build_column(
    name: Any,
    kind: str,
    series: pd.Series,
    sample: pd.Series,
    rng: np.random.Generator,
    *,
    max_clusters: int,
    weight_threshold: float,
    clip: bool,
    point_masses: bool = True,
    scale: str = "linear",
) -> ColumnModel:
    """Fit the column model of ``kind`` on ``series`` (mixtures on ``sample``'s rows); a
    number's or a duration's mixture in the space ``scale`` picks (a date's always linear)."""
    dtype = DtypeInfo.of(series)
    model = COLUMN_MODELS[model_kind(kind, series)]
    if model in (NumericalColumn, DatetimeColumn, DurationColumn):
        options = {"max_clusters": max_clusters, "weight_threshold": weight_threshold, "clip": clip}
        seed = int(rng.integers(2**31 - 1))
        if model is DatetimeColumn:  # seconds since 1970: their log means nothing
            return model.fit(name, dtype, series, sample, seed, **options)
        if model is DurationColumn:
            return model.fit(name, dtype, series, sample, seed, scale=scale, **options)
        return NumericalColumn.fit(
            name, dtype, to_float(series), to_float(sample), seed, find_points=point_masses,
            scale=scale, **options,
        )  # fmt: skip
    # the others fit on every row, never a sample: no category may be lost
    return model.fit(name, dtype, series)


def column_from_state(name: Any, kind: str, dtype: DtypeInfo, state: dict) -> ColumnModel:
    """The column model saved as ``kind`` with ``state``."""
    if kind not in COLUMN_MODELS:
        raise ValueError(f"unknown column kind {kind!r} in model file")
    return COLUMN_MODELS[kind].from_state(name, dtype, state)
