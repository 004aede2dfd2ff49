"""Per-column conditions: the decoder's likelihood of a condition, and draws restricted to it.

A condition holds one row of parameters per *group* (a distinct combination of requested values)
so that a frame of many different conditions is handled in one vectorised pass. Every condition
offers ``weight`` (p(condition | z) for a batch of decoder outputs), ``draw`` (overwrite its
spans with a draw restricted to the condition), ``finalize`` (make the decoded values exact) and
``describe`` (for messages).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from tvae.conditional.kinds import NumericView
from tvae.softmax_draws import gumbel_noise
from tvae.transformer.decoding_seed import seed_from_rows


class Missing:
    """The condition that a number be missing: what a condition on a column that another
    derives from its missing cells asks of it (student_placements: ``placed`` is False exactly
    where ``duration`` is missing)."""

    def __repr__(self) -> str:
        return "missing"


MISSING = Missing()


def span_probs(logits: torch.Tensor, decoding: str) -> torch.Tensor:
    """Probabilities the sampler gives each slot of a span: softmax, or one-hot of the argmax."""
    if decoding == "argmax":
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(torch.float64)
    return torch.softmax(logits.to(torch.float64), dim=-1)


@dataclass
class CategoricalCondition:
    """Allowed slots of one softmax span per group, as multipliers (G, C) in [0, 1].

    A multiplier is 1 for an allowed category and 0 otherwise, or the share of a requested value
    inside a slot that decodes to several values (the "rare" slot of a wide categorical).
    ``override`` holds, per group, the value to write in ``finalize`` (None: keep the decoded).
    """

    name: Any
    column: Any
    offset: int  # position of the span in the decoder output
    slot: int  # column of ``codes`` holding this span
    multiplier: torch.Tensor  # (G, C) float64
    override: np.ndarray  # (G,) object
    labels: np.ndarray  # (G,) what the user asked, for messages
    rare: np.ndarray | None = None  # (G,) object: a set's (values, weights) in the shared slot

    @property
    def positions(self) -> list[int]:
        """Decoder outputs the weight reads."""
        return list(range(self.offset, self.offset + self.multiplier.shape[1]))

    def weight(self, raw, sigma, groups, decoding) -> torch.Tensor:
        width = self.multiplier.shape[1]
        probs = span_probs(raw[:, self.offset : self.offset + width], decoding)  # (B, C)
        return (probs * self.multiplier[groups]).sum(-1)  # (B,)

    def draw(self, raw, sigma, groups, decoding, generator, alphas, codes) -> None:
        logits = raw[:, self.offset : self.offset + self.multiplier.shape[1]].to(torch.float64)
        if decoding == "sample":
            logits = logits + gumbel_noise(logits.shape, generator, raw.device)
        codes[:, self.slot] = (logits + self.multiplier[groups].log()).argmax(-1)

    def finalize(self, frame: pd.DataFrame, alphas, codes, groups: np.ndarray) -> None:
        write_values(frame, self.column, self.override[groups])
        if self.rare is None:
            return
        # a set's values in the shared slot of a wide categorical: the slot's own draw, among
        # all its values, left SumHes' country outside the countries that give com = "yes"
        # (48 % of rows); drawn here among the set's, by their real shares
        in_slot = codes[:, self.slot] == self.multiplier.shape[1] - 1
        wanted = np.full(len(frame), None, dtype=object)
        rng = np.random.default_rng(seed_from_rows(alphas, codes))
        for group in np.unique(groups[in_slot]):
            rows = np.flatnonzero(in_slot & (groups == group))
            if self.rare[group] is not None:
                values, weights = self.rare[group]
                chosen = rng.choice(len(values), size=len(rows), p=weights)
                wanted[rows] = np.asarray(values, dtype=object)[chosen]
        write_values(frame, self.column, wanted)

    def describe(self, group: int) -> str:
        return describe_condition(self.name, self.labels[group])


@dataclass
class NumericCondition:
    """A range of numbers per group (a point for float equality) on a mode-normalised column.

    ``low``/``high`` bound the draw (the asked range widened by half a rounding step), as alphas
    in each mode (the normalizer's :meth:`~ModeNormalizer.alphas_of`: the column's numbers may
    be modelled in log space); ``final`` holds (value to set or NaN, clip low, clip high) per
    group, in the column's number space.
    Inactive groups (an empty cell of a conditions frame) are left free.
    """

    name: Any
    view: NumericView
    offsets: tuple[int, int, int | None]  # alpha, mode span, missing-flag span in the output
    slots: tuple[int, int, int | None]  # their columns in alphas / codes
    width: torch.Tensor  # (G, K) float64: d value / d alpha at ``low``, for densities
    active: torch.Tensor  # (G,) bool
    low: torch.Tensor  # (G, K) float64, alpha space
    high: torch.Tensor  # (G, K) float64, alpha space
    point: torch.Tensor  # (G,) bool: float equality, weighted by the density at ``low``
    final: np.ndarray  # (G, 3)
    labels: np.ndarray  # (G,)
    absent: torch.Tensor | None = None  # (G,) bool: the cell must be missing (MISSING)

    def __post_init__(self) -> None:
        self.has_point = bool(self.point.any())
        if self.absent is None:
            self.absent = torch.zeros_like(self.active)

    @property
    def slot(self) -> int:
        """Column of ``codes`` holding the mode span: what the condition fixes there."""
        return self.slots[1]

    @property
    def positions(self) -> list[int]:
        """Decoder outputs the weight reads."""
        alpha, modes, missing = self.offsets
        extra = [] if missing is None else [missing, missing + 1]
        return [alpha, *range(modes, modes + self.width.shape[1]), *extra]

    def _stats(self, raw, sigma, groups):
        position = self.offsets[0]
        centre = torch.tanh(raw[:, position].to(torch.float64))[:, None]  # (B, 1)
        scale = sigma[position].to(torch.float64)
        lo, hi = self.low[groups], self.high[groups]  # (B, K)
        modes = raw[:, self.offsets[1] : self.offsets[1] + self.width.shape[1]]
        return centre, scale, lo, hi, modes

    @staticmethod
    def _mass(centre, scale, lo, hi):
        """P(clip(a) in [lo, hi]) for a ~ N(centre, scale), and the standardised bounds."""
        empty = (lo > 1) | (hi < -1) | (lo > hi)
        # Clipping puts the mass beyond +-1 on the bounds: a range reaching a bound takes it all.
        a = (torch.where(lo <= -1, -math.inf, lo) - centre) / scale
        b = (torch.where(hi >= 1, math.inf, hi) - centre) / scale
        # Above the mean use the upper tail, Phi(-a) - Phi(-b), for accuracy far out.
        side = torch.where(a > 0, -1.0, 1.0)
        mass = (torch.special.ndtr(side * b) - torch.special.ndtr(side * a)).abs()
        return mass.masked_fill_(empty, 0.0), a, b

    def _present(self, raw, decoding) -> torch.Tensor:
        """Probability that the cell is not missing (1 for columns without missing values)."""
        if self.offsets[2] is None:
            return torch.ones(len(raw), dtype=torch.float64, device=raw.device)
        return span_probs(raw[:, self.offsets[2] : self.offsets[2] + 2], decoding)[:, 0]

    def weight(self, raw, sigma, groups, decoding) -> torch.Tensor:
        centre, scale, lo, hi, logits = self._stats(raw, sigma, groups)
        per_mode, _, _ = self._mass(centre, scale, lo, hi)  # (B, K)
        if self.has_point:
            z = (lo - centre) / scale
            density = torch.exp(-0.5 * z**2) / (scale * math.sqrt(2 * math.pi) * self.width[groups])
            density = torch.where(lo.abs() < 1, density, 0.0)
            per_mode = torch.where(self.point[groups, None], density, per_mode)
        present = self._present(raw, decoding)
        weight = (span_probs(logits, decoding) * per_mode).sum(-1) * present
        weight = torch.where(self.absent[groups], 1.0 - present, weight)
        return torch.where(self.active[groups], weight, 1.0)

    def draw(self, raw, sigma, groups, decoding, generator, alphas, codes) -> None:
        active, absent = self.active[groups], self.absent[groups]
        rows = torch.nonzero(active & ~self.point[groups] & ~absent).squeeze(1)
        if self.slots[2] is not None:  # a conditioned cell is present, or asked to be missing
            codes[torch.nonzero(active & ~absent).squeeze(1), self.slots[2]] = 0
            codes[torch.nonzero(absent).squeeze(1), self.slots[2]] = 1
        if rows.numel() == 0:  # equality on floats: the value is set in ``finalize``
            return
        centre, scale, lo, hi, logits = self._stats(raw[rows], sigma, groups[rows])
        mass, a, b = self._mass(centre, scale, lo, hi)
        joint = span_probs(logits, decoding) * mass  # (R, K)
        joint = torch.where(joint.sum(-1, keepdim=True) > 0, joint, mass + 1e-300)
        mode = torch.multinomial(joint, 1, generator=generator)  # (R, 1)
        a, b = a.gather(1, mode)[:, 0], b.gather(1, mode)[:, 0]
        # Inverse-CDF draw from the normal truncated to [a, b], on the side with more precision.
        u = torch.rand(len(rows), generator=generator, device=raw.device, dtype=torch.float64)
        ndtr, ndtri = torch.special.ndtr, torch.special.ndtri
        below = ndtri(ndtr(a) + u * (ndtr(b) - ndtr(a)))
        above = -ndtri(ndtr(-a) - u * (ndtr(-a) - ndtr(-b)))
        x = torch.nan_to_num(torch.where(a > 0, above, below), nan=0.0)
        x = torch.maximum(torch.minimum(x, b), a)
        alphas[rows, self.slots[0]] = (centre[:, 0] + scale * x).clamp(-1.0, 1.0).to(alphas.dtype)
        codes[rows, self.slots[1]] = mode[:, 0]

    def finalize(self, frame: pd.DataFrame, alphas, codes, groups: np.ndarray) -> None:
        """Decode the column again with equalities set and ranges clipped, in its own dtype."""
        value, low, high = self.final[groups].T
        active = self.active.cpu().numpy()[groups]

        def fix(numbers: np.ndarray) -> np.ndarray:
            exact = np.clip(np.where(np.isnan(value), numbers, value), low, high)
            return np.where(active, exact, numbers)

        a_cols = [self.slots[0]]
        c_cols = [s for s in self.slots[1:] if s is not None]
        series = self.view.finish(alphas[:, a_cols], codes[:, c_cols], fix)
        if pd.api.types.is_float_dtype(series.dtype):  # the grid's rounding can pass an end
            # that float noise put off it (fgl's RI asked up to -0.650000000000091: -0.65)
            numbers = series.to_numpy(dtype=np.float64)
            inside = np.where(active, np.clip(numbers, low, high), numbers)
            series = pd.Series(inside, index=series.index, name=series.name, dtype=series.dtype)
        frame[self.name] = series.set_axis(frame.index)

    def describe(self, group: int) -> str:
        return describe_condition(self.name, self.labels[group])


@dataclass
class FixedCondition:
    """A column the model does not learn (an ID): the requested values are simply written."""

    name: Any
    column: Any
    values: np.ndarray  # (G,) object, None: keep the generated value

    positions: tuple = ()  # the column has no span

    def weight(self, raw, sigma, groups, decoding) -> torch.Tensor:
        return torch.ones(len(raw), dtype=torch.float64, device=raw.device)

    def draw(self, raw, sigma, groups, decoding, generator, alphas, codes) -> None:
        """Nothing to draw: the column has no span."""

    def finalize(self, frame: pd.DataFrame, alphas, codes, groups: np.ndarray) -> None:
        write_values(frame, self.column, self.values[groups])

    def describe(self, group: int) -> str:
        return describe_condition(self.name, self.values[group])


Condition = CategoricalCondition | NumericCondition | FixedCondition


def write_values(frame: pd.DataFrame, column: Any, wanted: np.ndarray) -> None:
    """Write ``wanted`` (N,) object into the column where it is not None, in the column's dtype."""
    rows = np.flatnonzero([value is not None for value in wanted])
    if len(rows):
        values = frame[column.name].to_numpy(dtype=object, copy=True)
        values[rows] = wanted[rows]
        restored = column.dtype.restore_labels(values, column.name)
        frame[column.name] = restored.set_axis(frame.index)


def describe_condition(name: Any, label: Any) -> str:
    if isinstance(label, tuple):
        return f"{label[0]!r} <= {name!r} <= {label[1]!r}"
    return f"{name!r} == {label!r}"
