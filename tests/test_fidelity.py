"""Fidelity features: point masses and gaps, exact dependencies, the learned latent prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tvae import TVAE
from tvae.errors import ConditionError, InvalidParameterError
from tvae.gaussian_mixture import fit_mixture
from tvae.prior import MixturePrior, StandardPrior
from tvae.transformer.continuous import ModeNormalizer
from tvae.transformer.datetime import DatetimeColumn
from tvae.transformer.dependencies import Dependencies, Determination, Order
from tvae.transformer.dtypes import DtypeInfo
from tvae.transformer.numerical import NumericalColumn
from tvae.transformer.point_masses import point_masses


def _zero_inflated(n: int = 2000, seed: int = 0) -> np.ndarray:
    """92 % zeros, the rest spread over [114, 5000]: capital-gain's shape."""
    rng = np.random.default_rng(seed)
    values = np.where(rng.random(n) < 0.92, 0.0, rng.uniform(114, 5000, n).round())
    return values


def test_point_masses_are_the_frequent_values_most_frequent_first():
    values = np.array([0.0] * 50 + [40.0] * 30 + list(np.arange(1.0, 21.0)))
    assert point_masses(values).tolist() == [0.0, 40.0]
    assert point_masses(np.arange(1000.0)).size == 0  # no value repeats: none


def test_spikes_on_a_lattice_are_point_masses_and_ordinal_values_are_not():
    rng = np.random.default_rng(0)
    # cumulated wind speed: a few lattice values hold most rows, a long smooth tail the rest
    lattice = rng.choice([0.89, 1.79, 3.13, 4.92], 4000, p=[0.4, 0.3, 0.2, 0.1])
    tail = rng.uniform(5, 200, 2000).round(2)
    wind = np.r_[lattice, tail, np.full(40, 7.15)]  # 7.15: 0.7 % of rows, nothing near it
    found = point_masses(wind, step=0.01)
    assert set(found.tolist()) == {0.89, 1.79, 3.13, 4.92, 7.15}
    assert point_masses(np.r_[lattice, tail, np.full(15, 7.15)], step=0.01).size == 4  # 15 rows
    # ages: every value holds 1-3 % of rows, about as many as its neighbours: none stands out
    ages = rng.normal(40, 12, 6000).round()
    assert point_masses(ages, step=1.0).size == 0
    # without a grid (full float precision) a value has no neighbours: only frequent ones count
    smooth = np.r_[rng.normal(0, 1, 6000), np.full(40, 0.123456789), np.full(400, 2.5)]
    assert point_masses(smooth, step=None).tolist() == [2.5]


def test_a_spike_beside_larger_spikes_stands_out_from_its_smooth_neighbours():
    rng = np.random.default_rng(1)
    # hours worked: 40 in half the rows, 45 and 50 frequent too, spikes at 60 and 65, a
    # smaller one at 55 whose window 60 and 65 dominate, and a smooth spread of whole hours
    hours = np.r_[
        np.full(5000, 40.0),
        np.full(900, 50.0),
        np.full(600, 45.0),
        np.full(480, 60.0),
        np.full(400, 65.0),
        np.full(200, 55.0),
        rng.integers(1, 100, 3000).astype(float),
    ]
    found = point_masses(hours, step=1.0)
    assert sorted(found.tolist()) == [40.0, 45.0, 50.0, 55.0, 60.0, 65.0]  # no smooth hour


def test_codes_among_the_rows_off_zero_are_spikes():
    rng = np.random.default_rng(2)
    # capital gains: 0 in 92 % of rows; the rest spread over 114-4999, and three codes each
    # held by 30 rows: 0.15 % of all rows, but 2 % of the rows the mixture models
    gains = np.r_[
        np.zeros(18400),
        rng.integers(114, 5000, 1510).astype(float),
        np.repeat([2174.0, 3103.0, 4386.0], 30),
    ]
    assert sorted(point_masses(gains, step=1.0).tolist()) == [0.0, 2174.0, 3103.0, 4386.0]
    # the same 30 rows in a column without a frequent value are not spikes
    spread = np.r_[rng.integers(114, 5000, 19910).astype(float), np.repeat([2174.0], 30)]
    assert 2174.0 not in point_masses(spread, step=1.0).tolist()


