"""The refiner: a classifier that tells real encoded rows from sampled ones, and keeps sampled
rows in proportion to how real it finds them (discriminator rejection sampling, Azadi et al.,
2019). Math and training only: no I/O.

A VAE's rows are each plausible column by column, but a boosted classifier still tells many of
them from real rows (adult: detection 0.77 where held-out real rows score 0.99): the decoder is
smooth and its noise independent per column, so it puts some mass where real rows are rare.
A classifier trained on real rows against the model's own rows estimates the ratio of the two
densities, ``p_real(x) / p_model(x) = D(x) / (1 - D(x))``, its odds. Keeping a sampled row with
probability ``min(1, odds / c)`` draws, for ``c`` at least the largest odds, from ``p_real``
itself wherever the classifier is right; a smaller ``c`` (``ACCEPT_QUANTILE`` of the sampled
rows' odds) caps the cost, and every row gets a chance of at least ``ACCEPT_FLOOR``.

A classifier that is not perfect moves the rates calibration matched, so the chances of each
block are raked (:meth:`Refiner.raked`): scaled until the rows kept hold every category, mode
and point-mass value at the real rows' rate.

The classifier reads what decoding makes of a row: the one-hot categories and modes of the
encoded row, with each number's scalar replaced by its decoded value (clipped, rounded, a point
mass exact), standardised. The scalar itself would give the rows away for nothing: a real row
at a point mass has scalar 0, a sampled one has the decoder's noise there, which decoding
ignores. It is trained on at most ``TRAIN_ROWS`` real rows and ``DRAWN_PER_REAL`` times as many
sampled ones, and stops where its loss on a fifth of them, kept aside, stops falling, so that on
a small table it learns the model's faults and not the training rows themselves
(:mod:`tvae.refiner_training`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from tvae.layout import SpanIndex, dense_batch

# "auto" refines tables of at least MIN_ROWS rows. On fewer, a classifier that must learn from
# a few hundred rows favours sampled rows near training rows: titanic (712 training rows) and
# breast_cancer (455) had more synthetic rows nearer a training row than a held-out one (DCR
# share 0.528 -> 0.563 and 0.522 -> 0.547, seeds 0-2) and titanic's detection fell. The same
# bound as the fast schedule's weaker KL term (tvae.schedule.FAST_LOSS_FACTOR_ROWS): below it,
# more fidelity mostly memorises.
MIN_ROWS = 2_500


def refines_by_default(decoding: str, n_rows: int) -> bool:
    """Where ``refine="auto"`` refines (and ``quantile_map="auto"`` maps): with sampled
    decoding, on tables of ``MIN_ROWS`` rows or more."""
    return decoding == "sample" and n_rows >= MIN_ROWS


# A wider classifier that learns from more of the model's rows finds more of its faults: on
# adult (seed 0) detection 0.856 with 2x128 units and as many drawn rows as real ones, 0.873
# with three drawn rows per real one, 0.880 with 2x256 units, 0.909 with both (docs/fidelity.md).
HIDDEN = (256, 256)
TRAIN_ROWS = 20_000  # real rows the classifier learns from, at most
DRAWN_PER_REAL = 3  # drawn rows it learns from per real row: they cost one draw each
MAX_LOG_ODDS = math.log(50.0)  # odds beyond 1:50 either way are not trusted
ACCEPT_QUANTILE = 0.9  # c: this quantile of the sampled rows' odds
ACCEPT_FLOOR = 0.02  # the least chance any sampled row keeps
RAKE_PASSES = 5
RAKE_MAX = 5.0  # a category's chances move by at most this factor per pass


class Refiner(nn.Module):
    """An MLP from a row's features (:meth:`features`) to the log-odds that it is real, with
    what reading and raking need: the acceptance constant ``c`` (its log), the numbers'
    standardisation, the real rates of every category, mode and point mass."""

    def __init__(
        self, width: int, n_numbers: int, n_masses: int = 0, hidden: Sequence[int] = HIDDEN
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = width
        for units in hidden:
            layers += [nn.Linear(size, units), nn.ReLU()]
            size = units
        self.body = nn.Sequential(*layers, nn.Linear(size, 1))
        self.hidden = tuple(int(h) for h in hidden)
        self.register_buffer("log_threshold", torch.zeros(()))
        # each number: its column (place among the columns), its scalar's place among the
        # alphas, and the mean and standard deviation of its real values
        self.register_buffer("number_columns", torch.zeros(n_numbers, dtype=torch.long))
        self.register_buffer("number_alphas", torch.zeros(n_numbers, dtype=torch.long))
        self.register_buffer("number_mean", torch.zeros(n_numbers, dtype=torch.float64))
        self.register_buffer("number_std", torch.ones(n_numbers, dtype=torch.float64))
        # the real rows' rate of each category and mode (0 at the scalars' positions)
        self.register_buffer("code_rates", torch.zeros(width))
        # positions of columns another column determines: decoding overwrites them
        self.register_buffer("derived", torch.zeros(width, dtype=torch.bool))
        # each point mass (a value many real rows hold exactly): which number (place among the
        # numbers above), the value, and the real rows' share of it
        self.register_buffer("mass_numbers", torch.zeros(n_masses, dtype=torch.long))
        self.register_buffer("mass_values", torch.zeros(n_masses, dtype=torch.float64))
        self.register_buffer("mass_rates", torch.zeros(n_masses, dtype=torch.float64))

    def numbers(self, alphas: torch.Tensor, codes: torch.Tensor, transformer: Any) -> torch.Tensor:
        """The decoded values (B, K) float64 of the numbers the features read."""
        if not len(self.number_columns):
            return torch.zeros((len(codes), 0), dtype=torch.float64)
        return decoded_numbers(alphas, codes, transformer, self.number_columns.tolist())

    def features(
        self, alphas: torch.Tensor, codes: torch.Tensor, index: SpanIndex, values: torch.Tensor
    ) -> torch.Tensor:
        """The encoded rows (B, D) with each number's scalar replaced by its decoded value
        (``values``, from :meth:`numbers`), standardised (0 where missing), and 0 for every
        column another column determines (its parent's mapping overwrites it when decoded)."""
        scalars = alphas.clone()
        if len(self.number_columns):
            standard = (values.to(alphas.device) - self.number_mean) / self.number_std
            scalars[:, self.number_alphas] = (
                torch.nan_to_num(standard, nan=0.0).float().clamp(-8, 8)
            )
        return dense_batch(scalars, codes, index, index.width).masked_fill_(self.derived, 0.0)

    def log_odds(self, rows: torch.Tensor) -> torch.Tensor:
        """log(D / (1 - D)) of featured rows (B, D), clipped to +-MAX_LOG_ODDS. Returns (B,)."""
        return self.body(rows).squeeze(1).clamp(-MAX_LOG_ODDS, MAX_LOG_ODDS)

    @torch.no_grad()
    def keep(
        self,
        alphas: torch.Tensor,
        codes: torch.Tensor,
        index: SpanIndex,
        transformer: Any,
        generator: torch.Generator,
        rake: bool = True,
    ) -> torch.Tensor:
        """Which sampled rows to keep (B,) bool: each with probability
        ``max(ACCEPT_FLOOR, min(1, odds / c))``, one uniform draw per row from ``generator``;
        with ``rake``, those chances scaled first so that the kept rows hold each category,
        mode and point mass at its real rate (:meth:`raked`)."""
        values = self.numbers(alphas, codes, transformer)
        odds = self.log_odds(self.features(alphas, codes, index, values))
        chance = torch.exp(odds - self.log_threshold).clamp_(ACCEPT_FLOOR, 1.0)
        if rake and len(chance):
            chance = self.raked(chance, codes, index, values)
        uniform = torch.rand(chance.shape, generator=generator, device=chance.device)
        return uniform < chance

    def raked(
        self, chance: torch.Tensor, codes: torch.Tensor, index: SpanIndex, values: torch.Tensor
    ) -> torch.Tensor:
        """``chance`` (B,) scaled, constraint by constraint (RAKE_PASSES passes), so that the
        rows kept are expected to hold each point-mass value (of the decoded ``values``:
        clipping to a column's range lands on it too), category and mode at its real rate, each
        chance capped at 1 after every step (iterative proportional fitting on the block, with
        an upper bound; each step keeps the sum of the chances but for what the cap takes).
        A number's point masses, and "none of them", make one constraint; each category or mode
        span another. Columns another column determines are left out. In NumPy: a few hundred
        small steps a block, each far cheaper there than as a torch call."""
        constraints = self._rake_constraints(codes, index, values)
        weights = chance.double().cpu().numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            for _ in range(RAKE_PASSES):
                for cell, target in constraints:
                    held = np.bincount(cell, weights, minlength=len(target))
                    factor = np.where(held > 0, target * (held.sum() / held), 1.0)
                    weights = weights * np.clip(factor, 1 / RAKE_MAX, RAKE_MAX)[cell]
                    # a chance is at most 1: the next steps move what it would lose onto
                    # the other rows, so the rates hold however many rows reach 1
                    np.minimum(weights, 1.0, out=weights)
        raked = torch.from_numpy(weights)
        return raked.to(device=chance.device, dtype=chance.dtype)

    def _rake_constraints(
        self, codes: torch.Tensor, index: SpanIndex, values: torch.Tensor
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """What :meth:`raked` matches, constraint by constraint: each row's cell (B,) and each
        cell's real rate. First, for each number with point masses, one cell per mass and one
        for "none of them" (they pull whole numbers' mode shares with them); then each category
        or mode span of a column no other column determines, its codes the cells."""
        constraints = []
        hits = at_point_masses(values, self.mass_numbers, self.mass_values).numpy()
        numbers, rates = self.mass_numbers.cpu().numpy(), self.mass_rates.cpu().numpy()
        for number in np.unique(numbers):
            group = np.flatnonzero(numbers == number)
            held = hits[:, group]
            cell = np.where(held.any(1), held.argmax(1), len(group))
            target = np.append(rates[group], max(0.0, 1.0 - rates[group].sum()))
            constraints.append((cell, target))
        code_rates = self.code_rates.double().cpu().numpy()
        derived = self.derived.cpu().numpy()
        spans = zip(index.softmax_offsets.tolist(), index.softmax_widths.tolist(), strict=True)
        for span, (offset, width) in enumerate(spans):
            if not derived[offset]:
                cell = codes[:, span].cpu().numpy()
                constraints.append((cell, code_rates[offset : offset + width]))
        return constraints


def decoded_numbers(
    alphas: torch.Tensor, codes: torch.Tensor, transformer: Any, columns: list[int]
) -> torch.Tensor:
    """The decoded values (B, K) float64, NaN where missing, of the numerical ``columns``."""
    values = transformer.numbers(alphas.cpu().numpy(), codes.cpu().numpy(), columns)
    return torch.from_numpy(np.stack([values[c] for c in columns], axis=1).astype(np.float64))


def number_places(transformer: Any) -> tuple[list[int], list[int]]:
    """The numerical columns with one scalar (places among the columns) and their scalars'
    places among the alphas."""
    slices = transformer.column_slices
    columns, scalars = [], []
    for place, col in enumerate(transformer.columns):
        alpha = slices[place][0]
        if col.kind == "numerical" and alpha.stop - alpha.start == 1:
            columns.append(place)
            scalars.append(alpha.start)
    return columns, scalars


def at_point_masses(
    values: torch.Tensor, numbers: torch.Tensor, masses: torch.Tensor
) -> torch.Tensor:
    """(B, P) bool: whether each row's number ``numbers[p]`` (a place among the columns of the
    decoded ``values``, (B, K)) is point mass ``masses[p]`` (to 1e-9 of its size)."""
    tolerance = 1e-9 * masses.abs().clamp(min=1.0)
    return (values[:, numbers.cpu()] - masses.cpu()).abs() <= tolerance.cpu()


def point_masses(
    transformer: Any, columns: list[int], values: torch.Tensor, derived: set[str]
) -> list[tuple[int, float, float]]:
    """Each exact mode (point mass) of the numerical ``columns`` that no other column
    determines: (place among ``columns``, value, share of the real rows, whose decoded
    ``values`` (N, K) are given, that hold it)."""
    found = []
    for k, place in enumerate(columns):
        column = transformer.columns[place]
        normalizer = getattr(column, "normalizer", None)
        if str(column.name) in derived or getattr(normalizer, "exact", None) is None:
            continue
        for value in np.asarray(normalizer.mean)[np.asarray(normalizer.exact, dtype=bool)]:
            found.append((k, float(value)))
    if not found:
        return []
    numbers, masses = zip(*found, strict=True)
    shares = (
        at_point_masses(
            values, torch.as_tensor(numbers), torch.as_tensor(masses, dtype=torch.float64)
        )
        .double()
        .mean(0)
    )
    return [(k, value, float(share)) for (k, value), share in zip(found, shares, strict=True)]


def build_refiner(real: tuple[torch.Tensor, torch.Tensor], index: SpanIndex, transformer: Any):
    """An untrained :class:`Refiner` for ``transformer``'s rows, with what it reads and rakes
    by taken from the encoded real rows ``real`` (alphas, codes); and their decoded numbers."""
    columns, scalars = number_places(transformer)
    values = decoded_numbers(*real, transformer, columns) if columns else None
    deps = transformer.dependencies
    derived = {str(c) for c in deps.derived()}
    masses = point_masses(transformer, columns, values, derived) if columns else []
    refiner = Refiner(index.width, len(columns), len(masses)).to(real[0].device)
    for span in transformer.layout.spans:
        if str(span.column) in derived:
            refiner.derived[span.offset : span.end] = True
    if columns:
        mean = torch.nan_to_num(values.nanmean(0), nan=0.0)
        spread = torch.nan_to_num((values - mean).square().nanmean(0).sqrt(), nan=1.0)
        refiner.number_columns.copy_(torch.as_tensor(columns))
        refiner.number_alphas.copy_(torch.as_tensor(scalars))
        refiner.number_mean.copy_(mean)
        refiner.number_std.copy_(spread.clamp(min=1e-9))
    if masses:
        numbers, points, rates = zip(*masses, strict=True)
        refiner.mass_numbers.copy_(torch.as_tensor(numbers))
        refiner.mass_values.copy_(torch.as_tensor(points, dtype=torch.float64))
        refiner.mass_rates.copy_(torch.as_tensor(rates, dtype=torch.float64))
    ones = dense_batch(torch.zeros_like(real[0]), real[1], index, index.width)
    refiner.code_rates.copy_(ones.mean(0))
    return refiner


def load_refiner(width: int, hidden: Sequence[int], tensors: dict[str, torch.Tensor]) -> Refiner:
    """A :class:`Refiner` rebuilt from its saved tensors (``state_dict`` keys)."""
    refiner = Refiner(width, len(tensors["number_columns"]), len(tensors["mass_values"]), hidden)
    refiner.load_state_dict(tensors, strict=True)
    return refiner.eval()
