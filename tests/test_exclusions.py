"""Value pairs no real row holds (a female husband) are found in ``fit`` and never sampled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.exclusions import MIN_EXPECTED_ROWS, Exclusion, find_exclusions


def _household(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Husbands are men and wives women; children and others either; a rare role that never
    meets the rare region, as chance alone would allow."""
    rng = np.random.default_rng(seed)
    role = rng.choice(["husband", "wife", "child", "other"], n, p=[0.4, 0.2, 0.3, 0.1])
    anyone = rng.choice(["M", "F"], n)
    sex = np.where(role == "husband", "M", np.where(role == "wife", "F", anyone))
    region = rng.choice(["north", "south", "east"], n, p=[0.6, 0.39, 0.01])
    region[(role == "other") & (region == "east")] = "north"
    age = rng.normal(40, 12, n) - (role == "child") * 25
    return pd.DataFrame({"role": role, "age": age.round(1), "sex": sex, "region": region})


def test_empty_cells_count_only_beyond_chance():
    codes = np.array([[0, 0], [0, 0], [1, 1], [1, 1]] * 10)  # 40 rows, two spans of width 2
    # independence would put 10 rows in each empty cell: both count
    assert find_exclusions(codes, [2, 2], [0, 1]) == [Exclusion(0, 1, ((0, 1), (1, 0)))]
    assert MIN_EXPECTED_ROWS == 10
    assert find_exclusions(codes[:36], [2, 2], [0, 1]) == []  # 9 expected: not enough
    assert find_exclusions(codes, [2, 2], [0]) == []  # one span: no pair


@pytest.fixture(scope="module")
def household_model():
    frame = _household()
    return TVAE(epochs=10, random_state=0).fit(frame), frame


def test_sampled_rows_never_hold_a_pair_no_real_row_holds(household_model):
    model, frame = household_model
    cells = sum(len(e.cells) for e in model.transformer_.exclusions)
    assert cells == 2  # husband-F and wife-M; the rare role and region are left alone
    rows = model.sample(3000, random_state=1)
    assert not ((rows["role"] == "husband") & (rows["sex"] == "F")).any()
    assert not ((rows["role"] == "wife") & (rows["sex"] == "M")).any()
    for column in ("role", "sex"):  # one value of a broken pair moves: the rates stay close
        real = frame[column].value_counts(normalize=True)
        drawn = rows[column].value_counts(normalize=True).reindex(real.index, fill_value=0)
        assert (drawn - real).abs().max() < 0.05, column


def test_conditions_keep_the_exclusions_and_win_over_them(household_model):
    model, _ = household_model
    women = model.sample(500, conditions={"sex": "F"}, random_state=2)
    assert (women["sex"] == "F").all() and not (women["role"] == "husband").any()
    husbands = model.sample(200, conditions={"role": "husband"}, random_state=3)
    assert (husbands["sex"] == "M").all()
    asked = model.sample(20, conditions={"role": "husband", "sex": "F"}, random_state=4)
    assert (asked["role"] == "husband").all() and (asked["sex"] == "F").all()  # as asked


def test_saved_model_keeps_them_and_no_dependencies_turns_them_off(household_model, tmp_path):
    model, frame = household_model
    model.save(tmp_path / "m.tvae")
    loaded = TVAE.load(tmp_path / "m.tvae")
    assert loaded.transformer_.exclusions == model.transformer_.exclusions
    again = loaded.sample(300, random_state=5)
    pd.testing.assert_frame_equal(again, model.sample(300, random_state=5))
    plain = TVAE(epochs=1, random_state=0).fit(frame, metadata={"columns": {}, "dependencies": []})
    assert plain.transformer_.exclusions == []


def test_numbers_made_of_point_masses_take_part_in_exclusions():
    # a benefit paid (1 or 2) only to veterans; a number with smooth values stays out
    rng = np.random.default_rng(0)
    n = 1500
    veteran = rng.choice(["yes", "no"], n, p=[0.3, 0.7])
    benefit = np.where(veteran == "yes", rng.choice([0, 1, 2], n, p=[0.2, 0.4, 0.4]), 0)
    frame = pd.DataFrame({"veteran": veteran, "benefit": benefit, "age": rng.normal(45, 12, n)})
    model = TVAE(epochs=10, random_state=0).fit(frame, ["veteran"])
    assert sum(len(e.cells) for e in model.transformer_.exclusions) == 2  # no-1, no-2
    rows = model.sample(3000, random_state=1)
    assert not ((rows["veteran"] == "no") & (rows["benefit"] > 0)).any()
    assert set(rows["benefit"]) == {0, 1, 2}
    # a condition on the number stays as asked; the label moves instead
    paid = model.sample(300, conditions={"benefit": 2}, random_state=2)
    assert (paid["benefit"] == 2).all() and (paid["veteran"] == "yes").all()