def test_daily_dates_are_not_spikes_but_a_default_date_is():
    days = pd.Series(pd.date_range("2020-01-01", periods=150, freq="D").repeat(40))
    days = pd.concat([days, pd.Series([pd.Timestamp("2019-01-01")] * 45)], ignore_index=True)
    column = DatetimeColumn.fit(
        "day", DtypeInfo.of(days), days, days, seed=0, max_clusters=10, weight_threshold=0.005
    )
    points = column.numbers.normalizer.points
    assert points.tolist() == [pd.Timestamp("2019-01-01").value / 1e9]


def test_exact_modes_decode_to_their_value_and_gaps_stay_empty():
    values = _zero_inflated()
    column = NumericalColumn.fit(
        "gain", DtypeInfo("float64"), values, values, seed=0, max_clusters=10,
        weight_threshold=0.005,
    )  # fmt: skip
    normalizer = column.normalizer
    assert normalizer.points.tolist() == [0.0]
    alphas, codes = column.transform_numbers(values, np.random.default_rng(0))
    zero_mode = int(np.flatnonzero(normalizer.exact)[0])
    assert (codes[values == 0, 0] == zero_mode).all()
    assert (alphas[values == 0, 0] == 0).all()
    # whatever alpha the decoder produces, the exact mode decodes to 0 exactly
    noisy = np.random.default_rng(1).uniform(-1, 1, (100, 1))
    assert (column.inverse_numbers(noisy, np.full((100, 1), zero_mode)) == 0).all()
    # mixture modes never land in the gap (0, 114) the real column never visits
    spread_modes = np.flatnonzero(~normalizer.exact)
    decoded = column.inverse_numbers(
        np.random.default_rng(2).uniform(-1, 1, (1000, 1)),
        np.random.default_rng(3).choice(spread_modes, (1000, 1)),
    )
    assert decoded.min() >= 114
    # round trip of the real values
    assert np.allclose(column.inverse_numbers(alphas, codes), values)


def test_smooth_draws_of_an_integer_column_never_round_onto_a_point_mass():
    # 0..16 like a pixel: 0 in half the rows and 10 in a fifth are point masses; the smooth
    # part (every other value) must not add rows at 0 or 10 when its draws are rounded
    rng = np.random.default_rng(0)
    others = rng.choice([v for v in range(1, 17) if v != 10], 600).astype(float)
    values = np.concatenate([np.zeros(1000), np.full(400, 10.0), others])
    column = NumericalColumn.fit(
        "pixel", DtypeInfo("int64"), values, values, seed=0, max_clusters=10,
        weight_threshold=0.005,
    )  # fmt: skip
    assert sorted(column.normalizer.points.tolist()) == [0.0, 10.0]
    spread_modes = np.flatnonzero(~column.normalizer.exact)
    decoded = column.inverse_numbers(
        np.random.default_rng(1).uniform(-1, 1, (5000, 1)),
        np.random.default_rng(2).choice(spread_modes, (5000, 1)),
    )
    assert not np.isin(decoded, [0.0, 10.0]).any()
    assert np.isin(decoded, [9.0, 11.0]).any()  # moved next to the point mass, not dropped
    assert (decoded == np.round(decoded)).all()
    # the exact modes still decode to their values
    exact = np.flatnonzero(column.normalizer.exact)
    assert set(column.inverse_numbers(np.zeros((2, 1)), exact[:, None]).tolist()) == {0.0, 10.0}


def test_normalizer_state_round_trip_keeps_exact_modes():
    normalizer = ModeNormalizer.fit(np.random.default_rng(0).normal(size=500), 0).with_points(
        np.array([0.0, 99.0])
    )
    again = ModeNormalizer.from_state(normalizer.get_state())
    assert again.exact.tolist() == normalizer.exact.tolist()
    assert again.points.tolist() == [0.0, 99.0]


def test_point_masses_false_keeps_the_reference_transform():
    values = _zero_inflated()
    column = NumericalColumn.fit(
        "gain", DtypeInfo("float64"), values, values, seed=0, max_clusters=10,
        weight_threshold=0.005, find_points=False,
    )  # fmt: skip
    assert not column.normalizer.exact.any()


