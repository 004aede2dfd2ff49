"""Test data helpers: real slices from tests/data and perturbed "synthetic" versions of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent.parent / "data"


def load_table(name: str) -> tuple[pd.DataFrame, dict[str, str] | None]:
    """A data slice and, where inference from dtypes is not enough, its column kinds."""
    if name == "adult":
        return pd.read_csv(DATA / "adult_small.csv"), None
    if name == "titanic":
        return pd.read_csv(DATA / "titanic.csv"), None
    if name == "bank":
        frame = pd.read_csv(DATA / "bank_small.csv")
        kinds = {
            c: ("numerical" if pd.api.types.is_numeric_dtype(frame[c]) else "categorical")
            for c in frame.columns
        }
        kinds["customer_id"] = "id"
        return frame, kinds
    if name == "beijing":
        frame = pd.read_csv(DATA / "beijing_small.csv")
        frame["time"] = pd.to_datetime(frame[["year", "month", "day", "hour"]])
        return frame, None
    raise KeyError(name)


def perturb(frame: pd.DataFrame, kinds: dict[str, str], seed: int = 0) -> pd.DataFrame:
    """Noisy copy: jitter numbers and dates, reshuffle some categories, add a few NaNs."""
    rng = np.random.default_rng(seed)
    out = frame.copy().reset_index(drop=True)
    n = len(out)
    for i, (column, kind) in enumerate(kinds.items()):
        rows = rng.random(n) < 0.4
        if kind == "numerical":
            values = out[column].astype(float)
            noise = rng.normal(0.0, 0.3 * (values.std() or 1.0), n)
            out[column] = values.where(~rows, values + noise)
            if i % 3 == 0:
                out.loc[rng.random(n) < 0.03, column] = np.nan
        elif kind == "datetime":
            shift = pd.to_timedelta(rng.integers(-200, 200, n), unit="h")
            out[column] = out[column].where(~rows, out[column] + shift)
        elif kind in ("categorical", "boolean"):
            swap = rng.random(n) < 0.25
            donors = out[column].to_numpy()[rng.permutation(n)]
            out.loc[swap, column] = donors[swap]
    return out


def real_and_synthetic(name: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str] | None]:
    """Real = the first rows; synthetic = other (partly overlapping) rows, perturbed."""
    from tvae.evaluation import infer_kinds

    frame, kinds = load_table(name)
    half = 500 if name == "titanic" else 1000
    real = frame.iloc[:half].reset_index(drop=True)
    other = frame.iloc[len(frame) - half :].reset_index(drop=True)
    synthetic = perturb(other, kinds or infer_kinds(frame), seed=len(name))
    return real, synthetic, kinds
