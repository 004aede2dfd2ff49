"""The privacy budget plan: checks (ε, δ), splits the budget, finds the noise of every step.

The split is stated in Rényi terms. A Gaussian mechanism's RDP is a line ρ·a in the order a, so
"a share of the budget" is a share of ρ: ρ_total is the largest ρ whose curve gives the user's
ε at δ; the transformer's statistics get ``STATISTICS_SHARE`` of it, split equally between their
mechanisms (each of L2 sensitivity 1, so each gets the same noise multiplier). The private
latent's two sums may weigh more (``latent_weight``: each takes that many statistics' ρ, with
less noise); their extra ρ comes out of DP-SGD's part, not out of the other statistics'. DP-SGD
gets the rest, and its noise multiplier is the smallest one for which the *total* (statistics +
every training step) stays within ε at δ, found by bisection on the accountant itself.

A small part of δ (``THRESHOLD_DELTA_SHARE``) pays for releasing category *names* found in the
data (see :mod:`tvae.privacy.statistics`): a category held by one row is released with
probability at most that part; the accountant converts RDP to ε at the rest of δ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from tvae.errors import InvalidParameterError
from tvae.privacy.accountant import Accountant, gaussian_rho_for_epsilon
from tvae.privacy.detection import can_keep_one
from tvae.privacy.latent import MECHANISMS as LATENT_MECHANISMS
from tvae.privacy.mixture import ITERATIONS as PRIOR_ITERATIONS
from tvae.privacy.mixture import planned_components

# Of ρ, for the transformer's statistics (and the private latent's two moments). Half: with
# Poisson sampling, DP-SGD's noise multiplier grows only ~20 % when its share halves (adult,
# 4,000 rows, epsilon = 10: 1.33 at 0.85 of rho, 1.63 at 0.5), while the statistics' noise falls
# 1.8x. Measured (docs/privacy.md) against 0.15: epsilon = 1 adult 0.75 -> 0.82, titanic
# 0.67 -> 0.74; epsilon = 3 +0.02; epsilon = 10 bank +0.03, adult within -0.004.
STATISTICS_SHARE = 0.5
# Of ρ, the most the private latent's two sums may take with their weight, so that DP-SGD keeps
# at least a quarter of the budget on the widest tables.
MAX_LATENT_SHARE = 0.25
THRESHOLD_DELTA_SHARE = 0.1  # of δ, for releasing category names found in the data
DEFAULT_DELTA_FACTOR = 10  # delta defaults to 1 / (10 n)
MAX_NOISE_MULTIPLIER = 50.0  # DP-SGD noisier than this learns nothing: the budget is too small
MIN_NOISE_MULTIPLIER = 0.3
CLIPPING_NORM = 1.0


def check_epsilon(epsilon: object) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise InvalidParameterError(
            f"epsilon must be a positive number (the privacy budget), got {epsilon=!r}"
        )
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise InvalidParameterError(
            f"epsilon must be a positive finite number (the privacy budget), got {epsilon=!r}"
        )
    return float(epsilon)


def resolve_delta(delta: object, n_rows: int) -> tuple[float, str]:
    """``delta`` checked against (0, 1/n], or the default 1/(10 n); with where it came from."""
    if delta is None:
        return 1.0 / (DEFAULT_DELTA_FACTOR * n_rows), f"default 1/({DEFAULT_DELTA_FACTOR} n)"
    if isinstance(delta, bool) or not isinstance(delta, (int, float)):
        raise InvalidParameterError(f"delta must be a number in (0, 1/n], got {delta=!r}")
    if not 0 < delta <= 1.0 / n_rows:
        raise InvalidParameterError(
            f"delta must be in (0, 1/n] = (0, {1.0 / n_rows:.3g}] for the {n_rows} rows of "
            f"train_data (a larger delta lets a mechanism publish a row), got {delta=!r}"
        )
    return float(delta), "given"


@dataclass
class BudgetPlan:
    """What every mechanism gets; ``accountant`` will hold the record of what was spent."""

    epsilon: float
    delta: float
    delta_source: str
    accounting_delta: float  # δ at which the RDP curve is converted (δ minus the threshold part)
    threshold_delta: float  # the part of δ that pays for releasing category names
    statistics_noise: float  # noise multiplier of every statistic (sensitivity 1)
    n_statistics: int
    sgd_noise: float
    sample_rate: float
    steps: int
    clipping_norm: float
    accountant: Accountant
    latent_mechanisms: int = 0  # of the n_statistics, the private latent's sums
    latent_weight: float = 1.0  # each takes this many statistics' ρ
    detection_mechanisms: int = 0  # beside the n_statistics, at their noise: detection's slots
    rho: float = 0.0  # ρ_total: the Rényi budget that converts to ε at the accounting δ

    @property
    def latent_noise(self) -> float:
        """Noise multiplier of each latent sum (sensitivity 1): weight times a statistic's ρ."""
        return self.statistics_noise / math.sqrt(self.latent_weight)

    def to_dict(self) -> dict:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "delta_source": self.delta_source,
            "accounting_delta": self.accounting_delta,
            "threshold_delta": self.threshold_delta,
            "statistics_share": STATISTICS_SHARE,
            "statistics_noise_multiplier": self.statistics_noise,
            "n_statistics": self.n_statistics,
        }

    def budget_split(self) -> dict:
        """What each part took once every release is recorded: ``privacy_["budget_split"]``."""
        others = self.n_statistics - self.latent_mechanisms
        return {
            "statistics": {
                "share_of_rho": self.share_of_rho(self.statistics_noise, others),
                "mechanisms": others,
                "noise_multiplier": self.statistics_noise,
                "epsilon_alone": self.spent_alone("statistics"),
            },
            "latent": {
                "share_of_rho": self.share_of_rho(self.latent_noise, self.latent_mechanisms),
                "mechanisms": self.latent_mechanisms,
                "weight": self.latent_weight,
                "noise_multiplier": self.latent_noise,
                "epsilon_alone": self.spent_alone("latent"),
            },
            "detection": {
                "share_of_rho": self.share_of_rho(self.statistics_noise, self.detection_mechanisms),
                "mechanisms": self.detection_mechanisms,
                "epsilon_alone": self.spent_alone("detection"),
            },
            "dp_sgd": {"epsilon_alone": self.spent_alone("dp-sgd")},
            "category_names_delta": self.threshold_delta,
        }

    def spent_alone(self, part: str) -> float:
        """ε that the recorded releases of ``part`` ("statistics", "latent" or "dp-sgd") would
        spend on their own, at the accounting δ."""
        alone = Accountant(self.accountant.orders)
        for item in self.accountant.history:
            if release_part(item[0]) == part:
                alone.record(*item)
        return alone.epsilon(self.accounting_delta)

    def share_of_rho(self, noise: float, mechanisms: int) -> float:
        """The part of ρ_total that ``mechanisms`` Gaussian releases at ``noise`` take."""
        return mechanisms / (2 * noise**2) / self.rho if mechanisms and self.rho > 0 else 0.0


