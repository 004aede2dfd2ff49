"""Exact structure of real rows, checked on sampled rows from the outside (no tvae code).

- Functional dependencies: column A determines column B in every real row. Candidates are
  columns with at most one distinct value (missing counts as a value) per 20 rows on average;
  constant columns and near-unique ones are left out. A dependency counts only when B varies
  across the A values held by at least 5 rows, so that a rare B value sitting alone in a rare
  A value (which "determines" it by accident) is not taken for structure.
- Functional dependencies on a pair: columns A and C together determine column B in every real
  row while neither does alone (titanic: sibsp and parch determine alone), under the same
  rules with the pair's values in place of A's; pairs in which one column determines the other
  are left out.
- Orders: a <= b in every real row where both are present, for numerical columns whose values
  overlap: a taken from one real row and b from another would break the order at least 1 %
  of the time. Pairs whose ranges do not overlap (the order holds trivially) are left out, and
  so are pairs that barely overlap (a 0/1 indicator below a column that is 0 in 0.1 % of rows:
  any independent draw keeps such an "order" too).
- One-hot groups: 0/1 columns (numbers or booleans, no missing cell) of which exactly one is 1
  in every real row. Grown greedily from the indicator that is 1 most often, adding the next
  most frequent ones that keep every row's sum at most 1; kept when the sum is then 1 in every
  row and the group has at least 3 columns. A sampled row keeps it when exactly one is 1.
- Exclusive pairs: two 0/1 columns outside those groups that are never 1 together in a real
  row, although independent columns with their rates would be in at least 10 rows, and are
  both 0 in some row (dummy coding with a reference level; complementary columns are a
  functional dependency). A sampled row keeps the pair when not both are 1.
- Sums: numerical columns c = a + b in every real row where all three are present (to 1e-9 of
  |a| + |b|), in at least 20 rows, a and b both varying there; and totals of three columns or
  more among those without missing cells (least squares of each on the others, weights 0 or 1,
  then checked on every row). A sampled row keeps a sum when one of its columns is missing or
  it holds.
- Lines: numerical columns y = s * x + c, or y = s * log(x) + c (x > 0), in every real row
  where both are present, x with at least 10 distinct values and y with at least 3 (a y of two
  values on a line is a cut of x, not counted) in at least 20 rows, and s not 1 (equal columns
  and constant differences are orders and sums of their own): least squares,
  every residual within y's rounding (half the step of its decimals, when every value has at
  most 8) or 1e-6 of y's largest size. A sampled row keeps a line when x or y is missing or its
  residual is within twice that (the line is estimated from the real rows).
- Cuts: a column y of 2 to 32 values (a label or a number) that ranges of a numerical column x
  give in every real row where x is present: sorted by x, each y value holds one run of x
  values, and equal x values one y value, in at least 20 rows, x with at least 10 distinct
  values, and not already a functional dependency or a line. Unrelated labels would sort into so few
  runs with probability k! n_1! ... n_k! / n! (k values of n_i rows, n rows), which must be
  below 1e-6. A sampled row keeps a cut when x is missing, or y is the value of the run x
  falls in, or, for an x between two runs, of either.
- Date parts: a column equal to the year, quarter, month, day, weekday (Monday 0), hour, month
  name or abbreviation, or day name or abbreviation of a date column (datetimes, or text that
  pandas reads as dates in every present cell) in every real row where the date is present, in
  at least 20 rows, with two values or more. A sampled row keeps it when the date is missing
  or unreadable, or the column equals that part of it.
- Presence: a column B with missing cells (at least 5, and 5 present) whose missingness a
  column A decides in every real row: A's value (A a candidate of the functional dependencies)
  or whether A holds a value (student_placements: placed is False exactly where salary is
  missing; affect: state2 and MEQ missing together). Counted when B is present with some A
  value held by at least 5 rows and missing with another. A sampled row keeps it when its A
  value is unseen in the real rows or B is present exactly as the real rows say.
- Point masses: numerical values held by at least 5 % of the real rows, with their share in
  the real and in the sampled rows.

A sampled row keeps a functional dependency when its A value (or pair) is unseen in the real
rows (no evidence against it) or carries the B value the real rows give it; it keeps an order
when a or b is missing or a <= b.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ROWS_PER_VALUE = 20  # a functional dependency's columns hold at most len(rows) / 20 values
MIN_SUPPORT = 5  # rows an A value needs to show that B varies with A
MIN_OVERLAP_ROWS = 20  # rows with both columns present before an order counts
MIN_CROSSING = 0.01  # an order counts when columns paired at random would break it this often
POINT_MASS = 0.05  # share of real rows that makes a numerical value a point mass
MIN_EXPECTED_TOGETHER = 10  # rows where independent columns would both be 1: an exclusive pair
MIN_LINE_VALUES = 10  # distinct x values a line needs
MIN_LINE_TARGETS = 3  # distinct y values a line needs (two: a cut of x)
MAX_CUT_VALUES = 32  # y values a cut may have
CUT_CHANCE = 1e-6  # unrelated labels would sort into a cut's runs this rarely
LINE_PRECISION = 1e-6  # a line's residuals, as a share of y's largest size, without decimals


def numerical_columns(frame: pd.DataFrame, skip: set[str]) -> list[str]:
    """Numerical columns (booleans, categorical columns and ``skip`` left out)."""
    return [
        c
        for c in frame.columns
        if c not in skip
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _tokens(column: pd.Series, number: bool) -> pd.Series:
    """Comparable text per value: numbers as floats (13 == 13.0), missing as one token.

    ``number`` comes from the real column, so sampled values are read the same way.
    """
    if number:
        numbers = pd.to_numeric(column, errors="coerce").astype("float64")
        text = numbers.map(repr)
        missing = numbers.isna()
    else:
        text = "s:" + column.astype(str)
        missing = column.isna()
    return text.mask(missing, "<missing>").reset_index(drop=True)


@dataclass
class Dependencies:
    functional: dict[tuple[str, str], dict[str, str]]  # (A, B) -> {A token: B token}
    orders: list[tuple[str, str]]  # (a, b): a <= b
    numbers: set[str]  # columns whose values compare as numbers
    groups: list[list[str]] = field(default_factory=list)  # one-hot groups
    exclusive: list[tuple[str, str]] = field(default_factory=list)  # never both 1
    # (A, C, B) -> {(A token, C token): B token}: A and C together determine B
    joint: dict[tuple[str, str, str], dict[tuple[str, str], str]] = field(default_factory=dict)
    sums: list[tuple] = field(default_factory=list)  # (a, b, ..., c): c = a + b + ...
    # (x, y, log) -> (slope, intercept, tolerance): y = slope * x (or log x) + intercept
    lines: dict[tuple[str, str, bool], tuple[float, float, float]] = field(default_factory=dict)
    # (x, y) -> (lowest x of each run, highest x of each run, y token of each run)
    cuts: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, list]] = field(default_factory=dict)
    dated: dict[tuple[str, str], str] = field(default_factory=dict)  # (date, y) -> part
    # (A, B) -> {A token: whether B is present}: A's value (or "A present?", when A is
    # written "A is present") decides whether B holds a value
    presence: dict[tuple[str, str], dict] = field(default_factory=dict)

    def describe(self, limit: int = 6) -> str:
        names = [f"{a}→{b}" for a, b in self.functional]
        names += [f"{a}+{c}→{b}" for a, c, b in self.joint]
        names += [f"{s[-1]}={'+'.join(s[:-1])}" for s in self.sums]
        names += [f"{y}=line({'log ' if log else ''}{x})" for x, y, log in self.lines]
        names += [f"{y}=cut({x})" for x, y in self.cuts]
        names += [f"{y}={part}({x})" for (x, y), part in self.dated.items()]
        names += [f"{a}≤{b}" for a, b in self.orders]
        shown = ", ".join(names[:limit]) + (", …" if len(names) > limit else "")
        groups = f", {len(self.groups)} one-hot groups" if self.groups else ""
        groups += f", {len(self.exclusive)} exclusive pairs" if self.exclusive else ""
        n_functional = len(self.functional) + len(self.joint) + len(self.sums) + len(self.cuts)
        n_functional += len(self.dated)
        return f"{n_functional} functional, {len(self.orders)} orders{groups}" + (
            f" ({shown})" if names else ""
        )


def find_dependencies(real: pd.DataFrame, discrete: list[str], skip: set[str]) -> Dependencies:
    """Functional dependencies and orders that hold in every row of ``real``."""
    n = len(real)
    number = {c for c in real.columns if _is_number(real[c])}
    tokens = {c: _tokens(real[c], c in number) for c in real.columns if c not in skip}
    codes = {}
    for column, text in tokens.items():
        values, uniques = pd.factorize(text)
        if 2 <= len(uniques) <= max(2, n // ROWS_PER_VALUE):
            codes[column] = (values.astype(np.int64), len(uniques))
    functional = {}
    for a, (a_codes, a_count) in codes.items():
        counts = np.bincount(a_codes, minlength=a_count)
        supported = counts[a_codes] >= MIN_SUPPORT
        for b, (b_codes, b_count) in codes.items():
            if a == b or b_count > a_count:
                continue
            pairs = np.unique(a_codes * b_count + b_codes)
            if len(pairs) != a_count or len(np.unique(b_codes[supported])) < 2:
                continue
            mapping = pd.Series(tokens[b].to_numpy(), index=tokens[a].to_numpy())
            functional[(a, b)] = mapping[~mapping.index.duplicated()].to_dict()
    joint = _joint_dependencies(codes, tokens, functional, n)

    numbers = {
        c: pd.to_numeric(real[c], errors="coerce").to_numpy(dtype=np.float64)
        for c in numerical_columns(real, skip | set(discrete))
    }
    numbers = {
        c: v for c, v in numbers.items() if (~np.isnan(v)).any() and np.nanmin(v) < np.nanmax(v)
    }
    ranked = {c: np.sort(v[~np.isnan(v)]) for c, v in numbers.items()}
    orders = []
    for a, x in numbers.items():
        for b, y in numbers.items():
            both = ~np.isnan(x) & ~np.isnan(y)
            if a == b or both.sum() < MIN_OVERLAP_ROWS or not np.all(x[both] <= y[both]):
                continue
            # share of (a from one row, b from another) pairs with a > b: 0 when the ranges
            # do not overlap; small when the order follows from the two ranges alone
            x_sorted, y_sorted = ranked[a], ranked[b]
            crossing = np.searchsorted(y_sorted, x_sorted, side="left").mean() / len(y_sorted)
            if crossing >= MIN_CROSSING:
                orders.append((a, b))
    ones = indicator_columns(real, skip)
    groups = one_hot_groups(ones)
    exclusive = exclusive_pairs(ones, groups)
    lines = exact_lines(numbers)
    lined = {(x, y) for x, y, _ in lines} | {(y, x) for x, y, _ in lines}
    cuts = exact_cuts(numbers, tokens, set(functional) | lined)
    sums = exact_sums(numbers)
    dated = date_parts(real, skip)
    presence = presences(real, codes, tokens, skip, set(functional))
    return Dependencies(
        functional, orders, number, groups, exclusive, joint, sums, lines, cuts, dated, presence
    )


PRESENT_SUFFIX = " is present"


def presences(
    real: pd.DataFrame, codes: dict, tokens: dict, skip: set[str], functional: set
) -> dict:
    """Columns B with missing cells (at least MIN_SUPPORT, and as many present) whose
    missingness a column A decides in every real row: A's value (a column of ``codes``), or
    whether A holds a value. Counted when both "present" and "missing" occur among the A
    values held by at least MIN_SUPPORT rows, and not already a functional dependency of B
    on A (B's missing token is a value there)."""
    absent = {c: real[c].isna().to_numpy() for c in real.columns if c not in skip}
    targets = [c for c, v in absent.items() if MIN_SUPPORT <= v.sum() <= len(real) - MIN_SUPPORT]
    sources = dict(codes)
    for column in targets:
        sources[column + PRESENT_SUFFIX] = ((~absent[column]).astype(np.int64), 2)
    found = {}
    for a, (a_codes, a_count) in sources.items():
        supported = np.bincount(a_codes, minlength=a_count)[a_codes] >= MIN_SUPPORT
        for b in targets:
            if a in (b, b + PRESENT_SUFFIX) or (a, b) in functional:
                continue
            flags = absent[b].astype(np.int64)
            if len(np.unique(a_codes * 2 + flags)) != a_count:
                continue
            if len(np.unique(flags[supported])) < 2:
                continue
            keys = tokens[a].to_numpy() if a in tokens else ~absent[a[: -len(PRESENT_SUFFIX)]]
            mapping = pd.Series(~absent[b], index=keys)
            found[(a, b)] = mapping[~mapping.index.duplicated()].to_dict()
    return found


DATE_PARTS = {
    "year": lambda d: d.dt.year, "quarter": lambda d: d.dt.quarter,
    "month": lambda d: d.dt.month, "day": lambda d: d.dt.day,
    "weekday": lambda d: d.dt.day_of_week, "hour": lambda d: d.dt.hour,
    "month_name": lambda d: d.dt.month_name(), "month_abbr": lambda d: d.dt.month_name().str[:3],
    "day_name": lambda d: d.dt.day_name(), "day_abbr": lambda d: d.dt.day_name().str[:3],
}  # fmt: skip


def _dates(column: pd.Series) -> pd.Series | None:
    """The column as naive datetimes where every present cell reads as one, else None."""
    if pd.api.types.is_datetime64_any_dtype(column):
        dates = pd.to_datetime(column)
    elif column.dtype == object or pd.api.types.is_string_dtype(column):
        head = column.dropna().head(50)  # most text is not dates: a few cells tell
        if pd.to_datetime(head, errors="coerce", format="mixed").isna().any():
            return None
        dates = pd.to_datetime(column, errors="coerce", format="mixed")
        if column.notna().sum() == 0 or (dates.notna() != column.notna()).any():
            return None
    else:
        return None
    return dates.dt.tz_localize(None) if dates.dt.tz is not None else dates


def _part_equal(part: str, values: pd.Series, column: pd.Series) -> np.ndarray:
    if part.endswith(("_name", "_abbr")):
        return column.astype(str).to_numpy() == values.to_numpy(dtype=object)
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    return numbers == values.to_numpy(dtype=np.float64)


def date_parts(real: pd.DataFrame, skip: set[str]) -> dict:
    """Every (date, y) where y is a calendar part of the date (see the module docstring)."""
    found = {}
    for x in real.columns:
        dates = None if x in skip else _dates(real[x])
        if dates is None or dates.notna().sum() < MIN_OVERLAP_ROWS:
            continue
        present = dates.notna()
        for y in real.columns:
            if y in (x, *skip) or real[y][present].isna().any() or real[y].nunique() < 2:
                continue
            for part, compute in DATE_PARTS.items():
                if _part_equal(part, compute(dates[present]), real[y][present]).all():
                    found[(x, y)] = part
                    break
    return found


def exact_cuts(numbers: dict[str, np.ndarray], tokens: dict, functional: set) -> dict:
    """Every (x, y) where y is a cut of x (see the module docstring)."""
    found = {}
    for x_name, x in numbers.items():
        present = ~np.isnan(x)
        if present.sum() < MIN_OVERLAP_ROWS or len(np.unique(x[present])) < MIN_LINE_VALUES:
            continue
        order = np.argsort(x[present], kind="stable")
        xs = x[present][order]
        same_x = xs[1:] == xs[:-1]
        for y_name, text in tokens.items():
            if y_name == x_name or (x_name, y_name) in functional:
                continue
            ys = text.to_numpy()[present][order]
            values, uniques = pd.factorize(ys)
            k = len(uniques)
            if not 2 <= k <= MAX_CUT_VALUES:
                continue
            changes = values[1:] != values[:-1]
            if (changes & same_x).any() or changes.sum() != k - 1:
                continue
            starts = np.r_[0, np.flatnonzero(changes) + 1]
            ends = np.r_[starts[1:] - 1, len(xs) - 1]
            sizes = ends - starts + 1
            log_chance = math.lgamma(k + 1) + sum(math.lgamma(c + 1) for c in sizes)
            if log_chance - math.lgamma(len(xs) + 1) < math.log(CUT_CHANCE):
                found[(x_name, y_name)] = (xs[starts], xs[ends], list(ys[starts]))
    return found


def _line_tolerance(y: np.ndarray) -> float:
    """Half the step of y's decimals where every value has at most 8, else 1e-6 of its size."""
    present = y[~np.isnan(y)]
    for decimals in range(9):
        scaled = present * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return 0.5 * 10.0**-decimals + 1e-9 * np.abs(present).max()
    return LINE_PRECISION * np.abs(present).max()


def exact_lines(numbers: dict[str, np.ndarray]) -> dict:
    """Pairs (x, y) of numerical columns with y a line in x or in log x in every real row."""
    lines = {}
    for (x_name, x), (y_name, y) in itertools.permutations(numbers.items(), 2):
        both = ~np.isnan(x) & ~np.isnan(y)
        if both.sum() < MIN_OVERLAP_ROWS or len(np.unique(x[both])) < MIN_LINE_VALUES:
            continue
        if len(np.unique(y[both])) < MIN_LINE_TARGETS:
            continue
        tolerance = _line_tolerance(y[both])
        for log in (False, True):
            if log and not (x[both] > 0).all():
                continue
            t = np.log(x[both]) if log else x[both]
            slope, intercept = np.polyfit(t, y[both], 1)
            if abs(slope - 1) < 1e-9 and not log:
                break
            if np.abs(y[both] - (slope * t + intercept)).max() <= tolerance:
                lines[(x_name, y_name, log)] = (slope, intercept, tolerance)
                break
    return lines


def _adds_up(*columns: np.ndarray) -> np.ndarray:
    """Per row: whether the last column is the sum of the others, to 1e-9 of the sum of their
    sizes (False where any is missing)."""
    parts, total = columns[:-1], columns[-1]
    with np.errstate(invalid="ignore"):
        gap = np.abs(np.sum(parts, axis=0) - total)
        return gap <= 1e-9 * np.sum(np.abs(parts), axis=0) + 1e-300


def exact_sums(numbers: dict[str, np.ndarray]) -> list[tuple[str, str, str]]:
    """Every (a, b, c) with c = a + b in all real rows where the three are present (see the
    module docstring); each unordered pair of parts once. Screened on the first 64 rows."""
    names = list(numbers)
    if len(names) < 3:
        return []
    table = np.column_stack([numbers[n] for n in names])
    head = table[:64]
    found = []
    for i, j in itertools.combinations(range(len(names)), 2):
        with np.errstate(invalid="ignore"):
            sums = head[:, i] + head[:, j]
            close = (
                np.abs(head - sums[:, None])
                <= 1e-9 * (np.abs(head[:, i]) + np.abs(head[:, j]))[:, None] + 1e-300
            )
        screened = (close | np.isnan(head) | np.isnan(sums)[:, None]).all(axis=0)
        for k in np.flatnonzero(screened):
            if k in (i, j):
                continue
            x, y, z = table[:, i], table[:, j], table[:, k]
            present = ~np.isnan(x) & ~np.isnan(y) & ~np.isnan(z)
            if present.sum() < MIN_OVERLAP_ROWS or min(np.ptp(x[present]), np.ptp(y[present])) == 0:
                continue
            if _adds_up(x[present], y[present], z[present]).all():
                found.append((names[i], names[j], names[k]))
    return found + _longer_sums(table, names, {s[-1] for s in found})


def _longer_sums(table: np.ndarray, names: list[str], totals: set) -> list[tuple]:
    """Totals of three columns or more among the columns without missing cells (copies and
    the totals of pairs left out), by least squares of each on the others."""
    keep, seen = [], set()
    for k, name in enumerate(names):
        column = table[:, k]
        if name not in totals and not np.isnan(column).any() and column.tobytes() not in seen:
            seen.add(column.tobytes())
            keep.append(k)
    if not 4 <= len(keep) <= 80 or len(table) < len(keep) + MIN_OVERLAP_ROWS:
        return []
    found = []
    for k in keep:
        others = [o for o in keep if o != k]
        weights, *_ = np.linalg.lstsq(table[:, others], table[:, k], rcond=None)
        ones = np.abs(weights - 1) <= 1e-6
        if ones.sum() >= 3 and (ones | (np.abs(weights) <= 1e-6)).all():
            parts = [others[i] for i in np.flatnonzero(ones)]
            if _adds_up(*(table[:, p] for p in parts), table[:, k]).all():
                found.append((*(names[p] for p in parts), names[k]))
    return found


def _joint_dependencies(codes: dict, tokens: dict, functional: dict, n: int) -> dict:
    """(A, C, B) -> {(A token, C token): B token} for every pair A, C that determines B in
    every row where neither A nor C does alone (see the module's docstring)."""
    joint = {}
    for a, c in itertools.combinations(codes, 2):
        (a_codes, a_count), (c_codes, c_count) = codes[a], codes[c]
        pairs, uniques = pd.factorize(a_codes * c_count + c_codes)
        if len(uniques) > max(2, n // ROWS_PER_VALUE) or len(uniques) in (a_count, c_count):
            continue
        supported = np.bincount(pairs)[pairs] >= MIN_SUPPORT
        order = np.argsort(pairs, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(pairs[order]) != 0])
        for b, (b_codes, _) in codes.items():
            if b in (a, c) or (a, b) in functional or (c, b) in functional:
                continue
            values = b_codes[order]
            if (
                not np.array_equal(
                    np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
                )
                or len(np.unique(b_codes[supported])) < 2
            ):
                continue
            keys = zip(tokens[a].to_numpy(), tokens[c].to_numpy(), strict=True)
            joint[(a, c, b)] = dict(zip(keys, tokens[b].to_numpy(), strict=True))
    return joint


def indicator_columns(real: pd.DataFrame, skip: set[str]) -> dict[str, np.ndarray]:
    """The 0/1 columns (numbers or booleans, no missing cell, both values present) as ints."""
    ones = {}
    for c in real.columns:
        column = real[c]
        if c in skip or not _is_number(column) or column.isna().any():
            continue
        values = pd.to_numeric(column).to_numpy(dtype=np.float64)
        if np.isin(values, (0.0, 1.0)).all() and 0 < values.sum() < len(values):
            ones[c] = values.astype(np.int64)
    return ones


def one_hot_groups(ones: dict[str, np.ndarray]) -> list[list[str]]:
    """Sets of 0/1 columns of which exactly one is 1 in every row (see the module docstring)."""
    order = sorted(ones, key=lambda c: -ones[c].sum())
    groups, used = [], set()
    for first in order:
        if first in used:
            continue
        total, group = ones[first].copy(), [first]
        for other in order:
            if other not in used and other not in group and (total + ones[other]).max() <= 1:
                total += ones[other]
                group.append(other)
        if total.min() == 1 and len(group) >= 3:
            groups.append(group)
            used.update(group)
    return groups


def exclusive_pairs(ones: dict[str, np.ndarray], groups: list[list[str]]) -> list[tuple]:
    """Pairs of 0/1 columns outside ``groups`` never 1 together (see the module docstring)."""
    grouped = {c for g in groups for c in g}
    columns = [c for c in ones if c not in grouped]
    pairs = []
    for i, a in enumerate(columns):
        for b in columns[i + 1 :]:
            x, y = ones[a], ones[b]
            expected = x.sum() * y.sum() / len(x)
            if expected >= MIN_EXPECTED_TOGETHER and not (x & y).any() and (x + y).min() == 0:
                pairs.append((a, b))
    return pairs


def dependency_kept(rows: pd.DataFrame, found: Dependencies) -> dict:
    """Share of ``rows`` keeping every dependency (and each kind); the least-kept one."""
    n = len(rows)
    kept_functional = np.ones(n, dtype=bool)
    kept_orders = np.ones(n, dtype=bool)
    each = {}
    for (a, b), mapping in found.functional.items():
        expected = _tokens(rows[a], a in found.numbers).map(mapping)
        ok = (expected.isna() | (expected == _tokens(rows[b], b in found.numbers))).to_numpy()
        kept_functional &= ok
        each[f"{a}→{b}"] = ok.mean()
    for (a, c, b), mapping in found.joint.items():
        pairs = zip(
            _tokens(rows[a], a in found.numbers), _tokens(rows[c], c in found.numbers), strict=True
        )
        expected = pd.Series([mapping.get(pair) for pair in pairs], dtype=object)
        ok = (expected.isna() | (expected == _tokens(rows[b], b in found.numbers))).to_numpy()
        kept_functional &= ok
        each[f"{a}+{c}→{b}"] = ok.mean()
    for group in found.groups:
        ok = (rows[group].apply(pd.to_numeric, errors="coerce") == 1).sum(axis=1).to_numpy() == 1
        kept_functional &= ok
        each[f"one of {group[0]}..{group[-1]}"] = ok.mean()
    for a, b in found.exclusive:
        both = [pd.to_numeric(rows[c], errors="coerce").to_numpy() == 1 for c in (a, b)]
        ok = ~(both[0] & both[1])
        kept_functional &= ok
        each[f"not both {a}, {b}"] = ok.mean()
    for names in found.sums:
        columns = [
            pd.to_numeric(rows[k], errors="coerce").to_numpy(dtype=np.float64) for k in names
        ]
        ok = np.isnan(np.sum(columns, axis=0)) | _adds_up(*columns)
        kept_functional &= ok
        each[f"{names[-1]}={'+'.join(names[:-1])}"] = ok.mean()
    for (a, b, log), (slope, intercept, tolerance) in found.lines.items():
        x = pd.to_numeric(rows[a], errors="coerce").to_numpy(dtype=np.float64)
        y = pd.to_numeric(rows[b], errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.log(x) if log else x
            ok = np.isnan(x) | np.isnan(y) | (np.abs(y - (slope * t + intercept)) <= 2 * tolerance)
        kept_functional &= ok
        each[f"{b}={slope:.4g}*{'log ' if log else ''}{a}+{intercept:.4g}"] = ok.mean()
    for (a, b), (lowest, highest, labels) in found.cuts.items():
        x = pd.to_numeric(rows[a], errors="coerce").to_numpy(dtype=np.float64)
        y = _tokens(rows[b], b in found.numbers).to_numpy()
        run = np.clip(np.searchsorted(lowest, x, side="right") - 1, 0, len(labels) - 1)
        labels = np.asarray(labels, dtype=object)
        inside = x <= highest[run]  # else between run and run + 1: either value
        above = np.minimum(run + 1, len(labels) - 1)
        ok = np.isnan(x) | (y == labels[run]) | (~inside & (y == labels[above]))
        kept_functional &= ok
        each[f"{b}=cut({a})"] = ok.mean()
    for (a, b), part in found.dated.items():
        dates = pd.to_datetime(rows[a], errors="coerce", format="mixed")
        if pd.api.types.is_datetime64_any_dtype(dates) and dates.dt.tz is not None:
            dates = dates.dt.tz_localize(None)
        present = dates.notna().to_numpy()
        ok = ~present
        ok[present] = _part_equal(part, DATE_PARTS[part](dates[present]), rows[b][present])
        kept_functional &= ok
        each[f"{b}={part}({a})"] = ok.mean()
    for (a, b), mapping in found.presence.items():
        if a.endswith(PRESENT_SUFFIX) and a not in rows.columns:
            keys = pd.Series(rows[a[: -len(PRESENT_SUFFIX)]].notna().to_numpy())
        else:
            keys = pd.Series(_tokens(rows[a], a in found.numbers).to_numpy())
        expected = keys.map(mapping)
        ok = (expected.isna() | (expected == rows[b].notna().to_numpy())).to_numpy()
        kept_functional &= ok
        each[f"{b} present by {a}"] = ok.mean()
    for a, b in found.orders:
        x = pd.to_numeric(rows[a], errors="coerce").to_numpy(dtype=np.float64)
        y = pd.to_numeric(rows[b], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isnan(x) | np.isnan(y) | (x <= y)
        kept_orders &= ok
        each[f"{a}≤{b}"] = ok.mean()
    worst = min(each, key=each.get) if each else None
    return {
        "n_functional_dependencies": len(found.functional)
        + len(found.joint)
        + len(found.groups)
        + len(found.sums)
        + len(found.lines)
        + len(found.cuts)
        + len(found.dated)
        + len(found.presence),
        "n_exclusive_pairs": len(found.exclusive),
        "n_orders": len(found.orders),
        "dependency_kept": float((kept_functional & kept_orders).mean()) if n else None,
        "functional_kept": float(kept_functional.mean()) if n else None,
        "order_kept": float(kept_orders.mean()) if n else None,
        "least_kept_dependency": worst,
        "least_kept_share": float(each[worst]) if worst else None,
        "broken": {name: round(float(share), 4) for name, share in each.items() if share < 1},
    }


def point_masses(real: pd.DataFrame, rows: pd.DataFrame, columns: list[str]) -> dict:
    """Real vs sampled share of every numerical value held by >= 5 % of the real rows."""
    masses = []
    for column in columns:
        values = pd.to_numeric(real[column], errors="coerce")
        shares = values.value_counts(dropna=True) / len(real)
        sampled = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=np.float64)
        for value, share in shares[shares >= POINT_MASS].items():
            tolerance = 1e-9 * max(1.0, abs(float(value)))
            hits = np.abs(sampled - float(value)) <= tolerance
            masses.append(
                {
                    "column": column,
                    "value": float(value),
                    "real": float(share),
                    "synthetic": float(hits.mean()) if len(rows) else None,
                }
            )
    scored = [m for m in masses if m["synthetic"] is not None]
    worst = max(scored, key=lambda m: abs(m["real"] - m["synthetic"]), default=None)
    return {
        "point_masses": masses,
        "worst_point_mass_points": (
            100 * abs(worst["real"] - worst["synthetic"]) if worst else None
        ),
        "worst_point_mass": f"{worst['column']}={worst['value']:g}" if worst else None,
    }
