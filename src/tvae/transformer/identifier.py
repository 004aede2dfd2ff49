"""An ID column (a unique key such as ``customer_id``): not learned, regenerated.

It contributes no span to the encoded row. Generated rows get new IDs, never equal to a real
one, in the real IDs' format. Each generated row has a position ``p`` in an ID sequence (the
model keeps count of the rows it has issued, so successive ``sample`` calls and chunks go on
where the last stopped; see :meth:`tvae.TVAE.sample`):

* integers: ``max(real) + 1 + p`` in the input's integer dtype (int64 when they outgrow it);
* strings with one prefix/suffix around digits (``C000123``): same prefix and suffix, the
  number ``max(real) + 1 + p``, zero-padded to the real width when the width is fixed;
* UUIDs: random UUIDs (version 4) drawn from a generator seeded by the sampling stream and ``p``;
* any other strings: ``"<column>-synthetic-<p>"`` (the real format cannot be inferred).
Missing cells of an ID column (only possible when declared by hand) are not reproduced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from tvae.kinds import KEY_PATTERN, UUID_PATTERN
from tvae.transformer.columns import Draws
from tvae.transformer.dtypes import DtypeInfo

ID_BLOCK = 2**32  # positions per seed-derived block: more rows than one call ever draws
SEED_BLOCKS = 2**20  # blocks for seeds; block 0 is the model's own stream (IDs stay < 2**53)


def seeded_id_offset(seed: int) -> int:
    """First ID position of a ``sample`` call seeded with ``seed``: a block of its own, derived
    from the seed, disjoint from the model's stream (block 0). Two seeds share a block with
    probability about one in a million."""
    block = int(np.random.SeedSequence(seed).generate_state(1, np.uint32)[0]) % SEED_BLOCKS
    return (1 + block) * ID_BLOCK


@dataclass
class IdColumn:
    """Fresh keys in the real keys' format; ``style`` is "integer", "pattern", "uuid" or "text"."""

    name: Any
    dtype: DtypeInfo
    style: str
    start: int = 0
    prefix: str = ""
    suffix: str = ""
    width: int = 0
    kind: ClassVar[str] = "id"

    @classmethod
    def fit(cls, name: Any, dtype: DtypeInfo, series: pd.Series) -> IdColumn:
        observed = series.dropna()
        if is_numeric_dtype(series.dtype) and series.dtype != bool:
            top = int(np.floor(observed.max())) if len(observed) else -1
            return cls(name, dtype, "integer", start=top + 1)
        text = observed.astype(str)
        if len(text) and text.str.match(UUID_PATTERN).all():
            return cls(name, dtype, "uuid")
        parts = text.str.extract(KEY_PATTERN)
        if (
            len(text)
            and parts[1].notna().all()
            and parts[0].nunique() == 1
            and parts[2].nunique() == 1
        ):
            lengths = parts[1].str.len()
            width = int(lengths.iloc[0]) if lengths.nunique() == 1 else 0
            return cls(
                name,
                dtype,
                "pattern",
                start=int(parts[1].astype(int).max()) + 1,
                prefix=str(parts[0].iloc[0]),
                suffix=str(parts[2].iloc[0]),
                width=width,
            )
        return cls(name, dtype, "text", prefix=f"{name}-synthetic-")

    @property
    def spans(self) -> list[tuple[str, int]]:
        # differs from the reference: it learns a key as a number or a huge one-hot, and copies
        # real keys into the synthetic rows.
        return []

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        n_rows = len(values)
        return np.empty((n_rows, 0), dtype=np.float32), np.empty((n_rows, 0), dtype=np.int64)

    def inverse(
        self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None
    ) -> pd.Series:
        """IDs at positions ``offset, offset + 1, ...`` of the ID sequence, one per row, where
        ``offset`` is ``draws.id_offset`` (UUIDs drawn from ``draws.id_rng``)."""
        offset = draws.id_offset if draws is not None else 0
        rng = draws.id_rng if draws is not None else None
        n_rows = len(alphas)
        numbers = self.start + offset + np.arange(n_rows, dtype=np.int64)
        if self.style == "integer":
            return self._integer_dtype(numbers).restore_numbers(numbers, self.name)
        if self.style == "uuid":
            rng = rng if rng is not None else np.random.default_rng(0)
            raw = rng.integers(0, 256, size=(n_rows, 16), dtype=np.uint8)
            values = [str(uuid.UUID(bytes=bytes(row), version=4)) for row in raw]
        else:
            values = [f"{self.prefix}{str(n).zfill(self.width)}{self.suffix}" for n in numbers]
        return self.dtype.restore_labels(np.asarray(values, dtype=object), self.name)

    def _integer_dtype(self, numbers: np.ndarray) -> DtypeInfo:
        """The input dtype, or int64 where the numbers outgrow a narrower integer dtype."""
        dtype = self.dtype.pandas_dtype()
        if not len(numbers) or not pd.api.types.is_integer_dtype(dtype):
            return self.dtype
        top = np.iinfo(getattr(dtype, "numpy_dtype", dtype)).max
        if int(numbers[-1]) <= top:
            return self.dtype
        return DtypeInfo(
            "Int64" if isinstance(dtype, pd.api.extensions.ExtensionDtype) else "int64"
        )

    def get_state(self) -> dict:
        return {
            "style": self.style,
            "start": self.start,
            "prefix": self.prefix,
            "suffix": self.suffix,
            "width": self.width,
        }

    @classmethod
    def from_state(cls, name: Any, dtype: DtypeInfo, state: dict) -> IdColumn:
        return cls(
            name,
            dtype,
            state["style"],
            int(state["start"]),
            state["prefix"],
            state["suffix"],
            int(state["width"]),
        )
