"""fit flushes subnormal floats (fast CPU arithmetic) and gives the user's setting back."""

from __future__ import annotations

import pytest
import torch

import tvae
import tvae.synthesizer
from tvae.floats import flushed_subnormals, flushing_subnormals


@pytest.fixture
def user_setting():
    """Run a test with the process's flag off, as Python starts, and leave it as found."""
    before = flushing_subnormals()
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(before)


def test_flushed_subnormals_turns_flushing_on_and_restores(user_setting):
    tiny = torch.tensor([torch.finfo(torch.float32).tiny])
    assert (tiny / 4).item() > 0.0  # a subnormal float, kept
    with flushed_subnormals() as on:
        assert on and flushing_subnormals()
        assert (tiny / 4).item() == 0.0
    assert not flushing_subnormals()
    torch.set_flush_denormal(True)  # a user who flushes already keeps it on
    with flushed_subnormals():
        pass
    assert flushing_subnormals()


def test_fit_flushes_while_training_and_restores_after_errors(user_setting, monkeypatch):
    seen = []

    def fake_fit_frame(*args, **kwargs):
        seen.append(flushing_subnormals())
        raise RuntimeError("stop here")

    monkeypatch.setattr(tvae.synthesizer, "fit_frame", fake_fit_frame)
    with pytest.raises(RuntimeError, match="stop here"):
        tvae.TVAE(epochs=1).fit(tvae.load_demo().head(50), tvae.DEMO_DISCRETE_COLUMNS)
    assert seen == [True]
    assert not flushing_subnormals()


def test_fit_leaves_the_flag_as_the_user_set_it(user_setting, mixed_frame):
    model = tvae.TVAE(epochs=1, batch_size=100, random_state=0)
    model.fit(mixed_frame, ["colour", "size"])
    assert not flushing_subnormals()
    torch.set_flush_denormal(True)
    model.fit(mixed_frame, ["colour", "size"])
    assert flushing_subnormals()
