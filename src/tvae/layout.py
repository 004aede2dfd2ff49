"""The typed layout of an encoded row: which slice of the vector is which activation.

The transformer produces it; the decoder's activations, the loss and the sampler read it, the
last two through :class:`SpanIndex`, its device tensors.

A continuous column contributes one ``tanh`` scalar followed by a ``softmax`` block over its
mixture modes; a categorical column contributes one ``softmax`` block over its categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import torch

SpanKind = Literal["tanh", "softmax"]
# "missing": a column's 2-wide "is this cell missing?" softmax; its other spans mean nothing in
# a row where it says missing (they hold a filler there).
SpanRole = Literal["value", "missing"]


@dataclass(frozen=True)
class Span:
    """A contiguous slice ``[offset, offset + width)`` of the encoded vector."""

    kind: SpanKind
    width: int
    offset: int
    column: str
    role: SpanRole = "value"

    @property
    def end(self) -> int:
        return self.offset + self.width


@dataclass(frozen=True)
class Layout:
    """An ordered tuple of spans that tile ``[0, width)`` without gaps or overlaps."""

    spans: tuple[Span, ...]

    def __post_init__(self) -> None:
        position = 0
        for span in self.spans:
            if span.kind not in ("tanh", "softmax"):
                raise ValueError(f"span kind must be 'tanh' or 'softmax', got {span.kind!r}")
            if span.width < 1:
                raise ValueError(f"span of column {span.column!r} has width {span.width} < 1")
            if span.kind == "tanh" and span.width != 1:
                raise ValueError(f"tanh span of column {span.column!r} must have width 1")
            if span.offset != position:
                raise ValueError(
                    f"spans must tile the vector: span of column {span.column!r} starts at "
                    f"{span.offset}, expected {position}"
                )
            position = span.end

    @classmethod
    def from_widths(cls, items: list[tuple]) -> Layout:
        """Build a layout from ``(kind, width, column[, role])`` tuples, computing the offsets."""
        spans, offset = [], 0
        for kind, width, column, *role in items:
            spans.append(Span(kind, int(width), offset, column, *role))
            offset += int(width)
        return cls(tuple(spans))

    @cached_property
    def slots(self) -> tuple[int, ...]:
        """Each span's place in the encoded pair: its column of the alphas (a tanh span) or of
        the codes (a softmax span)."""
        counts = {"tanh": 0, "softmax": 0}
        places = []
        for span in self.spans:
            places.append(counts[span.kind])
            counts[span.kind] += 1
        return tuple(places)

    def column_slices(self, n_spans: list[int]) -> list[tuple[slice, slice]]:
        """Each column's slice of the alphas and of the codes, given how many spans each
        column has (in order; they must add up to the layout's spans)."""
        if sum(n_spans) != len(self.spans):
            raise ValueError(f"columns of {sum(n_spans)} spans for a layout of {len(self.spans)}")
        slices, start, n_tanh, n_softmax = [], 0, 0, 0
        for count in n_spans:
            kinds = [span.kind for span in self.spans[start : start + count]]
            a, c = kinds.count("tanh"), kinds.count("softmax")
            slices.append((slice(n_tanh, n_tanh + a), slice(n_softmax, n_softmax + c)))
            start, n_tanh, n_softmax = start + count, n_tanh + a, n_softmax + c
        return slices

    @property
    def width(self) -> int:
        """Total width of the encoded vector."""
        return self.spans[-1].end if self.spans else 0

    @cached_property
    def tanh_positions(self) -> np.ndarray:
        """Positions of the tanh scalars, in span order. Shape (n_tanh,)."""
        return np.array([s.offset for s in self.spans if s.kind == "tanh"], dtype=np.int64)

    @cached_property
    def softmax_spans(self) -> tuple[Span, ...]:
        return tuple(s for s in self.spans if s.kind == "softmax")

    @cached_property
    def softmax_offsets(self) -> np.ndarray:
        """Start of each softmax block. Shape (n_softmax,)."""
        return np.array([s.offset for s in self.softmax_spans], dtype=np.int64)

    @cached_property
    def softmax_widths(self) -> np.ndarray:
        """Width of each softmax block. Shape (n_softmax,)."""
        return np.array([s.width for s in self.softmax_spans], dtype=np.int64)

    @cached_property
    def presence_gates(self) -> tuple[int, ...]:
        """For each softmax span, the softmax index of its column's "missing" span (whose code
        0 means the cell is present), or -1 when the span is not gated by one."""
        flags = {
            span.column: s for s, span in enumerate(self.softmax_spans) if span.role == "missing"
        }
        return tuple(
            flags.get(span.column, -1) if span.role == "value" else -1
            for span in self.softmax_spans
        )

    @property
    def n_tanh(self) -> int:
        return len(self.tanh_positions)

    @property
    def n_softmax(self) -> int:
        return len(self.softmax_spans)

    @cached_property
    def softmax_gather(self) -> tuple[np.ndarray, np.ndarray]:
        """Index and padding mask that pack all softmax blocks into one padded matrix.

        ``vector[..., index]`` has shape (..., n_softmax, max_width); entries where ``mask`` is
        True are padding and must be ignored. This lets the loss and the sampler treat blocks
        of different widths in one vectorised operation instead of a loop over columns.
        """
        max_width = int(self.softmax_widths.max()) if self.n_softmax else 1
        steps = np.arange(max_width)[None, :]  # (1, W)
        mask = steps >= self.softmax_widths[:, None]  # (S, W)
        index = np.where(mask, 0, self.softmax_offsets[:, None] + steps)
        return index.astype(np.int64), mask

    def to_list(self) -> list[dict]:
        """JSON-ready description."""
        return [
            {"kind": s.kind, "width": s.width, "column": s.column}
            | ({"role": s.role} if s.role != "value" else {})
            for s in self.spans
        ]

    @classmethod
    def from_list(cls, items: list[dict]) -> Layout:
        return cls.from_widths(
            [(d["kind"], d["width"], d["column"], d.get("role", "value")) for d in items]
        )


@dataclass(frozen=True)
class SpanIndex:
    """Device tensors derived from a :class:`Layout`, built once per fit."""

    tanh_positions: torch.Tensor  # (T,) long
    softmax_index: torch.Tensor  # (S, W) long, into the D positions
    softmax_offsets: torch.Tensor  # (S,) long
    softmax_widths: torch.Tensor  # (S,) long
    membership: torch.Tensor  # (D, S) float, 1 where position d belongs to softmax span s
    # additive masks: adding -inf is a plain vectorised add, where a broadcast masked_fill is
    # several times slower at training-batch sizes
    padding_bias: torch.Tensor  # (S, W) float, -inf where a block is narrower than W, else 0
    # (D,) long: the softmax span of each position; S (one past the last span) at tanh ones
    position_span: torch.Tensor
    width: int = 0  # D, the width of an encoded row
    presence_gates: tuple[int, ...] = ()  # Layout.presence_gates

    @classmethod
    def from_layout(cls, layout: Layout, device: torch.device | str = "cpu") -> SpanIndex:
        index, mask = layout.softmax_gather
        membership = torch.zeros(layout.width, layout.n_softmax)
        position_span = torch.full((layout.width,), layout.n_softmax, dtype=torch.long)
        for s, span in enumerate(layout.softmax_spans):
            membership[span.offset : span.end, s] = 1.0
            position_span[span.offset : span.end] = s
        minus_inf = torch.tensor(float("-inf"))
        padding = torch.as_tensor(mask)
        return cls(
            tanh_positions=torch.as_tensor(layout.tanh_positions, device=device),
            softmax_index=torch.as_tensor(index, device=device),
            softmax_offsets=torch.as_tensor(layout.softmax_offsets, device=device),
            softmax_widths=torch.as_tensor(layout.softmax_widths, device=device),
            membership=membership.to(device),
            padding_bias=torch.where(padding, minus_inf, 0.0).to(device),
            position_span=position_span.to(device),
            width=layout.width,
            presence_gates=layout.presence_gates,
        )

    def softmax_logits(self, raw: torch.Tensor) -> torch.Tensor:
        """Pack the softmax blocks of ``raw`` (B, D) into (B, S, W), padding set to -inf."""
        flat = raw.index_select(1, self.softmax_index.flatten())  # (B, S * W), one fast gather
        return flat.view(len(raw), *self.softmax_index.shape) + self.padding_bias


def dense_batch(
    alphas: torch.Tensor, codes: torch.Tensor, index: SpanIndex, width: int
) -> torch.Tensor:
    """Build the encoded rows (B, D): tanh scalars in place, a 1 at each span's category."""
    batch = alphas.new_zeros((codes.shape[0], width))  # (B, D)
    if index.tanh_positions.numel():
        batch[:, index.tanh_positions] = alphas
    if index.softmax_offsets.numel():
        batch.scatter_(1, index.softmax_offsets + codes, 1.0)
    return batch
