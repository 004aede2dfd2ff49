"""bfloat16 matrix products: chosen only where they are native and on the fast schedule;
repeatable, saved, shown, and close to float32."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import tvae.precision as precision
from tvae import TVAE, InvalidParameterError, load_demo
from tvae.cli import app
from tvae.layout import SpanIndex
from tvae.training import TrainingConfig, train_step

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_demo()[["age", "workclass", "education", "hours-per-week", "sex"]].head(400)


def test_auto_is_bfloat16_only_on_the_fast_schedule_of_a_cpu_that_has_it(monkeypatch):
    monkeypatch.setattr(precision, "native_bfloat16", lambda device: True)
    assert precision.resolve_precision("auto", True, CPU) == "bfloat16"
    assert precision.resolve_precision("auto", False, CPU) == "float32"  # the reference's path
    assert precision.resolve_precision("float32", True, CPU) == "float32"
    monkeypatch.setattr(precision, "native_bfloat16", lambda device: False)
    assert precision.resolve_precision("auto", True, CPU) == "float32"  # emulated: slow
    assert precision.resolve_precision("bfloat16", False, CPU) == "bfloat16"  # as asked


def test_small_batches_stay_float32_where_the_casts_cost_more_than_they_save(monkeypatch):
    monkeypatch.setattr(precision, "native_bfloat16", lambda device: True)
    assert precision.resolve_precision("auto", True, CPU, batch_cells=500 * 195) == "bfloat16"
    assert precision.resolve_precision("auto", True, CPU, batch_cells=142 * 65) == "float32"
    assert precision.resolve_precision("bfloat16", True, CPU, batch_cells=142 * 65) == "bfloat16"


def test_a_gpu_or_mps_device_is_never_chosen_for_bfloat16_automatically():
    assert not precision.native_bfloat16(torch.device("cuda", 0))
    assert not precision.native_bfloat16(torch.device("mps"))


def test_a_default_fit_records_the_precision_it_ran(table, monkeypatch):
    monkeypatch.setattr(precision, "native_bfloat16", lambda device: True)
    small = TVAE(random_state=0, device="cpu").fit(table.head(60))  # the fast schedule
    assert small.schedule_.precision == "float32"  # 60 rows a batch: too few for bfloat16
    monkeypatch.setattr(precision, "MIN_BFLOAT16_CELLS", 60)
    fast = TVAE(random_state=0, device="cpu").fit(table.head(60))
    given = TVAE(epochs=1, random_state=0, device="cpu").fit(table)
    assert (fast.schedule_.precision, given.schedule_.precision) == ("bfloat16", "float32")
    assert fast.training_summary_["precision"] == "bfloat16"


def test_a_bfloat16_fit_repeats_and_its_file_keeps_the_precision(table, tmp_path):
    model = TVAE(epochs=2, batch_size=100, precision="bfloat16", random_state=0, device="cpu")
    model.fit(table)
    again = TVAE(epochs=2, batch_size=100, precision="bfloat16", random_state=0, device="cpu")
    again.fit(table)
    assert model.schedule_.precision == "bfloat16"
    pd.testing.assert_frame_equal(
        model.sample(300, random_state=1), again.sample(300, random_state=1)
    )
    exact = TVAE(epochs=2, batch_size=100, random_state=0, device="cpu").fit(table)
    assert exact.history_ != model.history_  # the products really were rounded
    model.save(tmp_path / "m.tvae")
    loaded = TVAE.load(tmp_path / "m.tvae")
    assert loaded.schedule_.precision == "bfloat16"
    assert loaded.get_params()["precision"] == "bfloat16"
    pd.testing.assert_frame_equal(
        model.sample(300, random_state=1), loaded.sample(300, random_state=1)
    )


def test_a_bfloat16_step_stays_close_to_the_float32_step(table):
    model = TVAE(epochs=1, batch_size=100, random_state=0, device="cpu").fit(table)
    encoded = model.transformer_.transform(table.head(100), np.random.default_rng(0))
    alphas, codes = torch.from_numpy(encoded.alphas), torch.from_numpy(encoded.codes)
    index = SpanIndex.from_layout(model.layout_, CPU)
    encoder, decoder = model.encoder_, model.decoder_
    optimizer = torch.optim.SGD([*encoder.parameters(), *decoder.parameters()], lr=0.0)
    losses = {}
    for name in ("float32", "bfloat16"):  # lr 0: both steps see the same weights
        config = TrainingConfig(1, 100, 0.0, 0.0, 2.0, precision=name)
        terms = train_step(encoder, decoder, optimizer, alphas, codes, index, config,
                           torch.Generator().manual_seed(0))  # fmt: skip
        losses[name] = float(terms.total)
    assert losses["bfloat16"] != losses["float32"]
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=2e-2)


def test_a_private_fit_refuses_bfloat16(table):
    with pytest.raises(InvalidParameterError, match="precision"):
        TVAE(epsilon=3.0, precision="bfloat16").fit(table)


def test_the_command_line_fits_in_bfloat16_and_inspect_says_so(table, tmp_path):
    table.to_csv(tmp_path / "t.csv", index=False)
    runner = CliRunner()
    fit = ["fit", str(tmp_path / "t.csv"), "-o", str(tmp_path / "m.tvae"), "-q", "--seed", "0",
           "--epochs", "1", "--precision", "bfloat16", "--device", "cpu"]  # fmt: skip
    done = runner.invoke(app, fit)
    assert done.exit_code == 0, done.output
    shown = runner.invoke(app, ["inspect", str(tmp_path / "m.tvae")])
    assert "bfloat16 matrix products" in shown.output
    as_json = json.loads(runner.invoke(app, ["inspect", str(tmp_path / "m.tvae"), "--json"]).output)
    assert as_json["training"]["precision"] == "bfloat16"
    bad = runner.invoke(app, [*fit[:-4], "--precision", "half"])
    assert bad.exit_code != 0 and "precision" in bad.output
