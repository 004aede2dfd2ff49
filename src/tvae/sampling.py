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
from tvae.exclusions import ExclusionIndex
from tvae.label_ranges import RangeIndex
from tvae.layout import Layout, SpanIndex
from tvae.params import check_non_negative_int
from tvae.prior import LatentPrior
from tvae.refiner import Refiner
from tvae.transformer.identifier import seeded_id_offset

DECODINGS = ("sample", "argmax")
SAMPLE_CHUNK = 4_096  # rows decoded at once by ``sample``: bounds memory, fixed for determinism


def gumbel_noise(
    shape: torch.Size, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Standard Gumbel noise; argmax(logits + noise) draws from softmax(logits)."""
    uniform = torch.rand(shape, generator=generator, device=device)
    return -torch.log(-torch.log(uniform.clamp_(1e-20, 1.0 - 1e-7)))


def _span_bounds(index: SpanIndex) -> list[tuple[int, int]]:
    """``(start, end)`` of each softmax span in the encoded row."""
    starts = index.softmax_offsets.tolist()
    return [(a, a + w) for a, w in zip(starts, index.softmax_widths.tolist(), strict=True)]


def draw_categories(
    raw: torch.Tensor, index: SpanIndex, generator: torch.Generator
) -> torch.Tensor:
    """One draw per softmax span from softmax(span logits), by inverse CDF. Returns (B, S).

    Works on the transposed outputs (D, B), where each span is a contiguous block of rows:
    exponentials shifted by the span's maximum (so the total is at least 1 and nothing
    underflows), cumulated down the span by a triangular matrix product; the draw is how many
    positions lie below a uniform number times the span's total (so rounding can never push it
    past the last category). Spans are visited in a loop of a few vectorised operations each:
    this is the sampler, not the training step.
    """
    columns = raw.T.contiguous()  # (D, B)
    spans = _span_bounds(index)
    uniform = torch.rand((len(spans), len(raw)), generator=generator, device=raw.device)
    codes = torch.empty((len(spans), len(raw)), dtype=torch.int32, device=raw.device)
    for s, (start, end) in enumerate(spans):
        block = columns[start:end]  # (W, B)
        weights = (block - block.amax(dim=0)).exp_()
        lower = torch.ones((end - start, end - start), device=raw.device).tril_()
        cumulative = lower @ weights  # (W, B): running totals down each span
        below = cumulative < uniform[s].mul_(cumulative[-1])
        torch.sum(below.view(torch.uint8), dim=0, dtype=torch.int32, out=codes[s])
        codes[s].clamp_(max=end - start - 1)
    return codes.T.long()


def argmax_categories(raw: torch.Tensor, index: SpanIndex) -> torch.Tensor:
    """The most likely category of each softmax span (the reference's decoding). Returns (B, S)."""
    codes = [raw[:, start:end].argmax(dim=1) for start, end in _span_bounds(index)]
    if not codes:
        return torch.empty((len(raw), 0), dtype=torch.long, device=raw.device)
    return torch.stack(codes, dim=1)


@torch.no_grad()
def repair_excluded(
    raw: torch.Tensor,
    codes: torch.Tensor,
    index: SpanIndex,
    generator: torch.Generator,
    exclusions: ExclusionIndex,
    decoding: str = "sample",
    frozen: frozenset[int] = frozenset(),
) -> None:
    """In the rows of ``codes`` (B, S) that hold an excluded pair, draw again, in place, the
    value of the pair that the decoder's softmax (``raw``) finds less likely, never a span in
    ``frozen`` (a condition's), among the values no other span of the row excludes."""
    bounds = _span_bounds(index)
    for first, second, matrix in exclusions.pairs:
        rows = matrix[codes[:, first], codes[:, second]].nonzero().squeeze(1)
        if not len(rows) or (first in frozen and second in frozen):
            continue
        if first in frozen or second in frozen:
            again_second = torch.full((len(rows),), first in frozen, device=raw.device)
        else:
            again_second = (
                _drawn_probability(raw, codes, rows, second, bounds)
                <= _drawn_probability(raw, codes, rows, first, bounds)
            ).to(raw.device)
        for span, chosen in ((second, rows[again_second]), (first, rows[~again_second])):
            if len(chosen):
                excluded = exclusions.excluded(span, codes[chosen])
                excluded &= (~excluded).any(dim=1, keepdim=True)  # a row keeps some value
                _redraw(raw, codes, chosen, span, excluded, bounds, generator, decoding)


@torch.no_grad()
def repair_ranges(
    raw: torch.Tensor,
    codes: torch.Tensor,
    numbers: dict[int, torch.Tensor],
    index: SpanIndex,
    generator: torch.Generator,
    ranges: RangeIndex,
    exclusions: ExclusionIndex,
    decoding: str = "sample",
    frozen: frozenset[int] = frozenset(),
) -> None:
    """In the rows of ``codes`` (B, S) whose number (``numbers``: column -> (B,) float64) lies
    outside its label's bounds (:mod:`tvae.label_ranges`), keep the more likely of the two by
    the decoder's softmax (``raw``): the label's probability against that of the number's mode.
    Where the number is, draw the label again, in place, among the labels whose bounds hold the
    row's numbers and that no other span of the row excludes; never a span in ``frozen`` (a
    condition's). Where the label is, the number stays as drawn here, and decoding moves it
    onto the label's nearest bound (TableTransformer.inverse_transform), a value real rows of
    that label hold."""
    bounds = _span_bounds(index)
    for span in ranges.by_span:
        if span in frozen:
            continue
        outside = ranges.outside(span, numbers)  # (B, W)
        rows = outside.gather(1, codes[:, span : span + 1]).squeeze(1).nonzero().squeeze(1)
        if not len(rows):
            continue
        label = _drawn_probability(raw, codes, rows, span, bounds)
        number = torch.ones_like(label)  # the least likely mode among the numbers outside
        forced = torch.zeros(len(rows), dtype=torch.bool)
        their_numbers = {column: values[rows] for column, values in numbers.items()}
        their_labels = codes[rows, span : span + 1]
        for column, mode_span in ranges.mode_spans(span).items():
            left = (
                ranges.outside(span, their_numbers, column).gather(1, their_labels).squeeze(1).cpu()
            )
            if mode_span in frozen:  # a condition's number: the label gives way
                forced |= left
                continue
            mode = _drawn_probability(raw, codes, rows, mode_span, bounds)
            number = torch.where(left, torch.minimum(number, mode), number)
        barred = outside[rows]
        excluded = exclusions.excluded(span, codes[rows])
        if excluded is not None:  # the pairs too, where some label is left
            both = barred | excluded
            barred = torch.where(both.all(dim=1, keepdim=True), barred, both)
        # the label is the likelier, or no label's bounds hold the number: the label stays
        again = ((number > label) | forced).to(raw.device) & ~barred.all(dim=1)
        rows, barred = rows[again], barred[again]
        if len(rows):
            _redraw(raw, codes, rows, span, barred, bounds, generator, decoding)


def _redraw(
    raw: torch.Tensor,
    codes: torch.Tensor,
    rows: torch.Tensor,
    span: int,
    barred: torch.Tensor,
    bounds: list[tuple[int, int]],
    generator: torch.Generator,
    decoding: str,
) -> None:
    """Draw span ``span``'s value of ``rows`` again, in place, by the decoder's softmax
    (``raw``) or its argmax, never a value ``barred`` ((R, W) True) marks."""
    start, end = bounds[span]
    logits = raw[rows, start:end].masked_fill(barred, -torch.inf)
    if decoding == "sample":
        logits = logits + gumbel_noise(logits.shape, generator, raw.device)
    codes[rows, span] = logits.argmax(dim=1)


class Repairs:
    """Both repairs of a decoded block, built once per sampling call: excluded value pairs
    (:func:`repair_excluded`), then labels whose bounds the row's numbers leave
    (:func:`repair_ranges`)."""

    def __init__(self, transformer: Any, index: SpanIndex) -> None:
        self.transformer, self.index = transformer, index
        self.exclusions = ExclusionIndex(transformer.exclusions, index)
        device = index.softmax_widths.device
        self.ranges = RangeIndex(transformer.label_ranges, device, transformer.mode_spans())

    def __call__(
        self,
        raw: torch.Tensor,
        alphas: torch.Tensor,
        codes: torch.Tensor,
        generator: torch.Generator,
        decoding: str = "sample",
        frozen: frozenset[int] = frozenset(),
    ) -> None:
        """Repair the block's ``codes`` in place (``raw``: its decoder outputs)."""
        index, exclusions = self.index, self.exclusions
        if exclusions:
            repair_excluded(raw, codes, index, generator, exclusions, decoding, frozen)
        if self.ranges:
            numbers = self._numbers(alphas, codes)
            repair_ranges(
                raw, codes, numbers, index, generator, self.ranges, exclusions, decoding, frozen
            )

    def _numbers(self, alphas: torch.Tensor, codes: torch.Tensor) -> dict[int, torch.Tensor]:
        """The decoded values of the numbers some label bounds, (B,) float64 device tensors."""
        values = self.transformer.numbers(
            alphas.cpu().numpy(), codes.cpu().numpy(), self.ranges.columns
        )
        return {c: torch.from_numpy(v).to(alphas.device) for c, v in values.items()}


def _drawn_probability(
    raw: torch.Tensor, codes: torch.Tensor, rows: torch.Tensor, span: int, bounds: list
) -> torch.Tensor:
    """The softmax probability of the value each of ``rows`` holds in ``span``, on the CPU in
    float64 (a few rows; some devices have no float64)."""
    start, end = bounds[span]
    probs = torch.softmax(raw[rows, start:end].cpu().double(), dim=1)
    return probs.gather(1, codes[rows, span : span + 1].cpu()).squeeze(1)


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
