"""The model of an offset column (:mod:`tvae.transformer.offsets`): its differences from its
base learned as a number, decoded back to the column by adding the decoded base, and kept
together with the base through the dependencies' repairs."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.transformer.columns import Draws
from tvae.transformer.datetime import DatetimeColumn
from tvae.transformer.dtypes import DtypeInfo
from tvae.transformer.duration import DurationColumn
from tvae.transformer.granularity import NS
from tvae.transformer.numerical import NumericalColumn, to_float
from tvae.transformer.offsets import Offset, differences, in_chain_order, numbers_of


@dataclass
class OffsetColumn:
    """The model of an offset column: its difference from the base, learned as a number, and
    the column's own model, which restores ``base + difference`` to its range, grid and dtype."""

    name: Any
    dtype: DtypeInfo
    base: Hashable
    difference: NumericalColumn
    target: NumericalColumn | DatetimeColumn | DurationColumn
    kind: ClassVar[str] = "offset"

    @property
    def target_kind(self) -> str:
        return self.target.kind

    @property
    def spans(self) -> list[tuple]:
        return self.difference.spans

    def transform(
        self, values: pd.Series, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode the differences (``values``: as :func:`differences` gives them)."""
        return self.difference.transform_numbers(to_float(values), rng)

    def inverse(
        self, alphas: np.ndarray, codes: np.ndarray, draws: Draws | None = None
    ) -> pd.Series:
        """The decoded differences (float64, NaN: missing); :meth:`restore` adds the base."""
        return pd.Series(self.difference.inverse_numbers(alphas, codes), name=self.name)

    def restore(self, base: np.ndarray, differences: pd.Series) -> pd.Series:
        """The column's values: the ``base`` numbers (decoded, :func:`numbers_of`) plus
        ``differences``, missing where either is, restored as the column's own model restores
        its draws."""
        return restore_numbers(self.target, base + differences.to_numpy(dtype=float))

    def get_state(self) -> dict:
        return {
            "base": encode_value(self.base),
            "difference": self.difference.get_state(),
            "target_kind": self.target_kind,
            "target": self.target.get_state(),
        }

    @classmethod
    def from_state(cls, name: Any, dtype: DtypeInfo, state: dict) -> OffsetColumn:
        models = {m.kind: m for m in (NumericalColumn, DatetimeColumn, DurationColumn)}
        model = models[state["target_kind"]]
        return cls(
            name,
            dtype,
            decode_value(state["base"]),
            NumericalColumn.from_state(name, DtypeInfo("float64"), state["difference"]),
            model.from_state(name, dtype, state["target"]),
        )


def fit_offset(
    offset: Offset,
    kinds: Mapping[Hashable, str],
    frame: pd.DataFrame,
    sample: pd.DataFrame,
    target: NumericalColumn | DatetimeColumn | DurationColumn,
    seed: int,
    **options: Any,
) -> OffsetColumn:
    """The model of ``offset``'s column: ``target`` (the column's own model, fitted as usual)
    and a numerical model of its differences from the base (their mixture on ``sample``)."""
    kind = kinds[offset.column]
    values, fitted = (differences(f, offset, kind) for f in (frame, sample))
    decimals = None
    if isinstance(target, NumericalColumn) and target.decimals is not None:
        decimals = target.decimals  # the difference of two numbers on a grid lies on it
    step = target.step_ns / NS if isinstance(target, (DatetimeColumn, DurationColumn)) else None
    if decimals is not None:
        values, fitted = np.round(values, decimals), np.round(fitted, decimals)
    difference = NumericalColumn.fit(
        offset.column, DtypeInfo("float64"), values, fitted, seed, grid_step=step, **options
    )
    return OffsetColumn(offset.column, target.dtype, offset.base, difference, target)


def with_differences(frame: pd.DataFrame, columns: list) -> pd.DataFrame:
    """``frame`` with each offset column (of the column models ``columns``) as its differences
    from its base, ready to encode (a copy; ``frame`` itself where there is none)."""
    offsets = [col for col in columns if isinstance(col, OffsetColumn)]
    if not offsets:
        return frame
    found = {
        col.name: differences(frame, Offset(col.base, col.name), col.target_kind) for col in offsets
    }  # every difference from the real values, before any column is replaced
    frame = frame.copy()
    for name, values in found.items():
        frame[name] = values
    return frame


def add_bases(frame: pd.DataFrame, columns: list, only: list | None = None) -> None:
    """Each offset column's decoded differences plus its decoded base, bases first, in place
    (``only``: those offset columns)."""
    by_name = {col.name: col for col in columns}
    offsets = [Offset(c.base, c.name) for c in columns if isinstance(c, OffsetColumn)]
    for offset in in_chain_order(offsets):
        if only is None or offset.column in only:
            col = by_name[offset.column]
            base = column_numbers(frame, col.base, by_name[col.base])
            frame[col.name] = col.restore(base, frame[col.name]).set_axis(frame.index)


def column_numbers(frame: pd.DataFrame, name: Hashable, model: Any) -> np.ndarray:
    """Column ``name`` of ``frame`` in numbers, read by its model (an offset: its target)."""
    model = model.target if isinstance(model, OffsetColumn) else model
    return numbers_of(frame[name], model.kind, model)


def decoded_pairs(frame: pd.DataFrame, columns: list) -> dict:
    """Each offset column's (base numbers, own numbers) in ``frame``: what :func:`follow_bases`
    compares with after the dependencies' repairs."""
    by_name = {col.name: col for col in columns}
    return {
        col.name: (
            column_numbers(frame, col.base, by_name[col.base]),
            column_numbers(frame, col.name, col),
        )
        for col in columns
        if isinstance(col, OffsetColumn)
    }


