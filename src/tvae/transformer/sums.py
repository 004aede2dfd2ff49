"""Columns that are the exact sum of two others: ``total = part + other``.

Tables of counts and amounts often hold a total beside its parts (a doctor's visits, prescribed
plus unprescribed medicines; absentee ballots, Democratic plus the margin; a measurement, the
estimate plus its error). Each column modelled on its own, the decoder's noise on the total is
independent of its parts', so sampled rows hold a total that differs from the sum of their parts
(on HistData's DrinksWages, ``n = sober + drinks`` held in every real row and in few sampled
ones).

``fit`` finds them (:func:`find_sums`): three numerical columns, each varying, with ``c = a + b``
in every real row where all three are present (to float rounding, ``TOLERANCE`` of the parts'
size) and ``c`` missing exactly where a part is, in at least ``MIN_ROWS`` rows. Sampled rows get
``c`` from their parts (:func:`keep_sums`), rounded to ``c``'s decimals, in its dtype; a
conditioned ``c`` stays, and a part moves to make the sum (within the parts' real ranges where
they allow it). A total may be a part of another total (chains, never loops); a column is the
total of one sum at most. They are listed with the dependencies (``{"type": "sum", "columns":
[A, B], "column": C}``), declared or switched off the same way.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.dependency_search import MIN_ROWS, hashable
from tvae.transformer.granularity import observed_decimals

TOLERANCE = 1e-9  # a + b and c agree to this share of |a| + |b| (float rounding of decimals)
SCREEN_ROWS = 64  # every pair is first tried on this many rows, then on all
MAX_COLUMNS = 300  # a search over more numerical columns than this is skipped (cost: columns^3)


@dataclass(frozen=True)
class Sum:
    """``column = parts[0] + parts[1]`` in every row; ``decimals`` rounds the sum (float
    noise), ``bounds`` are the parts' real (low, high), moved within when ``column`` is held."""

    parts: tuple[Hashable, Hashable]
    column: Hashable
    decimals: int | None = None
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None

    @property
    def target(self) -> Hashable:
        """The column the sum derives (as a determination's ``target``)."""
        return self.column

    def describe(self) -> dict:
        return {"type": "sum", "columns": list(self.parts), "column": self.column}

    def get_state(self) -> dict:
        return {
            "parts": [encode_value(p) for p in self.parts],
            "column": encode_value(self.column),
            "decimals": self.decimals,
            "bounds": None if self.bounds is None else [list(b) for b in self.bounds],
        }

    @classmethod
    def from_state(cls, state: dict) -> Sum:
        bounds = state.get("bounds")
        return cls(
            tuple(decode_value(p) for p in state["parts"]),
            decode_value(state["column"]),
            state.get("decimals"),
            None if bounds is None else tuple(tuple(float(v) for v in b) for b in bounds),
        )


def is_sum(item: object) -> bool:
    """Whether a metadata dependency item declares a sum."""
    return isinstance(item, Mapping) and item.get("type") == "sum"


def _numbers(series: pd.Series) -> np.ndarray | None:
    """A column of numbers as float64 (NaN: missing); None for anything else (booleans,
    durations, text)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return None
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _agree(total: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per row (R, K): whether ``first + second`` (R,) is ``total`` (R, K) to float rounding,
    or both are missing."""
    expected = first + second
    tolerance = TOLERANCE * (np.abs(first) + np.abs(second)) + 1e-300
    with np.errstate(invalid="ignore"):
        close = np.abs(total - expected[:, None]) <= tolerance[:, None]
    return close | (np.isnan(total) & np.isnan(expected)[:, None])


