"""The RDP accountant and the budget plan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tvae.errors import InvalidParameterError
from tvae.privacy.accountant import (
    ORDERS,
    Accountant,
    epsilon_from_rdp,
    gaussian_rho_for_epsilon,
    rdp_curve,
    subsampled_gaussian_rdp,
)
from tvae.privacy.plan import MAX_LATENT_SHARE, STATISTICS_SHARE, plan_budget, resolve_delta

CASES = [(0.01, 1.1, 1_000), (0.0625, 3.5, 1_008), (1.0, 10.0, 1), (0.5, 2.0, 10), (0.2, 0.8, 50)]


@pytest.mark.filterwarnings("ignore:Optimal order is the:UserWarning")
@pytest.mark.parametrize(("rate", "noise", "steps"), CASES)
def test_epsilon_matches_opacus(rate, noise, steps):
    opacus_rdp = pytest.importorskip("opacus.accountants.analysis.rdp")
    from opacus.accountants import RDPAccountant

    ours = Accountant()
    ours.record("dp-sgd", noise, rate, steps)
    theirs = opacus_rdp.compute_rdp(q=rate, noise_multiplier=noise, steps=steps, orders=ORDERS)
    np.testing.assert_allclose(ours.rdp(), theirs, rtol=1e-9)
    expected = opacus_rdp.get_privacy_spent(orders=list(ORDERS), rdp=theirs, delta=1e-5)[0]
    assert ours.epsilon(1e-5) == pytest.approx(expected, rel=1e-9)
    # Opacus's default accountant adds fractional orders: it may be a little tighter, never looser
    default = RDPAccountant()
    default.history = [(noise, rate, steps)]
    assert default.get_epsilon(1e-5) <= ours.epsilon(1e-5) + 1e-9
    assert ours.epsilon(1e-5) <= 1.03 * default.get_epsilon(1e-5)


def test_gaussian_mechanism_closed_form():
    # q = 1: RDP is a / (2 s^2) at every order
    assert subsampled_gaussian_rdp(1.0, 2.0, 7) == pytest.approx(7 / 8)
    # a subsampled step costs less than the full one, and composition adds
    assert subsampled_gaussian_rdp(0.1, 2.0, 7) < 7 / 8
    twice = Accountant()
    twice.record("a", 2.0, 0.1, 3)
    twice.record("b", 2.0, 0.1, 4)
    once = Accountant()
    once.record("a", 2.0, 0.1, 7)
    np.testing.assert_allclose(twice.rdp(), once.rdp())


@pytest.mark.parametrize(("rate", "noise", "steps"), CASES)
def test_the_vectorised_curve_equals_the_sum_per_order(rate, noise, steps):
    expected = [subsampled_gaussian_rdp(rate, noise, a) for a in ORDERS]
    np.testing.assert_allclose(rdp_curve(rate, noise, ORDERS), expected, rtol=1e-12)


def test_rho_for_epsilon_inverts_the_conversion():
    rho = gaussian_rho_for_epsilon(1.0, 1e-6)
    grid = np.asarray(ORDERS, dtype=float)
    assert epsilon_from_rdp(rho * grid, grid, 1e-6)[0] == pytest.approx(1.0, abs=1e-6)


def test_accountant_round_trips_through_json():
    accountant = Accountant()
    accountant.record("histogram:x", 12.0, 1.0, 1)
    accountant.record("dp-sgd", 1.3, 0.05, 200)
    again = Accountant.from_dict(accountant.to_dict())
    assert again.epsilon(1e-6) == accountant.epsilon(1e-6)


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 3.0, 10.0])
@pytest.mark.parametrize("n_rows", [1_000, 50_000])
def test_the_plan_spends_at_most_epsilon(epsilon, n_rows):
    delta, _ = resolve_delta(None, n_rows)
    plan = plan_budget(epsilon, delta, "default", 20, 8, min(0.05, 256 / n_rows), 2_000)
    plan.accountant.record("statistics", plan.statistics_noise, 1.0, plan.n_statistics)
    plan.accountant.record("dp-sgd", plan.sgd_noise, plan.sample_rate, plan.steps)
    spent = plan.accountant.epsilon(plan.accounting_delta)
    assert spent <= epsilon
    assert spent >= 0.99 * epsilon  # the noise is no larger than the budget needs
    assert plan.accounting_delta + plan.threshold_delta == pytest.approx(delta)
    # the statistics get STATISTICS_SHARE of rho: 20 Gaussian mechanisms sharing it equally
    rho = gaussian_rho_for_epsilon(epsilon, plan.accounting_delta)
    assert 20 / (2 * plan.statistics_noise**2) == pytest.approx(STATISTICS_SHARE * rho)


def _record_everything(plan) -> float:
    others = plan.n_statistics - plan.latent_mechanisms
    plan.accountant.record("statistics", plan.statistics_noise, 1.0, others)
    plan.accountant.record("latent:sums", plan.latent_noise, 1.0, plan.latent_mechanisms)
    plan.accountant.record("dp-sgd", plan.sgd_noise, plan.sample_rate, plan.steps)
    return plan.accountant.epsilon(plan.accounting_delta)


@pytest.mark.parametrize("epsilon", [1.0, 10.0])
def test_a_weighted_latent_takes_its_extra_budget_from_dp_sgd(epsilon):
    """Each latent sum gets ``weight`` statistics' rho: less noise on it, the other statistics'
    noise unchanged, DP-SGD noisier, and the total still within epsilon."""
    delta = 1e-5
    args = (epsilon, delta, "given", 100, 10, 0.01, 1_000)
    plain = plan_budget(*args, latent_mechanisms=2, latent_weight=1.0)
    heavy = plan_budget(*args, latent_mechanisms=2, latent_weight=16.0)
    assert heavy.statistics_noise == plain.statistics_noise
    assert plain.latent_noise == plain.statistics_noise
    assert heavy.latent_noise == pytest.approx(plain.statistics_noise / 4)
    assert heavy.sgd_noise > plain.sgd_noise
    for plan in (plain, heavy):
        spent = _record_everything(plan)
        assert 0.99 * epsilon <= spent <= epsilon
    split = heavy.budget_split()
    assert split["latent"]["weight"] == 16.0 and split["latent"]["mechanisms"] == 2
    assert split["statistics"]["mechanisms"] == 98
    assert split["latent"]["share_of_rho"] == pytest.approx(STATISTICS_SHARE * 2 * 16 / 100)
    assert split["statistics"]["share_of_rho"] == pytest.approx(STATISTICS_SHARE * 98 / 100)
    assert split["latent"]["epsilon_alone"] < split["statistics"]["epsilon_alone"] < epsilon
    assert split["dp_sgd"]["epsilon_alone"] < epsilon


def test_the_latent_weight_is_capped_so_dp_sgd_keeps_a_part():
    plan = plan_budget(3.0, 1e-5, "given", 10, 0, 0.01, 1_000, latent_mechanisms=2,
                       latent_weight=1e6)  # fmt: skip
    assert plan.budget_split()["latent"]["share_of_rho"] == pytest.approx(MAX_LATENT_SHARE)
    assert _record_everything(plan) <= 3.0


def test_a_budget_too_small_for_the_weighted_latent_plans_it_unweighted():
    """Where DP-SGD could train with the latent at weight 1 but not at its weight, the latent
    gets weight 1 rather than the fit being refused."""

    def plan(epsilon: float, weight: float):
        return plan_budget(epsilon, 1e-6, "given", 100, 0, 0.06, 1_000, latent_mechanisms=2,
                           latent_weight=weight)  # fmt: skip

    assert plan(0.4, 30.0).latent_weight == 25.0  # the cap: a quarter of rho
    tight = plan(0.26, 30.0)  # DP-SGD would need noise above 50 with the weighted latent
    assert tight.latent_weight == 1.0
    assert tight.latent_noise == tight.statistics_noise
    assert tight.sgd_noise == plan(0.26, 1.0).sgd_noise < 50
    with pytest.raises(InvalidParameterError, match="noise multiplier above"):
        plan(0.2, 30.0)  # too small even unweighted


def test_delta_defaults_below_one_over_n_and_is_checked():
    assert resolve_delta(None, 1_000) == (1e-4, "default 1/(10 n)")
    assert resolve_delta(1e-3, 1_000)[0] == 1e-3
    for bad in (0, -1e-6, 2e-3, 1.0, "small", math.nan):
        with pytest.raises(InvalidParameterError, match="delta"):
            resolve_delta(bad, 1_000)


def test_a_budget_too_small_to_train_is_refused():
    with pytest.raises(InvalidParameterError, match="too small to train"):
        plan_budget(1e-3, 1e-6, "given", 10, 0, 0.5, 10_000)  # below what any order certifies
    with pytest.raises(InvalidParameterError, match="noise multiplier above"):
        plan_budget(0.2, 1e-6, "given", 10, 0, 0.5, 10_000)  # every row in 5,000 steps
