"""One-hot encoding of a categorical column (categories in order of first appearance)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tvae.codec import decode_value, decode_values, encode_value, encode_values
from tvae.errors import InvalidDataError


@dataclass
class OneHotEncoder:
    """Maps each category to an index.

    Missing values (None, NaN, pd.NA, NaT) form one category of their own, placed where the
    first missing value appeared, and are given back as the marker the column used.
    """

    categories: list  # observed values, in order of first appearance; the missing slot holds None
    missing_index: int | None = None
    missing_value: Any = None

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    @classmethod
    def fit(cls, values: pd.Series) -> OneHotEncoder:
        values = pd.Series(values, dtype=object)
        missing = values.isna().to_numpy()
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        categories = list(uniques)
        missing_index = None
        missing_value = None
        if missing.any():
            missing_index = int(codes[np.argmax(missing)])
            missing_value = values[missing].iloc[0]
            categories[missing_index] = None
        return cls(categories, missing_index, missing_value)

    def _present(self) -> pd.Index:
        """Index of the non-missing categories (the missing slot is a value that never matches)."""
        present = list(self.categories)
        if self.missing_index is not None:
            present[self.missing_index] = _NeverEqual()
        return pd.Index(present, dtype=object)

    def transform(self, values: pd.Series, column: str) -> np.ndarray:
        """Category index of every value (N,) int64; unknown values are an error."""
        values = pd.Series(values, dtype=object)
        codes = self._present().get_indexer(values)
        missing = values.isna().to_numpy()
        if self.missing_index is not None:
            codes[missing] = self.missing_index
        if (codes < 0).any():
            unknown = values[codes < 0].unique()[:5].tolist()
            raise InvalidDataError(
                f"column {column!r} has values never seen in fit: {unknown}; "
                "refit the model on a table that contains them"
            )
        return codes.astype(np.int64)

    def inverse(self, codes: np.ndarray) -> np.ndarray:
        """Category values for indices (N,), as an object array."""
        return self.value_table()[np.asarray(codes, dtype=np.int64)]

    def value_table(self) -> np.ndarray:
        """The value of each index (object array of length ``n_categories``)."""
        table = np.empty(self.n_categories, dtype=object)
        table[:] = self.categories
        if self.missing_index is not None:
            table[self.missing_index] = self.missing_value
        return table

    def get_state(self) -> dict:
        return {
            "categories": encode_values(self.categories),
            "missing_index": self.missing_index,
            "missing_value": encode_value(self.missing_value),
        }

    @classmethod
    def from_state(cls, state: dict) -> OneHotEncoder:
        return cls(
            decode_values(state["categories"]),
            state.get("missing_index"),
            decode_value(state.get("missing_value")),
        )


class _NeverEqual:
    """A placeholder that equals nothing, so missing values never match by value."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)
