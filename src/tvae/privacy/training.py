"""DP-SGD for the encoder and decoder: per-example clipping, Gaussian noise, Poisson sampling.

Each step: every row joins the batch with probability ``sample_rate`` (Poisson sampling, as the
accountant assumes); each row's gradient (over all parameters at once) is clipped to L2 norm
``clipping_norm``; the clipped gradients are summed, N(0, (noise * clipping_norm)^2) is added
to each coordinate, and the sum is divided by the *expected* batch size ``sample_rate * n``;
Adam then steps on it. Losses are not recorded: the per-batch loss of real rows is not private.

Per-row gradients without materialising them. The networks are stacks of ``nn.Linear`` applied
once per row (no batch norm, no sequence axis), so row i's gradient of a layer's weight is the
outer product ``g_i a_i^T`` of the gradient at the layer's output and its input, whose norm is
``|g_i| |a_i|``, and the clipped sum is ``(s * g)^T a`` with the rows' clipping factors ``s``:
one forward, one backward to the layer outputs, and a matrix product per layer (the trick of
Goodfellow, 2015, "Efficient per-example gradient computations"). The decoder's free ``sigma``
(one scale per output, not inside a layer: per-layer gradient samplers such as Opacus's do not
see it) gets its per-row gradient in closed form from the loss:
``d/d sigma_j = loss_factor * (1 / sigma_j - (x_j - tanh(raw_j))^2 / sigma_j^3)`` at each
numeric output j (0 elsewhere). By default it is *not* trained under DP (``DPConfig.train_sigma``):
those per-row gradients are hundreds to thousands of times the weights' on adult, so clipping
the whole row to norm 1 leaves the weights almost nothing; measured on adult (4,000 rows,
clipping without noise), quality 0.854 with sigma trained, 0.910 with it fixed at 0.1.
:func:`per_row_gradients` gives the per-row gradients the plain
way (one backward per row), which the tests check the fast path against.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from tvae.layout import SpanIndex
from tvae.loss import LossTerms, latent_draw, tvae_loss
from tvae.model import Decoder, Encoder
from tvae.optimizer import Adam
from tvae.training import Batch, StepFn, TrainingConfig, TrainingData, dense_batch, train


@dataclass(frozen=True)
class DPConfig:
    noise_multiplier: float
    clipping_norm: float
    sample_rate: float
    steps: int
    # The decoder's sigma has per-row gradients that grow as 1 / sigma^3 (hundreds to
    # thousands on adult, against about 1 for the weights): clipped with the rest, it takes
    # the whole clipping norm. Under DP it stays fixed (at fixed_sigma) unless asked.
    train_sigma: bool = False
    per_layer: bool = False
    # sigma's value when it is not trained. 0.3 rather than the reference's initial 0.1: at
    # 0.1 a numeric column's squared error weighs 100 times and its gradient takes most of each
    # row's clipping norm from the categorical columns (adult, epsilon = 10, seeds 0-2: quality
    # 0.886 at 0.3 and 0.5, 0.877 at 1.0, 0.859 at 0.1; docs/privacy.md)
    fixed_sigma: float = 0.3
    # The decoder reads only its first ``latent_inputs`` latent dimensions (the private
    # projection's; None: all). The other dimensions carry no row, only the prior's noise: their
    # weights would take DP noise and a share of every row's clipping norm and give nothing back
    # (adult, 4,000 rows, epsilon = 10, seeds 0-1: quality 0.883 -> 0.898, pair trends
    # 0.788 -> 0.819, efficacy F1 0.64 -> 0.72 when they are left out; docs/privacy.md).
    # Their columns of the first layer stay at zero.
    latent_inputs: int | None = None
    # The decoder trains only the first ``hidden_units`` units of each hidden layer (None: all);
    # the others' weights stay at zero, take no gradient and no noise. DP-SGD's noise grows with
    # the square root of the parameters it covers, so a table of few rows gets a narrower
    # decoder (fit.private_hidden_units; docs/privacy.md).
    hidden_units: int | None = None


def trained_masks(
    decoder: Decoder, latent_inputs: int | None, hidden_units: int | None
) -> dict[nn.Parameter, torch.Tensor]:
    """For each decoder parameter DP-SGD trains only in part, which entries (True) it trains;
    the others stay at zero: the latent inputs from ``latent_inputs`` on and the hidden units
    from ``hidden_units`` on (a unit whose weights and bias are zero outputs ReLU(0) = 0, so
    neither its weights nor the next layer's weights from it get a gradient)."""
    layers = decoder_linears(decoder)
    masks: dict[nn.Parameter, torch.Tensor] = {}

    def mask(p: nn.Parameter) -> torch.Tensor:
        return masks.setdefault(p, torch.ones_like(p, dtype=torch.bool))

    if latent_inputs is not None:
        mask(layers[0].weight)[:, latent_inputs:] = False
    if hidden_units is not None:
        for before, after in itertools.pairwise(layers):
            mask(before.weight)[hidden_units:] = False
            mask(before.bias)[hidden_units:] = False
            mask(after.weight)[:, hidden_units:] = False
    return masks


def _linears(encoder: Encoder, decoder: Decoder) -> list[nn.Linear]:
    layers = [m for m in [*encoder.modules(), *decoder.modules()] if isinstance(m, nn.Linear)]
    covered = {id(p) for layer in layers for p in layer.parameters()} | {id(decoder.sigma)}
    if covered != {id(p) for p in [*encoder.parameters(), *decoder.parameters()]}:
        raise TypeError("DP-SGD handles networks of nn.Linear layers and the decoder's sigma only")
    return layers


def clipped_gradient_sum(
    encoder: Encoder, decoder: Decoder, alphas: torch.Tensor, codes: torch.Tensor,
    eps: torch.Tensor, index: SpanIndex, loss_factor: float, clipping_norm: float,
    per_layer: bool = False, latent_inputs: int | None = None,
) -> dict[nn.Parameter, torch.Tensor]:  # fmt: skip
    """Sum over the rows of each row's gradient clipped to L2 norm ``clipping_norm``.

    With ``latent_inputs`` (k), the decoder's first layer is trained on its first k input
    columns only: the rest of its weight has no gradient (and no part of the norm).

    ``per_layer`` clips each layer's part (and sigma's) to ``clipping_norm / sqrt(G)`` for G
    parts instead of the whole gradient at once (McMahan et al., 2018): the bound on the whole
    is the same, but one part with large gradients (sigma, whose per-row gradient grows as
    1 / sigma^3) no longer shrinks every other part of that row.
    """
    # a frozen network (the private encoder, fixed before DP-SGD) takes no gradient
    layers = [layer for layer in _linears(encoder, decoder) if layer.weight.requires_grad]
    inputs: dict[nn.Linear, torch.Tensor] = {}
    outputs: dict[nn.Linear, torch.Tensor] = {}

    def keep(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        inputs[module], outputs[module] = args[0].detach(), out

    first = first_decoder_layer(decoder)
    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        rows = dense_batch(alphas, codes, index, decoder.sigma.shape[0])  # (B, D)
        mu, logvar = encoder(rows)
        z, kl = latent_draw(mu, logvar, eps)
        raw, sigma = decoder(z)
        terms = tvae_loss(raw, sigma, alphas, codes, kl, index, loss_factor)
    finally:
        for handle in handles:
            handle.remove()
    n_rows = len(rows)
    if latent_inputs is not None and first in inputs:  # the other columns are not trained
        inputs[first] = inputs[first].clone()
        inputs[first][:, latent_inputs:] = 0.0
    # the batch loss is the mean of the rows' losses: n * loss is their sum
    grads = torch.autograd.grad(terms.total * n_rows, [outputs[layer] for layer in layers])
    sigma_rows = _sigma_row_gradients(raw.detach(), decoder.sigma.detach(), alphas, index,
                                      loss_factor)  # (B, D)  # fmt: skip
    # squared norm of each row's gradient in each group: one per layer, then sigma. (G, B)
    train_sigma = decoder.sigma.requires_grad
    squared = torch.stack(
        [g.pow(2).sum(1) * (inputs[layer].pow(2).sum(1) + 1.0) for layer, g in
         zip(layers, grads, strict=True)] + [sigma_rows.pow(2).sum(1) * train_sigma]
    )  # fmt: skip
    if per_layer:
        # each of the G groups clipped to clipping_norm / sqrt(G): the whole row's gradient
        # still has norm <= clipping_norm (the sensitivity the noise is calibrated to)
        bound = clipping_norm / math.sqrt(len(layers) + train_sigma)
        scales = (bound / (squared.sqrt() + 1e-12)).clamp(max=1.0)  # (G, B)
    else:
        whole = (clipping_norm / (squared.sum(0).sqrt() + 1e-12)).clamp(max=1.0)  # (B,)
        scales = whole.expand(len(squared), n_rows)
    total: dict[nn.Parameter, torch.Tensor] = {}
    if train_sigma:
        total[decoder.sigma] = scales[-1] @ sigma_rows
    for scale, layer, g in zip(scales[:-1], layers, grads, strict=True):
        scaled = g * scale[:, None]  # (B, out)
        total[layer.weight] = scaled.T @ inputs[layer]  # (out, in)
        total[layer.bias] = scaled.sum(0)
    return total


def decoder_linears(decoder: Decoder) -> list[nn.Linear]:
    """The decoder's linear layers, the one that reads the latent first."""
    return [m for m in decoder.body if isinstance(m, nn.Linear)]


def first_decoder_layer(decoder: Decoder) -> nn.Linear:
    """The decoder's layer that reads the latent."""
    return decoder_linears(decoder)[0]


def _sigma_row_gradients(
    raw: torch.Tensor, sigma: torch.Tensor, alphas: torch.Tensor, index: SpanIndex,
    loss_factor: float,
) -> torch.Tensor:  # fmt: skip
    """Each row's gradient of its loss with respect to ``sigma``. (B, D)"""
    out = raw.new_zeros(raw.shape)
    if index.tanh_positions.numel():
        scale = sigma[index.tanh_positions]  # (T,)
        error = alphas - torch.tanh(raw.index_select(1, index.tanh_positions))  # (B, T)
        out[:, index.tanh_positions] = loss_factor * (1.0 / scale - error.pow(2) / scale.pow(3))
    return out


def per_row_gradients(
    encoder: Encoder, decoder: Decoder, alphas: torch.Tensor, codes: torch.Tensor,
    eps: torch.Tensor, index: SpanIndex, loss_factor: float,
) -> list[dict[str, torch.Tensor]]:  # fmt: skip
    """Every row's gradient, one backward pass per row (slow; the reference for the tests)."""
    params = dict(encoder.named_parameters(prefix="encoder"))
    params.update(decoder.named_parameters(prefix="decoder"))
    out = []
    for i in range(len(codes)):
        rows = dense_batch(alphas[i : i + 1], codes[i : i + 1], index, decoder.sigma.shape[0])
        z, kl = latent_draw(*encoder(rows), eps[i : i + 1])
        raw, sigma = decoder(z)
        loss = tvae_loss(raw, sigma, alphas[i : i + 1], codes[i : i + 1], kl, index,
                         loss_factor).total  # fmt: skip
        grads = torch.autograd.grad(loss, list(params.values()))
        out.append(dict(zip(params, grads, strict=True)))
    return out


class PoissonBatches:
    """The batch source of DP-SGD: each row joins each step's batch with probability
    ``sample_rate`` (the accountant's assumption), ``steps`` batches in all, cut into epochs of
    ``round(1 / sample_rate)`` steps for :func:`tvae.training.train`."""

    def __init__(self, data: TrainingData, sample_rate: float, steps: int) -> None:
        self.data, self.sample_rate, self.steps = data, sample_rate, steps
        self.steps_per_epoch = max(1, round(1 / sample_rate))

    def epoch(self, epoch: int, generator: torch.Generator) -> Iterator[Batch]:
        first = epoch * self.steps_per_epoch
        device = generator.device
        for _ in range(min(self.steps_per_epoch, self.steps - first)):
            chosen = torch.nonzero(
                torch.rand(self.data.n_rows, generator=generator, device=device) < self.sample_rate
            ).squeeze(1)  # (B,), B varies
            yield self.data.alphas[chosen], self.data.codes[chosen]

    def rows(self) -> Iterator[Batch]:  # the posterior of real rows is never taken under DP
        raise TypeError("a private fit reads no row outside DP-SGD")


def dp_step(dp: DPConfig, expected_batch: float, masks: dict[nn.Parameter, torch.Tensor]) -> StepFn:
    """One DP-SGD step: the rows' clipped gradients summed, Gaussian noise added to every
    trained coordinate (``masks``: :func:`trained_masks`), divided by the expected batch size;
    Adam steps on it. The loss of real rows is not private: the step returns NaN terms."""

    def step(
        encoder: Encoder, decoder: Decoder, optimizer: Adam,
        alphas: torch.Tensor, codes: torch.Tensor, index: SpanIndex, config: TrainingConfig,
        generator: torch.Generator,
    ) -> LossTerms:  # fmt: skip
        device = generator.device
        total: dict[nn.Parameter, torch.Tensor] = {}
        if len(codes):
            eps = torch.randn(
                (len(codes), encoder.fc_mu.out_features), generator=generator, device=device
            )
            total = clipped_gradient_sum(
                encoder, decoder, alphas, codes, eps, index, config.loss_factor,
                dp.clipping_norm, per_layer=dp.per_layer, latent_inputs=dp.latent_inputs,
            )  # fmt: skip
        for p in optimizer.params:
            noise = torch.randn(p.shape, generator=generator, device=device, dtype=p.dtype)
            if p in masks:
                noise = noise * masks[p]  # the entries that stay at zero get none
            summed = total.get(p, torch.zeros_like(p))
            p.grad = (summed + dp.noise_multiplier * dp.clipping_norm * noise) / expected_batch
        optimizer.step()
        optimizer.zero_grad()
        decoder.clamp_sigma()
        nan = torch.tensor(math.nan)
        return LossTerms(nan, nan, nan)

    return step


def dp_fit_loop(
    encoder: Encoder, decoder: Decoder, data: TrainingData, index: SpanIndex,
    config: TrainingConfig, dp: DPConfig, generator: torch.Generator,
) -> list[dict]:  # fmt: skip
    """Train with DP-SGD for ``dp.steps`` steps through the one training loop
    (:func:`tvae.training.train`); returns the history (no loss values)."""
    if not dp.train_sigma:
        with torch.no_grad():
            decoder.sigma.fill_(dp.fixed_sigma)
        decoder.sigma.requires_grad_(False)  # fixed (see DPConfig)
    masks = trained_masks(decoder, dp.latent_inputs, dp.hidden_units)
    with torch.no_grad():  # latent dimensions no row is projected on, units left out: zero
        for p, trained in masks.items():
            p.masked_fill_(~trained, 0.0)
    source = PoissonBatches(data, dp.sample_rate, dp.steps)
    epochs = math.ceil(dp.steps / source.steps_per_epoch)
    try:
        return train(
            encoder, decoder, source, index, _with_epochs(config, epochs), generator,
            step=dp_step(dp, dp.sample_rate * data.n_rows, masks),
        )  # fmt: skip
    finally:  # ordinary modules again once trained (the private encoder was frozen before)
        decoder.sigma.requires_grad_(True)
        encoder.requires_grad_(True)


def _with_epochs(config: TrainingConfig, epochs: int) -> TrainingConfig:
    return TrainingConfig(
        epochs=epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, loss_factor=config.loss_factor,
        lr_schedule=config.lr_schedule, verbose=config.verbose,
    )  # fmt: skip
