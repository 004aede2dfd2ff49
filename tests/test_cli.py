"""The `tvae` command: every verb in-process with typer's CliRunner, and once as a subprocess."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import tvae
from tvae import TVAE, InvalidParameterError
from tvae.cli import app
from tvae.cli.parsing import parse_where, read_kinds_file
from tvae.cli.table_io import read_table
from tvae.serialization import inspect_model

runner = CliRunner()
DISCRETE = ",".join(tvae.DEMO_DISCRETE_COLUMNS)


def run(*args: str, ok: bool = True, input: str | None = None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def assert_one_line_error(result, *words, code: int = 1):
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in errors[0], errors[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small slice of the demo table as CSV, and a model fitted on it by `tvae fit`."""
    folder = tmp_path_factory.mktemp("cli")
    real = tvae.load_demo().sample(300, random_state=0).reset_index(drop=True)
    csv = folder / "real.csv"
    real.to_csv(csv, index=False)
    model = folder / "model.tvae"
    run("fit", csv, "-o", model, "--epochs", "2", "--batch-size", "100", "--seed", "0",
        "--discrete", DISCRETE, "-q")  # fmt: skip
    return folder, csv, model


# ---------------------------------------------------------------- fit
def test_fit_reads_csv_tsv_and_parquet(files, tmp_path):
    _, csv, _ = files
    real = pd.read_csv(csv)[["age", "sex", "education", "income"]]  # narrow: quick to fit
    tsv, parquet = tmp_path / "real.tsv", tmp_path / "real.parquet"
    real.to_csv(tsv, sep="\t", index=False)
    real.to_parquet(parquet, index=False)
    for source in (tsv, parquet):
        model = tmp_path / f"{source.suffix[1:]}.tvae"
        result = run("fit", source, "-o", model, "--epochs", "1", "--discrete", "sex,income")
        assert "Fitted 300 rows x 4 columns (3 categorical, 1 numerical)" in result.stdout
        assert f"Saved the model to {model}" in result.stdout
        assert list(TVAE.load(model).sample(3).columns) == list(real.columns)
    quiet = run("fit", tsv, "-o", tmp_path / "q.tvae", "--epochs", "1", "-q")
    assert quiet.stdout == "" and quiet.stderr == ""


def test_fit_with_metadata_file_sets_column_kinds(files, tmp_path):
    _, csv, _ = files
    sdv_style = {"columns": {"education-num": {"sdtype": "categorical"},
                             "age": {"sdtype": "numerical"}}}  # fmt: skip
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(sdv_style))
    assert read_kinds_file(meta) == {"education-num": "categorical", "age": "numerical"}
    narrow = tmp_path / "narrow.csv"
    pd.read_csv(csv)[["age", "education-num", "sex"]].to_csv(narrow, index=False)
    model = tmp_path / "meta.tvae"
    run("fit", narrow, "-o", model, "--epochs", "1", "--metadata", meta, "--discrete", "sex", "-q")
    kinds = {c["name"]: c["kind"] for c in inspect_model(model)["columns"]}
    assert kinds["education-num"] == "categorical"
    assert kinds["sex"] == "categorical" and kinds["age"] == "numerical"


def test_a_metadata_file_declares_dependencies_in_any_of_its_forms(files, tmp_path):
    _, csv, _ = files
    real = pd.read_csv(csv)
    narrow = tmp_path / "narrow.csv"
    real.assign(grade=real["education"].str.upper())[["education", "grade", "age"]].to_csv(
        narrow, index=False
    )
    rule = {"type": "determines", "source": "education", "target": "grade"}
    own = TVAE(epochs=1, random_state=0).fit(pd.read_csv(narrow), ["education", "grade"])
    forms = {
        "plain": {"columns": {"education": "categorical"}, "dependencies": [rule]},
        "own": {**own.metadata_.to_dict(), "dependencies": [rule]},  # what metadata_ writes
        "sdv": {"columns": {"education": {"sdtype": "categorical"}}, "dependencies": [rule]},
    }
    for name, form in forms.items():
        meta = tmp_path / f"{name}.json"
        meta.write_text(json.dumps(form))
        assert read_kinds_file(meta).dependencies == [rule], name
        model = tmp_path / f"{name}.tvae"
        run("fit", narrow, "-o", model, "--epochs", "1", "--metadata", meta,
            "--discrete", "grade", "-q")  # fmt: skip
        assert inspect_model(model)["dependencies"] == [rule]
        rows = TVAE.load(model).sample(300, random_state=0)
        assert (rows["grade"] == rows["education"].str.upper()).all(), name
    assert "Dependencies: education -> grade" in run("inspect", tmp_path / "own.tvae").stdout
    none = tmp_path / "none.json"
    none.write_text(json.dumps({"columns": {}, "dependencies": []}))
    run("fit", narrow, "-o", tmp_path / "none.tvae", "--epochs", "1", "--metadata", none, "-q")
    assert inspect_model(tmp_path / "none.tvae")["dependencies"] == []
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"columns": {}, "dependencies": [{**rule, "target": "grad"}]}))
    assert_one_line_error(
        run("fit", narrow, "-o", tmp_path / "t.tvae", "--metadata", typo, ok=False), "grad"
    )


