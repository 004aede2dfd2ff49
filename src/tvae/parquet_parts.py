"""Synthetic rows out as Parquet parts, written by several processes at once.

``tvae sample MODEL -n N -o folder/ --nproc P`` lands here: part ``p`` of ``P`` holds its share of
the rows, drawn from a seed of its own, so the files depend only on the seed and ``P``.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tvae.distributed.shards import require_pyarrow
from tvae.errors import InvalidParameterError
from tvae.files import atomic_write
from tvae.sampling import seeded_chunks
from tvae.synthesizer import load
from tvae.threads import usable_cpus
from tvae.transformer.identifier import seeded_id_offset

SAMPLE_CHUNK_ROWS = 100_000  # synthetic rows generated and written at once per part


def part_seeds(seed: int | None, n_parts: int) -> list[int]:
    """One seed per part, derived from ``seed``: output depends on the seed and parts only."""
    children = np.random.SeedSequence(seed).spawn(n_parts)
    return [int(child.generate_state(1)[0]) for child in children]


def sample_to_parquet(
    model_path: str | os.PathLike,
    n_rows: int,
    out_dir: str | os.PathLike,
    *,
    n_parts: int = 1,
    processes: int | None = None,
    seed: int | None = None,
    chunk_rows: int = SAMPLE_CHUNK_ROWS,
) -> list[Path]:
    """Write ``n_rows`` synthetic rows as ``n_parts`` Parquet files ``part-00000.parquet`` ...

    Part ``p`` holds rows ``[p * n // P, (p + 1) * n // P)`` drawn from its own seed, derived
    from ``seed``; the files are the same for a given ``seed`` and ``n_parts`` whatever the
    number of ``processes`` (default: one per part) that write them. ``seed=None`` draws fresh
    entropy. Each process holds at most ``chunk_rows`` rows in memory. ID columns are numbered
    through the whole output from the seed's block (part ``p`` at its row offset), so no ID
    repeats across parts; counted IDs equal ``model.sample(n_rows, random_state=seed)``'s.
    """
    require_pyarrow()
    for name, value, low in (
        ("n_rows", n_rows, 0),
        ("n_parts", n_parts, 1),
        ("chunk_rows", chunk_rows, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidParameterError(f"{name} must be an integer >= {low}, got {name}={value!r}")
    load(model_path, device="cpu")  # fail here, once, on a bad model file
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    seeds = part_seeds(seed, n_parts)
    first_id = seeded_id_offset(seed)
    jobs = [
        (
            str(model_path),
            p * n_rows // n_parts,
            (p + 1) * n_rows // n_parts,
            seeds[p],
            str(out / f"part-{p:05d}.parquet"),
            chunk_rows,
            first_id,
        )
        for p in range(n_parts)
    ]
    processes = n_parts if processes is None else max(1, min(processes, n_parts))
    if processes == 1:
        return [_write_part(*job) for job in jobs]
    threads = max(1, usable_cpus() // processes)
    with ProcessPoolExecutor(
        processes, mp_context=get_context("spawn"), initializer=_limit_threads, initargs=(threads,)
    ) as pool:
        return list(pool.map(_write_part, *zip(*jobs, strict=True)))


def _limit_threads(threads: int) -> None:
    torch.set_num_threads(threads)


def _write_part(
    model_path: str, start: int, stop: int, seed: int, path: str, chunk_rows: int, first_id: int
) -> Path:
    """Generate rows ``[start, stop)`` chunk by chunk (each from its own seed) into ``path``;
    row ``r`` gets ID position ``first_id + r``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = load(model_path, device="cpu")
    chunk_seeds = part_seeds(seed, max(1, -(-(stop - start) // chunk_rows)))
    writer = None
    with atomic_write(path) as temporary:
        try:
            for _, frame in seeded_chunks(model, start, stop, chunk_rows, chunk_seeds, first_id):
                table = pa.Table.from_pandas(pd.DataFrame(frame), preserve_index=False)
                if writer is None:  # an empty part still records the columns
                    writer = pq.ParquetWriter(temporary, table.schema)
                writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None and writer.is_open:
                writer.close()
    return Path(path)
