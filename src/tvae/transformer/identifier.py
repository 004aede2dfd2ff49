"""An ID column (a unique key such as ``customer_id``): not learned, regenerated.

It contributes no span to the encoded row. Each ``sample`` call gives its rows new IDs, unique
within the call and never equal to a real one, in the real IDs' format:

* integers: ``max(real) + 1, max(real) + 2, ...`` in the input's integer dtype;
* strings with one prefix/suffix around digits (``C000123``): same prefix and suffix, numbers
  counting up from the largest real one, zero-padded to the real width when the width is fixed;
* UUIDs: fresh random UUIDs (version 4);
* any other strings: ``"<column>-synthetic-<n>"`` (the real format cannot be inferred).
Missing cells of an ID column (only possible when declared by hand) are not reproduced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from tvae.metadata import KEY_PATTERN, UUID_PATTERN
from tvae.transformer.dtypes import DtypeInfo


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
    needs_rng: ClassVar[bool] = True

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
        self, alphas: np.ndarray, codes: np.ndarray, rng: np.random.Generator | None = None
    ) -> pd.Series:
        n_rows = len(alphas)
        numbers = self.start + np.arange(n_rows, dtype=np.int64)
        if self.style == "integer":
            return self.dtype.restore_numbers(numbers, self.name)
        if self.style == "uuid":
            rng = rng if rng is not None else np.random.default_rng(0)
            raw = rng.integers(0, 256, size=(n_rows, 16), dtype=np.uint8)
            values = [str(uuid.UUID(bytes=bytes(row), version=4)) for row in raw]
        else:
            values = [f"{self.prefix}{str(n).zfill(self.width)}{self.suffix}" for n in numbers]
        return self.dtype.restore_labels(np.asarray(values, dtype=object), self.name)

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