def test_fit_refine_and_quantile_map_turn_on_or_off(files, tmp_path):
    _, csv, _ = files
    narrow = tmp_path / "narrow.csv"
    pd.read_csv(csv)[["age", "sex", "income"]].to_csv(narrow, index=False)
    on, off = tmp_path / "on.tvae", tmp_path / "off.tvae"
    run(
        "fit", narrow, "-o", on, "--epochs", "1", "--refine", "on", "--quantile-map", "on",
        "--seed", "0", "-q",
    )  # fmt: skip
    assert TVAE.load(on).refiner_ is not None  # on 300 rows, where "auto" trains none
    assert TVAE.load(on).training_summary_["refiner"]["steps"] > 0
    assert TVAE.load(on).training_summary_["quantile_maps"] == ["age"]
    shown = run("inspect", on).stdout
    assert "refiner keeps about" in shown and "quantile maps on 1 number (age)" in shown
    run("fit", narrow, "-o", off, "--epochs", "1", "--refine", "off", "--quantile-map", "off", "-q")
    assert TVAE.load(off).refiner_ is None
    assert "quantile_maps" not in TVAE.load(off).training_summary_
    bad = run("fit", narrow, "-o", off, "--refine", "sometimes", ok=False)
    assert_one_line_error(bad, "--refine", "auto, on or off")
    bad = run("fit", narrow, "-o", off, "--quantile-map", "maybe", ok=False)
    assert_one_line_error(bad, "--quantile-map", "auto, on or off")


def test_fit_errors_are_one_line(files, tmp_path):
    _, csv, _ = files
    out = tmp_path / "m.tvae"
    assert_one_line_error(run("fit", tmp_path / "nope.csv", "-o", out, ok=False), "nope.csv")
    assert_one_line_error(run("fit", csv, "-o", out, "--discrete", "agee", ok=False), "agee")
    bad_meta = tmp_path / "bad.json"
    bad_meta.write_text("{not json")
    assert_one_line_error(
        run("fit", csv, "-o", out, "--metadata", bad_meta, ok=False), "not valid JSON"
    )
    assert_one_line_error(run("fit", csv, "-o", tmp_path, ok=False), "folder")
    xlsx = tmp_path / "table.xlsx"
    xlsx.write_text("x")
    assert_one_line_error(run("fit", xlsx, "-o", out, ok=False), ".parquet")
    assert not out.exists()


def test_usage_errors_are_one_line_with_exit_code_2(files):
    _, csv, _ = files
    assert_one_line_error(run("fit", csv, ok=False), "--output", "--help", code=2)
    assert_one_line_error(run("fit", csv, "-o", "m.tvae", "--epochs", "0", ok=False), code=2)
    assert_one_line_error(run("frobnicate", ok=False), "frobnicate", code=2)
    assert_one_line_error(run("fit", csv, "-o", "m.tvae", "--epochs", "ten", ok=False), code=2)
    assert_one_line_error(run("fit", csv, "-o", "m.tvae", "--epoch", "3", ok=False), code=2)
    assert_one_line_error(run("sample", ok=False), "MODEL", code=2)


def test_debug_shows_the_traceback(files, tmp_path):
    _, csv, _ = files
    result = runner.invoke(
        app, ["--debug", "fit", str(csv), "-o", str(tmp_path / "m.tvae"), "--discrete", "agee"]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, InvalidParameterError)  # propagated, not swallowed


