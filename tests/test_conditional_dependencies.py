"""Conditions meet the dependencies they touch: a condition is never left unmet by a repair,
and the repairs keep every dependency of the conditioned rows."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.conditional.dependent import through_dependencies
from tvae.errors import ConditionError
from tvae.transformer.dependencies import Dependencies, Determination
from tvae.transformer.joint import JointDetermination

LIVE = {"A": "yes", "B": "yes", "C": "no", "D": "no"}
YEAR_OF_CODE = {"A": 94, "B": 95, "C": 94, "D": 95}
YEAR_OF_BELT = {"s94a": 94, "s94b": 94, "s95": 95}


def _moves(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """census in small: ``code`` derives ``live`` and also determines ``year``, which
    ``belt`` (fewer values) derives; so ``code`` -> ``year`` is a check."""
    rng = np.random.default_rng(seed)
    code = rng.choice(list(LIVE), n)
    belt = np.where(pd.Series(code).map(YEAR_OF_CODE) == 94, rng.choice(["s94a", "s94b"], n), "s95")
    frame = pd.DataFrame({"code": code, "belt": belt, "noise": rng.normal(size=n)})
    frame["live"] = frame["code"].map(LIVE)
    frame["year"] = frame["belt"].map(YEAR_OF_BELT)
    return frame


@pytest.fixture(scope="module")
def moves_model() -> TVAE:
    return TVAE(epochs=2, batch_size=400, random_state=0).fit(_moves())


def _keeps(rows: pd.DataFrame) -> bool:
    return bool(
        (rows["live"] == rows["code"].map(LIVE)).all()
        and (rows["year"] == rows["code"].map(YEAR_OF_CODE)).all()
        and (rows["year"] == rows["belt"].map(YEAR_OF_BELT)).all()
    )


def test_a_condition_on_a_derived_column_holds_with_every_dependency(moves_model):
    deps = moves_model.transformer_.dependencies
    assert [(d.source, d.target) for d in deps.checks] == [("code", "year")]
    rows = moves_model.sample(400, conditions={"live": "yes"}, random_state=1)
    assert (rows["live"] == "yes").all() and _keeps(rows)
    rows = moves_model.sample(400, conditions={"code": "B"}, random_state=2)
    assert (rows["code"] == "B").all() and (rows["belt"] == "s95").all() and _keeps(rows)


def test_conditions_a_pair_cannot_meet_together_are_an_error():
    rng = np.random.default_rng(0)
    n = 600
    siblings = rng.choice([0, 1, 2], n, p=[0.6, 0.3, 0.1])
    parents = rng.choice([0, 1], n, p=[0.7, 0.3])
    alone = np.where((siblings == 0) & (parents == 0), "yes", "no")
    frame = pd.DataFrame({"siblings": siblings, "parents": parents, "alone": alone})
    model = TVAE(epochs=1, batch_size=300, random_state=0).fit(frame)
    with pytest.raises(ConditionError, match="cannot be met together"):
        model.sample(5, conditions={"alone": "yes", "siblings": 1})
    rows = model.sample(50, conditions={"alone": "yes"}, random_state=3)
    assert (rows["siblings"] == 0).all() and (rows["parents"] == 0).all()


def test_a_frame_of_conditions_keeps_each_rows_condition_and_every_dependency(moves_model):
    known = pd.DataFrame({"live": ["yes", "no", "yes", "no"] * 50})
    rows = moves_model.sample(conditions=known, random_state=4)
    assert rows["live"].tolist() == known["live"].tolist() and _keeps(rows)


def test_an_empty_cell_of_a_frame_of_conditions_leaves_its_column_to_the_repairs(moves_model):
    # rows that ask nothing of ``code`` get it moved onto their year like any sampled row;
    # census: a row asking only a migration code got its newborn's age moved, not its code
    known = pd.DataFrame({"code": ["B", None, "C", None] * 60})
    rows = moves_model.sample(conditions=known, random_state=5)
    asked = known["code"].notna().to_numpy()
    assert rows["code"][asked].tolist() == known["code"][asked].tolist()
    assert _keeps(rows)


def _people(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """titanic in small: ``age`` (in half years) and ``male`` determine ``who``; no training
    row is 24.5 years old, and no training woman 37."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.integers(2, 120, n) / 2, "male": rng.random(n) < 0.5})
    frame["who"] = np.where(frame["age"] < 16, "child", np.where(frame["male"], "man", "woman"))
    unseen = (frame["age"] == 24.5) | ((frame["age"] == 37) & ~frame["male"])
    return frame[~unseen].reset_index(drop=True)


