"""Relations that hold nearly, not exactly: curves, matches and rates, found and kept together.

Each lives in its own module (:mod:`tvae.transformer.curves`: a number a surface of one or two
others gives, plus a small residual; :mod:`tvae.transformer.matches`: two numbers equal in many
rows; :mod:`tvae.transformer.rates`: a share of two counts in nearly every row). They are kept
by decoding after the exact dependencies' repairs, in that order: a curve's sources are final
by then, and a rate reads the counts a match may have set. None sets a column an exact
dependency, an order or an offset touches (``busy``), nor one an earlier kind reads or sets:
those are final when it is kept. A rate may set a column that only pair checks read, in the
rows where they still hold (:func:`checked_only`, :func:`keeps_checks`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from tvae.transformer.curves import declared_curves, find_curves, is_curve
from tvae.transformer.matches import declared_matches, find_matches, is_match
from tvae.transformer.numerical import to_float
from tvae.transformer.rates import declared_rates, find_rates, is_rate


def is_near(item: object) -> bool:
    """Whether a metadata dependency item declares a curve, a match or a rate."""
    return is_curve(item) or is_match(item) or is_rate(item)


def busy_columns(dependencies: Any, moved: set) -> set:
    """The columns an exact dependency reads or writes, an order compares or an offset
    (``moved``) pairs: no near relation names them (a rate may be a column only pair checks
    read, see :func:`checked_only`)."""
    busy = dependencies.linked() | set(moved)
    busy |= {c for o in dependencies.orders for c in (o.low, o.high)}
    return busy | {c for s in dependencies.sums for c in (*s.parts, s.column)}


def checked_only(dependencies: Any, moved: set) -> set:
    """The columns pair checks read and nothing else touches: a rate set on one keeps the
    checks where the pair it makes is one the real rows map to the row's label, or no real
    row holds (:func:`keeps_checks`). Intrusion's ``same_srv_rate`` (``service`` and it give
    ``is_guest_login``) is ``srv_count / count`` in 99.9 % of the real rows."""
    checks = dependencies.joint_checks
    others = busy_columns(replace(dependencies, joint_checks=[]), moved)
    return {c for j in checks for c in j.sources} - others - {j.target for j in checks}


def keeps_checks(
    frame: pd.DataFrame, checks: list, column: Hashable, values: np.ndarray
) -> np.ndarray:
    """The rows where ``values`` in ``column`` keep every pair check that reads it: the pair
    it makes maps to the row's label in the real rows, or no real row holds it. (N,) bool."""
    kept = np.ones(len(frame), dtype=bool)
    for check in checks:
        if column in check.sources:
            pairs = {s: values if s == column else frame[s].to_numpy() for s in check.sources}
            place = check.positions(pd.DataFrame(pairs))
            labels = np.asarray(check.values, dtype=object)[np.maximum(place, 0)]
            kept &= (place < 0) | (labels == frame[check.target].to_numpy(dtype=object))
    return kept


def find_near(
    dependencies: Any, frame: pd.DataFrame, kinds: Mapping[Hashable, str], moved: set
) -> None:
    """Find the curves, matches and rates of ``frame`` onto ``dependencies``."""
    _settle(
        dependencies,
        moved,
        lambda skip: find_curves(frame, kinds, skip=skip),
        lambda skip: find_matches(frame, kinds, skip=skip),
        lambda skip: find_rates(frame, kinds, skip=skip),
    )


def declare_near(
    dependencies: Any, frame: pd.DataFrame, kinds: Mapping[Hashable, str], items: list, moved: set
) -> None:
    """The curves, matches and rates ``items`` declare, checked and fitted on ``frame``."""
    _settle(
        dependencies,
        moved,
        lambda skip: declared_curves(frame, kinds, items, skip),
        lambda skip: declared_matches(frame, kinds, items, skip),
        lambda skip: declared_rates(frame, kinds, items, skip),
    )


