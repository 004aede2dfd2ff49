"""Data-parallel training on PyTorch's distributed runtime (torchrun; gloo on CPU, NCCL on GPU).

One machine, 4 workers (the ``tvae`` command launches torchrun for you)::

    tvae fit data/ -o model.tvae --nproc 4 --checkpoint-dir ckpt/

The same through torchrun, and across machines (run on every node; rank 0's node hosts the
rendezvous; data and checkpoint folders must be visible to every node)::

    torchrun --standalone --nproc-per-node 4 -m tvae.distributed fit data/ -o model.tvae
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-id job1 \\
        --rdzv-endpoint node0:29500 -m tvae.distributed fit 'data/*.parquet' -o model.tvae

From Python, under torchrun: ``TVAE(...).fit_distributed("data/", discrete_columns=[...])``
(:func:`tvae.distributed.training.train_sharded`). This package's ``__init__`` holds only the
context (:mod:`tvae.distributed.context`), so that :mod:`tvae.training` can read it.

Every worker reads only its share of the Parquet rows (see :mod:`tvae.distributed.shards`).
Rank 0 fits the transformer from a bounded sample plus one scan and broadcasts it as JSON; the
networks are wrapped in ``DistributedDataParallel``; each worker takes ``batch_size / world_size``
rows per step, so the global batch, the steps per epoch and hence the learning curve match a
single-process fit. Losses are averaged over workers for the log; only rank 0 writes files.
"""

from tvae.distributed.context import (
    DistContext,
    broadcast_json,
    epoch_seed,
    init_process_group,
    is_main_process,
    mean_over_workers,
    worker_device,
)

__all__ = [
    "DistContext",
    "broadcast_json",
    "epoch_seed",
    "init_process_group",
    "is_main_process",
    "mean_over_workers",
    "worker_device",
]
