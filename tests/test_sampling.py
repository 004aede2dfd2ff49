"""The sampler's maths: category draws follow the decoder's softmax, argmax is the mode."""

import torch

from tvae.layout import Layout, SpanIndex
from tvae.sampling import decode_outputs
from tvae.softmax_draws import argmax_categories, draw_categories

# spans of several widths, two of them equal (grouped together by the sampler)
LAYOUT = Layout.from_widths(
    [("tanh", 1, "x"), ("softmax", 3, "x"), ("softmax", 5, "c"), ("softmax", 3, "d"),
     ("softmax", 1, "e"), ("tanh", 1, "y"), ("softmax", 2, "y")]
)  # fmt: skip


def _logits(rows: int) -> torch.Tensor:
    torch.manual_seed(0)
    one_row = torch.randn(LAYOUT.width) * 2
    return one_row.expand(rows, -1).contiguous()


def test_draws_follow_each_span_softmax():
    index = SpanIndex.from_layout(LAYOUT)
    raw = _logits(200_000)
    codes = draw_categories(raw, index, torch.Generator().manual_seed(1))
    assert codes.shape == (200_000, len(LAYOUT.softmax_spans))
    for s, span in enumerate(LAYOUT.softmax_spans):
        expected = torch.softmax(raw[0, span.offset : span.end], dim=0)
        counts = torch.bincount(codes[:, s], minlength=span.width).double()
        assert len(counts) == span.width  # never out of the span
        observed = counts / counts.sum()
        assert torch.allclose(observed, expected.double(), atol=0.005), (span, observed, expected)


def test_rare_category_is_still_drawn():
    index = SpanIndex.from_layout(LAYOUT)
    raw = torch.zeros(100_000, LAYOUT.width)
    c = LAYOUT.softmax_spans[1]  # width 5: make its last category about 1 in 1000
    raw[:, c.offset : c.end] = torch.tensor([3.0, 3.0, 3.0, 3.0, 3.0 - 6.2])
    codes = draw_categories(raw, index, torch.Generator().manual_seed(2))
    rate = (codes[:, 1] == 4).double().mean().item()
    assert 0.0003 < rate < 0.0012


def test_argmax_is_the_mode_of_each_span():
    index = SpanIndex.from_layout(LAYOUT)
    raw = torch.randn(500, LAYOUT.width, generator=torch.Generator().manual_seed(3))
    codes = argmax_categories(raw, index)
    for s, span in enumerate(LAYOUT.softmax_spans):
        assert torch.equal(codes[:, s], raw[:, span.offset : span.end].argmax(dim=1))


def test_decoding_is_reproducible_and_alphas_clipped():
    index = SpanIndex.from_layout(LAYOUT)
    raw = torch.randn(1000, LAYOUT.width, generator=torch.Generator().manual_seed(4)) * 5
    sigma = torch.full((LAYOUT.width,), 0.5)
    first = decode_outputs(raw, sigma, index, torch.Generator().manual_seed(5))
    second = decode_outputs(raw, sigma, index, torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    alphas = first[0]
    assert alphas.shape == (1000, 2) and alphas.abs().max() <= 1.0
