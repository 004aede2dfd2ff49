"""Speed and memory side by side: tvae against the reference (ctgan.TVAE), same machine, same run.

Each measurement runs in a fresh subprocess (so peak RSS is that run's own), alternating
implementations. For a table of N rows (adult resampled with replacement) it times:
  * transformer fit + transform + first epoch, and each further epoch, from one fit of 4
    epochs (1 epoch above 100,000 rows), timed at every optimiser step (see StepClock)
  * sampling N rows
both at the reference's settings (batch 500, constant learning rate). Needs the `bench` extra.

Usage:
    python benchmarks/speed.py DATA/adult.csv --rows 32561 100000 1000000 [--repeats R]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import time

import pandas as pd

DISCRETE = [
    "workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
    "native-country", "income",
]  # fmt: skip


def _table(path: str, rows: int) -> pd.DataFrame:
    frame = pd.read_csv(path)
    if rows == len(frame):
        return frame
    return frame.sample(rows, replace=rows > len(frame), random_state=0).reset_index(drop=True)


def _model(implementation: str, epochs: int):
    if implementation == "tvae":
        from tvae import TVAE

        return TVAE(epochs=epochs, batch_size=500, random_state=0, enable_gpu=False)
    from ctgan import TVAE as ReferenceTVAE

    model = ReferenceTVAE(epochs=epochs, batch_size=500, enable_gpu=False)
    model.set_random_state(0)
    return model


class StepClock:
    """Timestamps every Adam step, whichever library makes it, to time epochs exactly.

    The reference steps ``torch.optim.Adam``, tvae its own ``tvae.optimizer.Adam``; patching
    both ``step`` methods records when each optimiser step ends, so epoch times exclude the
    transformer however noisy its fit is.
    """

    def __init__(self) -> None:
        import torch

        import tvae.optimizer

        self.times: list[float] = []
        for owner in (torch.optim.Adam, tvae.optimizer.Adam):
            owner.step = self._timed(owner.step)

    def _timed(self, original):
        def timed_step(optimizer, *args, **kwargs):
            result = original(optimizer, *args, **kwargs)
            self.times.append(time.perf_counter())
            return result

        return timed_step


def child(args: argparse.Namespace) -> None:
    """Run one implementation on one table size and print a JSON line."""
    frame = _table(args.data, args.rows)
    result = {"implementation": args.implementation, "rows": args.rows}
    _model(args.implementation, 1).fit(frame.head(300), DISCRETE)  # warm-up: lazy imports, caches
    clock = StepClock()
    epochs = 4 if args.more_epochs else 1
    steps_per_epoch = -(-args.rows // 500)
    started = time.perf_counter()
    model = _model(args.implementation, epochs)
    model.fit(frame, DISCRETE)
    result["fit_total"] = time.perf_counter() - started
    first_epoch_end = clock.times[steps_per_epoch - 1]
    result["transformer"] = clock.times[0] - started  # up to the end of the first step
    result["fit_1_epoch"] = first_epoch_end - started  # transformer + first epoch
    if epochs > 1:  # the median epoch: robust to a burst of load on a shared machine
        ends = [clock.times[steps_per_epoch * e - 1] for e in range(1, epochs + 1)]
        result["per_epoch"] = statistics.median(b - a for a, b in itertools.pairwise(ends))
    started = time.perf_counter()
    model.sample(args.rows)
    result["sample"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


def run_child(data: str, implementation: str, rows: int, more_epochs: bool, timeout: float) -> dict:
    command = [
        sys.executable, __file__, data, "--child", "--implementation", implementation,
        "--rows", str(rows),
    ]  # fmt: skip
    if more_epochs:
        command.append("--more-epochs")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"implementation": implementation, "rows": rows, "timeout_s": timeout}
    except subprocess.CalledProcessError as error:
        return {"implementation": implementation, "rows": rows, "error": error.stderr[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_run(runs: list[dict]) -> dict:
    """Per measure, the median over the runs that produced it."""
    merged = dict(runs[0])
    for key in ("transformer", "fit_1_epoch", "per_epoch", "sample", "peak_rss_mb"):
        values = [run[key] for run in runs if key in run]
        if values:
            merged[key] = statistics.median(values)
    return merged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data")
    parser.add_argument("--rows", type=int, nargs="+", default=[32561])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--implementation", default="tvae", help=argparse.SUPPRESS)
    parser.add_argument("--more-epochs", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child run")
    parser.add_argument("--out", default=None, help="append JSON lines here")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per implementation and size; medians shown"
    )
    args = parser.parse_args(argv)
    if args.child:
        args.rows = args.rows[0]
        child(args)
        return
    results = []
    for rows in args.rows:
        more = rows <= 100_000  # per-epoch figures where four epochs stay affordable
        runs: dict[str, list[dict]] = {"tvae": [], "ctgan": []}
        for _ in range(args.repeats):  # alternate, so a slow spell hits both alike
            for implementation in ("tvae", "ctgan"):
                result = run_child(args.data, implementation, rows, more, args.timeout)
                runs[implementation].append(result)
                print(json.dumps(result), flush=True)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(result) + "\n")
        results.append({name: _median_run(found) for name, found in runs.items()})
    print()
    header = f"{'rows':>9} {'measure':<22} {'tvae':>10} {'ctgan':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for pair in results:
        ours, ref = pair["tvae"], pair["ctgan"]
        for key in ("transformer", "fit_1_epoch", "per_epoch", "sample", "peak_rss_mb"):
            if key in ours and key in ref:
                ratio = ours[key] / ref[key] if ref[key] else float("nan")
                row = f"{ours['rows']:>9} {key:<22} {ours[key]:>10.2f} {ref[key]:>10.2f}"
                print(f"{row} {ratio:>7.3f}")
            elif key in ours:
                print(f"{ours['rows']:>9} {key:<22} {ours[key]:>10.2f} {'-':>10} {'-':>7}")
        if "fit_1_epoch" in ours and "fit_1_epoch" in ref:
            total_ours = ours["fit_1_epoch"] + ours["sample"]
            total_ref = ref["fit_1_epoch"] + ref["sample"]
            print(
                f"{ours['rows']:>9} {'fit 1 epoch + sample':<22} {total_ours:>10.2f} "
                f"{total_ref:>10.2f} {total_ours / total_ref:>7.3f}"
            )


if __name__ == "__main__":
    main()
