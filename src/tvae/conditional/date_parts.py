"""Conditions on a date and on one of its calendar parts (:mod:`tvae.transformer.date_parts`).

A condition on a part stays on it (the network draws the part asked, and the date is then
moved to the nearest date that has it); a row that asks a date and a part it lacks is refused
before any sampling."""

from __future__ import annotations

from typing import Any

from tvae.conditional.dependent import as_table, asked_targets, is_empty
from tvae.errors import ConditionError
from tvae.transformer.date_parts import conflicts


def check_date_parts(transformer: Any, conditions: Any) -> None:
    """Raise :class:`ConditionError` where a row's conditions ask a date (one value) and a
    part of it that the date does not have."""
    for item in asked_targets(transformer.dependencies.date_parts, conditions):
        table = as_table(conditions)
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
