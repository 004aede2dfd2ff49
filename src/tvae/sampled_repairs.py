"""Repairs of a decoded block before decoding: excluded value pairs and numbers outside
their label's bounds, each settled by the decoder's own softmax (math only).

:class:`Repairs` runs both on every block the sampler (:mod:`tvae.sampling`) and conditional
sampling draw.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from tvae.exclusions import ExclusionIndex
from tvae.label_ranges import RangeIndex
from tvae.layout import SpanIndex
from tvae.softmax_draws import gumbel_noise, span_bounds

# (rows, column, lower, upper) -> the rows' numbers after their offsets are settled
Settle = Callable[[torch.Tensor, int, torch.Tensor, torch.Tensor], torch.Tensor]


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
    bounds = span_bounds(index)
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
    settle: Settle,
    decoding: str = "sample",
    frozen: frozenset[int] = frozenset(),
) -> None:
    """In the rows of ``codes`` (B, S) whose number (``numbers``: column -> (B,) float64) lies
    outside its label's bounds (:mod:`tvae.label_ranges`), keep the more likely of the two by
    the decoder's softmax (``raw``): the label's probability against that of the number's mode.
    Where the number is, draw the label again, in place, among the labels whose bounds hold the
    row's numbers and that no other span of the row excludes; never a span in ``frozen`` (a
    condition's). Where the label is, or a condition holds it, the number's mode is drawn again
    among those the label's bounds hold (:meth:`_RangeBlock.redraw_modes`; ``settle`` mirrors
    offsets that still leave it, :meth:`Repairs._settle`); a number no such mode reaches is
    moved by decoding onto the label's nearest bound (TableTransformer.inverse_transform), a
    value real rows of that label hold."""
    block = _RangeBlock(
        raw, codes, numbers, ranges, exclusions, span_bounds(index), generator, decoding, frozen,
        settle,
    )  # fmt: skip
    for span in ranges.by_span:
        outside = ranges.outside(span, numbers)  # (B, W)
        rows = outside.gather(1, codes[:, span : span + 1]).squeeze(1).nonzero().squeeze(1)
        if not len(rows):
            continue
        if span in frozen:  # a condition's label: its numbers give way
            staying = rows
        else:
            again, barred = block.labels_giving_way(rows, span, outside)
            if again.any():
                block.redraw(rows[again], span, barred[again])
            staying = rows[~again]
        if len(staying):
            block.redraw_modes(staying, span)


@dataclass
class _RangeBlock:
    """A decoded block whose numbers' label ranges are being repaired: what each step reads
    (the decoder's outputs, the codes and numbers it changes in place, the draw's settings)."""

    raw: torch.Tensor
    codes: torch.Tensor
    numbers: dict[int, torch.Tensor]
    ranges: RangeIndex
    exclusions: ExclusionIndex
    bounds: list[tuple[int, int]]
    generator: torch.Generator
    decoding: str
    frozen: frozenset[int]
    settle: Settle

    def labels_giving_way(
        self, rows: torch.Tensor, span: int, outside: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Of ``rows``, whose number lies outside the bounds of their label of ``span`` (not a
        condition's), which draw the label again ((R,) bool: the number's mode is the likelier,
        or a condition holds the number, and some label is left) and the labels each may not
        take ((R, W): those whose bounds the row's numbers leave (``outside``, (B, W)), and
        excluded pairs where some label is left)."""
        codes, ranges = self.codes, self.ranges
        label = _drawn_probability(self.raw, codes, rows, span, self.bounds)
        number = torch.ones_like(label)  # the least likely mode among the numbers outside
        forced = torch.zeros(len(rows), dtype=torch.bool)
        their_numbers = {column: values[rows] for column, values in self.numbers.items()}
        their_labels = codes[rows, span : span + 1]
        for column, mode_span in ranges.mode_spans(span).items():
            left = ranges.outside(span, their_numbers, column).gather(1, their_labels).squeeze(1)
            left = left.cpu()
            if mode_span in self.frozen:  # a condition's number: the label gives way
                forced |= left
                continue
            mode = _drawn_probability(self.raw, codes, rows, mode_span, self.bounds)
            number = torch.where(left, torch.minimum(number, mode), number)
        barred = outside[rows]
        excluded = self.exclusions.excluded(span, codes[rows])
        if excluded is not None:  # the pairs too, where some label is left
            both = barred | excluded
            barred = torch.where(both.all(dim=1, keepdim=True), barred, both)
        # the label is the likelier, or no label's bounds hold the number: the label stays
        again = ((number > label) | forced).to(self.raw.device) & ~barred.all(dim=1)
        return again, barred

    def redraw_modes(self, rows: torch.Tensor, span: int) -> None:
        """Where ``rows`` keep their label of ``span`` and a number lies outside its bounds,
        draw the number's mode again, in place, among the modes whose centre the bounds hold;
        the number keeps its offset within the mode, or (``settle``) the mirror of it where
        that alone falls within. Clipping it onto the nearest bound instead piled such rows on
        one value (census: 1.5 points too many 17-year-olds). Numbers with no mode inside stay,
        and decoding moves them onto the bound."""
        labels = self.codes[rows, span : span + 1]
        for column, mode_span in self.ranges.mode_spans(span).items():
            if mode_span in self.frozen:
                continue
            left = self.ranges.outside(span, {column: self.numbers[column][rows]}, column)
            chosen = left.gather(1, labels).squeeze(1)
            lower, upper = self.ranges.ends(span, column)
            low, high = lower[labels[chosen, 0]], upper[labels[chosen, 0]]
            centres = self.ranges.centres[column]  # (M,)
            barred = (centres < low.unsqueeze(1)) | (centres > high.unsqueeze(1))
            some = ~barred.all(dim=1)
            if some.any():
                moving = rows[chosen][some]
                self.redraw(moving, mode_span, barred[some])
                self.numbers[column][moving] = self.settle(moving, column, low[some], high[some])

    def redraw(self, rows: torch.Tensor, span: int, barred: torch.Tensor) -> None:
        """:func:`_redraw` on this block."""
        _redraw(
            self.raw, self.codes, rows, span, barred, self.bounds, self.generator, self.decoding
        )


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
        bounded = {r.column for r in transformer.label_ranges}
        centres = {c: transformer.columns[c].mode_values() for c in bounded}
        self.ranges = RangeIndex(
            transformer.label_ranges, device, transformer.mode_spans(), centres
        )
        slices = transformer.column_slices if bounded else []
        self.offsets = {c: slices[c][0].start for c in bounded}  # their alphas

    def __call__(
        self,
        raw: torch.Tensor,
        alphas: torch.Tensor,
        codes: torch.Tensor,
        generator: torch.Generator,
        decoding: str = "sample",
        frozen: frozenset[int] = frozenset(),
    ) -> None:
        """Repair the block's ``codes`` in place (``raw``: its decoder outputs), and the
        offsets (``alphas``) of numbers whose mode moved into their label's range."""
        index, exclusions = self.index, self.exclusions
        if exclusions:
            repair_excluded(raw, codes, index, generator, exclusions, decoding, frozen)
        if self.ranges:
            numbers = self._numbers(alphas, codes)
            settle = functools.partial(self._settle, alphas, codes)
            repair_ranges(
                raw, codes, numbers, index, generator, self.ranges, exclusions, settle, decoding,
                frozen,
            )  # fmt: skip

    def _settle(
        self,
        alphas: torch.Tensor,
        codes: torch.Tensor,
        rows: torch.Tensor,
        column: int,
        lower: torch.Tensor,
        upper: torch.Tensor,
    ) -> torch.Tensor:
        """The numbers of ``column`` in ``rows``, whose mode was drawn again within the bounds
        (``lower``, ``upper``, (R,)): where the offset leaves them outside and its mirror
        (about the mode's centre) does not, the mirror, in place in ``alphas``."""
        place = self.offsets[column]
        values = self._numbers(alphas[rows], codes[rows], [column])[column]
        outside = (values < lower) | (values > upper)
        if outside.any():
            rows, lower, upper = rows[outside], lower[outside], upper[outside]
            alphas[rows, place] *= -1
            mirrored = self._numbers(alphas[rows], codes[rows], [column])[column]
            fits = (mirrored >= lower) & (mirrored <= upper)
            alphas[rows[~fits], place] *= -1  # no better: as drawn
            values[outside] = torch.where(fits, mirrored, values[outside])
        return values

    def _numbers(
        self, alphas: torch.Tensor, codes: torch.Tensor, columns: list[int] | None = None
    ) -> dict[int, torch.Tensor]:
        """The decoded values of the numbers some label bounds (or of ``columns``), (B,)
        float64 device tensors."""
        values = self.transformer.numbers(
            alphas.cpu().numpy(), codes.cpu().numpy(), columns or self.ranges.columns
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
