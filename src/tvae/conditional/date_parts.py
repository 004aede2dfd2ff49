"""Conditions on a date and on one of its calendar parts (:mod:`tvae.transformer.date_parts`).

A condition on a part stays on it (the network draws the part asked, and the date is then
moved to the nearest date that has it); a row that asks a date and a part it lacks is refused
before any sampling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tvae.conditional.dependent import as_table, asked_targets, is_empty
from tvae.errors import ConditionError
from tvae.transformer.date_moves import some_date_has
from tvae.transformer.date_parts import conflicts, read_stamp


def check_date_parts(transformer: Any, conditions: Any) -> None:
    """Raise :class:`ConditionError` where a row's conditions ask a date (one value) and a
    part of it that the date does not have, or parts of a date that no date has together
    (within the date's asked range): the 30th of February, a Friday the 13th in May 2020."""
    items = asked_targets(transformer.dependencies.date_parts, conditions)
    table = as_table(conditions) if items else None
    by_source: dict = {}
    for item in items:
        by_source.setdefault(item.source, []).append(item)
    for source, parts in by_source.items():
        _check_together(table, source, parts)
    for item in items:
        if item.source not in table.columns:
            continue
        for source, target in zip(table[item.source], table[item.target], strict=True):
            if is_empty(source) or is_empty(target) or isinstance(source, tuple):
                continue
            if conflicts(item, source, target):
                raise ConditionError(
                    f"conditions ask {item.source!r} = {source!r} and {item.target!r} = "
                    f"{target!r}, but {item.target!r} is the {item.part} of {item.source!r} in "
                    "every row; leave one of them out"
                )


def date_ranges(transformer: Any, conditions: Any) -> dict:
    """The dates a condition holds to a range, for the parts read from them: the column's
    (low, high) Timestamps (None for an open end) for a dict, one such range (or None) per row
    for a frame; within it a conditioned part moves its date
    (:func:`tvae.transformer.date_moves.keep_date_parts`)."""
    if not isinstance(conditions, (Mapping, pd.DataFrame)):
        return {}
    table = as_table(conditions)
    found = {}
    for item in transformer.dependencies.date_parts:
        if item.source not in table.columns:
            continue
        cells = [_range_of(cell, item.date_format) for cell in table[item.source]]
        if isinstance(conditions, Mapping):
            if cells[0] is not None:
                found[item.source] = cells[0]
        elif any(cell is not None for cell in cells):
            found[item.source] = np.empty(len(cells), dtype=object)
            found[item.source][:] = cells
    return found


def _range_of(cell: Any, text_format: str | None) -> tuple | None:
    """A condition's range of dates as (low, high) Timestamps (None open), else None."""
    if not (isinstance(cell, tuple) and len(cell) == 2):
        return None
    try:
        return tuple(None if is_empty(v) else read_stamp(v, text_format) for v in cell)
    except (TypeError, ValueError):
        return None


def _check_together(table: Any, source: Any, items: list) -> None:
    """Each row's asked values of ``items`` (parts of ``source``), had by some date within the
    row's range of ``source`` (a (low, high) cell), where the row does not give the date."""
    seen: set = set()
    text_format = items[0].date_format
    dates = table[source] if source in table.columns else [None] * len(table)
    for position, date_cell in enumerate(dates):
        bounds = _range_of(date_cell, text_format)
        if bounds is None and not isinstance(date_cell, tuple) and not is_empty(date_cell):
            continue  # one date: :func:`conflicts` checks each part against it
        asked = {
            item.part: table[item.target].iloc[position]
            for item in items
            if _one_value(table[item.target].iloc[position])
        }
        key = (tuple(sorted((part, repr(value)) for part, value in asked.items())), bounds)
        if not asked or key in seen:
            continue
        seen.add(key)
        if not some_date_has(asked, bounds):
            shown = " and ".join(
                f"{item.target!r} = {table[item.target].iloc[position]!r}"
                for item in items
                if item.part in asked
            )
            within = "" if bounds is None else f" within {source!r}'s asked range"
            raise ConditionError(
                f"conditions ask {shown}, {'parts' if len(asked) > 1 else 'a part'} of the date "
                f"{source!r}, but no date{within} has {'them all' if len(asked) > 1 else 'it'}; "
                "ask values a date has"
            )


def _one_value(cell: Any) -> bool:
    """``cell`` asks one value (not a range, a set or nothing)."""
    return not isinstance(cell, (tuple, list, set, frozenset)) and not is_empty(cell)
