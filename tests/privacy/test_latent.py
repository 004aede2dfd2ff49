"""The private latent: the released projection, and the encoder that computes it exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tvae.model import Encoder
from tvae.privacy.latent import (
    BASE_TERMS,
    POSTERIOR_STD,
    latent_weight,
    n_components,
    release_projection,
    set_projection,
)


def test_projected_dimensions_fit_the_networks():
    assert n_components(128, (128, 128), 155) == 16
    assert n_components(128, (20,), 155) == 10  # each dimension passes ReLU as a +/- pair
    assert n_components(8, (), 5) == 5  # never wider than the row
    assert n_components(4, (128,), 155) == 4


def test_wide_rows_weigh_the_latent_sums_more_from_their_kinds_alone():
    narrow = {f"x{i}": "numerical" for i in range(6)} | {f"c{i}": "categorical" for i in range(8)}
    assert latent_weight(narrow) == 1.0  # adult: 20 terms
    wide = {f"x{i}": "numerical" for i in range(BASE_TERMS)}  # 2 terms each
    assert latent_weight(wide) == 4.0
    assert latent_weight(wide | {"when": "datetime", "ok": "boolean"}) == pytest.approx(
        ((2 * BASE_TERMS + 3) / BASE_TERMS) ** 2
    )


def test_without_noise_the_projection_whitens_the_rows_along_their_principal_axes():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(6, 6)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2, 0.1])[:, None]
    rows = rng.normal(size=(5_000, 6)) @ mixing + 0.5  # (N, 6)
    released = []

    def exact(values: np.ndarray, label: str) -> np.ndarray:
        released.append((label, values.shape))
        return values

    blocks = torch.from_numpy(rows).split(1_000)
    centre, projection = release_projection(blocks, len(rows), 0.1, 3, exact)
    assert released == [("latent:sum", (6,)), ("latent:outer-products", (21,))]
    h = (0.1 * rows - centre) @ projection
    assert np.allclose(h.mean(axis=0), 0, atol=1e-9)
    assert np.allclose(np.cov(h.T, bias=True), np.eye(3), atol=1e-9)  # whitened
    top = np.linalg.eigh(np.cov(rows.T))[1][:, ::-1][:, :3]  # the true principal axes
    cosines = np.abs((projection / np.linalg.norm(projection, axis=0)).T @ top)
    assert np.allclose(np.diag(cosines), 1, atol=1e-6)


@pytest.mark.parametrize("compress_dims", [(16, 12), (8,), ()])
def test_the_encoder_computes_the_projection_exactly_and_is_frozen(compress_dims):
    torch.manual_seed(0)
    encoder = Encoder(7, compress_dims, 5)
    rng = np.random.default_rng(1)
    centre, projection = rng.normal(size=7), rng.normal(size=(7, 3))
    set_projection(encoder, 0.25, centre, projection)
    x = torch.randn(50, 7)
    with torch.no_grad():
        mu, logvar = encoder(x)
    expected = math.sqrt(1 - POSTERIOR_STD**2) * ((0.25 * x.double().numpy() - centre) @ projection)
    assert np.allclose(mu[:, :3].numpy(), expected, atol=1e-5)
    assert (mu[:, 3:] == 0).all()
    assert torch.allclose(logvar[:, :3], torch.full((50, 3), math.log(POSTERIOR_STD**2)))
    assert (logvar[:, 3:] == 0).all()
    assert not any(p.requires_grad for p in encoder.parameters())
