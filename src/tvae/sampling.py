"""The sampler: latents -> decoder -> encoded rows (alphas, codes) -> frames, one path.

Every unconditional draw (:meth:`tvae.TVAE.sample`, :meth:`~tvae.TVAE.sample_chunks`, the
Parquet parts of ``tvae sample --nproc``) runs :func:`encoded_blocks`: fixed blocks of
``SAMPLE_CHUNK`` rows, each a prior draw, a decoder pass and a decoding, in that order on one
generator, so the rows depend on the seed only, never on how they are cut into chunks.
:func:`concat_blocks` gathers the blocks for one frame; :func:`iter_chunks` re-cuts them into
frames of a given size. :class:`SampleStream` owns the seeds and the numbering of ID columns
(conditional sampling, :mod:`tvae.conditional`, takes its generator and first ID from it too).
No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from tvae.drawn_maps import map_drawn
from tvae.layout import Layout, SpanIndex
from tvae.params import check_non_negative_int
from tvae.prior import LatentPrior
from tvae.refiner import Refiner
from tvae.sampled_repairs import Repairs
from tvae.softmax_draws import argmax_categories, draw_categories
from tvae.transformer.identifier import seeded_id_offset

DECODINGS = ("sample", "argmax")
SAMPLE_CHUNK = 4_096  # rows decoded at once by ``sample``: bounds memory, fixed for determinism


@torch.no_grad()
def decode_outputs(
    raw: torch.Tensor,
    sigma: torch.Tensor,
    index: SpanIndex,
    generator: torch.Generator,
    decoding: str = "sample",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw decoder outputs (B, D) -> alphas (B, T) and codes (B, S).

    Each tanh scalar is tanh(output) plus Gaussian noise of the learned scale, clipped to
    [-1, 1], as in the reference. Each softmax span is decoded by ``decoding``:
    "argmax" (the reference: deterministic for a given latent draw) or "sample" (a draw from the
    span's softmax, which keeps rare categories and mixture modes at their learned rates).
    """
    positions = index.tanh_positions
    centre = torch.tanh(raw.index_select(1, positions))  # (B, T)
    noise = torch.randn(centre.shape, generator=generator, device=raw.device)
    alphas = (centre + noise * sigma[positions]).clamp_(-1.0, 1.0)
    if decoding == "sample":
        # differs from the reference: argmax decoding distorts rare categories (SDV #248, #2039).
        return alphas, draw_categories(raw, index, generator)
    return alphas, argmax_categories(raw, index)


