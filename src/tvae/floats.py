"""Subnormal floats flushed to zero while ``fit`` trains on the CPU.

A float32 below 1.2e-38 is *subnormal*; x86 CPUs compute with them through a microcode path
that is tens of times slower than normal arithmetic. A trained VAE makes many: confident
softmax spans (exp of -90), vanishing gradients and Adam moments, mixture responsibilities of
far-away components. Measured on a 20,000-row sample of the intrusion table (one thread): a
default fit took 152 s as it is and 89 s with subnormals flushed, the backward pass alone
43 s against 22 s. Values that small carry nothing a float32 model can use (they are 1e-31 of
the numbers they are added to), so flushing them changes no result that matters.

``torch.set_flush_denormal`` sets the flag of the calling thread only (it lives in the CPU's
per-thread control register): with one torch thread, or on the thread that runs autograd, it
covers the work; torch's extra intra-op threads keep their own setting. The flag is global
state of the user's process, so it is restored when the call ends. Sampling keeps the
user's setting: it is a forward pass without gradients, and :meth:`tvae.TVAE.sample_chunks` (a
generator, which cannot hold the flag across its yields) must give the rows ``sample`` gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def flushing_subnormals() -> bool:
    """Whether this thread now flushes subnormal floats to zero."""
    probe = torch.tensor([torch.finfo(torch.float32).tiny])  # the smallest normal float32
    return float((probe * 0.5).item()) == 0.0  # a subnormal result, or 0 when flushed


@contextmanager
def flushed_subnormals() -> Iterator[bool]:
    """Run the block with subnormal floats flushed to zero on this thread; restore after.

    Yields whether flushing is on (False on a CPU without the flag). Also a decorator,
    ``@flushed_subnormals()``.
    """
    previous = flushing_subnormals()
    turned_on = not previous and torch.set_flush_denormal(True)
    try:
        yield previous or turned_on
    finally:
        if turned_on:
            torch.set_flush_denormal(False)
