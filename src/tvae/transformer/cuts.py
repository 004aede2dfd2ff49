"""Columns that a number's ranges give: a label cut from a number by thresholds.

Tables often carry a number and a value computed from it by thresholds: a birth weight and
"low" (under 2,500 g), an age and "child" (under 18) or an age group, a score and its grade,
hours worked and "works", a time of day and the day it falls on. Modelled on its own, the label
is drawn from its softmax and the number from its own mode and noise, and sampled rows break the
rule (birthwt: 24 % of rows held a low weight marked normal or the reverse; a three-grade score
52 %). A determination (:mod:`tvae.transformer.dependencies`) keeps such a pair only when the
number repeats; a measurement with many distinct values does not.

``fit`` finds them (:func:`find_cuts`): a numerical source with ``MIN_VALUES`` distinct values
and a target (a label, a boolean or a number) of at most ``MAX_LABELS`` values such that, the
rows sorted by the source, each target value holds one run of source values and equal source
values hold one target value, in ``MIN_ROWS`` rows or more where the source is present. That
needs evidence: a target unrelated to the source would fall into so few runs with probability
below ``CHANCE`` (labels of c_1..c_k rows, n in all, sort into k runs with probability
k! c_1! ... c_k! / n!), so a label of 3 rows at the end of 100 is not taken for a cut, while
one of 325 rows at 0 hours worked and 428 above is (a cut need not cross many values).

Between two runs the edge is the number written with the fewest digits in the gap, nearest its
middle: 2,500 between the real weights 2,495 and 2,523, 18 between the ages 17.9 and 18.0, the
threshold a person would have used. Sampled rows get the target from the source
(:func:`keep_cuts`): the value of the run whose edges hold it, in the target's dtype; where the
real target takes one value in every row whose source is missing (5 rows or more), it does so
there too. A conditioned target (and a source) stays; a source then leaves its label's real
range only if a condition put it there.

A date is a source too, read as nanoseconds, with the calendar's round boundaries for edges
(:mod:`tvae.transformer.cut_dates`: an order date cut into quarters at 2019-04-01, ...).

No target is another cut's source. A target that only determinations read (motor's strata,
which gives v) is derived from its number first, and the columns it determines from it
(:meth:`tvae.transformer.dependencies.Dependencies.apply`). A target several numbers cut (a
"works" flag that hours and earnings both give) is derived from the one with the most
distinct values (or from one a condition holds), and each other source is kept within the
label's real range, reflected off its end where it left it; where one of them cannot be
moved (it is a date, or another cut or an order reads it), deriving the target from one
would break the others, so it is left to the model. So is a target in an order, unless the
cut implies the order (:func:`implies`), which is then dropped.

Cuts are listed with the dependencies (``{"type": "cut", "source": A, "target": B, "edges":
[...], "labels": [...]}``: B is ``labels[i]`` where ``edges[i - 1] <= A < edges[i]``),
declared or switched off the same way.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.transformer.cut_dates import as_stamp, date_edge_between, date_source, date_values
from tvae.transformer.dependency_search import MIN_ROWS, value_codes
from tvae.transformer.numerical import to_float
from tvae.transformer.repairs import missing_alike, restore_column

MIN_VALUES = 10  # distinct source values before runs of them count as a cut
MAX_LABELS = 32  # a target of more values is not searched as a cut
CHANCE = 1e-6  # unrelated labels would sort into the runs this rarely (see the module)
MIN_MISSING_ROWS = 5  # rows without a source that show the target's one value there
SCREEN_ROWS = 256  # every pair is first tried on this many rows (spread out), then on all
TARGET_KINDS = ("categorical", "boolean", "numerical")


@dataclass(frozen=True)
class Cut:
    """``target`` is ``labels[i]`` where ``edges[i - 1] <= source < edges[i]``; ``spans`` are
    the real source's lowest and highest value under each label (None: not known);
    ``when_missing`` is ``(value,)``: the target where the source is missing, or () if free."""

    source: Hashable
    target: Hashable
    edges: tuple[float, ...]
    labels: tuple
    spans: tuple[tuple[float, float], ...] | None = None
    when_missing: tuple = ()
    dates: bool = False  # the source is a date; its values and edges are nanoseconds
    date_format: str | None = None  # ... written as text in this format

    def source_values(self, column: pd.Series) -> np.ndarray:
        """The source column as floats (N,) on the edges' scale, NaN where missing."""
        return source_values(column, self.dates, self.date_format)

    def positions(self, source: np.ndarray) -> np.ndarray:
        """The label index of each source value (float, NaN where missing): -1 where missing."""
        found = np.searchsorted(np.asarray(self.edges, dtype=np.float64), source, side="right")
        return np.where(np.isnan(source), -1, found)

    def index_of(self, label: Any) -> int | None:
        """Where ``label`` sits in ``labels`` (missing values alike), or None."""
        wanted = missing_alike(label)
        return next((i for i, v in enumerate(self.labels) if missing_alike(v) == wanted), None)

    def describe(self) -> dict:
        return {
            "type": "cut",
            "source": self.source,
            "target": self.target,
            "edges": [as_stamp(e).isoformat() for e in self.edges]
            if self.dates
            else list(self.edges),
            "labels": list(self.labels),
        }

    def get_state(self) -> dict:
        return {
            "source": encode_value(self.source),
            "target": encode_value(self.target),
            "edges": list(self.edges),
            "labels": [encode_value(v) for v in self.labels],
            "spans": None if self.spans is None else [list(s) for s in self.spans],
            "when_missing": [encode_value(v) for v in self.when_missing],
            **({"dates": True, "date_format": self.date_format} if self.dates else {}),
        }

    @classmethod
    def from_state(cls, state: Mapping) -> Cut:
        spans = state.get("spans")
        return cls(
            decode_value(state["source"]),
            decode_value(state["target"]),
            tuple(float(e) for e in state["edges"]),
            tuple(decode_value(v) for v in state["labels"]),
            None if spans is None else tuple((float(a), float(b)) for a, b in spans),
            tuple(decode_value(v) for v in state.get("when_missing", [])),
            bool(state.get("dates", False)),
            state.get("date_format"),
        )


