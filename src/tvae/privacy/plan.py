"""The privacy budget plan: checks (ε, δ), splits the budget, finds the noise of every step.

The split is stated in Rényi terms. A Gaussian mechanism's RDP is a line ρ·a in the order a, so
"a share of the budget" is a share of ρ: ρ_total is the largest ρ whose curve gives the user's
ε at δ; the transformer's statistics get ``STATISTICS_SHARE`` of it, split equally between their
mechanisms (each of L2 sensitivity 1, so each gets the same noise multiplier). DP-SGD gets the
rest, and its noise multiplier is the smallest one for which the *total* (statistics + every
training step) stays within ε at δ, found by bisection on the accountant itself.

A small part of δ (``THRESHOLD_DELTA_SHARE``) pays for releasing category *names* found in the
data (see :mod:`tvae.privacy.statistics`): a category held by one row is released with
probability at most that part; the accountant converts RDP to ε at the rest of δ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tvae.errors import InvalidParameterError
from tvae.privacy.accountant import Accountant, gaussian_rho_for_epsilon

# Of ρ, for the transformer's statistics (and the private latent's two moments). Half: with
# Poisson sampling, DP-SGD's noise multiplier grows only ~20 % when its share halves (adult,
# 4,000 rows, epsilon = 10: 1.33 at 0.85 of rho, 1.63 at 0.5), while the statistics' noise falls
# 1.8x. Measured (docs/privacy.md) against 0.15: epsilon = 1 adult 0.75 -> 0.82, titanic
# 0.67 -> 0.74; epsilon = 3 +0.02; epsilon = 10 bank +0.03, adult within -0.004.
STATISTICS_SHARE = 0.5
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


def plan_budget(
    epsilon: float, delta: float, delta_source: str, n_statistics: int, n_thresholded: int,
    sample_rate: float, steps: int, clipping_norm: float = CLIPPING_NORM,
) -> BudgetPlan:  # fmt: skip
    """Split (``epsilon``, ``delta``) between ``n_statistics`` Gaussian statistics (of which
    ``n_thresholded`` release category names) and ``steps`` DP-SGD steps at ``sample_rate``."""
    threshold_delta = THRESHOLD_DELTA_SHARE * delta if n_thresholded else 0.0
    accounting_delta = delta - threshold_delta
    accountant = Accountant()
    statistics_noise = math.inf
    if n_statistics:
        rho = STATISTICS_SHARE * gaussian_rho_for_epsilon(epsilon, accounting_delta)
        if rho <= 0:  # even no noise-free information at all would exceed it at this delta
            raise InvalidParameterError(
                f"epsilon={epsilon} is too small to train at delta={delta:.3g}: the accountant "
                "cannot certify any release below it; raise epsilon"
            )
        statistics_noise = math.sqrt(n_statistics / (2 * rho))
    planned = [("statistics", statistics_noise, 1.0, n_statistics)] if n_statistics else []

    def spent(noise: float) -> float:
        return accountant.epsilon(
            accounting_delta, [*planned, ("dp-sgd", noise, sample_rate, steps)]
        )

    if spent(MAX_NOISE_MULTIPLIER) > epsilon:
        raise InvalidParameterError(
            f"epsilon={epsilon} is too small to train: {steps} DP-SGD steps at sampling rate "
            f"{sample_rate:.3g} would need a noise multiplier above {MAX_NOISE_MULTIPLIER}; "
            "raise epsilon, or lower epochs"
        )
    low, high = MIN_NOISE_MULTIPLIER, MAX_NOISE_MULTIPLIER
    if spent(low) <= epsilon:
        high = low
    for _ in range(40):  # the smallest noise within budget (spent falls as noise grows)
        if high - low < 1e-4:
            break
        middle = (low + high) / 2
        low, high = (low, middle) if spent(middle) <= epsilon else (middle, high)
    return BudgetPlan(
        epsilon=epsilon, delta=delta, delta_source=delta_source,
        accounting_delta=accounting_delta, threshold_delta=threshold_delta,
        statistics_noise=statistics_noise, n_statistics=n_statistics, sgd_noise=high,
        sample_rate=sample_rate, steps=steps, clipping_norm=clipping_norm, accountant=accountant,
    )  # fmt: skip
