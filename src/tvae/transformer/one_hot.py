"""One-hot groups: indicator columns of which exactly one (or at most one) is 1 in every row.

Tables often carry a categorical variable as indicator columns (``pandas.get_dummies``; covtype's
40 ``Soil_Type`` columns, exactly one of which is 1 in every row). Modelled one by one, each
indicator is drawn on its own and the sampled rows break the rule: on covtype only 49.7 % of
them had exactly one soil type (docs/fidelity.md). A group that holds in every real row is
modelled instead as one categorical column, its *label*, whose value names the indicator that
is 1; decoding sets that indicator to 1 and the group's others to 0, so the rule holds in every
sampled row and each indicator keeps its real rate through the label's calibrated rates. A
condition on an indicator is asked of the label (:mod:`tvae.conditional.dependent`), as for
any column another one determines.

Dummy coding with a reference level (``pandas.get_dummies(drop_first=True)``, the RAND health
experiment's ``hlthg``/``hlthf``/``hlthp`` beside an omitted "excellent") leaves groups where *at
most* one indicator is 1 and rows of the reference level have none: such a group is kept with
``allow_none``, its label then has one more value, "none of them". Since two rare indicators
can miss each other by chance, an indicator joins such a group only where independence would
have put it together with the group in at least :data:`MIN_EXPECTED_TOGETHER` rows.

Below ``MIN_ROWS`` rows (grouped counts: COUNT's lbwgrp, six rows of ``race1``..``race3``) a
group of exactly one is still kept where independent indicators with the members' rates would
show exactly one in every row with a chance below :data:`MAX_CHANCE`; an ``allow_none`` group
needs more rows than that to be told from chance.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.dependency_search import (
    MAX_SOURCE_VALUES,
    MIN_ROWS,
    MIN_ROWS_PER_VALUE,
    PROBE_ROWS,
    SOURCE_KINDS,
    find_orders,
    value_codes,
)

MIN_MEMBERS = 3  # two complementary indicators are a "determines" pair, found already
MIN_EXPECTED_TOGETHER = 10.0  # chance of never meeting, under independence: below 5e-5
MAX_CHANCE = 0.01  # below MIN_ROWS rows, an exact group is kept when chance would give it less
NONE_LABEL = "(none)"  # the label of a row with none of an allow_none group's members at 1
INDICATOR_KINDS = ("numerical", "boolean", "categorical")  # 0/1 labels count too


@dataclass(frozen=True)
class OneHotGroup:
    """``members`` (indicator columns, table order), modelled as the categorical ``label``."""

    label: str  # the model's column for the group; no column of the table has this name
    members: tuple
    dtypes: tuple  # each member's numpy dtype name, restored on decoding
    allow_none: bool = False  # at most one member is 1: rows may have none

    def describe(self) -> dict:
        item = {"type": "one_hot", "columns": list(self.members)}
        return {**item, "allow_none": True} if self.allow_none else item

    @property
    def names(self) -> list[str]:
        """Each member's name as text: the label's value for the rows where it is 1."""
        return [str(m) for m in self.members]

    @property
    def none_label(self) -> str:
        """The label of rows with no member at 1 (allow_none): unlike any member's name."""
        label = NONE_LABEL
        while label in self.names:
            label += "'"
        return label

    @property
    def values(self) -> list[str]:
        """Every value the label takes."""
        return [*self.names, self.none_label] if self.allow_none else self.names

    def labels(self, frame: pd.DataFrame) -> pd.Series:
        """The label of each row of ``frame``: the name of its member that is 1 (or none)."""
        values = frame[list(self.members)].to_numpy(dtype=np.int8)  # 0/1: small even when long
        names = np.asarray(self.names, dtype=object)[values.argmax(axis=1)]
        if self.allow_none:
            names[values.max(axis=1) == 0] = self.none_label
        return pd.Series(names, index=frame.index, dtype=object)

    def on_off(self, member: Hashable) -> tuple:
        """``member``'s 1 and 0 in its own dtype (True/False, 1/0 or 1.0/0.0)."""
        return _on_off(self.dtypes[self.members.index(member)])

    def member_values(self, member: Hashable) -> tuple[list, list]:
        """The label's values (keys) and ``member``'s value under each: 1 for its own, else 0."""
        on, off = self.on_off(member)
        return self.values, [on if name == str(member) else off for name in self.values]

    def expand(self, labels: pd.Series) -> pd.DataFrame:
        """The members' columns for ``labels`` (a label no member has gives all 0)."""
        text = labels.astype(str).to_numpy()
        return pd.DataFrame(
            {
                member: pd.Series(text == name, index=labels.index).astype(dtype)
                for member, name, dtype in zip(self.members, self.names, self.dtypes, strict=True)
            },
            index=labels.index,
        )

    def get_state(self) -> dict:
        return {
            "label": self.label,
            "members": [encode_value(m) for m in self.members],
            "dtypes": list(self.dtypes),
            "allow_none": self.allow_none,
        }

    @classmethod
    def from_state(cls, state: Mapping) -> OneHotGroup:
        members = tuple(decode_value(m) for m in state["members"])
        return cls(
            state["label"], members, tuple(state["dtypes"]), bool(state.get("allow_none", False))
        )


