"""Columns that are the exact sum of others: ``total = part + other part [+ ...]``.

Tables of counts and amounts often hold a total beside its parts (medicines, prescribed plus
unprescribed; a measurement, the estimate plus its error; a questionnaire's scale score, the sum
of its items). Each column modelled on its own, the decoder's noise on the total is independent
of its parts', so sampled rows hold a total that differs from the sum of their parts
(DrinksWages: ``n = sober + drinks`` in 21 % of them).

``fit`` finds them (:func:`find_sums`): numerical columns, each varying, with ``c = a + b`` in
every real row where all are present (to float rounding, ``TOLERANCE`` of the parts' size) and
``c`` missing exactly where a part is, in at least ``MIN_ROWS`` rows. Pairs of parts are tried
on the first rows, then on all; totals of three parts or more (midwest's ``poptotal``, five
races; Florida's ``Total``, ten candidates) are found by least squares among the columns missing
in at most ``MAX_MISSING_SHARE`` of the rows, on the rows where all of them are present (where
too few rows hold them all, among the columns without a missing cell), each column on the
others (a residual of float rounding and weights of 0 or 1), then checked on every row. Such
a total may also be missing where its parts are present (R's msq: ``NegAff``, the sum of ten
items, is missing in 524 rows whose items are all there); it is then missing in sampled rows
where the decoder drew it missing (``missing_alone``), and set from its parts elsewhere.
Sampled rows get ``c`` from their parts (:func:`keep_sums`), rounded to ``c``'s decimals, in
its dtype; a conditioned ``c`` stays, and parts move to make the sum
(:mod:`tvae.transformer.sum_repairs`). A total may be a part of another total (chains, never
loops); a column is the total of one sum at most. They are listed with the dependencies
(``{"type": "sum", "columns": [A, B, ...], "column": C}``), declared or switched off the
same way.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.dependency_search import MIN_ROWS, PROBE_ROWS, hashable
from tvae.transformer.granularity import observed_decimals
from tvae.transformer.numerical import to_float

TOLERANCE = 1e-9  # a + b and c agree to this share of |a| + |b| (float rounding of decimals)
# among float32 columns (summed in float32: rounding of 6e-8 of the size per addition)
SINGLE_TOLERANCE = 16 * float(np.finfo(np.float32).eps)
SCREEN_ROWS = 64  # every pair is first tried on this many rows, then on all
CHECK_ROWS = 2_048  # a pair that passes is tried on this many rows drawn at random, then on all
MAX_COLUMNS = 300  # a search over more numerical columns than this is skipped (cost: columns^3)
MAX_SOLVED = 120  # totals of three parts or more: searched among at most this many columns
MAX_MISSING_SHARE = 0.25  # ... each missing in at most this share of the rows
WEIGHT_TOLERANCE = 1e-6  # a least-squares weight this close to 0 or 1 reads as 0 or 1


@dataclass(frozen=True)
class Sum:
    """``column = parts[0] + parts[1] + ...`` in every row where ``column`` is present;
    ``decimals`` rounds the sum (float noise), ``bounds`` are the parts' real (low, high), moved
    within when ``column`` is held, ``span`` the total's, which a sampled total keeps (its parts
    follow), and ``missing_alone`` whether the total is also missing in some rows where every
    part is present (else it is missing exactly where a part is)."""

    parts: tuple[Hashable, ...]
    column: Hashable
    decimals: int | None = None
    bounds: tuple[tuple[float, float], ...] | None = None
    span: tuple[float, float] | None = None
    missing_alone: bool = False

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
            "span": None if self.span is None else list(self.span),
            "missing_alone": self.missing_alone,
        }

    @classmethod
    def from_state(cls, state: dict) -> Sum:
        bounds = state.get("bounds")
        return cls(
            tuple(decode_value(p) for p in state["parts"]),
            decode_value(state["column"]),
            state.get("decimals"),
            None if bounds is None else tuple(tuple(float(v) for v in b) for b in bounds),
            None if state.get("span") is None else tuple(float(v) for v in state["span"]),
            bool(state.get("missing_alone", False)),
        )


def _numbers(series: pd.Series) -> np.ndarray | None:
    """A column of numbers as float64 (NaN: missing); None for anything else (booleans,
    durations, text)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return None
    return to_float(series)


