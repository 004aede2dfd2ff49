"""Declared dependencies (``metadata``'s items) checked on the table and kept
as :meth:`Dependencies.detect <tvae.transformer.dependencies.Dependencies.detect>` keeps found
ones, so that a fitted model's ``metadata_`` fits again."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import pandas as pd

from tvae.errors import InvalidParameterError
from tvae.transformer.date_parts import check_date_parts, declared_date_part
from tvae.transformer.declared_cuts import check_cuts, declared_cut
from tvae.transformer.dependency_search import (
    determines,
    hashable,
    ordered,
    sources_first,
    value_codes,
)
from tvae.transformer.determination import Determination, mapping_of, order_of
from tvae.transformer.joint import (
    JointDetermination,
    constant_per_group,
    joint_mapping,
    pair_codes,
)
from tvae.transformer.linear import check_lines, declared_linear
from tvae.transformer.presence import check_presence, declared_presence
from tvae.transformer.sums import check_sums, declared_sum


def declared_joint(
    frame: pd.DataFrame, sources: tuple[Hashable, Hashable], target: Hashable
) -> JointDetermination:
    """A declared determination of ``target`` by two columns, checked on ``frame``."""
    pairs = pair_codes(value_codes(frame[sources[0]]), value_codes(frame[sources[1]]))
    if not constant_per_group(pairs, value_codes(frame[target])):
        raise InvalidParameterError(
            f"metadata says {list(sources)!r} determine {target!r}, but some pair of their "
            f"values comes with several values of {target!r} in train_data"
        )
    return joint_mapping(frame, sources, target)


def parents_and_checks(
    frame: pd.DataFrame, determinations: list[Determination]
) -> tuple[list[Determination], list[Determination]]:
    """Declared determinations kept as ``detect`` keeps them, so that a fitted model's
    ``metadata_`` fits again: of a column's several determining columns, the one with the
    fewest distinct values derives it (in a chain zip -> city -> state, city), and the others
    are checks, repaired where they disagree. A check's column may not itself be derived."""
    position = {c: i for i, c in enumerate(frame.columns)}
    by_target: dict = {}
    for item in determinations:
        by_target.setdefault(item.target, []).append(item)
    parents: list[Determination] = []
    for items in by_target.values():
        ranked = sorted(
            items, key=lambda d: (frame[d.source].nunique(dropna=False), position[d.source])
        )
        parents.append(ranked[0])
    checks = [d for d in determinations if not any(d is p for p in parents)]  # as listed
    derived = {d.target for d in parents}
    for item in checks:
        if item.source in derived:
            raise InvalidParameterError(
                f"metadata gives {item.target!r} several determining columns, and one of them, "
                f"{item.source!r}, is itself determined by another column; leave "
                f"{item.source!r} -> {item.target!r} out"
            )
    return parents, checks


def split_joint(
    joint: list[JointDetermination], determinations: list[Determination]
) -> tuple[list[JointDetermination], list[JointDetermination]]:
    """Declared pairs: those whose column another determination reads or writes are checks (as
    ``detect`` lists them, so that ``metadata_`` fits again), the others derive their column,
    which then may not be derived twice nor read by another pair."""
    single = {c for d in determinations for c in (d.source, d.target)}
    derived = [j for j in joint if j.target not in single]
    targets = [j.target for j in derived]
    for item in derived:
        if targets.count(item.target) > 1 or item.target in {s for j in joint for s in j.sources}:
            raise InvalidParameterError(
                f"metadata's determination of {item.target!r} by {list(item.sources)!r}: a "
                "column two columns determine may not be determined by another pair or "
                "determine another column with a second one; keep one of them"
            )
    return derived, [j for j in joint if j.target in single]


