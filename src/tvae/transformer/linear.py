"""Columns that are an exact linear function of another number, or of its logarithm.

Tables often carry a number twice in two units or scales: a weight in kilograms and in pounds,
a price and the price with tax, a temperature in Celsius and in Fahrenheit, a count and its
share of a total, a standardised copy of a measurement, an amount and its logarithm. Each
modelled on its own, the decoder's noise on one is independent of the other's, so sampled rows
break the formula (kilograms and pounds: 0.4 % of rows kept it; price and price with tax:
1.4 %). A determination (:mod:`tvae.transformer.dependencies`) keeps such a pair only when the
source repeats; a measurement with many distinct values does not.

``fit`` finds them (:func:`tvae.transformer.linear_search.find_linear`): two numerical columns
with ``target = slope * source + intercept`` (or ``slope * log(source) + intercept``, the source
positive) in every real row where both are present, to the target's rounding (half the step of
the decimals its values are written with; float32 precision for float32 values; float noise
otherwise), in ``MIN_ROWS`` rows or more, with ``MIN_VALUES`` distinct source values (a line
through fewer points is weak evidence) and ``MIN_TARGET_VALUES`` target values. The line kept
is the one with the fewest digits that still holds (1.2, not 1.19999987). Sampled rows get the
target from the source (:func:`keep_linear`), rounded as the real targets are, in its dtype,
where both are present; a conditioned target stays and its source is set from it. Of two
columns each a line in the other, the one with more distinct values, then the coarser grid
(kilograms to 0.1 before pounds to 0.01: the measurement, not the value computed from it), then
the first, is the source; a target derives from one source and derives nothing. Columns that
differ by a constant (slope 1) are left to the offsets (:mod:`tvae.transformer.offsets`), equal
ones to two orders, and a line in the values is not tried in the log. Lines are listed
with the dependencies (``{"type": "linear", "source": A, "target": B, "slope": s,
"intercept": c}``, with ``"log": true`` for the logarithm), declared or switched off the same
way.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.dependency_search import MIN_ROWS
from tvae.transformer.determination import check_derived
from tvae.transformer.granularity import MAX_DECIMALS, decimals_needed
from tvae.transformer.numerical import to_float
from tvae.transformer.repairs import limits_per_row
from tvae.transformer.sum_repairs import write_numbers

MIN_VALUES = 10  # distinct source values before a line through them counts as a dependency
MIN_TARGET_VALUES = 3  # a target of two values on a line is a cut of the source, not a line
NOISE = 1e-9  # float noise allowed beside the rounding, as a share of the target's size
SINGLE_NOISE = 16 * float(np.finfo(np.float32).eps)  # the same, for values computed in float32
SLACK = 1.05  # a least-squares line on rounded values misses the half step by a little
MAX_DIGITS = 15  # significant digits a float64 writes
SPAN_NOISE = 1e-5  # a derived value this share past its real range is noise (see Linear.values)
SEARCH_STEPS = 80  # of the search for the slope that misses least: (2/3)^80 of 0.2 % of it


@dataclass(frozen=True)
class Linear:
    """``target = slope * T(source) + intercept`` in every row, T the identity or ``log``;
    ``decimals`` rounds the target as its real values are written, or, where they have no
    short decimals, float32 precision (``single``: values a float32 holds exactly, as Stata
    and Parquet files give them) or ``digits`` significant digits (a copy printed by R)."""

    source: Hashable
    target: Hashable
    slope: float
    intercept: float
    log: bool = False
    decimals: int | None = None
    digits: int | None = None
    single: bool = False
    missing_together: bool = False  # the target is missing exactly where the source is
    span: tuple[float, float] | None = None  # the real target's range, which derived ones keep

    @property
    def written(self) -> tuple:
        return self.decimals, self.digits, self.single

    def values(self, source: np.ndarray) -> np.ndarray:
        """The target's values for ``source`` (NaN where it is missing or, on a log, not > 0);
        one past an end of its real range by float noise alone is set on that end (float32
        noise put a standardised copy 1e-6 past it), one farther (a source drawn beyond its own
        range) stays."""
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.log(np.where(source > 0, source, np.nan)) if self.log else source
        target = _round(self.slope * scaled + self.intercept, *self.written)
        if self.span is None:
            return target
        low, high = self.span
        reach = SPAN_NOISE * max(1.0, abs(low), abs(high))
        target = np.where((target < low) & (target >= low - reach), low, target)
        return np.where((target > high) & (target <= high + reach), high, target)

    def sources(self, target: np.ndarray) -> np.ndarray:
        """The source's values that give ``target`` (the inverse of :meth:`values`, unrounded)."""
        scaled = (target - self.intercept) / self.slope
        return np.exp(scaled) if self.log else scaled

    def describe(self) -> dict:
        item = {"type": "linear", "source": self.source, "target": self.target}
        item.update(slope=self.slope, intercept=self.intercept)
        return {**item, "log": True} if self.log else item

    def get_state(self) -> dict:
        return {
            "source": encode_value(self.source),
            "target": encode_value(self.target),
            "slope": self.slope,
            "intercept": self.intercept,
            "log": self.log,
            "decimals": self.decimals,
            "digits": self.digits,
            "single": self.single,
            "missing_together": self.missing_together,
            "span": list(self.span) if self.span is not None else None,
        }

    @classmethod
    def from_state(cls, state: Mapping) -> Linear:
        return cls(
            decode_value(state["source"]), decode_value(state["target"]), float(state["slope"]),
            float(state["intercept"]), bool(state["log"]), state["decimals"], state["digits"],
            bool(state["single"]), bool(state["missing_together"]),
            tuple(state["span"]) if state.get("span") is not None else None,
        )  # fmt: skip


