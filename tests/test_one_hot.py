"""One-hot groups: indicator columns of which exactly one is 1 in every row are found in ``fit``,
modelled as one label, and kept in every sampled row (conditions included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import InvalidParameterError
from tvae.transformer.one_hot import assign_member, find_groups


def _dummies_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A number, two one-hot groups (ints of 4 and booleans of 3; one rare level each) and a
    label, as ``pandas.get_dummies`` would leave them; soil c lies in area x only."""
    rng = np.random.default_rng(seed)
    soil = rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.17, 0.03])
    area = np.where(soil == "c", "x", rng.choice(["x", "y", "z"], n, p=[0.5, 0.35, 0.15]))
    frame = pd.DataFrame({"height": rng.normal(100, 15, n) + (soil == "a") * 20})
    for level in "abcd":
        frame[f"soil_{level}"] = (soil == level).astype(np.int64)
    frame["kind"] = np.where(rng.random(n) < 0.5, "p", "q")
    for level in "xyz":
        frame[f"area_{level}"] = area == level
    return frame


SOIL = [f"soil_{c}" for c in "abcd"]
AREA = [f"area_{c}" for c in "xyz"]


@pytest.fixture(scope="module")
def dummies_model():
    frame = _dummies_frame()
    return TVAE(epochs=5, random_state=0).fit(frame, ["kind"]), frame


def test_groups_are_found_and_near_misses_are_not():
    frame = _dummies_frame()
    kinds = {c: "boolean" if c in AREA else "numerical" for c in frame.columns}
    kinds["kind"] = "categorical"
    assert [g.members for g in find_groups(frame, kinds)] == [tuple(SOIL), tuple(AREA)]
    broken = frame.copy()
    broken.loc[7, SOIL] = 0  # one row with no soil: at most one soil is 1, not exactly one
    found = [(g.members, g.allow_none) for g in find_groups(broken, kinds)]
    assert found == [(tuple(AREA), False), (tuple(SOIL), True)]
    broken.loc[7, ["soil_a", "soil_b"]] = 1  # and one with two: no group holds both
    found = [g.members for g in find_groups(broken, kinds)]
    assert not any({"soil_a", "soil_b"} <= set(members) for members in found)
    pair = frame[["height"]].assign(on=frame["soil_a"], off=1 - frame["soil_a"])
    assert find_groups(pair, {"height": "numerical", "on": "numerical", "off": "numerical"}) == []


def test_a_group_in_a_few_rows_is_kept_only_beyond_chance():
    # grouped counts: six rows, one per smoker x race, the race as three dummies
    race = [[0, 0, 1], [0, 1, 0], [1, 0, 0]] * 2
    frame = pd.DataFrame(race, columns=["race1", "race2", "race3"])
    frame.insert(0, "cases", [165, 48, 132, 36, 30, 156])
    kinds = dict.fromkeys(frame.columns, "numerical")
    assert [g.members for g in find_groups(frame, kinds)] == [("race1", "race2", "race3")]
    # three rows of it: independent dummies at 1/3 would show one each with a chance of 9 %
    assert find_groups(frame.head(3), kinds) == []
    model = TVAE(epochs=2, random_state=0).fit(frame)
    assert {"type": "one_hot", "columns": ["race1", "race2", "race3"]} in (
        model.metadata_.dependencies
    )
    rows = model.sample(200, random_state=1)
    assert (rows[["race1", "race2", "race3"]].sum(axis=1) == 1).all()


def test_every_sampled_row_has_exactly_one_member_set(dummies_model):
    model, frame = dummies_model
    assert {"type": "one_hot", "columns": SOIL} in model.metadata_.dependencies
    assert {"type": "one_hot", "columns": AREA} in model.metadata_.dependencies
    rows = model.sample(2000, random_state=1)
    assert list(rows.columns) == list(frame.columns)
    assert list(model.feature_names_in_) == list(frame.columns)
    assert {str(t) for t in rows[SOIL].dtypes} == {"int64"}
    assert {str(t) for t in rows[AREA].dtypes} == {"bool"}
    assert (rows[SOIL].sum(axis=1) == 1).all() and (rows[AREA].sum(axis=1) == 1).all()
    # each member keeps its real rate (calibrated through the label's rates)
    assert np.abs(rows[SOIL].mean() - frame[SOIL].mean()).max() < 0.05


