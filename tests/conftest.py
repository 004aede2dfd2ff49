"""Shared fixtures: small seeded tables built in code or sliced from the bundled demo table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tvae import DEMO_DISCRETE_COLUMNS, load_demo

# Small tensors gain nothing from intra-op threads, and on a shared 2-core machine OpenMP
# threads that wait for each other make every step many times slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def adult_small() -> pd.DataFrame:
    """600 rows of the bundled adult table (6 numeric, 9 categorical columns)."""
    return load_demo().sample(600, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="session")
def adult_discrete() -> list[str]:
    return list(DEMO_DISCRETE_COLUMNS)


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """A small table with a bimodal float, an int, a string and a pandas category column."""
    rng = np.random.default_rng(0)
    n = 400
    return pd.DataFrame(
        {
            "amount": np.concatenate([rng.normal(10, 1, n // 2), rng.normal(100, 5, n // 2)]),
            "count": rng.integers(0, 50, n),
            "colour": rng.choice(["red", "green", "blue"], n, p=[0.6, 0.3, 0.1]),
            "size": pd.Categorical(
                rng.choice(["S", "M", "L"], n), categories=["S", "M", "L", "XL"]
            ),
        }
    )
