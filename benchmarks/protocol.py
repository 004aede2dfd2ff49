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
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from tvae.evaluation.columns import category_text
from tvae.evaluation.efficacy import learnable_rows


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


def subsample(frame: pd.DataFrame, max_rows: int | None) -> pd.DataFrame:
    """Tables over ``max_rows`` rows are cut to a fixed random sample (seed 0) before any split."""
    if max_rows and len(frame) > max_rows:
        return frame.sample(max_rows, random_state=0).reset_index(drop=True)
    return frame


def dataset_name(path: str) -> str:
    return Path(path).name.split(".")[0]


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


def as_text(values: pd.Series) -> np.ndarray:
    """Each value as text (tvae's labels: 1.0 and 1 agree), a missing one as "nan"."""
    return category_text(values, missing="nan")


def _as_features(frame: pd.DataFrame, discrete: list[str], categories: dict) -> pd.DataFrame:
    out = frame.drop(columns=[c for c in frame.columns if is_key(c)])
    for c in discrete:
        codes = pd.Categorical(as_text(out[c]), categories=categories[c])
        # The classifier takes at most 255 categories per feature; wider ones become codes.
        out[c] = codes if len(categories[c]) < 250 else codes.codes
    return out


def efficacy_f1(
    synthetic: pd.DataFrame, test: pd.DataFrame, target: str, discrete: list[str]
) -> float:
    """Macro-F1 on real held-out rows of a classifier trained on ``synthetic``."""
    features = [c for c in discrete if c != target]
    categories = {c: sorted(set(as_text(synthetic[c])) | set(as_text(test[c]))) for c in features}
    labels = as_text(synthetic[target])
    # rows of a class seen once are left out, as tvae.evaluate does (learnable_rows). Turning
    # early stopping off instead (the earlier recipe) let the boosting diverge on intrusion:
    # trained on the *real* rows, 0.17-0.26, with 'normal' recall 0.02 on one seed.
    learnable, stop_early = learnable_rows(labels)
    x_train = _as_features(synthetic.drop(columns=[target])[learnable], features, categories)
    x_test = _as_features(test.drop(columns=[target]), features, categories)
    model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
    if not stop_early:  # a class seen once is in training: no stratified validation split
        model.set_params(early_stopping=False)
    model.fit(x_train, labels[learnable])
    return float(f1_score(as_text(test[target]), model.predict(x_test), average="macro"))


def independent_sample(train: pd.DataFrame, n_rows: int, seed: int) -> pd.DataFrame:
    """Each column drawn on its own from its training values, with replacement (the floor)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {c: train[c].iloc[rng.integers(0, len(train), n_rows)].to_numpy() for c in train.columns}
    ).astype(train.dtypes.to_dict())


DETECTION = "HistGradientBoosting 3-fold ROC AUC, 1 - 2·max(AUC - 0.5, 0)"


def detection_score(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    discrete: list[str],
    keys: tuple[str, ...],
    n_rows: int,
    seed: int,
) -> float:
    """How hard real and synthetic rows are to tell apart; 1 = indistinguishable.

    ``n_rows`` of each (seeded sample) against each other: HistGradientBoostingClassifier
    (random_state=0), cross-validated ROC AUC (3 stratified folds), reported as
    1 - 2·max(AUC - 0.5, 0). Row keys are left out. Unlike SDMetrics' LogisticDetection
    (a linear model, blind to rows whose columns are each right but wrongly combined),
    boosted trees see interactions; and the same size on both sides keeps the held-out rows
    a fair baseline.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(seed)
    sides = [
        f.drop(columns=list(keys)).iloc[rng.choice(len(f), min(n_rows, len(f)), replace=False)]
        for f in (real, synthetic)
    ]
    both = pd.concat(sides, ignore_index=True)
    features = [c for c in discrete if c in both.columns and not is_key(c)]
    categories = {c: sorted(set(as_text(both[c]))) for c in features}
    x = _as_features(both, features, categories)
    for c in x.columns:
        if pd.api.types.is_bool_dtype(x[c]):
            x[c] = x[c].astype(np.int8)
    y = np.r_[np.zeros(len(sides[0])), np.ones(len(sides[1]))]
    model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    auc = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring="roc_auc")))
    return 1 - 2 * max(auc - 0.5, 0.0)


def library_kinds(train: pd.DataFrame, discrete: list[str], keys: tuple[str, ...]) -> dict:
    """Column kinds for tvae.evaluation: keys as "id", ``discrete`` categorical, else by dtype."""
    from tvae.evaluation import infer_kinds

    metadata = {c: "categorical" for c in discrete}
    metadata.update({c: "id" for c in train.columns if is_key(c) or c in keys})
    return infer_kinds(train, metadata=metadata)