def test_conditions_on_a_member_keep_the_group(dummies_model):
    model, _ = dummies_model
    rows = model.sample(300, conditions={"soil_c": 1}, random_state=2)
    assert (rows["soil_c"] == 1).all() and (rows[SOIL].sum(axis=1) == 1).all()
    rows = model.sample(300, conditions={"soil_a": 0, "area_y": True}, random_state=3)
    assert (rows["soil_a"] == 0).all() and rows["area_y"].all()
    assert (rows[SOIL].sum(axis=1) == 1).all() and (rows[AREA].sum(axis=1) == 1).all()
    assert (rows["soil_c"] == 0).all()  # soil c lies in area x only


def test_an_order_between_members_of_two_groups_holds_and_keeps_both_whole(dummies_model):
    model, _ = dummies_model
    assert {"type": "order", "low": "soil_c", "high": "area_x"} in model.metadata_.dependencies
    rows = model.sample(3000, random_state=5)
    assert (rows["area_x"] | (rows["soil_c"] == 0)).all()
    assert (rows[SOIL].sum(axis=1) == 1).all() and (rows[AREA].sum(axis=1) == 1).all()
    # the repair itself, on rows that break it both ways round
    broken = rows.head(4).copy()
    broken[SOIL], broken[AREA] = [0, 0, 1, 0], [False, True, False]
    model.transformer_.dependencies.apply(broken)
    assert broken["area_x"].all() and not broken[["area_y", "area_z"]].any(axis=None)
    broken[SOIL], broken[AREA] = [0, 0, 1, 0], [False, True, False]
    model.transformer_.dependencies.apply(broken, fixed=["area_y"])
    assert (broken["soil_c"] == 0).all() and (broken["soil_a"] == 1).all()
    assert broken["area_y"].all()


def test_a_frame_of_conditions_on_members_with_empty_cells_keeps_every_condition(dummies_model):
    # covtype: Soil_Type12 lies in Wilderness_Area1 only; a row asking Area1 = 0 and nothing of
    # the soil had its area moved off the condition when the soil was drawn as 12
    model, _ = dummies_model
    known = pd.DataFrame({"soil_c": [1, None, None, 0] * 50, "area_x": [None, False] * 100})
    rows = model.sample(conditions=known, random_state=6)
    for column in ("soil_c", "area_x"):
        asked = known[column].notna().to_numpy()
        assert (rows[column].to_numpy()[asked] == known[column].to_numpy()[asked]).all()
    assert (rows["area_x"] | (rows["soil_c"] == 0)).all()
    assert (rows[SOIL].sum(axis=1) == 1).all() and (rows[AREA].sum(axis=1) == 1).all()


def test_a_saved_model_keeps_its_groups_and_rows(dummies_model, tmp_path):
    model, _ = dummies_model
    model.save(tmp_path / "m.tvae")
    loaded = TVAE.load(tmp_path / "m.tvae")
    again = loaded.sample(300, random_state=4)
    pd.testing.assert_frame_equal(again, model.sample(300, random_state=4))
    assert loaded.metadata_.dependencies == model.metadata_.dependencies


def test_groups_can_be_declared_or_turned_off():
    frame = _dummies_frame()
    none = {"columns": {}, "dependencies": []}
    off = TVAE(epochs=1, random_state=0).fit(frame, ["kind"], metadata=none)
    assert off.metadata_.dependencies == []
    assert off.transformer_.column_names == list(frame.columns)  # every indicator modelled
    metadata = {"columns": {}, "dependencies": [{"type": "one_hot", "columns": AREA}]}
    declared = TVAE(epochs=1, random_state=0).fit(frame, ["kind"], metadata=metadata)
    assert declared.metadata_.dependencies == [{"type": "one_hot", "columns": AREA}]
    assert (declared.sample(200, random_state=0)[AREA].sum(axis=1) == 1).all()


def test_a_declared_group_that_does_not_hold_is_refused_before_training():
    frame = _dummies_frame()
    frame.loc[3, "soil_b"] = 1  # a row with two soils
    wrong = {"columns": {}, "dependencies": [{"type": "one_hot", "columns": SOIL}]}
    with pytest.raises(InvalidParameterError, match="exactly one of"):
        TVAE(epochs=1).fit(frame, ["kind"], metadata=wrong)
    not_indicator = {"columns": {}, "dependencies": [
        {"type": "one_hot", "columns": ["height", "soil_a"]}]}  # fmt: skip
    with pytest.raises(InvalidParameterError, match="'height' is not an indicator"):
        TVAE(epochs=1).fit(frame, ["kind"], metadata=not_indicator)
    clash = {"columns": {}, "dependencies": [
        {"type": "one_hot", "columns": AREA},
        {"type": "determines", "source": "kind", "target": "area_x"},
    ]}  # fmt: skip
    with pytest.raises(InvalidParameterError, match="one-hot group"):
        TVAE(epochs=1).fit(frame, ["kind"], metadata=clash)


