"""Quality side by side: tvae against the reference (ctgan.TVAE) on one table, several seeds.

Usage (needs the `bench` extra):
    python benchmarks/quality.py DATA.csv --target income --epochs 300 --batch-size 500 \
        --seeds 0 1 2 --implementations tvae ctgan

`--tvae-param key=value` passes extra constructor arguments to tvae.TVAE (e.g.
`--tvae-param decoding=argmax`). Results are printed as a table and appended as JSON lines to
`--out` when given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol import (
    ctgan_runner,
    dataset_name,
    discrete_columns_of,
    error_text,
    parse_params,
    read_table,
    real_f1,
    run_once,
    subsample,
    summarise,
    tvae_runner,
    warm_up,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", help="CSV file (optionally .gz)")
    parser.add_argument("--target", default=None, help="classification target for efficacy")
    parser.add_argument("--discrete", default=None, help="comma-separated categorical columns")
    parser.add_argument("--epochs", type=int, default=None, help="default: each library's own")
    parser.add_argument("--batch-size", type=int, default=None, help="default: each library's own")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--implementations", nargs="+", default=["tvae", "ctgan"], choices=["tvae", "ctgan"]
    )
    parser.add_argument("--tvae-param", action="append", default=[], help="key=value")
    parser.add_argument("--max-rows", type=int, default=None, help="subsample the table first")
    parser.add_argument("--label", default=None, help="name for the tvae row in the table")
    parser.add_argument("--out", default=None, help="append results as JSON lines here")
    args = parser.parse_args(argv)

    torch.set_num_threads(torch.get_num_threads())
    frame = subsample(read_table(args.data), args.max_rows)
    given = args.discrete.split(",") if args.discrete else None
    discrete = discrete_columns_of(frame, given, args.target)
    dataset = dataset_name(args.data)
    extra = parse_params(args.tvae_param)
    factories = {  # built only when asked for: `--implementations tvae` needs no ctgan
        "tvae": lambda: tvae_runner(args.epochs, args.batch_size, extra),
        "ctgan": lambda: ctgan_runner(args.epochs, args.batch_size),
    }
    runners = {name: factories[name]() for name in dict.fromkeys(args.implementations)}
    warm_up()  # so that no implementation's timed fit carries the process's one-time costs
    results = []
    for seed in args.seeds:
        for name in args.implementations:
            label = (args.label or "tvae") if name == "tvae" else name
            try:
                result = run_once(label, dataset, frame, discrete, args.target, seed, runners[name])
            except Exception as error:  # the reference fails on some real tables: record it
                record = {"implementation": label, "dataset": dataset, "seed": seed,
                          "error": error_text(error)}  # fmt: skip
            else:
                results.append(result)
                record = result.to_dict()
            print(json.dumps(record), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summarise(results))
    if args.target:
        ceiling = real_f1(frame, args.target, discrete, args.seeds)
        print(f"real-data efficacy macro-F1 (ceiling): {ceiling:.4f}")


if __name__ == "__main__":
    main()