def _agree(total: np.ndarray, *parts: np.ndarray, share: float = TOLERANCE) -> np.ndarray:
    """Per row (R, K): whether the sum of ``parts`` (each (R,)) is ``total`` (R, K) to float
    rounding (``share`` of the parts' size), or both are missing."""
    expected = np.sum(parts, axis=0)
    tolerance = share * np.sum(np.abs(parts), axis=0) + 1e-300
    with np.errstate(invalid="ignore"):
        close = np.abs(total - expected[:, None]) <= tolerance[:, None]
    return close | (np.isnan(total) & np.isnan(expected)[:, None])


def _evidence(
    total: np.ndarray, *parts: np.ndarray, share: float = TOLERANCE, missing_alone: bool = False
) -> bool:
    """Whether ``total = sum(parts)`` holds and is worth keeping: in every row where the total
    is present, in at least MIN_ROWS rows, each part varying; the total missing wherever a part
    is, and (unless ``missing_alone``) only there."""
    present, held = ~np.isnan(np.sum(parts, axis=0)), ~np.isnan(total)
    if (held & ~present).any() or held.sum() < MIN_ROWS:
        return False
    if not missing_alone and (present & ~held).any():
        return False
    if not _agree(total[held, None], *(p[held] for p in parts), share=share).all():
        return False
    return all(np.ptp(p[held]) > 0 for p in parts)


def _make(frame: pd.DataFrame, parts: tuple, column: Hashable) -> Sum:
    """The :class:`Sum` of ``column`` over ``parts``, with its rounding and the parts' ranges
    read from ``frame``."""
    values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    integer = pd.api.types.is_integer_dtype(frame[column].dtype)
    decimals = 0 if integer else observed_decimals(values)
    complete = frame[list(parts)].notna().all(axis=1).to_numpy()
    missing_alone = bool((np.isnan(values) & complete).any())
    bounds = []
    for name in (*parts, column):
        present = frame[name].dropna().to_numpy(dtype=np.float64)
        bounds.append((float(present.min()), float(present.max())))
    return Sum(tuple(parts), column, decimals, tuple(bounds[:-1]), bounds[-1], missing_alone)


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
    share = _share(frame, names)
    table = np.column_stack([numbers[n] for n in names])
    head = table[_telling_rows(table, SCREEN_ROWS)]
    drawn = np.random.default_rng(0).choice(len(table), min(len(table), CHECK_ROWS), False)
    sample = table[np.sort(drawn)]
    found = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            agree = _agree(head, head[:, i], head[:, j], share=share).all(axis=0)
            for k in np.flatnonzero(agree):
                if k in (i, j):
                    continue
                if not _agree(sample[:, [k]], sample[:, i], sample[:, j], share=share).all():
                    continue
                if _evidence(table[:, k], table[:, i], table[:, j], share=share):
                    found.append(((names[i], names[j]), names[k]))
    totals = {column for _, column in found}
    found += _solved(table, [n not in totals for n in names], names, share)
    parts_of: dict = {}
    for parts, column in sorted(found, key=lambda item: names.index(item[1])):
        if column not in parts_of and not any(_reaches(parts_of, p, column) for p in parts):
            parts_of[column] = parts
    return in_sum_order([_make(frame, parts, c) for c, parts in parts_of.items()])


def _telling_rows(table: np.ndarray, count: int) -> np.ndarray:
    """Places of the ``count`` rows, among the first PROBE_ROWS of ``table`` (N, P), whose
    values most often differ from their column's median: sparse counts and indicators are 0
    in most rows, where any three of them add up, so screening on the first rows let every
    triple through (120 indicators of 50,000 rows: 176 s). First rows first among equals."""
    head = table[:PROBE_ROWS]
    present = ~np.isnan(head)
    middle = np.nanmedian(np.where(present.any(axis=0), head, 0.0), axis=0)  # 0: none read
    differing = (head != middle) & present
    return np.sort(np.argsort(-differing.sum(axis=1), kind="stable")[:count])


def _share(frame: pd.DataFrame, names: list) -> float:
    """The rounding a sum among ``names`` may show: float32 columns add in float32."""
    single = any(frame[n].dtype in (np.float32, np.float16) for n in names)
    return SINGLE_TOLERANCE if single else TOLERANCE


