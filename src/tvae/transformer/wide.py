"""A categorical column with many distinct values: the frequent ones plus one "rare" slot.

Threshold (documented in the README): a column with more than ``MAX_CATEGORIES`` (100)
distinct values keeps its ``MAX_CATEGORIES`` most frequent values (ties: first appearance) as
one-hot slots, and all the others share one extra "rare" slot. The one-hot width is therefore
at most 101 whatever the column holds (free text, names, ZIP codes). A generated "rare" cell
is drawn from the rare values with their real frequencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tvae.codec import decode_values, encode_values
from tvae.transformer.categorical import OneHotEncoder
from tvae.transformer.columns import Draws
from tvae.transformer.dtypes import DtypeInfo

# differs from the reference: it one-hot encodes every distinct value, so a column of 10,000
# names makes a 10,000-wide softmax (memory and time blow up, and each value is seen once).
MAX_CATEGORIES = 100


def needs_rare_slot(series: pd.Series) -> bool:
    return series.nunique(dropna=False) > MAX_CATEGORIES


@dataclass
class WideCategoricalColumn:
    """Frequent values one-hot; rare values share the last slot and are redrawn by frequency."""

    name: Any
    dtype: DtypeInfo
    encoder: OneHotEncoder  # the frequent values
    rare_values: list
    rare_counts: list
    kind: ClassVar[str] = "wide_categorical"

    @classmethod
    def fit(cls, name: Any, dtype: DtypeInfo, series: pd.Series) -> WideCategoricalColumn:
        values = pd.Series(series, dtype=object)
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        counts = np.bincount(codes, minlength=len(uniques))
        order = np.argsort(-counts, kind="stable")  # most frequent first, ties by appearance
        rare = order[MAX_CATEGORIES:]
        kept = ~np.isin(codes, rare)
        return cls(
            name,
            dtype,
            OneHotEncoder.fit(values[kept]),
            [uniques[i] for i in rare],
            [int(counts[i]) for i in rare],
        )

    @property
    def spans(self) -> list[tuple[str, int]]:
        return [("softmax", self.encoder.n_categories + 1)]

    def _kept(self, values: pd.Series) -> np.ndarray:
        """True where the value has a slot of its own (N,) bool."""
        missing_slot = self.encoder.missing_index
        present = [c for i, c in enumerate(self.encoder.categories) if i != missing_slot]
        kept = values.isin(present).to_numpy(dtype=bool) & values.notna().to_numpy(dtype=bool)
        if missing_slot is not None:
            kept |= values.isna().to_numpy(dtype=bool)
        return kept

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        values = pd.Series(values, dtype=object)
        kept = self._kept(values)
        codes = np.full(len(values), self.encoder.n_categories, dtype=np.int64)
        codes[kept] = self.encoder.transform(values[kept], column=str(self.name))
        return np.empty((len(values), 0), dtype=np.float32), codes[:, None]

    def inverse(
        self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None
    ) -> pd.Series:
        rng = draws.rng if draws is not None else np.random.default_rng(0)
        codes = codes[:, 0].astype(np.int64)  # a copy: rare draws are written into it
        n_frequent = self.encoder.n_categories
        rare = codes == n_frequent
        codes[rare] = 0  # no rare values kept: the first frequent value, as before
        if rare.any() and self.rare_values:
            weights = np.asarray(self.rare_counts, dtype=np.float64)
            picks = rng.choice(
                len(self.rare_values), size=int(rare.sum()), p=weights / weights.sum()
            )
            codes[rare] = n_frequent + picks  # rare values follow the frequent ones in the table
        table = np.empty(n_frequent + len(self.rare_values), dtype=object)
        table[:n_frequent] = self.encoder.value_table()
        table[n_frequent:] = np.asarray([*self.rare_values, None], dtype=object)[:-1]  # 1-D
        return self.dtype.restore_coded_labels(table, codes, self.name)

    def get_state(self) -> dict:
        return {
            "encoder": self.encoder.get_state(),
            "rare_values": encode_values(self.rare_values),
            "rare_counts": self.rare_counts,
        }

    @classmethod
    def from_state(cls, name: Any, dtype: DtypeInfo, state: dict) -> WideCategoricalColumn:
        return cls(
            name,
            dtype,
            OneHotEncoder.from_state(state["encoder"]),
            decode_values(state["rare_values"]),
            [int(c) for c in state["rare_counts"]],
        )
