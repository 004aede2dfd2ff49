"""Write public tables that ship inside installed packages (no download) for quality checks.

    python benchmarks/extra_tables.py OUT_DIR

Tables (targets for efficacy in brackets): scikit-learn's wine [target], breast_cancer [target]
and digits [target] (BSD-3-Clause, UCI sources), SDMetrics' demo student_placements
[placed] (IDs, booleans, dates with gaps, missing values), and three of statsmodels' datasets
(BSD-3-Clause package; sources in its docs): fair [rate_marriage] (Fair's 1978 survey of
affairs, 6,366 rows; `affairs` is 0 in most rows), randhie [hlthg] (the RAND Health Insurance
Experiment, 20,190 rows; three health indicators of which at most one is 1) and anes96 [vote]
(the 1996 American National Election Study, 944 rows; `logpopul` is log(popul + 0.1)). Six
tables under 500 rows, for the schedule of very small tables: scikit-learn's iris [target] and
diabetes [sex] (its standardised features), and statsmodels' engel (income and food expenditure,
235 rows), macrodata [quarter] (US macroeconomic series, 203 quarters), grunfeld [firm] and
star98 (California school districts, 303 rows). Then, for example:

    python benchmarks/quality.py OUT_DIR/wine.csv --target target --implementations tvae ctgan
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(out_dir: str) -> None:
    from sdmetrics.demos import load_single_table_demo
    from sklearn.datasets import (
        load_breast_cancer,
        load_diabetes,
        load_digits,
        load_iris,
        load_wine,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaders = (
        ("wine", load_wine),
        ("breast_cancer", load_breast_cancer),
        ("iris", load_iris),
        ("diabetes", load_diabetes),
    )
    for name, loader in loaders:
        loader(as_frame=True).frame.to_csv(out / f"{name}.csv", index=False)
    digits = load_digits(as_frame=True).frame
    digits.to_csv(out / "digits.csv", index=False)
    real = load_single_table_demo()[0]["student_placements"]
    real.to_csv(out / "student_placements.csv", index=False)
    from statsmodels import datasets

    for name in ("fair", "randhie", "anes96", "engel", "macrodata", "grunfeld", "star98"):
        getattr(datasets, name).load_pandas().data.to_csv(out / f"{name}.csv", index=False)
    print("\n".join(str(p) for p in sorted(out.glob("*.csv"))))


if __name__ == "__main__":
    main(sys.argv[1])
