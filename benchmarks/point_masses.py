"""Point masses: the model's rate of every frequent number, apart from sampling noise.

Usage (needs the `bench` extra):
    OMP_NUM_THREADS=1 python benchmarks/point_masses.py --table DATA/titanic.csv --seeds 0 1 2 \
        --rows 200000 --out point_masses.jsonl

fidelity.py compares the share of each number held by >= 5 % of the training rows with its share
in as many synthetic rows as there are training rows. On a small table that comparison is mostly
sampling noise (titanic: 712 rows, so a 50 % share moves by ±1.9 points at one standard
deviation; its own held-out rows miss by up to 4.8 points). Here the same fit (tvae defaults,
same split as fidelity.py) is also sampled ``--rows`` times, which measures the model's own rate.
`--tvae-param key=value` passes settings to TVAE. Per table and seed: the worst difference,
in points, between the training share and
- the held-out rows (noise of real data at that size),
- ``n_train`` synthetic rows (what fidelity.py reports),
- ``--rows`` synthetic rows (the model's rate; the target is within 2 points),
and the share of point masses within 2 points at ``--rows``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from tvae import TVAE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checks import numerical_columns, point_masses
from fidelity import _cell, parse_table
from protocol import (
    dataset_name,
    discrete_columns_of,
    is_key,
    parse_params,
    read_table,
    split,
    subsample,
    unique_keys,
)

TARGET_POINTS = 2.0


def worst(real, rows, columns) -> tuple[float | None, str | None, list[dict]]:
    found = point_masses(real, rows, columns)
    return found["worst_point_mass_points"], found["worst_point_mass"], found["point_masses"]


def run_table(path: str, args) -> list[dict]:
    frame = subsample(read_table(path), args.max_rows)
    discrete = discrete_columns_of(frame, None, None)
    records = []
    for seed in args.seeds:
        train, test = split(frame, seed)
        skip = {c for c in train.columns if is_key(c)} | set(unique_keys(train))
        columns = numerical_columns(train, skip | set(discrete))
        params = dict(parse_params(args.tvae_param), random_state=seed, enable_gpu=False)
        model = TVAE(**params).fit(train, discrete)
        small = model.sample(len(train), random_state=seed)
        large = model.sample(args.rows, random_state=seed + 1)
        holdout_points, _, _ = worst(train, test, columns)
        small_points, _, _ = worst(train, small, columns)
        large_points, large_where, masses = worst(train, large, columns)
        within = [abs(m["real"] - m["synthetic"]) * 100 <= TARGET_POINTS for m in masses]
        record = {
            "table": dataset_name(path),
            "seed": seed,
            "n_train": len(train),
            "n_point_masses": len(masses),
            "holdout_worst_points": holdout_points,
            "sample_n_train_worst_points": small_points,
            "sample_large_worst_points": large_points,
            "sample_large_worst": large_where,
            "share_within_2_points": sum(within) / len(within) if within else None,
            "large_rows": args.rows,
        }
        print(json.dumps(record), flush=True)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        records.append(record)
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--table", action="append", required=True, metavar="PATH")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--tvae-param", action="append", default=[], help="key=value")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    fields = ["n_point_masses", "holdout_worst_points", "sample_n_train_worst_points",
              "sample_large_worst_points", "share_within_2_points"]  # fmt: skip
    lines = ["| table | seeds | " + " | ".join(fields) + " |", "|---|---|" + "---|" * len(fields)]
    for spec in args.table:
        path, _ = parse_table(spec)
        records = run_table(path, args)
        cells = [_cell([r[f] for r in records]) for f in fields]
        lines.append(f"| {records[0]['table']} | {len(records)} | " + " | ".join(cells) + " |")
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
