"""Per-column models: how one column becomes spans of the encoded row, and back.

Each column model reports its spans, encodes a Series into ``alphas`` (values of its tanh spans)
and ``codes`` (index inside each of its softmax spans), and decodes them back into a Series of
the column's original dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tvae.transformer.categorical import OneHotEncoder
from tvae.transformer.continuous import ModeNormalizer
from tvae.transformer.dtypes import DtypeInfo


@dataclass
class ContinuousColumn:
    """A number column under mode-specific normalisation: one tanh span + one mode softmax."""

    name: Any
    dtype: DtypeInfo
    normalizer: ModeNormalizer
    kind: ClassVar[str] = "continuous"

    @property
    def spans(self) -> list[tuple[str, int]]:
        return [("tanh", 1), ("softmax", self.normalizer.n_modes)]

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        alphas, modes = self.normalizer.transform(values.to_numpy(dtype=np.float64), rng)
        return alphas[:, None], modes[:, None]

    def inverse(self, alphas: np.ndarray, codes: np.ndarray) -> pd.Series:
        values = self.normalizer.inverse(alphas[:, 0], codes[:, 0])
        return self.dtype.restore_numbers(values, self.name)

    def get_state(self) -> dict:
        return {"normalizer": self.normalizer.get_state()}


@dataclass
class CategoricalColumn:
    """A column of labels: one softmax span over its categories."""

    name: Any
    dtype: DtypeInfo
    encoder: OneHotEncoder
    kind: ClassVar[str] = "categorical"

    @property
    def spans(self) -> list[tuple[str, int]]:
        return [("softmax", self.encoder.n_categories)]

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        codes = self.encoder.transform(values, column=str(self.name))
        return np.empty((len(values), 0), dtype=np.float32), codes[:, None]

    def inverse(self, alphas: np.ndarray, codes: np.ndarray) -> pd.Series:
        return self.dtype.restore_coded_labels(self.encoder.value_table(), codes[:, 0], self.name)

    def get_state(self) -> dict:
        return {"encoder": self.encoder.get_state()}


ColumnModel = Any  # ContinuousColumn, CategoricalColumn or a model of transformer/build.py


def column_from_state(name: Any, kind: str, dtype: DtypeInfo, state: dict) -> ColumnModel:
    from tvae.transformer.boolean import BooleanColumn
    from tvae.transformer.datetime import DatetimeColumn
    from tvae.transformer.identifier import IdColumn
    from tvae.transformer.numerical import NumericalColumn
    from tvae.transformer.wide import WideCategoricalColumn

    real_world = {
        "numerical": NumericalColumn,
        "datetime": DatetimeColumn,
        "boolean": BooleanColumn,
        "id": IdColumn,
        "wide_categorical": WideCategoricalColumn,
    }
    if kind in real_world:
        return real_world[kind].from_state(name, dtype, state)
    if kind == "continuous":
        return ContinuousColumn(name, dtype, ModeNormalizer.from_state(state["normalizer"]))
    if kind == "categorical":
        return CategoricalColumn(name, dtype, OneHotEncoder.from_state(state["encoder"]))
    raise ValueError(f"unknown column kind {kind!r} in model file")