def _evidence(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    """Whether ``c = a + b`` is worth keeping: missing exactly where a part is, in at least
    MIN_ROWS complete rows, both parts varying there."""
    present = ~np.isnan(a) & ~np.isnan(b)
    if not np.array_equal(present, ~np.isnan(c)) or present.sum() < MIN_ROWS:
        return False
    return bool(np.ptp(a[present]) > 0 and np.ptp(b[present]) > 0)


def _make(frame: pd.DataFrame, parts: tuple, column: Hashable) -> Sum:
    """The :class:`Sum` of ``column`` over ``parts``, with its rounding and the parts' ranges
    read from ``frame``."""
    values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    integer = pd.api.types.is_integer_dtype(frame[column].dtype)
    decimals = 0 if integer else observed_decimals(values)
    bounds = []
    for part in parts:
        present = frame[part].dropna().to_numpy(dtype=np.float64)
        bounds.append((float(present.min()), float(present.max())))
    return Sum(tuple(parts), column, decimals, tuple(bounds))


def find_sums(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], skip: Iterable[Hashable] = ()
) -> list[Sum]:
    """The sums of ``frame`` (see the module docstring), none of them naming a column of
    ``skip``, parts before the totals they make."""
    if len(frame) < MIN_ROWS:
        return []
    skip = set(skip)
    numbers = {}
    for name in frame.columns:
        if name in skip or kinds.get(name) != "numerical":
            continue
        values = _numbers(frame[name])
        if values is not None and np.nanmax(values, initial=-np.inf) > np.nanmin(
            values, initial=np.inf
        ):
            numbers[name] = values
    names = list(numbers)
    if not 3 <= len(names) <= MAX_COLUMNS:
        return []
    table = np.column_stack([numbers[n] for n in names])
    head = table[:SCREEN_ROWS]
    found = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            for k in np.flatnonzero(_agree(head, head[:, i], head[:, j]).all(axis=0)):
                if k in (i, j):
                    continue
                a, b, c = table[:, i], table[:, j], table[:, k]
                if _agree(c[:, None], a, b).all() and _evidence(a, b, c):
                    found.append(((names[i], names[j]), names[k]))
    parts_of: dict = {}
    for parts, column in sorted(found, key=lambda item: names.index(item[1])):
        if column not in parts_of and not any(_reaches(parts_of, p, column) for p in parts):
            parts_of[column] = parts
    return in_sum_order([_make(frame, parts, c) for c, parts in parts_of.items()])


def _reaches(parts_of: Mapping, column: Hashable, target: Hashable) -> bool:
    """Whether ``column`` is ``target`` or is made, through totals, from it (a loop)."""
    pending, seen = [column], set()
    while pending:
        name = pending.pop()
        if name == target:
            return True
        if name not in seen:
            seen.add(name)
            pending.extend(parts_of.get(name, ()))
    return False


def in_sum_order(sums: list[Sum]) -> list[Sum]:
    """``sums`` ordered so that a total comes after the sums that make its parts."""
    made = {s.column: s for s in sums}

    def depth(column: Hashable) -> int:
        item = made.get(column)
        return 0 if item is None else 1 + max(depth(p) for p in item.parts)

    return sorted(sums, key=lambda s: depth(s.column))


def implied_by(order_low: Hashable, order_high: Hashable, sums: list[Sum]) -> bool:
    """Whether a sum makes ``low <= high`` hold by itself: a part below its total where the
    other part is never negative (or the total below a part where the other never positive)."""
    for item in sums:
        if item.bounds is None:
            continue
        for place, part in enumerate(item.parts):
            low, high = item.bounds[1 - place]  # the other part's real range
            if (order_low, order_high) == (part, item.column) and low >= 0:
                return True
            if (order_low, order_high) == (item.column, part) and high <= 0:
                return True
    return False


def declared_sum(frame: pd.DataFrame | None, item: Mapping) -> Sum:
    """The sum ``{"type": "sum", "columns": [A, B], "column": C}`` names, checked on ``frame``
    (None: kept as declared, unchecked: under epsilon a check would be a release)."""
    parts, column = item.get("columns"), item.get("column")
    valid = isinstance(parts, (list, tuple)) and len(parts) == 2 and hashable(column)
    names = [*parts, column] if valid else []
    valid = valid and all(hashable(n) for n in names) and len(set(names)) == 3
    unknown = [n for n in names if frame is not None and n not in frame.columns] if valid else []
    if not valid or unknown:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r} is not valid: give {{'type': 'sum', 'columns': "
            "[A, B], 'column': C}} with three different column names of train_data"
            + (f" (unknown: {unknown})" if unknown else "")
        )
    if frame is None:
        return Sum(tuple(parts), column)
    values = [_numbers(frame[n]) for n in names]
    wrong = [n for n, v in zip(names, values, strict=True) if v is None]
    if wrong:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: a sum needs numerical columns, but "
            f"{wrong[0]!r} holds {frame[wrong[0]].dtype} values"
        )
    a, b, c = values
    agree = _agree(c[:, None], a, b)[:, 0]
    if not agree.all():
        row = frame.index[int(np.flatnonzero(~agree)[0])]
        raise InvalidParameterError(
            f"metadata says {column!r} = {parts[0]!r} + {parts[1]!r}, but train_data's row "
            f"{row!r} holds {frame.at[row, column]!r} = {frame.at[row, parts[0]]!r} + "
            f"{frame.at[row, parts[1]]!r} (or a total present where a part is missing)"
        )
    return _make(frame, tuple(parts), column)