def source_values(column: pd.Series, dates: bool, text_format: str | None) -> np.ndarray:
    """A cut's source as floats (N,): a number as it is, a date as nanoseconds; NaN missing."""
    return date_values(column, text_format) if dates else to_float(column)


def edge_between(below: float, above: float) -> float:
    """The number in ``(below, above]`` written with the fewest digits, nearest the middle."""
    middle = (below + above) / 2
    power = math.floor(math.log10(max(abs(below), abs(above), above - below))) + 1
    for _ in range(40):
        step = 10.0**power
        first, last = math.floor(below / step) + 1, math.floor(above / step)
        if first <= last:
            edge = round(min(max(round(middle / step), first), last) * step, max(0, -power))
            if below < edge <= above:
                return float(edge)
        power -= 1
    return float(above)


def runs_of(source: np.ndarray, codes: np.ndarray) -> np.ndarray | None:
    """For ``source`` values (present, sorted) and their target ``codes``: the first row of
    each run, or None where a target value holds two runs or one source value two target
    values."""
    new_value = np.r_[True, source[1:] != source[:-1]]
    if (codes[1:] != codes[:-1])[~new_value[1:]].any():
        return None  # equal sources, different targets
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return starts if len(starts) == len(np.unique(codes)) else None


def unlikely(counts: np.ndarray) -> bool:
    """Whether unrelated labels of these sizes (rows each) would fall into as few runs with
    probability below ``CHANCE``."""
    log_chance = math.lgamma(len(counts) + 1) - math.lgamma(int(counts.sum()) + 1)
    log_chance += sum(math.lgamma(int(c) + 1) for c in counts)
    return log_chance < math.log(CHANCE)