def release_part(label: str) -> str:
    """Which part of the budget the release labelled ``label`` belongs to."""
    if label == "dp-sgd":
        return "dp-sgd"
    if label.startswith("detect:"):
        return "detection"
    return "latent" if label.startswith("latent:") else "statistics"


def plan_budget(
    epsilon: float, delta: float, delta_source: str, n_statistics: int, n_thresholded: int,
    sample_rate: float, steps: int, clipping_norm: float = CLIPPING_NORM,
    latent_mechanisms: int = 0, latent_weight: float = 1.0, detection_mechanisms: int = 0,
) -> BudgetPlan:  # fmt: skip
    """Split (``epsilon``, ``delta``) between ``n_statistics`` Gaussian statistics (of which
    ``n_thresholded`` release category names, and ``latent_mechanisms`` are the private
    latent's sums, each weighing ``latent_weight`` statistics) and ``steps`` DP-SGD
    steps at ``sample_rate``. ``detection_mechanisms`` more at the statistics' noise are paid
    from DP-SGD's part, as the latent's extra weight is: the other statistics keep theirs."""
    threshold_delta = THRESHOLD_DELTA_SHARE * delta if n_thresholded else 0.0
    accounting_delta = delta - threshold_delta
    accountant = Accountant()
    total_rho = gaussian_rho_for_epsilon(epsilon, accounting_delta)
    statistics_noise = math.inf
    weight = 1.0
    if n_statistics:
        rho = STATISTICS_SHARE * total_rho
        if rho <= 0:  # even no noise-free information at all would exceed it at this delta
            raise InvalidParameterError(
                f"epsilon={epsilon} is too small to train at delta={delta:.3g}: the accountant "
                "cannot certify any release below it; raise epsilon"
            )
        statistics_noise = math.sqrt(n_statistics / (2 * rho))
        if latent_mechanisms:
            # each latent sum takes weight * (rho / n_statistics), at most MAX_LATENT_SHARE in all
            cap = MAX_LATENT_SHARE * total_rho * n_statistics / (latent_mechanisms * rho)
            weight = max(1.0, min(float(latent_weight), cap))
    weighted = latent_mechanisms if weight > 1 else 0  # equal noise: one line of the plan
    others = n_statistics - weighted
    planned = [("statistics", statistics_noise, 1.0, others)] if others else []
    if weighted:
        planned.append(("latent", statistics_noise / math.sqrt(weight), 1.0, weighted))
    if detection_mechanisms:
        planned.append(("detection", statistics_noise, 1.0, detection_mechanisms))

    def spent(noise: float) -> float:
        return accountant.epsilon(
            accounting_delta, [*planned, ("dp-sgd", noise, sample_rate, steps)]
        )

    if spent(MAX_NOISE_MULTIPLIER) > epsilon:
        if weighted or detection_mechanisms:  # extras never make a fit impossible
            return plan_budget(
                epsilon, delta, delta_source, n_statistics, n_thresholded, sample_rate, steps,
                clipping_norm, latent_mechanisms, 1.0 if weighted else latent_weight,
            )  # fmt: skip
        raise InvalidParameterError(
            f"epsilon={epsilon} is too small to train: {steps} DP-SGD steps at sampling rate "
            f"{sample_rate:.3g} would need a noise multiplier above {MAX_NOISE_MULTIPLIER}; "
            "raise epsilon, or lower epochs"
        )
    high = smallest_noise(spent, epsilon, MIN_NOISE_MULTIPLIER, MAX_NOISE_MULTIPLIER)
    return BudgetPlan(
        epsilon=epsilon, delta=delta, delta_source=delta_source,
        accounting_delta=accounting_delta, threshold_delta=threshold_delta,
        statistics_noise=statistics_noise, n_statistics=n_statistics, sgd_noise=high,
        sample_rate=sample_rate, steps=steps, clipping_norm=clipping_norm, accountant=accountant,
        latent_mechanisms=latent_mechanisms, latent_weight=weight, rho=total_rho,
        detection_mechanisms=detection_mechanisms,
    )  # fmt: skip