def test_a_fitted_model_returns_point_masses_at_their_rate():
    rng = np.random.default_rng(0)
    n = 1500
    frame = pd.DataFrame(
        {
            "gain": _zero_inflated(n),
            "hours": np.where(rng.random(n) < 0.5, 40, rng.integers(10, 80, n)),
            "group": rng.choice(["a", "b", "c"], n),
        }
    )
    model = TVAE(epochs=40, batch_size=250, random_state=0).fit(frame)
    rows = model.sample(3000)
    assert abs((rows["gain"] == 0).mean() - 0.92) < 0.05
    assert not ((rows["gain"] > 0) & (rows["gain"] < 114)).any()
    assert abs((rows["hours"] == 40).mean() - (frame["hours"] == 40).mean()) < 0.06


@pytest.fixture(scope="module")
def dependent_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    levels = np.array(["low", "mid", "high", "top"])
    level = rng.choice(levels, n, p=[0.4, 0.3, 0.2, 0.1])
    start = rng.integers(0, 100, n)
    return pd.DataFrame(
        {
            "level": level,
            "level_num": pd.Series(level).map({"low": 1, "mid": 2, "high": 3, "top": 4}),
            "copy": level,  # two identical columns (the reference's drop_last test)
            "start": start,
            "end": start + rng.integers(0, 30, n),
            "noise": rng.normal(size=n),
        }
    )


def test_dependencies_are_detected_in_fit(dependent_frame):
    found = Dependencies.detect(
        dependent_frame,
        {"level": "categorical", "level_num": "numerical", "copy": "categorical",
         "start": "numerical", "end": "numerical", "noise": "numerical"},
    )  # fmt: skip
    described = found.describe()
    # one parent per derived column; equal columns chain from the first (level -> copy)
    parents = {d.target: d.source for d in found.determinations}
    assert parents == {"copy": "level", "level_num": "copy"}
    assert {"type": "determines", "source": "level", "target": "level_num"} in described
    assert {"type": "order", "low": "start", "high": "end"} in described
    assert not any("noise" in d.values() for d in described)


def test_no_dependency_from_nearly_unique_columns():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"key": rng.permutation(200), "flag": rng.choice(["x", "y"], 200)})
    assert Dependencies.detect(frame, {"key": "numerical", "flag": "categorical"}).describe() == []


@pytest.fixture(scope="module")
def dependent_model(dependent_frame) -> TVAE:
    return TVAE(epochs=5, batch_size=200, random_state=0).fit(dependent_frame)


def test_every_sampled_row_keeps_every_dependency(dependent_model, dependent_frame):
    assert dependent_model.metadata_.dependencies  # kept in metadata_
    rows = dependent_model.sample(2000)
    mapping = dict(zip(dependent_frame["level"], dependent_frame["level_num"], strict=True))
    assert (rows["level_num"] == rows["level"].map(mapping)).all()
    assert (rows["copy"] == rows["level"]).all()
    assert (rows["start"] <= rows["end"]).all()


def test_conditions_on_a_derived_column_keep_the_dependency(dependent_model):
    rows = dependent_model.sample(100, conditions={"level_num": (3, 4)}, random_state=1)
    assert rows["level_num"].isin([3, 4]).all()
    assert rows["level"].isin(["high", "top"]).all()
    assert (rows["copy"] == rows["level"]).all()
    rows = dependent_model.sample(50, conditions={"end": (0, 10)}, random_state=2)
    assert rows["end"].between(0, 10).all() and (rows["start"] <= rows["end"]).all()
    with pytest.raises(ConditionError, match="determined by"):
        dependent_model.sample(5, conditions={"level_num": 2, "level": "top"})


def test_dependencies_can_be_overridden_and_are_saved(dependent_frame, dependent_model, tmp_path):
    none = TVAE(epochs=1, batch_size=200, random_state=0).fit(
        dependent_frame, metadata={"columns": {}, "dependencies": []}
    )
    assert none.metadata_.dependencies == []
    path = tmp_path / "m.tvae"
    dependent_model.save(path)
    again = TVAE.load(path)
    assert again.metadata_.dependencies == dependent_model.metadata_.dependencies
    assert again.sample(200, random_state=3).equals(dependent_model.sample(200, random_state=3))
    with pytest.raises(InvalidParameterError, match="noise"):
        TVAE(epochs=1).fit(
            dependent_frame,
            metadata={"columns": {}, "dependencies": [
                {"type": "determines", "source": "level", "target": "noise"}]},
        )  # fmt: skip


