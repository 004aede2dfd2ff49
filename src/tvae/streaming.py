"""Stream generated rows in bounded chunks (for writing tens of millions of rows to disk)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from tvae.sampling import SAMPLE_CHUNK

if TYPE_CHECKING:
    from tvae.synthesizer import TVAE


def iter_chunks(
    model: TVAE, n_rows: int, chunk_rows: int, generator: torch.Generator, id_offset: int = 0
) -> Iterator[pd.DataFrame]:
    """Decode ``n_rows`` rows in the sampler's fixed blocks, yield frames of ``chunk_rows``.

    ID columns number the rows from position ``id_offset`` on, across chunks, so a streamed
    table keeps them unique.
    """
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
            frame = model.transformer_.inverse_transform(
                alphas[:take], codes[:take], id_offset=id_offset + emitted
            )
            frame.index = pd.RangeIndex(emitted, emitted + take)
            yield frame
            emitted += take
            pending -= take
            pending_alphas, pending_codes = [alphas[take:]], [codes[take:]]
