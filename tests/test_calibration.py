"""Marginal calibration: sampled category and mode rates equal the training rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tvae import TVAE
from tvae.calibration import calibrate_marginals
from tvae.layout import Layout, Span, SpanIndex
from tvae.model import Decoder
from tvae.prior import StandardPrior


def _layout() -> Layout:
    # one tanh scalar, then a 3-way and a 2-way softmax span
    return Layout(
        (Span("tanh", 1, 0, "x"), Span("softmax", 3, 1, "x"), Span("softmax", 2, 4, "plan"))
    )


def test_calibration_matches_the_code_frequencies_under_the_prior():
    torch.manual_seed(0)
    layout = _layout()
    index = SpanIndex.from_layout(layout)
    decoder = Decoder(4, (16,), layout.width)
    codes = torch.tensor([[0, 1]] * 70 + [[1, 0]] * 25 + [[2, 1]] * 5)  # rates .70/.25/.05, .25/.75
    prior = StandardPrior(4)
    calibrate_marginals(decoder, prior, index, codes, torch.Generator().manual_seed(1))

    with torch.no_grad():
        raw, _ = decoder(prior.sample(50_000, torch.Generator().manual_seed(2)))
    first = torch.softmax(raw[:, 1:4], dim=1).mean(0)
    second = torch.softmax(raw[:, 4:6], dim=1).mean(0)
    assert torch.allclose(first, torch.tensor([0.70, 0.25, 0.05]), atol=0.01)
    assert torch.allclose(second, torch.tensor([0.25, 0.75]), atol=0.01)


def test_calibration_leaves_tanh_outputs_alone():
    layout = _layout()
    decoder = Decoder(4, (16,), layout.width)
    before = decoder.body[-1].bias.detach().clone()
    codes = torch.tensor([[0, 0], [1, 1], [2, 1]])
    calibrate_marginals(
        decoder, StandardPrior(4), SpanIndex.from_layout(layout), codes,
        torch.Generator().manual_seed(0),
    )  # fmt: skip
    after = decoder.body[-1].bias.detach()
    assert after[0] == before[0]
    assert not torch.equal(after[1:], before[1:])


def test_a_short_fit_samples_a_rare_category_at_its_rate():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.75, 0.2, 0.05]),
            "spend": rng.gamma(2.0, 30.0, n).round(2),
        }
    )
    model = TVAE(epochs=3, batch_size=100, random_state=0).fit(frame)
    rates = model.sample(20_000, random_state=1)["plan"].value_counts(normalize=True)
    real = frame["plan"].value_counts(normalize=True)
    assert (rates - real).abs().max() < 0.02


def test_calibrate_false_and_argmax_decoding_leave_the_decoder_as_trained():
    frame = pd.DataFrame({"plan": ["a"] * 90 + ["b"] * 10, "x": np.arange(100.0)})
    biases = []
    for params in ({"calibrate": False}, {"calibrate": True, "decoding": "argmax"}):
        model = TVAE(epochs=1, batch_size=50, random_state=0, **params).fit(frame)
        biases.append(model.decoder_.body[-1].bias.detach().clone())
    assert torch.equal(biases[0], biases[1])
