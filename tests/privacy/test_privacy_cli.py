"""`tvae fit --epsilon` and `tvae inspect` of a private model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tvae import load, load_demo
from tvae.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("private-cli")
    path = folder / "adult.csv"
    load_demo().head(1_500).to_csv(path, index=False)
    return folder, path


def test_fit_with_epsilon_and_inspect(table):
    folder, data = table
    public = folder / "public.json"
    public.write_text(json.dumps({"age": {"bounds": [17, 90]}}))
    model_file = folder / "private.tvae"
    result = runner.invoke(app, ["fit", str(data), "-o", str(model_file), "--epochs", "1",
                                 "--epsilon", "3", "--delta", "1e-5", "--public", str(public),
                                 "--seed", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "differentially private: epsilon 3 spent of 3, delta 1e-05 (given)" in result.output
    model = load(model_file)
    assert model.privacy_["epsilon"] <= 3 and model.privacy_["delta"] == 1e-5
    assert model.privacy_["public"] == ["age"]
    shown = runner.invoke(app, ["inspect", str(model_file)])
    assert shown.exit_code == 0, shown.output
    assert "Privacy:     differentially private" in shown.output
    assert "DP-SGD:    noise multiplier" in shown.output
    # 1,500 rows: 64 decoder units (the floor; one per 30 rows would be 50)
    assert "Decoder:   the first 64 units of each hidden layer trained" in shown.output
    as_json = json.loads(runner.invoke(app, ["inspect", str(model_file), "--json"]).output)
    assert as_json["privacy"] == model.privacy_


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--delta", "1e-6"], "--delta and --public apply only with --epsilon"),
        (["--epsilon", "0"], "epsilon must be a positive"),
        (["--epsilon", "1", "--delta", "0.5"], "delta must be in (0, 1/n]"),
        (["--epsilon", "1", "--nproc", "2"], "cannot be combined with --nproc"),
    ],
)
def test_bad_privacy_options_are_one_line_errors(table, args, words):
    folder, data = table
    result = runner.invoke(app, ["fit", str(data), "-o", str(folder / "x.tvae"), *args])
    assert result.exit_code == 1, result.output
    assert words in result.stderr
    assert "Traceback" not in result.output
