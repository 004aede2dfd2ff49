"""Conditions on a column that another determines, asked of the determining column instead.

When A determines B (see :mod:`tvae.transformer.dependencies`), sampled rows get B from A, so a
condition on B is met by asking A for the values that map into it: a set of labels, one value,
or a range of a numerical A whose matching values are contiguous. A condition given on both is
the intersection. The condition on B is then dropped: deriving B from A meets it exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tvae.conditional.conditions import MISSING
from tvae.errors import ConditionError
from tvae.transformer.repairs import nearest_keys
from tvae.transformer.sums import adds_up

LABEL_KINDS = ("categorical", "boolean", "wide_categorical")


def through_dependencies(transformer: Any, conditions: Mapping | pd.DataFrame) -> Any:
    """``conditions`` with every condition on a derived column moved to its source, after a
    condition on a column that determines a derived one besides its parent (a check) has
    added the condition it implies on that column: census's migration codes each determine
    the year, which the sunbelt code derives, so a condition on one code asks the sunbelt
    code for its year instead of letting the repairs move the code off its condition."""
    dependencies = transformer.dependencies
    derives = dependencies.determinations or dependencies.groups or dependencies.joint
    if not derives or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return conditions
    kinds = {column.name: column.kind for column in transformer.columns}
    if isinstance(conditions, pd.DataFrame):
        return _unique_through(dependencies, kinds, conditions.astype(object))
    return in_form_of(conditions, _rows_through(dependencies, kinds, as_table(conditions)))


def asked_targets(items: list, conditions: Any) -> list:
    """The ``items`` (lines, cuts) whose target ``conditions`` name; none where the conditions
    are not a dict or a frame."""
    if not items or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return []
    names = set(conditions.columns if isinstance(conditions, pd.DataFrame) else conditions)
    return [item for item in items if item.target in names]


def as_table(conditions: Mapping | pd.DataFrame) -> pd.DataFrame:
    """Conditions as a frame of objects: a dict's as one row, a frame's a copy."""
    if isinstance(conditions, Mapping):
        return pd.DataFrame({c: [v] for c, v in conditions.items()}, dtype=object)
    return conditions.astype(object).copy()


def in_form_of(conditions: Mapping | pd.DataFrame, table: pd.DataFrame) -> Any:
    """``table`` (from :func:`as_table`) in the form ``conditions`` came in."""
    if isinstance(conditions, Mapping):
        return {c: table[c].iloc[0] for c in table.columns}
    return table


def check_sums(transformer: Any, conditions: Mapping | pd.DataFrame) -> None:
    """Raise :class:`ConditionError` where conditions ask one number of each column of a sum
    (:mod:`tvae.transformer.sums`) that do not add up: no row could meet them."""
    sums = transformer.dependencies.sums
    if not sums or not isinstance(conditions, (Mapping, pd.DataFrame)):
        return
    rows = conditions.to_dict("records") if isinstance(conditions, pd.DataFrame) else [conditions]
    for item in sums:
        names = [*item.parts, item.column]
        for row in rows:
            cells = [row.get(n) for n in names]
            numbers = all(is_number(c) for c in cells)
            if numbers and not adds_up(float(cells[-1]), [float(v) for v in cells[:-1]]):
                asked = ", ".join(f"{n!r} = {c!r}" for n, c in zip(names, cells, strict=True))
                raise ConditionError(
                    f"conditions ask {asked}, but {names[-1]!r} is the sum of the others "
                    "in every row; leave one of them out"
                )


def _unique_through(dependencies: Any, kinds: Mapping, table: pd.DataFrame) -> pd.DataFrame:
    """:func:`_rows_through` once per distinct row of ``table``, spread back over its rows."""
    seen: dict = {}
    try:
        codes = np.asarray(
            [seen.setdefault(tuple(None if is_empty(c) else c for c in row), len(seen))
             for row in table.itertuples(index=False)], dtype=np.int64,
        )  # fmt: skip
    except TypeError:  # an unhashable cell
        return _rows_through(dependencies, kinds, table)
    first = np.unique(codes, return_index=True)[1]
    spread = _rows_through(dependencies, kinds, table.iloc[first]).iloc[codes]
    spread.index = table.index
    return spread


def _rows_through(dependencies: Any, kinds: Mapping, table: pd.DataFrame) -> pd.DataFrame:
    """:func:`_through` on ``table``; where a row's conditions cannot be met together, that row
    again without what one column of a pair implies alone (found by halving the rows). A
    pair's mapping holds only the pairs real rows hold: census's training rows hold no mover
    of 83, so its ``age`` 83 alone narrowed ``live in this house`` to values that a held-out
    row's migration code contradicts."""
    try:
        return _through(dependencies, kinds, table, one_source=True)
    except ConditionError:
        if len(table) == 1:
            return _through(dependencies, kinds, table, one_source=False)
        half = len(table) // 2
        parts = [_rows_through(dependencies, kinds, part) for part in (table[:half], table[half:])]
        joined = pd.concat(parts).astype(object)
        return joined.where(joined.notna(), None)