def test_a_chain_declared_child_first_is_derived_sources_first():
    rng = np.random.default_rng(1)
    towns = {"S": "Southampton", "C": "Cherbourg", "Q": "Queenstown"}
    decks = {"Southampton": "low", "Cherbourg": "high", "Queenstown": "high"}
    frame = pd.DataFrame({"embarked": rng.choice(list(towns), 1_500, p=[0.7, 0.2, 0.1])})
    frame["town"] = frame["embarked"].map(towns)
    frame["deck"] = frame["town"].map(decks)
    frame["fare"] = rng.lognormal(3, 0.6, len(frame))
    chain = [
        {"type": "determines", "source": "town", "target": "deck"},
        {"type": "determines", "source": "embarked", "target": "town"},
    ]
    model = TVAE(epochs=1, random_state=0)
    model.fit(frame, metadata={"columns": {}, "dependencies": chain})
    rows = model.sample(1_000, random_state=0)
    assert (rows["town"] == rows["embarked"].map(towns)).all()
    assert (rows["deck"] == rows["town"].map(decks)).all()  # was 58 % with the declared order


def test_mixture_prior_fits_active_dimensions_and_is_seeded():
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0.0], [-3.0, 1.0]])
    active = centres[rng.integers(0, 2, 4000)] + 0.1 * rng.normal(size=(4000, 2))
    mu = np.zeros((4000, 6))
    mu[:, [1, 4]] = active
    logvar = torch.full(mu.shape, -12.0)  # a near-certain encoder: draws are the means
    prior = MixturePrior.fit(torch.as_tensor(mu, dtype=torch.float32), logvar, seed=0)
    assert prior.active.tolist() == [1, 4]
    draws = prior.sample(5000, torch.Generator().manual_seed(0))
    assert draws.shape == (5000, 6)
    # the collapsed dimensions stay N(0, 1); the active ones follow the two clusters
    assert abs(float(draws[:, 0].std()) - 1.0) < 0.05
    near = torch.cdist(draws[:, [1, 4]], torch.as_tensor(centres, dtype=torch.float32)).min(1)
    assert float((near.values < 0.5).float().mean()) > 0.98
    again = prior.sample(5000, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_a_saved_prior_draws_the_latents_of_the_fitted_one():
    """The fitted factors are row-major like loaded ones: the same draws before and after a save
    (LAPACK's column-major factors changed a product's rounding, so a loaded model sampled other
    rows)."""
    from safetensors.torch import load, save

    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(3000, 24, generator=generator) @ torch.randn(24, 24, generator=generator)
    prior = MixturePrior.fit(mu, torch.full(mu.shape, -4.0), seed=0)
    assert prior.n_components > 1 and len(prior.active) == 24
    loaded = MixturePrior.from_tensors(24, load(save(prior.tensors())))  # as a model file does
    for seed in range(3):
        draws = prior.sample(2000, torch.Generator().manual_seed(seed))
        assert torch.equal(draws, loaded.sample(2000, torch.Generator().manual_seed(seed)))


def test_the_mixture_starts_from_k_means_on_one_thread(monkeypatch):
    """scikit-learn's k-means adds its threads' sums in the order they finish: with several
    OpenMP threads one seed gave other labels from run to run (and another prior)."""
    from sklearn import cluster
    from threadpoolctl import threadpool_info

    seen = []
    original = cluster.KMeans.fit

    def fit(self, x, *args, **kwargs):
        seen.append(
            {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}
        )
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(cluster.KMeans, "fit", fit)
    fit_mixture(torch.randn(600, 3, generator=torch.Generator().manual_seed(0)), 3, seed=0)
    assert seen == [{1}]


def test_prior_standard_samples_the_reference_latents(adult_small, adult_discrete):
    model = TVAE(epochs=1, random_state=0, prior="standard").fit(adult_small, adult_discrete)
    assert isinstance(model.prior_, StandardPrior)
    with pytest.raises(InvalidParameterError, match="prior"):
        TVAE(prior="flow").fit(adult_small)


def test_default_prior_is_the_mixture_and_survives_save_load(tmp_path, adult_small):
    model = TVAE(epochs=3, random_state=0).fit(adult_small)
    assert model.prior_.kind == "mixture"
    path = tmp_path / "m.tvae"
    model.save(path)
    again = TVAE.load(path)
    assert again.prior_.kind == "mixture"
    assert again.sample(100, random_state=5).equals(model.sample(100, random_state=5))


def test_batched_mixture_fit_matches_scikit_learn_likelihood():
    from sklearn.mixture import GaussianMixture

    from tvae.gaussian_mixture import fit_mixture

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4, size=(5, 3))
    points = centres[rng.integers(0, 5, 3000)] + rng.normal(scale=0.5, size=(3000, 3))
    ours = fit_mixture(torch.as_tensor(points), 5, seed=0)
    theirs = GaussianMixture(5, covariance_type="full", reg_covar=1e-4, random_state=0)
    theirs.fit(points)
    assert ours.converged
    assert abs(ours.mean_log_likelihood - theirs.score(points)) < 0.01
    covariances = ours.cholesky @ ours.cholesky.transpose(1, 2)
    order = np.argsort(ours.means[:, 0].numpy())
    expected = np.argsort(theirs.means_[:, 0])
    assert np.allclose(ours.weights.numpy()[order], theirs.weights_[expected], atol=0.01)
    assert np.allclose(covariances.numpy()[order], theirs.covariances_[expected], atol=0.02)


