"""The one training orchestrator: checkpoints and resume for an in-memory fit, as for shards."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import tvae.training as training
from tvae import TVAE, InvalidDataError, InvalidParameterError, ModelFileError, load_demo
from tvae.checkpoint import checkpoint_path, load_checkpoint
from tvae.cli import app
from tvae.serialization import read_description

SETTINGS = {"epochs": 3, "batch_size": 100, "random_state": 0}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_demo()[["age", "workclass", "hours-per-week", "sex"]].head(300)


class Crash(Exception):
    pass


def _same_networks(left: TVAE, right: TVAE) -> None:
    for a, b in ((left.encoder_, right.encoder_), (left.decoder_, right.decoder_)):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_an_interrupted_fit_resumes_to_the_same_model(
    table, tmp_path: Path, monkeypatch, precision
):
    settings = {**SETTINGS, "precision": precision}
    whole = TVAE(**settings).fit(table, checkpoint_dir=tmp_path / "a")
    assert load_checkpoint(tmp_path / "a").epoch == 1  # every epoch but the last
    plain = TVAE(**settings).fit(table)
    _same_networks(whole, plain)  # checkpointing changes nothing

    real_save = training.save_checkpoint

    def save_then_die(folder, state):
        real_save(folder, state)
        if state.epoch == 0:
            raise Crash

    monkeypatch.setattr(training, "save_checkpoint", save_then_die)
    with pytest.raises(Crash):
        TVAE(**settings).fit(table, checkpoint_dir=tmp_path / "b")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "b").epoch == 0
    resumed = TVAE(**settings).fit(table, checkpoint_dir=tmp_path / "b", resume=True)
    assert resumed.training_summary_["resumed_from_epoch"] == 0
    assert resumed.history_ == whole.history_
    _same_networks(whole, resumed)
    pd.testing.assert_frame_equal(
        whole.sample(200, random_state=1), resumed.sample(200, random_state=1)
    )


def test_resume_refuses_other_settings_or_another_table(table, tmp_path: Path) -> None:
    TVAE(**SETTINGS).fit(table, checkpoint_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match=r"other settings.*epochs"):
        TVAE(**{**SETTINGS, "epochs": 4}).fit(table, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(InvalidDataError, match="another table"):
        TVAE(**SETTINGS).fit(table.head(250), checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(InvalidParameterError, match="checkpoint_every"):
        TVAE(**SETTINGS).fit(table, checkpoint_dir=tmp_path, checkpoint_every=0)
    with pytest.raises(InvalidParameterError, match="needs checkpoint_dir"):
        TVAE(**SETTINGS).fit(table, resume=True)


def test_a_checkpoint_is_a_checked_file_with_a_json_history(table, tmp_path: Path) -> None:
    TVAE(**SETTINGS).fit(table, checkpoint_dir=tmp_path)
    path = checkpoint_path(tmp_path)
    with pytest.raises(ModelFileError, match="not a tvae model file"):
        read_description(path)  # a checkpoint is never taken for a model
    state = load_checkpoint(tmp_path)
    assert [r["epoch"] for r in state.history] == [0] * 3 + [1] * 3
    assert state.generator is not None and state.generator.dtype == torch.uint8
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # flipped bits inside a tensor
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"unreadable.*checksum"):
        load_checkpoint(tmp_path)


def test_the_command_line_checkpoints_and_resumes_a_csv_fit(table, tmp_path: Path) -> None:
    table.to_csv(tmp_path / "t.csv", index=False)
    fit = ["fit", str(tmp_path / "t.csv"), "-o", str(tmp_path / "m.tvae"), "-q", "--seed", "0",
           "--epochs", "3", "--batch-size", "100",
           "--checkpoint-dir", str(tmp_path / "ckpt")]  # fmt: skip
    runner = CliRunner()
    done = runner.invoke(app, fit)
    assert done.exit_code == 0, done.output
    assert load_checkpoint(tmp_path / "ckpt").epoch == 1
    first = TVAE.load(tmp_path / "m.tvae")
    done = runner.invoke(app, [*fit, "--resume"])
    assert done.exit_code == 0, done.output
    again = TVAE.load(tmp_path / "m.tvae")
    assert again.training_summary_["resumed_from_epoch"] == 1
    assert again.history_ == first.history_
    done = runner.invoke(app, [*fit[:-2], "--resume"])
    assert done.exit_code == 1 and "--checkpoint-dir" in done.output
