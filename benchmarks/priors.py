"""Which latent prior: the same trained TVAE sampled through five priors, on the same split.

Usage (needs the `bench` extra):
    OMP_NUM_THREADS=1 python benchmarks/priors.py --table DATA/adult.csv:income --seeds 0 1 2 \
        --out priors.jsonl

Per table and seed (split and scores as in fidelity.py): one `tvae.TVAE(random_state=seed)` fit
with its defaults but `calibrate=False` (calibration is fitted under one prior); the training
rows' posteriors q(z | x) it computed are kept, and the decoder is then sampled through each
prior in turn, with the same sampling seed:

- ``standard``: N(0, I), the reference's prior;
- ``mixture``: the shipped prior (tvae.prior.MixturePrior: a full-covariance Gaussian mixture
  over the active dimensions, fitted on posterior draws);
- ``flow``: a RealNVP normalizing flow (affine couplings) fitted on the same draws;
- ``diffusion``: a small DDPM (an MLP predicting the noise, cosine schedule) fitted on the same
  draws, sampled by ancestral steps (the latent-diffusion recipe of TabSyn, at CPU size);
- ``aggregate``: each sampled latent drawn from a random training row's posterior -- the upper
  bound a perfect prior reaches, and a privacy risk (rows stay near real ones): not shippable.

All priors keep N(0, 1) in the collapsed dimensions. Reported per prior: the fidelity scores
(quality, shapes, trends, detection, efficacy, DCR share, ...), gap closed against the same
seed's independent columns and held-out rows, and the prior's own fit and sampling seconds
(the TVAE fit is shared and reported once). Every result is a JSON line in ``--out``; each table
ends with a Markdown table of mean ± sd over the seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tvae import TVAE
from tvae.prior import ACTIVE_VARIANCE, MixturePrior, StandardPrior, posterior_draws

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity import _cell, _plain, gap_closed, parse_table, score, split_context
from protocol import (
    dataset_name,
    discrete_columns_of,
    independent_sample,
    read_table,
    split,
    subsample,
)

PRIOR_NAMES = ("standard", "mixture", "flow", "diffusion", "aggregate")


# --- the training rows' posteriors, captured as the fit computes them ----------------------------


def fit_capturing_posteriors(model: TVAE, train, discrete) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit ``model``; return the (mu, logvar) the shipped mixture prior was fitted on."""
    captured: dict[str, torch.Tensor] = {}
    original = MixturePrior.fit.__func__

    def spy(cls, mu, logvar, seed):
        captured["mu"], captured["logvar"] = mu.detach().cpu(), logvar.detach().cpu()
        return original(cls, mu, logvar, seed)

    MixturePrior.fit = classmethod(spy)
    try:
        model.fit(train, discrete)
    finally:
        MixturePrior.fit = classmethod(original)
    return captured["mu"], captured["logvar"]


