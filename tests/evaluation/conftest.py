"""Fixtures of the evaluation tests."""

from __future__ import annotations

import pandas as pd
import pytest
from evaldata import load_table


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return load_table("adult")[0]
