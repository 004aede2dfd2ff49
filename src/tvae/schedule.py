"""Choose the training schedule: the reference's when asked for, a faster one by default.

``TVAE()`` has ``epochs="auto"`` and ``batch_size="auto"``: ``fit`` then trains on tvae's
faster schedule (a one-cycle learning rate over a fixed budget of optimiser steps), and the
defaults say so in ``repr`` and ``get_params``. Any integer the user passes, including the
reference's own defaults ``epochs=300`` and ``batch_size=500``, is honoured exactly, with the
reference's constant learning rate unless ``lr_schedule`` says otherwise. This is the fidelity
path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AUTO = "auto"
DEFAULT_EPOCHS = AUTO
DEFAULT_BATCH_SIZE = AUTO
DEFAULT_LOSS_FACTOR = AUTO
REFERENCE_EPOCHS = 300  # ctgan.TVAE's defaults, for reference
REFERENCE_BATCH_SIZE = 500
REFERENCE_LEARNING_RATE = 1e-3
REFERENCE_LOSS_FACTOR = 2.0

# The fast schedule, chosen by measurement on adult and the other shared tables over seeds
# 0, 1, 2 (see benchmarks/README.md).
FAST_BATCH_SIZE = 500
FAST_STEPS = 3_000  # for an encoded row up to FAST_BASE_WIDTH wide (adult's is about 155)
FAST_BASE_WIDTH = 240
FAST_BASE_COLUMNS = 25  # tables with more columns get proportionally more steps (covtype: 55)
FAST_MAX_STEP_FACTOR = 4.0  # wider rows get proportionally more steps, up to this factor
# Tables of many rows get at least FAST_MIN_PASSES passes, up to FAST_MAX_PASS_STEPS steps.
# Quality has settled by 3,000 steps, but how hard a classifier finds it to tell synthetic rows
# from real ones has not (adult, 16,000 rows, seeds 0-2: detection 0.709 at 94 passes, 0.766 at
# 125, 0.820 at 157; docs/fidelity.md). The reference's fit grows with the rows and this one
# does not, so the passes it can afford grow too; 150 passes took adult's fit to 0.38 of the
# reference's time in one run, over the 0.35 aimed at, and 125 keep it near 0.3. Below 12,000
# rows 3,000 steps already make 125 passes or more; from 20,000 rows the steps stay at 5,000.
FAST_MIN_PASSES = 125
FAST_MAX_PASS_STEPS = 5_000
FAST_PEAK_LEARNING_RATE = 3e-3
FAST_MIN_EPOCHS = 2
# Tiny tables (one step per epoch) get up to FAST_MAX_EPOCHS passes: measured better on
# breast_cancer, titanic and digits than 300 (digits 0.958 against 0.898). But passes over very
# few rows can memorise them, so a table gets at most FAST_PASSES_PER_ROW passes per row, and
# never fewer than FAST_MIN_MAX_EPOCHS. That was 2 per row, chosen on wine alone (DCR share 0.538
# at 300 passes, 0.573 at 1,000). Eight tables under 500 rows, seven of them never used to
# choose it, 10 or 20 seeds (docs/fidelity.md, "Passes over tables under 500 rows"): at 2 per
# row engel's two columns lost much of their correlation (quality 0.835, held-out rows 0.917,
# independent columns 0.743) and macrodata's and star98's gap closed was 0.68. At 4 per row
# quality rose on all eight (mean 0.843 -> 0.868; gap closed 0.78, 0.87, 0.94) and efficacy on
# wine, iris, grunfeld and diabetes; the DCR share rose 0.014 on average (0.514 -> 0.528), on
# wine 0.543 -> 0.549 over 20 seeds, and fell on iris (0.560 -> 0.540).
FAST_MAX_EPOCHS = 1_000
FAST_MIN_MAX_EPOCHS = 300
FAST_PASSES_PER_ROW = 4
# The fast schedule's reconstruction weight: a weaker KL term keeps more of each row in the
# latent, which the learned prior then models. On large tables it carries dependencies that the
# reference's 2 loses (3 seeds: census efficacy 0.644 -> 0.674 and detection 0.35 -> 0.44 at 5;
# adult detection 0.53 -> 0.62, quality unchanged or higher). On few rows that extra
# information mostly memorises them: the share of synthetic rows nearer a training row than a
# held-out one rose from 0.53 to 0.57 on breast_cancer (455 rows) and quality gained at most
# 0.006 (docs/fidelity.md). So the weight rises with the rows, linearly in log rows, from the
# reference's 2 at FAST_LOSS_FACTOR_ROWS[0] to FAST_LOSS_FACTOR at FAST_LOSS_FACTOR_ROWS[1] and
# beyond. It was a step at 5,000 rows: fair (5,092 rows) then got 5 and 27 % of its synthetic
# rows copied a training row, against 23 % of its held-out rows; at 3, 22.5 %, with the same
# quality and detection (docs/fidelity.md, "A ramp, not a step").
FAST_LOSS_FACTOR = 5.0
FAST_LOSS_FACTOR_ROWS = (2_500, 16_000)


@dataclass(frozen=True)
class Schedule:
    """What ``fit`` actually runs."""

    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str  # "constant" | "onecycle"
    loss_factor: float = REFERENCE_LOSS_FACTOR
    precision: str = "float32"  # the training step's matrix products (tvae.precision)

    def to_dict(self) -> dict:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "lr_schedule": self.lr_schedule,
            "loss_factor": self.loss_factor,
            "precision": self.precision,
        }


def is_default(value: object) -> bool:
    """True for ``"auto"``: the user left the choice to tvae."""
    return isinstance(value, str) and value == AUTO


def auto_or(setting: object, by_default: bool) -> bool:
    """A setting that is "auto", True or False: ``by_default`` for "auto", else the setting."""
    return by_default if is_default(setting) else bool(setting)


def fast_steps(width: int, n_columns: int = 0, steps_per_epoch: int = 1) -> int:
    """Optimiser steps of the fast schedule for ``n_columns`` columns encoded ``width`` wide,
    and at least FAST_MIN_PASSES passes of ``steps_per_epoch`` steps (up to FAST_MAX_PASS_STEPS).

    More outputs, and more columns whose dependencies must be learned, take more steps: on
    census (width 474) 3,000 steps reach the reference's quality score but not its
    machine-learning efficacy, which needs about as many steps per output as adult gets
    (benchmarks/README.md); covtype (55 columns, 44 of them 0/1 indicators, so only 244 wide)
    gave quality 0.954 in 3,000 steps and 0.975 in 6,000 (seed 0, docs/fidelity.md).
    """
    factor = max(1.0, width / FAST_BASE_WIDTH, n_columns / FAST_BASE_COLUMNS)
    by_shape = math.ceil(FAST_STEPS * min(FAST_MAX_STEP_FACTOR, factor))
    return max(by_shape, min(FAST_MIN_PASSES * steps_per_epoch, FAST_MAX_PASS_STEPS))


def fast_loss_factor(n_rows: int) -> float:
    """The fast schedule's reconstruction weight for ``n_rows`` training rows (see
    FAST_LOSS_FACTOR_ROWS): the reference's 2 on small tables, FAST_LOSS_FACTOR on large ones,
    and linear in log rows between, so that no row count is a cliff."""
    low, high = FAST_LOSS_FACTOR_ROWS
    if n_rows <= low:
        return REFERENCE_LOSS_FACTOR
    share = min(1.0, math.log(n_rows / low) / math.log(high / low))
    return round(REFERENCE_LOSS_FACTOR + share * (FAST_LOSS_FACTOR - REFERENCE_LOSS_FACTOR), 2)


def max_fast_epochs(n_rows: int) -> int:
    """The most passes the fast schedule makes over ``n_rows`` rows (see FAST_MAX_EPOCHS)."""
    return min(FAST_MAX_EPOCHS, max(FAST_MIN_MAX_EPOCHS, FAST_PASSES_PER_ROW * n_rows))


def resolve_schedule(
    epochs: int | str,
    batch_size: int | str,
    learning_rate: float | None,
    lr_schedule: str,
    n_rows: int,
    width: int = FAST_BASE_WIDTH,
    n_columns: int = 0,
    loss_factor: float | str = REFERENCE_LOSS_FACTOR,
) -> Schedule:
    """Turn the constructor's arguments into the schedule for a table of ``n_rows`` rows and
    ``n_columns`` columns whose encoded row is ``width`` values wide. ``"auto"`` epochs select
    the fast schedule; ``"auto"`` batch size and loss factor are the fast schedule's with auto
    epochs, the reference's with given epochs. Its precision stays float32 here: the fit sets it
    from the device and the batch (:func:`tvae.fitting.fit_schedule`)."""
    fast = is_default(epochs)
    if is_default(batch_size):
        batch = FAST_BATCH_SIZE if fast else REFERENCE_BATCH_SIZE
    else:
        batch = int(batch_size)
    if lr_schedule == "auto":
        # differs from the reference: one-cycle reaches its quality in far fewer epochs.
        lr_schedule = "onecycle" if fast else "constant"
    if learning_rate is None:
        onecycle = lr_schedule == "onecycle"
        learning_rate = FAST_PEAK_LEARNING_RATE if onecycle else REFERENCE_LEARNING_RATE
    if fast:
        steps_per_epoch = math.ceil(n_rows / batch)
        wanted = math.ceil(fast_steps(width, n_columns, steps_per_epoch) / steps_per_epoch)
        epochs = min(max_fast_epochs(n_rows), max(FAST_MIN_EPOCHS, wanted))
    if is_default(loss_factor):
        loss_factor = fast_loss_factor(n_rows) if fast else REFERENCE_LOSS_FACTOR
    return Schedule(int(epochs), batch, float(learning_rate), lr_schedule, float(loss_factor))