def _settle(dependencies: Any, moved: set, curves, matches, rates) -> None:
    """Curves, then matches, then rates onto ``dependencies``, each given the columns it may
    not name: those exact dependencies touch and those the kinds before it name (a rate may
    be a column only pair checks read)."""
    busy = busy_columns(dependencies, moved)
    settable = checked_only(dependencies, moved)
    dependencies.curves = curves(busy)
    named = {c for curve in dependencies.curves for c in (curve.column, *curve.sources)}
    dependencies.matches = matches(busy | named)
    named |= {c for m in dependencies.matches for c in (m.first, m.second)}
    rates_found = rates((busy | named) - (settable - named))
    others = busy | {c for curve in dependencies.curves for c in (curve.column, *curve.sources)}
    dependencies.rates = [replace(r, raises_part=r.part not in others) for r in rates_found]


def keep_near(
    frame: pd.DataFrame,
    dependencies: Any,
    columns: list,
    rng: np.random.Generator,
    fixed: set,
    fixed_rows: Mapping | None = None,
) -> None:
    """Keep the curves, matches and rates in decoded rows whose exact dependencies hold, in
    place (``columns``: the column models). Each curve's column is drawn from its sources where
    they are present, each match's rows made equal and each rate's share set on its counts'
    share in the rows :meth:`~tvae.transformer.matches.Match.settled` and
    :meth:`~tvae.transformer.rates.Rate.settled` pick; a conditioned column stays, in every
    row (``fixed``) or in its rows (``fixed_rows``)."""
    if not (dependencies.curves or dependencies.matches or dependencies.rates):
        return
    models = {col.name: col for col in columns}

    def free(name: Hashable) -> np.ndarray:
        rows = np.full(len(frame), name not in fixed)
        if fixed_rows and name in fixed_rows:
            rows &= ~np.asarray(fixed_rows[name], dtype=bool)
        return rows

    for curve in dependencies.curves:
        if curve.column not in fixed:
            sources = [to_float(frame[s]) for s in curve.sources]
            present = ~np.isnan(np.column_stack(sources)).any(axis=1)
            _write(
                frame, models[curve.column], curve.draw(sources, rng), free(curve.column) & present
            )
    for match in dependencies.matches:
        first, second = (to_float(frame[c]) for c in (match.first, match.second))
        common, moves = match.settled(first, second, free(match.first), free(match.second))
        _write(frame, models[match.first], common, moves == 1)
        _write(frame, models[match.second], common, moves == 2)
    for rate in dependencies.rates:
        if rate.column not in fixed:
            part, whole = (to_float(frame[c]) for c in (rate.part, rate.whole))
            drawn = to_float(frame[rate.column])
            share, rows = rate.settled(part, whole, drawn)
            rows &= keeps_checks(frame, dependencies.joint_checks, rate.column, share)
            if rate.raises_part:  # a full share drawn: the part raised to the whole
                movable = free(rate.part) & ~_equal_to_match(frame, dependencies.matches, rate.part)
                full = rate.raised(part, whole, share, drawn, rows, movable)
                _write(frame, models[rate.part], whole, full)
                rows &= ~full
            _write(frame, models[rate.column], share, free(rate.column) & rows)


def _equal_to_match(frame: pd.DataFrame, matches: list, column: Hashable) -> np.ndarray:
    """The rows where ``column`` equals the other column of its match (moving it there would
    undo the match)."""
    equal = np.zeros(len(frame), dtype=bool)
    for match in matches:
        if column in (match.first, match.second):
            equal |= to_float(frame[match.first]) == to_float(frame[match.second])
    return equal


def _write(frame: pd.DataFrame, model: Any, values: np.ndarray, rows: np.ndarray) -> None:
    """``values`` into the ``rows`` of ``model``'s column of ``frame``, restored by the model
    (clipped to its range, rounded to its grid, in its dtype); the other rows stay."""
    if rows.any():
        current = frame[model.name]
        restored = model.restore_values(np.where(rows, values, to_float(current)))
        frame[model.name] = restored.set_axis(frame.index).where(rows, current)
