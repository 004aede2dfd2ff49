"""Columns that a number's ranges give (a weight and "low", an age and its group): found in
``fit`` with the thresholds a person would write, kept in every sampled and conditioned row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE, ConditionError, InvalidParameterError
from tvae.cli.render import _dependency_text
from tvae.transformer.cuts import edge_between, find_cuts


def _table(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = np.round(rng.uniform(1, 90, n), 1)
    weight = np.round(rng.normal(3200, 600, n)).astype(int)
    weight = weight[(weight < 2480) | (weight > 2530)][: n // 2].repeat(2)[:n]  # a real gap
    weight = np.resize(weight, n)
    frame = pd.DataFrame(
        {
            "age": age,
            "group": np.where(age < 18, "child", np.where(age < 65, "adult", "senior")),
            "weight": weight,
            "low": (weight < 2500).astype(int),
            "city": rng.choice(["x", "y", "z"], n),
        }
    )
    gone = rng.random(n) < 0.1
    frame.loc[gone, "age"] = np.nan
    frame.loc[gone, "group"] = "unknown"  # one value wherever the age is missing
    return frame


def _rule(rows: pd.DataFrame) -> pd.Series:
    return pd.Series(
        np.where(rows["age"] < 18, "child", np.where(rows["age"] < 65, "adult", "senior")),
        index=rows.index,
    ).where(rows["age"].notna(), "unknown")


@pytest.fixture(scope="module")
def fitted() -> tuple[TVAE, pd.DataFrame]:
    frame = _table()
    return TVAE(epochs=10, random_state=0).fit(frame), frame


def test_cuts_are_found_with_the_thresholds_a_person_would_write(fitted):
    model, _ = fitted
    cuts = [d for d in model.metadata_.dependencies if d["type"] == "cut"]
    assert {"type": "cut", "source": "age", "target": "group", "edges": [18.0, 65.0],
            "labels": ["child", "adult", "senior"]} in cuts  # fmt: skip
    assert {"type": "cut", "source": "weight", "target": "low", "edges": [2500.0],
            "labels": [1, 0]} in cuts  # fmt: skip
    assert "group = 'child' if age < 18, 'adult' if age < 65, else 'senior'" in _dependency_text(
        cuts
    )


def test_every_sampled_row_keeps_its_cuts(fitted):
    model, _ = fitted
    rows = model.sample(1000, random_state=1)
    assert (rows["group"] == _rule(rows)).all()
    assert (rows["low"] == (rows["weight"] < 2500).astype(int)).all()
    assert rows["low"].dtype == np.int64


def test_conditions_on_a_target_are_asked_of_its_source(fitted):
    model, _ = fitted
    rows = model.sample(200, conditions={"group": "senior"}, random_state=2)
    assert (rows["group"] == "senior").all() and (rows["age"] >= 65).all()
    rows = model.sample(100, conditions={"low": 1, "city": "x"}, random_state=2)
    assert (rows["low"] == 1).all() and (rows["weight"] < 2500).all()
    known = pd.DataFrame({"group": ["child", None, "adult"], "weight": [3000, 2000, None]})
    rows = model.sample(conditions=known, random_state=3)
    assert list(rows["group"].iloc[[0, 2]]) == ["child", "adult"] and rows["age"].iloc[0] < 18
    assert list(rows["low"].iloc[:2]) == [0, 1]
    assert (rows["group"] == _rule(rows)).all()


def test_a_label_no_range_gives_and_contradictions_are_refused(fitted):
    model, _ = fitted
    with pytest.raises(ConditionError, match="'group' = 'teen' is never generated"):
        model.sample(10, conditions={"group": "teen"})
    with pytest.raises(ConditionError, match=r"'age' = 70\.0 and 'group' = 'child'.*'senior'"):
        model.sample(10, conditions={"group": "child", "age": 70.0})
    with pytest.raises(ConditionError, match="no value meets both"):
        model.sample(10, conditions={"group": "child", "age": (40, 50)})


def test_declared_cuts_are_checked_kept_and_saved(fitted, tmp_path):
    model, frame = fitted
    again = TVAE(epochs=2, random_state=0).fit(frame, metadata=model.metadata_)
    assert again.metadata_.dependencies == model.metadata_.dependencies  # metadata_ fits again
    wrong = {"type": "cut", "source": "weight", "target": "low", "edges": [3000],
             "labels": [1, 0]}  # fmt: skip
    with pytest.raises(InvalidParameterError, match="rows where it does not hold"):
        TVAE(epochs=1).fit(frame, metadata={"dependencies": [wrong]})
    with pytest.raises(InvalidParameterError, match="one label more than edges"):
        TVAE(epochs=1).fit(frame, metadata={"dependencies": [{**wrong, "labels": [1]}]})
    read = TVAE(epochs=1, random_state=0).fit(
        frame, metadata={"dependencies": [{"type": "cut", "source": "age", "target": "group"}]}
    )
    assert read.metadata_.dependencies[0]["edges"] == [18.0, 65.0]
    with pytest.raises(InvalidParameterError, match="'city' is a cut of 'age'"):
        TVAE(epochs=1).fit(
            frame, metadata={"dependencies": [{"type": "cut", "source": "age", "target": "city"}]}
        )
    model.save(tmp_path / "cuts.tvae")
    loaded = TVAE.load(tmp_path / "cuts.tvae")
    pd.testing.assert_frame_equal(
        loaded.sample(50, random_state=4), model.sample(50, random_state=4)
    )


def test_a_private_fit_keeps_a_declared_cut():
    frame = _table(400)
    cut = {"type": "cut", "source": "weight", "target": "low", "edges": [2500], "labels": [1, 0]}
    model = TVAE(epochs=2, epsilon=10, random_state=0).fit(frame, metadata={"dependencies": [cut]})
    rows = model.sample(300, random_state=1)
    assert (rows["low"] == (rows["weight"] < 2500).astype(int)).all()
    rows = model.sample(20, conditions={"low": 1}, random_state=1)
    assert (rows["weight"] < 2500).all()
    with pytest.raises(InvalidParameterError, match="needs its 'edges' and 'labels'"):
        TVAE(epochs=1, epsilon=10).fit(
            frame, metadata={"dependencies": [{"type": "cut", "source": "age", "target": "group"}]}
        )


def test_what_is_not_a_cut_is_not_taken_for_one():
    rng = np.random.default_rng(3)
    value = rng.normal(size=100)
    rare = np.where(value >= np.sort(value)[-3], "top", "rest")  # 3 of 100 rows: chance
    frame = pd.DataFrame({"value": value, "rare": rare, "noise": rng.choice(["a", "b"], 100)})
    ties = np.repeat(np.arange(20.0), 5)  # equal values, different labels
    frame["tied"] = ties
    frame["label"] = np.where(ties < 10, "a", "b")
    frame.loc[3, "label"] = "b"
    kinds = {"value": "numerical", "rare": "categorical", "noise": "categorical",
             "tied": "numerical", "label": "categorical"}  # fmt: skip
    assert find_cuts(frame, kinds) == []
    many = rng.normal(size=1000)
    frame = pd.DataFrame({"many": many, "top": np.where(many > np.sort(many)[-9], "t", "r")})
    found = find_cuts(frame, {"many": "numerical", "top": "categorical"})
    assert [(c.source, c.target) for c in found] == [("many", "top")]  # 8 of 1,000: evidence


def test_a_label_two_numbers_cut_keeps_both():
    rng = np.random.default_rng(8)
    works = rng.random(600) < 0.6
    hours = np.where(works, rng.integers(100, 2500, 600), 0)
    wage = np.where(works, np.round(rng.uniform(1, 5000, 600), 2), 0.0)  # neither below other
    frame = pd.DataFrame({"hours": hours, "wage": wage, "works": np.where(works, "yes", "no"),
                          "city": rng.choice(["x", "y"], 600)})  # fmt: skip
    model = TVAE(epochs=5, random_state=0).fit(frame)
    cuts = [(d["source"], d["target"]) for d in model.metadata_.dependencies]
    assert cuts == [("wage", "works"), ("hours", "works")]  # derived from the first

    def both(rows: pd.DataFrame) -> bool:
        yes = rows["works"] == "yes"
        return bool(((rows["hours"] > 0) == yes).all() and ((rows["wage"] > 0) == yes).all())

    assert both(model.sample(600, random_state=1))
    rows = model.sample(100, conditions={"works": "no"}, random_state=2)
    assert both(rows) and (rows["works"] == "no").all()
    rows = model.sample(100, conditions={"hours": (1000, 2000)}, random_state=3)  # the second
    assert both(rows) and rows["hours"].between(1000, 2000).all()
    rows = model.sample(50, conditions={"works": "no", "hours": (0, 5000)}, random_state=5)
    assert both(rows) and (rows["hours"] == 0).all()
    with pytest.raises(ConditionError, match="'hours' = 0 and 'works' = 'yes'"):
        model.sample(5, conditions={"works": "yes", "hours": 0})  # the second source's label
    again = TVAE(epochs=1, random_state=0).fit(frame, metadata=model.metadata_)
    assert again.metadata_.dependencies == model.metadata_.dependencies
    assert both(again.sample(300, random_state=4))
    frame["hours_again"] = frame["hours"]
    twice = {"type": "cut", "source": "hours", "target": "hours_again"}  # hours moved, and read
    with pytest.raises(InvalidParameterError, match="keep one of them"):
        TVAE(epochs=1).fit(frame, metadata={"dependencies": [*model.metadata_.dependencies, twice]})


def test_a_label_that_determines_others_is_cut_first():
    rng = np.random.default_rng(9)
    time = np.round(rng.uniform(0, 60, 400), 1)
    band = np.where(time < 12, 1, np.where(time < 41, 2, 3))  # motor's strata, by the time
    frame = pd.DataFrame({"time": time, "band": band, "spread": np.array([3.7, 4.5, 8.1])[band - 1],
                          "accel": np.round(rng.normal(0, 20, 400), 1)})  # fmt: skip
    model = TVAE(epochs=5, random_state=0).fit(frame)
    assert {"type": "cut", "source": "time", "target": "band", "edges": [12.0, 41.0],
            "labels": [1, 2, 3]} in model.metadata_.dependencies  # fmt: skip
    rows = model.sample(500, random_state=1)
    expected = np.where(rows["time"] < 12, 1, np.where(rows["time"] < 41, 2, 3))
    assert (rows["band"] == expected).all()
    assert (rows["spread"] == rows["band"].map({1: 3.7, 2: 4.5, 3: 8.1})).all()
    rows = model.sample(50, conditions={"spread": 4.5}, random_state=2)  # asked of the time
    assert (rows["band"] == 2).all() and rows["time"].between(12, 41).all()
    again = TVAE(epochs=1, random_state=0).fit(frame, metadata=model.metadata_)  # declared
    assert again.metadata_.dependencies == model.metadata_.dependencies


def test_an_edge_is_the_roundest_number_in_the_gap():
    assert edge_between(2495, 2523) == 2500
    assert edge_between(17.9, 18.0) == 18
    assert edge_between(0, 12) == 10
    assert edge_between(-3.5, -1.2) == -2
    assert edge_between(0.31, 0.3104) == 0.3102  # no shorter number in the gap: the middle


def test_an_order_the_cut_implies_gives_way_to_it():
    rng = np.random.default_rng(5)
    start = np.where(rng.random(300) < 0.3, 0.0, rng.integers(1, 300, 300))
    frame = pd.DataFrame({"start": start, "treated": (start >= 1).astype(int)})
    model = TVAE(epochs=3, random_state=0).fit(frame)  # treated <= start in every row
    assert model.metadata_.dependencies == [
        {"type": "cut", "source": "start", "target": "treated", "edges": [1.0], "labels": [0, 1]}
    ]
    rows = model.sample(500, random_state=1)
    assert (rows["treated"] == (rows["start"] >= 1)).all()


def test_a_date_cut_into_periods_has_calendar_edges():
    rng = np.random.default_rng(6)
    when = pd.Series(pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.uniform(0, 730, 800), "D"))
    when = when.dt.floor("h")
    frame = pd.DataFrame({
        "ordered": when.dt.strftime("%d/%m/%Y %H:%M"),  # dates as text, day first
        "quarter": when.dt.year.astype(str) + "Q" + when.dt.quarter.astype(str),
        "weekday": when.dt.day_name(),  # a date part beside the cut
        "amount": rng.normal(size=800),
    })  # fmt: skip
    model = TVAE(epochs=5, random_state=0).fit(frame)
    (cut,) = [d for d in model.metadata_.dependencies if d["type"] == "cut"]
    assert {"type": "date_part", "source": "ordered", "target": "weekday", "part": "day_name"} in (
        model.metadata_.dependencies
    )
    assert cut["edges"][:2] == ["2019-04-01T00:00:00", "2019-07-01T00:00:00"]
    assert cut["labels"][:2] == ["2019Q1", "2019Q2"]

    def quarters(rows: pd.DataFrame) -> pd.Series:
        dates = pd.to_datetime(rows["ordered"], format="%d/%m/%Y %H:%M")
        return dates.dt.year.astype(str) + "Q" + dates.dt.quarter.astype(str)

    rows = model.sample(500, random_state=1)
    assert (quarters(rows) == rows["quarter"]).all()
    rows = model.sample(50, conditions={"quarter": "2020Q2", "weekday": "Sunday"}, random_state=2)
    assert (quarters(rows) == "2020Q2").all() and (rows["weekday"] == "Sunday").all()
    dates = pd.to_datetime(rows["ordered"], format="%d/%m/%Y %H:%M")
    assert (dates.dt.day_name() == "Sunday").all()
    with pytest.raises(ConditionError, match="gives '2019Q4'"):
        model.sample(5, conditions={"quarter": "2020Q2", "ordered": "03/11/2019 10:00"})
    again = TVAE(epochs=1, random_state=0).fit(frame, metadata=model.metadata_)
    assert again.metadata_.dependencies == model.metadata_.dependencies