def span_of(values: np.ndarray) -> tuple[float, float] | None:
    present = values[np.isfinite(values)]
    return (float(present.min()), float(present.max())) if len(present) else None


def together(source: np.ndarray, target: np.ndarray) -> bool:
    """Whether ``target`` is missing exactly where ``source`` is (in some rows)."""
    gone = ~np.isfinite(source)
    return bool(gone.any() and np.array_equal(gone, ~np.isfinite(target)))


def precision(values: np.ndarray) -> tuple[int | None, int | None, bool]:
    """How the present values are written, as (decimals, digits, single): at most MAX_DECIMALS
    decimals each; else every one a float32 (single); else at most MAX_DIGITS significant
    digits; else (None, None, False)."""
    present = values[np.isfinite(values) & (values != 0)]
    if not len(present):
        return 0, None, False
    needed = int(decimals_needed(present).max())
    if needed <= MAX_DECIMALS:
        return needed, None, False
    as_single = present.astype(np.float32).astype(np.float64)  # a CSV's 15 digits of one: near
    if (np.abs(as_single - present) <= 1e-13 * np.abs(present)).all():
        return None, None, True
    for digits in range(1, MAX_DIGITS + 1):
        if (np.abs(_round(present, None, digits) - present) <= 1e-12 * np.abs(present)).all():
            return None, digits, False
    return None, None, False


def _round(
    values: np.ndarray, decimals: int | None, digits: int | None, single: bool = False
) -> np.ndarray:
    if decimals is not None:
        return np.round(values, decimals)
    if single:
        return values.astype(np.float32).astype(np.float64)
    if digits is None:
        return values
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = 10.0 ** (np.floor(np.log10(np.abs(values))) - digits + 1)
        return np.where(np.isfinite(unit) & (unit > 0), np.round(values / unit) * unit, values)


def tolerance_of(
    target: np.ndarray, decimals: int | None, digits: int | None, single: bool = False
) -> np.ndarray:
    """How far each real target may sit from its line: its rounding and float noise (float32
    arithmetic's, for float32 values)."""
    noise = (SINGLE_NOISE if single else NOISE) * float(np.nanmax(np.abs(target)))
    if decimals is not None:
        return np.full(len(target), SLACK * 0.5 * 10.0**-decimals + noise)
    if digits is None:
        return np.full(len(target), noise)
    with np.errstate(divide="ignore"):
        unit = 10.0 ** (np.floor(np.log10(np.abs(target))) - digits + 1)
    return SLACK * 0.5 * np.where(np.isfinite(unit), unit, 0.0) + noise


def fit_line(source: np.ndarray, target: np.ndarray, log: bool, written: tuple):
    """The :class:`Linear` slope and intercept of ``target`` on ``source`` (or its log) over
    the rows where both are present, if every such row lies on it within the target's
    rounding (a target with decimals: the line, rounded, gives back every real value, so that
    a repeated source value gets its real target, not one step beside it); else None."""
    both = np.isfinite(source) & np.isfinite(target)
    if log:
        if not (source[both] > 0).all():
            return None
        scaled = np.log(source[both])
    else:
        scaled = source[both]
    if both.sum() < MIN_ROWS or np.ptp(scaled) == 0:
        return None
    centre = scaled.mean()
    spread = scaled - centre
    slope = float(spread @ (target[both] - target[both].mean()) / (spread @ spread))
    intercept = float(target[both].mean() - slope * centre)
    if slope == 0:
        return None
    if written[0] is not None:  # rounded to decimals: the line missing the rows least
        slope = _least_miss(scaled, target[both], slope)
        intercept = float(target[both].mean() - slope * centre)
    residual = target[both] - (slope * scaled + intercept)
    middle = float(residual.max() + residual.min()) / 2
    intercept += middle  # the widest miss made least
    tolerance = tolerance_of(target[both], *written)
    if (np.abs(residual - middle) > tolerance).any():
        return None
    holds = _holds(scaled, target[both], written[0], tolerance)
    simplest = _simplest(slope, scaled, target[both], holds)
    return simplest if simplest is not None or not holds(slope, intercept) else (slope, intercept)


