"""Positive numbers spanning orders of magnitude: mixtures over their logarithm (log_scale)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import InvalidParameterTypeError
from tvae.serialization import inspect_model
from tvae.transformer.continuous import ModeNormalizer


def _animals(n_rows: int = 80, seed: int = 0) -> pd.DataFrame:
    """Body weights from grams to tonnes, and brain weights that follow them (as MASS's
    mammals: the small animals are most of the rows)."""
    rng = np.random.default_rng(seed)
    body = np.round(np.exp(rng.normal(0, 3, n_rows)) + 0.001, 3)
    brain = np.round(np.exp(0.75 * np.log(body) + 2 + rng.normal(0, 0.5, n_rows)), 2)
    return pd.DataFrame({"body": body, "brain": brain})


def _log_columns(model: TVAE) -> list:
    return [c.name for c in model.transformer_.columns if getattr(c, "normalizer", None)
            and c.normalizer.log]  # fmt: skip


def test_auto_picks_the_log_for_a_column_spanning_orders_of_magnitude_only():
    rng = np.random.default_rng(1)
    spread = np.exp(rng.normal(0, 3, 400))
    ages = np.round(rng.normal(40, 10, 400).clip(18, 90))
    assert ModeNormalizer.fit(spread, 0, scale="auto", step=None).log
    assert not ModeNormalizer.fit(ages, 0, scale="auto", step=1.0).log
    # a column with a value <= 0 has no logarithm: linear whatever is asked
    assert not ModeNormalizer.fit(np.append(spread, 0.0), 0, scale="log").log
    assert not ModeNormalizer.fit(spread, 0, scale="linear").log


def test_auto_on_a_column_both_scales_fit_alike_warns_nothing():
    # a constant count: both fits give every value the same likelihood (no gain, no spread)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not ModeNormalizer.fit(np.full(100, 3.0), 0, scale="auto", step=1.0).log


def test_a_log_normalizer_round_trips_values_and_keeps_exact_modes_in_x():
    values = np.exp(np.random.default_rng(2).normal(0, 2, 300))
    normalizer = ModeNormalizer.fit(values, 0, scale="log").with_points(np.array([0.0]))
    rng = np.random.default_rng(0)
    alphas, modes = normalizer.transform(np.append(values, [0.0, 0.0]), rng)
    decoded = normalizer.inverse(alphas, modes)
    inside = np.abs(alphas[:-2]) < 0.99
    np.testing.assert_allclose(decoded[:-2][inside], values[inside], rtol=1e-5)
    assert (decoded[-2:] == 0.0).all()  # the point mass decodes to itself, not exp(log(0))
    again = ModeNormalizer.from_state(json.loads(json.dumps(normalizer.get_state())))
    assert again.log and (again.inverse(alphas, modes) == decoded).all()


def test_small_values_come_back_at_their_real_share_with_the_pair_kept():
    real = _animals()
    model = TVAE(random_state=0).fit(real)
    assert _log_columns(model) == ["body", "brain"]
    synthetic = model.sample(1000, random_state=0)
    # linear mixtures put about a third of the rows below the real median, here 0.32-0.36
    below = (synthetic["body"] < real["body"].median()).mean()
    assert 0.4 <= below <= 0.6
    assert synthetic["body"].between(real["body"].min(), real["body"].max()).all()
    assert np.corrcoef(np.log(synthetic["body"]), np.log(synthetic["brain"]))[0, 1] > 0.3


def test_log_scale_false_keeps_the_reference_linear_mixture():
    model = TVAE(epochs=1, random_state=0, log_scale=False).fit(_animals())
    assert _log_columns(model) == []
    forced = TVAE(epochs=1, random_state=0, log_scale=True).fit(_animals())
    assert _log_columns(forced) == ["body", "brain"]
    with pytest.raises(InvalidParameterTypeError, match="log_scale"):
        TVAE(log_scale="yes").fit(_animals())


def test_zeros_stay_exact_beside_a_log_scaled_spread():
    rng = np.random.default_rng(3)
    gains = np.where(rng.random(600) < 0.6, 0.0, np.round(np.exp(rng.normal(7, 2, 600))))
    real = pd.DataFrame({"gain": gains, "group": rng.choice(["a", "b"], 600)})
    model = TVAE(random_state=0).fit(real)
    assert _log_columns(model) == ["gain"]
    synthetic = model.sample(3000, random_state=0)
    assert abs((synthetic["gain"] == 0).mean() - 0.6) < 0.05
    spread = synthetic.loc[synthetic["gain"] > 0, "gain"]
    assert spread.min() >= gains[gains > 0].min()


def test_conditions_on_a_log_scaled_column_are_met():
    real = _animals()
    model = TVAE(random_state=0).fit(real)
    ranged = model.sample(200, conditions={"body": (1.0, 10.0)}, random_state=0)
    assert ranged["body"].between(1.0, 10.0).all()
    asked = float(real["body"].iloc[5])
    exact = model.sample(50, conditions={"body": asked}, random_state=0)
    assert (exact["body"] == asked).all()
    # a range inside one mode's reach is drawn through the log: spread over it, not piled up
    assert ranged["body"].nunique() > 50 and ranged["body"].median() < 6.0


def test_a_saved_model_keeps_its_log_scale_and_inspect_shows_it(tmp_path):
    model = TVAE(epochs=2, random_state=0).fit(_animals())
    path = tmp_path / "animals.tvae"
    model.save(path)
    loaded = TVAE.load(path)
    pd.testing.assert_frame_equal(
        loaded.sample(100, random_state=3), model.sample(100, random_state=3)
    )
    columns = {c["name"]: c for c in inspect_model(path)["columns"]}
    assert columns["body"]["log_scale"] and columns["brain"]["log_scale"]