def restore_numbers(model: Any, numbers: np.ndarray) -> pd.Series:
    """Numbers (epoch seconds for times) as the values of ``model``'s column (an offset
    column's: its own model's), clipped to its range and rounded to its grid."""
    model = model.target if isinstance(model, OffsetColumn) else model
    if isinstance(model, (DatetimeColumn, DurationColumn)):
        return model.restore_seconds(numbers)
    return model.restore_values(numbers)


def follow_bases(frame: pd.DataFrame, columns: list, before: Mapping, fixed: set) -> bool:
    """Where a repair moved one column of an offset pair (an order raised it) and left the
    other as it was, move the other with it, keeping the difference the pair was drawn with
    (midwest: a county's population raised to its adults', and the population whose poverty
    is known left 20,000 below it, a gap no real county has). A conditioned column stays. In
    place, bases first; whether a row changed. The caller repairs again: a column moved here
    can break another order."""
    by_name = {col.name: col for col in columns}
    pairs = [Offset(c.base, c.name) for c in columns if isinstance(c, OffsetColumn)]
    changed = False
    for offset in in_chain_order(pairs):
        if offset.column not in before:
            continue
        base_was, own_was = before[offset.column]
        drawn = own_was - base_was  # NaN where either was missing
        base = column_numbers(frame, offset.base, by_name[offset.base])
        own = column_numbers(frame, offset.column, by_name[offset.column])
        known = ~np.isnan(drawn) & ~np.isnan(base) & ~np.isnan(own)
        base_moved, own_moved = known & (base != base_was), known & (own != own_was)
        # where both moved (midwest: both raised to the adults' count), the one that can move
        # on in the direction its repair took it follows the other, restoring the difference
        further = lambda target, now, was: (target - now) * (now - was) >= 0  # noqa: E731
        own_follows = own_moved & base_moved & further(base + drawn, own, own_was)
        base_follows = own_moved & base_moved & ~own_follows & further(own - drawn, base, base_was)
        moves = (
            (offset.column, (base_moved & ~own_moved) | own_follows, base + drawn, own),
            (offset.base, (own_moved & ~base_moved) | base_follows, own - drawn, base),
        )
        for follower, rows, target, current in moves:
            if follower in fixed or not rows.any():
                continue
            values = restore_numbers(by_name[follower], np.where(rows, target, current))
            frame.loc[rows, follower] = values[rows].to_numpy()
            changed = True
    return changed


def decode_with_repairs(
    frame: pd.DataFrame, columns: list, repair: Callable[[pd.DataFrame], pd.DataFrame], fixed: set
) -> pd.DataFrame:
    """Decoded rows whose offset columns hold their differences: the bases added, then the
    dependencies' ``repair``, and again where a pair had to move together
    (:func:`follow_bases`)."""
    add_bases(frame, columns)
    before = decoded_pairs(frame, columns)
    frame = repair(frame)
    if follow_bases(frame, columns, before, fixed):
        frame = repair(frame)
    return frame