def encoded_blocks(
    decoder: torch.nn.Module,
    prior: LatentPrior,
    transformer: Any,
    n_rows: int,
    generator: torch.Generator,
    decoding: str = "sample",
    refiner: Refiner | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``n_rows`` encoded rows in blocks of ``SAMPLE_CHUNK`` draws: alphas (B, T), codes (B, S)
    each, for ``transformer``'s layout, none holding one of its excluded value pairs or a number
    outside its label's bounds (:class:`Repairs`). With a ``refiner``, only the draws it keeps
    (:mod:`tvae.refiner`), every block a full ``SAMPLE_CHUNK`` draws, until ``n_rows`` are
    kept. Lazy: a block is drawn when asked for."""
    index = SpanIndex.from_layout(transformer.layout, generator.device)
    repair = Repairs(transformer, index)
    decoder.eval()
    made = 0
    while made < n_rows:
        wanted = n_rows - made
        size = SAMPLE_CHUNK if refiner is not None else min(SAMPLE_CHUNK, wanted)
        with torch.no_grad():
            z = prior.sample(size, generator)  # (B, E)
            raw, sigma = decoder(z)  # (B, D), (D,)
            alphas, codes = decode_outputs(raw, sigma, index, generator, decoding)
            map_drawn(transformer, alphas, codes)
            repair(raw, alphas, codes, generator, decoding)
            if refiner is not None:
                kept = (
                    refiner.keep(alphas, codes, index, transformer, generator).nonzero().squeeze(1)
                )
                alphas, codes = alphas[kept[:wanted]], codes[kept[:wanted]]
        made += len(codes)
        yield alphas.cpu().numpy(), codes.cpu().numpy()


def concat_blocks(
    blocks: Iterable[tuple[np.ndarray, np.ndarray]], layout: Layout
) -> tuple[np.ndarray, np.ndarray]:
    """All ``blocks`` as one pair: alphas (N, T), codes (N, S) (empty ones for no block)."""
    pairs = list(blocks)
    if not pairs:
        return (
            np.empty((0, layout.n_tanh), dtype=np.float32),
            np.empty((0, layout.n_softmax), dtype=np.int64),
        )
    return np.concatenate([a for a, _ in pairs]), np.concatenate([c for _, c in pairs])


def iter_chunks(
    blocks: Iterable[tuple[np.ndarray, np.ndarray]],
    transformer: Any,
    chunk_rows: int,
    id_offset: int = 0,
) -> Iterator[pd.DataFrame]:
    """Decode ``blocks`` with ``transformer`` into frames of ``chunk_rows`` rows (the last one
    shorter), indexed on from 0.

    ID columns number the rows from position ``id_offset`` on, across chunks, so a streamed
    table keeps them unique.
    """
    pending_alphas: list[np.ndarray] = []
    pending_codes: list[np.ndarray] = []
    pending = emitted = 0

    def cut(take: int) -> pd.DataFrame:
        nonlocal pending_alphas, pending_codes, pending, emitted
        alphas, codes = np.concatenate(pending_alphas), np.concatenate(pending_codes)
        frame = transformer.inverse_transform(
            alphas[:take], codes[:take], id_offset=id_offset + emitted
        )
        frame.index = pd.RangeIndex(emitted, emitted + take)
        emitted += take
        pending -= take
        pending_alphas, pending_codes = [alphas[take:]], [codes[take:]]
        return frame

    for alphas, codes in blocks:
        pending_alphas.append(alphas)
        pending_codes.append(codes)
        pending += len(codes)
        while pending >= chunk_rows:
            yield cut(chunk_rows)
    if pending:
        yield cut(pending)


class SampleStream:
    """A fitted model's stream of rows: its generator, started from the model's sampling seed,
    and the count of IDs issued on it, so that successive draws never repeat an ID."""

    def __init__(self, seed: int, device: torch.device) -> None:
        self.seed, self.device = seed, device
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.ids_issued = 0

    def move(self, device: torch.device) -> None:
        """Restart the stream from the seed on ``device``; the numbering of IDs goes on."""
        self.device = device
        self.generator = torch.Generator(device=device).manual_seed(self.seed)

    def generator_for(self, seed: int | None) -> torch.Generator:
        """The stream's generator, or with ``seed`` a fresh one of its own."""
        if seed is None:
            return self.generator
        return torch.Generator(device=self.device).manual_seed(seed)

    def first_id(self, n_rows: int, seed: int | None, id_offset: int | None) -> int:
        """Where the IDs of ``n_rows`` new rows start: ``id_offset`` if given; a block derived
        from ``seed`` for a draw of its own; else the stream's next ``n_rows`` positions."""
        if id_offset is not None:
            return check_non_negative_int("id_offset", id_offset)
        if seed is not None:
            return seeded_id_offset(seed)
        start = self.ids_issued
        self.ids_issued += n_rows
        return start


def seeded_chunks(
    model: Any, start: int, stop: int, chunk_rows: int, seeds: Any, first_id: int, **options: Any
) -> Iterator[tuple[int, Any]]:
    """Rows ``[start, stop)`` of one output as ``(first row, rows)`` chunks of at most
    ``chunk_rows`` rows: chunk ``i`` is ``model.sample`` (``model`` a fitted
    :class:`tvae.TVAE`) with its own seed ``seeds[i]``, and row ``r`` gets ID position
    ``first_id + r``, so the output neither depends on who draws which chunk nor repeats an
    ID. An empty range still gives one empty chunk (its columns). ``options`` go to ``sample``
    (``conditions``)."""
    lows = range(start, stop, chunk_rows) or range(start, start + 1)
    for index, low in enumerate(lows):
        size = max(0, min(chunk_rows, stop - low))
        rows = model.sample(
            size, random_state=int(seeds[index]), id_offset=first_id + low, **options
        )
        yield low, rows
