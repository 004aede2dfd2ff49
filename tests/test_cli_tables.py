"""Tables the command line reads and writes: delimiters of text files, and SQL databases."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

import tvae
from tvae import TVAE
from tvae.cli import app
from tvae.cli.table_io import read_table, sniff_delimiter
from tvae.errors import InvalidDataError

runner = CliRunner()


def run(*args, ok: bool = True):
    result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def one_line_error(result, *words, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def real():
    columns = ["age", "sex", "education", "income"]
    return tvae.load_demo()[columns].sample(200, random_state=0).reset_index(drop=True)


# ---------------------------------------------------------------- delimiters
@pytest.mark.parametrize("sep", [";", "\t", "|", ","])
def test_the_delimiter_of_a_csv_file_is_detected(real, tmp_path, sep):
    path = tmp_path / "real.csv"
    real.to_csv(path, sep=sep, index=False)
    assert sniff_delimiter(path) == sep
    pd.testing.assert_frame_equal(read_table(path), real)


def test_quoted_fields_do_not_fool_the_detection(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('name;note\n"a, b";"x, y, z"\n"c";"d, e"\n')
    assert sniff_delimiter(path) == ";"
    assert list(read_table(path).columns) == ["name", "note"]
    gz = tmp_path / "real.csv.gz"
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(gz, sep="|", index=False)
    assert list(read_table(gz).columns) == ["a", "b"]


def test_fit_learns_every_column_of_a_semicolon_csv(real, tmp_path):
    path = tmp_path / "semicolon.csv"
    real.to_csv(path, sep=";", index=False)
    model = tmp_path / "m.tvae"
    result = run("fit", path, "-o", model, "--epochs", "1", "-q")
    assert result.stdout == ""
    assert list(TVAE.load(model).feature_names_in_) == list(real.columns)


def test_a_column_with_an_empty_header_keeps_it_in_the_synthetic_file(real, tmp_path):
    """R's write.csv and pandas' to_csv write row names under an empty header; pandas reads
    that column as "Unnamed: 0", and the synthetic file's header said so."""
    data = tmp_path / "rows.csv"
    real.to_csv(data)  # the index first, under an empty name
    assert read_table(data).columns[0] == ""
    run("fit", data, "-o", tmp_path / "m.tvae", "--epochs", 1)
    run("sample", tmp_path / "m.tvae", "-n", 5, "-o", tmp_path / "out.csv")
    header = (tmp_path / "out.csv").read_text().splitlines()[0]
    assert header == data.read_text().splitlines()[0] == ",age,sex,education,income"
    shown = run("inspect", tmp_path / "m.tvae").stdout
    assert "\n  ''   " in shown  # not a blank where the name goes
    twice = tmp_path / "twice.csv"  # two empty headers: pandas' names, which differ, stay
    twice.write_text(",a,\n1,2,3\n4,5,6\n")
    assert list(read_table(twice).columns) == ["Unnamed: 0", "a", "Unnamed: 2"]


def test_a_one_column_read_with_a_delimiter_in_its_header_is_refused(real, tmp_path):
    path = tmp_path / "semicolon.tsv"  # the extension says tabs; the file has semicolons
    real.to_csv(path, sep=";", index=False)
    with pytest.raises(InvalidDataError, match="';'"):
        read_table(path)
    out = tmp_path / "m.tvae"
    error = one_line_error(run("fit", path, "-o", out, "--epochs", "1", ok=False), "--sep")
    assert "one column" in error and not out.exists()
    run("fit", path, "-o", out, "--epochs", "1", "--sep", ";", "-q")
    assert len(TVAE.load(out).feature_names_in_) == 4


def test_sep_option_names_and_errors(real, tmp_path):
    path = tmp_path / "tabs.txt"
    real.to_csv(path, sep="\t", index=False)
    run("fit", path, "-o", tmp_path / "m.tvae", "--epochs", "1", "--sep", "tab", "-q")
    one_line_error(run("fit", path, "-o", tmp_path / "n.tvae", "--sep", "ab", ok=False), "--sep")
    single = tmp_path / "single.csv"
    single.write_text("age\n1\n2\n")
    assert list(read_table(single).columns) == ["age"]  # one column, no delimiter: fine


# ---------------------------------------------------------------- databases
@pytest.fixture(params=["sqlite", "duckdb"])
def database(request, real, tmp_path):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    if request.param == "duckdb":
        pytest.importorskip("duckdb_engine")
    url = f"{request.param}:///{tmp_path / ('data.' + request.param)}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        real.to_sql("people", connection, index=False)
    engine.dispose()
    return url


