"""Marginal calibration: sampled category and mode rates equal the training rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tvae import TVAE
from tvae.calibration import calibrate_marginals, match_drawn_rates, sharpen_softmax_spans
from tvae.drawn_rates import drawn_spans
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


def _salary_layout() -> Layout:
    return Layout(
        (
            Span("tanh", 1, 0, "salary"),
            Span("softmax", 3, 1, "salary"),
            Span("softmax", 2, 4, "salary", "missing"),
        )
    )


def _drawn_with_repair(decoder: Decoder, n: int, seed: int) -> torch.Tensor:
    """Rows drawn from ``decoder`` as a sampler would, then a repair that empties half the
    rows holding mode 2 (as a presence empties the salaries its source says are missing)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        raw, _ = decoder(StandardPrior(4).sample(n, generator))
    modes = torch.multinomial(torch.softmax(raw[:, 1:4], dim=1), 1, generator=generator)[:, 0]
    missing = torch.multinomial(torch.softmax(raw[:, 4:6], dim=1), 1, generator=generator)[:, 0]
    emptied = (modes == 2) & (torch.rand(n, generator=generator) < 0.5)
    missing = torch.where(emptied, torch.ones_like(missing), missing)
    modes = torch.where(missing == 1, torch.zeros_like(modes), modes)  # the filler mode
    return torch.stack([modes, missing], dim=1)


def test_drawn_rates_are_matched_on_the_rows_a_repair_leaves_a_value():
    torch.manual_seed(0)
    layout = _salary_layout()
    index = SpanIndex.from_layout(layout)
    decoder = Decoder(4, (16,), layout.width)
    present = [[0, 0]] * 30 + [[1, 0]] * 40 + [[2, 0]] * 30  # among present rows .3, .4, .3
    codes = torch.tensor(present + [[0, 1]] * 40)
    calibrate_marginals(decoder, StandardPrior(4), index, codes, torch.Generator().manual_seed(1))
    seeds = iter(range(100))
    draw = lambda: _drawn_with_repair(decoder, 20_000, next(seeds))  # noqa: E731
    before = _drawn_with_repair(decoder, 50_000, 99)
    held = before[before[:, 1] == 0, 0]
    assert (held == 2).double().mean() < 0.24  # the repair took mode 2 from the present rows

    match_drawn_rates(decoder, index, codes, draw, [0], rounds=8)
    after = _drawn_with_repair(decoder, 50_000, 98)
    held = after[after[:, 1] == 0, 0]
    rates = torch.bincount(held, minlength=3).double() / len(held)
    assert torch.allclose(rates, torch.tensor([0.3, 0.4, 0.3], dtype=torch.float64), atol=0.02)


def test_pooled_modes_are_shifted_alike():
    # two smooth modes whose values the encoder can give either code are matched as one
    torch.manual_seed(0)
    layout = _salary_layout()
    index = SpanIndex.from_layout(layout)
    decoder = Decoder(4, (16,), layout.width)
    codes = torch.tensor([[0, 0]] * 30 + [[1, 0]] * 40 + [[2, 0]] * 30)
    bias = decoder.body[-1].bias
    before = bias.detach().clone()
    seeds = iter(range(100))
    draw = lambda: _drawn_with_repair(decoder, 20_000, next(seeds))  # noqa: E731
    pooled = {0: np.array([True, True, False])}
    match_drawn_rates(decoder, index, codes, draw, [0], pooled, rounds=4)
    shift = bias.detach() - before
    assert torch.isclose(shift[1], shift[2], atol=1e-6)  # the two smooth modes, alike
    assert not torch.isclose(shift[1], shift[3])  # the point mass moved on its own


def test_a_round_that_overshoots_is_undone_and_the_step_halved():
    # a sampler whose redraws amplify every bias shift fourfold (binary traits with orders
    # between them): half steps of the log gap overshoot further each round
    layout = Layout((Span("softmax", 2, 0, "trait"),))
    index = SpanIndex.from_layout(layout)
    decoder = Decoder(4, (8,), layout.width)
    with torch.no_grad():
        decoder.body[-1].bias.zero_()
    codes = torch.tensor([[1]] * 30 + [[0]] * 70)  # real rate of code 1: 0.30

    def draw() -> torch.Tensor:
        bias = decoder.body[-1].bias.detach()
        rate = float(torch.sigmoid(4.0 * (bias[1] - bias[0]) - 3.0))
        ones = round(rate * 10_000)
        return torch.tensor([[1]] * ones + [[0]] * (10_000 - ones))

    first = abs(float(draw()[:, 0].double().mean()) - 0.30)
    left = match_drawn_rates(decoder, index, codes, draw, [0], rounds=6)
    last = abs(float(draw()[:, 0].double().mean()) - 0.30)
    assert last <= first and abs(left - last) < 0.01  # never worse than before, and as reported
    assert last < 0.05


def test_numbers_an_order_moves_are_matched_as_sampled():
    # plantTraits: 0/1 traits with lign <= mycor in every row; the order's repair lowered lign
    # beside each 0 the decoder drew for mycor, and took a third of lign's 1s
    rng = np.random.default_rng(0)
    n = 400
    perennial = (rng.random(n) < 0.6).astype(int)
    woody = perennial * (rng.random(n) < 0.5).astype(int)
    start = rng.normal(50, 5, n).round(1)
    frame = pd.DataFrame(
        {"woody": woody, "perennial": perennial, "start": start, "end": start + rng.gamma(2, 3, n)}
    )
    model = TVAE(epochs=1, batch_size=200, random_state=0).fit(frame)
    orders = {(d["low"], d["high"]) for d in model.metadata_.dependencies if d["type"] == "order"}
    assert {("woody", "perennial"), ("start", "end")} <= orders
    transformer = model.transformer_
    spans, repaired = drawn_spans(transformer)
    names = {transformer.layout.softmax_spans[s].column: s for s in repaired}
    assert set(names) == {"woody", "perennial"}  # start and end have no point mass to keep
    assert set(repaired) <= set(spans)
    assert not repaired[names["woody"]].any()  # every mode of a 0/1 number is a point mass
