"""Presence: a column that decides, in every real row, whether another column holds a value.

student_placements' ``placed`` is False exactly where ``salary``, ``start_date`` and
``end_date`` are missing; affect's ``Study`` decides which of ``state2``, ``MEQ`` and ``BDI``
were measured; dietox's ``Feed`` is missing exactly at ``Time`` 1. The learned "is missing"
span of each column keeps its rate, not this rule: 8-18 % of sampled rows broke it. Found in
``fit`` (:func:`find_presence`), kept after the draw (:mod:`tvae.transformer.presence_repairs`).

The deciding column (the source) is a label or a number of few values (each of its values
comes with a value of the target in every real row, or with none), or, where no such column
decides, another column's own missingness (``by="missing"``: columns missing together, or
exactly where the other is present). The source with the fewest values is kept; a column
missing together with an earlier one follows the earliest. Where no column decides for all
its values, some values may (msq's ``scale`` "msq" never has ``tranquil``; "r" mostly has it):
a value whose rows all hold the target, or all lack it, where chance would make them so less
than once in a million, keeps that rule, and the others keep none.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.dependency_search import (
    FIRST_REPEATS,
    MAX_SOURCE_VALUES,
    MIN_ROWS_PER_VALUE,
    REPEAT_ROWS,
    SOURCE_KINDS,
    determines,
    same_as_first,
    value_codes,
    witnessed,
)
from tvae.transformer.missing import missing_marker

CHANCE = 1e-6  # a key's rows all alike (all missing, or all present) this rarely by chance


@dataclass
class Presence:
    """Where ``source``'s value is a key whose ``present`` is True, ``target`` holds a value;
    where it is False, ``target`` is missing; where it is None, either (the real rows show no
    rule for that key). With ``by_missing``, the keys are [False, True]: whether ``source``
    holds a value."""

    source: Hashable
    target: Hashable
    keys: list
    present: list[bool | None]
    counts: list[int] = field(default_factory=list)  # real rows per key: where a source moves
    by_missing: bool = False
    marker: Any = None  # the target's missing value, as the table wrote it
    source_marker: Any = None  # the source's, where its own missingness is the key
    # a typical value (the middle one, or the most frequent label) for a row that must hold
    # one where no other sampled row can lend it (a single row): the target's, the source's
    fallback: Any = None
    source_fallback: Any = None

    def describe(self) -> dict:
        found = {"type": "presence", "source": self.source, "target": self.target}
        return {**found, "by": "missing"} if self.by_missing else found

    def key_codes(self, column: pd.Series) -> np.ndarray:
        """Each row's position in ``keys`` (-1: a value no real row holds)."""
        if self.by_missing:
            return column.notna().to_numpy().astype(np.int64)
        keys = list(self.keys)
        empty = [i for i, key in enumerate(keys) if _is_missing(key)]
        filled = [i for i, key in enumerate(keys) if not _is_missing(key)]
        found = pd.Index([keys[i] for i in filled], dtype=object).get_indexer(column.astype(object))
        codes = np.where(found >= 0, np.asarray([*filled, -1], dtype=np.int64)[found], -1)
        codes[column.isna().to_numpy()] = empty[0] if empty else -1
        return codes

    def get_state(self) -> dict:
        return {
            "source": encode_value(self.source),
            "target": encode_value(self.target),
            "keys": [encode_value(k) for k in self.keys],
            "present": [None if p is None else bool(p) for p in self.present],
            "counts": [int(c) for c in self.counts],
            "by_missing": self.by_missing,
            "marker": encode_value(self.marker),
            "source_marker": encode_value(self.source_marker),
            "fallback": encode_value(self.fallback),
            "source_fallback": encode_value(self.source_fallback),
        }

    @classmethod
    def from_state(cls, state: Mapping) -> Presence:
        return cls(
            decode_value(state["source"]),
            decode_value(state["target"]),
            [decode_value(k) for k in state["keys"]],
            [None if p is None else bool(p) for p in state["present"]],
            [int(c) for c in state.get("counts", [])],
            bool(state.get("by_missing", False)),
            decode_value(state.get("marker")),
            decode_value(state.get("source_marker")),
            decode_value(state.get("fallback")),
            decode_value(state.get("source_fallback")),
        )


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def presence_of(
    frame: pd.DataFrame,
    source: Hashable,
    target: Hashable,
    by_missing: bool,
    every: bool = True,
) -> Presence:
    """The :class:`Presence` of ``target`` by ``source`` in ``frame``: with ``every``, a
    rule for every key (the source decides in every row); else only for the keys
    :func:`key_rules` finds."""
    absent = frame[target].isna().to_numpy()
    if by_missing:
        keys: list = [False, True]
        codes = frame[source].notna().to_numpy().astype(np.int64)
    else:
        codes, uniques = pd.factorize(frame[source], use_na_sentinel=False)
        keys = list(uniques)
    counts = np.bincount(codes, minlength=len(keys))
    rules = key_rules(codes, absent, len(keys), every)
    return presence_with(frame, source, target, keys, rules, [int(c) for c in counts], by_missing)