def dcr_share(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    kinds: dict,
    seed: int,
    synthetic_is_holdout: bool = False,
) -> tuple[float, float]:
    """Share of synthetic rows nearer a training row than any held-out row (0.5 = no closer
    than fresh real rows), and the share of ties (counted half in the first).

    The training rows are a seeded sample as large as the held-out rows, so that a generator
    which never saw the training rows scores 0.5 in expectation. Distances are tvae's privacy
    encoding (``tvae.evaluation.privacy``: standardised numbers, scaled one-hot categories,
    fitted on the training sample); synthetic rows over its row cap are subsampled. When the
    "synthetic" rows are the held-out rows themselves, each is compared with the other held-out
    rows and with a training sample one row smaller (leave one out).
    """
    from sklearn.neighbors import NearestNeighbors

    from tvae.evaluation.privacy import DEFAULT_MAX_ROWS, _Encoder, _subsample

    rng = np.random.default_rng(seed)
    size = len(holdout) - int(synthetic_is_holdout)
    reference = train.iloc[np.sort(rng.choice(len(train), size, replace=False))]
    encoder = _Encoder(reference, kinds, [reference, synthetic, holdout])
    queries = encoder.transform(_subsample(synthetic, DEFAULT_MAX_ROWS, rng))
    near_train = NearestNeighbors(n_neighbors=1).fit(encoder.transform(reference))
    d_train = near_train.kneighbors(queries)[0][:, 0]
    k = 2 if synthetic_is_holdout else 1
    near_holdout = NearestNeighbors(n_neighbors=k).fit(encoder.transform(holdout))
    d_holdout = near_holdout.kneighbors(queries)[0][:, k - 1]
    ties = np.isclose(d_train, d_holdout, rtol=0, atol=1e-9)
    return float(np.mean((d_train < d_holdout) & ~ties) + 0.5 * ties.mean()), float(ties.mean())


def run_once(
    name: str,
    dataset: str,
    frame: pd.DataFrame,
    discrete: list[str],
    target: str | None,
    seed: int,
    fit_and_sample: FitAndSample,
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


def parse_value(text: str):
    """A command-line value as int, float, bool or None where it reads as one, a tuple of
    integers for comma-separated ones (``compress_dims=64,64``), else the text."""
    parts = text.split(",")
    if len(parts) > 1 and all(part.strip().lstrip("-").isdigit() for part in parts):
        return tuple(int(part) for part in parts)
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_params(items: list[str]) -> dict:
    """``["key=value", ...]`` (``--tvae-param``) as constructor keyword arguments."""
    return {key: parse_value(value) for key, value in (item.split("=", 1) for item in items)}


FitAndSample = Callable[[pd.DataFrame, list[str], int, int], tuple[pd.DataFrame, float, float]]


def tvae_runner(epochs: int | None, batch_size: int | None, extra: dict) -> FitAndSample:
    """tvae.TVAE(random_state=seed, enable_gpu=False, **extra): fit, then sample ``n_rows``."""
    from tvae import TVAE

    def fit_and_sample(train, discrete, seed, n_rows):
        params = dict(extra, random_state=seed, enable_gpu=False)
        if epochs is not None:
            params["epochs"] = epochs
        if batch_size is not None:
            params["batch_size"] = batch_size
        model, fit_seconds = timed(TVAE(**params).fit, train, discrete)
        synthetic, sample_seconds = timed(model.sample, n_rows)
        fit_and_sample.last_model = model  # more rows of it (fidelity.py's point masses)
        return synthetic, fit_seconds, sample_seconds

    return fit_and_sample


def ctgan_runner(epochs: int | None, batch_size: int | None) -> FitAndSample:
    """The reference, ctgan.TVAE (its defaults, CPU, seeded); ctgan is imported at first use."""

    def fit_and_sample(train, discrete, seed, n_rows):
        from ctgan import TVAE as ReferenceTVAE

        params = {"enable_gpu": False}
        if epochs is not None:
            params["epochs"] = epochs
        if batch_size is not None:
            params["batch_size"] = batch_size
        model = ReferenceTVAE(**params)
        model.set_random_state(seed)
        _, fit_seconds = timed(model.fit, train, discrete)
        synthetic, sample_seconds = timed(model.sample, n_rows)
        fit_and_sample.last_model = model
        return synthetic, fit_seconds, sample_seconds

    return fit_and_sample


def error_text(error: BaseException) -> str:
    """How a failed run is recorded (the reference fails on some real tables)."""
    return f"{type(error).__name__}: {error}"[:300]


def warm_up() -> None:
    """Pay the process's one-time torch costs before any fit is timed. The first optimiser a
    process builds imports ``torch._dynamo`` (1.4-1.7 s on this machine); in a run that times
    several implementations in one process it would otherwise land on whichever fits first."""
    import torch

    parameter = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([parameter])
    optimizer.zero_grad()


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
