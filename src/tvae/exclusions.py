"""Value pairs no real row holds: found on the encoded rows, kept by the sampler (math only).

Two label columns often exclude pairs of values (adult: no husband is divorced, no husband is
female), which a model that draws each column from its own softmax breaks now and then (6.5 % of
adult's sampled rows held such a pair, 10.7 % of census's; docs/fidelity.md). A cell of two
category spans counts as excluded when no real row holds it although independent columns with
the same rates would have put :data:`MIN_EXPECTED_ROWS` rows there (the chance of an empty cell
is then below 5e-5). In a sampled row that holds one, the sampler keeps the more likely of the
two values (by the decoder's softmax for that row) and draws the other again among the values
that no other span of the row excludes (:func:`tvae.sampled_repairs.repair_excluded`): the
rest of the row, and every row without such a pair, stays as drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tvae.layout import SpanIndex

MIN_EXPECTED_ROWS = 10.0  # rows independence would put in a cell before its emptiness counts


@dataclass(frozen=True)
class Exclusion:
    """Codes ``cells[k] = (a, b)`` that softmax spans ``first`` and ``second`` (their places
    among the softmax spans) never hold together."""

    first: int
    second: int
    cells: tuple[tuple[int, int], ...]

    def get_state(self) -> dict:
        return {"spans": [self.first, self.second], "cells": [list(c) for c in self.cells]}

    @classmethod
    def from_state(cls, state: dict) -> Exclusion:
        first, second = state["spans"]
        return cls(int(first), int(second), tuple((int(a), int(b)) for a, b in state["cells"]))


def find_exclusions(
    codes: np.ndarray, widths: Sequence[int], spans: Sequence[int]
) -> list[Exclusion]:
    """The excluded cells between every two of ``spans`` (places among the softmax spans, whose
    widths are ``widths``), on the encoded rows' ``codes`` (N, S)."""
    n_rows = len(codes)
    if n_rows == 0:
        return []
    found = []
    for i, first in enumerate(spans):
        a, wide_a = codes[:, first].astype(np.int64), widths[first]
        count_a = np.bincount(a, minlength=wide_a)
        for second in spans[i + 1 :]:
            b, wide_b = codes[:, second].astype(np.int64), widths[second]
            together = np.bincount(a * wide_b + b, minlength=wide_a * wide_b)
            expected = np.outer(count_a, np.bincount(b, minlength=wide_b)) / n_rows
            empty = (together.reshape(wide_a, wide_b) == 0) & (expected >= MIN_EXPECTED_ROWS)
            if empty.any():
                cells = tuple((int(x), int(y)) for x, y in zip(*np.nonzero(empty), strict=True))
                found.append(Exclusion(first, second, cells))
    return found


class ExclusionIndex:
    """The exclusions as device tensors: ``pairs`` (first, second, boolean matrix (width of
    first, width of second) of excluded cells), and for each span the rules that involve it."""

    def __init__(self, exclusions: Sequence[Exclusion], index: SpanIndex) -> None:
        widths, device = index.softmax_widths.tolist(), index.softmax_widths.device
        self.pairs: list[tuple[int, int, torch.Tensor]] = []
        self.rules: dict[int, list[tuple[int, torch.Tensor]]] = {}
        for item in exclusions:
            matrix = torch.zeros(
                (widths[item.first], widths[item.second]), dtype=torch.bool, device=device
            )
            rows, columns = zip(*item.cells, strict=True)
            matrix[list(rows), list(columns)] = True
            self.pairs.append((item.first, item.second, matrix))
            self.rules.setdefault(item.second, []).append((item.first, matrix))
            self.rules.setdefault(item.first, []).append((item.second, matrix.T))

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def excluded(self, span: int, codes: torch.Tensor) -> torch.Tensor | None:
        """(B, W) True where span ``span``'s value is excluded by another span's code in
        ``codes`` (B, S). None when no rule involves the span."""
        mask = None
        for other, matrix in self.rules.get(span, []):
            hit = matrix[codes[:, other]]
            mask = hit if mask is None else mask | hit
        return mask
