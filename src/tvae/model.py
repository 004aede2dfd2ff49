"""The encoder and decoder networks (math only: no I/O, no data handling).

Encoder: encoded row (B, data_dim) -> mean and log-variance of a Gaussian latent (B, embedding_dim).
Decoder: latent (B, embedding_dim) -> raw reconstruction (B, data_dim), plus a learned noise
scale ``sigma`` per output position, as in the TVAE paper (Xu et al., 2019).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SIGMA_INIT = 0.1
SIGMA_MIN = 0.01
SIGMA_MAX = 1.0


def _mlp(in_dim: int, hidden_dims: Sequence[int]) -> tuple[nn.Sequential, int]:
    """Linear -> ReLU blocks; returns the stack and its output width."""
    layers: list[nn.Module] = []
    width = in_dim
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers), width


class Encoder(nn.Module):
    """MLP mapping an encoded row to the posterior ``q(z | x) = N(mu, exp(logvar))``."""

    def __init__(self, data_dim: int, compress_dims: Sequence[int], embedding_dim: int) -> None:
        super().__init__()
        self.body, width = _mlp(data_dim, compress_dims)
        self.fc_mu = nn.Linear(width, embedding_dim)
        self.fc_logvar = nn.Linear(width, embedding_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(x)  # (B, H)
        return self.fc_mu(hidden), self.fc_logvar(hidden)  # (B, E), (B, E)


class Decoder(nn.Module):
    """MLP mapping a latent vector to raw outputs (tanh / softmax applied by loss and sampler)."""

    def __init__(self, embedding_dim: int, decompress_dims: Sequence[int], data_dim: int) -> None:
        super().__init__()
        body, width = _mlp(embedding_dim, decompress_dims)
        self.body = nn.Sequential(*body, nn.Linear(width, data_dim))
        # One learned scale per output position; only the tanh positions use it.
        self.sigma = nn.Parameter(torch.full((data_dim,), SIGMA_INIT))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.body(z), self.sigma  # (B, D), (D,)

    @torch.no_grad()
    def clamp_sigma(self) -> None:
        """Keep sigma in [SIGMA_MIN, SIGMA_MAX]; called after every optimiser step."""
        self.sigma.clamp_(SIGMA_MIN, SIGMA_MAX)


def standard_normal(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like ``like`` (the reparameterisation's eps), drawn from
    ``generator``, never the global RNG."""
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
