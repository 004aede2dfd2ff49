"""The transformer's DP statistics: within their stated error on known data, and no leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import InvalidParameterError
from tvae.privacy.accountant import Accountant
from tvae.privacy.declared import check_public, count_mechanisms, private_kinds
from tvae.privacy.releaser import Releaser, category_threshold
from tvae.privacy.statistics import OTHER, project, release_table

N = 100_000
NOISE = 20.0
# a noisy count is off by more than 4.5 noise with probability below 1e-5
TOLERANCE = (4.5 * NOISE + 1) / N


@pytest.fixture(scope="module")
def known() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue", "grey"], N, p=[0.5, 0.3, 0.15, 0.05]).astype(
        object
    )
    colour[:3] = "planted-rare-colour"  # 3 rows: far below the threshold
    amount = np.round(rng.normal(50, 10, N), 2)
    amount[rng.random(N) < 0.1] = np.nan
    count = np.where(rng.random(N) < 0.7, 0, rng.integers(1, 100, N))
    day = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, N), unit="D")
    return pd.DataFrame(
        {
            "colour": colour,
            "amount": amount,
            "count": count.astype(np.int64),
            "day": pd.Series(day),
            "flag": rng.random(N) < 0.25,
        }
    )


def release(frame: pd.DataFrame, public: dict | None = None):
    kinds, _ = private_kinds(frame, (), None)
    public = check_public(public, frame, kinds)
    accountant = Accountant()
    n_mechanisms, n_named = count_mechanisms(frame, kinds, public)
    releaser = Releaser(
        NOISE, np.random.default_rng(1), accountant, len(frame), category_threshold(NOISE, 1e-7)
    )
    surrogate = release_table(frame, kinds, public, releaser, np.random.default_rng(2))
    assert len(accountant.history) == n_mechanisms  # every mechanism counted before, recorded
    assert all(noise == NOISE and rate == 1.0 for _, noise, rate, _ in accountant.history)
    return surrogate, kinds, n_named


def test_kinds_come_from_dtypes_only(known):
    kinds, _ = private_kinds(known, (), None)
    assert kinds == {
        "colour": "categorical",
        "amount": "numerical",
        "count": "numerical",
        "day": "datetime",
        "flag": "boolean",
    }


def test_category_frequencies_within_error_and_rare_names_merged(known):
    surrogate, _, n_named = release(known)
    assert n_named == 1
    real = known["colour"].value_counts(normalize=True)
    fake = surrogate["colour"].value_counts(normalize=True)
    for colour in ("red", "green", "blue", "grey"):
        assert abs(fake[colour] - real[colour]) <= TOLERANCE
    assert "planted-rare-colour" not in set(surrogate["colour"])
    assert set(fake.index) <= {"red", "green", "blue", "grey", OTHER}


def test_numbers_within_error(known):
    surrogate, _, _ = release(known)
    real, fake = known["amount"], surrogate["amount"]
    assert abs(fake.isna().mean() - real.isna().mean()) <= TOLERANCE
    # the fine histogram's bins are (high - low) / 256 wide at most: quantiles move by about one
    width = (real.max() - real.min()) / 16  # the range is known within a power of two
    for q in (0.05, 0.5, 0.95):
        assert abs(fake.quantile(q) - real.quantile(q)) <= width / 4
    assert np.allclose(fake.dropna(), np.round(fake.dropna(), 2))  # two decimals found
    zero = (surrogate["count"] == 0).mean()
    assert abs(zero - (known["count"] == 0).mean()) <= TOLERANCE  # the point mass at 0 is exact
    assert surrogate["count"].dtype == np.int64
    assert surrogate["count"].between(0, 128).all()


def test_datetimes_and_booleans_within_error(known):
    surrogate, _, _ = release(known)
    days = surrogate["day"]
    assert days.min() >= pd.Timestamp("2020-01-01")
    assert days.max() < pd.Timestamp("2023-01-01")
    assert (days == days.dt.normalize()).all()  # the step (a day) is found
    assert abs(days.dt.year.eq(2021).mean() - known["day"].dt.year.eq(2021).mean()) < 0.02
    assert abs(surrogate["flag"].mean() - known["flag"].mean()) <= TOLERANCE
    assert surrogate["flag"].dtype == bool


def test_declared_facts_spend_nothing_on_names(known):
    public = {"colour": {"categories": ["red", "green", "blue", "grey", "violet"]},
              "amount": {"bounds": [0, 100]}}  # fmt: skip
    surrogate, kinds, n_named = release(known, public)
    assert n_named == 0
    assert count_mechanisms(known, kinds, check_public(public, known, kinds))[0] == (
        count_mechanisms(known, kinds, {})[0] - 1  # no range histogram for "amount"
    )
    assert surrogate["amount"].between(0, 100).all() or surrogate["amount"].isna().any()
    assert "violet" not in set(surrogate["colour"])  # declared, but no row holds it


def test_projection_maps_unreleased_values(known):
    surrogate, kinds, _ = release(known)
    projected = project(known, surrogate, kinds)
    assert "planted-rare-colour" not in set(projected["colour"])
    assert set(projected["colour"]) <= set(surrogate["colour"])
    pd.testing.assert_series_equal(projected["amount"], known["amount"], check_dtype=False)


def test_what_would_copy_rows_is_refused():
    frame = pd.DataFrame({"key": range(50), "x": np.arange(50.0), "when": ["2020-01-01"] * 50})
    with pytest.raises(InvalidParameterError, match="'key' is an ID column"):
        private_kinds(frame, (), {"key": "id"})
    with pytest.raises(InvalidParameterError, match=r"pd\.to_datetime"):
        private_kinds(frame, (), {"when": "datetime"})
    with pytest.raises(InvalidParameterError, match="bounds"):
        check_public({"x": {"bounds": [3, 1]}}, frame, {"x": "numerical"})


def test_a_released_range_is_not_stretched_by_noise_alone():
    # 1..16 held by 4,000 rows: noise in one of the 169 empty power-of-two bins must not pass
    # for data (a bin at 2^55 once made a 1..16 column come back as 10^14)
    from tvae.privacy.statistics import _coarse_numeric_range

    values = np.random.default_rng(0).integers(1, 17, 4_000).astype(float)
    highs = [
        _coarse_numeric_range(
            values, Releaser(6.0, np.random.default_rng(seed), Accountant(), 4_000), "x"
        )[1]
        for seed in range(500)
    ]
    assert max(highs) <= 32.0


def test_a_range_the_noise_hides_is_refused_not_drawn_from_noise():
    # 36 counts spread over ten powers of two: at epsilon 3 no bin stands out of the noise, and
    # the range used to be the noisiest bin's, anywhere in 2^-20..2^64 (values near -3e17)
    frame = pd.DataFrame({"freq": np.geomspace(7, 2357, 36).round(), "x": ["a", "b"] * 18})
    frame["also"] = frame["freq"] * 3
    with pytest.raises(
        InvalidParameterError, match=r"columns \['freq', 'also'\].*'freq': \{'bounds'"
    ):
        TVAE(epsilon=3.0, epochs=1, random_state=0).fit(frame)  # every such column, at once
    frame = frame.drop(columns="also")
    public = {"freq": {"bounds": [0, 2500]}}
    rows = TVAE(epsilon=3.0, epochs=1, random_state=0, public=public).fit(frame).sample(200)
    assert rows["freq"].between(0, 2500).all()


def test_a_column_with_no_missing_cell_is_released_without_any():
    # a two-valued label's missing bin was one of three bins under the fine floor (2.1 noise
    # standard deviations), so noise alone gave 1 in 60 complete columns missing cells
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"yes": rng.choice(["y", "n"], 400).astype(object),
                          "x": rng.normal(10, 2, 400)})  # fmt: skip
    kinds = {"yes": "categorical", "x": "numerical"}
    with_missing = 0
    for seed in range(300):
        releaser = Releaser(5.0, np.random.default_rng(seed), Accountant(), 400, 30.0)
        surrogate = release_table(frame, kinds, {}, releaser, np.random.default_rng(seed))
        with_missing += int(surrogate.isna().any().any())
    assert with_missing == 0
    # a missing rate clearly above the noise is still released
    holed = frame.assign(yes=frame["yes"].where(rng.random(400) > 0.2))
    releaser = Releaser(5.0, np.random.default_rng(0), Accountant(), 400, 30.0)
    surrogate = release_table(holed, kinds, {}, releaser, np.random.default_rng(0))
    assert 0.1 < surrogate["yes"].isna().mean() < 0.3


def test_a_column_with_no_value_at_all_needs_no_range():
    # an all-missing column (Ecdat's Bwages 'sex') has no range to find: it stays missing
    rng = np.random.default_rng(0)
    never = pd.Series(pd.NaT, index=range(300), dtype="datetime64[ns]")
    frame = pd.DataFrame({"x": rng.normal(10, 2, 300), "sex": np.nan, "when": never})
    rows = TVAE(epsilon=3.0, epochs=1, random_state=0).fit(frame).sample(100)
    assert rows["sex"].isna().all() and rows["when"].isna().all()


def test_a_range_under_the_strict_floor_takes_the_fullest_run_of_bins():
    from tvae.privacy.statistics import _range_bins

    releaser = Releaser(5.0, np.random.default_rng(0), Accountant(), 300)  # floors 28.5, 17.2
    noisy = np.zeros(169)
    noisy[[99, 100, 101, 20]] = [18.0, 25.0, 3.0, 27.0]  # bin 20: far off, noise alone
    assert list(_range_bins(noisy, releaser)) == [99, 100]
    noisy[[99, 100, 20]] = 16.0  # the largest bin is no more than noise
    assert _range_bins(noisy, releaser) is None


def test_a_column_whose_few_values_are_under_the_noise_comes_back_missing():
    # boot's neuro: 40 of 469 values present in one column; at epsilon 3 none of its fine bins
    # stood out, the surrogate held only missing cells, and the real rows' values then had no
    # code ("values never seen in fit") when DP-SGD encoded them
    rng = np.random.default_rng(0)
    rare = np.full(469, np.nan)
    rare[:40] = rng.uniform(-250, -197, 40).round(1)
    frame = pd.DataFrame({"rare": rare, "x": rng.normal(size=469), "y": rng.normal(size=469)})
    rows = TVAE(epsilon=3.0, epochs=1, random_state=0).fit(frame).sample(200)
    assert rows["rare"].isna().all() and rows["x"].notna().all()
