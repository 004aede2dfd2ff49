"""QualityReport: validation, dict/text output, self-contained HTML and PNG files."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from tvae.evaluation import QualityReport, evaluate

COLUMNS = ["age", "workclass", "hours-per-week", "income"]


@pytest.fixture(scope="module")
def small(adult):
    frame = adult[COLUMNS]
    real, holdout = frame.iloc[:300].reset_index(drop=True), frame.iloc[300:500]
    synthetic = frame.iloc[500:800].reset_index(drop=True).copy()
    synthetic["when"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(synthetic["age"], "D")
    real["when"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(real["age"] * 1.1, "D")
    holdout = holdout.assign(when=pd.Timestamp("2021-01-01"))
    synthetic.loc[:20, "workclass"] = np.nan
    return real, synthetic, holdout


@pytest.fixture(scope="module")
def report(small) -> QualityReport:
    real, synthetic, holdout = small
    loss = pd.DataFrame(
        {
            "Epoch": np.repeat(np.arange(5), 3),
            "Batch": np.tile(np.arange(3), 5),
            "Loss": np.linspace(3, 1, 15),
        }
    )
    return evaluate(real, synthetic, target="income", holdout=holdout, loss_values=loss)


def test_report_attributes(report):
    assert 0 < report.overall < 1
    assert report.overall == pytest.approx(
        (report.column_shapes_score + report.column_pair_trends_score) / 2
    )
    assert list(report.column_shapes.columns) == ["column", "kind", "metric", "score"]
    assert {"column_1", "column_2", "metric", "score", "real", "synthetic"} <= set(
        report.column_pair_trends.columns
    )
    assert report.kinds["when"] == "datetime"
    assert report.efficacy is not None and report.privacy["dcr_ratio"] is not None


def test_to_dict_is_plain_json(report):
    data = report.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["overall"] == pytest.approx(report.overall)
    assert isinstance(data["column_shapes"][0]["score"], float)
    assert isinstance(data["column_pair_trends"][0]["contributes"], bool)


def test_summary(report):
    text = report.summary()
    assert "Overall quality" in text and "ML efficacy" in text and "DCR" in text
    assert len(text.splitlines()) <= 10
    assert str(report) == text


def test_html_is_self_contained_with_one_image_per_plot(report, tmp_path):
    path = report.to_html(tmp_path / "out" / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<link" not in page and "<script" not in page
    images = re.findall(r"<img [^>]*src=\"data:image/png;base64,", page)
    pngs = report.save_pngs(tmp_path / "pngs")
    assert len(images) == len(pngs)
    # loss, shapes, pair scores, correlations, one per scored column
    assert len(pngs) == 4 + len(report.column_shapes)
    names = {p.stem for p in pngs}
    assert {"loss", "column_shapes", "pair_trends", "correlation_difference"} <= names
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "income" in page and "Column distributions" in page


def test_plots_without_loss_or_numbers(tmp_path):
    frame = pd.DataFrame({"a": list("xyxyxy"), "b": list("ppqqpq")})
    report = evaluate(frame, frame.iloc[::-1])
    pngs = report.save_pngs(tmp_path)
    assert {p.stem for p in pngs} == {"column_shapes", "pair_trends", "column_00_a", "column_01_b"}


def test_validation_errors(small):
    real, synthetic, _ = small
    with pytest.raises(ValueError, match=r"missing \['income'\].*extra \['zzz'\]"):
        evaluate(real, synthetic.drop(columns="income").assign(zzz=1))
    with pytest.raises(TypeError, match="synthetic"):
        evaluate(real, synthetic.to_numpy())
    with pytest.raises(TypeError, match="real"):
        evaluate([1, 2], synthetic)
    with pytest.raises(ValueError, match="synthetic has no rows"):
        evaluate(real, synthetic.iloc[:0])
    with pytest.raises(ValueError, match=r"synthetic holds infinite values in \['age'\]"):
        evaluate(real, synthetic.assign(age=np.inf))  # sklearn's "Input X contains infinity"
    with pytest.raises(ValueError, match="'nope'"):
        evaluate(real, synthetic, target="nope")
    with pytest.raises(ValueError, match="holdout"):
        evaluate(real, synthetic, target="income", holdout=real.drop(columns="age"))
    with pytest.raises(ValueError, match="Loss"):
        evaluate(real, synthetic, loss_values=pd.DataFrame({"Epoch": [0], "Batch": [0]}))


def test_column_order_of_synthetic_does_not_matter(small):
    real, synthetic, _ = small
    shuffled = synthetic[list(reversed(synthetic.columns))]
    assert evaluate(real, shuffled).overall == pytest.approx(evaluate(real, synthetic).overall)


def test_metadata_and_discrete_columns_are_used(small):
    real, synthetic, _ = small
    report = evaluate(real, synthetic, discrete_columns=["workclass", "income"])
    assert report.kinds["hours-per-week"] == "numerical"
    assert report.kinds["when"] == "numerical"
    meta = {c: "categorical" for c in real.columns} | {"age": "id", "when": "datetime"}
    report = evaluate(real, synthetic, metadata=meta)
    assert "age" not in set(report.column_shapes["column"])


def test_key_columns_are_skipped_as_fit_reads_them():
    """A model gives fresh IDs by design; scored as numbers, they dragged the overall score
    down (KS 0 for bank's customer_id)."""
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"customer_id": np.arange(1, 201), "x": rng.normal(size=200)})
    synthetic = pd.DataFrame(
        {"customer_id": np.arange(10**9, 10**9 + 200), "x": rng.normal(size=200)}
    )
    report = evaluate(real, synthetic)
    assert report.kinds["customer_id"] == "id"
    assert list(report.column_shapes["column"]) == ["x"]
    assert report.overall == pytest.approx(evaluate(real[["x"]], synthetic[["x"]]).overall)
    # an integer column of unique values without a key's name is a number, as in fit
    renamed = {"customer_id": "amount"}
    plain = evaluate(real.rename(columns=renamed), synthetic.rename(columns=renamed))
    assert plain.kinds["amount"] == "numerical"


