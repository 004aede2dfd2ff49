"""Machine-learning efficacy: train on synthetic, test on real held-out rows (TSTR).

The same gradient-boosting model is also trained on the real training rows, so the synthetic
score can be read against what real data achieves on the same held-out rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .columns import category_text, infer_kinds, to_float

# A numerical target with more distinct values than this is treated as a regression target.
REGRESSION_MIN_UNIQUE = 20
MIN_CLASS_ROWS = 2  # a class's training rows needed to learn it (see learnable_rows)
_MAX_CATEGORIES = 250  # HistGradientBoosting handles at most 255 bins per categorical feature


def _task(real: pd.Series, kind: str) -> str:
    if kind == "numerical" and real.nunique(dropna=True) > REGRESSION_MIN_UNIQUE:
        return "regression"
    return "classification"


def _features(frames: list[pd.DataFrame], kinds: dict[str, str], target: str) -> list[pd.DataFrame]:
    """Model-ready copies: category dtype (shared categories) for discrete columns, floats else.

    Categories come from the union of the frames so that ``categorical_features="from_dtype"``
    sees the same codes in training and test data.
    """
    from tvae.kinds import is_duration  # fit's rule (a light module)

    columns = [c for c, k in kinds.items() if c != target and k != "id"]
    out = [pd.DataFrame(index=f.index) for f in frames]
    for column in columns:
        kind = kinds[column]
        if kind in ("numerical", "datetime"):
            for frame, model_frame in zip(frames, out, strict=True):
                values = frame[column]
                if kind == "datetime" or pd.api.types.is_datetime64_any_dtype(values):
                    values = pd.to_datetime(values)
                    stamps = values.to_numpy(dtype="datetime64[ns]").view("int64")
                    numbers = np.where(values.isna(), np.nan, stamps.astype(np.float64))
                elif is_duration(values):  # durations (text too): NaT is no number
                    numbers = to_float(values, kind, column)
                else:
                    from tvae.transformer.dtypes import float_values

                    numbers = float_values(values)
                model_frame[column] = numbers
            continue
        texts = [pd.Series(category_text(f[column]), index=f.index) for f in frames]
        counts = pd.concat(texts, ignore_index=True).dropna().value_counts()
        dtype = pd.CategoricalDtype(list(counts.index[:_MAX_CATEGORIES]))  # rarer -> missing
        for text, model_frame in zip(texts, out, strict=True):
            model_frame[column] = text.astype(dtype)
    return out


def _labels(values: pd.Series, task: str) -> pd.Series:
    if task == "regression":
        return pd.to_numeric(values, errors="coerce")
    return pd.Series(category_text(values), index=values.index, dtype=object)


def learnable_rows(labels: np.ndarray) -> tuple[np.ndarray, bool]:
    """The training rows to learn from (N,) bool, and whether early stopping may stay on.

    A class seen once cannot be learned, and above 10,000 rows the classifier's early stopping
    draws a validation split stratified by class, which fails on it (a deep scikit-learn
    error). Such rows are left out of training; the class still counts in the macro-F1 where
    the held-out rows hold it (it is never predicted). When that would leave fewer than two
    classes, every row is kept and early stopping is turned off."""
    _, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    learnable = counts[inverse] >= MIN_CLASS_ROWS
    if len(np.unique(inverse[learnable])) >= 2:
        return learnable, True
    return np.ones(len(labels), dtype=bool), False


def _fit_score(
    train_x: pd.DataFrame, train_y: pd.Series, test_x: pd.DataFrame, test_y: pd.Series, task: str
) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import f1_score, r2_score

    if len(train_y) == 0:  # nothing usable to learn from: a useless classifier scores 0
        return float("nan") if task == "regression" else 0.0
    if task == "regression":
        model = HistGradientBoostingRegressor(random_state=0, categorical_features="from_dtype")
        model.fit(train_x, train_y.to_numpy(dtype=np.float64))
        return float(r2_score(test_y.to_numpy(dtype=np.float64), model.predict(test_x)))
    learnable, stop_early = learnable_rows(train_y.to_numpy(dtype=object))
    train_x, train_labels = train_x[learnable], train_y.to_numpy(dtype=object)[learnable]
    if len(pd.unique(train_labels)) < 2:  # one class: the only sensible model is a constant
        predictions = np.full(len(test_y), train_labels[0], dtype=object)
    else:
        model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
        if not stop_early:  # a class seen once is in training: no stratified validation split
            model.set_params(early_stopping=False)
        model.fit(train_x, train_labels)
        predictions = model.predict(test_x)
    return float(f1_score(test_y.to_numpy(dtype=object), predictions, average="macro"))


def ml_efficacy(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    target: str,
    *,
    kinds: dict[str, str] | None = None,
) -> dict[str, object]:
    """Score models trained on ``synthetic`` and on ``real`` against the ``holdout`` rows.

    Classification (categorical, boolean or low-cardinality numerical target): macro-F1 of a
    ``HistGradientBoostingClassifier``; regression (numerical target with more than
    ``REGRESSION_MIN_UNIQUE`` distinct values): R^2 of a ``HistGradientBoostingRegressor``.
    Rows whose target is missing are dropped, and so are synthetic rows whose label is not a
    class of the real data (``synthetic_unknown_label_share``); with none left the synthetic
    score is 0. ``ratio`` is synthetic score / real score.
    """
    for name, frame in (("real", real), ("synthetic", synthetic), ("holdout", holdout)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        if target not in frame.columns:
            raise ValueError(f"target column {target!r} is not in {name}")
    if kinds is None:
        kinds = infer_kinds(real)
    if kinds.get(target) == "id":
        raise ValueError(f"target column {target!r} is an id column and cannot be predicted")
    task = _task(real[target], kinds[target])
    frames = [f[f[target].notna()] for f in (real, synthetic, holdout)]
    if len(frames[2]) == 0:
        raise ValueError(f"holdout has no rows with a value in target column {target!r}")
    real_x, syn_x, hold_x = _features(frames, kinds, target)
    real_y, syn_y, hold_y = (_labels(f[target], task) for f in frames)
    unknown_share = 0.0
    if task == "classification":
        # Synthetic rows whose label is no real class (e.g. a 0/1 target generated as 0.37)
        # cannot teach a correct prediction; keeping them could also mean hundreds of
        # spurious classes and a very slow fit. They are dropped and their share reported.
        known = syn_y.isin(set(real_y) | set(hold_y)).to_numpy()
        unknown_share = float(1.0 - known.mean()) if len(known) else 0.0
        syn_x, syn_y = syn_x[known], syn_y[known]
    # One OpenMP thread: on a busy machine, spinning OpenMP workers made fits ~70x slower
    # (adult: 58 s instead of 0.8 s), and these small fits gain little from threads anyway.
    with threadpool_limits(limits=1, user_api="openmp"):
        synthetic_score = _fit_score(syn_x, syn_y, hold_x, hold_y, task)
        real_score = _fit_score(real_x, real_y, hold_x, hold_y, task)
    ratio = synthetic_score / real_score if real_score else float("nan")
    return {
        "target": target,
        "task": task,
        "metric": "r2" if task == "regression" else "macro_f1",
        "model": "HistGradientBoosting" + ("Regressor" if task == "regression" else "Classifier"),
        "synthetic_score": synthetic_score,
        "real_score": real_score,
        "ratio": float(ratio),
        "n_train_real": len(frames[0]),
        "n_train_synthetic": len(syn_y),
        "synthetic_unknown_label_share": unknown_share,
        "n_holdout": len(frames[2]),
    }
