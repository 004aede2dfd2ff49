"""A number's range under a label (a child is under 16) is found in ``fit`` and kept by the
sampler, conditions included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.label_ranges import CHANCE, MIN_ROWS_AT_BOUND, LabelRange, find_bounds


def _passengers(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """``who`` is "child" under 16, else mostly the sex (not always: age and sex together
    would then determine ``who``, which tvae.transformer.joint derives); ``fare`` has nothing
    to do with ``who``; a rare port whose few ages are young by chance."""
    rng = np.random.default_rng(seed)
    age = rng.integers(1, 80, n).astype(float)
    sex = rng.choice(["male", "female"], n)
    port = np.where(rng.random(n) < 0.995, "S", "Q")
    age[port == "Q"] = rng.integers(20, 30, (port == "Q").sum())
    male = (sex == "male") != (rng.random(n) < 0.03)
    who = np.where(age < 16, "child", np.where(male, "man", "woman"))
    fare = rng.lognormal(3, 1, n).round(2)
    return pd.DataFrame({"age": age, "sex": sex, "who": who, "port": port, "fare": fare})


def test_bounds_count_only_beyond_chance_and_at_an_edge_several_rows_reach():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 100, 2000).astype(float)
    threshold = np.where(values < 20, 0, 1)  # a band cut from the number
    lower, upper = find_bounds(threshold, 2, values)
    assert (lower[0], upper[0], lower[1], upper[1]) == (None, 19.0, 20.0, None)
    assert find_bounds(rng.integers(0, 3, 2000), 3, values) is None  # independent: free
    # three rows all below the median: 0.5 ** 3 is far above CHANCE, so no bound
    few = np.array([0] * 3 + [1] * 1997)
    assert find_bounds(few, 2, np.r_[[1.0, 2.0, 3.0], values[3:]]) is None
    assert CHANCE == 1e-6 and MIN_ROWS_AT_BOUND == 3
    # a measurement's extremes are single rows: the label's range goes beyond what it shows
    smooth = rng.uniform(0, 100, 2000)
    assert find_bounds(np.where(smooth < 20, 0, 1), 2, smooth) is None
    missing = np.where(threshold == 0, np.nan, values)  # a missing number is free
    assert find_bounds(threshold, 2, missing) is None  # band 1 alone holds every known value


@pytest.fixture(scope="module")
def passengers_model():
    frame = _passengers()
    return TVAE(epochs=10, random_state=0).fit(frame), frame


def test_sampled_rows_keep_each_labels_range(passengers_model):
    model, frame = passengers_model
    found = {
        (model.transformer_.layout.softmax_spans[r.span].column,
         str(model.transformer_.columns[r.column].name))
        for r in model.transformer_.label_ranges
    }  # fmt: skip
    assert ("who", "age") in found
    assert not any(number == "fare" for _, number in found)  # independent: free
    assert ("port", "age") not in found  # a rare port's young ages are chance
    rows = model.sample(3000, random_state=1)
    children = rows["who"] == "child"
    assert children.any() and (rows.loc[children, "age"] < 16).all()
    assert (rows.loc[~children, "age"] >= 16).all()
    real = frame["who"].value_counts(normalize=True)
    drawn = rows["who"].value_counts(normalize=True).reindex(real.index, fill_value=0)
    assert (drawn - real).abs().max() < 0.06  # labels move, rates stay close


def test_conditions_keep_the_ranges(passengers_model):
    model, _ = passengers_model
    children = model.sample(300, conditions={"who": "child"}, random_state=2)
    assert (children["who"] == "child").all() and (children["age"] < 16).all()
    forty = model.sample(200, conditions={"age": 40.0}, random_state=3)
    assert (forty["age"] == 40.0).all() and not (forty["who"] == "child").any()


def test_a_kept_label_draws_its_number_within_its_range_not_onto_the_bound(passengers_model):
    """Where the label stays (likelier, or asked for), the number's mode is drawn again inside
    the label's range: moved onto the nearest bound instead, 84 % of the children asked for
    were 15 and 18 % of the sampled adults 16 (real: 8 % and 2 %)."""
    model, frame = passengers_model
    real_children = frame.loc[frame["who"] == "child", "age"]
    real_adults = frame.loc[frame["who"] != "child", "age"]
    asked = model.sample(300, conditions={"who": "child"}, random_state=2)["age"]
    assert (asked < 16).all() and (asked == 15).mean() < (real_children == 15).mean() + 0.08
    assert asked.nunique() >= 10
    rows = model.sample(3000, random_state=1)
    children, adults = (
        rows.loc[rows["who"] == "child", "age"],
        rows.loc[rows["who"] != "child", "age"],
    )
    assert (children == 15).mean() < (real_children == 15).mean() + 0.06
    assert (adults == 16).mean() < (real_adults == 16).mean() + 0.03


def test_a_number_an_order_moves_keeps_its_range_too():
    """``age`` in an order (``tenure`` <= ``age``) still gets ``who``'s bounds: an order or a
    pair check may move a number after the draw, but its label's range is weighed first
    (census's ages were left free and came back 1.5 points too often at 17 and 18)."""
    frame = _passengers(seed=1)
    rng = np.random.default_rng(1)
    frame["tenure"] = np.floor(frame["age"] * rng.uniform(0, 0.5, len(frame)))
    model = TVAE(epochs=10, random_state=0).fit(frame)
    orders = {(o.low, o.high) for o in model.transformer_.dependencies.orders}
    assert ("tenure", "age") in orders
    names = model.transformer_.columns
    found = {
        (model.transformer_.layout.softmax_spans[r.span].column, str(names[r.column].name))
        for r in model.transformer_.label_ranges
    }
    assert ("who", "age") in found
    rows = model.sample(2000, random_state=4)
    children = rows["who"] == "child"
    assert (rows.loc[children, "age"] < 16).all() and (rows.loc[~children, "age"] >= 16).all()
    assert (rows["tenure"] <= rows["age"]).all()


def test_a_range_asked_beside_a_label_is_cut_to_the_labels_range():
    """``school`` is "yes" from 5 to 18, so asking it asks ``age`` for [5, 18]; asked beside
    ``who="child"`` (under 16), 241 of 1,000 children came back 16 to 18."""
    frame = _passengers(seed=2)
    frame["school"] = np.where((frame["age"] >= 5) & (frame["age"] <= 18), "yes", "no")
    model = TVAE(epochs=10, random_state=0).fit(frame)
    assert any(d.target == "school" for d in model.transformer_.dependencies.determinations)
    rows = model.sample(1000, conditions={"who": "child", "school": "yes"}, random_state=3)
    assert (rows["who"] == "child").all() and (rows["school"] == "yes").all()
    assert rows["age"].between(5, 15).all() and rows["age"].nunique() >= 8
    asked = pd.DataFrame({"who": ["child", "man", "woman"], "school": ["yes", "yes", "no"]})
    rows = model.sample(conditions=asked.loc[np.repeat([0, 1, 2], 200)].reset_index(drop=True))
    children, men = rows.iloc[:200], rows.iloc[200:400]
    assert children["age"].between(5, 15).all() and men["age"].between(16, 18).all()
    assert (rows.iloc[400:]["school"] == "no").all()


def test_saved_model_keeps_them_and_no_dependencies_turns_them_off(passengers_model, tmp_path):
    model, frame = passengers_model
    model.save(tmp_path / "m.tvae")
    loaded = TVAE.load(tmp_path / "m.tvae")
    assert loaded.transformer_.label_ranges == model.transformer_.label_ranges
    pd.testing.assert_frame_equal(
        loaded.sample(300, random_state=5), model.sample(300, random_state=5)
    )
    item = model.transformer_.label_ranges[0]
    assert LabelRange.from_state(item.get_state()) == item
    plain = TVAE(epochs=1, random_state=0).fit(frame, metadata={"columns": {}, "dependencies": []})
    assert plain.transformer_.label_ranges == []
