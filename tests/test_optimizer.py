"""tvae's Adam and one-cycle schedule: the same steps as torch.optim's, without importing it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import tvae.optimizer as optimizer_module
from tvae.optimizer import Adam, OneCycle


def _layers(seed: int) -> list[torch.nn.Parameter]:
    torch.manual_seed(seed)
    return [*torch.nn.Linear(5, 4).parameters(), torch.nn.Parameter(torch.randn(3))]


def _gradients(params: list[torch.nn.Parameter], step: int) -> None:
    """Fixed pseudo-random gradients; the last parameter has none on odd steps."""
    generator = torch.Generator().manual_seed(step)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    if step % 2:
        params[-1].grad = None


def test_one_cycle_gives_torchs_learning_rates_and_betas() -> None:
    total = 37
    schedule = OneCycle(0.003, total)
    param = torch.nn.Parameter(torch.zeros(1))
    reference = torch.optim.Adam([param], lr=0.003)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.003, total_steps=total)
    for step in range(total):
        group = reference.param_groups[0]
        assert schedule.at(step) == (group["lr"], group["betas"][0])  # to the last bit
        param.grad = torch.ones(1)
        reference.step()
        scheduler.step()


@pytest.mark.parametrize("scheduled", [False, True])
def test_steps_are_torchs_fused_adam_to_the_last_bit(scheduled: bool) -> None:
    ours, theirs = _layers(0), _layers(0)
    steps = 12
    schedule = OneCycle(0.01, steps) if scheduled else None
    adam = Adam(ours, 0.01, weight_decay=0.05, schedule=schedule)
    reference = torch.optim.Adam(theirs, lr=0.01, weight_decay=0.05, fused=True)
    scheduler = (
        torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.01, total_steps=steps)
        if scheduled
        else None
    )
    for step in range(steps):
        _gradients(ours, step)
        _gradients(theirs, step)
        adam.step()
        reference.step()
        if scheduler is not None:
            scheduler.step()
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
    assert int(adam.state_dict()["state"][2]["step"]) == steps // 2  # stepped with a gradient only


def _step_both(ours: list, adam: Adam, theirs: list, reference: object, steps: int) -> None:
    """The same gradients, step by step, to tvae's optimiser and torch's."""
    for step in range(steps):
        _gradients(ours, step)
        _gradients(theirs, step)
        adam.step()
        reference.step()


def test_without_a_fused_kernel_the_plain_update_follows_torchs_adam(monkeypatch) -> None:
    monkeypatch.setattr(optimizer_module, "_has_fused_kernel", lambda device, dtype: False)
    ours, theirs = _layers(1), _layers(1)
    adam = Adam(ours, 0.01, weight_decay=0.05)
    reference = torch.optim.Adam(theirs, lr=0.01, weight_decay=0.05, foreach=False)
    _step_both(ours, adam, theirs, reference, 10)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert not torch.equal(ours[0], _layers(1)[0])  # it did move


def test_decoupled_decay_is_torchs_adamw_to_the_last_bit() -> None:
    """The refiner trains with AdamW's decoupled decay, through tvae's Adam (no torch.optim)."""
    ours, theirs = _layers(2), _layers(2)
    adam = Adam(ours, 0.01, weight_decay=0.05, decoupled=True)
    reference = torch.optim.AdamW(theirs, lr=0.01, weight_decay=0.05)
    _step_both(ours, adam, theirs, reference, 10)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
    coupled = _layers(2)
    l2 = Adam(coupled, 0.01, weight_decay=0.05)
    for step in range(10):
        _gradients(coupled, step)
        l2.step()
    assert not torch.equal(coupled[0], ours[0])  # the decay is applied apart from the gradient


def test_a_resumed_optimizer_continues_as_the_uninterrupted_one() -> None:
    whole, first, second = _layers(2), _layers(2), _layers(2)
    schedule = OneCycle(0.01, 8)
    uninterrupted = Adam(whole, 0.01, schedule=schedule)
    interrupted = Adam(first, 0.01, schedule=schedule)
    for step in range(8):
        _gradients(whole, step)
        uninterrupted.step()
    for step in range(5):
        _gradients(first, step)
        interrupted.step()
    with torch.no_grad():
        for a, b in zip(second, first, strict=True):
            a.copy_(b)
    resumed = Adam(second, 0.01, schedule=schedule)
    resumed.load_state_dict(interrupted.state_dict())
    for step in range(5, 8):
        _gradients(second, step)
        resumed.step()
    for a, b in zip(second, whole, strict=True):
        assert torch.equal(a, b)


def test_loads_the_state_of_torchs_adam() -> None:
    """A checkpoint written before tvae had its own Adam (torch.optim's layout) still resumes."""
    ours, theirs = _layers(3), _layers(3)
    reference = torch.optim.Adam(theirs, lr=0.01, fused=True)
    for step in range(3):
        _gradients(theirs, step)
        reference.step()
    adam = Adam(ours, 0.01)
    adam.load_state_dict(reference.state_dict())
    assert adam.steps == 3
    with pytest.raises(ValueError, match="other parameters"):
        Adam(ours[:1], 0.01).load_state_dict(reference.state_dict())


def test_a_fit_does_not_import_torch_dynamo() -> None:
    """torch.optim's first step imports torch._dynamo (about 2 s); a fit, its refiner included,
    should not pay it."""
    code = (
        "import sys, pandas as pd\n"
        "from tvae import TVAE\n"
        "frame = pd.DataFrame({'a': [0.1 * i for i in range(60)], 'b': ['x', 'y', 'z'] * 20})\n"
        "TVAE(epochs=2, refine=True, random_state=0).fit(frame).sample(5)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