def cut_of(
    frame: pd.DataFrame, source: Hashable, target: Hashable, dates: str | bool = False
) -> tuple[Cut, np.ndarray] | None:
    """The cut of ``target`` by ``source`` in ``frame`` and the rows under each label, or
    None where it does not hold. ``dates``: the source is a date (True, or its text format)."""
    text_format = dates if isinstance(dates, str) else None
    values = source_values(frame[source], bool(dates), text_format)
    present = ~np.isnan(values)
    order = np.argsort(values[present], kind="stable")
    x = values[present][order]
    target_values = frame[target].to_numpy(dtype=object)[present][order]
    starts = runs_of(x, value_codes(pd.Series(target_values, dtype=object)))
    if starts is None:
        return None
    counts = np.diff(np.r_[starts, len(x)])
    ends = np.r_[starts[1:] - 1, len(x) - 1]
    between = date_edge_between if dates else edge_between
    edges = tuple(between(x[e], x[s]) for e, s in zip(ends[:-1], starts[1:], strict=True))
    spans = tuple((float(x[s]), float(x[e])) for s, e in zip(starts, ends, strict=True))
    labels = tuple(_plain(target_values[s]) for s in starts)
    rest = pd.unique(pd.Series(frame[target].to_numpy(dtype=object)[~present], dtype=object))
    alike = len(rest) == 1 and (~present).sum() >= MIN_MISSING_ROWS
    when_missing = (_plain(rest[0]),) if alike else ()
    cut = Cut(source, target, edges, labels, spans, when_missing, bool(dates), text_format)
    return cut, counts


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def find_cuts(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], skip: Iterable[Hashable] = (),
    targets_too: Iterable[Hashable] = (),
) -> list[Cut]:  # fmt: skip
    """Every (source, target) pair where the target is a cut of the source (see the module);
    each target with one source, and no target a source. Columns in ``skip`` are left out,
    but those in ``targets_too``, which may be targets."""
    skip = set(skip)
    usable = [c for c in frame.columns if c not in skip and kinds.get(c) in TARGET_KINDS]
    numbers = {
        c: to_float(frame[c])
        for c in usable
        if kinds[c] == "numerical"
        and pd.api.types.is_numeric_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c].dtype)
    }
    dates = {c: date_source(frame[c]) for c in frame.columns
             if kinds.get(c) == "datetime" and c not in skip}  # fmt: skip
    dates = {c: found for c, found in dates.items() if found}  # its text format, or True
    numbers |= {c: source_values(frame[c], True, f if f is not True else None)
                for c, f in dates.items()}  # fmt: skip
    distinct = {c: len(np.unique(v[~np.isnan(v)])) for c, v in numbers.items()}
    sources = sorted((c for c in numbers if distinct[c] >= MIN_VALUES), key=lambda c: -distinct[c])
    targets_too = [c for c in targets_too if kinds.get(c) in TARGET_KINDS and c not in usable]
    targets = [c for c in usable + targets_too if 2 <= frame[c].nunique(dropna=False) <= MAX_LABELS]
    if not sources or not targets:
        return []
    rows = np.unique(np.linspace(0, len(frame) - 1, SCREEN_ROWS).astype(np.int64))
    head = np.stack([value_codes(frame[t].iloc[rows]) for t in targets])  # (T, R)
    found = []
    for source in sources:
        x = numbers[source][rows]
        keep = np.flatnonzero(~np.isnan(x))
        order = keep[np.argsort(x[keep], kind="stable")]
        for i in np.flatnonzero(_screen(x[order], head[:, order])):
            target = targets[i]
            cut = (
                None
                if target == source
                else _checked(frame, source, target, dates.get(source, False))
            )
            if cut is not None:
                found.append(cut)
    # a target derives nothing, and of two columns each a cut of the other the one with more
    # values is the source; a target several numbers cut is derived from the first, and each
    # other source is kept within the label's range (infert: two strata numberings each cut
    # education, and deriving it from one broke the other in 28 % of rows), unless one of
    # them cannot be moved: then the target is left to the model
    kept: dict[Hashable, list[Cut]] = {}
    blocked = set()
    for cut in found:  # sources with the most values first
        sources = {k.source for group in kept.values() for k in group}
        moved = {k.source for group in kept.values() for k in group[1:]}
        if cut.source in kept or cut.target in sources:
            blocked.add(cut.target)
        elif cut.target not in kept:
            if cut.source not in moved:
                kept[cut.target] = [cut]
        elif cut.source not in sources and not cut.dates:  # moved: no other cut reads it
            kept[cut.target].append(cut)
        else:
            blocked.add(cut.target)
    return arranged([cut for t, group in kept.items() if t not in blocked for cut in group])


def deriving(cuts: list[Cut]) -> dict[Hashable, Cut]:
    """Each target's first cut in ``cuts``: the one that derives it (any other cut of it
    keeps its source within the label's range)."""
    firsts: dict[Hashable, Cut] = {}
    for cut in cuts:
        firsts.setdefault(cut.target, cut)
    return firsts


def arranged(cuts: list[Cut]) -> list[Cut]:
    """``cuts`` with each target's deriving cut before every other cut of that target: the
    order :func:`keep_cuts` and the listing in ``metadata_`` follow."""
    firsts = deriving(cuts)
    return [*firsts.values(), *(cut for cut in cuts if firsts[cut.target] is not cut)]


