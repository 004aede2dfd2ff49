"""Stream generated rows in bounded chunks (for writing tens of millions of rows to disk)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from tvae.sampling import SAMPLE_CHUNK

if TYPE_CHECKING:
    from tvae.synthesizer import TVAE


def iter_chunks(
    model: TVAE, n_rows: int, chunk_rows: int, generator: torch.Generator
) -> Iterator[pd.DataFrame]:
    """Decode ``n_rows`` rows in the sampler's fixed blocks, yield frames of ``chunk_rows``."""
    pending_alphas: list[np.ndarray] = []
    pending_codes: list[np.ndarray] = []
    pending = emitted = 0
    for start in range(0, n_rows, SAMPLE_CHUNK):
        size = min(SAMPLE_CHUNK, n_rows - start)
        with torch.no_grad():
            alphas, codes = model._sample_encoded(size, generator)  # one block, as in sample
        pending_alphas.append(alphas)
        pending_codes.append(codes)
        pending += size
        last = start + size == n_rows
        while pending >= chunk_rows or (last and pending):
            alphas, codes = np.concatenate(pending_alphas), np.concatenate(pending_codes)
            take = min(chunk_rows, pending)
            frame = model.transformer_.inverse_transform(alphas[:take], codes[:take])
            frame.index = pd.RangeIndex(emitted, emitted + take)
            if emitted:
                continue_ids(model, frame, emitted)
            yield frame
            emitted += take
            pending -= take
            pending_alphas, pending_codes = [alphas[take:]], [codes[take:]]


def continue_ids(model: TVAE, frame: pd.DataFrame, offset: int) -> None:
    """Counted ID columns go on from the previous chunk, so a streamed table keeps them
    unique (each ``inverse_transform`` call counts from the first new ID)."""
    for col in model.transformer_.columns:
        if getattr(col, "kind", None) != "id" or getattr(col, "style", "uuid") == "uuid":
            continue
        shifted = dataclasses.replace(col, start=col.start + offset)
        empty = np.empty((len(frame), 0))
        frame[col.name] = shifted.inverse(empty, empty.astype(np.int64)).to_numpy()