def test_a_number_no_real_pair_holds_reads_as_the_nearest_one():
    model = TVAE(epochs=2, batch_size=500, random_state=0).fit(_people())
    assert [(j.sources, j.target) for j in model.transformer_.dependencies.joint] == [
        (("age", "male"), "who")
    ]
    rows = model.sample(40, conditions={"age": 24.5}, random_state=1)
    assert (rows["age"] == 24.5).all() and set(rows["who"]) <= {"man", "woman"}
    rows = model.sample(40, conditions={"age": 37, "male": False}, random_state=2)
    assert (rows["who"] == "woman").all()
    with pytest.raises(ConditionError, match="cannot be met together"):  # real pairs say no
        model.sample(5, conditions={"age": 30, "who": "child"})


def test_a_row_one_pair_column_contradicts_is_read_without_that_columns_narrowing():
    """census: the training rows hold no mover of 80, so ``age`` 80 alone would narrow
    ``live`` to "yes", which a mover's code contradicts; that row is read without it (its
    80 then reads as the nearest age that moved), and the others keep it."""
    deps = Dependencies(
        determinations=[Determination("region", "live", ["home", "away"], ["yes", "no"], [9, 9])],
        checks=[Determination("code", "live", ["same", "moved"], ["yes", "no"], [9, 9])],
        joint_checks=[
            JointDetermination(
                ("age", "belt"), "live", keys=[(80, "none"), (30, "none"), (30, "south")],
                values=["yes", "yes", "no"], counts=[5, 9, 4],
            )
        ],
    )  # fmt: skip
    kinds = {"region": "categorical", "code": "categorical", "live": "categorical",
             "age": "numerical", "belt": "categorical"}  # fmt: skip
    transformer = SimpleNamespace(
        dependencies=deps, columns=[SimpleNamespace(name=n, kind=k) for n, k in kinds.items()]
    )
    asked = pd.DataFrame({"age": [80, 30, 30], "code": ["moved", "moved", "same"]}, dtype=object)
    moved = through_dependencies(transformer, asked)
    assert moved[["age", "code"]].equals(asked)
    assert moved["belt"].tolist() == ["south", "south", "none"]
    assert moved["region"].tolist() == ["away", "away", "home"]  # where "live" comes from
    with pytest.raises(ConditionError):  # a pair both columns name still holds
        through_dependencies(transformer, {"age": 80, "belt": "none", "code": "moved"})


def test_a_condition_that_only_a_missing_source_gives_asks_the_source_to_be_missing():
    """student_placements: ``duration`` is missing exactly where ``placed`` is False, so
    ``placed`` False asks ``duration`` to be missing (a frame's rows were left unmet)."""
    rng = np.random.default_rng(0)
    placed = rng.random(600) < 0.7
    duration = np.where(placed, rng.choice([3.0, 6.0, 12.0], 600), np.nan)
    frame = pd.DataFrame({"duration": duration, "placed": placed, "score": rng.normal(size=600)})
    model = TVAE(epochs=2, batch_size=300, random_state=0).fit(frame)
    assert {"type": "determines", "source": "duration", "target": "placed"} in (
        model.metadata_.dependencies
    )
    rows = model.sample(50, conditions={"placed": False}, random_state=1)
    assert (~rows["placed"]).all() and rows["duration"].isna().all()
    known = pd.DataFrame({"placed": [False, None, True] * 20})
    rows = model.sample(conditions=known, random_state=2)
    assert (
        rows["placed"].tolist()[::3] == [False] * 20
        and rows["placed"].tolist()[2::3] == [True] * 20
    )
    assert rows["duration"].isna().tolist() == (~rows["placed"]).tolist()


