"""One-hot encoding of a categorical column (categories in order of first appearance)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvae.codec import decode_values, encode_values
from tvae.errors import InvalidDataError


@dataclass
class OneHotEncoder:
    """Maps each category to an index; missing values (NaN/None) are a category of their own."""

    categories: list

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    @classmethod
    def fit(cls, values: pd.Series) -> OneHotEncoder:
        _, uniques = pd.factorize(values, use_na_sentinel=False)
        return cls(categories=list(uniques))

    def _index(self) -> pd.Index:
        return pd.Index(self.categories, dtype=object)

    def transform(self, values: pd.Series, column: str) -> np.ndarray:
        """Category index of every value (N,) int64; unknown values are an error."""
        codes = self._index().get_indexer(pd.Series(values, dtype=object))
        if (codes < 0).any():
            unknown = pd.Series(values)[codes < 0].unique()[:5].tolist()
            raise InvalidDataError(
                f"column {column!r} has values never seen in fit: {unknown}; "
                "refit the model on a table that contains them"
            )
        return codes.astype(np.int64)

    def inverse(self, codes: np.ndarray) -> np.ndarray:
        """Category values for indices (N,), as an object array."""
        return np.asarray(self._index().take(np.asarray(codes, dtype=np.int64)), dtype=object)

    def get_state(self) -> dict:
        return {"categories": encode_values(self.categories)}

    @classmethod
    def from_state(cls, state: dict) -> OneHotEncoder:
        return cls(categories=decode_values(state["categories"]))
