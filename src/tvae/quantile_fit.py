"""After training and calibration, each number's quantile map
(:mod:`tvae.transformer.quantile_map`): fitted on rows drawn as the sampler draws them (the
prior, the decoder, calibration and every repair), against the training rows' own values.
It comes before the refiner, which then learns on mapped rows what is still wrong.

Which numbers: every numerical column whose values the decoder draws (not one another column
derives, not one made only of point masses), clipped to its range (with
``enforce_min_max_values=False`` its draws may leave the range; a map would keep them within).
"auto" maps on tables of ``MIN_ROWS`` rows or more, the refiner's bound and for the same
reason: on fewer, the real values' heaps and shape are those of a small sample, and a map
onto them brings the synthetic rows nearer the training rows than fresh real rows are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from tvae.calibration import CALIBRATION_DRAWS, CALIBRATION_FLOATS
from tvae.prior import LatentPrior
from tvae.refiner import MIN_ROWS
from tvae.sampling import concat_blocks, encoded_blocks
from tvae.schedule import is_default
from tvae.transformer.quantile_map import ROWS_PER_KNOT, QuantileMap

MAX_REAL_ROWS = 200_000  # the training rows whose values the maps read, at most
MIN_REAL_VALUES = 2 * ROWS_PER_KNOT  # smooth real values a map needs (fewer: no map)
MIN_DRAWN_VALUES = 200  # and smooth drawn ones


def wants_maps(model: Any, n_rows: int) -> bool:
    """Whether ``model`` (a :class:`tvae.TVAE`) maps its numbers, on a table of ``n_rows``."""
    if is_default(model.quantile_map):
        return model.decoding == "sample" and n_rows >= MIN_ROWS
    return bool(model.quantile_map)


def fit_maps(
    model: Any,
    decoder: torch.nn.Module,
    prior: LatentPrior,
    transformer: Any,
    rows: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    network_seq: np.random.SeedSequence,
    n_rows: int,
) -> list[str] | None:
    """With ``model.quantile_map`` (see :func:`wants_maps`), :func:`fit_quantile_maps` with a
    generator of its own; None where the model maps nothing."""
    if not wants_maps(model, n_rows):
        return None
    device = next(decoder.parameters()).device
    generator = torch.Generator(device=device).manual_seed(int(network_seq.generate_state(6)[5]))
    return fit_quantile_maps(decoder, prior, transformer, rows, generator, model.decoding)


def fit_quantile_maps(
    decoder: torch.nn.Module,
    prior: LatentPrior,
    transformer: Any,
    rows: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    generator: torch.Generator,
    decoding: str = "sample",
) -> list[str]:
    """Fit and set the quantile map of every number that takes one; the names of those
    numbers. ``rows()`` yields the encoded training rows (alphas, codes) in batches."""
    places = _candidates(transformer)
    if not places:
        return []
    real = _first_rows(rows(), MAX_REAL_ROWS)
    n_draws = int(
        min(CALIBRATION_DRAWS, max(1_000, CALIBRATION_FLOATS // transformer.layout.width))
    )
    blocks = encoded_blocks(decoder, prior, transformer, n_draws, generator, decoding)
    drawn = concat_blocks(blocks, transformer.layout)
    slices = transformer.layout.column_slices([len(col.spans) for col in transformer.columns])
    mapped = []
    for place in places:
        column = transformer.columns[place]
        alpha_slice, code_slice = slices[place]
        real_alphas, real_codes = real[0][:, alpha_slice], real[1][:, code_slice]
        held = column.smooth_draws(real_alphas, real_codes)
        drawn_alphas, drawn_codes = drawn[0][:, alpha_slice], drawn[1][:, code_slice]
        smooth = column.smooth_draws(drawn_alphas, drawn_codes)
        if held.sum() < MIN_REAL_VALUES or smooth.sum() < MIN_DRAWN_VALUES:
            continue
        values = column.inverse_numbers(real_alphas[held], real_codes[held])  # the real values
        draws = column.normalizer.inverse(drawn_alphas[smooth, 0], drawn_codes[smooth, 0])
        column.quantile_map = QuantileMap.fit(draws, values)
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


def _first_rows(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], limit: int
) -> tuple[np.ndarray, np.ndarray]:
    """The batches' rows, up to the batch that brings them to ``limit``, as numpy arrays."""
    taken, seen = [], 0
    for batch in batches:
        taken.append(batch)
        seen += len(batch[1])
        if seen >= limit:
            break
    return tuple(np.concatenate([part[k].cpu().numpy() for part in taken]) for k in (0, 1))
