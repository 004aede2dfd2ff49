"""Torch threads on a small or shared machine: one thread against torch's default count.

Each measurement runs in its own subprocess (torch fixes its thread pool at start): a short fit
of the bundled Adult table with tvae's default settings but a few epochs, then sampling as many
rows. Settings: ``1`` thread, torch's ``default`` count (one per core), and tvae's ``auto``
(``tvae.usable_cpus()``: CPU affinity capped by the cgroup quota). Each runs on an idle machine
and beside a busy process (a CPU-burning Python loop). Prints seconds and ratios to 1 thread.

    python benchmarks/threads.py [--rows 3000] [--epochs 20] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import torch
import tvae
setting, rows, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
default = torch.get_num_threads()
if setting == "1":
    tvae.set_threads(1)
elif setting == "default":
    tvae.set_threads(default)
real = tvae.load_demo().sample(rows, random_state=0).reset_index(drop=True)
model = tvae.TVAE(epochs=epochs, random_state=0, verbose=False)
started = time.perf_counter()
model.fit(real, discrete_columns=tvae.DEMO_DISCRETE_COLUMNS)
fit = time.perf_counter() - started
started = time.perf_counter()
model.sample(rows)
sample = time.perf_counter() - started
from tvae.threads import chosen_threads
print(json.dumps({"fit": fit, "sample": sample, "threads": chosen_threads(),
                  "torch_default": default, "usable": tvae.usable_cpus()}))
"""

BURN = "while True:\n    pass\n"


def measure(setting: str, rows: int, epochs: int, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    command = [sys.executable, "-c", CHILD, setting, str(rows), str(epochs)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"fit": float("inf"), "sample": float("inf"), "threads": "?"}
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run at most")
    args = parser.parse_args(argv)
    print(f"cpu_count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} at start; "
          f"{args.rows} rows, {args.epochs} epochs (batch 500)")  # fmt: skip
    results = {}
    for busy in (False, True):
        burner = subprocess.Popen([sys.executable, "-c", BURN]) if busy else None
        try:
            time.sleep(1.0 if busy else 0.0)
            for setting in ("1", "default", "auto"):
                results[busy, setting] = measure(setting, args.rows, args.epochs, args.timeout)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
    print(f"{'machine':<8}{'threads':<16}{'fit s':>9}{'x 1 thread':>12}{'sample s':>10}"
          f"{'x 1 thread':>12}")  # fmt: skip
    for busy in (False, True):
        base = results[busy, "1"]
        for setting in ("1", "default", "auto"):
            r = results[busy, setting]
            label = f"{setting} ({r['threads']})"
            print(f"{'busy' if busy else 'idle':<8}{label:<16}{r['fit']:>9.2f}"
                  f"{r['fit'] / base['fit']:>12.2f}{r['sample']:>10.3f}"
                  f"{r['sample'] / base['sample']:>12.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