def presence_with(
    frame: pd.DataFrame, source: Hashable, target: Hashable, keys: list, present: list,
    counts: list[int], by_missing: bool,
) -> Presence:  # fmt: skip
    """A :class:`Presence` of the given rule, with the missing markers and typical values of
    ``frame``'s columns."""
    return Presence(
        source, target, keys, present, counts, by_missing,
        missing_marker(frame[target]),
        missing_marker(frame[source]) if by_missing else None,
        typical(frame[target]),
        typical(frame[source]) if by_missing else None,
    )  # fmt: skip


def key_rules(
    codes: np.ndarray, absent: np.ndarray, n_keys: int, every: bool = False
) -> list[bool | None]:
    """Per key (code), True where the target is present in all its rows, False where it is
    missing in all, None where both occur. Without ``every``, a key keeps its rule only
    where its rows would all be alike by chance (the target's missing share p, its n rows:
    p ** n, or (1 - p) ** n) less than ``CHANCE``: a small key alike by accident is no rule."""
    rows = np.bincount(codes, minlength=n_keys)
    missing = np.bincount(codes, weights=absent, minlength=n_keys)
    share = absent.mean()
    rules: list[bool | None] = []
    for n, m in zip(rows, missing, strict=True):
        if m == 0 and (every or (1 - share) ** n < CHANCE):
            rules.append(True)
        elif m == n and (every or share**n < CHANCE):
            rules.append(False)
        else:
            rules.append(None)
    return rules


