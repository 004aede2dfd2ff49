"""The loss calculator against hand-computed numbers and a per-column reference computation."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tvae.layout import Layout, SpanIndex
from tvae.loss import latent_draw, reconstruction_loss, tvae_loss


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
    z, kl = latent_draw(mu, logvar, torch.tensor([[2.0, -1.0]]))
    assert math.isclose(kl.item(), expected, rel_tol=1e-6)
    assert torch.allclose(z, torch.tensor([[1.0 + 2.0, -math.sqrt(2.0)]]))
    zeros = torch.zeros(3, 4)
    assert latent_draw(zeros, zeros, zeros)[1].item() == 0.0


@settings(max_examples=20, deadline=None)
@given(n_rows=st.integers(1, 7), dim=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_latent_draw_gradients_equal_autograd_of_the_plain_formulas(n_rows, dim, seed):
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = torch.randn(n_rows, dim, generator=gen), torch.randn(n_rows, dim, generator=gen)
    eps, weights = torch.randn(n_rows, dim, generator=gen), torch.randn(n_rows, dim, generator=gen)
    ours = [t.clone().requires_grad_() for t in (mu, logvar)]
    z, kl = latent_draw(*ours, eps)
    ((z * weights).sum() + 3.0 * kl).backward()
    plain = [t.clone().requires_grad_() for t in (mu, logvar)]
    z_ref = plain[0] + eps * torch.exp(0.5 * plain[1])
    kl_ref = -0.5 * torch.sum(1 + plain[1] - plain[0].pow(2) - plain[1].exp()) / n_rows
    ((z_ref * weights).sum() + 3.0 * kl_ref).backward()
    assert torch.allclose(z, z_ref) and torch.allclose(kl, kl_ref, rtol=1e-5, atol=1e-6)
    for got, want in zip(ours, plain, strict=True):
        assert torch.allclose(got.grad, want.grad, rtol=1e-5, atol=1e-5)


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
    row_spread=st.sampled_from([0.0, 10.0, 200.0]),
)
def test_vectorised_loss_equals_per_column_computation(widths, n_rows, seed, row_spread):
    # row_spread moves whole rows' logits apart: at 200 a span's exp-sum under the batch's
    # shift underflows in the lower rows, and the loss must shift those rows by their own max.
    items = []
    for i, (continuous, width) in enumerate(widths):
        if continuous:
            items.append(("tanh", 1, f"c{i}"))
        items.append(("softmax", width, f"c{i}"))
    layout = Layout.from_widths(items)
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randn(n_rows, layout.width, generator=gen)
    raw = raw + row_spread * torch.rand(n_rows, 1, generator=gen)
    sigma = torch.rand(layout.width, generator=gen) * 0.9 + 0.05
    alphas = torch.rand(n_rows, layout.n_tanh, generator=gen) * 2 - 1
    codes = torch.stack(
        [torch.randint(0, int(w), (n_rows,), generator=gen) for w in layout.softmax_widths], dim=1
    )
    dense = torch.zeros(n_rows, layout.width)
    dense[:, torch.as_tensor(layout.tanh_positions)] = alphas
    dense.scatter_(1, torch.as_tensor(layout.softmax_offsets) + codes, 1.0)
    index = SpanIndex.from_layout(layout)
    raw_ours, sigma_ours = raw.clone().requires_grad_(), sigma.clone().requires_grad_()
    ours = reconstruction_loss(raw_ours, sigma_ours, alphas, codes, index, loss_factor=2)
    raw_ref, sigma_ref = raw.clone().requires_grad_(), sigma.clone().requires_grad_()
    reference = _per_column_loss(raw_ref, sigma_ref, dense, layout, 2)
    # float32 rounds each logit to about 1e-7 of its size: with logits near row_spread, every
    # span's log-sum-exp may differ by that much between the two computations
    rounding = 1e-6 * row_spread * len(layout.softmax_widths)
    assert torch.allclose(ours, reference, rtol=1e-5, atol=1e-4 + rounding)
    ours.backward()
    reference.backward()  # autograd through F.cross_entropy: the gradient to match
    assert torch.allclose(raw_ours.grad, raw_ref.grad, rtol=1e-4, atol=1e-6)
    if layout.n_tanh:
        assert torch.allclose(sigma_ours.grad, sigma_ref.grad, rtol=1e-4, atol=1e-5)


def test_a_row_far_below_the_batch_keeps_a_finite_exact_loss():
    # Row 1's logits sit 300 below row 0's: shifted by the batch's maximum its exp-sum would
    # underflow to 0 (log 0 = -inf); each row is then shifted by its own maximum.
    layout = Layout.from_widths([("softmax", 3, "a"), ("tanh", 1, "b"), ("softmax", 2, "b")])
    index = SpanIndex.from_layout(layout)
    raw = torch.tensor([[5.0, 1.0, 0.0, 0.0, 2.0, 1.0], [-295.0, -299.0, -300.0, 0.0, 0.0, 0.0]])
    raw.requires_grad_()
    codes = torch.tensor([[0, 1], [2, 0]])
    loss = reconstruction_loss(raw, torch.ones(6), torch.zeros(2, 1), codes, index, 1.0)
    expected = (
        F.cross_entropy(raw[:, :3], codes[:, 0], reduction="sum")
        + F.cross_entropy(raw[:, 4:], codes[:, 1], reduction="sum")
    ) / 2
    assert torch.isfinite(loss) and torch.allclose(loss, expected, atol=1e-4)
    loss.backward()
    assert torch.isfinite(raw.grad).all()
    assert torch.allclose(raw.grad[1, :3], (raw[1, :3].softmax(0) - torch.eye(3)[2]) / 2)


def test_loss_gradients_are_finite_with_padded_spans():
    layout = Layout.from_widths([("softmax", 5, "a"), ("softmax", 2, "b"), ("tanh", 1, "c")])
    index = SpanIndex.from_layout(layout)
    raw = torch.randn(4, layout.width, requires_grad=True)
    sigma = torch.full((layout.width,), 0.1, requires_grad=True)
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    _, kl = latent_draw(mu, logvar, torch.randn(4, 3))
    terms = tvae_loss(raw, sigma, torch.zeros(4, 1), torch.tensor([[0, 1]] * 4), kl, index, 2)
    terms.total.backward()
    for tensor in (raw, sigma, mu, logvar):
        assert np.isfinite(tensor.grad.numpy()).all()
    assert torch.allclose(terms.total, terms.reconstruction + terms.kl)