def _on_off(dtype: str) -> tuple:
    if dtype == "bool":
        return True, False
    if np.dtype(dtype).kind == "f":
        return 1.0, 0.0
    return 1, 0


def _indicator(series: pd.Series, kind: str | None) -> np.ndarray | None:
    """``series`` as 0/1 int8 when it is an indicator (numbers or booleans of a plain numpy
    dtype, only 0 and 1, both present, no missing cell), else None."""
    if kind not in INDICATOR_KINDS or not isinstance(series.dtype, np.dtype):
        return None
    if series.dtype.kind not in "biuf" or series.isna().any():
        return None
    values = series.to_numpy()
    ones = values == 1
    if not ones.any() or ones.all() or not (ones | (values == 0)).all():
        return None
    return ones.astype(np.int8)


def _greedy_groups(columns: Sequence, indicators: Mapping, rows: slice) -> list[list]:
    """Groups whose row sums are 1 on ``rows``: each starts at the first free indicator and takes
    the later ones (table order) that keep every row's sum at most 1."""
    groups, used = [], set()
    for i, first in enumerate(columns):
        if first in used:
            continue
        total = indicators[first][rows].astype(np.int16)
        members = [first]
        for other in columns[i + 1 :]:
            if other in used:
                continue
            after = total + indicators[other][rows]
            if after.max() <= 1:
                total, members = after, [*members, other]
                if total.min() == 1:
                    break
        if total.min() == 1 and len(members) >= MIN_MEMBERS:
            groups.append(members)
            used.update(members)
    return groups


def _exclusive_groups(columns: Sequence, indicators: Mapping, rows: slice) -> list[list]:
    """Groups of at least two indicators never 1 together on ``rows``, each grown in table order
    from the first free indicator by those that chance would have put together with it at least
    :data:`MIN_EXPECTED_TOGETHER` times; a group that is 1 in every row is left to the
    "determines" search (two complementary indicators)."""
    probe = np.stack([indicators[c][rows] for c in columns]).astype(np.float32)  # (K, N)
    together = probe @ probe.T  # (K, K) rows where both are 1
    rates = probe.mean(axis=1)
    n_rows = probe.shape[1]
    groups, used = [], set()
    for i in range(len(columns)):
        if i in used:
            continue
        members, rate = [i], rates[i]
        for j in range(i + 1, len(columns)):
            exclusive = not together[j, members].any()
            if j not in used and exclusive and n_rows * rates[j] * rate >= MIN_EXPECTED_TOGETHER:
                members, rate = [*members, j], rate + rates[j]
        if len(members) >= 2 and rate < 1:
            groups.append([columns[k] for k in members])
            used.update(members)
    return groups


def find_groups(frame: pd.DataFrame, kinds: Mapping[Hashable, str]) -> list[OneHotGroup]:
    """Every one-hot group that holds in all rows: exactly one of at least ``MIN_MEMBERS``
    indicators, then, among the other indicators, at most one (``allow_none``)."""
    indicators = {c: _indicator(frame[c], kinds.get(c)) for c in frame.columns}
    columns = [c for c in frame.columns if indicators[c] is not None]
    probe = slice(0, PROBE_ROWS)
    found = []
    for members in _greedy_groups(columns, indicators, probe):
        total = np.sum([indicators[m] for m in members], axis=0)
        if (total == 1).all() and (len(frame) >= MIN_ROWS or _beyond_chance(indicators, members)):
            found.append(_group(frame, members))
    if len(frame) < MIN_ROWS:
        return [g for g in found if not _derived_elsewhere(frame, kinds, g, found)]
    used = {m for g in found for m in g.members}
    free = [c for c in columns if c not in used]
    for members in _exclusive_groups(free, indicators, probe) if len(free) >= 2 else []:
        total = np.sum([indicators[m] for m in members], axis=0)
        if total.max() <= 1 and total.min() == 0:
            found.append(_group(frame, members, allow_none=True))
    return [g for g in found if not _derived_elsewhere(frame, kinds, g, found)]


