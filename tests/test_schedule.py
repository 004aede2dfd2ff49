"""The schedule: explicit arguments are honoured exactly; defaults pick the fast schedule."""

from tvae import TVAE
from tvae.schedule import FAST_MAX_PASS_STEPS, FAST_MIN_PASSES, FAST_STEPS, resolve_schedule


def _defaults() -> tuple:
    model = TVAE()
    return model.epochs, model.batch_size, model.learning_rate, model.lr_schedule


def test_explicit_reference_settings_are_the_fidelity_path():
    schedule = resolve_schedule(300, 500, None, "auto", n_rows=26_000, width=157)
    assert (schedule.epochs, schedule.batch_size) == (300, 500)
    assert (schedule.learning_rate, schedule.lr_schedule) == (1e-3, "constant")


def test_defaults_spend_a_fixed_step_budget_on_a_narrow_row():
    schedule = resolve_schedule(*_defaults(), n_rows=5_000, width=157)
    assert schedule.lr_schedule == "onecycle" and schedule.batch_size == 500
    assert schedule.epochs == FAST_STEPS // 10  # 10 steps a pass
    large = resolve_schedule(*_defaults(), n_rows=26_049, width=157)  # adult's 80 %
    steps_per_epoch = -(-26_049 // 500)
    assert large.epochs == -(-FAST_MAX_PASS_STEPS // steps_per_epoch)  # the step budget is fixed


def test_tables_of_many_rows_get_more_passes_up_to_a_step_budget():
    def steps(n_rows: int, **shape) -> int:
        schedule = resolve_schedule(*_defaults(), n_rows=n_rows, **shape)
        return schedule.epochs * -(-n_rows // 500)

    assert steps(8_000, width=157) == FAST_STEPS + 8  # 16 steps a pass: 188 passes already
    assert steps(12_000, width=157) == FAST_STEPS  # 24 steps a pass: 125 passes already
    assert steps(14_000, width=157) == FAST_MIN_PASSES * 28  # 3,500
    assert steps(16_000, width=157) == FAST_MIN_PASSES * 32  # adult's 80 % of 20,000: 4,000
    huge = steps(1_000_000, width=157)  # 2,000 steps a pass: capped, to the pass
    assert FAST_MAX_PASS_STEPS <= huge < FAST_MAX_PASS_STEPS + 2_000
    assert steps(16_000, width=535, n_columns=42) == 6_688  # census: wide rows need more already
    for n_rows in (9_000, 13_000, 21_000, 50_000):  # between, never off by more than one pass
        assert FAST_STEPS <= steps(n_rows, width=157) < FAST_MAX_PASS_STEPS + n_rows / 500


def test_wider_rows_get_proportionally_more_steps_within_bounds():
    narrow = resolve_schedule(*_defaults(), n_rows=50_000, width=240)  # 100 steps per epoch
    wide = resolve_schedule(*_defaults(), n_rows=50_000, width=720)
    widest = resolve_schedule(*_defaults(), n_rows=50_000, width=10_000)
    # 5,000 steps (the many-rows floor), 9,000 and 12,000 (the width factor, capped at 4)
    assert (narrow.epochs, wide.epochs, widest.epochs) == (50, 90, 120)
    tiny = resolve_schedule(*_defaults(), n_rows=240, width=10_000)
    assert tiny.epochs == 960  # a tiny table (one step per epoch) is capped: 4 passes a row


def test_very_few_rows_get_fewer_passes_so_they_are_not_memorised():
    caps = [resolve_schedule(*_defaults(), n_rows=n, width=240).epochs for n in (50, 142, 400)]
    assert caps == [300, 568, 1_000]
    larger = resolve_schedule(*_defaults(), n_rows=5_000, width=240)
    assert larger.epochs == 300  # 10 steps a pass: 3,000 steps, below the cap of 1,000


def test_tables_of_many_columns_get_more_steps():
    few = resolve_schedule(*_defaults(), n_rows=50_000, width=240, n_columns=15)
    many = resolve_schedule(*_defaults(), n_rows=50_000, width=240, n_columns=55)  # covtype
    assert (few.epochs, many.epochs) == (50, 67)  # 55 / 25 = 2.2 times 3,000 steps, rounded up
    given = resolve_schedule(300, 500, None, "auto", n_rows=50_000, width=240, n_columns=55)
    assert given.epochs == 300  # a given number of epochs is honoured


def test_the_loss_factor_is_the_references_but_on_large_tables_of_the_fast_schedule():
    model = TVAE()
    fast = (model.epochs, model.batch_size, model.learning_rate, model.lr_schedule)
    reference = (300, 500, None, "auto")
    for arguments, n_rows, expected in [
        (fast, 20_000, 5.0),  # a weaker KL term keeps the latent informative
        (fast, 1_000, 2.0),  # few rows: the extra information would mostly memorise them
        (reference, 20_000, 2.0),  # the fidelity path trains as ctgan.TVAE()
    ]:
        schedule = resolve_schedule(*arguments, n_rows=n_rows, loss_factor=model.loss_factor)
        assert schedule.loss_factor == expected
    given = resolve_schedule(*fast, n_rows=20_000, loss_factor=3)
    assert given.loss_factor == 3.0


def test_the_fast_loss_factor_rises_with_the_rows_without_a_cliff():
    model = TVAE()
    fast = (model.epochs, model.batch_size, model.learning_rate, model.lr_schedule)

    def factor(n_rows: int) -> float:
        return resolve_schedule(*fast, n_rows=n_rows, loss_factor="auto").loss_factor

    sizes = [500, 2_500, 3_000, 5_000, 5_092, 8_000, 12_000, 16_000, 100_000]
    factors = [factor(n) for n in sizes]
    assert factors == sorted(factors)  # more rows, never a stronger KL term
    assert factors[0] == factors[1] == 2.0 and factors[-2] == factors[-1] == 5.0
    assert 2.9 < factor(5_092) < 3.4  # fair: 5 made a quarter more exact copies than held-out rows
    assert abs(factor(5_001) - factor(4_999)) < 0.01  # no step at any row count


def test_the_loss_factor_used_is_recorded_and_saved(tmp_path):
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"x": np.arange(60.0), "k": ["a", "b", "c"] * 20})
    model = TVAE(epochs=1, loss_factor=7, random_state=0).fit(frame)
    assert model.schedule_.loss_factor == 7.0
    model.save(tmp_path / "m.tvae")
    assert TVAE.load(tmp_path / "m.tvae").schedule_.loss_factor == 7.0