def test_fit_and_sample_through_a_database(database, real, tmp_path):
    model = tmp_path / "m.tvae"
    run("fit", database, "--table", "people", "-o", model, "--epochs", "1", "--seed", "0", "-q")
    assert list(TVAE.load(model).feature_names_in_) == list(real.columns)
    query = "SELECT age, sex FROM people WHERE age > 30"
    run("fit", database, "--query", query, "-o", tmp_path / "q.tvae", "--epochs", "1", "-q")
    assert list(TVAE.load(tmp_path / "q.tvae").feature_names_in_) == ["age", "sex"]

    out = database.replace("data.", "out.")
    result = run("sample", model, "-n", "120", "-o", out, "--table", "synthetic", "--seed", "1",
                 "--chunk-rows", "50")  # fmt: skip
    assert "Wrote 120 rows to table 'synthetic' in" in result.stdout
    from tvae.cli.sql import read_sql

    rows = read_sql(out, table="synthetic")
    expected = TVAE.load(model).sample(120, random_state=1)
    assert list(rows.columns) == list(real.columns) and len(rows) == 120
    assert rows["sex"].tolist() == expected["sex"].tolist()
    again = run("sample", model, "-n", "5", "-o", out, "--table", "synthetic", ok=False)
    one_line_error(again, "synthetic", "already exists")
    run("sample", model, "-n", "5", "-o", out, "--table", "synthetic", "--if-exists", "append",
        "-q")  # fmt: skip
    assert len(read_sql(out, table="synthetic")) == 125
    run("sample", model, "-n", "7", "-o", out, "--table", "synthetic", "--if-exists", "replace",
        "-q")  # fmt: skip
    assert len(read_sql(out, table="synthetic")) == 7


def test_database_errors_are_one_line(database, tmp_path):
    model = tmp_path / "m.tvae"
    one_line_error(run("fit", database, "-o", model, ok=False), "--table", "--query")
    one_line_error(run("fit", database, "--table", "nobody", "-o", model, ok=False), "people")
    bad_query = run("fit", database, "--query", "SELEKT 1", "-o", model, ok=False)
    one_line_error(bad_query, "SELEKT")
    missing = database.replace("data.", "missing.")
    one_line_error(run("fit", missing, "--table", "people", "-o", model, ok=False), "missing.")
    assert not any(p.name.startswith("missing.") for p in tmp_path.iterdir())  # not created
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    one_line_error(run("fit", csv, "--table", "people", "-o", model, ok=False), "database URL")
    assert not model.exists()


def test_a_missing_sql_extra_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # as if not installed
    url = f"sqlite:///{tmp_path / 'data.sqlite'}"
    result = run("fit", url, "--table", "people", "-o", tmp_path / "m.tvae", ok=False)
    one_line_error(result, "tvae[sql]")


# ---------------------------------------------------------------- durations as text
def test_durations_written_to_csv_are_learned_as_durations_and_written_back_alike(tmp_path):
    """pandas writes a timedelta64 column to CSV as "0 days 01:32:00"; read back it is text,
    which was learned as categories (no new duration, a wide column's rare ones lumped)."""
    rng = pd.Series(range(150)).sample(frac=1.0, random_state=0).to_numpy()
    minutes = 5 + (rng * 7919) % 290  # 150 of the minutes 5-294
    trips = pd.DataFrame({"kind": ["walk" if m < 40 else "drive" for m in minutes]})
    trips["trip"] = pd.to_timedelta(minutes, unit="min")
    data, model, out = tmp_path / "trips.csv", tmp_path / "m.tvae", tmp_path / "syn.csv"
    trips.to_csv(data, index=False)
    run("fit", data, "-o", model, "--seed", "0", "-q")
    assert TVAE.load(model).metadata_["trip"] == "numerical"
    run("sample", model, "-n", "500", "-o", out, "--seed", "1", "-q")
    text = pd.read_csv(out)["trip"]
    assert text.str.fullmatch(r"0 days 0\d:\d\d:00").all()  # pandas' form, whole minutes
    spans = pd.to_timedelta(text)
    assert spans.min() >= pd.Timedelta("5min") and spans.max() <= pd.Timedelta("294min")
    assert spans.nunique() > trips["trip"].nunique() / 2
    assert not set(spans) <= set(trips["trip"])  # new durations, not only the real ones
    asked = tmp_path / "two_hours.csv"
    run("sample", model, "-n", "50", "-o", asked, "--seed", "1", "-q",
        "--where", "trip=0 days 02:00:00")  # fmt: skip
    rows = pd.read_csv(asked)
    assert (rows["trip"] == "0 days 02:00:00").all() and (rows["kind"] == "drive").mean() > 0.8
