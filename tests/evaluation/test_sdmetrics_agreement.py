"""Our quality scores agree with sdmetrics' single-table QualityReport (run where it is installed).

sdmetrics caps pandas below 3, so these run in an environment of their own (``.ci/run``:
``.venv-agreement`` with ``pip install -e ".[dev,agreement]"``) and skip where it is absent.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from evaldata import real_and_synthetic

pytest.importorskip("sdmetrics")

from tvae.evaluation import evaluate, infer_kinds

DATASETS = ["adult", "titanic", "bank", "beijing"]
TOLERANCE = 0.01


def _sdmetrics_report(real, synthetic, kinds, thresholds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        if thresholds is not None:
            report.real_correlation_threshold, report.real_association_threshold = thresholds
        metadata = {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}
        report.generate(real, synthetic, metadata, verbose=False)
    return report


@functools.cache
def _compare(name, thresholds):
    real, synthetic, kinds = real_and_synthetic(name)
    kinds = kinds or infer_kinds(real)
    sd = _sdmetrics_report(real, synthetic, kinds, thresholds)
    options = {}
    if thresholds is not None:
        options = dict(
            zip(
                ["real_correlation_threshold", "real_association_threshold"],
                thresholds,
                strict=True,
            )
        )
    ours = evaluate(real, synthetic, metadata=kinds, **options)
    properties = sd.get_properties().set_index("Property")["Score"]
    return ours, sd, properties


@pytest.mark.parametrize("thresholds", [None, (0, 0)], ids=["default", "no-threshold"])
@pytest.mark.parametrize("name", DATASETS)
def test_scores_agree(name, thresholds):
    ours, sd, properties = _compare(name, thresholds)
    assert ours.column_shapes_score == pytest.approx(properties["Column Shapes"], abs=TOLERANCE)
    assert ours.column_pair_trends_score == pytest.approx(
        properties["Column Pair Trends"], abs=TOLERANCE
    )
    assert ours.overall == pytest.approx(sd.get_score(), abs=TOLERANCE)
    assert ours.overall < 0.99  # the perturbation is visible


@pytest.mark.parametrize("name", DATASETS)
def test_details_agree(name):
    ours, sd, _ = _compare(name, (0, 0))
    shapes = sd.get_details("Column Shapes").set_index("Column")["Score"]
    mine = ours.column_shapes.set_index("column")["score"]
    pd.testing.assert_series_equal(
        mine.sort_index(), shapes.sort_index(), check_names=False, atol=1e-6, rtol=0
    )  # sdmetrics adds 1e-6 pseudo-counts

    theirs = sd.get_details("Column Pair Trends")
    theirs = theirs.set_index(["Column 1", "Column 2"])
    mine = ours.column_pair_trends.set_index(["column_1", "column_2"])
    assert list(mine.index) == list(theirs.index)
    assert list(mine["metric"]) == list(theirs["Metric"])
    both = theirs["Score"].notna().to_numpy()
    assert both.mean() > 0.9
    np.testing.assert_allclose(
        mine["score"].to_numpy()[both], theirs["Score"].to_numpy()[both], atol=1e-9
    )
    numeric = (theirs["Metric"] == "CorrelationSimilarity").to_numpy() & both
    np.testing.assert_allclose(
        mine["real"].to_numpy()[numeric], theirs["Real Correlation"].to_numpy()[numeric], atol=1e-9
    )