def _solved(
    table: np.ndarray, usable: list[bool], names: list, share: float
) -> list[tuple[tuple, Hashable]]:
    """Totals of three parts or more among the ``usable`` columns of ``table`` (N, P) that are
    missing in at most MAX_MISSING_SHARE of the rows (too many of them, or too few rows
    holding them all: those with no missing cell) and are not copies of another: each column
    solved by least squares on the others over the rows where all are present, kept where the
    residual is float rounding and every weight 0 or 1, then checked on every row (a total may
    be missing where its parts are not: ``missing_alone``)."""
    for gaps in (MAX_MISSING_SHARE, 0.0):
        sparse = np.isnan(table).mean(axis=0) > gaps
        columns = _distinct(table, np.asarray(usable, dtype=bool) & ~sparse)
        complete = table[~np.isnan(table[:, columns]).any(axis=1)][:, columns]
        # fewer rows would let a least-squares fit pass by chance
        if 4 <= len(columns) <= MAX_SOLVED and len(complete) >= len(columns) + MIN_ROWS:
            break
    else:
        return []
    rows = complete[_telling_rows(complete, max(4 * len(columns), 400))]
    found = []
    for k, place in enumerate(columns):
        others = [c for c in range(len(columns)) if c != k]
        # small problems: BLAS threads beside a busy process made R's msq (80 columns) 150x
        # slower (36 s against 0.25 s on one thread)
        with threadpool_limits(limits=1, user_api="blas"):
            weights, *_ = np.linalg.lstsq(rows[:, others], rows[:, k], rcond=None)
        ones = np.abs(weights - 1) <= WEIGHT_TOLERANCE
        if ones.sum() < 3 or not (ones | (np.abs(weights) <= WEIGHT_TOLERANCE)).all():
            continue
        parts = [columns[others[i]] for i in np.flatnonzero(ones)]
        parts_at = (table[:, p] for p in parts)
        if _evidence(table[:, place], *parts_at, share=share, missing_alone=True):
            found.append((tuple(names[p] for p in parts), names[place]))
    return found


def _distinct(table: np.ndarray, chosen: np.ndarray) -> list[int]:
    """Places of the ``chosen`` columns of ``table``, each copy of an earlier one left out."""
    seen: set = set()
    columns = []
    for place in np.flatnonzero(chosen):
        key = table[:, place].tobytes()
        if key not in seen:
            seen.add(key)
            columns.append(int(place))
    return columns


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
    other parts are never negative (or the total below a part where they are never positive)."""
    for item in sums:
        if item.bounds is None:
            continue
        for place, part in enumerate(item.parts):
            others = [b for i, b in enumerate(item.bounds) if i != place]  # real ranges
            if (order_low, order_high) == (part, item.column) and min(b[0] for b in others) >= 0:
                return True
            if (order_low, order_high) == (item.column, part) and max(b[1] for b in others) <= 0:
                return True
    return False


def declared_sum(frame: pd.DataFrame | None, item: Mapping) -> Sum:
    """The sum ``{"type": "sum", "columns": [A, B, ...], "column": C}`` names, checked on
    ``frame`` (None: kept as declared, unchecked: under epsilon a check would be a release)."""
    parts, column = item.get("columns"), item.get("column")
    valid = isinstance(parts, (list, tuple)) and len(parts) >= 2 and hashable(column)
    names = [*parts, column] if valid else []
    valid = valid and all(hashable(n) for n in names) and len(set(names)) == len(names)
    unknown = [n for n in names if frame is not None and n not in frame.columns] if valid else []
    if not valid or unknown:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r} is not valid: give {{'type': 'sum', 'columns': "
            "[A, B, ...], 'column': C}} with different column names of train_data"
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
    held = ~np.isnan(values[-1])  # a total may be missing where its parts are not
    agree = _agree(values[-1][:, None], *values[:-1], share=_share(frame, names))[:, 0] | ~held
    if not agree.all():
        row = frame.index[int(np.flatnonzero(~agree)[0])]
        held = " + ".join(repr(frame.at[row, p]) for p in parts)
        raise InvalidParameterError(
            f"metadata says {column!r} = {' + '.join(map(repr, parts))}, but train_data's row "
            f"{row!r} holds {frame.at[row, column]!r} = {held} (or a total present where a "
            "part is missing)"
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


def adds_up(total: float, parts: list[float]) -> bool:
    """Whether asked numbers make a sum: ``total`` is the sum of ``parts`` to float rounding."""
    return bool(_agree(np.array([[total]]), *(np.array([p]) for p in parts))[0, 0])
