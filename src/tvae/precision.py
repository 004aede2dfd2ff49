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
products"); since the loss became one autograd node a step gains 2-16 % (bank 10 %). Elsewhere
it stays float32: CPUs without those instructions emulate bfloat16 slowly, a GPU step is bound
by kernel launches rather than arithmetic, and the reference's schedule (an integer
``epochs``) keeps the reference's format.

Each step under autocast also casts every weight and activation (about 60 small copies), a
fixed cost that the cheaper products repay only when they are large: below
``MIN_BFLOAT16_CELLS`` rows times encoded width in a batch the step stays float32. Measured per
step, one thread (docs/fidelity.md, "Float32 for small batches"): bfloat16 took 1.24-1.33 times
float32's time on six tables smaller than one batch and at most 79 values wide (wine 142 x 65,
iris, engel, macrodata, grunfeld, student_placements), 1.05-1.13 on star98 and diabetes,
0.90-1.06 on bank, titanic, anes96 and fair (35,000-46,000 values a batch), and 0.84-0.96 from
breast_cancer's 66,000 up (adult 0.91, digits 0.84).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

AUTO = "auto"
FLOAT32 = "float32"
BFLOAT16 = "bfloat16"
PRECISIONS = (AUTO, FLOAT32, BFLOAT16)
MIN_BFLOAT16_CELLS = 30_000  # rows in a batch x encoded width: smaller steps stay float32


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


def resolve_precision(
    choice: str, fast_schedule: bool, device: torch.device, batch_cells: int | None = None
) -> str:
    """The precision a fit runs: ``choice`` unless "auto", which is bfloat16 on the fast schedule
    where the device has it natively and a batch holds at least ``MIN_BFLOAT16_CELLS`` encoded
    values (``batch_cells``: its rows times the encoded width; None: large enough), else
    float32."""
    if choice != AUTO:
        return choice
    if not fast_schedule or not native_bfloat16(device):
        return FLOAT32
    if batch_cells is not None and batch_cells < MIN_BFLOAT16_CELLS:
        return FLOAT32
    return BFLOAT16


@contextmanager
def matmul_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Run the networks' forward pass (and so their backward) in ``precision``."""
    if precision != BFLOAT16:
        yield
        return
    with torch.autocast(device.type, dtype=torch.bfloat16):
        yield