# ---------------------------------------------------------------- sample
def test_sample_streams_csv_and_parquet_reproducibly(files, tmp_path):
    _, _, model = files
    csv_out, parquet_out = tmp_path / "s.csv", tmp_path / "s.parquet"
    result = run("sample", model, "-n", "250", "-o", csv_out, "--seed", "5", "--chunk-rows", "70")
    assert "Wrote 250 rows" in result.stdout and "--seed 5" in result.stdout
    run("sample", model, "-n", "250", "-o", parquet_out, "--seed", "5", "--chunk-rows", "100")
    expected = TVAE.load(model).sample(250, random_state=5)
    from_parquet = pd.read_parquet(parquet_out)
    pd.testing.assert_frame_equal(from_parquet, expected, check_dtype=False)
    from_csv = pd.read_csv(csv_out)
    assert from_csv.shape == (250, 15) and list(from_csv.columns) == list(expected.columns)
    pd.testing.assert_series_equal(from_csv["age"], expected["age"], check_dtype=False)
    again = tmp_path / "again.csv"
    run("sample", model, "-n", "250", "-o", again, "--seed", "5", "-q")
    assert again.read_bytes() == csv_out.read_bytes()  # chunking does not change the rows


def test_sample_without_seed_draws_fresh_rows(files, tmp_path):
    _, _, model = files
    run("sample", model, "-n", "50", "-o", tmp_path / "a.csv", "-q")
    run("sample", model, "-n", "50", "-o", tmp_path / "b.csv", "-q")
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "b.csv").read_bytes()


def test_sample_writes_compressed_csv_and_tsv(files, tmp_path):
    _, _, model = files
    run("sample", model, "-n", "30", "-o", tmp_path / "s.csv.gz", "--seed", "2", "-q")
    run("sample", model, "-n", "30", "-o", tmp_path / "s.tsv", "--seed", "2", "-q")
    pd.testing.assert_frame_equal(read_table(tmp_path / "s.csv.gz"), read_table(tmp_path / "s.tsv"))
    assert len(read_table(tmp_path / "s.tsv")) == 30


def test_sample_zero_rows_writes_the_header(files, tmp_path):
    _, _, model = files
    run("sample", model, "-n", "0", "-o", tmp_path / "empty.csv", "-q")
    assert pd.read_csv(tmp_path / "empty.csv").shape == (0, 15)


def test_sample_where_passes_typed_conditions(files, tmp_path):
    _, _, model = files
    out = tmp_path / "cond.parquet"
    run("sample", model, "-n", "120", "-o", out, "--seed", "1", "--chunk-rows", "50",
        "--where", "sex=Female", "--where", "age=30..40", "-q")  # fmt: skip
    rows = pd.read_parquet(out)
    assert len(rows) == 120
    assert (rows["sex"] == " Female").all()  # the category's leading space is found
    assert rows["age"].between(30, 40).all()


def test_parse_where_reads_values_with_the_column_dtypes(files):
    model = TVAE.load(files[2])
    conditions = parse_where(["age=30..40", "sex= Male", "income=>50K", "hours-per-week=40"], model)
    assert conditions == {"age": (30, 40), "sex": " Male", "income": " >50K", "hours-per-week": 40}
    assert isinstance(conditions["age"][0], int)
    for bad, words in [("age=old", "age"), ("height=3", "no column"), ("sex", "column=value")]:
        with pytest.raises(ValueError, match=words):
            parse_where([bad], model)


def test_sample_errors_are_one_line(files, tmp_path):
    _, _, model = files
    out = tmp_path / "x.csv"
    assert_one_line_error(
        run("sample", model, "-n", "5", "-o", tmp_path / "x.xlsx", ok=False), ".xlsx"
    )
    assert_one_line_error(
        run("sample", tmp_path / "no.tvae", "-n", "5", "-o", out, ok=False), "no.tvae"
    )
    assert_one_line_error(
        run("sample", model, "-n", "5", "-o", out, "--where", "sex=Martian", ok=False), "Martian"
    )
    broken = tmp_path / "broken.tvae"
    broken.write_bytes(model.read_bytes()[:-10])
    assert_one_line_error(run("sample", broken, "-n", "5", "-o", out, ok=False), "broken.tvae")
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_sample_on_missing_gpu_warns_in_one_line_and_works(files, tmp_path):
    _, _, model = files
    result = run("sample", model, "-n", "10", "-o", tmp_path / "g.csv", "--device", "cuda", "-q")
    assert result.stderr.startswith("warning: ") and "cuda" in result.stderr
    assert len(pd.read_csv(tmp_path / "g.csv")) == 10


