"""Which number format the training step's matrix products use: float32, or bfloat16 where the
CPU multiplies it natively.

Most of a training step is the networks' matrix products (about 60 % on bank). A CPU with
AVX512-BF16 or AMX instructions multiplies bfloat16 matrices about twice as fast as float32
ones (500 x 128 by 128 x 128 on this project's AMD EPYC, one thread: 95 against 175 us), so
the fast schedule (``epochs="auto"``) runs the encoder and decoder under bfloat16 autocast
there: each product rounds its inputs to bfloat16 and accumulates in float32, the weights,
Adam's state and the loss stay float32. Over seeds 0-2 on every shared table and four unseen
ones, quality stayed within 0.005 of float32's (covtype's efficacy F1 fell 0.04 over six seeds),
and fits of the larger tables took 18-28 % less time (docs/fidelity.md, "bfloat16 matrix
products"). Elsewhere it stays float32: CPUs without those instructions emulate bfloat16
slowly, a GPU step is bound by kernel launches rather than arithmetic, and the reference's
schedule (an integer ``epochs``) keeps the reference's format.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

AUTO = "auto"
FLOAT32 = "float32"
BFLOAT16 = "bfloat16"
PRECISIONS = (AUTO, FLOAT32, BFLOAT16)


def native_bfloat16(device: torch.device) -> bool:
    """True where ``device`` is a CPU with bfloat16 matrix instructions (AVX512-BF16, AMX)."""
    if device.type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(cpu, name)()) for name in checks if hasattr(cpu, name))
    except (RuntimeError, OSError):  # a torch build that cannot tell: stay exact
        return False


def resolve_precision(choice: str, fast_schedule: bool, device: torch.device) -> str:
    """The precision a fit runs: ``choice`` unless "auto", which is bfloat16 on the fast schedule
    where the device has it natively, else float32."""
    if choice != AUTO:
        return choice
    return BFLOAT16 if fast_schedule and native_bfloat16(device) else FLOAT32


@contextmanager
def matmul_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the networks' forward pass (and so their backward) in ``precision``."""
    if precision != BFLOAT16:
        yield
        return
    with torch.autocast(device.type, dtype=torch.bfloat16):
        yield
