"""Summarise benchmark JSON lines (from quality.py --out) per table and model, as Markdown.

Usage: python benchmarks/summarise.py benchmarks/results/*.jsonl

Each cell is mean ± std over the seeds that finished; runs that failed (the reference on
tables with missing values, for example) are counted in the last column with their error.
"""

from __future__ import annotations

import json
import sys

import pandas as pd

SCORES = ["quality", "quality_keyed", "efficacy_f1", "fit_seconds"]


def _cell(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    if len(values) == 1:
        return f"{values.iloc[0]:.3f}"
    return f"{values.mean():.3f} ± {values.std():.3f}"


def main(paths: list[str]) -> None:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    frame = pd.DataFrame(rows)
    for column in [*SCORES, "error"]:
        if column not in frame:
            frame[column] = None
    print(
        "| table | model | seeds | quality | quality, keys as keys | efficacy F1 | fit s | failed |"
    )
    print("|---|---|---:|---|---|---|---|---|")
    for (dataset, name), group in frame.groupby(["dataset", "implementation"], sort=True):
        done = group[group["error"].isna()]
        failed = group["error"].dropna()
        failure = f"{len(failed)}: {failed.iloc[0][:60]}" if len(failed) else ""
        cells = " | ".join(_cell(done[c].astype(float)) for c in SCORES)
        print(f"| {dataset} | {name} | {len(done)} | {cells} | {failure} |")


if __name__ == "__main__":
    main(sys.argv[1:])