def typical(column: pd.Series) -> Any:
    """The middle present value of a number, date or duration (a value the column holds);
    the most frequent one of anything else."""
    present = column.dropna()
    if not len(present):
        return None
    kind = column.dtype.kind
    if kind in "iufmM" and not pd.api.types.is_bool_dtype(column):
        return present.sort_values().iloc[len(present) // 2]
    return present.value_counts().index[0]


@dataclass(frozen=True)
class Skipped:
    """The columns that may not be a source: one whose values decide, one whose missingness
    does."""

    by_value: set
    by_missing: set


def find_presence(
    frame: pd.DataFrame,
    kinds: Mapping[Hashable, str],
    skip_targets: set,
    skip_sources: Skipped,
    parents: Mapping[Hashable, set],
) -> list[Presence]:
    """Every column whose missing cells another column decides, in all rows of ``frame``, each
    with one source, ordered so that a source's own presence is kept before it decides others.
    First a source every value of which decides (the fewest values), then an earlier column
    missing together with it (or exactly where it is present), then a source some of whose
    values decide (:func:`key_rules`; the most rows covered). ``parents`` maps a column to the
    columns that derive it (a source derived from its own target would chase it). A source
    that is itself a target comes earlier in the table, so columns that decide each other's
    presence (pbc's ``trt``, ``ascites``, ``hepato``: missing together) all follow the first."""
    n_rows = len(frame)
    absent = {c: frame[c].isna().to_numpy() for c in frame.columns}
    targets = [
        c
        for c in frame.columns
        if kinds.get(c) != "id"
        and c not in skip_targets
        and MIN_ROWS_PER_VALUE <= absent[c].sum() <= n_rows - MIN_ROWS_PER_VALUE
    ]
    if not targets:
        return []
    labels = [
        c
        for c in frame.columns
        if kinds.get(c) in SOURCE_KINDS
        and c not in skip_sources.by_value
        and 1
        < frame[c].nunique(dropna=False)
        <= min(MAX_SOURCE_VALUES, n_rows / MIN_ROWS_PER_VALUE)
    ]
    heads = np.stack([absent[t][:REPEAT_ROWS] for t in targets]).astype(np.int64)
    position = {c: i for i, c in enumerate(frame.columns)}
    is_target = set(targets)
    allowed = {
        t: [
            s
            for s in labels
            if s != t
            and (s not in is_target or position[s] < position[t])
            and t not in _ancestors(s, parents)
        ]
        for t in targets
    }
    codes = {s: value_codes(frame[s]) for s in labels}
    ranked: dict[Hashable, list] = {t: [] for t in targets}  # (rank, source, by_missing, every)
    for source in labels:  # every value decides: all targets at once on a few repeats first
        screened = same_as_first(codes[source][:REPEAT_ROWS], heads, FIRST_REPEATS)
        for target in (t for t, ok in zip(targets, screened, strict=True) if ok):
            flags = absent[target].astype(np.int64)
            if (
                source in allowed[target]
                and determines(codes[source], flags)
                and witnessed(codes[source], flags)
            ):
                rank = (0, int(codes[source].max()) + 1, position[source])
                ranked[target].append((rank, source, False, True))
    for target in targets:
        earlier = [
            c
            for c in frame.columns[: position[target]]
            if c not in skip_sources.by_missing and absent[c].any()
        ]
        for column in earlier:  # missing together, or exactly where the other is present
            if np.array_equal(absent[column], absent[target]) or np.array_equal(
                absent[column], ~absent[target]
            ):
                ranked[target].append(((1, 0, position[column]), column, True, True))
        if ranked[target]:
            continue
        # some values decide (msq's scale "msq": tranquil missing; "r": either)
        sources = [(s, codes[s], False) for s in allowed[target]]
        sources += [(c, (~absent[c]).astype(np.int64), True) for c in earlier]
        for source, source_codes, by_missing in sources:
            rules = key_rules(source_codes, absent[target], int(source_codes.max()) + 1)
            covered = sum(
                int(n)
                for n, r in zip(np.bincount(source_codes), rules, strict=True)
                if r is not None
            )
            if covered:
                rank = (2, -covered, position[source])
                ranked[target].append((rank, source, by_missing, False))
    found = []
    for target in targets:
        if ranked[target]:
            _, source, by_missing, every = min(ranked[target], key=lambda c: c[0])
            found.append(presence_of(frame, source, target, by_missing, every))
    return sources_settled_first(found)


def _ancestors(column: Hashable, parents: Mapping[Hashable, set]) -> set:
    """Every column ``column`` is derived from, through chains of derivations."""
    seen: set = set()
    stack = list(parents.get(column, ()))
    while stack:
        found = stack.pop()
        if found not in seen:
            seen.add(found)
            stack.extend(parents.get(found, ()))
    return seen


def sources_settled_first(items: list[Presence]) -> list[Presence]:
    """``items`` ordered so that a column's presence is kept before it decides another's;
    where sources would decide each other in a cycle, the later target's item is left out."""
    pending, ordered = list(items), []
    while pending:
        targets = {item.target for item in pending}
        ready = [item for item in pending if item.source not in targets]
        if not ready:  # a cycle: drop the last one, the rest may then settle
            pending = pending[:-1]
            continue
        ordered += ready
        pending = [item for item in pending if item.source in targets]
    return ordered


def parse_presence(item: Mapping, columns: Any) -> tuple[Hashable, Hashable, bool]:
    """A declared presence's (source, target, by_missing), its names among ``columns``;
    raises for an item that is not valid."""
    source, target, by = item.get("source"), item.get("target"), item.get("by")
    unknown = [n for n in (source, target) if not _is_column(n, columns)]
    if unknown or by not in (None, "missing") or source == target:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r} is not valid: give {{'type': 'presence', "
            "'source': A, 'target': B}} (A's value decides whether B holds one) or add "
            "'by': 'missing' (whether A holds a value decides it), with two different column "
            f"names of train_data{f' (unknown: {unknown})' if unknown else ''}"
        )
    return source, target, by == "missing"


def declared_presence(frame: pd.DataFrame, item: Mapping) -> Presence:
    """A declared presence (``describe`` form), checked on ``frame``."""
    source, target, by = parse_presence(item, frame.columns)
    absent = frame[target].isna().to_numpy()
    codes = frame[source].notna().to_numpy().astype(np.int64) if by else value_codes(frame[source])
    every = determines(codes, absent.astype(np.int64))
    if not every and all(r is None for r in key_rules(codes, absent, int(codes.max()) + 1)):
        deciding = "whether it holds a value" if by else "its value"
        raise InvalidParameterError(
            f"metadata says {source!r} decides where {target!r} holds a value ({deciding}), but "
            f"in train_data some rows alike in that have {target!r} and others do not, and no "
            "value's rows are alike beyond chance"
        )
    return presence_of(frame, source, target, by, every)


def check_presence(items: list[Presence], derived: set) -> list[Presence]:
    """Declared presences, ordered so that a source's own presence is kept first; refused
    where a target is declared twice, is set by another dependency (``derived``), or where
    sources would decide each other in a cycle."""
    targets = [item.target for item in items]
    for item in items:
        if targets.count(item.target) > 1 or item.target in derived:
            raise InvalidParameterError(
                f"metadata's presence of {item.target!r}: a column's presence may be decided "
                "by one column only, and not for a column another dependency sets; keep one"
            )
    ordered = sources_settled_first(items)
    if len(ordered) < len(items):
        raise InvalidParameterError(
            "metadata's 'presence' dependencies form a cycle: a column cannot decide the "
            "presence of the column that decides its own"
        )
    return ordered


def _is_column(name: Any, columns: Any) -> bool:
    try:
        return name in columns
    except TypeError:  # an unhashable name
        return False


def presences_beside(dependencies: Any, frame: pd.DataFrame, kinds: Mapping, moved: set) -> list:
    """The presences of ``frame`` beside the found ``dependencies``: a target no other one sets,
    a source nothing moves after the presences are kept (a formula's column, or ``moved``: the
    offsets' columns; for a source whose values decide, also the side an order moves, while an
    order never empties nor fills a cell), and never a source derived from its own target
    (dietox's ``Time`` decides ``Feed``'s presence under ``Time <= Feed``, which raises
    ``Feed``)."""
    formulas = [*dependencies.linear, *dependencies.cuts, *dependencies.date_parts]
    busy = {c for x in formulas for c in (x.source, x.target)} | moved
    busy |= {c for s in dependencies.sums for c in (*s.parts, s.column)}
    moving = busy | {o.low if o.lowers else o.high for o in dependencies.orders}
    parents: dict = {}
    for item in dependencies.determinations:
        parents.setdefault(item.target, set()).add(item.source)
    for item in dependencies.joint:
        parents.setdefault(item.target, set()).update(item.sources)
    skip = dependencies.derived() | moved
    return find_presence(frame, kinds, skip, Skipped(moving, busy), parents)