def check_sums(sums: list[Sum], taken: set) -> list[Sum]:
    """Declared ``sums`` in order (:func:`in_sum_order`), once checked: each column the total
    of one sum at most, no loop, no total another dependency derives (``taken``)."""
    totals = [s.column for s in sums]
    clash = {c for c in totals if totals.count(c) > 1} | (set(totals) & taken)
    parts_of: dict = {}
    for item in sums:
        if any(_reaches(parts_of, p, item.column) for p in item.parts):
            clash.add(item.column)
        parts_of[item.column] = item.parts
    if clash:
        raise InvalidParameterError(
            f"metadata's 'sum' dependencies make {sorted(map(str, clash))} more than once, in a "
            "loop, or a column another dependency derives: a column is the total of one sum "
            "at most"
        )
    return in_sum_order(sums)


def check_apart(sums: list[Sum], offset_columns: set) -> None:
    """Declared sums name no column of a declared offset pair (one is modelled as the other
    plus a difference, the other set from its parts: they would fight)."""
    for item in sums:
        clash = [c for c in (*item.parts, item.column) if c in offset_columns]
        if clash:
            raise InvalidParameterError(
                f"metadata dependency {item.describe()!r} names {clash[0]!r}, which a declared "
                "'offset' dependency also names; leave one of the two out"
            )


def keep_sums(frame: pd.DataFrame, sums: list[Sum], fixed: set) -> None:
    """Make every sum hold in ``frame``, in place: each total set from its parts, or, where the
    total is ``fixed`` (a condition holds it), a part moved to make it (the first part within
    the range that keeps the other part in its real range, the other the rest)."""
    for item in sums:
        first, second = item.parts
        a, b = (_column_numbers(frame, p) for p in item.parts)
        if item.column not in fixed:
            _write(frame, item.column, a + b, item.decimals)
            continue
        total = _column_numbers(frame, item.column)
        if first in fixed and second in fixed:
            continue  # every column held: the conditions decide
        if second in fixed:
            _write(frame, first, total - b, item.decimals)
            continue
        if first not in fixed and item.bounds is not None:
            (low_a, high_a), (low_b, high_b) = item.bounds
            low, high = np.maximum(low_a, total - high_b), np.minimum(high_a, total - low_b)
            inside = low <= high  # a range of first keeps second within its own
            a = np.where(inside, np.clip(a, low, np.maximum(low, high)), a)
            _write(frame, first, a, item.decimals)
            a = _column_numbers(frame, first)
        _write(frame, second, total - a, item.decimals)


def _column_numbers(frame: pd.DataFrame, name: Hashable) -> np.ndarray:
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _write(frame: pd.DataFrame, name: Hashable, values: np.ndarray, decimals: int | None) -> None:
    """``frame[name] = values``, rounded to ``decimals`` and in the column's dtype where it
    holds them (an integer column without missing cells for missing values becomes float)."""
    dtype = frame[name].dtype
    if pd.api.types.is_integer_dtype(dtype):
        values = np.round(values)
    elif decimals is not None:
        values = np.round(values, decimals)
    series = pd.Series(values, index=frame.index)
    missing = np.isnan(values).any()
    if pd.api.types.is_extension_array_dtype(dtype) or not missing:
        series = series.astype(dtype)
    frame[name] = series
