"""The loss calculator against hand-computed numbers and a per-column reference computation."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tvae.layout import Layout, SpanIndex
from tvae.loss import kl_divergence, reconstruction_loss, tvae_loss


def test_reconstruction_matches_hand_computation():
    # One tanh span then a 2-wide softmax span; two rows.
    layout = Layout.from_widths([("tanh", 1, "a"), ("softmax", 2, "a")])
    index = SpanIndex.from_layout(layout)
    raw = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    sigma = torch.tensor([0.5, 0.1, 0.1])
    alphas = torch.tensor([[0.5], [-0.5]])
    codes = torch.tensor([[0], [1]])
    # Gaussian part: tanh(0) = 0, errors +-0.5 -> each 0.25 / (2 * 0.25) = 0.5; plus 2 log 0.5
    gaussian = 0.5 + 0.5 + 2 * math.log(0.5)
    # Cross-entropy: row 1 logits (1, 0) target 0 -> log(1 + e^-1); row 2 (0, 0) target 1 -> log 2
    ce = math.log(1 + math.exp(-1)) + math.log(2)
    expected = 2 * (gaussian + ce) / 2
    got = reconstruction_loss(raw, sigma, alphas, codes, index, loss_factor=2)
    assert math.isclose(got.item(), expected, rel_tol=1e-6)


def test_kl_matches_hand_computation_and_is_zero_at_prior():
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    # -1/2 * [(1 + 0 - 1 - 1) + (1 + log 2 - 0 - 2)] = -1/2 * (-1 + log 2 - 1)
    expected = -0.5 * (-1 + (math.log(2.0) - 1))
    assert math.isclose(kl_divergence(mu, logvar).item(), expected, rel_tol=1e-6)
    assert kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0


def _per_column_loss(raw, sigma, x_dense, layout, factor):
    """A straightforward loop over spans on the dense one-hot batch, as a reference."""
    total = []
    for span in layout.spans:
        if span.kind == "tanh":
            std = sigma[span.offset]
            error = x_dense[:, span.offset] - torch.tanh(raw[:, span.offset])
            total.append((error**2 / 2 / std**2).sum())
            total.append(torch.log(std) * raw.shape[0])
        else:
            target = x_dense[:, span.offset : span.end].argmax(dim=1)
            total.append(F.cross_entropy(raw[:, span.offset : span.end], target, reduction="sum"))
    return sum(total) * factor / raw.shape[0]


@settings(max_examples=30, deadline=None)
@given(
    widths=st.lists(st.tuples(st.booleans(), st.integers(1, 6)), min_size=1, max_size=6),
    n_rows=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_vectorised_loss_equals_per_column_computation(widths, n_rows, seed):
    items = []
    for i, (continuous, width) in enumerate(widths):
        if continuous:
            items.append(("tanh", 1, f"c{i}"))
        items.append(("softmax", width, f"c{i}"))
    layout = Layout.from_widths(items)
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randn(n_rows, layout.width, generator=gen)
    sigma = torch.rand(layout.width, generator=gen) * 0.9 + 0.05
    alphas = torch.rand(n_rows, layout.n_tanh, generator=gen) * 2 - 1
    codes = torch.stack(
        [torch.randint(0, int(w), (n_rows,), generator=gen) for w in layout.softmax_widths], dim=1
    )
    dense = torch.zeros(n_rows, layout.width)
    dense[:, torch.as_tensor(layout.tanh_positions)] = alphas
    dense.scatter_(1, torch.as_tensor(layout.softmax_offsets) + codes, 1.0)
    index = SpanIndex.from_layout(layout)
    ours = reconstruction_loss(raw, sigma, alphas, codes, index, loss_factor=2)
    reference = _per_column_loss(raw, sigma, dense, layout, 2)
    assert torch.allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_loss_gradients_are_finite_with_padded_spans():
    layout = Layout.from_widths([("softmax", 5, "a"), ("softmax", 2, "b"), ("tanh", 1, "c")])
    index = SpanIndex.from_layout(layout)
    raw = torch.randn(4, layout.width, requires_grad=True)
    sigma = torch.full((layout.width,), 0.1, requires_grad=True)
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    terms = tvae_loss(
        raw, sigma, torch.zeros(4, 1), torch.tensor([[0, 1]] * 4), mu, logvar, index, 2
    )
    terms.total.backward()
    for tensor in (raw, sigma, mu, logvar):
        assert np.isfinite(tensor.grad.numpy()).all()
    assert torch.allclose(terms.total, terms.reconstruction + terms.kl)