def _holds(x: np.ndarray, y: np.ndarray, decimals: int | None, tolerance: np.ndarray):
    """Whether a line (slope, intercept) gives back ``y``: rounded to ``decimals``, every value
    (a value half-way between two steps either way); without decimals, within ``tolerance``."""

    def holds(slope: float, intercept: float) -> bool:
        line = slope * x + intercept
        if decimals is None:
            return bool((np.abs(y - line) <= tolerance).all())
        half = 0.5 * 10.0**-decimals
        tie = np.abs(np.abs(line - y) - half) <= NOISE * max(1.0, float(np.abs(y).max()))
        return bool(((np.round(line, decimals) == y) | tie).all())

    return holds


def _least_miss(x: np.ndarray, y: np.ndarray, slope: float) -> float:
    """The slope near ``slope`` (least squares') whose line misses the rows by least at worst
    (a ternary search: the worst miss, its intercept centred, is convex in the slope). On
    values rounded to a step, least squares can miss by more than half a step where the
    formula they were rounded from misses by less (600 kilograms in pounds: 0.0055 > 0.005)."""

    def worst(a: float) -> float:
        residual = y - a * x
        return float(residual.max() - residual.min())

    low, high = slope - (1e-3 * abs(slope) + 1e-12), slope + (1e-3 * abs(slope) + 1e-12)
    for _ in range(SEARCH_STEPS):
        left, right = low + (high - low) / 3, high - (high - low) / 3
        if worst(left) <= worst(right):
            high = right
        else:
            low = left
    return (low + high) / 2


def _simplest(slope: float, x: np.ndarray, y: np.ndarray, holds) -> tuple[float, float] | None:
    """The line near ``slope`` written with the fewest characters (slope and intercept) that
    ``holds`` (see :func:`_holds`): 1.2 for 1.19999987, 2.20462 and 0 rather than 2.2046 and
    0.0014 (both hold 300 rounded pounds): the formula the column was computed with, shown as
    such in ``metadata_`` and exact on values the real rows do not hold. None: none of them."""
    best: tuple | None = None
    for digits in range(1, 16):
        if best is not None and digits + 4 > best[0]:
            break  # a slope this long (and "0.0") cannot be shorter than the best
        nearest = float(f"{slope:.{digits}g}")
        unit = 10.0 ** (math.floor(math.log10(abs(nearest))) - digits + 1) if nearest else 0.0
        for short in (nearest, nearest - unit, nearest + unit):  # the estimate's last digit
            short = float(f"{short:.{digits}g}")
            residual = y - short * x
            centre = float(residual.max() + residual.min()) / 2
            shifts = (round(centre, places) + 0.0 for places in range(16))  # + 0.0: no -0.0
            shift = next((s for s in shifts if holds(short, s)), None)
            if shift is not None:
                length = len(repr(short)) + len(repr(shift))
                if best is None or length < best[0]:
                    best = (length, short, shift)
    return None if best is None else best[1:]


def parse_linear(item: Mapping, columns: Iterable[Hashable]) -> Linear:
    """A declared ``{"type": "linear", ...}`` between two of ``columns``, not rounded."""
    names = [item.get("source"), item.get("target")]
    try:
        slope, intercept = float(item["slope"]), float(item["intercept"])
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"metadata dependency {item!r} is not valid: a linear dependency gives "
            "{'type': 'linear', 'source': A, 'target': B, 'slope': s, 'intercept': c} "
            "(and 'log': true for target = s * log(A) + c)"
        ) from error
    missing = [n for n in names if n not in set(columns)]
    if missing or names[0] == names[1] or not np.isfinite([slope, intercept]).all() or not slope:
        raise InvalidParameterError(
            f"metadata dependency {item!r} is not valid: give two columns of train_data, a "
            f"finite, non-zero slope and a finite intercept"
            f"{f' (unknown: {missing})' if missing else ''}"
        )
    return Linear(names[0], names[1], slope, intercept, bool(item.get("log", False)))


