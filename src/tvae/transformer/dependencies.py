"""Exact dependencies between columns, found in the real rows and kept in every sampled row.

Two kinds, detected in ``fit`` when they hold in *every* real row:

* **determines**: column A determines column B (education -> education-num, zip -> city,
  code -> label): each value of A comes with one value of B. Sampled rows get B from A through
  the real mapping, so the pair never disagrees.
* **order**: ``low <= high`` in every real row where both are present (start <= end,
  min <= max). Sampled rows that break it get ``high`` raised to ``low``.

A third kind, **one_hot** (exactly one, or at most one, indicator of a group is 1 in every
row), is found by the transformer (:mod:`tvae.transformer.one_hot`); each member is derived
from the group's label.

A column B can be determined by several columns; only one, its *parent*, derives it. Parents
form a forest by a strict order on columns (more distinct values first; for equal counts a
categorical column before a numerical one, then table order), so a chain zip -> city -> state
derives state from city and city from zip, which keeps zip -> state too.

A determination needs evidence: the source must repeat (at most ``1 / MIN_ROWS_PER_VALUE`` of
the rows distinct, and at most ``MAX_SOURCE_VALUES`` values), otherwise a column of nearly unique
values would "determine" everything by chance; and the target must vary among the source's
frequent values, otherwise a nearly constant target is "determined" by any column. Constant
columns are left out, and so are orders that the columns' values alone make near certain
(paired at random, fewer than 1 % of rows would break them: disjoint ranges, an indicator below
a count): clipping and the learned marginals keep those already.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.dependency_search import (
    MAX_SOURCE_VALUES,
    MIN_ROWS,
    MIN_ROWS_PER_VALUE,
    PROBE_ROWS,
    SOURCE_KINDS,
    determines,
    ordered,
    pick_parents,
    rank_columns,
    refuted_orders,
    sources_first,
    value_codes,
    witnessed,
)
from tvae.transformer.one_hot import OneHotGroup, assign_member, expand_labels, held

ORDER_KINDS = ("numerical", "datetime")


@dataclass
class Determination:
    """``target`` = ``mapping[source]`` in every row."""

    source: Hashable
    target: Hashable
    keys: list  # source values
    values: list  # the target value of each key
    counts: list | None = None  # real rows holding each key (to pick a source for a target)

    def describe(self) -> dict:
        return {"type": "determines", "source": self.source, "target": self.target}


@dataclass(frozen=True)
class Order:
    """``low <= high`` wherever both are present."""

    low: Hashable
    high: Hashable

    def describe(self) -> dict:
        return {"type": "order", "low": self.low, "high": self.high}


@dataclass
class Dependencies:
    """The dependencies a model keeps: parents derive targets, orders are repaired."""

    determinations: list[Determination] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    # determinations of a target by a source other than its parent: kept by repairing that
    # source where it disagrees (census: three migration codes each determine "year")
    checks: list[Determination] = field(default_factory=list)
    # one-hot groups: their members are modelled as one label column (tvae.transformer.one_hot)
    groups: list[OneHotGroup] = field(default_factory=list)

    # ------------------------------------------------------------------ finding them
    @classmethod
    def detect(cls, frame: pd.DataFrame, kinds: Mapping[Hashable, str]) -> Dependencies:
        """Every determination and order that holds in all rows of ``frame``."""
        if len(frame) < MIN_ROWS:
            return cls()
        n_unique = {c: frame[c].nunique(dropna=False) for c in frame.columns}
        varied = [c for c in frame.columns if n_unique[c] > 1 and kinds.get(c) != "id"]
        rank = rank_columns(frame, kinds, n_unique)
        sources = [
            c
            for c in varied
            if kinds.get(c) in SOURCE_KINDS
            and n_unique[c] <= min(MAX_SOURCE_VALUES, len(frame) / MIN_ROWS_PER_VALUE)
        ]
        codes = {c: value_codes(frame[c]) for c in varied}
        probe = slice(0, PROBE_ROWS)
        found: list[tuple[Hashable, Hashable]] = []
        for source in sources:
            for target in varied:
                if target == source or rank[source] <= rank[target]:
                    continue
                if (
                    determines(codes[source][probe], codes[target][probe])
                    and determines(codes[source], codes[target])
                    and witnessed(codes[source], codes[target])
                ):
                    found.append((source, target))
        parents = pick_parents(found, rank)
        determinations = [_mapping(frame, s, t) for s, t in parents]
        derived = {t for _, t in parents}
        checks = [
            _mapping(frame, s, t) for s, t in found if (s, t) not in parents and s not in derived
        ]  # a derived source is repaired through its own parent: not checked here
        linked = {d.source for d in determinations} | {d.target for d in determinations}
        candidates = [
            c for c in varied if kinds.get(c) in ORDER_KINDS and c not in linked
        ]  # an order never edits a column that a determination reads or writes
        head = frame.head(PROBE_ROWS)
        refuted = refuted_orders(head, candidates)
        orders = [
            Order(a, b)
            for a in candidates
            for b in candidates
            if a != b
            and (a, b) not in refuted
            and ordered(head[a], head[b], overlap=False)
            and ordered(frame[a], frame[b])
        ]
        return cls(determinations, orders, checks)

    @classmethod
    def declared(cls, frame: pd.DataFrame, items: Iterable[Mapping]) -> Dependencies:
        """The dependencies the user lists (``describe`` form), checked against ``frame``."""
        determinations, orders = [], []
        for item in items:
            kind = item.get("type") if isinstance(item, Mapping) else None
            names = [item.get(k) for k in ("source", "target", "low", "high")] if kind else []
            missing = [n for n in names if n is not None and n not in frame.columns]
            if kind not in ("determines", "order") or missing:
                raise InvalidParameterError(
                    f"metadata dependency {item!r} is not valid: give {{'type': 'determines', "
                    "'source': A, 'target': B}} or {'type': 'order', 'low': A, 'high': B} with "
                    f"column names of train_data{f' (unknown: {missing})' if missing else ''}"
                )
            if kind == "determines":
                source, target = item["source"], item["target"]
                codes = value_codes(frame[source]), value_codes(frame[target])
                if not determines(*codes):
                    raise InvalidParameterError(
                        f"metadata says {source!r} determines {target!r}, but some value of "
                        f"{source!r} comes with several values of {target!r} in train_data"
                    )
                determinations.append(_mapping(frame, source, target))
            else:
                if not ordered(frame[item["low"]], frame[item["high"]], overlap=False):
                    raise InvalidParameterError(
                        f"metadata says {item['low']!r} <= {item['high']!r}, but train_data "
                        "has rows where it does not hold (or the columns are not comparable)"
                    )
                orders.append(Order(item["low"], item["high"]))
        by_pair = {(d.source, d.target): d for d in determinations}
        order = sources_first([(d.source, d.target) for d in determinations])
        return cls([by_pair[pair] for pair in order], orders)

    def describe(self) -> list[dict]:
        items = self.determinations + self.checks
        return [item.describe() for item in [*self.groups, *items, *self.orders]]

    # ------------------------------------------------------------------ keeping them
    def apply(self, frame: pd.DataFrame, fixed: Iterable[Hashable] = ()) -> pd.DataFrame:
        """Make every dependency hold in ``frame`` (in place; also returned).

        Targets are derived from their parents, sources first. Orders raise ``high`` to ``low``
        where broken, or lower ``low`` when ``high`` is in ``fixed`` (a conditioned column).
        """
        fixed = set(fixed)
        expand_labels(frame, self.groups)  # the one-hot members (decoded rows only)
        for _ in range(1 + len(self.checks)):  # each repair pass can only settle more sources
            for item in self.determinations:
                _derive(frame, item)
            by_source: dict = {}
            for item in self.checks:
                by_source.setdefault(item.source, []).append(item)
            repaired = [_repair(frame, items) for c, items in by_source.items() if c not in fixed]
            if not any(repaired):
                break
        else:
            for item in self.determinations:
                _derive(frame, item)
        for _ in range(len(self.orders)):  # a chain a <= b <= c settles within this many passes
            changed = False
            for order in self.orders:
                low, high = frame[order.low], frame[order.high]
                broken = (low > high).to_numpy(dtype=bool, na_value=False)
                if broken.any():
                    changed = True
                    lower = self._held(order.high, fixed, True)
                    if lower and not self._held(order.low, fixed, False):
                        self._assign(frame, order.low, broken, high[broken], fixed)
                    else:
                        self._assign(frame, order.high, broken, low[broken], fixed)
            if not changed:
                break
        return frame

    def _group_of(self, column: Hashable) -> OneHotGroup | None:
        return next((g for g in self.groups if column in g.members), None)

    def _held(self, column: Hashable, fixed: set, raising: bool) -> bool:
        """Whether an order's repair may not move ``column`` (see :func:`held`)."""
        return column in fixed or held(self._group_of(column), column, fixed, raising)

    def _assign(
        self, frame: pd.DataFrame, column: Hashable, rows: np.ndarray, values, fixed: set
    ) -> None:
        """``frame.loc[rows, column] = values``, a one-hot member's group kept whole."""
        group = self._group_of(column)
        if group is None:
            frame.loc[rows, column] = values
        else:
            assign_member(frame, group, column, rows, values, fixed)

    def targets_of(self, column: Hashable) -> Determination | None:
        """The determination that derives ``column``, if any (a one-hot group's member: from
        the group's label)."""
        for group in self.groups:
            if column in group.members:
                keys, values = group.member_values(column)
                return Determination(group.label, column, keys, values)
        return next((d for d in self.determinations if d.target == column), None)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict:
        return {
            "determinations": [_state_of(d) for d in self.determinations],
            "checks": [_state_of(d) for d in self.checks],
            "orders": [[encode_value(o.low), encode_value(o.high)] for o in self.orders],
            "one_hot": [g.get_state() for g in self.groups],
        }

    @classmethod
    def from_state(cls, state: dict | None) -> Dependencies:
        if not state:
            return cls()
        return cls(
            [_from_state(d) for d in state["determinations"]],
            [Order(decode_value(a), decode_value(b)) for a, b in state["orders"]],
            [_from_state(d) for d in state.get("checks", [])],
            [OneHotGroup.from_state(g) for g in state.get("one_hot", [])],
        )