def _shape_scores(report: QualityReport) -> dict:
    return dict(zip(report.column_shapes["column"], report.column_shapes["score"], strict=True))


def test_dates_as_text_are_scored_as_times_as_fit_reads_them():
    """A CSV's dates come back from read_csv as text: scored as categories, nearly every date
    is its own category and the shape score fell to near 0 for rows from the same dates."""
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2020-01-01")
    days = [start + pd.to_timedelta(rng.integers(0, 700, 400), "D") for _ in range(2)]
    x = rng.normal(size=400)
    real = pd.DataFrame({"day": days[0].strftime("%d/%m/%Y"), "x": x})
    real.loc[::40, "day"] = np.nan
    same = pd.DataFrame({"day": days[1].strftime("%d/%m/%Y"), "x": x})
    later = same.assign(day=(days[1] + pd.Timedelta(days=500)).strftime("%d/%m/%Y"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = evaluate(real, same)
    assert not caught, [str(w.message) for w in caught]  # pandas' day-first warning stays in
    assert report.kinds["day"] == "datetime"
    assert _shape_scores(report)["day"] > 0.9  # the same spread of dates, read day-first
    # dates 500 days later read as later, not as other labels
    assert _shape_scores(evaluate(real, later))["day"] < 0.5


def test_a_column_whose_synthetic_values_do_not_read_as_its_kind_says_how_to_score_it():
    """A private model merges rare labels into '(other)': dates read from a CSV as text then
    come back as '(other)', which no date parser reads; the error says how to score them."""
    real = pd.DataFrame({"day": ["2020-01-02", "2020-03-04", "2021-05-06"], "x": [1.0, 2, 3]})
    synthetic = real.assign(day="(other)")
    with pytest.raises(ValueError, match=r"'day' is scored as datetime.*\{'day': 'categorical'\}"):
        evaluate(real, synthetic)
    report = evaluate(real, synthetic, metadata={"day": "categorical"})
    assert _shape_scores(report)["day"] == 0.0