def _through(
    dependencies: Any, kinds: Mapping, table: pd.DataFrame, one_source: bool
) -> pd.DataFrame:
    """The steps of :func:`through_dependencies` on a frame of conditions; ``one_source``:
    a condition on one column of a pair narrows the others too."""
    table = table.copy()
    implied: set = set()
    staying: set = set()  # derived columns whose condition stays beside their source's
    pairs = [*dependencies.joint, *dependencies.joint_checks]
    while True:
        joint = next(
            (j for j in pairs if _pair_state(j, table) and _pair_state(j, table) not in implied),
            None,
        )
        if joint is not None:
            implied.add(_pair_state(joint, table))
            _imply_pair(table, joint, kinds, one_source)
            continue
        check = next(
            (d for d in dependencies.checks
             if d.source in table.columns and (d.source, d.target) not in implied),
            None,
        )  # fmt: skip
        if check is not None:
            implied.add((check.source, check.target))
            _imply(table, check, kinds.get(check.target))
            continue
        derived = next(
            (c for c in table.columns if c not in staying and dependencies.targets_of(c)), None
        )
        if derived is None:
            return table
        item = dependencies.targets_of(derived)
        source = item.source
        own = table[source] if source in table.columns else pd.Series(None, index=table.index)
        cells = [
            condition_on_source(item, kinds.get(source), target_cell, source_cell)
            for target_cell, source_cell in zip(table[derived], own, strict=True)
        ]
        if any(scattered(cell) for cell in cells):
            # Crime's region, which the county-level pctmin determines: pctmin is held to the
            # set (the repairs snap it into the set) and the region's own condition stays, so
            # the latents drawn are the region's, not any row's with pctmin in the set's range
            staying.add(derived)
        else:
            table = table.drop(columns=[derived])
        table[source] = pd.Series(cells, index=table.index, dtype=object)


def _imply(table: pd.DataFrame, item: Any, target_kind: str | None) -> None:
    """Add to ``table`` (in place) the condition each row's condition on ``item.source``
    implies on ``item.target``, which it determines, met together with the row's own
    condition on the target; a number's values that no range holds alone imply nothing."""
    own = table.get(item.target, pd.Series(None, index=table.index, dtype=object))
    cells = [
        _target_cell(item, target_kind, source_cell, target_cell)
        for source_cell, target_cell in zip(table[item.source], own, strict=True)
    ]
    if not all(is_empty(cell) for cell in cells):
        table[item.target] = pd.Series(cells, index=table.index, dtype=object)


def _pair_state(item: Any, table: pd.DataFrame) -> tuple | None:
    """Which of a pair dependency's columns carry conditions (None: none does)."""
    present = tuple(c in table.columns for c in (*item.sources, item.target))
    return (id(item), present) if any(present) else None


def _imply_pair(table: pd.DataFrame, item: Any, kinds: Mapping, one_source: bool = True) -> None:
    """Conditions on a pair (:mod:`tvae.transformer.joint`) and the column it determines,
    narrowed to the real value pairs that meet them all (in place): ``age`` 0 asks the column
    for what newborns hold, ``alone`` True asks both counts for 0. Without ``one_source``, a
    condition on one column of the pair alone narrows nothing."""
    names = (*item.sources, item.target)
    empty = pd.Series(None, index=table.index, dtype=object)
    rows = [table[c] if c in table.columns else empty for c in names]
    pairs = _Pairs(item, [kinds.get(name) for name in names])
    done: dict = {}  # rows asking the same narrow the same way
    narrowed: list[list] = [[], [], []]
    for cells in zip(*rows, strict=True):
        key = tuple(None if is_empty(cell) else cell for cell in cells)
        try:
            found = done.get(key)
        except TypeError:  # an unhashable cell: no reuse
            key, found = None, None
        if found is None:
            found = pairs.narrow(cells, one_source)
            if key is not None:
                done[key] = found
        for place in range(3):
            narrowed[place].append(found[place])
    for name, cells in zip(names, narrowed, strict=True):
        if not all(is_empty(cell) for cell in cells):
            table[name] = pd.Series(cells, index=table.index, dtype=object)


