"""A numerical column with real-world care: missing values, precision, range and integer dtype.

Spans: the mode-specific normalisation of :mod:`tvae.transformer.continuous` (one tanh + one
mode softmax), followed, when the column has missing values, by a 2-wide "is missing" softmax.

* Missing cells are modelled, not imputed: the flag is learned with the other spans. Their
  (alpha, mode) slots hold one fixed filler (the observed median, in its most likely mode) rather
  than a random draw: the decoder can predict a constant from the flag exactly, so missing rows
  add no irreducible error to the column's shared ``sigma`` and do not blur the observed values.
* Point masses: a value held by many rows -- zeros, caps, round numbers, sentinels, spikes on
  a lattice (:mod:`tvae.transformer.point_masses`) -- gets an exact mode of its own (see
  :class:`ModeNormalizer`), so it comes back exactly and at its learned rate;
  the mixture is fitted on the other values only, and its draws are clipped to their range, so
  synthetic numbers do not fill a gap the real column never visits (capital-gain: 0, then
  nothing below 114).
* Generated numbers are clipped to the observed [min, max] (``enforce_min_max_values``) and
  rounded to the decimals that all but 1 % of the real values need (at most 8; see
  :mod:`tvae.transformer.granularity`); integer dtypes, nullable ``Int64`` included, come back
  as integers.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype

from tvae.errors import InvalidDataError
from tvae.transformer.columns import Draws
from tvae.transformer.continuous import ALPHA_CLIP, ALPHA_SCALE, ModeNormalizer
from tvae.transformer.dtypes import DtypeInfo, float_values
from tvae.transformer.granularity import observed_decimals
from tvae.transformer.missing import MISSING_SPAN
from tvae.transformer.point_masses import POINT_MASS_MIN_ROWS, point_masses
from tvae.transformer.quantile_map import QuantileMap

SCALAR_ULPS = 8  # float32 steps a stored scalar may be off (it is rounded once: 1 would do)


def to_float(series: pd.Series) -> np.ndarray:
    """A column as float64 (N,), missing cells NaN; non-numeric text is a clear error."""
    try:
        return float_values(series, errors="raise")
    except (ValueError, TypeError) as error:
        raise InvalidDataError(
            f"column {series.name!r} is declared numerical but holds non-numeric values "
            f"({error}); declare it 'categorical' in metadata"
        ) from error


def is_number(series: pd.Series, kinds: Mapping[Hashable, str]) -> bool:
    """A numerical column held as numbers (a duration, numerical too, is held as time)."""
    dtype = series.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    return kinds.get(series.name) == "numerical" and numeric


@dataclass
class NumericalColumn:
    """Mode-specific normalised number, with an optional missing flag and output constraints."""

    name: Any
    dtype: DtypeInfo
    normalizer: ModeNormalizer
    low: float
    high: float
    decimals: int | None = None
    has_missing: bool = False
    fill_value: float = 0.0
    clip: bool = True
    spread_low: float = -np.inf  # range of the values outside point masses: the mixture's
    spread_high: float = np.inf  # draws are clipped to it
    quantile_map: QuantileMap | None = None  # drawn smooth values -> real ones (fitted late)
    kind: ClassVar[str] = "numerical"

    @classmethod
    def fit(
        cls,
        name: Any,
        dtype: DtypeInfo,
        values: np.ndarray,
        sample: np.ndarray,
        seed: int,
        *,
        max_clusters: int,
        weight_threshold: float,
        clip: bool = True,
        find_points: bool = True,
        grid_step: float | None = None,
        scale: str = "linear",
        every_value: bool = False,
    ) -> NumericalColumn:
        """Fit on ``values`` (all rows, NaN = missing); the mixture on present ``sample`` values.

        ``find_points`` gives frequent values exact modes (see
        :func:`tvae.transformer.point_masses.point_masses`); without it the column is modelled
        by the mixture alone, as the reference does. ``grid_step`` is given by a caller that rounds
        the values itself (a datetime, to its step in seconds): they are then not rounded here;
        by default they are rounded to their decimals, and that grid is the step. ``scale``
        picks the mixture's space, x or log(x) (see :class:`ModeNormalizer`). ``every_value``
        also gives an exact mode to every value held by ``POINT_MASS_MIN_ROWS`` rows.
        """
        observed = values[~np.isnan(values)]
        fitted = sample[~np.isnan(sample)]
        if len(fitted) == 0:  # the sampled rows were all missing: fall back to every row
            fitted = observed
        # differs from the reference: it spreads a point mass (capital-gain's 0 in 92 % of rows)
        # over a mixture component, so half the rows come back near 0 but not at it.
        decimals = None
        if grid_step is None:
            decimals = 0 if is_integer_dtype(dtype.pandas_dtype()) else observed_decimals(observed)
            grid_step = 10.0**-decimals if decimals is not None else None
        points = point_masses(observed, grid_step) if find_points else np.empty(0)
        if every_value:  # and every value enough rows hold (a rarer one stays with the mixture)
            held, counts = np.unique(observed, return_counts=True)
            order = np.argsort(-counts, kind="stable")
            frequent = held[order][counts[order] >= POINT_MASS_MIN_ROWS]
            points = np.concatenate([frequent, points[~np.isin(points, frequent)]])
        spread = observed[~np.isin(observed, points)]
        fitted = fitted[~np.isin(fitted, points)]
        if len(fitted) == 0:
            fitted = spread
        normalizer = (
            ModeNormalizer.fit(
                fitted, seed, max_clusters, weight_threshold, scale=scale, step=grid_step
            )
            if len(fitted)
            else ModeNormalizer.empty()
        ).with_points(points)
        return cls(
            name=name,
            dtype=dtype,
            normalizer=normalizer,
            low=float(observed.min()),
            high=float(observed.max()),
            decimals=decimals,
            has_missing=bool(len(observed) < len(values)),
            fill_value=float(np.median(observed)),
            clip=clip,
            spread_low=float(spread.min()) if len(spread) else float(observed.min()),
            spread_high=float(spread.max()) if len(spread) else float(observed.max()),
        )

    @property
    def spans(self) -> list[tuple]:
        # differs from the reference: NaN makes it fail (or, through SDV, it is mean-filled and
        # never generated again); here a learned "is missing" span generates it at its rate.
        spans = [("tanh", 1), ("softmax", self.normalizer.n_modes)]
        return [*spans, MISSING_SPAN] if self.has_missing else spans

    def transform_numbers(
        self, values: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode float64 values (NaN = missing): alphas (N, 1), codes (N, 1 or 2)."""
        missing = np.isnan(values)
        if missing.any() and not self.has_missing:
            raise InvalidDataError(
                f"column {self.name!r} has missing values but had none in fit; refit on them"
            )
        alphas, modes = self.normalizer.transform(np.where(missing, self.fill_value, values), rng)
        if not self.has_missing:
            return alphas[:, None], modes[:, None]
        fill_alpha, fill_mode = self._filler()
        alphas[missing], modes[missing] = fill_alpha, fill_mode
        return alphas[:, None], np.stack([modes, missing.astype(np.int64)], axis=1)

    def _filler(self) -> tuple[float, int]:
        """The fixed (alpha, mode) of missing cells: the median in its most likely mode (the
        most frequent point mass when there is one)."""
        if self.normalizer.exact.any():
            return 0.0, int(np.flatnonzero(self.normalizer.exact)[0])
        fill = np.array([self.fill_value])
        mode = int(np.argmax(self.normalizer.responsibilities(fill)[0]))
        alpha = self.normalizer.alphas_of(fill)[0, mode]
        return float(np.clip(alpha, -ALPHA_CLIP, ALPHA_CLIP)), mode

    def mode_values(self) -> np.ndarray:
        """The value (M,) each mode decodes to with a zero offset: its mean, or its point mass."""
        n_modes = self.normalizer.n_modes
        codes = np.zeros((n_modes, 2 if self.has_missing else 1), dtype=np.int64)
        codes[:, 0] = np.arange(n_modes)
        return self.inverse_numbers(np.zeros((n_modes, 1)), codes)

    def inverse_numbers(self, alphas: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Decode to float64 (N,): clipped, rounded, NaN where the missing flag is set."""
        values = self.normalizer.inverse(alphas[:, 0], codes[:, 0])
        if self.quantile_map is not None:  # a mapped value exactly, not a float32 scalar's
            values = self.quantile_map.snap(values, self._scalar_error(values, codes[:, 0]))
        # differs from the reference: it neither clips nor rounds, so ages come out as -3.7281
        # and counts as 2.49; users had to post-process every numeric column.
        if self.clip:
            spread = ~self.normalizer.exact[codes[:, 0]]
            values[spread] = np.clip(values[spread], self.spread_low, self.spread_high)
            values = np.clip(values, self.low, self.high)
        if self.decimals is not None:
            rounded = self._on_grid(np.round(values, self.decimals))
            values = self._off_points(rounded, values, ~self.normalizer.exact[codes[:, 0]])
        if self.has_missing:
            values = np.where(codes[:, 1] == 1, np.nan, values)
        return values

    def _scalar_error(self, values: np.ndarray, modes: np.ndarray) -> np.ndarray:
        """How far (N,) a decoded value may lie from the value its scalar was computed for:
        ``SCALAR_ULPS`` float32 steps of the scalar, in the mode's scale (times the value on a
        log scale). Far below any gap between two real values a map holds."""
        error = SCALAR_ULPS * np.finfo(np.float32).eps * ALPHA_SCALE * self.normalizer.std[modes]
        return error * np.abs(values) if self.normalizer.log else error

    def smooth_draws(self, alphas: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """(N,) bool: the rows whose value comes from a smooth mode (present, not a point
        mass): the ones a :class:`QuantileMap` carries."""
        smooth = ~self.normalizer.exact[codes[:, 0]]
        return smooth & (codes[:, 1] == 0) if self.has_missing else smooth

    def map_drawn(self, alphas: np.ndarray, codes: np.ndarray) -> None:
        """Carry drawn rows (alphas (N, 1), codes (N, 1 or 2); changed in place) through the
        column's :class:`QuantileMap`: each smooth value is replaced by the real value at its
        rank, encoded again in its drawn mode where that mode reaches it, else in the nearest
        smooth mode (never a point mass's)."""
        if self.quantile_map is None:
            return
        rows = np.flatnonzero(self.smooth_draws(alphas, codes))
        if not len(rows):
            return
        modes = codes[rows, 0]
        values = self.quantile_map(self.normalizer.inverse(alphas[rows, 0], modes))
        alpha, codes[rows, 0] = self.normalizer.reencode(values, modes, smooth_only=True)
        alphas[rows, 0] = np.clip(alpha, -1.0, 1.0)

    def _on_grid(self, rounded: np.ndarray) -> np.ndarray:
        """Rounded values kept within [low, high] on the grid: a range end that is one of the
        rare finer real values (see :mod:`tvae.transformer.granularity`) rounds outside it."""
        if not self.clip:
            return rounded
        low, high = self.grid_bounds()
        return np.clip(rounded, low, high) if low <= high else rounded

    def grid_bounds(self) -> tuple[float, float]:
        """[low, high] on the grid: the range decoded values keep. An end between grid
        points moves inward (titanic's youngest age, 0.67, on a grid of 0.1: 0.7); one on the
        grid but for float noise moves onto it (fgl's RI, read from its CSV, ends at
        -6.84999999999991 and 15.9300000000001 on a grid of 0.01: -6.85 and 15.93). Without a
        grid, the real range."""
        if self.decimals is None:
            return self.low, self.high
        scale = 10.0**self.decimals
        low = np.round(np.ceil(np.round(self.low * scale, 6)) / scale, self.decimals)
        high = np.round(np.floor(np.round(self.high * scale, 6)) / scale, self.decimals)
        return float(low), float(high)  # low > high: no grid point lies in the range

    def _off_points(
        self, rounded: np.ndarray, unrounded: np.ndarray, spread: np.ndarray
    ) -> np.ndarray:
        """Rounded draws of the smooth modes that land on a point mass, moved one step of the
        column's precision at a time (towards their unrounded side first) to the nearest value
        that is not one, within the smooth part's range.

        No real value of the smooth part equals a point mass (those rows took the exact mode),
        so neither may a synthetic one: an integer column whose draws round onto its point
        masses would sample them above their rate (digits: a pixel value of 10 came back 5
        points too often). Where every step in range is a point mass, the draw stays.
        """
        if not self.normalizer.exact.any():
            return rounded  # no point mass: nothing to keep off (most columns)
        points = np.round(self.normalizer.points, self.decimals)
        hit = spread & np.isin(rounded, points)
        if not hit.any():
            return rounded
        step = 10.0**-self.decimals
        value, first = rounded[hit], np.where(unrounded[hit] >= rounded[hit], 1.0, -1.0)
        moved = np.full(len(value), np.nan)
        for direction in (first, -first):
            for k in range(1, len(points) + 2):
                candidate = np.round(value + direction * k * step, self.decimals)
                free = (
                    np.isnan(moved)
                    & ~np.isin(candidate, points)
                    & (candidate >= self.spread_low - step / 2)
                    & (candidate <= self.spread_high + step / 2)
                )
                moved[free] = candidate[free]
                if not np.isnan(moved).any():
                    break
        out = rounded.copy()
        out[hit] = np.where(np.isnan(moved), value, moved)
        return out

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.transform_numbers(to_float(values), rng)

    def inverse(
        self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None
    ) -> pd.Series:
        return self.dtype.restore_numbers(self.inverse_numbers(alphas, codes), self.name)

    def restore_values(self, values: np.ndarray) -> pd.Series:
        """Numbers (N,) float64 made elsewhere, NaN for missing, as the column's values: clipped
        to its real range and rounded to its grid (as decoded draws are), in its dtype."""
        values = np.clip(values, self.low, self.high) if self.clip else values
        if self.decimals is not None:
            values = self._on_grid(np.round(values, self.decimals))
        return self.dtype.restore_numbers(values, self.name)

    def get_state(self) -> dict:
        return {
            "normalizer": self.normalizer.get_state(),
            "low": self.low,
            "high": self.high,
            "decimals": self.decimals,
            "has_missing": self.has_missing,
            "fill_value": self.fill_value,
            "clip": self.clip,
            "spread_low": self.spread_low,
            "spread_high": self.spread_high,
            **({"quantile_map": self.quantile_map.get_state()} if self.quantile_map else {}),
        }

    @classmethod
    def from_state(cls, name: Any, dtype: DtypeInfo, state: dict) -> NumericalColumn:
        return cls(
            name=name,
            dtype=dtype,
            normalizer=ModeNormalizer.from_state(state["normalizer"]),
            low=float(state["low"]),
            high=float(state["high"]),
            decimals=state["decimals"],
            has_missing=bool(state["has_missing"]),
            fill_value=float(state["fill_value"]),
            clip=bool(state["clip"]),
            spread_low=float(state.get("spread_low", state["low"])),
            spread_high=float(state.get("spread_high", state["high"])),
            quantile_map=(
                QuantileMap.from_state(state["quantile_map"]) if "quantile_map" in state else None
            ),
        )