@dataclass
class ActivePrior:
    """N(0, 1) in the collapsed dimensions; ``draw`` fills the active ones."""

    embedding_dim: int
    active: torch.Tensor
    draw: Callable[[int, torch.Generator], torch.Tensor]
    kind: str = "experiment"

    def sample(self, n_rows: int, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn((n_rows, self.embedding_dim), generator=generator)
        if n_rows and len(self.active):
            z[:, self.active] = self.draw(n_rows, generator)
        return z


# --- a RealNVP flow -------------------------------------------------------------------------------


class Coupling(nn.Module):
    """y = x on the kept half; elsewhere x * exp(s(kept)) + t(kept)."""

    def __init__(self, mask: torch.Tensor, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        width = len(mask)
        self.net = nn.Sequential(
            nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 2 * width),
        )  # fmt: skip
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(kept).chunk(2, dim=1)
        free = 1 - self.mask
        return torch.tanh(s) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> noise direction, with log|det|."""
        s, t = self._scale_shift(x * self.mask)
        return x * torch.exp(-s) - t * torch.exp(-s), -s.sum(dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        s, t = self._scale_shift(y * self.mask)
        return y * torch.exp(s) + t


def fit_flow(points: torch.Tensor, seed: int, steps: int, layers: int = 8, hidden: int = 128):
    torch.manual_seed(seed)
    centre, scale = points.mean(0), points.std(0) + 1e-6
    x = (points - centre) / scale
    width = x.shape[1]
    generator = torch.Generator().manual_seed(seed)
    masks = [(torch.rand(width, generator=generator) < 0.5).float() for _ in range(layers // 2)]
    masks = [m for mask in masks for m in (mask, 1 - mask)]
    flow = nn.ModuleList(Coupling(m, hidden) for m in masks)
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for _ in range(steps):
        batch = x[torch.randint(len(x), (512,), generator=generator)]
        log_det = torch.zeros(len(batch))
        for layer in flow:
            batch, step_log_det = layer(batch)
            log_det = log_det + step_log_det
        nll = 0.5 * (batch**2).sum(1) - log_det
        optimizer.zero_grad()
        nll.mean().backward()
        optimizer.step()
        schedule.step()
    flow.eval()

    @torch.no_grad()
    def draw(n_rows: int, generator: torch.Generator) -> torch.Tensor:
        y = torch.randn((n_rows, width), generator=generator)
        for layer in reversed(flow):
            y = layer.inverse(y)
        return y * scale + centre

    return draw


# --- a latent DDPM --------------------------------------------------------------------------------


class Denoiser(nn.Module):
    """eps(x_t, t): an MLP over the latent and a sinusoidal embedding of the step."""

    def __init__(self, width: int, hidden: int, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.time = nn.Sequential(nn.Linear(64, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.input = nn.Linear(width, hidden)
        self.body = nn.Sequential(
            nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, width),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        frequencies = torch.exp(-math.log(1000.0) * torch.arange(32) / 32)
        angles = (t.float() / self.steps)[:, None] * 1000.0 * frequencies[None]  # (B, 32)
        embedding = torch.cat([angles.sin(), angles.cos()], dim=1)
        return self.body(self.input(x) + self.time(embedding))


def cosine_alphas_bar(steps: int) -> torch.Tensor:
    s = 0.008
    u = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return (f[1:] / f[0]).clamp(min=1e-5).float()  # alpha-bar at steps 1..T


def fit_diffusion(points: torch.Tensor, seed: int, train_steps: int, steps: int = 100,
                  hidden: int = 256):  # fmt: skip
    torch.manual_seed(seed)
    centre, scale = points.mean(0), points.std(0) + 1e-6
    x = (points - centre) / scale
    width = x.shape[1]
    generator = torch.Generator().manual_seed(seed)
    alphas_bar = cosine_alphas_bar(steps)
    model = Denoiser(width, hidden, steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, train_steps)
    for _ in range(train_steps):
        batch = x[torch.randint(len(x), (1024,), generator=generator)]
        t = torch.randint(steps, (len(batch),), generator=generator)
        noise = torch.randn(batch.shape, generator=generator)
        a = alphas_bar[t][:, None]
        noisy = a.sqrt() * batch + (1 - a).sqrt() * noise
        loss = ((model(noisy, t) - noise) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    previous = torch.cat([torch.ones(1), alphas_bar[:-1]])
    betas = (1 - alphas_bar / previous).clamp(max=0.999)

    @torch.no_grad()
    def draw(n_rows: int, generator: torch.Generator) -> torch.Tensor:
        y = torch.randn((n_rows, width), generator=generator)
        for step in reversed(range(steps)):
            t = torch.full((n_rows,), step, dtype=torch.long)
            eps = model(y, t)
            a_bar, beta = alphas_bar[step], betas[step]
            mean = (y - beta / (1 - a_bar).sqrt() * eps) / (1 - beta).sqrt()
            if step > 0:
                variance = beta * (1 - previous[step]) / (1 - a_bar)
                mean = mean + variance.sqrt() * torch.randn(y.shape, generator=generator)
            y = mean
        return y * scale + centre

    return draw


# --- the aggregate posterior (upper bound) --------------------------------------------------------


def aggregate_draw(mu: torch.Tensor, logvar: torch.Tensor, active: torch.Tensor):
    means, spreads = mu[:, active].float(), (0.5 * logvar[:, active]).exp().float()

    def draw(n_rows: int, generator: torch.Generator) -> torch.Tensor:
        rows = torch.randint(len(means), (n_rows,), generator=generator)
        noise = torch.randn((n_rows, len(active)), generator=generator)
        return means[rows] + spreads[rows] * noise

    return draw


# --- the run --------------------------------------------------------------------------------------


def build_priors(model: TVAE, mu, logvar, seed: int, args) -> dict[str, tuple[object, float]]:
    """Each prior asked for, with its fit seconds."""
    embedding_dim = mu.shape[1]
    active, points = posterior_draws(mu, logvar, seed)
    points = points.float()
    priors: dict[str, tuple[object, float]] = {}
    for name in args.priors:
        started = time.perf_counter()
        if name == "standard":
            prior = StandardPrior(embedding_dim)
        elif name == "mixture":
            prior = MixturePrior.fit(mu, logvar, seed)
        elif name == "flow":
            prior = ActivePrior(embedding_dim, active, fit_flow(points, seed, args.flow_steps))
        elif name == "diffusion":
            draw = fit_diffusion(points, seed, args.diffusion_steps, hidden=args.diffusion_hidden)
            prior = ActivePrior(embedding_dim, active, draw)
        else:
            prior = ActivePrior(embedding_dim, active, aggregate_draw(mu, logvar, active))
        priors[name] = (prior, time.perf_counter() - started)
    return priors


def run_table(path: str, target: str | None, args) -> list[dict]:
    frame = subsample(read_table(path), args.max_rows)
    discrete = discrete_columns_of(frame, None, target)
    records = []
    for seed in args.seeds:
        train, test = split(frame, seed)
        context = split_context(dataset_name(path), train, discrete, target, seed)
        floor = score("independent", independent_sample(train, len(train), seed), train, test,
                      context)  # fmt: skip
        ceiling = score("holdout", test, train, test, context)
        # uncalibrated: calibration is fitted under one prior, and would favour it
        model = TVAE(random_state=seed, enable_gpu=False, calibrate=False)
        started = time.perf_counter()
        mu, logvar = fit_capturing_posteriors(model, train, discrete)
        fit_seconds = time.perf_counter() - started
        for name, (prior, prior_seconds) in build_priors(model, mu, logvar, seed, args).items():
            model.prior_ = prior
            started = time.perf_counter()
            rows = model.sample(len(train), random_state=seed)
            record = {
                "table": context["table"], "prior": name, "seed": seed, "n_train": len(train),
                "tvae_fit_seconds": fit_seconds, "prior_fit_seconds": prior_seconds,
                "sample_seconds": time.perf_counter() - started,
                "active_dimensions": int((mu.var(0) > ACTIVE_VARIANCE).sum()),
            }  # fmt: skip
            record.update(score(name, rows, train, test, context))
            record["gap_closed"] = gap_closed(record["quality"], floor, ceiling)
            clean = _plain(record)
            print(json.dumps({k: v for k, v in clean.items() if k != "point_masses"}), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(clean) + "\n")
            records.append(record)
    return records


def markdown(records: list[dict]) -> str:
    fields = ["quality", "detection", "efficacy_f1", "dcr_share", "gap_closed",
              "prior_fit_seconds", "sample_seconds"]  # fmt: skip
    lines = ["| table | prior | seeds | " + " | ".join(fields) + " |",
             "|---|---|---|" + "---|" * len(fields)]  # fmt: skip
    for table in dict.fromkeys(r["table"] for r in records):
        for prior in dict.fromkeys(r["prior"] for r in records):
            group = [r for r in records if r["table"] == table and r["prior"] == prior]
            if group:
                cells = [_cell([r.get(f) for r in group]) for f in fields]
                lines.append(f"| {table} | {prior} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--table", action="append", required=True, metavar="PATH[:TARGET]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--priors", nargs="+", default=list(PRIOR_NAMES), choices=PRIOR_NAMES)
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--flow-steps", type=int, default=3_000)
    parser.add_argument("--diffusion-steps", type=int, default=4_000)
    parser.add_argument("--diffusion-hidden", type=int, default=256)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for path, target in (parse_table(spec) for spec in args.table):
        records = run_table(path, target, args)
        print("\n" + markdown(records) + "\n", flush=True)


if __name__ == "__main__":
    main()
