"""The private mixture prior: DP-EM's releases, what it recovers, and the fit that uses it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE, load
from tvae.privacy import mixture
from tvae.privacy.mixture import (
    CLIP_NORM,
    ITERATIONS,
    MAX_COMPONENTS,
    MIN_COMPONENTS,
    planned_components,
    release_mixture,
)


def _whitened_clusters(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows from three separated Gaussians in 4 dimensions, whitened to identity covariance:
    (rows (n, 4), their component (n,), the components' whitened means (3, 4))."""
    rng = np.random.default_rng(seed)
    centres = np.array([[4.0, 0, 0, 0], [-4.0, 0, 0, 0], [0, 4.0, 0, 0]])
    component = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    raw = centres[component] + rng.normal(size=(n, 4))
    values, vectors = np.linalg.eigh(np.cov(raw.T, bias=True))
    whiten = vectors / np.sqrt(values)
    centre = raw.mean(axis=0)
    return (raw - centre) @ whiten, component, (centres - centre) @ whiten


def test_the_number_of_components_follows_rows_and_noise():
    assert planned_components(1_000, 4.0) == 0  # too few rows per component: standard prior
    assert planned_components(10**7, 4.0) == MAX_COMPONENTS
    assert planned_components(10**7, math.inf) == 0
    counts = [planned_components(30_000, noise) for noise in (2.0, 4.0, 8.0)]
    assert counts == sorted(counts, reverse=True)  # more noise, fewer components
    assert all(c == 0 or MIN_COMPONENTS <= c <= MAX_COMPONENTS for c in counts)


def test_each_em_release_moves_by_at_most_one_when_a_row_is_removed():
    """Sensitivity 1: the first iteration's exact vector with and without any one row (one of
    them far beyond the clipping norm) differs by at most 1 in L2."""
    rows, _, _ = _whitened_clusters(400, 0)
    rows[7] *= 50  # clipped to CLIP_NORM
    assert np.linalg.norm(rows[7]) > CLIP_NORM

    def first_release(table: np.ndarray) -> np.ndarray:
        seen = []

        def record(values: np.ndarray, label: str) -> np.ndarray:
            seen.append(values.copy())
            return values

        release_mixture(table, 5, 1.0, 0.0, record, np.random.default_rng(3))
        assert len(seen) == ITERATIONS
        return seen[0]

    full = first_release(rows)
    for removed in (0, 7, 123):
        fewer = first_release(np.delete(rows, removed, axis=0))
        assert np.linalg.norm(full - fewer) <= 1.0 + 1e-9


def test_without_noise_dp_em_finds_the_components():
    rows, component, true_means = _whitened_clusters(20_000, 1)
    labels = []

    def exact(values: np.ndarray, label: str) -> np.ndarray:
        labels.append(label)
        return values

    weights, means, covariance = release_mixture(rows, 6, 1.0, 0.0, exact, np.random.default_rng(0))
    assert labels == [f"prior:em-{i + 1}" for i in range(ITERATIONS)]
    assert weights.sum() == pytest.approx(1.0)
    # the mass near each true centre is that component's share of the rows
    nearest = np.linalg.norm(means[:, None] - true_means[None], axis=2).argmin(axis=1)  # (C,)
    shares = np.bincount(nearest, weights=weights, minlength=3)
    assert np.allclose(shares, np.bincount(component) / len(component), atol=0.05)
    # the shared covariance plus the means' spread is the rows' covariance, I
    centred = means - weights @ means
    total = covariance + (weights[:, None] * centred).T @ centred
    assert np.allclose(total, np.eye(4), atol=1e-6)

    # a better model of the rows than N(0, I): higher mean log-density
    def log_density(points: np.ndarray) -> float:
        inverse = np.linalg.inv(covariance)
        _, log_det = np.linalg.slogdet(covariance)
        diffs = points[:, None] - means[None]  # (N, C, 4)
        quad = np.einsum("nci,ij,ncj->nc", diffs, inverse, diffs)
        joint = np.log(weights) - 0.5 * (quad + log_det)
        top = joint.max(axis=1, keepdims=True)
        return float((top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))).mean())

    standard = float((-0.5 * (rows**2).sum(axis=1)).mean())
    assert log_density(rows) > standard + 0.5


def test_with_noise_the_released_mixture_stays_close_to_the_exact_fit():
    """Gaussian noise on each release (from the same start): the released components stay
    near the exact fit's, far within the spread of the clusters."""
    rows, _, _ = _whitened_clusters(30_000, 2)
    noise = 3.0
    rng = np.random.default_rng(0)

    def gaussian(values: np.ndarray, label: str) -> np.ndarray:
        return values + rng.normal(0, noise, len(values))

    def exact(values: np.ndarray, label: str) -> np.ndarray:
        return values

    fits = [
        release_mixture(
            rows, 6, 1.0, mixture.dropped_below(noise), release, np.random.default_rng(0)
        )
        for release in (exact, gaussian)
    ]
    (exact_weights, exact_means, exact_cov), (weights, means, cov) = fits
    assert len(weights) == len(exact_weights) == 6  # every component keeps its rows
    assert np.abs(weights - exact_weights).max() < 0.01
    assert np.abs(means - exact_means).max() < 0.05
    assert np.abs(cov - exact_cov).max() < 0.05


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 3_000
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    base = {"a": 10.0, "b": 50.0, "c": 90.0}
    return pd.DataFrame(
        {
            "group": group,
            "value": np.array([base[g] for g in group]) + rng.normal(0, 3, n),
            "flag": rng.random(n) < 0.4,
        }
    )


SMALL = dict(epochs=2, random_state=0, embedding_dim=8, compress_dims=(16,),
             decompress_dims=(16,))  # fmt: skip


def test_a_private_fit_releases_a_mixture_prior_when_rows_allow(table, monkeypatch, tmp_path):
    monkeypatch.setattr(mixture, "MIN_COMPONENTS", 2)  # a small table, for speed
    model = TVAE(epsilon=8.0, **SMALL).fit(table)
    report = model.privacy_
    labels = [item["label"] for item in report["accountant"]["history"]]
    em = [f"prior:em-{i + 1}" for i in range(ITERATIONS)]
    assert labels[-ITERATIONS - 1 :] == [*em, "dp-sgd"]  # accounted, before DP-SGD
    tested = [label for label in labels if label.startswith("detect:")]
    assert len(labels) == report["n_statistics"] + len(tested) + 1
    assert report["epsilon"] <= report["epsilon_requested"]
    assert model.prior_.kind == "mixture" and report["prior"].startswith("mixture of")
    k = report["latent"]["dimensions"]
    assert model.prior_.means.shape[1] == k and (model.prior_.active == np.arange(k)).all()
    model.save(tmp_path / "m.tvae")
    again = load(tmp_path / "m.tvae")
    pd.testing.assert_frame_equal(
        again.sample(100, random_state=1), model.sample(100, random_state=1)
    )
    # prior="standard" spends nothing on a mixture
    standard = TVAE(epsilon=8.0, prior="standard", **SMALL).fit(table)
    assert standard.prior_.kind == "standard"
    assert not any(
        item["label"].startswith("prior:") for item in standard.privacy_["accountant"]["history"]
    )


def test_too_few_rows_keep_the_standard_prior_and_spend_nothing_on_it(table):
    model = TVAE(epsilon=8.0, **SMALL).fit(table.head(500))
    assert model.prior_.kind == "standard"
    assert model.privacy_["prior"].startswith("standard")
    labels = [item["label"] for item in model.privacy_["accountant"]["history"]]
    assert not any(label.startswith("prior:") for label in labels)
