"""The schedule: explicit arguments are honoured exactly; defaults pick the fast schedule."""

from tvae import TVAE
from tvae.schedule import FAST_STEPS, resolve_schedule


def _defaults() -> tuple:
    model = TVAE()
    return model.epochs, model.batch_size, model.learning_rate, model.lr_schedule


def test_explicit_reference_settings_are_the_fidelity_path():
    schedule = resolve_schedule(300, 500, None, "auto", n_rows=26_000, width=157)
    assert (schedule.epochs, schedule.batch_size) == (300, 500)
    assert (schedule.learning_rate, schedule.lr_schedule) == (1e-3, "constant")


def test_defaults_spend_a_fixed_step_budget_on_a_narrow_row():
    schedule = resolve_schedule(*_defaults(), n_rows=26_049, width=157)  # adult's 80 %
    assert schedule.lr_schedule == "onecycle" and schedule.batch_size == 500
    steps_per_epoch = -(-26_049 // 500)
    assert schedule.epochs == -(-FAST_STEPS // steps_per_epoch)


def test_wider_rows_get_proportionally_more_steps_within_bounds():
    narrow = resolve_schedule(*_defaults(), n_rows=50_000, width=240)  # 100 steps per epoch
    wide = resolve_schedule(*_defaults(), n_rows=50_000, width=720)
    widest = resolve_schedule(*_defaults(), n_rows=50_000, width=10_000)
    assert (narrow.epochs, wide.epochs, widest.epochs) == (30, 90, 120)  # factor capped at 4
    tiny = resolve_schedule(*_defaults(), n_rows=50, width=10_000)
    assert tiny.epochs == 1_000  # a tiny table (one step per epoch) is capped


def test_tables_of_many_columns_get_more_steps():
    few = resolve_schedule(*_defaults(), n_rows=50_000, width=240, n_columns=15)
    many = resolve_schedule(*_defaults(), n_rows=50_000, width=240, n_columns=55)  # covtype
    assert (few.epochs, many.epochs) == (30, 67)  # 55 / 25 = 2.2 times the steps, rounded up
    given = resolve_schedule(300, 500, None, "auto", n_rows=50_000, width=240, n_columns=55)
    assert given.epochs == 300  # a given number of epochs is honoured