# ---------------------------------------------------------------- evaluate, inspect, demo
def test_evaluate_prints_scores_json_and_report(files, tmp_path):
    _, csv, model = files
    synthetic = tmp_path / "synthetic.csv"
    run("sample", model, "-n", "300", "-o", synthetic, "--seed", "0", "-q")
    report = tmp_path / "report.html"
    text = run("evaluate", csv, synthetic, "--discrete", DISCRETE, "--report", report).stdout
    assert "Overall quality" in text and "Column shapes (worst first)" in text
    assert f"Wrote the report to {report}" in text
    assert report.read_text().lstrip().lower().startswith("<!doctype html")
    as_json = run("evaluate", csv, synthetic, "--discrete", DISCRETE, "--json").stdout
    expected = tvae.evaluate(
        read_table(csv), read_table(synthetic), discrete_columns=tvae.DEMO_DISCRETE_COLUMNS
    ).to_dict()
    assert json.loads(as_json) == json.loads(json.dumps(expected))
    missing = run("evaluate", csv, tmp_path / "none.csv", ok=False)
    assert_one_line_error(missing, "none.csv")
    piped = run("evaluate", csv, "-", "--discrete", DISCRETE, "--json", input=synthetic.read_text())
    assert json.loads(piped.stdout) == json.loads(as_json)  # SYNTH read from standard input
    twice = run("evaluate", "-", "-", input=synthetic.read_text(), ok=False)
    assert_one_line_error(twice, "real table and synthetic table")


def test_inspect_text_and_json(files):
    _, _, model = files
    text = run("inspect", model).stdout
    assert "tvae-model version 1" in text and "2 epochs on 300 rows" in text
    assert "education" in text and "categorical" in text and "numerical" in text
    assert "Sampling:" in text and "no refiner" in text  # 300 rows: "auto" trains none
    as_json = json.loads(run("inspect", model, "--json").stdout)
    assert as_json == json.loads(json.dumps(inspect_model(model)))


def test_demo_trains_writes_and_compares(tmp_path):
    out = tmp_path / "demo.csv"
    result = run("demo", "-o", out, "--epochs", "1", "--train-rows", "300", "--rows", "200", "-q")
    assert result.stdout == ""
    assert pd.read_csv(out).shape == (200, 15)
    result = run("demo", "-o", out, "--epochs", "1", "--train-rows", "300", "--rows", "150")
    assert "Overall quality" in result.stdout and "real" in result.stdout
    assert len(pd.read_csv(out)) == 150


@pytest.mark.parametrize("verb", ["fit", "sample", "evaluate", "inspect", "demo"])
def test_every_verb_has_help_with_an_example(verb):
    result = run(verb, "--help")
    assert "Example" in result.stdout and f"tvae {verb}" in result.stdout


def test_version_and_bare_command():
    assert run("--version").stdout.strip() == f"tvae {tvae.__version__}"
    bare = run(ok=False)
    assert "fit" in bare.stdout and "sample" in bare.stdout and "Traceback" not in bare.output


