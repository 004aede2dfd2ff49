"""The typed layout of an encoded row: which slice of the vector is which activation.

The transformer produces it; the decoder's activations, the loss and the sampler read it.
A continuous column contributes one ``tanh`` scalar followed by a ``softmax`` block over its
mixture modes; a categorical column contributes one ``softmax`` block over its categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

SpanKind = Literal["tanh", "softmax"]


@dataclass(frozen=True)
class Span:
    """A contiguous slice ``[offset, offset + width)`` of the encoded vector."""

    kind: SpanKind
    width: int
    offset: int
    column: str

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
    def from_widths(cls, items: list[tuple[SpanKind, int, str]]) -> Layout:
        """Build a layout from ``(kind, width, column)`` triples, computing the offsets."""
        spans, offset = [], 0
        for kind, width, column in items:
            spans.append(Span(kind, int(width), offset, column))
            offset += int(width)
        return cls(tuple(spans))

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
        return [{"kind": s.kind, "width": s.width, "column": s.column} for s in self.spans]

    @classmethod
    def from_list(cls, items: list[dict]) -> Layout:
        return cls.from_widths([(d["kind"], d["width"], d["column"]) for d in items])
