"""Robustness sweep: many unseen tables, each fitted with defaults, sampled, conditioned, scored.

Every CSV found under the folders given (or listed in a text file) is read as a user would read
it (``pandas.read_csv``; a first column with an empty header, R's row names, is dropped) and:

1. fitted with ``TVAE(random_state=0)`` (``--epochs`` for a quick pass), timed;
2. sampled (``--rows``): each column keeps its dtype, has no missing cell where the real one has
   none and, for a number, stays within the real range (ID columns, which get fresh IDs, are
   left out of that check);
3. checked against every dependency the outside checker finds in the real rows
   (``checks.find_dependencies``: determinations, pairs, orders, one-hot groups);
4. conditioned on the middle real value of its first label column and of its first numeric
   column (a dict each): every row must meet it and keep the dependencies;
5. scored with ``tvae.evaluate(real, synthetic).overall`` against the same score of rows drawn
   column by column from the real marginals ("independent columns", the trivial baseline).

With ``--epsilon E`` every table is fitted privately instead: a fit refused with a tvae error
(a range the noise hides, an ID column) is recorded as ``refused``; the dependency checks are
left out (only declared ones are kept under epsilon, and label determinations it finds), and
the range check becomes "no value 1,000 times beyond the real range" (a private range is
released with noise, not read off the rows); the conditions ask the middle value of the sampled
rows (a real value may not be released); save and load must give the same rows.

An error is recorded with its type and stage; a table over ``--timeout`` seconds is stopped.
One JSON line per table goes to ``--out``; ``--summary FILE...`` prints the counts.

    OMP_NUM_THREADS=1 python benchmarks/sweep.py TABLES_DIR --out sweep.jsonl --shard 0/2
    python benchmarks/sweep.py --summary sweep.jsonl
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from checks import dependency_kept, find_dependencies
from protocol import independent_sample

from tvae import TVAE, evaluate
from tvae.errors import TVAEError


class Timeout(Exception):
    """A table took longer than ``--timeout`` seconds."""


def _alarm(*_) -> None:
    raise Timeout


def read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, low_memory=False)
    if len(frame.columns) and str(frame.columns[0]).startswith("Unnamed: 0"):
        frame = frame.drop(columns=frame.columns[0])
    return frame


def is_label(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def row_problems(
    real: pd.DataFrame, rows: pd.DataFrame, ids: set, private: bool = False
) -> list[str]:
    """What a sampled frame gets wrong, column by column (``private``: a released range may
    pass the real one, but not by a factor of 1,000)."""
    problems = []
    if list(rows.columns) != list(real.columns):
        problems.append("columns differ")
        return problems
    for name in real.columns:
        if str(rows[name].dtype) != str(real[name].dtype):
            problems.append(f"dtype {name}: {real[name].dtype} -> {rows[name].dtype}")
        if rows[name].isna().any() and not real[name].isna().any():
            problems.append(f"missing cells in {name}")
        if name not in ids and not is_label(real[name]) and real[name].notna().any():
            present, low, high = rows[name].dropna(), real[name].min(), real[name].max()
            noise = 1e-9 * max(1.0, abs(low), abs(high))  # a range end read as -6.84999999999991
            if private:
                far = 1_000 * max(1.0, abs(low), abs(high))
                if (pd.to_numeric(present, errors="coerce").abs() > far).any():
                    problems.append(f"absurd values in {name}")
            elif (present < low - noise).any() or (present > high + noise).any():
                problems.append(f"out of range {name}")
    return problems


def kept(rows: pd.DataFrame, found) -> float:
    return float(dependency_kept(rows, found)["dependency_kept"])


def sweep_one(path: Path, args: argparse.Namespace) -> dict:
    record: dict = {"table": str(path)}
    stage = "read"
    started = time.perf_counter()
    try:
        real = read(path)
        record["shape"] = list(real.shape)
        if not (1 <= len(real) <= args.max_rows and 1 <= real.shape[1] <= args.max_columns):
            record["skipped"] = True
            return record
        signal.alarm(args.timeout)
        stage = "fit"
        params = {} if args.epochs is None else {"epochs": args.epochs}
        private = args.epsilon is not None
        if private:
            params["epsilon"] = args.epsilon
        try:
            model = TVAE(random_state=0, **params).fit(real)
        except TVAEError as error:
            if not private:
                raise
            record["refused"] = str(error)[:300]  # before any long work, naming the columns
            return record
        record["fit_s"] = round(time.perf_counter() - started, 2)
        ids = {c for c, kind in model.metadata_.items() if kind == "id"}
        stage = "sample"
        rows = model.sample(args.rows, random_state=1)
        problems = row_problems(real, rows, ids, private)
        labels = [c for c in real.columns if is_label(real[c]) and c not in ids]
        found = find_dependencies(real, labels, ids) if not private else None
        if private:
            stage = "save"
            with tempfile.TemporaryDirectory() as folder:
                model.save(Path(folder) / "model.tvae")
                again = TVAE.load(Path(folder) / "model.tvae").sample(args.rows, random_state=1)
            if not again.equals(rows):
                problems.append("the saved model samples other rows")
        else:
            stage = "dependencies"
            checked = dependency_kept(rows, found)
            record["dependencies_kept"] = float(checked["dependency_kept"])
            record["broken"] = checked["broken"]  # each dependency some row breaks: its share
        stage = "conditions"
        numbers = [c for c in real.columns if c not in labels and c not in ids]
        asked_from = rows if private else real  # a private model may not have released it
        for name in [c for c in (labels[:1] + numbers[:1]) if asked_from[c].notna().any()]:
            present = asked_from[name].dropna()
            value = present.sort_values(kind="stable").iloc[len(present) // 2]
            try:
                asked = model.sample(100, conditions={name: value}, random_state=2)
            except TVAEError as error:
                problems.append(f"condition {name}={value!r} refused: {str(error)[:200]}")
                continue
            if not (asked[name] == value).all():
                problems.append(
                    f"condition {name}={value!r} met in {(asked[name] == value).mean():.2f}"
                )
            if found is not None and (share := kept(asked, found)) < 1:
                problems.append(f"condition {name}={value!r}: dependencies kept {share:.3f}")
        stage = "evaluate"
        # a private model's labels are the dtype's (dates read as text stay labels): so scored
        labelled = {c: "categorical" for c, k in model.metadata_.items() if k == "categorical"}
        scored = evaluate(real, rows, metadata=labelled if private else None)
        record["quality"] = round(float(scored.overall), 4)
        baseline = independent_sample(real, args.rows, 0)
        record["independent"] = round(float(evaluate(real, baseline).overall), 4)
        record["problems"] = problems
    except Timeout:
        record["error"] = f"timeout at {stage}"
    except Exception as error:  # the sweep records every failure and goes on
        record["error"] = f"{stage}: {type(error).__module__}.{type(error).__name__}: {error}"[:600]
        record["traceback"] = traceback.format_exc()[-1500:]
    finally:
        signal.alarm(0)
    record["seconds"] = round(time.perf_counter() - started, 2)
    return record


def tables(sources: list[str]) -> list[Path]:
    found: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found += sorted(p for p in source.rglob("*.csv") if not p.name.startswith("._"))
        elif source.suffix == ".txt":
            found += [Path(line.strip()) for line in source.read_text().splitlines() if line]
        else:
            found.append(source)
    return found


def summary(files: list[str]) -> None:
    records = [json.loads(line) for name in files for line in Path(name).read_text().splitlines()]
    scored = [r for r in records if "quality" in r]
    print(f"{len(records)} tables: {len(scored)} scored, "
          f"{sum(bool(r.get('skipped')) for r in records)} skipped, "
          f"{sum('error' in r for r in records)} errors, "
          f"{sum('refused' in r for r in records)} refused under epsilon")  # fmt: skip
    for r in records:
        if "error" in r or r.get("problems") or r.get("dependencies_kept", 1) < 1:
            print(f"  {r['table']} {r.get('shape')}: {r.get('error') or ''} "
                  f"{r.get('problems') or ''} kept {r.get('dependencies_kept')}")  # fmt: skip
    for low, high in ((0, 100), (100, 500), (500, 2000), (2000, 10**9)):
        group = [r for r in scored if low <= r["shape"][0] < high]
        if group:
            quality = np.mean([r["quality"] for r in group])
            independent = np.mean([r["independent"] for r in group])
            below = sum(r["quality"] < r["independent"] for r in group)
            fit = np.median([r["fit_s"] for r in group])
            print(
                f"  {low}-{high} rows: {len(group)} tables, quality {quality:.3f}, independent "
                f"{independent:.3f} ({quality - independent:+.3f}; {below} tables below it), "
                f"median fit {fit:.1f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", help="folders of CSV files, CSV files or .txt lists")
    parser.add_argument("--out", default="sweep.jsonl")
    parser.add_argument("--shard", default="0/1", help="k/n: every n-th table from the k-th")
    parser.add_argument("--epochs", type=int, default=None, help="default: TVAE's own schedule")
    parser.add_argument("--rows", type=int, default=500, help="synthetic rows per table")
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--max-columns", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=240, help="seconds per table")
    parser.add_argument("--summary", nargs="+", metavar="FILE", help="print the counts and stop")
    parser.add_argument("--epsilon", type=float, default=None, help="fit privately at this epsilon")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
        return
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGALRM, _alarm)
    shard, shards = (int(part) for part in args.shard.split("/"))
    with open(args.out, "a") as out:
        for position, path in enumerate(tables(args.sources)):
            if position % shards == shard:
                out.write(json.dumps(sweep_one(path, args), default=str) + "\n")
                out.flush()


if __name__ == "__main__":
    sys.exit(main())
