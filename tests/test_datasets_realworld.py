"""Real tables straight from ``pd.read_csv``, no hints and no preparation (500-row slices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE

DATA = Path(__file__).parent / "data"
N_ROWS = 500
SMALL = {"embedding_dim": 32, "compress_dims": (64,), "decompress_dims": (64,)}

EXPECTED_KINDS = {
    "titanic.csv": {
        "survived": "numerical", "pclass": "numerical", "sex": "categorical",
        "age": "numerical", "sibsp": "numerical", "parch": "numerical", "fare": "numerical",
        "embarked": "categorical", "class": "categorical", "who": "categorical",
        "adult_male": "boolean", "deck": "categorical", "embark_town": "categorical",
        "alive": "categorical", "alone": "boolean",
    },
    "bank_small.csv": {
        "customer_id": "id", "credit_score": "numerical", "country": "categorical",
        "gender": "categorical", "age": "numerical", "tenure": "categorical",
        "balance": "numerical", "products_number": "categorical", "credit_card": "categorical",
        "active_member": "categorical", "estimated_salary": "numerical", "churn": "categorical",
    },
    "beijing_small.csv": {
        "No": "id", "year": "numerical", "month": "numerical", "day": "numerical",
        "hour": "numerical", "pm2.5": "numerical", "DEWP": "numerical", "TEMP": "numerical",
        "PRES": "numerical", "cbwd": "categorical", "Iws": "numerical", "Is": "numerical",
        "Ir": "numerical",
    },
}  # fmt: skip


@pytest.mark.parametrize("file", sorted(EXPECTED_KINDS))
def test_real_table_fits_with_no_hints(file):
    real = pd.read_csv(DATA / file).head(N_ROWS)
    model = TVAE(epochs=3, batch_size=100, random_state=0, **SMALL).fit(real)
    assert dict(model.metadata_) == EXPECTED_KINDS[file]
    # ten times the rows: a value missing from 1 real row in 500 (titanic's embarked) is
    # sampled at its rate, and 500 draws would miss it a third of the time
    fake = model.sample(10 * N_ROWS)
    assert list(fake.columns) == list(real.columns)
    assert fake.dtypes.astype(str).tolist() == real.dtypes.astype(str).tolist()
    for name, kind in model.metadata_.items():
        column, observed = fake[name].dropna(), real[name].dropna()
        if real[name].isna().any():
            assert fake[name].isna().any(), name  # missing cells are generated too
        else:
            assert not fake[name].isna().any(), name
        if kind == "numerical":
            assert column.between(observed.min(), observed.max()).all(), name
        elif kind in ("categorical", "boolean"):
            assert set(column) <= set(observed), name
        else:  # id: fresh keys
            assert fake[name].is_unique and not fake[name].isin(real[name]).any(), name


def test_titanic_age_keeps_its_precision_and_missing_rate():
    real = pd.read_csv(DATA / "titanic.csv").head(N_ROWS)
    model = TVAE(epochs=30, batch_size=100, random_state=0, **SMALL).fit(real)
    fake = model.sample(2000)
    age = fake["age"].dropna()
    assert np.allclose(age, age.round(2), rtol=0, atol=1e-9)  # 2 decimals at most, as real ages
    assert abs(fake["age"].isna().mean() - real["age"].isna().mean()) < 0.1
