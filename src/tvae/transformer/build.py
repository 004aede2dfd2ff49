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

from collections.abc import Iterable, Mapping
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

MAX_KEY_MODES = 256  # values of a number that determines another, at most: see keyed_numbers

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
    every_value: bool = False,
) -> ColumnModel:
    """Fit the column model of ``kind`` on ``series`` (mixtures on ``sample``'s rows); a
    number's or a duration's mixture in the space ``scale`` picks (a date's always linear);
    with ``every_value``, an exact mode for each value of a number that enough rows hold
    (:func:`keyed_numbers`)."""
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
            scale=scale, every_value=every_value, **options,
        )  # fmt: skip
    # the others fit on every row, never a sample: no category may be lost
    return model.fit(name, dtype, series)


def keyed_numbers(
    determinations: Iterable[Any], kinds: Mapping[Any, str], max_clusters: int
) -> set:
    """Numbers that determine another column, of more values than a mixture has modes
    (``max_clusters``) and at most ``MAX_KEY_MODES``. A sampled one is moved onto the nearest
    value a real row holds (:func:`tvae.transformer.repairs.derive`), so it is a set of labels;
    drawn from a smooth mixture, each value took the rows drawn nearer to it than to any other:
    dietox's ``Pig`` (72 pigs of 12 rows each) gave its ``Evit`` 3 in 46 % of sampled rows
    against 34 % of the real ones. Each value such a number holds in ``POINT_MASS_MIN_ROWS``
    rows gets an exact mode, and is drawn at its own rate. A number of fewer values keeps its
    point masses and mixture (student_placements' ``experience_years``, 4 values: keyed, its
    detection fell from 0.98 to 0.79 over six seeds, for no gain in its rates)."""
    return {
        d.source
        for d in determinations
        if kinds.get(d.source) == "numerical" and max_clusters < len(d.keys) <= MAX_KEY_MODES
    }


def column_from_state(name: Any, kind: str, dtype: DtypeInfo, state: dict) -> ColumnModel:
    """The column model saved as ``kind`` with ``state``."""
    if kind not in COLUMN_MODELS:
        raise ValueError(f"unknown column kind {kind!r} in model file")
    return COLUMN_MODELS[kind].from_state(name, dtype, state)