def parse_items(frame: pd.DataFrame, items: Iterable[Mapping]) -> tuple[list, ...]:
    """The determinations, orders, pairs, sums, lines, cuts and date parts a declared list
    names, each checked on ``frame``; raises for an item that is not valid or does not hold."""
    determinations, orders, joint, sums, lines, cuts, parts = [], [], [], [], [], [], []
    presences: list = []
    readers = {"sum": (sums, declared_sum), "linear": (lines, declared_linear),
               "cut": (cuts, declared_cut), "date_part": (parts, declared_date_part),
               "presence": (presences, declared_presence)}  # fmt: skip
    for item in items:
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind in readers:
            found, read = readers[kind]
            found.append(read(frame, item))
            continue
        names = [item.get(k) for k in ("source", "target", "low", "high")] if kind else []
        if names and isinstance(names[0], (list, tuple)):  # two columns determine a third
            names = [*names[0], *names[1:]]
            if len(item["source"]) != 2 or len({*item["source"], item.get("target")}) < 3:
                names.append(item["source"])  # reported as not valid below
        missing = [
            n for n in names if n is not None and (not hashable(n) or n not in frame.columns)
        ]
        if kind not in ("determines", "order") or missing:
            raise InvalidParameterError(
                f"metadata dependency {item!r} is not valid: give {{'type': 'determines', "
                "'source': A, 'target': B}, {'type': 'order', 'low': A, 'high': B} or "
                "{'type': 'sum', 'columns': [A, B], 'column': C} or {'type': 'linear', "
                "'source': A, 'target': B, 'slope': s, 'intercept': c} or {'type': 'cut', "
                "'source': A, 'target': B} or {'type': 'date_part', 'source': A, 'target': B, "
                "'part': P} or {'type': 'presence', 'source': A, 'target': B} with column names of "
                f"train_data{f' (unknown: {missing})' if missing else ''}"
            )
        if kind == "determines" and isinstance(item["source"], (list, tuple)):
            joint.append(declared_joint(frame, tuple(item["source"]), item["target"]))
        elif kind == "determines":
            source, target = item["source"], item["target"]
            codes = value_codes(frame[source]), value_codes(frame[target])
            if not determines(*codes):
                raise InvalidParameterError(
                    f"metadata says {source!r} determines {target!r}, but some value of "
                    f"{source!r} comes with several values of {target!r} in train_data"
                )
            determinations.append(mapping_of(frame, source, target))
        else:
            if not ordered(frame[item["low"]], frame[item["high"]], overlap=False):
                raise InvalidParameterError(
                    f"metadata says {item['low']!r} <= {item['high']!r}, but train_data "
                    "has rows where it does not hold (or the columns are not comparable)"
                )
            orders.append(order_of(frame, item["low"], item["high"]))
    return determinations, orders, joint, sums, lines, cuts, parts, presences


def build_declared(cls: type, frame: pd.DataFrame, items: Iterable[Mapping]) -> Any:
    """The ``cls`` (:class:`~tvae.transformer.dependencies.Dependencies`) of the dependencies
    the user lists (``describe`` form), checked against ``frame``."""
    determinations, orders, joint, sums, linear, cuts, parts, presences = parse_items(frame, items)
    parents, checks = parents_and_checks(frame, determinations)
    by_pair = {(d.source, d.target): d for d in parents}
    order = sources_first([(d.source, d.target) for d in parents])
    joint, joint_checks = split_joint(joint, determinations)
    declared = cls(
        [by_pair[pair] for pair in order], orders, checks, joint=joint, joint_checks=joint_checks
    )
    declared.sums = check_sums(sums, declared.linked())
    summed = {c for s in declared.sums for c in (*s.parts, s.column)}
    busy = declared.linked() | summed
    declared.linear = check_lines(linear, busy)  # a declared order beside one stays
    ordered_columns = {c for o in orders for c in (o.low, o.high)}
    # a column only determinations read may be a cut's target (derived before them)
    roots = declared.roots() - summed - ordered_columns
    declared.cuts = check_cuts(cuts, declared.linked() | busy, roots)
    declared.date_parts = check_date_parts(parts, declared.derived())  # a date others read
    declared.presence = check_presence(presences, declared.derived())
    return declared


def check_members_unnamed(groups: list, declared: list) -> None:
    """A one-hot member is derived from its group's label: no "determines" may name it (an
    order may: its repairs keep the group whole)."""
    members = {m for g in groups for m in g.members}
    for item in declared:
        named = [item.get(f) for f in ("source", "target")] if isinstance(item, Mapping) else []
        named = [m for n in named for m in (n if isinstance(n, (list, tuple)) else [n])]
        clash = [n for n in named if n is not None and hashable(n) and n in members]
        if clash:
            raise InvalidParameterError(
                f"metadata dependency {dict(item)!r} names {clash[0]!r}, a column of a declared "
                "one-hot group, which the group's label derives; leave one of the two out"
            )