def plan_with_prior(
    prior: str, n_rows: int, epsilon: float, delta: float, delta_source: str,
    n_statistics: int, n_named: int, sample_rate: float, steps: int, latent_weight: float,
    slots: int = 0,
) -> tuple[BudgetPlan, int, int]:  # fmt: skip
    """The budget plan, the private mixture prior's components (0: the standard prior) and the
    mechanisms set aside for detection (:mod:`tvae.privacy.detection`), paid from DP-SGD's
    part. The mixture's DP-EM iterations join the statistics only where, at the noise that
    leaves them, there are enough rows for ``MIN_COMPONENTS`` well-estimated components; the
    ``slots`` only where, at the statistics' noise, a determination could be kept."""
    plan, components = _plan(
        prior, n_rows, epsilon, delta, delta_source, n_statistics, n_named, sample_rate, steps,
        latent_weight,
    )  # fmt: skip
    if not slots or not can_keep_one(n_rows, plan.statistics_noise):
        return plan, components, 0
    plan, components = _plan(
        prior, n_rows, epsilon, delta, delta_source, n_statistics, n_named, sample_rate, steps,
        latent_weight, slots,
    )  # fmt: skip
    return plan, components, plan.detection_mechanisms


def _plan(
    prior: str, n_rows: int, epsilon: float, delta: float, delta_source: str,
    n_statistics: int, n_named: int, sample_rate: float, steps: int, latent_weight: float,
    slots: int = 0,
) -> tuple[BudgetPlan, int]:  # fmt: skip
    """The plan with the mixture prior's DP-EM where its components can be afforded."""
    if prior == "mixture":
        plan = plan_budget(
            epsilon, delta, delta_source, n_statistics + PRIOR_ITERATIONS, n_named,
            sample_rate, steps, CLIPPING_NORM, LATENT_MECHANISMS, latent_weight, slots,
        )  # fmt: skip
        components = planned_components(n_rows, plan.statistics_noise)
        if components:
            return plan, components
    plan = plan_budget(
        epsilon, delta, delta_source, n_statistics, n_named, sample_rate, steps, CLIPPING_NORM,
        LATENT_MECHANISMS, latent_weight, slots,
    )  # fmt: skip
    return plan, 0


def unspent_to_dp_sgd(plan: BudgetPlan, components: int) -> BudgetPlan:
    """``plan`` with DP-SGD's noise found again once the statistics and detection are
    recorded: the releases still to come (the latent's sums, DP-EM) as planned, and what
    detection left unspent (fewer candidates than slots) back to DP-SGD. Adaptive composition:
    the spend so far is known exactly, and the total stays within epsilon."""
    still = [("latent", plan.latent_noise, 1.0, plan.latent_mechanisms)]
    if components:
        still.append(("prior", plan.statistics_noise, 1.0, PRIOR_ITERATIONS))

    def spent(noise: float) -> float:
        extra = [*still, ("dp-sgd", noise, plan.sample_rate, plan.steps)]
        return plan.accountant.epsilon(plan.accounting_delta, extra)

    # the planned noise is within budget: detection spent at most what was set aside for it
    noise = smallest_noise(spent, plan.epsilon, MIN_NOISE_MULTIPLIER, plan.sgd_noise)
    return replace(plan, sgd_noise=noise)


def smallest_noise(
    spent: Callable[[float], float], epsilon: float, low: float, high: float
) -> float:
    """The smallest DP-SGD noise multiplier in [``low``, ``high``] whose total ``spent(noise)``
    stays within ``epsilon`` (it falls as the noise grows; ``high`` is within it), to 1e-4."""
    if spent(low) <= epsilon:
        return low
    for _ in range(40):
        if high - low < 1e-4:
            break
        middle = (low + high) / 2
        low, high = (low, middle) if spent(middle) <= epsilon else (middle, high)
    return high
