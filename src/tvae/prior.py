"""Where sampled latents come from: the reference's N(0, I), or a mixture learned after training.

A trained TVAE's encoder uses only some latent dimensions (the others collapse onto the prior),
and its aggregate posterior -- the mix of every training row's q(z | x) -- is far from N(0, I)
in those dimensions. Drawing z ~ N(0, I) then asks the decoder for latents it never saw, and the
decoder's per-column noise has to make up the rows. A Gaussian mixture fitted to the posterior
means in the *active* dimensions (those whose means vary across rows), with N(0, 1) kept in the
collapsed ones, puts sampled latents where the decoder learned to read them.

The mixture is fitted to draws from the aggregate posterior (``POSTERIOR_DRAWS`` per row from
each row's q(z | x)), not to the posterior means alone: where the encoder is still uncertain
(short training, small tables) the means are far narrower than q(z), and a prior fitted on them
distorts rates (titanic, 500 rows: a 20 % missing rate came back as 30 % from the means, 22 %
from the draws). Never fitted on rows: the mixture holds ``n_components`` means and
covariances of latent vectors, each summarising many rows (at least ``MIN_ROWS_PER_COMPONENT``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tvae.gaussian_mixture import fit_mixture

PRIORS = ("standard", "mixture")
# A latent dimension is active when its posterior means vary this much across rows. It was
# 0.01; bfloat16 training leaves many dimensions whose means vary by 0.01-0.15 around posterior
# standard deviations of 0.92-0.99 (under 0.1 nats each), which cost the mixture its time (bank:
# 31 dimensions and 4.2 s against 10 and 0.8 s) and gave no quality. A float32 fit of bank has
# none between 0.004 and 0.8 (docs/fidelity.md, "bfloat16 matrix products").
# Fits with few given epochs spread their latent thinly (bank, 20 epochs: 112 dimensions at
# 0.03-0.15); at 0.1 they lose 0.005-0.008 of quality and take a third of the time.
ACTIVE_VARIANCE = 0.1
MAX_COMPONENTS = 50
MIN_ROWS_PER_COMPONENT = 200
FIT_ROWS = 30_000  # the mixture is fitted on at most this many posterior draws (cost ~ linear)
POSTERIOR_DRAWS = 2  # draws from each row's posterior (rows beyond FIT_ROWS / 2 subsampled)
REG_COVAR = 1e-4


@dataclass
class StandardPrior:
    """z ~ N(0, I), as the reference samples."""

    embedding_dim: int
    kind: str = "standard"

    def sample(self, n_rows: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(
            (n_rows, self.embedding_dim), generator=generator, device=generator.device
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        return {}


def posterior_draws(
    mu: torch.Tensor, logvar: torch.Tensor, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The active dimensions (A,) and ``POSTERIOR_DRAWS`` draws from each row's posterior in
    them, (R * POSTERIOR_DRAWS, A) float64, R = the rows (at most ``FIT_ROWS`` draws in all:
    rows beyond are subsampled with ``seed``)."""
    generator = torch.Generator().manual_seed(seed)
    means, logvars = mu.detach().cpu().double(), logvar.detach().cpu().double()
    if len(means) * POSTERIOR_DRAWS > FIT_ROWS:
        rows = torch.randperm(len(means), generator=generator)[: FIT_ROWS // POSTERIOR_DRAWS]
        means, logvars = means[rows], logvars[rows]
    # a dimension carries information where the rows' posterior means differ
    spread_of_means = means.var(dim=0) if len(means) > 1 else torch.zeros(means.shape[1])
    active = torch.nonzero(spread_of_means > ACTIVE_VARIANCE).squeeze(1)  # one row: none
    centre = means[:, active].repeat(POSTERIOR_DRAWS, 1)
    spread = (0.5 * logvars[:, active]).exp().repeat(POSTERIOR_DRAWS, 1)
    noise = torch.randn(centre.shape, generator=generator, dtype=torch.float64)
    return active, centre + spread * noise


@dataclass
class MixturePrior:
    """A Gaussian mixture over the active latent dimensions; N(0, 1) in the others."""

    embedding_dim: int
    active: torch.Tensor  # (A,) long: the active dimensions
    weights: torch.Tensor  # (C,)
    means: torch.Tensor  # (C, A)
    cholesky: torch.Tensor  # (C, A, A) lower-triangular factors of the covariances
    kind: str = "mixture"

    def __post_init__(self) -> None:
        # Row-major, as a saved and loaded prior is: a matrix product's rounding depends on its
        # operands' layout (LAPACK's factors are column-major), and a model must sample the
        # same rows before and after a save.
        for name in ("active", "weights", "means", "cholesky"):
            setattr(self, name, getattr(self, name).contiguous())

    @classmethod
    def fit(cls, mu: torch.Tensor, logvar: torch.Tensor, seed: int) -> MixturePrior:
        """Fit on the training rows' posteriors: means ``mu`` and log-variances ``logvar``."""
        active, points = posterior_draws(mu, logvar, seed)
        n_rows = len(points) // POSTERIOR_DRAWS
        if len(active) == 0 or n_rows < 2:
            return cls.empty(mu.shape[1])
        n_components = int(min(MAX_COMPONENTS, max(1, n_rows // MIN_ROWS_PER_COMPONENT)))
        mixture = fit_mixture(points, n_components, seed, reg_covar=REG_COVAR)
        return cls(
            embedding_dim=mu.shape[1],
            active=active,
            weights=mixture.weights.float(),
            means=mixture.means.float(),
            cholesky=mixture.cholesky.float(),
        )

    @classmethod
    def empty(cls, embedding_dim: int) -> MixturePrior:
        """No active dimension: the mixture is N(0, I)."""
        return cls(
            embedding_dim,
            torch.empty(0, dtype=torch.long),
            torch.ones(1),
            torch.zeros((1, 0)),
            torch.zeros((1, 0, 0)),
        )

    def sample(self, n_rows: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        z = torch.randn((n_rows, self.embedding_dim), generator=generator, device=device)
        if len(self.active) == 0 or n_rows == 0:
            return z
        component = torch.multinomial(
            self.weights.to(device), n_rows, replacement=True, generator=generator
        )  # (N,)
        noise = torch.randn((n_rows, len(self.active)), generator=generator, device=device)
        means, cholesky = self.means.to(device), self.cholesky.to(device)
        order = torch.argsort(component, stable=True)  # rows grouped by component
        counts = torch.bincount(component, minlength=len(self.weights)).tolist()
        blocks = [
            means[c] + block @ cholesky[c].T  # one matrix product per component
            for c, block in enumerate(noise[order].split(counts))
            if len(block)
        ]
        draws = torch.empty_like(noise)  # (N, A)
        draws[order] = torch.cat(blocks)
        z[:, self.active.to(device)] = draws
        return z

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "prior.active": self.active,
            "prior.weights": self.weights,
            "prior.means": self.means,
            "prior.cholesky": self.cholesky,
        }

    @classmethod
    def from_tensors(cls, embedding_dim: int, tensors: dict[str, torch.Tensor]) -> MixturePrior:
        return cls(
            embedding_dim,
            tensors["prior.active"].long(),
            tensors["prior.weights"].float(),
            tensors["prior.means"].float(),
            tensors["prior.cholesky"].float(),
        )

    @property
    def n_components(self) -> int:
        return len(self.weights)


LatentPrior = StandardPrior | MixturePrior


def load_prior(kind: str, embedding_dim: int, tensors: dict[str, torch.Tensor]) -> LatentPrior:
    """Rebuild the prior a model file names (files without one used the standard prior)."""
    if kind == "mixture":
        return MixturePrior.from_tensors(embedding_dim, tensors)
    return StandardPrior(embedding_dim)
