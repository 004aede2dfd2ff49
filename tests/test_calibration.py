"""Marginal calibration: sampled category and mode rates equal the training rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tvae import TVAE
from tvae.calibration import calibrate_marginals, sharpen_softmax_spans
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


def test_sharpening_scales_the_softmax_logits_and_leaves_tanh_outputs_alone():
    torch.manual_seed(0)
    layout = _layout()
    decoder = Decoder(4, (16,), layout.width)
    z = torch.randn(8, 4)
    with torch.no_grad():
        before, _ = decoder(z)
    sharpen_softmax_spans(decoder, SpanIndex.from_layout(layout), 2.0)
    with torch.no_grad():
        after, _ = decoder(z)
    assert torch.equal(after[:, 0], before[:, 0])  # the tanh scalar
    assert torch.allclose(after[:, 1:], 2.0 * before[:, 1:], atol=1e-6)  # both softmax spans


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


def test_a_mode_span_is_matched_on_the_present_rows_of_its_column():
    # a numerical column's modes, then its "is missing" flag: missing rows hold the filler mode
    # 0, which no sampled value shows, so the modes must match the present rows' rates
    torch.manual_seed(0)
    layout = Layout(
        (
            Span("tanh", 1, 0, "salary"),
            Span("softmax", 3, 1, "salary"),
            Span("softmax", 2, 4, "salary", "missing"),
        )
    )
    assert layout.presence_gates == (1, -1)
    index = SpanIndex.from_layout(layout)
    decoder = Decoder(4, (16,), layout.width)
    present = [[0, 0]] * 20 + [[1, 0]] * 30 + [[2, 0]] * 20  # among present rows: 2/7, 3/7, 2/7
    codes = torch.tensor(present + [[0, 1]] * 30)
    prior = StandardPrior(4)
    calibrate_marginals(decoder, prior, index, codes, torch.Generator().manual_seed(1))

    with torch.no_grad():
        raw, _ = decoder(prior.sample(50_000, torch.Generator().manual_seed(2)))
    modes = torch.softmax(raw[:, 1:4], dim=1)
    present_probability = torch.softmax(raw[:, 4:6], dim=1)[:, :1]
    rates = (modes * present_probability).sum(0) / present_probability.sum()
    assert torch.allclose(present_probability.mean(), torch.tensor(0.70), atol=0.01)
    assert torch.allclose(rates, torch.tensor([2 / 7, 3 / 7, 2 / 7]), atol=0.01)


def test_the_missing_role_of_a_span_is_saved_with_the_layout():
    layout = Layout((Span("softmax", 3, 0, "x"), Span("softmax", 2, 3, "x", "missing")))
    again = Layout.from_list(layout.to_list())
    assert again == layout and again.presence_gates == (1, -1)
    older = Layout.from_list([{"kind": "softmax", "width": 2, "column": "x"}])  # no role saved
    assert older.spans[0].role == "value"