def test_a_private_fit_refuses_a_declared_group():
    frame = _dummies_frame()
    metadata = {"columns": {}, "dependencies": [{"type": "one_hot", "columns": AREA}]}
    with pytest.raises(InvalidParameterError, match="one-hot group is not kept"):
        TVAE(epochs=1, epsilon=10.0).fit(frame, ["kind"], metadata=metadata)


def test_the_command_line_fits_inspects_and_conditions_on_a_member(tmp_path):
    from typer.testing import CliRunner

    from tvae.cli import app

    table, model, out = tmp_path / "dummies.csv", tmp_path / "m.tvae", tmp_path / "rows.csv"
    _dummies_frame().to_csv(table, index=False)
    runner = CliRunner()
    for args in (
        ["fit", table, "-o", model, "--epochs", "2", "--discrete", "kind", "-q"],
        ["sample", model, "-n", "200", "-o", out, "--where", "soil_d=1", "-q"],
    ):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["inspect", str(model)]).stdout
    assert "one of {soil_a, soil_b, soil_c, soil_d}" in shown
    assert "one of {area_x, area_y, area_z}" in shown
    rows = pd.read_csv(out)
    assert (rows["soil_d"] == 1).all() and (rows[SOIL].sum(axis=1) == 1).all()


# ---------------------------------------------------------------- at most one (allow_none)
HEALTH = ["health_good", "health_fair", "health_poor"]


