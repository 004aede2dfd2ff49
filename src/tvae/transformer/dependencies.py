"""Exact dependencies between columns, found in the real rows and kept in every sampled row.

Two kinds, detected in ``fit`` when they hold in *every* real row:

* **determines**: column A determines column B (education -> education-num, zip -> city,
  code -> label): each value of A comes with one value of B. Sampled rows get B from A through
  the real mapping, so the pair never disagrees.
* **order**: ``low <= high`` in every real row where both are present (start <= end,
  min <= max). Sampled rows that break it get ``high`` raised to ``low`` (or ``low`` lowered
  to ``high``, where only that keeps each column within its real range). Two equal columns
  hold both orders, which keep them equal.

Others are found beside them, each in its own module: **one_hot** groups (by the transformer,
:mod:`tvae.transformer.one_hot`; each member derived from the group's label), pairs that
determine a column (``joint``), offsets, sums, lines, cuts, **presence** (a column that
decides where another holds a value: :mod:`tvae.transformer.presence`), and relations that
hold nearly, not in every row (:mod:`tvae.transformer.near`: curves, matches, rates).

A column B can be determined by several columns; only one, its *parent*, derives it. Parents
form a forest by a strict order on columns (more distinct values first; for equal counts a
categorical column before a numerical one, then table order), so a chain zip -> city -> state
derives state from city and city from zip, which keeps zip -> state too.

A determination needs evidence: the source must repeat (at most ``1 / MIN_ROWS_PER_VALUE`` of
the rows distinct, at most ``MAX_SOURCE_VALUES`` values), else a column of nearly unique values
would "determine" everything; and the target must vary among the source's frequent values, else
a nearly constant target is "determined" by any column. Constant columns are left out, and so
are orders that the columns' values alone make near certain (paired at random, fewer than 1 %
of rows would break them: disjoint ranges, an indicator below a count): clipping and the
learned marginals keep those already. An order also needs 20 rows with both columns present,
and a ``low`` whose largest value does not pass ``high``'s, so that raising ``high`` to ``low``
never moves it out of its real range, or else a ``high`` whose smallest value does not pass
below ``low``'s, so that lowering ``low`` to ``high`` never does.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tvae.transformer.curves import Curve
from tvae.transformer.cuts import Cut, beside_orders, find_cuts, implies, keep_cuts
from tvae.transformer.date_moves import keep_date_parts
from tvae.transformer.date_parts import DatePart, find_date_parts
from tvae.transformer.declared_dependencies import build_declared
from tvae.transformer.dependency_search import (
    FIRST_REPEATS,
    MAX_SOURCE_VALUES,
    MIN_ROWS,
    MIN_ROWS_PER_VALUE,
    PROBE_ROWS,
    REPEAT_ROWS,
    SOURCE_KINDS,
    determines,
    find_orders,
    pick_parents,
    rank_columns,
    same_as_first,
    value_codes,
    witnessed,
)
from tvae.transformer.dependency_state import dependency_lists, state_of_dependencies
from tvae.transformer.determination import (
    Determination,
    Order,
    mapping_of,
    order_of,
)
from tvae.transformer.joint import JointDetermination, find_joint, joint_mapping, pick_joint
from tvae.transformer.linear import Linear, keep_linear
from tvae.transformer.linear_search import find_linear
from tvae.transformer.matches import Match
from tvae.transformer.offsets import Offset
from tvae.transformer.one_hot import OneHotGroup, expand_labels
from tvae.transformer.order_repairs import keep_orders
from tvae.transformer.pair_repairs import derive_joint, pair_limits, parents_follow, repair_checks
from tvae.transformer.presence import Presence, presences_beside
from tvae.transformer.presence_repairs import keep_presence
from tvae.transformer.rates import Rate
from tvae.transformer.repairs import derive, into_sets, onto_keys
from tvae.transformer.row_conditions import repair_by_rows
from tvae.transformer.sum_repairs import keep_sums, total_limits
from tvae.transformer.sums import Sum, find_sums, implied_by

ORDER_KINDS = ("numerical", "datetime")


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
    # labels two columns determine together (tvae.transformer.joint), derived after the others
    joint: list[JointDetermination] = field(default_factory=list)
    # columns another dependency derives or repairs that two columns also determine: kept by
    # moving the pair (its columns that no other dependency derives or repairs)
    joint_checks: list[JointDetermination] = field(default_factory=list)
    # columns modelled as another plus a learned difference (tvae.transformer.offsets), kept
    # by the transformer's decoding, not by repairs
    offsets: list[Offset] = field(default_factory=list)
    # columns that are the exact sum of others (tvae.transformer.sums): set from their parts
    sums: list[Sum] = field(default_factory=list)
    # numbers linear in another number or its log (tvae.transformer.linear): set from it
    linear: list[Linear] = field(default_factory=list)
    # columns a number's ranges give (tvae.transformer.cuts): set from it, last
    cuts: list[Cut] = field(default_factory=list)
    # calendar parts of a date (tvae.transformer.date_parts): set from it
    date_parts: list[DatePart] = field(default_factory=list)
    # columns whose missing cells another column decides (tvae.transformer.presence)
    presence: list[Presence] = field(default_factory=list)
    # relations that hold nearly (tvae.transformer.near): numbers others nearly give, numbers
    # equal in many rows, shares of two counts; kept by decoding, after the repairs
    curves: list[Curve] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    rates: list[Rate] = field(default_factory=list)

    # ------------------------------------------------------------------ finding them
    @classmethod
    def detect(cls, frame: pd.DataFrame, kinds: Mapping[Hashable, str]) -> Dependencies:
        """Every determination and order that holds in all rows of ``frame``."""
        if len(frame) < MIN_ROWS:
            return cls()
        parts = find_date_parts(frame, kinds)  # their columns come from their dates alone
        kinds = {**kinds, **{p.target: "id" for p in parts}}
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
        heads = np.stack([codes[c][:REPEAT_ROWS] for c in varied]) if varied else None
        found: list[tuple[Hashable, Hashable]] = []
        for source in sources:
            below = [i for i, t in enumerate(varied) if t != source and rank[source] > rank[t]]
            if not below:
                continue
            # all targets at once on a few repeated rows first (600 columns: 180,000 pairs)
            screened = same_as_first(codes[source][:REPEAT_ROWS], heads[below], FIRST_REPEATS)
            for target in (varied[i] for i, ok in zip(below, screened, strict=True) if ok):
                if (
                    determines(codes[source][probe], codes[target][probe])
                    and determines(codes[source], codes[target])
                    and witnessed(codes[source], codes[target])
                ):
                    found.append((source, target))
        parents = pick_parents(found, rank)
        determinations = [mapping_of(frame, s, t) for s, t in parents]
        derived = {t for _, t in parents}
        checks = [
            mapping_of(frame, s, t) for s, t in found if (s, t) not in parents and s not in derived
        ]  # a derived source is repaired through its own parent: not checked here
        linked = {d.source for d in determinations} | {d.target for d in determinations}
        candidates = [c for c in varied if kinds.get(c) in ORDER_KINDS]
        # an order never edits a column that a determination reads or writes: one of its two
        # columns must be free, and its repairs move that one (Crime's density <= pctmin,
        # pctmin a county-level number that determines the region, broke in 0.8 % of rows)
        free = lambda a, b: a not in linked or b not in linked  # noqa: E731
        orders = [order_of(frame, a, b) for a, b in find_orders(frame, candidates, free)]
        orders = [o for o in orders if not (o.lowers and o.low in linked)]  # it would move high
        read = {d.source for d in determinations + checks} | {d.target for d in checks}
        targets = [c for c in varied if kinds.get(c) in SOURCE_KINDS]  # labels and numbers
        found_joint = find_joint(codes, sources, targets, len(frame))
        joint, repaired = pick_joint(found_joint, linked | read, derived)
        found = cls(
            determinations, orders, checks,
            joint=[joint_mapping(frame, pair, target) for pair, target in joint],
            joint_checks=[joint_mapping(frame, pair, target) for pair, target in repaired],
        )  # fmt: skip
        # a sum among columns another dependency reads or writes is left to it: a pair that
        # determines the third of small counts keeps it already (DoctorAUS: medecine +
        # prescrib -> nonpresc), and there deriving the total instead lost 0.03 of pair trends
        found.add_sums(find_sums(frame, kinds, skip=found.linked()))
        summed = {c for s in found.sums for c in (*s.parts, s.column)}
        found.add_linear(find_linear(frame, kinds, skip=found.linked() | summed))
        # a column that only determines others may be cut from a number (motor's strata, by
        # the time, gives v): derived from the number before they are derived from it
        roots = found.roots() - summed - {c for o in found.orders for c in (o.low, o.high)}
        found.add_cuts(find_cuts(frame, kinds, skip=found.linked() | summed, targets_too=roots))
        found.date_parts = parts
        return found

    def add_sums(self, sums: list[Sum]) -> None:
        """Keep ``sums`` (found in the same rows), less the orders they make hold by
        themselves (a part below its total); a sum left with an order between its total and
        one of its own parts is left out (the two repairs would chase each other)."""
        self.orders = [o for o in self.orders if not implied_by(o.low, o.high, sums)]
        inside = {(o.low, o.high) for o in self.orders} | {(o.high, o.low) for o in self.orders}
        self.sums = [s for s in sums if not any((p, s.column) in inside for p in s.parts)]

    def add_linear(self, lines: list[Linear]) -> None:
        """Keep ``lines``, less the orders between a line's two columns (the line keeps them)."""
        pairs = {frozenset((item.source, item.target)) for item in lines}
        self.orders = [o for o in self.orders if frozenset((o.low, o.high)) not in pairs]
        self.linear = lines

    def add_cuts(self, cuts: list[Cut]) -> None:
        """Keep ``cuts`` beside the orders (:func:`~tvae.transformer.cuts.beside_orders`),
        less the orders they imply."""
        heads = {d.source for d in self.determinations}
        self.cuts = beside_orders(cuts, self.orders, heads)
        self.orders = [o for o in self.orders if not any(implies(c, o) for c in self.cuts)]

    def add_presence(self, frame: pd.DataFrame, kinds: Mapping, moved: set) -> None:
        """The presences of ``frame`` (:func:`~tvae.transformer.presence.presences_beside`)."""
        if len(frame) >= MIN_ROWS:
            self.presence = presences_beside(self, frame, kinds, moved)

    @classmethod
    def declared(cls, frame: pd.DataFrame, items: Iterable[Mapping]) -> Dependencies:
        """The dependencies the user lists (``describe`` form), checked against ``frame``."""
        return build_declared(cls, frame, items)

    def roots(self) -> set:
        """The columns that determinations read and nothing else reads or writes."""
        items = [*self.checks, *self.linear, *self.cuts, *self.date_parts]
        busy = {c for d in items for c in (d.source, d.target)}
        busy |= {d.target for d in self.determinations}
        busy |= {c for j in [*self.joint, *self.joint_checks] for c in (*j.sources, j.target)}
        return {d.source for d in self.determinations} - busy

    def linked(self) -> set:
        """The columns a determination, a check or a pair derives, reads or moves."""
        items = [*self.determinations, *self.checks, *self.linear, *self.cuts, *self.date_parts]
        found = {c for d in items for c in (d.source, d.target)}
        return found | {
            c for j in [*self.joint, *self.joint_checks] for c in (*j.sources, j.target)
        }

    def derived(self) -> set:
        """The columns a dependency sets after the draw (drawn, then overwritten)."""
        items = [*self.determinations, *self.joint, *self.sums, *self.linear, *self.cuts]
        return {d.target for d in [*items, *self.date_parts]} | {c.column for c in self.curves}

    def held(self, fixed: Iterable[Hashable] = ()) -> set:
        """The columns an order's repair does not move (it moves the other side): a number a
        pair check has placed (census's age), a derived column, which deriving it again would
        move back (plantTraits' leafy, which ros + semiros give, under lign <= leafy: 11 % of
        rows broke the order), a determination's source (Crime's pctmin, see :meth:`detect`),
        a total or a line's target, set from its parts or source (midwest's adults lowered
        to the total population, not the total raised and then set back). With ``fixed``
        (asked columns): those, and the ones other repairs would move back: a pair's sources
        (Schooling's exp76 asked, which ed76 + age76 give: ed66 <= ed76 broke), a total's
        parts (midwest's poptotal: percblack <= popblack broke in 47 % of rows), a line's
        source (uis's Y = log(TIME))."""
        fixed = set(fixed)
        found = fixed | {c for j in self.joint_checks for c in j.sources}
        found |= {d.target for d in self.determinations} | {j.target for j in self.joint}
        found |= {d.source for d in self.determinations} | {s.column for s in self.sums}
        found |= {c for j in self.joint if j.target in fixed for c in j.sources}
        found |= {c for s in self.sums if s.column in fixed for c in s.parts}
        found |= {line.source for line in self.linear if line.target in fixed}
        return found | {line.target for line in self.linear}

    def describe(self) -> list[dict]:
        items = [*self.groups, *self.determinations, *self.checks, *self.joint]
        items += [*self.joint_checks, *self.orders, *self.offsets, *self.sums, *self.linear]
        items += [*self.cuts, *self.date_parts, *self.presence, *self.curves, *self.matches]
        return [item.describe() for item in [*items, *self.rates]]

    # ------------------------------------------------------------------ keeping them
    def apply(
        self,
        frame: pd.DataFrame,
        fixed: Iterable[Hashable] = (),
        allowed: Mapping | None = None,
        fixed_rows: Mapping | None = None,
    ) -> pd.DataFrame:
        """Make every dependency hold in ``frame`` (in place; also returned).

        Targets are derived from their parents, sources first, then labels from their pairs.
        Orders raise ``high`` to ``low`` where broken, or lower ``low`` when ``high`` is in
        ``fixed`` (a conditioned column) or a pair check's column; a pair's label follows a
        number an order moved. ``allowed`` maps a column to the values a condition leaves it
        (a set, or one per row): a repair moves it only among them. ``fixed_rows`` maps a
        column to the rows it is fixed in (a frame of conditions with empty cells).
        """
        fixed = set(fixed)
        if fixed_rows:
            return repair_by_rows(frame, fixed, fixed_rows, allowed, self.apply)
        expand_labels(frame, self.groups)  # the one-hot members (decoded rows only)
        keep_date_parts(frame, self.date_parts, fixed, allowed)  # first: others read them
        into_sets(frame, allowed)  # a number drawn within a set's range: onto the set
        onto_keys(frame, self.determinations, fixed, allowed)  # or onto a real one in its range
        heads = {d.source for d in self.determinations}
        keep_cuts(frame, [c for c in self.cuts if c.target in heads], fixed)  # they derive
        for _ in range(1 + len(self.checks)):  # each repair pass can only settle more sources
            for item in self.determinations:
                derive(frame, item, fixed)
            self._settle_joint(frame, fixed, allowed)
            if not repair_checks(frame, self.checks, fixed, allowed):
                break
        else:
            for item in self.determinations:
                derive(frame, item, fixed)
            self._settle_joint(frame, fixed, allowed)
        if self._keep_presence(frame, fixed, allowed):
            for item in self.determinations:  # a source moved, or a target's values copied
                derive(frame, item, fixed)
            self._settle_joint(frame, fixed, allowed)
        paired = self.held(fixed)
        self._keep_formulas(frame, fixed, paired, allowed)
        for _ in range(1 + len(self.joint) + len(self.joint_checks) + len(self.sums)):
            if not keep_orders(frame, self.orders, self.groups, fixed, paired, allowed):
                break
            # a number an order moved: its pairs are kept again, and the orders they move;
            # a part an order moved: its total follows, a source its line's target
            self._settle_joint(frame, fixed, allowed)
            keep_date_parts(frame, self.date_parts, fixed, allowed)  # an order moved a date
            self._keep_formulas(frame, fixed, paired, allowed)
        # an order moved a source against an asked column (it lowers low when high is asked)
        self._keep_presence(frame, fixed, allowed)
        return frame

    def _keep_presence(self, frame: pd.DataFrame, fixed: set, allowed: Mapping | None) -> bool:
        """:func:`keep_presence`, a source set by another dependency held; whether it moved
        anything (nothing to do on a table without presences)."""
        if not self.presence:
            return False
        return keep_presence(frame, self.presence, fixed, fixed | self.derived(), allowed)

    def _keep_formulas(
        self, frame: pd.DataFrame, fixed: set, paired: set, allowed: Mapping | None
    ) -> None:
        """Columns computed from others, set from them: totals (within what the orders leave
        them beside the ``paired`` columns, which the orders do not move), lines, cuts (date
        parts come first, in :meth:`apply`: nothing but an order moves a date)."""
        keep_sums(frame, self.sums, fixed, total_limits(frame, self.orders, self.sums, paired))
        keep_linear(frame, self.linear, fixed, allowed)
        keep_cuts(frame, self.cuts, fixed)

    def _settle_joint(self, frame: pd.DataFrame, fixed: set, allowed: Mapping | None) -> None:
        """:meth:`_keep_joint`, then the targets of any source it moved derived again: a pair
        moved onto a real one can move a determination's source (Schooling's daded, in the
        pair daded + momed -> famed, moved to 9.94 with nodaded left at "no": 0.8 % of rows
        broke daded -> nodaded)."""
        if self._keep_joint(frame, fixed, allowed):
            for item in self.determinations:
                derive(frame, item, fixed)

    def _keep_joint(self, frame: pd.DataFrame, fixed: set, allowed: Mapping | None) -> bool:
        """Columns two columns determine. The labels only a pair determines are derived first
        (their pairs moved onto real ones), then those other dependencies also read or write:
        one that a determination derives stays and its pair moves (the pair's columns that no
        other dependency reads or writes); any other (a source, which the checks' repairs then
        follow) is set from its pair; a pair no real row holds is no evidence, and stays. Last,
        the labels follow any pair the checks moved. A pair moves within what conditions and
        orders leave it (:func:`pair_limits`)."""
        pairs = [*self.joint, *self.joint_checks]
        allowed, fixed = pair_limits(frame, pairs, self.orders, allowed or {}, fixed)
        held = {c for d in self.determinations + self.checks for c in (d.source, d.target)}
        derived = {d.target for d in self.determinations} | {j.target for j in self.joint}
        held |= derived
        # a determination's source that nothing else writes may move if nothing else fits
        loose = {d.source for d in self.determinations} - derived - fixed
        loose -= {c for d in self.checks for c in (d.source, d.target)}
        read = {c for j in (*self.joint, *self.joint_checks) for c in j.sources}
        before = [frame[c].copy() for c in read]
        for item in self.joint:  # a pair no real row holds moves to a real one first
            derive_joint(frame, item, fixed, allowed=allowed)
        for item in self.joint_checks:
            moves_pair = item.target in derived or item.target in fixed
            extra = held if moves_pair else set()
            derive_joint(frame, item, fixed | extra, False, loose, allowed)
        moved = parents_follow(frame, self, fixed, allowed)  # where no pair move fitted
        for item in self.joint:  # labels follow what the checks moved (census: a newborn's age)
            derive_joint(frame, item, fixed, move_unseen=False, allowed=allowed)
        return moved or any(not frame[b.name].equals(b) for b in before)

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
        return state_of_dependencies(self)

    @classmethod
    def from_state(cls, state: dict | None) -> Dependencies:
        return cls(**dependency_lists(state)) if state else cls()