def declared_linear(frame: pd.DataFrame, item: Mapping) -> Linear:
    """A declared ``{"type": "linear", ...}``, checked on ``frame``: the target's rounding is
    read from its values, and every row where both are present must lie on the line."""
    line = parse_linear(item, frame.columns)
    names, slope, intercept = [line.source, line.target], line.slope, line.intercept
    source, target = (to_float(frame[n]) for n in names)
    written = precision(target)
    line = Linear(
        *names, slope, intercept, line.log, *written, together(source, target), span_of(target)
    )
    both = np.isfinite(source) & np.isfinite(target)
    off = np.abs(target[both] - line.values(source[both]))
    if (
        both.any()
        and not (np.nan_to_num(off, nan=np.inf) <= tolerance_of(target[both], *written)).all()
    ):
        raise InvalidParameterError(
            f"metadata says {names[1]!r} = {slope!r} * {'log(' if line.log else ''}"
            f"{names[0]!r}{')' if line.log else ''} + {intercept!r}, but train_data has rows "
            "where it does not hold"
        )
    return line


def check_lines(items: list[Linear], busy: set) -> list[Linear]:
    """Declared lines, refused where they cannot all be kept (see ``check_derived``)."""
    return check_derived(items, busy, "line")


def keep_linear(
    frame: pd.DataFrame, items: Iterable[Linear], fixed: set, ranges: Mapping | None = None
) -> None:
    """Make every line hold in ``frame`` (in place) where both columns are present: the target
    from its source; where the target is ``fixed`` (a condition holds it) and the source is
    not, the source from the target (with the fewest decimals that give the target back),
    then, where a condition holds the target to a range (``ranges``, as
    :func:`~tvae.transformer.repairs.limits_per_row` reads them), the target from that source
    as its column holds it (:func:`_within_range`). Where the real target is missing exactly
    where its source is, it is so here too (the source following a fixed target)."""
    for item in items:
        source, target = to_float(frame[item.source]), to_float(frame[item.target])
        has_source, has_target = np.isfinite(source), np.isfinite(target)
        if item.target in fixed:
            if item.source not in fixed:
                rows = has_target if item.missing_together else has_source & has_target
                moved = np.where(rows, _source_for(item, target), source)
                if item.missing_together:
                    moved[~has_target] = np.nan  # missing where the target is
                write_numbers(frame, item.source, moved, None)
                cells = limits_per_row(ranges, item.target, len(frame))
                if cells is not None:
                    _within_range(frame, item, cells)
            continue
        derived = item.values(source)
        rows = has_source if item.missing_together else has_source & has_target
        rows &= np.isfinite(derived)
        if item.missing_together:
            rows |= ~has_source
            derived = np.where(has_source, derived, np.nan)
        write_numbers(frame, item.target, np.where(rows, derived, target), None)


def _within_range(frame: pd.DataFrame, item: Linear, cells: np.ndarray) -> None:
    """In the rows where a condition holds ``item``'s target to a range (``cells``: each row's
    (low, high), or something else where it does not), the target set from its source as
    the column holds it, where that stays within; a whole-number source may round the other
    way to stay. uis's ``Y = log(TIME)`` asked within [4.25, 4.82] left ``TIME`` rounded off
    the line in every row: 4.7725 asked ``TIME`` 118.2, written 118."""
    ranged = np.array([isinstance(c, tuple) for c in cells], dtype=bool)
    ends = np.array([c if isinstance(c, tuple) else (np.nan, np.nan) for c in cells], float)
    source, target = to_float(frame[item.source]), to_float(frame[item.target])
    options = [source]
    if pd.api.types.is_integer_dtype(frame[item.source].dtype):
        exact = item.sources(target)
        options += [np.floor(exact), np.ceil(exact)]
    pending = ranged & np.isfinite(source)
    for option in options:
        derived = item.values(option)
        with np.errstate(invalid="ignore"):  # NaN: no range, or no value
            fits = pending & (ends[:, 0] <= derived) & (derived <= ends[:, 1])
        source, target = np.where(fits, option, source), np.where(fits, derived, target)
        pending &= ~fits
    write_numbers(frame, item.source, source, None)
    write_numbers(frame, item.target, target, None)


def _source_for(item: Linear, target: np.ndarray) -> np.ndarray:
    """The source's values that give ``target``: each with the fewest decimals (at most
    MAX_DECIMALS) that still give the target back, else unrounded."""
    exact = item.sources(target)
    found = exact.copy()
    pending = np.isfinite(exact)
    tolerance = tolerance_of(target, *item.written) if pending.any() else None
    for decimals in range(MAX_DECIMALS, -1, -1):  # finest first: the coarsest that fits wins
        rounded = np.round(exact, decimals)
        with np.errstate(invalid="ignore"):
            back = pending & (np.abs(item.values(rounded) - target) <= tolerance)
        found = np.where(back, rounded, found)
    return found