def _state_of(item: Determination) -> dict:
    return {
        "source": encode_value(item.source),
        "target": encode_value(item.target),
        "keys": [encode_value(v) for v in item.keys],
        "values": [encode_value(v) for v in item.values],
        "counts": item.counts,
    }


def _from_state(state: dict) -> Determination:
    return Determination(
        decode_value(state["source"]),
        decode_value(state["target"]),
        [decode_value(v) for v in state["keys"]],
        [decode_value(v) for v in state["values"]],
        state.get("counts"),
    )


def _mapping(frame: pd.DataFrame, source: Hashable, target: Hashable) -> Determination:
    first = frame.drop_duplicates(subset=[source])
    counts = frame[source].value_counts(dropna=False).reindex(first[source]).tolist()
    return Determination(
        source, target, first[source].tolist(), first[target].tolist(), [int(c) for c in counts]
    )


def _repair(frame: pd.DataFrame, items: list[Determination]) -> bool:
    """Checks sharing one source: where the source maps to other values than the row's targets,
    set it to a real value that maps to all of them: the nearest one for a numerical source,
    else the most frequent. Returns whether a row changed. (Checks of one source share its keys
    and counts: see :func:`_mapping`.)

    A numerical value no real row holds is left as it is: no real row says what it maps to.
    Treating it as wrong moved every such value to one frequent key (intrusion: src_bytes ->
    wrong_fragment sent the smooth draws of 30 % of the synthetic "normal" rows to 1032, the
    smurf attacks' value, 6 points above its real rate)."""
    source = items[0].source
    keys = pd.Index(items[0].keys)
    position = keys.get_indexer(frame[source])
    wrong = np.zeros(len(frame), dtype=bool)
    targets = []
    for item in items:
        expected = np.asarray([*item.values, None], dtype=object)[position]
        target = frame[item.target].to_numpy(dtype=object)
        # codes over both arrays: every kind of missing value is one code (-1)
        codes = pd.factorize(np.concatenate([expected, target]))[0]
        wrong |= codes[: len(frame)] != codes[len(frame) :]
        targets.append(target)
    wrong &= position >= 0
    if not wrong.any():
        return False
    numeric = is_numeric_dtype(keys.dtype) and is_numeric_dtype(frame[source].dtype)
    candidates: dict = {}  # the targets' values -> the keys mapping to them, most frequent first
    counts = np.asarray(items[0].counts or [1] * len(keys))
    for code in np.argsort(-counts, kind="stable"):
        wanted = tuple(_key(item.values[code]) for item in items)
        candidates.setdefault(wanted, []).append(items[0].keys[code])
    column = frame[source].to_numpy(dtype=object, copy=True)
    rows_by_targets: dict = {}
    for row in np.flatnonzero(wrong):
        rows_by_targets.setdefault(tuple(_key(t[row]) for t in targets), []).append(row)
    changed = False
    for wanted, rows in rows_by_targets.items():
        keys_here = candidates.get(wanted)
        if keys_here:
            rows = np.asarray(rows)
            if numeric:  # moved least: the nearest fitting key (a missing one: most frequent)
                nearest = _nearest(keys_here, column[rows])
                column[rows] = np.where(pd.isna(nearest), keys_here[0], nearest)
            else:  # a label: the most frequent fitting key
                column[rows] = keys_here[0]
            changed = True
    if changed:
        restored = pd.Series(column, index=frame.index, dtype=object)
        try:
            frame[source] = restored.astype(frame[source].dtype)
        except (TypeError, ValueError):
            frame[source] = restored
    return changed


