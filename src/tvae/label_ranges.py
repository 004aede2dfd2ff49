"""Where a number lies under each label: found on the rows, kept by the sampler (math only).

A label is often set by a number's range: titanic's ``who`` is "child" exactly when ``age`` is
under 16, an age band or a BMI class is cut from its number, no one in adult has finished
professional school before 25. A model that draws the label from its softmax and the number
from its own mode and noise breaks this now and then (titanic: a tenth of the sampled rows held
a child over 15 or a man under 16).

A label's lowest (highest) value counts as a bound when the label's rows would almost never
all lie above (below) it if the label were independent of the number (with p the share of all
the column's values at or above it and n the label's rows, p ** n < :data:`CHANCE`), and when
at least :data:`MIN_ROWS_AT_BOUND` of the label's rows sit exactly at it. Ranges that small
groups hold by chance (a category of 3 rows) stay free, and so do the extremes of a
measurement, each held by one row, beyond which the label's real values go on (wine's classes:
held-out wines fall outside their class's training range, and bounds there cost 0.03 of
efficacy). A cut, a cap or a count reaches its edge again and again (titanic: 5 children of
15, the oldest, and 17 adults of 16, the youngest).

In a sampled row whose number lies outside its label's bounds the sampler keeps the more likely
of the two by the decoder's softmax, the label's probability against the number's mode's
(:func:`tvae.sampled_repairs.repair_ranges`). A likelier number keeps its value and the label
is drawn again among the labels whose bounds hold it (titanic: a 40-year-old drawn as a child).
A likelier label keeps its value, and so does a label a condition fixes: the number's mode is
drawn again among the modes whose centre the label's bounds hold, and the number keeps its
offset within its mode. (Always drawing the label again cost intrusion, whose attack labels
bound many counts, 0.13 of efficacy; moving the number onto the label's nearest bound, as
before, piled such rows on one value.) Decoding moves a number still outside, which no mode
inside reaches, onto the nearest bound, a value that real rows of the label hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

CHANCE = 1e-6  # a label's end counts as a bound when independence would give it this rarely
MIN_ROWS_AT_BOUND = 3  # ... and when this many of the label's rows sit at it


@dataclass(frozen=True)
class LabelRange:
    """Bounds that the number of column ``column`` (its place among the transformer's columns)
    keeps under each code of softmax span ``span`` (its place among the softmax spans): ``lower``
    and ``upper`` per code, None where that end is free."""

    span: int
    column: int
    lower: tuple[float | None, ...]
    upper: tuple[float | None, ...]

    def get_state(self) -> dict:
        return {
            "span": self.span,
            "column": self.column,
            "lower": list(self.lower),
            "upper": list(self.upper),
        }

    def ends(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bound per code (W,) each, -inf and +inf where an end is free."""
        lower = np.array([-math.inf if v is None else v for v in self.lower], dtype=np.float64)
        upper = np.array([math.inf if v is None else v for v in self.upper], dtype=np.float64)
        return lower, upper

    @classmethod
    def from_state(cls, state: dict) -> LabelRange:
        def ends(values: list) -> tuple[float | None, ...]:
            return tuple(None if v is None else float(v) for v in values)

        return cls(
            int(state["span"]), int(state["column"]), ends(state["lower"]), ends(state["upper"])
        )


def find_bounds(
    labels: np.ndarray, width: int, values: np.ndarray
) -> tuple[tuple[float | None, ...], tuple[float | None, ...]] | None:
    """The bounds (lower, upper per code, None where free) that ``values`` (N,) float, NaN where
    missing, keep under ``labels`` (N,) codes of a span ``width`` wide; None if there are none."""
    known = ~np.isnan(values)
    labels, values = labels[known].astype(np.int64), values[known]
    if len(values) == 0:
        return None
    ordered = np.sort(values)
    count = np.bincount(labels, minlength=width)
    low = np.full(width, np.inf)
    high = np.full(width, -np.inf)
    np.minimum.at(low, labels, values)
    np.maximum.at(high, labels, values)
    seen = count > 0
    at_low = np.bincount(labels, weights=values == low[labels], minlength=width)
    at_high = np.bincount(labels, weights=values == high[labels], minlength=width)
    at_or_above = 1.0 - np.searchsorted(ordered, low, side="left") / len(values)
    at_or_below = np.searchsorted(ordered, high, side="right") / len(values)
    limit = math.log(CHANCE)

    def bounds(share: np.ndarray, end: np.ndarray, at_end: np.ndarray) -> tuple:
        with np.errstate(divide="ignore"):
            rare = seen & (share < 1.0) & (count * np.log(np.maximum(share, 1e-300)) < limit)
        edge = rare & (at_end >= MIN_ROWS_AT_BOUND)
        return tuple(float(e) if r else None for e, r in zip(end, edge, strict=True))

    lower, upper = bounds(at_or_above, low, at_low), bounds(at_or_below, high, at_high)
    if all(v is None for v in (*lower, *upper)):
        return None
    return lower, upper


def find_label_ranges(
    codes: np.ndarray,
    widths: Sequence[int],
    spans: Sequence[int],
    numbers: dict[int, np.ndarray],
) -> list[LabelRange]:
    """The bounds between every label span of ``spans`` (places among the softmax spans, of
    ``widths``) and every column of ``numbers`` (place among the columns -> its values (N,),
    NaN where missing), on the encoded rows' ``codes`` (N, S)."""
    found = []
    for span in spans:
        for column, values in numbers.items():
            bounds = find_bounds(codes[:, span], widths[span], values)
            if bounds is not None:
                found.append(LabelRange(span, column, *bounds))
    return found


def clip_into_bounds(values: np.ndarray, labels: np.ndarray, item: LabelRange) -> np.ndarray:
    """``values`` (N,) moved onto the nearest bound that ``item`` sets for each row's label
    (``labels``, (N,) codes); missing values stay missing."""
    lower, upper = item.ends()
    return np.where(np.isnan(values), values, np.clip(values, lower[labels], upper[labels]))


class RangeIndex:
    """The bounds as device tensors, by label span: (column, lower (W,), upper (W,)), with
    -inf and +inf where an end is free; ``modes`` maps each number's column to its mode span
    (place among the softmax spans), and ``centres`` each number's column to the value each of
    its modes decodes to with a zero offset ((M,) float64)."""

    def __init__(
        self,
        ranges: Sequence[LabelRange],
        device: torch.device,
        modes: dict[int, int],
        centres: dict[int, np.ndarray],
    ) -> None:
        self.modes = modes
        self.centres = {c: torch.from_numpy(v).to(device) for c, v in centres.items()}
        self.by_span: dict[int, list[tuple[int, torch.Tensor, torch.Tensor]]] = {}
        for item in ranges:
            lower, upper = (torch.from_numpy(end).to(device) for end in item.ends())
            self.by_span.setdefault(item.span, []).append((item.column, lower, upper))

    def __bool__(self) -> bool:
        return bool(self.by_span)

    @property
    def columns(self) -> list[int]:
        """The number columns some bound reads."""
        return sorted({column for rules in self.by_span.values() for column, _, _ in rules})

    def ends(self, span: int, column: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The lower and upper bound (W,) that each code of ``span`` sets on ``column``."""
        return next((low, up) for other, low, up in self.by_span[span] if other == column)

    def mode_spans(self, span: int) -> dict[int, int]:
        """The numbers bounded under label span ``span``: column -> its mode span."""
        return {c: self.modes[c] for c, _, _ in self.by_span[span] if c in self.modes}

    def outside(
        self, span: int, numbers: dict[int, torch.Tensor], column: int | None = None
    ) -> torch.Tensor:
        """(B, W) True where a code of ``span`` has bounds (on ``column`` only, if given) that a
        row's number (``numbers``: column -> (B,) float64, NaN where missing) lies outside."""
        mask = None
        for other, lower, upper in self.by_span[span]:
            if column is not None and other != column:
                continue
            value = numbers[other].unsqueeze(1)  # NaN compares False: a missing cell is free
            hit = (value < lower) | (value > upper)
            mask = hit if mask is None else mask | hit
        return mask