def _screen(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Which targets (rows of ``codes``, (T, R), on rows sorted by the source ``x`` (R,)) fall
    into runs there: a cut holds on any rows of the table. All targets at once (a table of
    600 numbers and 600 small counts: 360,000 pairs)."""
    if codes.shape[1] < 2:
        return np.zeros(len(codes), dtype=bool)
    changes = codes[:, 1:] != codes[:, :-1]
    ties = x[1:] == x[:-1]
    distinct = 1 + (np.diff(np.sort(codes, axis=1), axis=1) != 0).sum(axis=1)
    return ~(changes & ties).any(axis=1) & (changes.sum(axis=1) == distinct - 1)


def _checked(frame: pd.DataFrame, source: Hashable, target: Hashable, dates: Any) -> Cut | None:
    """The cut on every row, where it holds with evidence (``dates``: a date source's text
    format, True for other dates, False for a number)."""
    present = frame[source].notna().to_numpy()
    if present.sum() < MIN_ROWS:
        return None
    result = cut_of(frame, source, target, dates)
    if result is None:
        return None
    cut, counts = result
    return cut if len(counts) > 1 and unlikely(counts) else None


def edges_of(cut: Cut, index: int) -> tuple[float, float]:
    low = cut.edges[index - 1] if index > 0 else -np.inf
    high = np.nextafter(cut.edges[index], -np.inf) if index < len(cut.edges) else np.inf
    return float(low), float(high)


def span_of_label(cut: Cut, index: int) -> tuple[float, float]:
    """The source's range under label ``index``: its real one, else its edges'."""
    return cut.spans[index] if cut.spans is not None else edges_of(cut, index)


def implies(cut: Cut, order: Any) -> bool:
    """Whether ``order`` (low <= high) holds in every row the cut derives: it joins the cut's
    two columns, and each numerical label is at most (at least) every source value its range
    can hold, from the edge (or the real end) below it up to the edge above it (heart's
    ``transplant <= start``, transplant 0 before day 1 and 1 from it)."""
    if {order.low, order.high} != {cut.source, cut.target} or cut.spans is None:
        return False
    labels = pd.to_numeric(pd.Series(cut.labels, dtype=object), errors="coerce").to_numpy(float)
    if np.isnan(labels).any():
        return False
    lows = np.r_[cut.spans[0][0], cut.edges]  # the least source value each label can hold
    highs = np.r_[cut.edges, cut.spans[-1][1]]  # and the most (an edge: only below it)
    if order.low == cut.target:
        return bool((labels <= lows).all())
    return bool((labels >= highs).all())


def beside_orders(cuts: list[Cut], orders: list, heads: set) -> list[Cut]:
    """The ``cuts`` whose target no order moves, but for orders the cut implies; a target
    several numbers cut, or one that determines others (in ``heads``: derived before them),
    only where no order moves its sources either."""
    first = deriving(cuts)
    kept = [c for c in cuts if all(implies(c, o) for o in orders if c.target in o)]
    ordered = {c.source for c in kept if any(c.source in o for o in orders)}
    held = {c.target for c in cuts} - {c.target for c in kept}
    held |= {c.target for c in kept if c.source in ordered
             and (first[c.target] is not c or c.target in heads)}  # fmt: skip
    return [c for c in kept if c.target not in held]


def keep_cuts(frame: pd.DataFrame, cuts: Iterable[Cut], fixed: set) -> None:
    """Make every cut hold in ``frame`` (in place): the target from its source where the source
    is present (and the one value it takes where the source is missing, if the real rows have
    one); a ``fixed`` target (a condition holds it) stays, and its free source is moved into
    the label's real range where it left it. A target several numbers cut is derived from
    the first (or from one a condition holds), and the other free sources are moved."""
    by_target: dict[Hashable, list[Cut]] = {}
    for cut in cuts:
        by_target.setdefault(cut.target, []).append(cut)
    for target, group in by_target.items():
        deriving = None
        if target not in fixed:
            deriving = next((cut for cut in group if cut.source in fixed), group[0])
            _derive(frame, deriving)
        for cut in group:
            if cut is not deriving and cut.source not in fixed and not cut.dates:
                _move_sources(frame, cut)


def _derive(frame: pd.DataFrame, cut: Cut) -> None:
    """The cut's target set from its source (and where the source is missing, if alike)."""
    source = cut.source_values(frame[cut.source])
    present = ~np.isnan(source)
    values = frame[cut.target].to_numpy(dtype=object, copy=True)
    values[present] = np.asarray(cut.labels, dtype=object)[cut.positions(source[present])]
    if cut.when_missing:
        values[~present] = cut.when_missing[0]
    restore_column(frame, cut.target, values)


def _move_sources(frame: pd.DataFrame, cut: Cut) -> None:
    """Sources moved into the real range of their row's label, in place."""
    source = cut.source_values(frame[cut.source])
    present = ~np.isnan(source)
    keys = pd.Index([missing_alike(v) for v in cut.labels])
    index = keys.get_indexer([missing_alike(v) for v in frame[cut.target].to_numpy(dtype=object)])
    moved = source.copy()
    for i in range(len(cut.labels)):
        rows = present & (index == i)
        low, high = span_of_label(cut, i)
        x = source[rows]
        x = np.where(x < low, 2 * low - x, np.where(x > high, 2 * high - x, x))  # reflected
        moved[rows] = np.clip(x, low, high)
    if not np.array_equal(moved, source, equal_nan=True):
        restore_column(frame, cut.source, moved.astype(object))