def _beyond_chance(indicators: Mapping, members: Sequence) -> bool:
    """Whether independent indicators with the members' rates would hold exactly one 1 in every
    row with a chance below :data:`MAX_CHANCE`."""
    rates = np.array([indicators[m].mean() for m in members])
    off = np.prod(1 - rates)
    one_each = float(np.sum(rates * off / (1 - rates)))  # rates are in (0, 1): both seen
    return one_each ** len(indicators[members[0]]) < MAX_CHANCE


def _derived_elsewhere(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], group: OneHotGroup, groups: list
) -> bool:
    """Whether a column outside ``groups`` determines a member of ``group`` (a table that holds
    a categorical column beside its own dummies; ``age`` beside ``minor``). The group then stays
    plain indicators, which the "determines" search derives from that column, so they always
    agree with it. (A column that determines the label determines every member.)"""
    grouped = {m for g in groups for m in g.members}
    members = frame[list(group.members)].to_numpy(dtype=np.int8).T  # (M, N) 0/1
    most = min(MAX_SOURCE_VALUES, len(frame) / MIN_ROWS_PER_VALUE)
    for name in frame.columns:
        if name in grouped or kinds.get(name) not in SOURCE_KINDS:
            continue
        source = value_codes(frame[name])
        if (
            1 < source.max() + 1 <= most
            and _determines_a_member(source[:PROBE_ROWS], members[:, :PROBE_ROWS])
            and _determines_a_member(source, members)
        ):
            return True
    return False


def _determines_a_member(source: np.ndarray, members: np.ndarray) -> bool:
    """Whether each value of ``source`` (codes, (N,)) comes with one value of some member
    (rows of ``members``, (M, N) 0/1), seen on repeated values as :func:`witnessed` asks."""
    sizes = np.bincount(source)
    ones = np.stack([np.bincount(source, weights=row, minlength=len(sizes)) for row in members])
    determined = ((ones == 0) | (ones == sizes)).all(axis=1)  # (M,)
    frequent = sizes >= MIN_ROWS_PER_VALUE
    both_seen = (ones[:, frequent] > 0).any(axis=1) & (ones[:, frequent] == 0).any(axis=1)
    return bool((determined & both_seen).any())


def declared_group(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], item: Mapping
) -> OneHotGroup:
    """The group ``{"type": "one_hot", "columns": [...]}`` names (with ``"allow_none": true``:
    at most one is 1), checked against ``frame``."""
    members, allow_none = item.get("columns"), item.get("allow_none", False)
    if not isinstance(members, (list, tuple)) or len(members) < 2 or not _is_flag(allow_none):
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r} is not valid: a one-hot group gives "
            "{'type': 'one_hot', 'columns': [A, B, ...]} with at least two column names, and "
            "optionally 'allow_none': true (rows may have none of them at 1)"
        )
    unknown = [m for m in members if m not in frame.columns]
    if unknown or len(set(members)) != len(members):
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: its columns must be distinct columns of "
            f"train_data (unknown: {unknown})"
        )
    indicators = [_indicator(frame[m], kinds.get(m)) for m in members]
    wrong = [m for m, v in zip(members, indicators, strict=True) if v is None]
    if wrong:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: {wrong[0]!r} is not an indicator (numbers or "
            "booleans, 0 and 1 only, no missing cell)"
        )
    total = np.sum(indicators, axis=0)
    if allow_none and total.max() > 1:
        raise InvalidParameterError(
            f"metadata says at most one of {list(members)} is 1 in every row, but train_data "
            "has rows where several are"
        )
    if not allow_none and not (total == 1).all():
        raise InvalidParameterError(
            f"metadata says exactly one of {list(members)} is 1 in every row, but train_data "
            'has rows where none or several are (add "allow_none": true if none may be)'
        )
    return _group(frame, list(members), bool(allow_none))


