"""A condition on one side of an order, whose other side the repairs do not move (a derived
column, a determination's source, a total): the condition holds, and so does the order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import ConditionError

YEARS = {"school": 10, "college": 14, "degree": 16, "master": 18}
LIMITS = {"basic": 20, "plus": 30, "gold": 50}


def _schooling(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """``grade`` determines ``years`` (a derived column), ``years <= studied <= age``; ``card``
    determines ``limit``, ``spent <= limit``."""
    rng = np.random.default_rng(seed)
    grade = rng.choice(list(YEARS), n)
    years = pd.Series(grade).map(YEARS).to_numpy()
    studied = years + rng.integers(0, 4, n)
    age = studied + rng.integers(0, 15, n)  # ranges that overlap: the order says something
    card = rng.choice(list(LIMITS), n)
    limit = pd.Series(card).map(LIMITS).to_numpy()
    spent = np.round(limit * rng.uniform(0.2, 1.0, n), 1)
    return pd.DataFrame(
        {"grade": grade, "years": years, "studied": studied, "age": age, "card": card,
         "limit": limit, "spent": spent}
    )  # fmt: skip


@pytest.fixture(scope="module")
def model() -> TVAE:
    return TVAE(epochs=3, random_state=0).fit(_schooling())


def _keeps(rows: pd.DataFrame) -> bool:
    return bool(
        (rows["years"] == rows["grade"].map(YEARS)).all()
        and (rows["years"] <= rows["studied"]).all()
        and (rows["studied"] <= rows["age"]).all()
        and (rows["limit"] == rows["card"].map(LIMITS)).all()
        and (rows["spent"] <= rows["limit"]).all()
    )


def test_the_fixture_holds_a_derived_column_under_an_order(model):
    deps = model.transformer_.dependencies
    assert {(d.source, d.target) for d in deps.determinations} == {
        ("grade", "years"),
        ("card", "limit"),
    }
    assert "years" in deps.held() and "studied" not in deps.held()
    assert {(o.low, o.high) for o in deps.orders} >= {("years", "studied"), ("studied", "age")}
    assert ("spent", "limit") in {(o.low, o.high) for o in deps.orders}
    assert {"years", "limit"} <= deps.held()


@pytest.mark.parametrize(
    ("conditions", "grades"),
    [
        ({"studied": 12}, {"school"}),  # years <= 12
        ({"studied": (None, 15)}, {"school", "college"}),
        ({"age": 12}, {"school"}),  # years <= studied <= 12: a chain through a free column
        ({"studied": 16, "grade": "degree"}, {"degree"}),
    ],
)
def test_a_bound_on_the_other_side_holds_and_narrows_the_source(model, conditions, grades):
    rows = model.sample(300, conditions=conditions, random_state=1)
    (column, cell), *_ = conditions.items()
    if isinstance(cell, tuple):
        assert (rows[column] <= cell[1]).all()
    else:
        assert (rows[column] == cell).all()
    assert set(rows["grade"]) <= grades and _keeps(rows)


def test_a_lower_bound_on_the_low_side_raises_the_free_high_side(model):
    rows = model.sample(300, conditions={"years": (16, None)}, random_state=2)
    assert (rows["years"] >= 16).all() and _keeps(rows)


def test_a_frame_of_conditions_bounds_each_row_by_its_own_cells(model):
    frame = pd.DataFrame({"studied": [12, None, 19, (None, 15)], "age": [None, 12, None, None]})
    rows = model.sample(conditions=frame.astype(object), random_state=3)
    assert list(rows["studied"].iloc[[0, 2]]) == [12, 19]
    assert rows["age"].iloc[1] == 12 and rows["studied"].iloc[3] <= 15
    assert rows["grade"].iloc[0] == "school" and rows["grade"].iloc[1] == "school"
    assert _keeps(rows)


def test_conditions_an_order_rules_out_are_an_error_before_sampling(model):
    with pytest.raises(ConditionError, match="'studied' <= 'age' in every real row"):
        model.sample(10, conditions={"studied": 15, "age": 12})
    with pytest.raises(ConditionError, match=r"'years' is determined by 'grade'.*through an order"):
        model.sample(10, conditions={"grade": "master", "studied": 12})
    with pytest.raises(ConditionError, match="through an order"):
        model.sample(10, conditions={"studied": 8})  # no grade has 8 years or fewer


def test_a_range_on_the_low_side_moves_it_within_the_range_where_the_high_side_stays(model):
    # spent >= 25 asks limit >= 25 (plus or gold); a row drawn with spent 40 on a plus card
    # can move neither limit (derived) nor spent off its range: spent is lowered to 30
    rows = model.sample(400, conditions={"spent": (25, None)}, random_state=4)
    assert (rows["spent"] >= 25).all() and set(rows["card"]) <= {"plus", "gold"}
    assert _keeps(rows)


def test_a_condition_on_a_total_that_a_pair_gives_keeps_the_pair_and_the_orders():
    """Depredations: ``number`` = ``early`` + ``late`` (small counts, kept as ``number`` +
    ``early`` giving ``late``) and both parts at most ``number``. The order's bound is not put
    on ``late``: held to it, ``late`` stopped following its pair (half the rows broke it)."""
    rng = np.random.default_rng(1)
    early, late = rng.integers(0, 5, 1000), rng.integers(0, 5, 1000)
    table = pd.DataFrame({"number": early + late, "early": early, "late": late})
    table["x"] = rng.normal(size=len(table))
    model = TVAE(epochs=3, random_state=0).fit(table)
    deps = model.transformer_.dependencies
    assert [(j.sources, j.target) for j in deps.joint] == [(("number", "early"), "late")]
    rows = model.sample(300, conditions={"number": 4}, random_state=1)
    assert (rows["number"] == 4).all()
    assert (rows["number"] == rows["early"] + rows["late"]).all()


def test_a_chain_of_orders_under_an_asked_top_holds():
    """``a <= b <= c`` with ``a <= c`` left out (random pairs almost never break it): ``c``
    asked low, ``b`` was lowered to it, then raised back to ``a``, and the passes never
    settled (half the rows broke ``a <= b``). Now ``a`` is lowered where ``b`` cannot rise."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 10, 600).round(1)
    b = (a + rng.uniform(0, 30, 600)).round(1)
    c = (b + rng.uniform(0, 60, 600)).round(1)
    table = pd.DataFrame({"kind": rng.choice(["x", "y"], 600), "a": a, "b": b, "c": c})
    fitted = TVAE(epochs=3, random_state=0).fit(table)
    orders = {(d["low"], d["high"]) for d in fitted.metadata_.dependencies if d["type"] == "order"}
    assert orders == {("a", "b"), ("b", "c")}
    for conditions in ({"c": 5.0}, {"c": (None, 8.0)}):
        rows = fitted.sample(300, conditions=conditions, random_state=1)
        assert (rows["c"] <= 8.0).all()
        assert ((rows["a"] <= rows["b"]) & (rows["b"] <= rows["c"])).all()
