"""Drawn rows carried through their numbers' quantile maps
(:mod:`tvae.transformer.quantile_map`), right after the decoder: before the repairs read them,
the refiner judges them and decoding makes them values, so that every later step sees the
mapped row. Both samplers (:func:`tvae.sampling.encoded_blocks` and conditional sampling)
call :func:`map_drawn`; real encoded rows never pass through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def mapped_places(transformer: Any) -> list[tuple[int, slice, slice]]:
    """Each column with a quantile map: its place, its slice of the alphas and of the codes."""
    columns = transformer.columns
    if not any(getattr(col, "quantile_map", None) is not None for col in columns):
        return []
    slices = transformer.column_slices
    return [
        (place, *slices[place])
        for place, col in enumerate(columns)
        if getattr(col, "quantile_map", None) is not None
    ]


@torch.no_grad()
def map_drawn(transformer: Any, alphas: torch.Tensor, codes: torch.Tensor) -> None:
    """Carry the drawn rows' numbers (alphas (B, T), codes (B, S); changed in place) through
    ``transformer``'s quantile maps. No map, no work."""
    places = mapped_places(transformer)
    if not places or not len(codes):
        return
    for place, alpha_slice, code_slice in places:
        column_alphas = alphas[:, alpha_slice].cpu().numpy().astype(np.float64)
        column_codes = codes[:, code_slice].cpu().numpy().copy()
        transformer.columns[place].map_drawn(column_alphas, column_codes)
        alphas[:, alpha_slice] = torch.from_numpy(column_alphas).to(alphas.device, alphas.dtype)
        codes[:, code_slice] = torch.from_numpy(column_codes).to(codes.device)
