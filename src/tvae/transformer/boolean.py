"""A boolean column (``bool``, nullable ``boolean``, or objects that are all True/False).

One softmax span: False, True and, when the column has gaps, a third slot "missing", so the
missing rate is learned with the rest of the row. Values come back as the input's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tvae.errors import InvalidDataError
from tvae.transformer.columns import Draws
from tvae.transformer.dtypes import DtypeInfo
from tvae.transformer.missing import decode_marker, encode_marker, missing_marker


@dataclass
class BooleanColumn:
    """False -> 0, True -> 1, missing -> 2 (only when the column has missing values)."""

    name: Any
    dtype: DtypeInfo
    has_missing: bool = False
    marker: Any = None
    kind: ClassVar[str] = "boolean"

    @classmethod
    def fit(cls, name: Any, dtype: DtypeInfo, series: pd.Series) -> BooleanColumn:
        column = cls(name, dtype, bool(series.isna().any()), missing_marker(series))
        column.transform(series, np.random.default_rng(0))  # checks the values, raises early
        return column

    @property
    def spans(self) -> list[tuple[str, int]]:
        return [("softmax", 3 if self.has_missing else 2)]

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        missing = values.isna().to_numpy(dtype=bool)
        present = pd.Series(values, dtype=object)[~missing]
        truth = present.map(
            lambda v: v is True or v is np.True_ or (not isinstance(v, str) and v == 1)
        )
        falsity = present.map(
            lambda v: v is False or v is np.False_ or (not isinstance(v, str) and v == 0)
        )
        if not (truth | falsity).all():
            bad = present[~(truth | falsity)].unique()[:5].tolist()
            raise InvalidDataError(
                f"column {self.name!r} is declared boolean but holds {bad}; declare it categorical"
            )
        if missing.any() and not self.has_missing:
            raise InvalidDataError(f"column {self.name!r} has missing values but had none in fit")
        codes = np.full(len(values), 2, dtype=np.int64)
        codes[~missing] = truth.to_numpy(dtype=bool).astype(np.int64)
        return np.empty((len(values), 0), dtype=np.float32), codes[:, None]

    def inverse(
        self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None
    ) -> pd.Series:
        labels = np.array([False, True, self.marker], dtype=object)
        return self.dtype.restore_coded_labels(labels, codes[:, 0], self.name)

    def get_state(self) -> dict:
        return {"has_missing": self.has_missing, "marker": encode_marker(self.marker)}

    @classmethod
    def from_state(cls, name: Any, dtype: DtypeInfo, state: dict) -> BooleanColumn:
        return cls(name, dtype, bool(state["has_missing"]), decode_marker(state["marker"]))