def test_help_version_and_usage_errors_import_none_of_the_heavy_libraries():
    """`tvae --help` took 5 s when it imported torch, pandas and scikit-learn for nothing."""
    code = (
        "import sys\n"
        "from tvae.cli import app\n"
        "calls = (['--help'], ['--version'], ['fit', '--help'], ['sample'], ['evaluate', '-h'])\n"
        "for args in calls:\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'pandas', 'sklearn', 'numpy') if m in sys.modules]\n"
        "print('heavy:', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Usage" in done.stdout and "tvae fit" in done.stdout
    assert done.stderr.strip().endswith("heavy: []"), done.stderr


def test_real_subprocess(files, tmp_path):
    _, _, model = files
    out = tmp_path / "sub.csv"
    done = subprocess.run(
        [sys.executable, "-m", "tvae", "sample", str(model), "-n", "20", "-o", str(out),
         "--seed", "3", "-q"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    pd.testing.assert_frame_equal(
        pd.read_csv(out), pd.read_csv(io.StringIO(
            TVAE.load(model).sample(20, random_state=3).to_csv(index=False)
        ))
    )  # fmt: skip


def test_pipes_fit_from_stdin_and_sample_to_stdout(files, tmp_path):
    """`-` is CSV on standard input for fit and on standard output for sample; the summary
    then goes to stderr, so the rows can be piped on."""
    _, csv, _ = files
    narrow = pd.read_csv(csv)[["age", "sex", "income"]].to_csv(index=False, sep=";")
    model_file = tmp_path / "piped.tvae"
    run("fit", "-", "-o", model_file, "--epochs", "1", "--seed", "0", "-q", input=narrow)
    model = TVAE.load(model_file)
    assert list(model.feature_names_in_) == ["age", "sex", "income"]  # ";" found as in a file
    result = run("sample", model_file, "-n", "30", "-o", "-", "--seed", "4")
    pd.testing.assert_frame_equal(
        pd.read_csv(io.StringIO(result.stdout)),
        pd.read_csv(io.StringIO(model.sample(30, random_state=4).to_csv(index=False))),
    )
    assert "Wrote 30 rows to standard output" in result.stderr
    empty = run("fit", "-", "-o", model_file, "-q", input="", ok=False)
    assert_one_line_error(empty, "standard input")
    assert_one_line_error(
        run("sample", model_file, "-n", "3", "-o", "-", "--table", "t", ok=False),
        "standard output",
    )


# ---------------------------------------------------------------- defaults and ranges
def test_fit_without_epochs_trains_the_schedule_of_tvae(files, tmp_path, monkeypatch):
    import tvae.schedule

    monkeypatch.setattr(tvae.schedule, "FAST_STEPS", 40)  # the default schedule, made short
    _, csv, _ = files
    narrow = tmp_path / "narrow.csv"
    table = pd.read_csv(csv)[["age", "sex"]]
    table.to_csv(narrow, index=False)
    model_file = tmp_path / "default.tvae"
    result = run("fit", narrow, "-o", model_file, "--seed", "0")
    expected = TVAE(random_state=0).fit(read_table(narrow)).schedule_
    assert TVAE.load(model_file).schedule_ == expected
    assert f"for {expected.epochs} epochs" in result.stdout
    text = run("inspect", model_file).stdout
    assert f"{expected.epochs} epochs, batch size {expected.batch_size}" in text
    assert f"({expected.lr_schedule})" in text


def test_where_range_with_low_above_high_is_refused(files, tmp_path):
    _, _, model = files
    result = run("sample", model, "-n", "5", "-o", tmp_path / "r.csv", "--where", "age=40..30",
                 ok=False)  # fmt: skip
    assert_one_line_error(result, "age", "above")
    assert not (tmp_path / "r.csv").exists()


def test_a_column_named_twice_by_where_is_refused(files, tmp_path):
    _, _, model = files  # the second condition replaced the first without a word
    result = run("sample", model, "-n", "5", "-o", tmp_path / "r.csv",
                 "--where", "age=30", "--where", "age=40", ok=False)  # fmt: skip
    assert_one_line_error(result, "'age' twice", "age=40")
    assert not (tmp_path / "r.csv").exists()


def test_a_table_in_another_encoding_says_how_to_convert_it(tmp_path):
    table = tmp_path / "names.csv"
    table.write_bytes("name,n\nJosé,1\nRenée,2\n".encode("latin-1"))
    result = run("fit", table, "-o", tmp_path / "m.tvae", ok=False)
    assert_one_line_error(result, "not UTF-8", "0xe9", "iconv")


def test_evaluate_target_without_holdout_warns_that_efficacy_is_skipped(files, tmp_path):
    _, csv, model = files
    synthetic = tmp_path / "s.csv"
    run("sample", model, "-n", "100", "-o", synthetic, "--seed", "0", "-q")
    result = run("evaluate", csv, synthetic, "--target", "income", "--json")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "holdout" in warnings[0] and "efficacy" in warnings[0]
    assert json.loads(result.stdout)  # the scores still come, on stdout


def test_inspect_shows_a_line_as_its_formula(tmp_path):
    kg = [round(40 + 0.7 * i, 1) for i in range(60)]
    frame = pd.DataFrame({"kg": kg, "lb": [round(k * 2.20462, 2) for k in kg]})
    frame["log_kg"] = frame["kg"].map(math.log)
    TVAE(epochs=1, random_state=0).fit(frame).save(tmp_path / "lines.tvae")
    shown = run("inspect", tmp_path / "lines.tvae").stdout
    assert "lb = 2.20462 * kg + 0" in shown and "log_kg = 1 * log(kg) + 0" in shown