def _reference_level_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Health as dummies with "excellent" as the omitted reference level (at most one of the
    three is 1), a number tied to it, and two rare flags that never meet by chance alone."""
    rng = np.random.default_rng(seed)
    health = rng.choice(["excellent", "good", "fair", "poor"], n, p=[0.45, 0.35, 0.15, 0.05])
    frame = pd.DataFrame({"visits": rng.poisson(2, n) + (health == "poor") * 6})
    for level in ("good", "fair", "poor"):
        frame[f"health_{level}"] = (health == level).astype(np.int64)
    frame["flag_a"] = np.isin(np.arange(n), [5, 40, 200]).astype(np.int64)
    frame["flag_b"] = np.isin(np.arange(n), [7, 90, 301, 500]).astype(np.int64)
    return frame


@pytest.fixture(scope="module")
def reference_level_model():
    frame = _reference_level_frame()
    return TVAE(epochs=5, random_state=0).fit(frame), frame


def test_groups_where_at_most_one_is_set_are_found_only_beyond_chance():
    frame = _reference_level_frame()
    kinds = dict.fromkeys(frame.columns, "numerical")
    groups = find_groups(frame, kinds)
    assert [(g.members, g.allow_none) for g in groups] == [(tuple(HEALTH), True)]
    # the two rare flags never meet either, but independent flags would meet 0.02 times here
    broken = frame.copy()
    broken.loc[broken.index[broken["health_good"] == 1][0], "health_poor"] = 1
    found = [(g.members, g.allow_none) for g in find_groups(broken, kinds)]
    assert found == [(("health_good", "health_fair"), True)]  # poor met good once


def test_every_sampled_row_has_at_most_one_member_set(reference_level_model):
    model, frame = reference_level_model
    item = {"type": "one_hot", "columns": HEALTH, "allow_none": True}
    assert item in model.metadata_.dependencies
    rows = model.sample(2000, random_state=1)
    assert list(rows.columns) == list(frame.columns)
    assert rows[HEALTH].sum(axis=1).max() == 1
    none_share = (rows[HEALTH].sum(axis=1) == 0).mean()
    assert abs(none_share - (frame[HEALTH].sum(axis=1) == 0).mean()) < 0.05
    assert np.abs(rows[HEALTH].mean() - frame[HEALTH].mean()).max() < 0.05


def test_conditions_on_a_member_of_a_group_that_allows_none(reference_level_model):
    model, _ = reference_level_model
    rows = model.sample(300, conditions={"health_fair": 1}, random_state=2)
    assert (rows["health_fair"] == 1).all() and (rows[HEALTH].sum(axis=1) == 1).all()
    rows = model.sample(300, conditions={"health_good": 0}, random_state=3)
    assert (rows["health_good"] == 0).all() and rows[HEALTH].sum(axis=1).max() == 1
    assert (rows[HEALTH].sum(axis=1) == 0).any()  # the reference level stays possible


def test_lowering_a_member_of_a_group_that_allows_none_sets_no_other():
    frame = _reference_level_frame()
    (group,) = find_groups(frame, dict.fromkeys(frame.columns, "numerical"))
    rows = frame.head(6).copy()
    rows[HEALTH] = [1, 0, 0]
    assign_member(rows, [group], "health_good", np.ones(6, dtype=bool), np.zeros(6), set())
    assert (rows[HEALTH].sum(axis=1) == 0).all()
    assign_member(rows, [group], "health_poor", np.ones(6, dtype=bool), np.ones(6), set())
    assert (rows["health_poor"] == 1).all() and (rows[HEALTH].sum(axis=1) == 1).all()


def test_a_declared_group_that_allows_none_is_checked_and_kept(tmp_path):
    frame = _reference_level_frame()
    item = {"type": "one_hot", "columns": HEALTH, "allow_none": True}
    metadata = {"columns": {}, "dependencies": [item]}
    declared = TVAE(epochs=1, random_state=0).fit(frame, metadata=metadata)
    assert declared.metadata_.dependencies == [item]
    declared.save(tmp_path / "m.tvae")
    assert TVAE.load(tmp_path / "m.tvae").metadata_.dependencies == [item]
    exact = {"columns": {}, "dependencies": [{"type": "one_hot", "columns": HEALTH}]}
    with pytest.raises(InvalidParameterError, match="allow_none"):
        TVAE(epochs=1).fit(frame, metadata=exact)
    not_flag = {"columns": {}, "dependencies": [{**item, "allow_none": "yes"}]}
    with pytest.raises(InvalidParameterError, match="'allow_none': true"):
        TVAE(epochs=1).fit(frame, metadata=not_flag)
    two = frame.copy()
    two.loc[0, HEALTH] = [1, 1, 0]
    with pytest.raises(InvalidParameterError, match="at most one of"):
        TVAE(epochs=1).fit(two, metadata={"columns": {}, "dependencies": [item]})


def test_inspect_says_at_most_one(reference_level_model, tmp_path):
    from typer.testing import CliRunner

    from tvae.cli import app

    model, _ = reference_level_model
    model.save(tmp_path / "m.tvae")
    shown = CliRunner().invoke(app, ["inspect", str(tmp_path / "m.tvae")]).stdout
    assert "at most one of {health_good, health_fair, health_poor}" in shown


def test_dummies_beside_their_own_column_are_derived_from_it():
    """A table that keeps the categorical column with its dummies: the two must agree."""
    frame = _dummies_frame(1000)
    frame["soil"] = np.array(list("abcd"))[frame[SOIL].to_numpy().argmax(axis=1)]
    model = TVAE(epochs=5, random_state=0).fit(frame, ["kind", "soil"])
    dependencies = model.metadata_.dependencies
    assert {"type": "one_hot", "columns": AREA} in dependencies  # no column gives the areas
    assert not any(d["type"] == "one_hot" and "soil_a" in d["columns"] for d in dependencies)
    assert {"type": "determines", "source": "soil", "target": "soil_b"} in dependencies
    rows = model.sample(1000, random_state=0)
    named = np.array(list("abcd"))[rows[SOIL].to_numpy().argmax(axis=1)]
    assert (named == rows["soil"]).all() and (rows[SOIL].sum(axis=1) == 1).all()


def test_a_member_that_another_column_determines_is_derived_from_it():
    frame = _reference_level_frame()
    frame["severity"] = np.where(frame["health_poor"] == 1, "high", "low")
    kinds = dict.fromkeys(frame.columns, "numerical") | {"severity": "categorical"}
    assert find_groups(frame, kinds) == []  # severity gives health_poor: no group
    model = TVAE(epochs=3, random_state=0).fit(frame, ["severity"])
    rows = model.sample(500, random_state=0)
    assert ((rows["severity"] == "high") == (rows["health_poor"] == 1)).all()
