"""Real rows as conditions: frames of a few columns of real rows, some cells empty, asked of a
fitted model; the share of asked cells met, of rows keeping every dependency, and refusals.

    python benchmarks/real_row_conditions.py DATA/*.csv --epochs 2 --columns dependencies
    python benchmarks/real_row_conditions.py DATA/*.csv --columns any --width 3

For each table: ``--frames`` frames, each holding ``--width`` columns (``dependencies``: the
columns the model's dependencies name; ``any``: any column but IDs) of ``--rows`` real rows
drawn at random, a ``--blank`` share of their cells emptied. Dependencies are counted by the
outside checker (``benchmarks/checks.py``), found on the same rows the model was fitted on.
A refusal (``ConditionError``) is reported with its message: a real row should not be one.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd
from checks import dependency_kept, find_dependencies

import tvae
from tvae.errors import ConditionError


def read_table(path: str, max_rows: int) -> pd.DataFrame:
    frame = pd.read_csv(path, low_memory=False)
    if str(frame.columns[0]).startswith("Unnamed: 0"):  # an R export's row names
        frame = frame.drop(columns=frame.columns[0])
    if len(frame) > max_rows:
        frame = frame.sample(max_rows, random_state=0).reset_index(drop=True)
    return frame


def named_columns(model: tvae.TVAE, frame: pd.DataFrame) -> list:
    """The columns of ``frame`` that the model's dependencies name."""
    found = set()
    for item in model.metadata_.dependencies:
        for key in ("source", "target", "low", "high", "column", "base"):
            value = item.get(key)
            if isinstance(value, (list, tuple)):
                found.update(value)
            elif value is not None:
                found.add(value)
        found.update(item.get("columns") or [])
    return [c for c in frame.columns if c in found]


def asked_met(asked: pd.DataFrame, rows: pd.DataFrame) -> float:
    """The share of frame rows whose every asked cell came back as asked."""
    met = np.ones(len(asked), dtype=bool)
    for column in asked.columns:
        for i, (want, got) in enumerate(zip(asked[column], rows[column], strict=True)):
            if want is None:
                continue
            if isinstance(want, float) and isinstance(got, float):
                met[i] &= bool(np.isclose(want, got, rtol=0, atol=1e-9))
            else:
                met[i] &= bool(want == got)
    return float(met.mean())


def run_table(path: str, args: argparse.Namespace) -> list[dict]:
    frame = read_table(path, args.max_rows)
    model = tvae.TVAE(epochs=args.epochs, random_state=0).fit(frame)
    ids = {c for c, kind in model.metadata_.items() if kind == "id"}
    labels = [
        c for c in frame.columns
        if (not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
        and c not in ids
    ]  # fmt: skip
    found = find_dependencies(frame, labels, ids)
    pool = named_columns(model, frame) if args.columns == "dependencies" else list(frame.columns)
    pool = [c for c in pool if c not in ids]
    rng = np.random.default_rng(args.seed)
    results = []
    for trial in range(args.frames if pool else 0):
        picked = list(rng.choice(pool, size=min(args.width, len(pool)), replace=False))
        real = frame.sample(args.rows, replace=len(frame) < args.rows, random_state=trial)
        asked = real[picked].reset_index(drop=True).astype(object)
        asked = asked.where(asked.notna(), None).mask(rng.random(asked.shape) < args.blank, None)
        asked = asked[asked.notna().any(axis=1)].reset_index(drop=True)
        if asked.empty:  # every drawn row was missing in these columns: nothing asked
            continue
        record = {"table": path, "columns": [str(c) for c in picked]}
        try:
            rows = model.sample(conditions=asked, random_state=args.seed).reset_index(drop=True)
        except ConditionError as error:
            results.append({**record, "refused": str(error)[:300]})
            continue
        kept = dependency_kept(rows, found)
        results.append({
            **record, "met": asked_met(asked, rows), "kept": float(kept["dependency_kept"]),
            "broken": {k: round(float(v), 4) for k, v in kept["broken"].items()},
        })  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+", help="CSV files")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--columns", choices=("dependencies", "any"), default="dependencies")
    parser.add_argument("--width", type=int, default=2, help="columns per frame")
    parser.add_argument("--frames", type=int, default=6, help="frames per table")
    parser.add_argument("--rows", type=int, default=60, help="real rows per frame")
    parser.add_argument("--blank", type=float, default=0.3, help="share of cells emptied")
    parser.add_argument("--max-rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", help="a JSON-lines file for every frame's record")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    records = []
    for path in args.tables:
        for record in run_table(path, args):
            records.append(record)
            if "refused" in record or record["met"] < 1 or record["kept"] < 1:
                print(json.dumps(record)[:400], flush=True)
    scored = [r for r in records if "refused" not in r]
    print(
        f"{len(records)} frames on {len(args.tables)} tables: "
        f"{sum(r['met'] < 1 for r in scored)} with a condition unmet, "
        f"{sum(r['kept'] < 1 for r in scored)} with a dependency broken, "
        f"{len(records) - len(scored)} refused"
    )
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)


if __name__ == "__main__":
    main()