class _Pairs:
    """A pair dependency's real (source, source, target) triples, indexed by value."""

    def __init__(self, item: Any, kinds: list) -> None:
        self.item, self.kinds = item, kinds
        self.triples = [(*key, value) for key, value in zip(item.keys, item.values, strict=True)]
        self.keys = set(item.keys)
        self.everything = [[t[place] for t in self.triples] for place in range(3)]
        self.at: list[dict] = [{}, {}, {}]
        for index, triple in enumerate(self.triples):
            for place in range(3):
                with contextlib.suppress(TypeError):  # an unhashable value: scanned
                    self.at[place].setdefault(triple[place], []).append(index)

    def narrow(self, cells: tuple, one_source: bool) -> tuple:
        """The row's three cells, narrowed (see :func:`_imply_pair`)."""
        if not one_source and is_empty(cells[2]) and any(is_empty(c) for c in cells[:2]):
            return cells
        fitting = self.fitting(cells, [False] * 3)
        if not fitting:  # a number no real pair holds with the rest (an age of 24.5, a woman
            # of 37 where the training rows hold only men of 37) reads as the nearest that does
            near = [is_number(cells[0]), is_number(cells[1]), False]
            fitting = [
                t
                for t in self.fitting(cells, near)
                if tuple(cells[s] if near[s] else t[s] for s in (0, 1)) not in self.keys
            ]  # fmt: skip  (a pair real rows hold says what it gives: siblings 1 is never alone)
        if not fitting:
            names = (*self.item.sources, self.item.target)
            asked = {n: c for n, c in zip(names, cells, strict=True) if not is_empty(c)}
            raise ConditionError(
                f"conditions {asked!r} cannot be met together: {list(self.item.sources)!r} "
                f"determine {self.item.target!r}, and no real pair of their values fits"
            )
        return tuple(
            _values_cell([t[p] for t in fitting], self.everything[p], self.kinds[p])
            if is_empty(cells[p]) else cells[p]
            for p in range(3)
        )  # fmt: skip

    def fitting(self, cells: tuple, nearest: list[bool]) -> list[tuple]:
        """The triples that meet ``cells``; a cell marked ``nearest`` (a number) is met by the
        triples nearest to it among those that meet the rest."""
        candidates = None  # indices, narrowed first by the cells that name one value
        for place, cell in enumerate(cells):
            plain = not (nearest[place] or is_empty(cell) or isinstance(cell, _NOT_ONE_VALUE))
            hits = None
            if plain:
                with contextlib.suppress(TypeError):
                    hits = self.at[place].get(cell)
            if hits is not None:
                candidates = set(hits) if candidates is None else candidates & set(hits)
        indices = range(len(self.triples)) if candidates is None else sorted(candidates)
        chosen = [self.triples[i] for i in indices]  # in the mapping's order
        fitting = [
            t for t in chosen
            if all(is_empty(cell) or near or meets(v, cell)
                   for v, cell, near in zip(t, cells, nearest, strict=True))
        ]  # fmt: skip
        for place in (p for p in range(3) if nearest[p] and fitting):
            gaps = np.abs(np.asarray([float(t[place]) for t in fitting]) - float(cells[place]))
            if not np.isnan(gaps).all():  # a missing number is no nearer than any
                closest = np.nanmin(gaps)
                fitting = [t for t, gap in zip(fitting, gaps, strict=True) if gap == closest]
        return fitting


_NOT_ONE_VALUE = (tuple, frozenset, set, str)  # ranges and sets; text may name a number


def is_number(cell: Any) -> bool:
    """``cell`` asks one number (not a label, a range or a set)."""
    if isinstance(cell, (bool, np.bool_, str, tuple, frozenset, set)) or is_empty(cell):
        return False
    try:
        float(cell)
    except (TypeError, ValueError):
        return False
    return True


