"""Rényi differential privacy (RDP) accounting of Gaussian mechanisms, subsampled or not.

Every step that touches the data is recorded here as ``(noise_multiplier, sample_rate, steps)``:
a statistic of the transformer is one release of a Gaussian mechanism (sample rate 1, noise
multiplier = noise std / L2 sensitivity), a DP-SGD run is ``steps`` releases of the Poisson-
subsampled Gaussian mechanism. RDP composes by addition at each order, so the whole pipeline's
(ε, δ) comes from one sum (Mironov, 2017; Mironov, Talwar, Zhang, 2019), converted to (ε, δ)
with the conversion of Balle et al. (2020), as Opacus's RDP accountant does.

Orders are integers (the subsampled Gaussian's RDP has an exact finite sum there); Opacus also
uses fractional orders below 11, which can give a slightly smaller ε: ours is never below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln, logsumexp

ORDERS = tuple(range(2, 257))
NAME = "rdp"


def _log_binomial(n: int) -> np.ndarray:
    """log C(n, i) for i = 0..n. (n + 1,)"""
    i = np.arange(n + 1)
    return gammaln(n + 1) - gammaln(i + 1) - gammaln(n - i + 1)


def subsampled_gaussian_rdp(sample_rate: float, noise_multiplier: float, order: int) -> float:
    """RDP at integer ``order`` of one step of the Poisson-subsampled Gaussian mechanism.

    With q = ``sample_rate`` and s = ``noise_multiplier``, it is log(A) / (order - 1) with
    A = sum_i C(order, i) q^i (1 - q)^(order - i) exp((i^2 - i) / (2 s^2)); q = 1 is the plain
    Gaussian mechanism, order / (2 s^2).
    """
    if sample_rate == 0:
        return 0.0
    if noise_multiplier == 0:
        return math.inf
    if sample_rate == 1.0:
        return order / (2 * noise_multiplier**2)
    i = np.arange(order + 1, dtype=np.float64)
    terms = (
        _log_binomial(order)
        + i * math.log(sample_rate)
        + (order - i) * math.log1p(-sample_rate)
        + (i * i - i) / (2 * noise_multiplier**2)
    )
    return float(logsumexp(terms)) / (order - 1)


def rdp_curve(sample_rate: float, noise_multiplier: float, orders: tuple[int, ...]) -> np.ndarray:
    """:func:`subsampled_gaussian_rdp` at every integer order at once. (len(orders),)"""
    a = np.asarray(orders, dtype=np.float64)[:, None]  # (A, 1)
    if sample_rate == 0:
        return np.zeros(len(orders))
    if noise_multiplier == 0:
        return np.full(len(orders), np.inf)
    if sample_rate == 1.0:
        return a[:, 0] / (2 * noise_multiplier**2)
    i = np.arange(int(a.max()) + 1, dtype=np.float64)[None, :]  # (1, I)
    inside = i <= a
    safe = np.where(inside, a - i, 0.0)
    terms = (
        gammaln(a + 1) - gammaln(i + 1) - gammaln(safe + 1)
        + i * math.log(sample_rate)
        + safe * math.log1p(-sample_rate)
        + (i * i - i) / (2 * noise_multiplier**2)
    )  # fmt: skip
    return logsumexp(np.where(inside, terms, -np.inf), axis=1) / (a[:, 0] - 1)


def epsilon_from_rdp(rdp: np.ndarray, orders: np.ndarray, delta: float) -> tuple[float, float]:
    """The smallest ε over ``orders`` for RDP values ``rdp`` at ``delta``, and its order.

    eps = rdp - (log(delta) + log(a)) / (a - 1) + log((a - 1) / a)   (Balle et al., 2020).
    """
    orders = np.asarray(orders, dtype=np.float64)
    eps = rdp - (math.log(delta) + np.log(orders)) / (orders - 1) + np.log((orders - 1) / orders)
    eps = np.where(np.isnan(eps), np.inf, eps)
    best = int(np.argmin(eps))
    return max(0.0, float(eps[best])), float(orders[best])


@dataclass
class Accountant:
    """RDP accountant of a sequence of (subsampled) Gaussian mechanisms.

    ``history`` holds ``(label, noise_multiplier, sample_rate, steps)`` records, in order.
    """

    orders: tuple[int, ...] = ORDERS
    history: list[tuple[str, float, float, int]] = field(default_factory=list)

    def record(self, label: str, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        self.history.append((label, float(noise_multiplier), float(sample_rate), int(steps)))

    def rdp(self, extra: list[tuple[str, float, float, int]] = ()) -> np.ndarray:
        """Total RDP at every order of the history (plus ``extra`` records). (len(orders),)"""
        total = np.zeros(len(self.orders))
        for _, noise, rate, steps in [*self.history, *extra]:
            total += steps * rdp_curve(rate, noise, self.orders)
        return total

    def epsilon(self, delta: float, extra: list[tuple[str, float, float, int]] = ()) -> float:
        """ε spent at ``delta`` by the history (plus ``extra``)."""
        return epsilon_from_rdp(self.rdp(extra), np.asarray(self.orders), delta)[0]

    def to_dict(self) -> dict:
        return {
            "name": NAME,
            "orders": [self.orders[0], self.orders[-1]],
            "history": [
                {"label": label, "noise_multiplier": noise, "sample_rate": rate, "steps": steps}
                for label, noise, rate, steps in self.history
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Accountant:
        low, high = data.get("orders", [ORDERS[0], ORDERS[-1]])
        accountant = cls(tuple(range(int(low), int(high) + 1)))
        for item in data.get("history", []):
            accountant.record(
                item["label"], item["noise_multiplier"], item["sample_rate"], item["steps"]
            )
        return accountant


def gaussian_rho_for_epsilon(epsilon: float, delta: float, orders: tuple[int, ...] = ORDERS):
    """The largest ρ whose Gaussian RDP curve ρ·a gives at most ``epsilon`` at ``delta``."""
    grid = np.asarray(orders, dtype=np.float64)

    def eps_of(rho: float) -> float:
        return epsilon_from_rdp(rho * grid, grid, delta)[0]

    low, high = 0.0, 1.0
    while eps_of(high) < epsilon:
        high *= 2
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (middle, high) if eps_of(middle) <= epsilon else (low, middle)
    return low
