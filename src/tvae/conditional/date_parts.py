"""Conditions on a date and on one of its calendar parts (:mod:`tvae.transformer.date_parts`).

A condition on a part stays on it (the network draws the part asked, and the date is then
moved to the nearest date that has it); a row that asks a date and a part it lacks is refused
before any sampling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tvae.conditional.dependent import as_table, asked_targets, is_empty
from tvae.errors import ConditionError
from tvae.transformer.date_parts import conflicts, read_stamp


def check_date_parts(transformer: Any, conditions: Any) -> None:
    """Raise :class:`ConditionError` where a row's conditions ask a date (one value) and a
    part of it that the date does not have."""
    items = asked_targets(transformer.dependencies.date_parts, conditions)
    table = as_table(conditions) if items else None
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
    """The dates a dict's condition holds to a range, for the parts read from them: the
    column's (low, high) Timestamps (None for an open end), within which a conditioned part
    moves its date (:func:`tvae.transformer.date_parts.keep_date_parts`)."""
    if not isinstance(conditions, Mapping):
        return {}
    found = {}
    for item in transformer.dependencies.date_parts:
        cell = conditions.get(item.source)
        if isinstance(cell, tuple) and len(cell) == 2:
            try:
                found[item.source] = tuple(
                    None if is_empty(v) else read_stamp(v, item.date_format) for v in cell
                )
            except (TypeError, ValueError):
                continue
    return found