def _values_cell(allowed: list, everything: list, kind: str | None) -> Any:
    """A condition that ``allowed`` values (of ``everything`` a column holds) meet: one value,
    a set of labels, or a range of numbers; None where it would not narrow anything or a
    number's values are scattered (the repairs then keep the dependency)."""
    allowed = list(dict.fromkeys(allowed))
    if len(allowed) == len(dict.fromkeys(everything)) or any(is_empty(v) for v in allowed):
        return None
    if len(allowed) == 1:
        return allowed[0]
    if kind in LABEL_KINDS:
        return frozenset(allowed)
    values = pd.to_numeric(pd.Series(everything, dtype=object), errors="coerce").dropna()
    low, high = min(allowed), max(allowed)
    if values[(values >= low) & (values <= high)].nunique() != len(allowed):
        return None
    return (low, high)


def _fitting(item: Any, key_cell: Any, value_cell: Any) -> list[tuple]:
    """A determination's (source value, target value) pairs that meet both conditions (an
    empty one: any). A number no real row holds reads as the nearest that does, as the
    derivation reads it (anes96: a population of 17 gives the log of 16's)."""
    if is_number(key_cell) and not any(meets(key, key_cell) for key in item.keys):
        key_cell = nearest_keys(list(item.keys), np.asarray([key_cell], dtype=object))[0]
    return [
        (key, value)
        for key, value in zip(item.keys, item.values, strict=True)
        if (is_empty(key_cell) or meets(key, key_cell))
        and (is_empty(value_cell) or meets(value, value_cell))
    ]


def _target_cell(item: Any, target_kind: str | None, source_cell: Any, target_cell: Any) -> Any:
    """The condition on ``item.target`` that ``source_cell`` implies (with ``target_cell``)."""
    if is_empty(source_cell):
        return target_cell
    allowed = list(dict.fromkeys(v for _, v in _fitting(item, source_cell, target_cell)))
    if not allowed:
        raise ConditionError(
            f"conditions {source_cell!r} on {item.source!r} and {target_cell!r} on "
            f"{item.target!r} cannot be met together: {item.target!r} is determined by "
            f"{item.source!r}, and none of its values that meet its condition gives such a value"
        )
    cell = _values_cell(allowed, list(item.values), target_kind)
    return target_cell if cell is None else cell


def is_empty(cell: Any) -> bool:
    """A condition cell that asks nothing (None or a missing value)."""
    if isinstance(cell, (tuple, frozenset, set, str)):
        return False
    return cell is None or bool(pd.isna(cell))


def meets(value: Any, cell: Any) -> bool:
    """``value`` meets the condition ``cell`` (a value, a (low, high) range, a set or
    MISSING)."""
    if cell is MISSING:
        return is_empty(value)
    if isinstance(cell, (set, frozenset)):
        return any(meets(value, member) for member in cell)
    if isinstance(cell, tuple) and len(cell) == 2:
        low, high = cell
        try:
            return (low is None or value >= low) and (high is None or value <= high)
        except TypeError:
            return False
    if value == cell:
        return True
    return isinstance(cell, str) and str(value) == cell  # text from the command line


def condition_on_source(
    item: Any, source_kind: str | None, target_cell: Any, source_cell: Any
) -> Any:
    """The condition on the source that meets ``target_cell`` (and ``source_cell``, if any)."""
    if is_empty(target_cell):
        return source_cell
    allowed = [key for key, _ in _fitting(item, source_cell, target_cell)]
    if not allowed:
        raise ConditionError(
            f"condition {target_cell!r} on {item.target!r} cannot be met: {item.target!r} is "
            f"determined by {item.source!r}, and no value of it (meeting its own condition, if "
            "given) gives such a value"
        )
    if all(is_empty(key) for key in allowed):  # only a missing source gives it
        return MISSING
    if is_number(source_cell):  # asked as it is (a number no real row holds: see _fitting)
        return source_cell
    if len(allowed) == 1:
        return allowed[0]
    if source_kind in LABEL_KINDS:
        return frozenset(allowed)
    keys = np.sort(np.asarray([k for k in item.keys if not is_empty(k)], dtype=np.float64))
    low, high = min(allowed), max(allowed)
    inside = keys[(keys >= low) & (keys <= high)]
    if len(inside) != len(allowed):  # scattered: the set, and the target keeps its condition
        return frozenset(k for k in allowed if not is_empty(k))
    return (low, high)


def scattered(cell: Any) -> bool:
    """``cell`` is a set of numbers: the values of a numerical source that map into its
    target's condition, scattered among others (:func:`condition_on_source`)."""
    return isinstance(cell, frozenset) and all(is_number(v) for v in cell)