def _is_flag(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def _group(frame: pd.DataFrame, members: list, allow_none: bool = False) -> OneHotGroup:
    label = f"one_hot({members[0]}..{members[-1]})"
    while label in frame.columns:
        label += "'"
    dtypes = tuple(frame[m].dtype.name for m in members)
    return OneHotGroup(label, tuple(members), dtypes, allow_none)


def expand_labels(frame: pd.DataFrame, groups: Sequence[OneHotGroup]) -> None:
    """Replace, in place, each group's label column in ``frame`` (where it has one) by the
    members it names."""
    for group in groups:
        if group.label in frame.columns:
            members = group.expand(frame.pop(group.label))
            for member in group.members:
                frame[member] = members[member]


def collapse(frame: pd.DataFrame, groups: Sequence[OneHotGroup]) -> pd.DataFrame:
    """``frame`` with each group's members replaced by its label, at the first member's place."""
    if not groups:
        return frame
    first = {g.members[0]: g for g in groups}
    members = {m for g in groups for m in g.members}
    columns = {}
    for name in frame.columns:
        if name in first:
            columns[first[name].label] = first[name].labels(frame)
        elif name not in members:
            columns[name] = frame[name]
    return pd.DataFrame(columns, index=frame.index)


def member_orders(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], groups: Sequence[OneHotGroup]
) -> list[tuple]:
    """Orders ``(low, high)`` of ``frame`` (the table, members included) with a member on either
    side and a number outside its group on the other (covtype: Soil_Type12 <= Wilderness_Area1,
    that soil lies in that area only), found as the other orders are
    (:meth:`tvae.transformer.dependencies.Dependencies.detect`)."""
    if not groups:  # every fit calls this: no screen of the other columns' pairs for nothing
        return []
    group_of = {m: g.label for g in groups for m in g.members}
    candidates = [
        c for c in frame.columns
        if c in group_of or (kinds.get(c) == "numerical" and frame[c].nunique() > 1)
    ]  # fmt: skip

    def across_a_group(a: Hashable, b: Hashable) -> bool:
        return (a in group_of or b in group_of) and group_of.get(a, a) != group_of.get(b, b)

    return find_orders(frame, candidates, across_a_group)


def _group_of(groups: Sequence[OneHotGroup], column: Hashable) -> OneHotGroup | None:
    return next((g for g in groups if column in g.members), None)


def held(groups: Sequence[OneHotGroup], member: Hashable, fixed: set, raising: bool) -> bool:
    """Whether an order's repair must leave ``member`` (a column, a member of one of
    ``groups`` or not) as it is: it is in ``fixed`` (conditioned), or raising it to 1 would
    clear a conditioned member of its group, or lowering it to 0 would leave no unconditioned
    member to take the group's 1 (a group that allows none needs no heir)."""
    group = _group_of(groups, member)
    if member in fixed:
        return True
    if group is None or (group.allow_none and not raising):
        return False
    others = [m in fixed for m in group.members if m != member]
    return any(others) if raising else all(others)


def assign_member(
    frame: pd.DataFrame, groups: Sequence[OneHotGroup], member: Hashable, rows: np.ndarray,
    values, fixed,
) -> None:  # fmt: skip
    """Set ``member`` to ``values`` on ``rows``; a member of one of ``groups`` to 1 where at
    least 1, else 0, in its dtype, its group kept whole: where it became 1 the others become 0;
    where it became 0 the first member not in ``fixed`` becomes 1 (unless the group allows
    none)."""
    group = _group_of(groups, member)
    if group is None:
        frame.loc[rows, member] = values
        return
    on, off = group.on_off(member)
    frame.loc[rows, member] = np.where(np.asarray(values, dtype=np.float64) >= 1, on, off)
    became_on = rows & (frame[member] == on).to_numpy(dtype=bool)
    became_off = rows & ~became_on
    heirs = [] if group.allow_none else [m for m in group.members if m != member and m not in fixed]
    heir = next(iter(heirs), None)
    for other in group.members:
        if other != member:
            other_on, other_off = group.on_off(other)
            frame.loc[became_on, other] = other_off
            if other == heir:
                frame.loc[became_off, other] = other_on
