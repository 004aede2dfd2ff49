"""Columns modelled as another plus a learned difference (tvae.transformer.offsets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import ConditionError, InvalidParameterError
from tvae.transformer.offsets import Offset, find_offsets


def stays(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Hospital-like stays: a start date, an end 0-4 days later for short stays and 10-39 for
    long ones, the end also as text; a spot rate and a forward rate a few thousandths off."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2015-03-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
    kind = rng.choice(["short", "long"], n)
    days = np.where(kind == "short", rng.integers(0, 5, n), rng.integers(10, 40, n))
    end = start + pd.to_timedelta(days, unit="D")
    spot = rng.uniform(1, 2, n).round(4)
    forward = (spot + rng.normal(0, 0.004, n)).round(4)
    forward[rng.random(n) < 0.1] = np.nan  # quoted on some days only
    return pd.DataFrame(
        {
            "kind": kind,
            "start": start,
            "end": end,
            "end_text": end.strftime("%Y-%m-%d"),
            "spot": spot,
            "forward": forward,
            "other": rng.uniform(1, 2, n).round(4),
        }
    )


def test_columns_that_move_together_are_found_as_offsets():
    frame = stays()
    kinds = {"kind": "categorical", "start": "datetime", "end": "datetime",
             "end_text": "datetime", "spot": "numerical", "forward": "numerical",
             "other": "numerical"}  # fmt: skip
    found = find_offsets(frame, kinds)
    # a chain: end is start plus the length of stay, its text copy end plus 0, in the order
    # they decode; the forward rate is present only where the spot rate is: its base
    chain = [Offset("start", "end"), Offset("end", "end_text")]
    assert [o for o in found if o.base != "spot"] == chain
    assert Offset("spot", "forward") in found
    assert not any("other" in (o.base, o.column) for o in found)  # independent of the others
    # in another column order the same columns are linked, the first as the chain's start,
    # and a column's offset comes after the offset that makes it
    shuffled = frame[["end_text", "kind", "end", "start", "spot", "forward", "other"]]
    dates = [o for o in find_offsets(shuffled, kinds) if o.base != "spot"]
    assert sorted(o.column for o in dates) == ["end", "start"]  # end_text starts the chain
    assert all(o.base == "end_text" or o.base in [d.column for d in dates[:i]]
               for i, o in enumerate(dates))  # fmt: skip
    # a column present where its would-be base is missing has no base
    gaps = frame.assign(spot=frame["spot"].where(frame.index % 7 > 0))
    assert not any(o.column == "forward" for o in find_offsets(gaps, kinds))


def test_sampled_rows_keep_each_difference_within_the_real_ones(tmp_path):
    frame = stays()
    model = TVAE(epochs=20, random_state=0).fit(frame)
    assert {"type": "offset", "base": "end", "column": "end_text"} in model.metadata_.dependencies
    rows = model.sample(1_000, random_state=1)
    assert rows.dtypes.equals(frame.dtypes)
    length = (rows["end"] - rows["start"]).dt.days
    assert length.between(0, 39).all()
    assert (rows["end"].dt.strftime("%Y-%m-%d") == rows["end_text"]).all()
    spread = (rows["forward"] - rows["spot"]).std()
    assert spread < 3 * (frame["forward"] - frame["spot"]).std()
    assert rows["forward"].isna().mean() == pytest.approx(0.1, abs=0.05)
    assert rows["end"].min() >= frame["end"].min() and rows["end"].max() <= frame["end"].max()
    path = tmp_path / "model.tvae"
    model.save(path)
    assert TVAE.load(path).sample(300, random_state=2).equals(model.sample(300, random_state=2))


def test_inspect_shows_an_offset():
    from tvae.cli.render import _dependency_text

    item = {"type": "offset", "base": "start", "column": "end"}
    assert _dependency_text([item]) == "end = start + a learned difference"


def test_offsets_can_be_declared_or_switched_off():
    frame = stays().drop(columns="end_text")
    declared = [{"type": "offset", "base": "start", "column": "end"}]
    model = TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": declared})
    assert model.metadata_.dependencies == declared
    none = TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": []})
    assert none.metadata_.dependencies == []
    wrong = [
        ([{"type": "offset", "base": "start", "column": "spot"}], "two numerical or two datetime"),
        ([{"type": "offset", "base": "start", "column": "nope"}], "column names of train_data"),
        ([{"type": "offset", "base": "forward", "column": "spot"}], "where 'forward' is missing"),
        ([*declared, {"type": "offset", "base": "end", "column": "start"}], "back to itself"),
    ]
    for items, message in wrong:
        with pytest.raises(InvalidParameterError, match=message):
            TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": items})
    with pytest.raises(InvalidParameterError, match="offset from another"):
        TVAE(epochs=1, epsilon=10).fit(frame, metadata={"columns": {}, "dependencies": declared})


@pytest.fixture(scope="module")
def stay_model() -> TVAE:
    # the default schedule (about 5 s): a few given epochs do not learn the stays' lengths
    return TVAE(random_state=0).fit(stays(600).drop(columns="end_text"))


def test_a_condition_on_an_offset_column_is_met_and_keeps_the_learned_difference(stay_model):
    day = pd.Timestamp("2018-01-10")
    rows = stay_model.sample(300, conditions={"end": day}, random_state=0)
    assert (rows["end"] == day).all()
    length = (rows["end"] - rows["start"]).dt.days
    assert length.between(0, 39).all()
    # the base moved to the asked end minus the drawn length: short stays stay short (95 % of
    # the model's own rows, 46 % when the length was implied by a start drawn in range)
    assert (length[rows["kind"] == "short"] <= 9).mean() > 0.8
    ranged = stay_model.sample(200, conditions={"forward": (1.2, 1.3)}, random_state=0)
    assert ranged["forward"].between(1.2, 1.3).all()
    assert (ranged["forward"] - ranged["spot"]).abs().max() <= 0.02


def test_a_condition_on_both_columns_asks_the_network_for_the_difference(stay_model):
    start = pd.Timestamp("2018-01-01")
    long = stay_model.sample(
        200, conditions={"start": start, "end": start + pd.Timedelta(days=30)}, random_state=0
    )
    short = stay_model.sample(
        200, conditions={"start": start, "end": start + pd.Timedelta(days=2)}, random_state=0
    )
    assert (long["end"] - long["start"]).dt.days.eq(30).all()
    assert (long["kind"] == "long").mean() > 0.8 and (short["kind"] == "short").mean() > 0.8
    frame = pd.DataFrame(
        {
            "start": [start, None, start],
            "end": [start + pd.Timedelta(days=3), pd.Timestamp("2019-02-02"), None],
        }
    )
    rows = stay_model.sample(conditions=frame, random_state=0)
    assert rows["start"].iloc[0] == start and rows["end"].iloc[0] == frame["end"].iloc[0]
    assert rows["end"].iloc[1] == pd.Timestamp("2019-02-02") and rows["start"].iloc[2] == start
    assert (rows["end"] - rows["start"]).dt.days.between(0, 39).all()
    with pytest.raises(ConditionError, match="minus 'start' is 0 days"):
        stay_model.sample(5, conditions={"start": start, "end": start + pd.Timedelta(days=90)})


def test_a_repair_that_moves_one_column_of_a_pair_moves_the_other_with_it():
    """midwest: an order raised a county's population to its adults' count and left the
    population whose poverty is known 20,000 below it (25 % of rows outside the real gaps);
    the pair now moves together, and the orders still hold."""
    rng = np.random.default_rng(0)
    n = 400
    total = rng.uniform(1_000, 100_000, n).round()
    known = total - rng.uniform(5, 500, n).round()
    adults = (known * rng.uniform(0.5, 0.99, n)).round()
    frame = pd.DataFrame({"adults": adults, "total": total, "known": known})
    model = TVAE(epochs=2, random_state=0).fit(frame)  # a rough model: many repairs
    found = model.metadata_.dependencies
    assert {"type": "offset", "base": "total", "column": "known"} in found
    assert {"type": "order", "low": "adults", "high": "known"} in found
    rows = model.sample(2_000, random_state=0)
    gap = rows["known"] - rows["total"]
    assert gap.between(-500, -5).all()
    assert (rows["adults"] <= rows["known"]).all() and (rows["known"] <= rows["total"]).all()


def test_a_column_an_exact_dependency_derives_is_no_offset():
    """grouseticks' centred height is its height minus a constant, which a "determines"
    already keeps exactly; Car's prices are read by pairs that determine other columns: an
    offset there would be drawn, then overwritten or moved by the repairs."""
    rng = np.random.default_rng(0)
    height = rng.integers(400, 440, 600).astype(float)
    frame = pd.DataFrame({"height": height, "centred": height - 421.5, "x": rng.normal(0, 1, 600)})
    found = TVAE(epochs=1).fit(frame).metadata_.dependencies
    assert {"type": "determines", "source": "height", "target": "centred"} in found
    assert not any(item["type"] == "offset" for item in found)


def test_a_condition_that_is_no_value_of_an_offset_column_names_it(stay_model):
    for asked in ({"end": "not a date"}, {"start": "2018-01-01", "end": "nope"}):
        with pytest.raises(ConditionError, match="'end'"):
            stay_model.sample(5, conditions=asked)
    with pytest.raises(ConditionError, match="'forward'"):
        stay_model.sample(5, conditions={"forward": "x"})


def test_a_frame_asking_an_offset_column_in_some_rows_holds_it_under_an_order():
    """volcano's V41, modelled as V16 plus a difference: a frame of real rows asked it where
    it asked nothing of V40, its condition moved onto V16's, and the rows stopped holding it;
    an order then raised it off its asked value (9 % of the rows here)."""
    rng = np.random.default_rng(0)
    spot = rng.uniform(100, 200, 600).round(0)
    forward = spot + rng.integers(-3, 4, 600)
    table = pd.DataFrame({
        "spot": spot, "forward": forward, "other": rng.uniform(1, 2, 600).round(3),
        "floor": np.minimum(forward, rng.uniform(80, 200, 600).round(0)),
    })  # fmt: skip
    fitted = TVAE(epochs=3, random_state=0).fit(table)
    listed = fitted.metadata_.dependencies
    assert {"type": "offset", "base": "spot", "column": "forward"} in listed
    assert {"type": "order", "low": "floor", "high": "forward"} in listed
    asked = table.sample(200, random_state=1)[["spot", "forward"]].astype(object)
    asked = asked.mask(np.random.default_rng(2).random(asked.shape) < 0.35, None)
    asked = asked[asked.notna().any(axis=1)].reset_index(drop=True)
    rows = fitted.sample(conditions=asked, random_state=3).reset_index(drop=True)
    for column in ("spot", "forward"):
        held = asked[column].notna()
        assert (rows.loc[held, column] == asked.loc[held, column].astype(float)).all(), column
    assert (rows["floor"] <= rows["forward"]).all()


def test_a_real_row_at_the_end_of_its_differences_is_not_refused():
    """freeny's ``lag.quarterly.revenue`` minus ``y`` is -0.0945 at its smallest, but
    8.81301 - 8.90751 is -0.09450000000000003 in floats, and that real row, asked, was refused
    as outside the real differences."""
    rng = np.random.default_rng(0)
    y = np.round(rng.uniform(8.7, 9.9, 200), 5)
    lag = np.round(y + rng.uniform(-0.09, 0.012, 200), 5)
    y[0], lag[0] = 8.90751, 8.81301
    table = pd.DataFrame({"y": y, "lag": lag, "price": rng.uniform(4, 5, 200).round(4)})
    fitted = TVAE(epochs=2, random_state=0).fit(table)
    assert fitted.metadata_.dependencies == [{"type": "offset", "base": "y", "column": "lag"}]
    rows = fitted.sample(conditions=table[["lag", "y"]], random_state=0)
    assert (rows["lag"].to_numpy() == lag).all() and (rows["y"].to_numpy() == y).all()


def test_real_rows_asking_a_float_column_and_its_base_are_met_exactly():
    """Forward's rates, each modelled as another plus a difference: a real row asking both
    asks the difference as a range of width zero, which the model drew as a range and found
    too unlikely (a ConditionError); it is asked as one value now."""
    rng = np.random.default_rng(0)
    spot = rng.uniform(1.0, 1.2, 300)
    forward = spot + rng.normal(0.005, 0.002, 300)
    table = pd.DataFrame({"spot": spot, "forward": forward, "other": rng.uniform(0, 1, 300)})
    fitted = TVAE(epochs=2, random_state=0).fit(table)
    assert fitted.metadata_.dependencies == [
        {"type": "offset", "base": "spot", "column": "forward"}
    ]
    rows = fitted.sample(conditions=table[["spot", "forward"]].head(40), random_state=0)
    assert (rows["spot"].to_numpy() == spot[:40]).all()
    assert (rows["forward"].to_numpy() == forward[:40]).all()
    rows = fitted.sample(20, conditions={"other": (0.5, 0.5)}, random_state=0)
    assert (rows["other"] == 0.5).all()  # any range of width zero asks its one value
