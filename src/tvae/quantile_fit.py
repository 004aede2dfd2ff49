"""After training and calibration, each number's quantile map
(:mod:`tvae.transformer.quantile_map`): fitted on rows drawn as the sampler draws them (the
prior, the decoder, calibration and every repair), against the training rows' own values.
It comes before the refiner, which then learns on mapped rows what is still wrong.

Which numbers: every numerical column whose values the decoder draws (not one another column
derives, not one made only of point masses), clipped to its range (with
``enforce_min_max_values=False`` its draws may leave the range; a map would keep them within).
"auto" maps where the refiner's "auto" refines (:func:`tvae.refiner.refines_by_default`:
sampled decoding, 2,500 rows or more), for the same reason: on fewer, the real values' heaps
and shape are those of a small sample, and a map onto them brings the synthetic rows nearer
the training rows than fresh real rows are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from tvae.calibration import calibration_draws
from tvae.prior import LatentPrior
from tvae.refiner import refines_by_default
from tvae.sampling import concat_blocks, encoded_blocks
from tvae.schedule import auto_or
from tvae.transformer.numerical import to_float
from tvae.transformer.quantile_map import ROWS_PER_KNOT, QuantileMap

MIN_REAL_VALUES = 2 * ROWS_PER_KNOT  # smooth real values a map needs (fewer: no map)
MIN_DRAWN_VALUES = 200  # and smooth drawn ones


def wants_maps(model: Any, n_rows: int) -> bool:
    """Whether ``model`` (a :class:`tvae.TVAE`) maps its numbers, on a table of ``n_rows``:
    "auto" where the refiner's "auto" refines."""
    return auto_or(model.quantile_map, refines_by_default(model.decoding, n_rows))


def fit_maps(
    model: Any,
    decoder: torch.nn.Module,
    prior: LatentPrior,
    transformer: Any,
    real: Callable[[], pd.DataFrame],
    network_seq: np.random.SeedSequence,
    n_rows: int,
) -> list[str] | None:
    """With ``model.quantile_map`` (see :func:`wants_maps`), :func:`fit_quantile_maps` on the
    training rows ``real()`` gives, with a generator of its own; None where the model maps
    nothing (``real`` is then not called)."""
    if not wants_maps(model, n_rows):
        return None
    device = next(decoder.parameters()).device
    generator = torch.Generator(device=device).manual_seed(int(network_seq.generate_state(6)[5]))
    return fit_quantile_maps(decoder, prior, transformer, real(), generator, model.decoding)


def fit_quantile_maps(
    decoder: torch.nn.Module,
    prior: LatentPrior,
    transformer: Any,
    real: pd.DataFrame,
    generator: torch.Generator,
    decoding: str = "sample",
) -> list[str]:
    """Fit and set the quantile map of every number that takes one, against its values in the
    training rows ``real`` (the table as ``fit`` read it: decoding the encoded rows again
    would give 3.5000000162 for 3.5, off by their float32 scalars); the names of those
    numbers."""
    places = _candidates(transformer)
    if not places:
        return []
    n_draws = calibration_draws(transformer.layout.width)
    blocks = encoded_blocks(decoder, prior, transformer, n_draws, generator, decoding)
    drawn = concat_blocks(blocks, transformer.layout)
    slices = transformer.column_slices
    mapped = []
    for place in places:
        column = transformer.columns[place]
        values = to_float(real[column.name])
        values = values[~np.isnan(values) & ~np.isin(values, column.normalizer.points)]
        alpha_slice, code_slice = slices[place]
        drawn_alphas, drawn_codes = drawn[0][:, alpha_slice], drawn[1][:, code_slice]
        smooth = column.smooth_draws(drawn_alphas, drawn_codes)
        if len(values) < MIN_REAL_VALUES or smooth.sum() < MIN_DRAWN_VALUES:
            continue
        draws = column.normalizer.inverse(drawn_alphas[smooth, 0], drawn_codes[smooth, 0])
        grid = 10.0**-column.decimals if column.decimals is not None else None
        column.quantile_map = QuantileMap.fit(draws, values, grid)
        mapped.append(str(column.name))
    return mapped


def _candidates(transformer: Any) -> list[int]:
    derived = {str(c) for c in transformer.dependencies.derived()}
    return [
        place
        for place, col in enumerate(transformer.columns)
        if col.kind == "numerical"
        and col.clip
        and str(col.name) not in derived
        and not col.normalizer.exact.all()
    ]