def test_a_conditioned_number_no_real_row_holds_stays_and_derives_as_the_nearest():
    """anes96: ``popul`` determines ``logpopul``; a condition on a population no training row
    holds was moved to the nearest real one (17 came back as 16)."""
    rng = np.random.default_rng(0)
    popul = rng.choice(np.arange(0, 60, 2), 800).astype(float)  # even populations only
    frame = pd.DataFrame({"popul": popul, "logpopul": np.log(popul + 0.1)})
    model = TVAE(epochs=2, batch_size=400, random_state=0).fit(frame)
    assert {"type": "determines", "source": "popul", "target": "logpopul"} in (
        model.metadata_.dependencies
    )
    rows = model.sample(30, conditions={"popul": 17}, random_state=1)
    assert (rows["popul"] == 17).all()
    assert rows["logpopul"].isin([np.log(16.1), np.log(18.1)]).all()
    # popul is drawn only at its real values (each an exact mode): 17.3 is drawn as 18, the
    # nearest, and comes back as asked; a range holding none of them is refused at once
    rows = model.sample(10, conditions={"popul": 17.3}, random_state=1)
    assert (rows["popul"] == 17.3).all() and (rows["logpopul"] == np.log(18.1)).all()
    with pytest.raises(ConditionError, match=r"'popul' is drawn only .*nearest: 16 and 18"):
        model.sample(10, conditions={"popul": (16.5, 17.5)})


def test_a_label_a_numbers_scattered_values_determine_is_a_condition_like_any_other():
    """A panel's county-level number (Crime's pctmin) determines its region, each region's
    values scattered among the others': a condition on the region was an error ("condition
    on pctmin instead"). The number is now held to the region's values, the region's own
    condition stays, and the rows are the region's."""
    rng = np.random.default_rng(0)
    counties = 60
    share = np.round(rng.permutation(counties) * 0.8 + 0.3, 1)  # distinct, scattered
    region = rng.choice(["central", "west", "other"], counties)
    rate_of = {"central": 3.0, "west": 1.0, "other": 2.0}
    county = np.repeat(np.arange(counties), 8)  # eight years each
    frame = pd.DataFrame(
        {"share": share[county], "region": region[county], "year": np.tile(np.arange(8), counties)}
    )
    frame["rate"] = frame["region"].map(rate_of) + rng.normal(0, 0.2, len(frame))
    model = TVAE(random_state=0).fit(frame)
    assert {"type": "determines", "source": "share", "target": "region"} in (
        model.metadata_.dependencies
    )
    region_of = dict(zip(frame["share"], frame["region"], strict=False))
    for asked in ("central", "west"):
        rows = model.sample(300, conditions={"region": asked}, random_state=1)
        assert (rows["region"] == asked).all()
        assert (rows["share"].map(region_of) == asked).all()  # real values of the region
        assert abs(rows["rate"].mean() - rate_of[asked]) < 0.5  # the region's rows
    asked = frame[["region"]].sample(40, random_state=0).reset_index(drop=True)
    rows = model.sample(conditions=asked, random_state=2)
    assert (rows["region"].to_numpy() == asked["region"].to_numpy()).all()
    assert (rows["share"].map(region_of) == rows["region"]).all()


def test_a_checked_source_asked_within_a_range_moves_within_it_to_keep_its_targets():
    """Fishing: ``cboat`` (a catch rate of few values) determines ``cbeach``, which ``cpier``
    derives. ``cboat`` asked within a range was held there, and the repair that keeps
    ``cboat -> cbeach`` left it alone: half the rows broke it. It now moves within the range."""
    rng = np.random.default_rng(0)
    n = 1200
    tiers = {"p1": "low", "p2": "low", "p3": "mid", "p4": "mid", "p5": "high", "p6": "high"}
    rates = {
        "low": [0.011, 0.017, 0.023, 0.029, 0.031, 0.037],
        "mid": [0.041, 0.047, 0.053, 0.059, 0.061, 0.067],
        "high": [0.071, 0.077, 0.083, 0.089, 0.091, 0.097],
    }
    plan = rng.choice(list(tiers), n)
    tier = pd.Series(plan).map(tiers).to_numpy()
    rate = np.array([rng.choice(rates[t]) for t in tier])
    table = pd.DataFrame({"plan": plan, "tier": tier, "rate": rate, "x": rng.normal(size=n)})
    model = TVAE(epochs=3, random_state=0).fit(table)
    deps = model.transformer_.dependencies
    assert [(d.source, d.target) for d in deps.checks] == [("rate", "tier")]
    rows = model.sample(300, conditions={"rate": (0.02, 0.05)}, random_state=3)
    tier_of = {value: name for name, values in rates.items() for value in values}
    assert rows["rate"].between(0.02, 0.05).all()
    assert (rows["rate"].map(tier_of) == rows["tier"]).all()


