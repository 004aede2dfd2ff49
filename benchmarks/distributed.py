"""Data-parallel training on a 10,000,000-row Parquet folder: memory per worker and throughput.

Writes the bundled adult table resampled to ``--rows`` rows (default 10 million) as Parquet
files under ``--folder`` (once; reused if present), then trains ``--epochs`` epoch(s) with
``torchrun`` and 2 workers and with 1 process, and prints for each: peak RSS of every worker,
training rows per second, transformer time and wall time, as one JSON line each.

    python benchmarks/distributed.py                    # 10M rows, 1 epoch, 2 workers vs 1
    python benchmarks/distributed.py --rows 200000      # a quick look

The worker side (``--worker``) runs under torchrun: it fits, then reports its own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tvae import DEMO_DISCRETE_COLUMNS, TVAE, load_demo

ROWS_PER_FILE = 500_000
ROW_GROUP = 100_000


def write_folder(folder: Path, n_rows: int, seed: int = 0) -> None:
    """Resample the demo table to ``n_rows`` rows, written file by file (bounded memory)."""
    marker = folder / "_COMPLETE"
    if marker.exists() and json.loads(marker.read_text())["rows"] == n_rows:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    demo = load_demo()
    rng = np.random.default_rng(seed)
    for index, start in enumerate(range(0, n_rows, ROWS_PER_FILE)):
        size = min(ROWS_PER_FILE, n_rows - start)
        chunk = demo.iloc[rng.integers(0, len(demo), size)].reset_index(drop=True)
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        pq.write_table(table, folder / f"part-{index:04d}.parquet", row_group_size=ROW_GROUP)
    marker.write_text(json.dumps({"rows": n_rows}))


def worker(args: argparse.Namespace) -> None:
    """One torchrun worker: fit, then write this rank's figures to ``--report/rank-R.json``."""
    import torch

    rank = int(os.environ.get("RANK", 0))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    default = max(1, (os.cpu_count() or 1) // local_world)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", default)))
    started = time.perf_counter()
    model = TVAE(epochs=args.epochs, batch_size=args.batch_size, random_state=0)
    model.fit_distributed(args.folder, DEMO_DISCRETE_COLUMNS)
    summary = model.training_summary_
    training = summary["fit_seconds"] - summary["transformer_seconds"]
    record = {
        "rank": rank,
        "world_size": summary["world_size"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "transformer_seconds": summary["transformer_seconds"],
        "training_seconds": round(training, 1),
        "rows_per_second": round(summary["n_rows"] * args.epochs / training),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "final_loss": summary["final_loss"],
    }
    Path(args.report).mkdir(parents=True, exist_ok=True)
    (Path(args.report) / f"rank-{rank}.json").write_text(json.dumps(record))


def prefix_folder(folder: Path, n_rows: int) -> tuple[Path, int]:
    """A folder of links to the first files of ``folder`` holding at least ``n_rows`` rows."""
    target = folder.parent / f"first-{n_rows}"
    target.mkdir(exist_ok=True)
    total = 0
    for path in sorted(folder.glob("*.parquet")):
        if total >= n_rows:
            break
        link = target / path.name
        if not link.exists():
            link.symlink_to(path)
        total += pq.ParquetFile(path).metadata.num_rows
    return target, total


def run(nproc: int, args: argparse.Namespace, folder: Path, n_rows: int) -> dict:
    report = Path(args.folder).parent / f"report-{nproc}"
    for old in report.glob("*.json"):
        old.unlink()
    threads = args.threads or max(1, (os.cpu_count() or 1) // nproc)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={nproc}", __file__, "--worker", "--folder", str(folder),
        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
        "--report", str(report),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    ranks = [json.loads(p.read_text()) for p in sorted(report.glob("rank-*.json"))]
    return {
        "workers": nproc,
        "rows": n_rows,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "peak_rss_mb_per_worker": [round(r["peak_rss_mb"]) for r in ranks],
        "rows_per_second": ranks[0]["rows_per_second"],
        "training_seconds": ranks[0]["training_seconds"],
        "transformer_seconds": ranks[0]["transformer_seconds"],
        "launch_wall_seconds": round(time.perf_counter() - started, 1),
        "threads_per_worker": threads,
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--folder", default="/tmp/tvae-bench-distributed/data")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500, help="global rows per step")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    parser.add_argument(
        "--single-rows", type=int, default=None,
        help="train the one-process run on the first files holding this many rows only "
        "(rows/s does not depend on the table size; saves time on a small machine)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="per worker (cpus / workers)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    started = time.perf_counter()
    write_folder(Path(args.folder), args.rows)
    print(json.dumps({"wrote_rows": args.rows, "seconds": round(time.perf_counter() - started, 1)}))
    results = []
    for nproc in args.workers:
        folder, n_rows = Path(args.folder), args.rows
        if nproc == 1 and args.single_rows:
            folder, n_rows = prefix_folder(folder, args.single_rows)
        results.append(run(nproc, args, folder, n_rows))
        print(json.dumps(results[-1]), flush=True)
    if len(results) > 1:
        base = next(r for r in results if r["workers"] == 1)
        for result in results:
            if result["workers"] > 1:
                speedup = result["rows_per_second"] / base["rows_per_second"]
                peak = max(result["peak_rss_mb_per_worker"])
                print(f"{result['workers']} workers: {speedup:.2f}x the rows/s of one process; "
                      f"peak RSS per worker {peak} MB")  # fmt: skip


if __name__ == "__main__":
    main()