def test_mixture_features_rebuilt_block_by_block_give_the_cached_fit(monkeypatch):
    """Wide latents do not fit the feature cache: their features are rebuilt every EM step,
    block by block into one reused buffer (the last block shorter). The fit must not change."""
    import tvae.gaussian_mixture as gm

    rng = np.random.default_rng(1)
    centres = rng.normal(scale=3, size=(4, 5))
    points = torch.as_tensor(centres[rng.integers(0, 4, 1100)] + rng.normal(size=(1100, 5)))
    cached = gm.fit_mixture(points, 4, seed=0)
    monkeypatch.setattr(gm, "FEATURE_CACHE", 0)  # never cached
    monkeypatch.setattr(gm, "FEATURE_BUDGET", 300 * 21)  # 5 dims: 21 features, 300 rows a block
    rebuilt = gm.fit_mixture(points, 4, seed=0)
    assert rebuilt.n_iter == cached.n_iter
    # the same sums in other single-precision blocks: equal up to rounding
    assert abs(rebuilt.mean_log_likelihood - cached.mean_log_likelihood) < 1e-5
    torch.testing.assert_close(rebuilt.means, cached.means, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(rebuilt.cholesky, cached.cholesky, rtol=1e-4, atol=1e-5)


def test_mixture_fit_survives_tight_clusters_far_from_the_origin():
    """Single-precision cancellation once made such covariances not positive definite, or
    ridged them wide, depending on the CPU's summation order."""
    from tvae.gaussian_mixture import fit_mixture

    rng = np.random.default_rng(0)
    centres = rng.integers(0, 100, size=(8, 6)).astype(float)
    points = centres[rng.integers(0, 8, 4000)] + rng.normal(scale=0.01, size=(4000, 6))
    fitted = fit_mixture(torch.as_tensor(points), 8, seed=0)
    # exact arithmetic: variance 1e-4 + reg_covar 1e-4 per axis gives 16.5 (scikit-learn 16.49);
    # a ridged covariance (what the cancellation once forced on some CPUs) gave 9.1
    assert torch.isfinite(fitted.cholesky).all() and fitted.mean_log_likelihood > 16
    nearest = torch.cdist(torch.as_tensor(centres), fitted.means).min(1).values
    assert float(nearest.max()) < 0.05  # every cluster found


def test_no_dependency_that_chance_or_the_marginals_explain():
    rng = np.random.default_rng(0)
    n = 2000
    rare = np.zeros(n, dtype=int)
    rare[[3, 500]] = 1  # a count that is 0 but in two rows
    code = rng.integers(0, 300, n)
    code[[3, 500]] = [1000, 1001]  # the rows where ``rare`` is 1 hold unique codes
    flag = rng.integers(0, 2, n)  # a 0/1 indicator...
    slope = rng.integers(0, 60, n)
    slope[(flag == 1) & (slope == 0)] = 1  # ...never above the slope, as in covtype
    frame = pd.DataFrame({"code": code, "rare": rare, "flag": flag, "slope": slope})
    kinds = {c: "numerical" for c in frame.columns}
    assert Dependencies.detect(frame, kinds).describe() == []


def test_an_order_is_judged_on_every_pairing_of_a_small_table():
    """One random pairing of 142 rows misjudged wine's hue <= total_phenols (1.05 % of pairs
    break it): the order was left out, then broken in 1 % of sampled rows."""
    rng = np.random.default_rng(343)  # wine-like ranges; one pairing here breaks 0.7 %
    low, high = rng.uniform(0.48, 1.71, 160), rng.uniform(0.98, 3.88, 160)
    keep = low <= high
    low, high = low[keep][:142], high[keep][:142]
    breaks = (low[:, None] > high[None, :]).mean()  # over every pairing
    assert 0.01 < breaks < 0.02  # informative, if only just
    frame = pd.DataFrame({"low": low, "high": high})
    kinds = {c: "numerical" for c in frame.columns}
    assert Dependencies.detect(frame, kinds).describe() == [
        {"type": "order", "low": "low", "high": "high"}
    ]


def test_an_order_is_judged_on_every_value_each_column_holds():
    """boot's neuro: V2 <= V3 in every row with both, but V2 is missing in 11 % of rows, and
    its values there reach into V3's range. Judged on the rows with both only, random pairs
    almost never broke it, so it was left out, then broken in 0.2 % of sampled rows."""
    rng = np.random.default_rng(2)
    high = rng.uniform(0, 100, 1000)
    low = high - rng.uniform(100, 150, 1000)  # below high by far where both are present
    alone = rng.uniform(0, 100, 100)  # the rows where high is missing: low reaches into it
    frame = pd.DataFrame({"low": np.append(low, alone), "high": np.append(high, [np.nan] * 100)})
    both = frame.dropna()
    pairs = (both["low"].to_numpy()[:, None] > both["high"].to_numpy()[None, :]).mean()
    assert pairs < 0.01  # on the rows with both, the order looks like the ranges alone
    kinds = {c: "numerical" for c in frame.columns}
    assert Dependencies.detect(frame, kinds).describe() == [
        {"type": "order", "low": "low", "high": "high"}
    ]


def test_a_column_determined_by_two_unlinked_columns_keeps_both():
    rng = np.random.default_rng(0)
    n = 1200
    year = rng.choice([94, 95], n)
    # two codes, each determining the year, neither determining the other (census' migration)
    region = np.where(year == 94, rng.choice(["r1", "r2"], n), rng.choice(["r3", "r4"], n))
    area = np.where(year == 94, rng.choice(["a1", "a2", "a3"], n), rng.choice(["a4", "a5"], n))
    frame = pd.DataFrame({"region": region, "area": area, "year": year, "x": rng.normal(size=n)})
    model = TVAE(epochs=2, batch_size=300, random_state=0).fit(frame)
    described = model.metadata_.dependencies
    assert {"type": "determines", "source": "region", "target": "year"} in described
    assert {"type": "determines", "source": "area", "target": "year"} in described
    rows = model.sample(3000)
    for source in ("region", "area"):
        mapping = dict(zip(frame[source], frame["year"], strict=True))
        assert (rows["year"] == rows[source].map(mapping)).all()


def test_a_numerical_source_is_repaired_to_its_nearest_fitting_value_and_new_values_stay():
    # size -> frag checked (not derived): 1032 is the frequent attack size, frag 1 only at 1480
    check = Determination("size", "frag", [1032, 1400, 1480, 90], [0, 0, 1, 0], [500, 20, 5, 9])
    rows = pd.DataFrame({"size": [150, 1480, 1033, 90], "frag": [0, 0, 1, 0]})
    Dependencies(checks=[check]).apply(rows)
    # a value no real row holds has no real mapping: it stays (it used to become 1032, and
    # sent a third of intrusion's synthetic "normal" rows to the smurf attacks' size)
    assert rows["size"].tolist() == [150, 1400, 1033, 90]
    assert rows["size"].dtype == np.int64


def test_an_order_between_decimals_and_integers_is_repaired_in_whole_numbers():
    """BudgetItaly's ``totexp <= income`` (decimals below an integer code) held in every real
    row; a sampled row that broke it had 1.11 copied into the integers, which pandas 3 refuses:
    sample() raised a TypeError. The integer side now moves to the whole number that keeps
    the order."""
    order = Order("spent", "code")
    rows = pd.DataFrame({"spent": [1.11, 0.4, 2.0], "code": np.array([1, 1, 2], dtype=np.int64)})
    Dependencies(orders=[order]).apply(rows)  # the high side rises
    assert rows["code"].tolist() == [2, 1, 2] and rows["code"].dtype == np.int64
    rows = pd.DataFrame({"spent": [1.11, 0.4, 3.5], "code": np.array([1, 1, 2], dtype=np.int64)})
    Dependencies(orders=[Order("code", "spent")]).apply(rows, fixed={"spent"})  # the low falls
    assert rows["code"].tolist() == [1, 0, 2] and rows["code"].dtype == np.int64


def test_an_order_is_repaired_on_the_side_that_stays_within_its_range():
    """msleep's brainwt <= sleep_cycle holds in the rows with both present, but brainwt reaches
    5.7 where sleep_cycle (never above 0.6 here) is missing: raising sleep_cycle to brainwt
    made cycles up to 5.7, so the order was left out, and 2 % of sampled rows broke it. It is
    kept by lowering brainwt to sleep_cycle instead, which stays within brainwt's range, and
    the model file keeps which side moves. An order whose repair leaves a range either way,
    or seen in fewer than 20 rows with both present, is left out."""
    rng = np.random.default_rng(0)
    n = 200
    small, gap = rng.uniform(0.0, 0.1, n), rng.uniform(0.0, 0.5, n)
    cycle = np.where(rng.random(n) < 0.4, small + gap, np.nan)
    weight = np.where(np.isnan(cycle), rng.uniform(0.0, 5.7, n), small)
    frame = pd.DataFrame({"brainwt": weight, "cycle": cycle})
    kinds = {"brainwt": "numerical", "cycle": "numerical", "few": "numerical"}
    found = Dependencies.detect(frame, kinds)
    assert found.orders == [Order("brainwt", "cycle", lowers=True)]
    broken = pd.DataFrame({"brainwt": [0.5, 4.0, 0.05, 3.0], "cycle": [0.3, np.nan, 0.2, 0.1]})
    found.apply(broken)
    assert broken["brainwt"].tolist() == [0.3, 4.0, 0.05, 0.1]  # lowered where broken
    assert broken["cycle"].tolist()[2:] == [0.2, 0.1] and broken["cycle"][0] == 0.3
    saved = Dependencies.from_state(found.get_state())
    assert saved.orders == found.orders
    # under a condition on brainwt the condition holds: cycle is raised instead
    held = pd.DataFrame({"brainwt": [0.5], "cycle": [0.3]})
    assert found.apply(held, fixed={"brainwt"})["cycle"].tolist() == [0.5]
    # neither side stays in range: brainwt passes cycle's largest, cycle goes below brainwt's
    # smallest where brainwt is missing
    both = np.arange(n) < 100
    low = np.where(both, rng.uniform(1, 2, n), np.where(np.arange(n) < 150, np.nan, 4.5))
    high = np.where(both, rng.uniform(2, 3, n), np.where(np.arange(n) < 150, 0.2, np.nan))
    apart = pd.DataFrame({"brainwt": low, "cycle": high})
    assert Dependencies.detect(apart, kinds).describe() == []
    few = np.where(np.arange(n) < 15, small + gap, np.nan)  # 15 rows above brainwt
    within = pd.DataFrame({"brainwt": small, "cycle": cycle, "few": few})
    found = Dependencies.detect(within, kinds)
    assert found.orders == [Order("brainwt", "cycle")]  # raised, as before
    # mao: aad (35-72) <= age (26-91); raising age to aad never leaves age's range
    age = rng.uniform(26, 91, n)
    aad = np.where(age >= 35, rng.uniform(35, np.maximum(age, 35)), np.nan)  # cases only
    onset = pd.DataFrame({"aad": aad, "age": age})
    assert onset["aad"].min() > onset["age"].min()
    kinds = {"aad": "numerical", "age": "numerical"}
    assert Dependencies.detect(onset, kinds).orders == [Order("aad", "age")]


def test_a_model_keeps_an_order_it_repairs_by_lowering_within_both_ranges(tmp_path):
    rng = np.random.default_rng(1)
    n = 300
    small = rng.uniform(0.0, 0.1, n)
    cycle = np.where(rng.random(n) < 0.4, small + rng.uniform(0.0, 0.5, n), np.nan)
    weight = np.where(np.isnan(cycle), rng.uniform(0.0, 5.7, n), small)
    frame = pd.DataFrame({"brainwt": weight, "cycle": cycle, "group": rng.choice(["a", "b"], n)})
    model = TVAE(epochs=2, batch_size=300, random_state=0).fit(frame)
    assert {"type": "order", "low": "brainwt", "high": "cycle"} in model.metadata_.dependencies
    path = tmp_path / "model.tvae"
    model.save(path)
    rows = TVAE.load(path).sample(2_000, random_state=0)
    both = rows["brainwt"].notna() & rows["cycle"].notna()
    assert both.sum() > 100
    assert (rows.loc[both, "brainwt"] <= rows.loc[both, "cycle"]).all()
    assert rows["cycle"].max() <= frame["cycle"].max()
    assert rows["brainwt"].min() >= frame["brainwt"].min()


def test_the_order_screen_refutes_only_orders_a_row_breaks():
    from tvae.transformer.dependency_search import refuted_orders

    big = 2**60  # beyond float precision: big and big + 1 round to the same float
    frame = pd.DataFrame(
        {
            "low": [1.0, 2.0, np.nan, 4.0],
            "high": [1.0, 3.0, 0.0, 5.0],  # low <= high wherever both are present
            "count_low": pd.array([big, big, 1, 2], dtype="Int64"),
            "count_high": pd.array([big + 1, big, pd.NA, 2], dtype="Int64"),
            "when": pd.to_datetime(["2020-01-01"] * 4),  # not screened
        }
    )
    refuted = refuted_orders(frame, list(frame.columns))
    assert ("low", "high") not in refuted and ("high", "low") in refuted
    assert ("count_low", "count_high") not in refuted
    assert not any("when" in pair for pair in refuted)


def test_two_equal_columns_of_many_values_stay_equal():
    """HC's och.gc and och.gcc are one column twice (250 rows, 150 values): too many values for
    a determination, and no order was found since they never differ, so sampled rows drew
    them apart. Both orders hold, and together they keep the copies equal."""
    rng = np.random.default_rng(0)
    cost = np.round(rng.normal(225, 34, 250))
    frame = pd.DataFrame({"cost": cost, "copy": cost, "other": rng.normal(size=250)})
    model = TVAE(epochs=5, random_state=0).fit(frame)
    orders = [d for d in model.metadata_.dependencies if d["type"] == "order"]
    assert orders == [
        {"type": "order", "low": "cost", "high": "copy"},
        {"type": "order", "low": "copy", "high": "cost"},
    ]
    rows = model.sample(1000, random_state=1)
    assert (rows["cost"] == rows["copy"]).all()


@pytest.mark.parametrize("seed", [0, 2])
def test_a_number_that_determines_a_label_is_drawn_at_each_values_rate(seed):
    """dietox: 72 pigs, each 12 rows, each pig one vitamin dose. Drawn from a smooth mixture and
    moved onto the nearest real pig, a pig took the rows drawn nearest to it, and a dose came
    back in 46 % of the rows against 34 %. Each pig is now an exact mode, drawn at its rate."""
    rng = np.random.default_rng(seed)
    pigs = np.sort(rng.choice(np.arange(4000, 9000), 40, replace=False))
    doses = rng.integers(1, 4, 40)
    rows = np.repeat(np.arange(40), 12)
    frame = pd.DataFrame(
        {
            "pig": pigs[rows],
            "dose": doses[rows],
            "weight": rng.normal(50, 10, len(rows)).round(1),
            "time": np.tile(np.arange(1, 13), 40),
        }
    )
    model = TVAE(epochs=5, batch_size=120, random_state=seed).fit(frame)
    assert {"type": "determines", "source": "pig", "target": "dose"} in model.metadata_.dependencies
    sampled = model.sample(10_000, random_state=1)
    assert sampled["pig"].isin(pigs).all()
    real = frame["dose"].value_counts(normalize=True)
    drawn = sampled["dose"].value_counts(normalize=True)
    assert (real - drawn).abs().max() < 0.04  # 0.147 and 0.070 before, 0.014 and 0.004 now