def test_a_number_that_determines_another_asked_within_a_range_takes_real_values():
    """epil's ``base`` determines its log: asked within a range, it was drawn at values no
    real row holds (15), kept there, and its target taken from the nearest (14)."""
    rng = np.random.default_rng(0)
    sizes = [6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 22, 25, 28, 31, 36, 42, 50]
    size = rng.choice(sizes, 600)
    table = pd.DataFrame(
        {"size": size, "lsize": np.round(np.log(size) - 3.154, 6), "load": rng.random(600)}
    )
    fitted = TVAE(epochs=3, random_state=0).fit(table)
    assert {"type": "determines", "source": "size", "target": "lsize"} in (
        fitted.metadata_.dependencies
    )
    for low, high in ((11, 18), (21, 40)):
        rows = fitted.sample(300, conditions={"size": (low, high)}, random_state=1)
        assert rows["size"].between(low, high).all() and rows["size"].isin(sizes).all()
        assert (rows["lsize"] == np.round(np.log(rows["size"]) - 3.154, 6)).all()


def test_a_frame_asking_a_set_in_some_rows_and_a_range_in_others_meets_both():
    """medpar's ``type`` (1, 2, 3) determines three indicators. In a frame, ``k2`` = 0 asks
    ``kind`` for {1, 3} and ``k3`` = 0 for the range [1, 2]: the frame's ranges replaced its
    sets, so rows asking ``k2`` = 0 drew ``kind`` 2 and came back with ``k2`` = 1 (8.5 %)."""
    rng = np.random.default_rng(0)
    kind = rng.choice([1, 2, 3], 900, p=[0.6, 0.25, 0.15])
    table = pd.DataFrame({f"k{k}": (kind == k).astype(int) for k in (1, 2, 3)})
    table["kind"], table["stay"] = kind, rng.gamma(2, 3, 900).round(0).astype(int)
    fitted = TVAE(epochs=3, random_state=0).fit(table)
    asked = pd.DataFrame({"k2": [0, None, 1, 0] * 50, "k3": [None, 0, None, 1] * 50}, dtype=object)
    rows = fitted.sample(conditions=asked, random_state=3).reset_index(drop=True)
    for column in ("k2", "k3"):
        held = asked[column].notna()
        assert (rows.loc[held, column] == asked.loc[held, column].astype(int)).all(), column
    for k in (1, 2, 3):
        assert (rows[f"k{k}"] == (rows["kind"] == k)).all()


def test_a_label_asked_of_rare_values_of_a_wide_categorical_meets_its_condition():
    """SumHes: ``country`` (125 values: past the 100 kept, the rest share one slot)
    determines ``com``, "yes" for five countries. ``{"com": "yes"}`` asks ``country`` for
    those five; drawn into the shared slot, a country came back from all its values, and
    ``com`` = "yes" held in 52 % of rows (28 % here)."""
    rng = np.random.default_rng(0)
    countries = [f"c{i:03d}" for i in range(125)]
    bloc = {c: "yes" if i >= 118 else "no" for i, c in enumerate(countries)}
    names = np.repeat(countries, 12)
    table = pd.DataFrame(
        {"country": names, "com": pd.Series(names).map(bloc), "gdp": rng.gamma(2, 3, len(names))}
    )
    fitted = TVAE(epochs=2, random_state=0).fit(table)
    rows = fitted.sample(400, conditions={"com": "yes"}, random_state=1)
    assert (rows["com"] == "yes").all()
    assert rows["country"].map(bloc).eq("yes").all() and rows["country"].nunique() > 1
    asked = pd.DataFrame({"com": ["yes", None, "no"] * 40}, dtype=object)
    rows = fitted.sample(conditions=asked, random_state=1).reset_index(drop=True)
    held = asked["com"].notna()
    assert (rows.loc[held, "com"] == asked.loc[held, "com"]).all()