def _nearest(keys: list, values: np.ndarray) -> np.ndarray:
    """The present numerical key nearest each of ``values``; missing where the value is
    missing or no key is present. (N,) of objects"""
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
    out = np.full(len(numbers), np.nan, dtype=object)
    present = [k for k in keys if not pd.isna(k)]
    known = ~np.isnan(numbers)
    if not present or not known.any():
        return out
    order = np.argsort(np.asarray(present, dtype=np.float64), kind="stable")
    ordered = np.asarray(present, dtype=np.float64)[order]
    slot = np.clip(np.searchsorted(ordered, numbers[known]), 1, max(len(ordered) - 1, 1))
    below, above = slot - 1, np.minimum(slot, len(ordered) - 1)
    gap_below = np.abs(numbers[known] - ordered[below])
    nearer = np.where(gap_below <= np.abs(numbers[known] - ordered[above]), below, above)
    out[known] = np.asarray(present, dtype=object)[order[nearer]]
    return out


def _key(value: Any) -> Any:
    """A dict key that treats every missing value alike."""
    return "__missing__" if not isinstance(value, str) and pd.isna(value) else value


def _derive(frame: pd.DataFrame, item: Determination) -> None:
    """Set the target column from the source column through the mapping."""
    keys = pd.Index(item.keys)
    source = frame[item.source]
    position = keys.get_indexer(source)
    unseen = position < 0
    if unseen.any() and is_numeric_dtype(keys.dtype) and is_numeric_dtype(source.dtype):
        # a numerical source generated a value no real row holds: snap it to the nearest one
        # (a column that determines another behaves as a set of labels)
        column = source.to_numpy(dtype=object, copy=True)
        column[unseen] = _nearest(item.keys, column[unseen])
        frame[item.source] = pd.Series(column, index=frame.index).astype(source.dtype)
        position = keys.get_indexer(frame[item.source])
        unseen = position < 0
    current = frame[item.target]
    values = np.asarray([*item.values, None], dtype=object)[position]  # -1: the None slot
    values[unseen] = current.to_numpy(dtype=object)[unseen]
    derived = pd.Series(values, index=frame.index, dtype=object)
    try:
        frame[item.target] = derived.astype(current.dtype)
    except (TypeError, ValueError):
        frame[item.target] = derived
