"""The quality protocol shared by the benchmarks (needs the `bench` extra: sdmetrics, ctgan).

For each seed: a random 80/20 split of the rows by that seed, the model fitted on the 80 % with
that seed, as many synthetic rows sampled as there are training rows, the SDMetrics quality
report computed against the training rows, and HistGradientBoostingClassifier(random_state=0)
trained on synthetic rows and scored (macro-F1) on the 20 %.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split


@dataclass
class RunResult:
    implementation: str
    dataset: str
    seed: int
    fit_seconds: float
    sample_seconds: float
    quality: float
    column_shapes: float
    column_pair_trends: float
    efficacy_f1: float | None
    quality_keyed: float | None = None  # quality with row-counter columns scored as keys

    def to_dict(self) -> dict:
        return asdict(self)


def read_table(path: str) -> pd.DataFrame:
    """Read a CSV (optionally gzipped); the census table keeps "NA" as a category."""
    keep_na = "census" in path
    return pd.read_csv(path, keep_default_na=not keep_na, na_values=[] if keep_na else None)


def discrete_columns_of(
    frame: pd.DataFrame, given: list[str] | None, target: str | None = None
) -> list[str]:
    """The given categorical columns, else the non-numeric ones; a target is always categorical."""
    if given:
        discrete = list(given)
    else:
        discrete = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if target and target not in discrete:
        discrete.append(target)
    return discrete


def is_key(name: str) -> bool:
    """Columns that are row keys (scored as SDMetrics "id": skipped by its quality report)."""
    return name.lower() == "id" or name.lower().endswith("_id")


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(frame, test_size=0.2, random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def unique_keys(frame: pd.DataFrame) -> list[str]:
    """Columns that are row keys by their data: integers or labels, every value distinct.

    Such a column (e.g. beijing's row counter ``No``) is an identifier, not a quantity; tvae
    generates new keys for it, which SDMetrics would score as a badly learned number.
    """
    return [
        c
        for c in frame.columns
        if not is_key(c)
        and not pd.api.types.is_float_dtype(frame[c])
        and frame[c].notna().all()
        and frame[c].is_unique
    ]


def sdmetrics_quality(
    real: pd.DataFrame, synthetic: pd.DataFrame, discrete: list[str], keys: tuple[str, ...] = ()
) -> tuple[float, float, float]:
    from sdmetrics.reports.single_table import QualityReport

    def sdtype(c: str) -> str:
        if is_key(c) or c in keys:
            return "id"
        return "categorical" if c in discrete else "numerical"

    metadata = {"columns": {c: {"sdtype": sdtype(c)} for c in real.columns}}
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, synthetic, metadata, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return (
        float(report.get_score()),
        float(props["Column Shapes"]),
        float(props["Column Pair Trends"]),
    )


def _as_features(frame: pd.DataFrame, discrete: list[str], categories: dict) -> pd.DataFrame:
    out = frame.drop(columns=[c for c in frame.columns if is_key(c)])
    for c in discrete:
        codes = pd.Categorical(out[c].astype(str), categories=categories[c])
        # The classifier takes at most 255 categories per feature; wider ones become codes.
        out[c] = codes if len(categories[c]) < 250 else codes.codes
    return out


def efficacy_f1(
    synthetic: pd.DataFrame, test: pd.DataFrame, target: str, discrete: list[str]
) -> float:
    """Macro-F1 on real held-out rows of a classifier trained on ``synthetic``."""
    features = [c for c in discrete if c != target]
    categories = {
        c: sorted(set(synthetic[c].astype(str)) | set(test[c].astype(str))) for c in features
    }
    x_train = _as_features(synthetic.drop(columns=[target]), features, categories)
    x_test = _as_features(test.drop(columns=[target]), features, categories)
    labels = synthetic[target].astype(str)
    model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
    if labels.value_counts().min() < 2:
        # early stopping's stratified validation split needs two rows per class; a synthetic
        # table may hold a rare class once
        model.set_params(early_stopping=False)
    model.fit(x_train, labels)
    return float(f1_score(test[target].astype(str), model.predict(x_test), average="macro"))


def run_once(
    name: str,
    dataset: str,
    frame: pd.DataFrame,
    discrete: list[str],
    target: str | None,
    seed: int,
    fit_and_sample: Callable[
        [pd.DataFrame, list[str], int, int], tuple[pd.DataFrame, float, float]
    ],
) -> RunResult:
    """Split by ``seed``, fit and sample through ``fit_and_sample``, score the result."""
    train, test = split(frame, seed)
    synthetic, fit_seconds, sample_seconds = fit_and_sample(train, discrete, seed, len(train))
    quality, shapes, pairs = sdmetrics_quality(train, synthetic, discrete)
    f1 = efficacy_f1(synthetic, test, target, discrete) if target else None
    keys = tuple(unique_keys(train))
    keyed = sdmetrics_quality(train, synthetic, discrete, keys)[0] if keys else None
    return RunResult(
        name, dataset, seed, fit_seconds, sample_seconds, quality, shapes, pairs, f1, keyed
    )


def timed(function: Callable, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def summarise(results: list[RunResult]) -> pd.DataFrame:
    frame = pd.DataFrame([r.to_dict() for r in results])
    columns = [
        "fit_seconds",
        "sample_seconds",
        "quality",
        "column_shapes",
        "column_pair_trends",
        "efficacy_f1",
        "quality_keyed",
    ]
    return frame.groupby(["dataset", "implementation"])[columns].agg(["mean", "std"]).round(4)


def real_f1(frame: pd.DataFrame, target: str, discrete: list[str], seeds: list[int]) -> float:
    """Macro-F1 of the classifier trained on the real 80 % (the ceiling), averaged over seeds."""
    return float(np.mean([efficacy_f1(*split(frame, s), target, discrete) for s in seeds]))
