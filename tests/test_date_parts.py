"""Columns that are a calendar part of a date (its year, month, weekday, hour): found in
``fit``, listed in ``metadata_``, kept in every sampled and conditioned row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE, ConditionError, InvalidParameterError
from tvae.cli.render import _dependency_text
from tvae.transformer.date_moves import nearest_with_parts, row_limits, some_date_has, with_part


def _table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    when = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.uniform(0, 3 * 365, n), unit="D")
    when = pd.Series(when.floor("h"))
    return pd.DataFrame(
        {
            "ordered": when.dt.strftime("%Y-%m-%d %H:%M"),  # dates as text, as a CSV holds them
            "year": when.dt.year,
            "month": when.dt.month,
            "weekday": when.dt.day_name(),
            "hour": when.dt.hour,
            "amount": np.round(rng.lognormal(3, 1, n), 2),
        }
    )


def _parts_hold(rows: pd.DataFrame) -> bool:
    when = pd.to_datetime(rows["ordered"])
    return bool(
        (when.dt.year == rows["year"]).all()
        and (when.dt.month == rows["month"]).all()
        and (when.dt.day_name() == rows["weekday"]).all()
        and (when.dt.hour == rows["hour"]).all()
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[TVAE, pd.DataFrame]:
    frame = _table()
    return TVAE(epochs=10, random_state=0).fit(frame), frame


def test_parts_are_found_and_shown(fitted):
    model, _ = fitted
    parts = [d for d in model.metadata_.dependencies if d["type"] == "date_part"]
    assert {(d["target"], d["part"]) for d in parts} == {
        ("year", "year"), ("month", "month"), ("weekday", "day_name"), ("hour", "hour")
    }  # fmt: skip
    assert all(d["source"] == "ordered" for d in parts)
    assert "weekday = day_name(ordered)" in _dependency_text(parts)


def test_every_sampled_row_keeps_its_dates_parts(fitted):
    model, frame = fitted
    rows = model.sample(800, random_state=1)
    assert _parts_hold(rows)
    assert (rows.dtypes == frame.dtypes).all()


def test_a_conditioned_part_moves_its_date(fitted):
    model, _ = fitted
    rows = model.sample(100, conditions={"weekday": "Sunday", "month": 2}, random_state=2)
    assert (rows["weekday"] == "Sunday").all() and (rows["month"] == 2).all()
    assert _parts_hold(rows)
    known = pd.DataFrame({"hour": [3, None], "year": [2020, 2021]})
    rows = model.sample(conditions=known, random_state=3)
    assert rows["hour"].iloc[0] == 3 and list(rows["year"]) == [2020, 2021] and _parts_hold(rows)
    span = ("2020-04-01 00:00", "2020-06-30 23:00")  # Sundays within a range of dates
    rows = model.sample(60, conditions={"ordered": span, "weekday": "Sunday"}, random_state=4)
    assert (rows["weekday"] == "Sunday").all() and _parts_hold(rows)
    assert rows["ordered"].between(*span).all()
    with pytest.raises(ConditionError, match="'month' is the month of 'ordered'"):
        model.sample(5, conditions={"ordered": "2020-03-01 10:00", "month": 2})


def test_declared_parts_are_checked_kept_and_saved(fitted, tmp_path):
    model, frame = fitted
    again = TVAE(epochs=2, random_state=0).fit(frame, metadata=model.metadata_)
    assert again.metadata_.dependencies == model.metadata_.dependencies
    wrong = {"type": "date_part", "source": "ordered", "target": "hour", "part": "minute"}
    with pytest.raises(InvalidParameterError, match="'hour' is the minute of 'ordered'"):
        TVAE(epochs=1).fit(frame, metadata={"dependencies": [wrong]})
    with pytest.raises(InvalidParameterError, match="one of"):
        TVAE(epochs=1).fit(frame, metadata={"dependencies": [{**wrong, "part": "era"}]})
    model.save(tmp_path / "parts.tvae")
    loaded = TVAE.load(tmp_path / "parts.tvae")
    pd.testing.assert_frame_equal(
        loaded.sample(50, random_state=4), model.sample(50, random_state=4)
    )


def test_a_private_fit_keeps_a_declared_part():
    frame = _table(400)
    frame["ordered"] = pd.to_datetime(frame["ordered"]).dt.tz_localize("Europe/Paris")
    frame["hour"] = frame["ordered"].dt.hour  # the local hour
    part = {"type": "date_part", "source": "ordered", "target": "hour", "part": "hour"}
    model = TVAE(epochs=2, epsilon=10, random_state=0).fit(frame, metadata={"dependencies": [part]})
    rows = model.sample(300, random_state=1)
    present = rows["ordered"].notna()
    assert (rows.loc[present, "ordered"].dt.hour == rows.loc[present, "hour"]).all()


def test_a_date_moves_to_the_nearest_date_with_the_part():
    stamps = ["2020-02-29 10:30", "2021-04-15 00:00", "2021-03-03 23:00"]
    dates = pd.Series(pd.to_datetime(stamps))
    moved = with_part(dates, "year", pd.Series([2021, 2022, 2020]))
    expected = ["2021-02-28 10:30", "2022-04-15 00:00", "2020-03-03 23:00"]
    assert list(moved) == list(pd.to_datetime(expected))
    moved = with_part(dates, "day", pd.Series([31, 31, 1]))  # no 31st: the next month's
    assert list(moved.dt.strftime("%Y-%m-%d")) == ["2020-03-31", "2021-05-31", "2021-03-01"]
    moved = with_part(dates, "day_name", pd.Series(["Sunday", "Monday", "Wednesday"]))
    assert list(moved.dt.day_name()) == ["Sunday", "Monday", "Wednesday"]
    assert (abs(moved - dates) <= pd.Timedelta(days=3)).all()


def test_several_asked_parts_of_one_date_hold_together():
    # each part's own move undoes another's: Thursday 29 February 2024's nearest Sunday is in
    # March; no move by weekday gives a Friday the 13th; 23:00 nearest 01:00 is the day before
    dates = pd.Series(pd.to_datetime(["2024-02-29 12:00", "2021-05-20 08:00", "2020-01-15 01:00"]))
    asked = {
        "month": pd.Series([2, None, None]), "day_name": pd.Series(["Sunday", "Friday", None]),
        "day": pd.Series([None, 13, 15]), "hour": pd.Series([None, None, 23]),
    }  # fmt: skip
    for row, expected in enumerate(["2024-02-25 12:00", "2021-08-13 08:00", "2020-01-15 23:00"]):
        wanted = {part: v.iloc[[row]] for part, v in asked.items() if v.notna().iloc[row]}
        moved, found = nearest_with_parts(dates.iloc[[row]], wanted)
        assert found.all() and moved.iloc[0] == pd.Timestamp(expected)
    later = (pd.Timestamp("2020-04-01"), pd.Timestamp("2020-12-31"))  # not March 13th, 2020
    moved, found = nearest_with_parts(
        pd.Series([pd.Timestamp("2020-06-01 08:00")]),
        {"day": pd.Series([13]), "weekday": pd.Series([4])}, row_limits(later, 1),
    )  # fmt: skip
    assert found.all() and moved.iloc[0] == pd.Timestamp("2020-11-13 08:00")
    assert some_date_has({"day": 29, "month": 2, "day_name": "Sunday"})  # 2004, 2032, ...
    assert not some_date_has({"day": 30, "month": 2})
    assert some_date_has({"day": 13, "weekday": 4}, (pd.Timestamp("2020-04-01"), None))
    assert not some_date_has({"day": 13, "weekday": 4},
                             (pd.Timestamp("2020-04-01"), pd.Timestamp("2020-06-30")))  # fmt: skip


def test_asked_parts_no_date_has_are_refused(fitted):
    model, _ = fitted
    for asked in ({"month": 13}, {"hour": 24}, {"year": 2020.5}):
        with pytest.raises(ConditionError, match="no date has it"):
            model.sample(5, conditions=asked)
    april = ("2020-04-01 00:00", "2020-04-30 23:00")
    with pytest.raises(ConditionError, match="no date within 'ordered''s asked range"):
        model.sample(5, conditions={"ordered": april, "month": 5})
    rows = model.sample(40, conditions={"ordered": april, "weekday": "Sunday", "hour": 23},
                        random_state=5)  # fmt: skip
    assert _parts_hold(rows) and rows["ordered"].between(*april).all()
    assert (rows["weekday"] == "Sunday").all() and (rows["hour"] == 23).all()
    may = ("2020-05-01 00:00", "2020-05-31 23:00")  # a frame: each row its own range, or none
    asked = pd.DataFrame({"ordered": [april] * 10 + [may] * 10 + [None] * 5,
                          "weekday": ["Sunday"] * 10 + ["Monday"] * 15})  # fmt: skip
    rows = model.sample(conditions=asked, random_state=6)
    assert _parts_hold(rows) and list(rows["weekday"]) == list(asked["weekday"])
    assert rows["ordered"][:10].between(*april).all() and rows["ordered"][10:20].between(*may).all()


@pytest.mark.parametrize("kind", ["arrow", "python"])
def test_arrow_and_python_dates_keep_their_parts_and_their_type(kind):
    days = pd.Series(pd.date_range("2024-01-01", periods=400))
    cells = days.dt.date.astype("date32[pyarrow]" if kind == "arrow" else object)
    frame = pd.DataFrame({"day": cells, "month": days.dt.month})
    model = TVAE(epochs=3, random_state=0).fit(frame)
    rows = model.sample(100, conditions={"month": 3}, random_state=1)
    assert rows["day"].dtype == frame["day"].dtype
    assert (pd.to_datetime(rows["day"].astype(str)).dt.month == 3).all()
    assert kind == "arrow" or type(rows["day"].iloc[0]) is type(frame["day"].iloc[0])
