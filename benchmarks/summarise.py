"""Summarise benchmark JSON lines (from quality.py --out) as mean and std per table and model.

Usage: python benchmarks/summarise.py benchmarks/results/*.jsonl
"""

from __future__ import annotations

import json
import sys

import pandas as pd


def main(paths: list[str]) -> None:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    frame = pd.DataFrame(rows)
    columns = ["fit_seconds", "quality", "column_shapes", "column_pair_trends", "efficacy_f1"]
    table = frame.groupby(["dataset", "implementation"])[columns].agg(["mean", "std", "count"])
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        print(table.round(4))


if __name__ == "__main__":
    main(sys.argv[1:])
