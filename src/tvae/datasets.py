"""The demo table bundled with the package: UCI Adult (Becker & Kohavi, 1996), CC BY 4.0."""

from __future__ import annotations

from importlib import resources

import pandas as pd

DEMO_DISCRETE_COLUMNS = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
    "income",
]


def load_demo() -> pd.DataFrame:
    """The Adult census table: 32,561 rows, 6 numeric and 9 categorical columns.

    Categorical values keep the leading space of the raw file, and unknown values are the
    category ``" ?"``, as in the TVAE and CTGAN papers' benchmark.
    """
    with resources.files("tvae").joinpath("data/adult.csv").open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)
