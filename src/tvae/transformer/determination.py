"""The two single-column dependencies (:mod:`tvae.transformer.dependencies`) as data: a
determination with its real mapping, an order, and their saved form."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError


@dataclass
class Determination:
    """``target`` = ``mapping[source]`` in every row."""

    source: Hashable
    target: Hashable
    keys: list  # source values
    values: list  # the target value of each key
    counts: list | None = None  # real rows holding each key (to pick a source for a target)

    def describe(self) -> dict:
        return {"type": "determines", "source": self.source, "target": self.target}


@dataclass(frozen=True)
class Order:
    """``low <= high`` wherever both are present. A sampled row that breaks it gets ``high``
    raised to ``low``, or, where ``lowers``, ``low`` lowered to ``high``: the side whose real
    range the other side's values never leave."""

    low: Hashable
    high: Hashable
    lowers: bool = False

    def describe(self) -> dict:
        return {"type": "order", "low": self.low, "high": self.high}

    def __contains__(self, column: Hashable) -> bool:
        return column in (self.low, self.high)


def state_of(item: Determination) -> dict:
    return {
        "source": encode_value(item.source),
        "target": encode_value(item.target),
        "keys": [encode_value(v) for v in item.keys],
        "values": [encode_value(v) for v in item.values],
        "counts": item.counts,
    }


def from_state(state: dict) -> Determination:
    return Determination(
        decode_value(state["source"]),
        decode_value(state["target"]),
        [decode_value(v) for v in state["keys"]],
        [decode_value(v) for v in state["values"]],
        state.get("counts"),
    )


def order_state(order: Order) -> list:
    return [encode_value(order.low), encode_value(order.high), *(["lowers"] * order.lowers)]


def order_from_state(state: list) -> Order:
    low, high, *rest = state
    return Order(decode_value(low), decode_value(high), lowers="lowers" in rest)


def order_of(frame: pd.DataFrame, low: Hashable, high: Hashable) -> Order:
    """The order ``low <= high`` of ``frame``, repaired by lowering ``low`` where ``low``'s
    largest value passes ``high``'s and its smallest does not: raising ``high`` would leave
    ``high``'s real range, lowering ``low`` to a real ``high`` value stays within ``low``'s
    (msleep: ``brainwt <= sleep_cycle`` where both are present, brainwt reaching 5.7 where
    sleep_cycle is missing and sleep_cycle never passing 1.5)."""
    a, b = frame[low], frame[high]
    return Order(low, high, lowers=bool(a.max() > b.max() and a.min() <= b.min()))


def mapping_of(frame: pd.DataFrame, source: Hashable, target: Hashable) -> Determination:
    first = frame.drop_duplicates(subset=[source])
    counts = frame[source].value_counts(dropna=False).reindex(first[source]).tolist()
    return Determination(
        source, target, first[source].tolist(), first[target].tolist(), [int(c) for c in counts]
    )


def check_derived(items: list, busy: set, noun: str) -> list:
    """Declared ``items`` that derive a target from a source (lines, cuts), refused where
    they cannot all be kept: a target derived twice, a target that is another's source, or a
    column another dependency reads or writes (``busy``)."""
    targets = [item.target for item in items]
    for item in items:
        clash = targets.count(item.target) > 1 or item.target in {x.source for x in items}
        if clash or item.source in busy or item.target in busy:
            raise InvalidParameterError(
                f"metadata's {noun} {item.target!r} from {item.source!r}: a {noun}'s target may "
                f"not be derived twice, be the source of another {noun}, or be read or written "
                "by another dependency; keep one of them"
            )
    return items
