"""The saved form of :class:`~tvae.transformer.dependencies.Dependencies`: each kind's items as
JSON-ready lists, and back (a kind a model does not hold is left out of its file)."""

from __future__ import annotations

from typing import Any

from tvae.codec import decode_value, encode_value
from tvae.transformer.curves import Curve
from tvae.transformer.cuts import Cut
from tvae.transformer.date_parts import DatePart
from tvae.transformer.determination import from_state, order_from_state, order_state, state_of
from tvae.transformer.joint import JointDetermination
from tvae.transformer.linear import Linear
from tvae.transformer.matches import Match
from tvae.transformer.offsets import Offset
from tvae.transformer.one_hot import OneHotGroup
from tvae.transformer.presence import Presence
from tvae.transformer.rates import Rate
from tvae.transformer.sums import Sum

# the kinds saved only where a model holds some, with the class that reads each item back
OPTIONAL = {
    "sums": ("sums", Sum),
    "linear": ("linear", Linear),
    "cuts": ("cuts", Cut),
    "date_parts": ("date_parts", DatePart),
    "presence": ("presence", Presence),
    "curves": ("curves", Curve),
    "matches": ("matches", Match),
    "rates": ("rates", Rate),
}


def state_of_dependencies(dependencies: Any) -> dict:
    """``dependencies`` as a JSON-ready dict."""
    state = {
        "determinations": [state_of(d) for d in dependencies.determinations],
        "checks": [state_of(d) for d in dependencies.checks],
        "orders": [order_state(o) for o in dependencies.orders],
        "one_hot": [g.get_state() for g in dependencies.groups],
        "joint": [j.get_state() for j in dependencies.joint],
        "joint_checks": [j.get_state() for j in dependencies.joint_checks],
    }
    if dependencies.offsets:
        state["offsets"] = [
            [encode_value(o.base), encode_value(o.column)] for o in dependencies.offsets
        ]
    for key, (field, _) in OPTIONAL.items():
        items = getattr(dependencies, field)
        if items:
            state[key] = [item.get_state() for item in items]
    return state


def dependency_lists(state: dict) -> dict:
    """The keyword arguments of ``Dependencies`` that ``state`` (:func:`state_of_dependencies`)
    holds."""
    return {
        "determinations": [from_state(d) for d in state["determinations"]],
        "orders": [order_from_state(o) for o in state["orders"]],
        "checks": [from_state(d) for d in state.get("checks", [])],
        "groups": [OneHotGroup.from_state(g) for g in state.get("one_hot", [])],
        "joint": [JointDetermination.from_state(j) for j in state.get("joint", [])],
        "joint_checks": [JointDetermination.from_state(j) for j in state.get("joint_checks", [])],
        "offsets": [Offset(decode_value(a), decode_value(b)) for a, b in state.get("offsets", [])],
        **{
            field: [kind.from_state(item) for item in state.get(key, [])]
            for key, (field, kind) in OPTIONAL.items()
        },
    }
