"""The column interface: how one column becomes spans of the encoded row, and back.

Every column model (one class per kind, registered in :data:`tvae.transformer.build.COLUMN_MODELS`)
follows :class:`ColumnModel`: it reports its spans, encodes a Series into ``alphas`` (values of
its tanh spans) and ``codes`` (index inside each of its softmax spans), decodes them back into a
Series of the column's original dtype, and gives and takes its state as JSON. The plain
categorical column lives here; the others have a module each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from tvae.transformer.categorical import OneHotEncoder
from tvae.transformer.dtypes import DtypeInfo


@dataclass(frozen=True)
class Draws:
    """The random sources of decoding, for the few columns that draw: ``rng`` for values (rare
    categories), ``id_rng`` for UUID keys, which number rows from ``id_offset``."""

    rng: np.random.Generator
    id_rng: np.random.Generator
    id_offset: int = 0


class ColumnModel(Protocol):
    """What :class:`tvae.transformer.TableTransformer` asks of a column model."""

    name: Any
    dtype: DtypeInfo
    kind: ClassVar[str]  # the key of the class in COLUMN_MODELS, saved with its state

    @property
    def spans(self) -> list[tuple]:
        """``(kind, width[, role])`` of each span, in order: "tanh" (width 1) or "softmax";
        the role "missing" marks a column's "is this cell missing?" span (``MISSING_SPAN``)."""

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``values`` as alphas (N, n_tanh) and codes (N, n_softmax)."""

    def inverse(self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None) -> Any:
        """The Series that ``alphas`` and ``codes`` encode."""

    def get_state(self) -> dict:
        """JSON-ready state, read back by the class's ``from_state(name, dtype, state)``."""


@dataclass
class CategoricalColumn:
    """A column of labels: one softmax span over its categories."""

    name: Any
    dtype: DtypeInfo
    encoder: OneHotEncoder
    kind: ClassVar[str] = "categorical"

    @classmethod
    def fit(cls, name: Any, dtype: DtypeInfo, series: pd.Series) -> CategoricalColumn:
        return cls(name, dtype, OneHotEncoder.fit(series))

    @property
    def spans(self) -> list[tuple[str, int]]:
        return [("softmax", self.encoder.n_categories)]

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        codes = self.encoder.transform(values, column=str(self.name))
        return np.empty((len(values), 0), dtype=np.float32), codes[:, None]

    def inverse(
        self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None
    ) -> pd.Series:
        return self.dtype.restore_coded_labels(self.encoder.value_table(), codes[:, 0], self.name)

    def get_state(self) -> dict:
        return {"encoder": self.encoder.get_state()}

    @classmethod
    def from_state(cls, name: Any, dtype: DtypeInfo, state: dict) -> CategoricalColumn:
        return cls(name, dtype, OneHotEncoder.from_state(state["encoder"]))
