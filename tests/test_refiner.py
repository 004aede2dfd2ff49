"""The refiner: sampled rows kept by the odds of a classifier trained on real against sampled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tvae import TVAE, load_demo
from tvae.errors import InvalidParameterError, InvalidParameterTypeError
from tvae.layout import Layout, Span, SpanIndex
from tvae.refiner import ACCEPT_FLOOR, MIN_ROWS, Refiner
from tvae.refiner_training import train_refiner


def _banded(n_rows: int, rng: np.random.Generator, consistent: bool) -> pd.DataFrame:
    """``band`` says which half of [0, 10) ``x`` lies in; unless ``consistent``, it lies."""
    band = rng.choice(["low", "high"], n_rows)
    low = rng.uniform(0, 5, n_rows)
    x = np.where(band == "low", low, low + 5) if consistent else rng.uniform(0, 10, n_rows)
    return pd.DataFrame({"band": band, "x": x})


def _encoded(transformer, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    encoded = transformer.transform(frame, np.random.default_rng(0))
    return torch.from_numpy(encoded.alphas), torch.from_numpy(encoded.codes)


def test_the_refiner_keeps_rows_unlike_real_ones_less_often():
    rng = np.random.default_rng(0)
    real = _banded(3_000, rng, consistent=True)
    # no dependencies: fit would keep the band as a cut of x, and derive it (tvae.transformer.cuts)
    model = TVAE(epochs=1, refine=False, random_state=0).fit(real, metadata={"dependencies": []})
    transformer = model.transformer_
    index = SpanIndex.from_layout(transformer.layout)
    drawn = _banded(3_000, rng, consistent=False)  # half its rows break the band
    refiner, summary = train_refiner(
        _encoded(transformer, real), _encoded(transformer, drawn), index, transformer,
        torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert summary["held_aside_auc"] > 0.65

    probe = _banded(2_000, rng, consistent=False)
    broken = ((probe["band"] == "low") != (probe["x"] < 5)).to_numpy()
    alphas, codes = _encoded(transformer, probe)
    features = refiner.features(alphas, codes, index, refiner.numbers(alphas, codes, transformer))
    with torch.no_grad():
        odds = refiner.log_odds(features).numpy()
    assert odds[~broken].mean() > odds[broken].mean() + 1.0

    kept = refiner.keep(
        *_encoded(transformer, probe), index, transformer, torch.Generator().manual_seed(1)
    ).numpy()
    assert kept[~broken].mean() > 2 * kept[broken].mean()


def test_a_default_fit_refines_a_table_of_many_rows_and_says_how():
    table = load_demo().head(MIN_ROWS)
    model = TVAE(epochs=1, random_state=0).fit(table)
    assert model.refiner_ is not None
    summary = model.training_summary_["refiner"]
    assert 0.0 < summary["kept_share"] <= 1.0
    assert 0.0 <= summary["held_aside_auc"] <= 1.0
    assert len(model.sample(300)) == 300


@pytest.mark.parametrize("params", [{}, {"refine": False}, {"decoding": "argmax"}])
def test_no_refiner_on_few_rows_when_turned_off_or_with_argmax_decoding(adult_small, params):
    model = TVAE(epochs=2, random_state=0, **params).fit(adult_small)
    assert model.refiner_ is None
    assert "refiner" not in model.training_summary_


def test_a_row_the_refiner_rejects_keeps_a_floor_chance_so_sampling_ends(adult_small):
    model = TVAE(epochs=2, refine=True, random_state=0).fit(adult_small)
    model.refiner_.log_threshold.fill_(1e3)  # every row's odds far below the constant
    rows = model.sample(150, random_state=1)  # about 150 / ACCEPT_FLOOR draws
    assert len(rows) == 150
    assert ACCEPT_FLOOR > 0


def test_conditions_hold_in_refined_rows(adult_small):
    model = TVAE(epochs=2, refine=True, random_state=0).fit(adult_small)
    rows = model.sample(200, conditions={"sex": " Female"}, random_state=2)
    assert (rows["sex"] == " Female").all()
    known = adult_small.head(20)[["age", "education"]]
    completed = model.sample(conditions=known, random_state=2)
    assert (completed["age"].to_numpy() == known["age"].to_numpy()).all()
    assert (completed["education"].to_numpy() == known["education"].to_numpy()).all()


def test_a_saved_model_keeps_its_refiner(adult_small, tmp_path):
    model = TVAE(epochs=2, refine=True, random_state=0).fit(adult_small)
    path = tmp_path / "model.tvae"
    model.save(path)
    loaded = TVAE.load(path)
    assert loaded.refiner_ is not None
    pd.testing.assert_frame_equal(
        loaded.sample(200, random_state=3), model.sample(200, random_state=3)
    )


def test_refine_is_checked_before_any_work(adult_small):
    with pytest.raises(InvalidParameterTypeError, match="refine"):
        TVAE(refine="always").fit(adult_small)
    with pytest.raises(InvalidParameterError, match="refine=True"):
        TVAE(refine=True, epsilon=1.0).fit(adult_small)


def test_raking_keeps_each_category_at_its_real_rate():
    layout = Layout((Span("softmax", 2, 0, "plan"), Span("softmax", 3, 2, "region")))
    index = SpanIndex.from_layout(layout)
    refiner = Refiner(layout.width, 0)
    refiner.code_rates.copy_(torch.tensor([0.3, 0.7, 0.2, 0.3, 0.5]))
    rng = np.random.default_rng(0)
    codes = torch.from_numpy(np.stack([rng.integers(0, 2, 4_000), rng.integers(0, 3, 4_000)], 1))
    chance = torch.from_numpy(rng.uniform(0.05, 0.3, 4_000)).float()
    raked = refiner.raked(chance, codes, index, torch.zeros((len(codes), 0)))
    assert raked.mean() == pytest.approx(float(chance.mean()), rel=1e-4)  # none capped here
    for span, rates in ((0, [0.3, 0.7]), (1, [0.2, 0.3, 0.5])):
        for code, rate in enumerate(rates):
            share = raked[codes[:, span] == code].sum() / raked.sum()
            assert float(share) == pytest.approx(rate, abs=0.01)


def test_raking_keeps_each_point_mass_at_its_real_share_of_decoded_values():
    # a zero that decoding reaches by its exact mode and by clipping alike
    layout = Layout((Span("softmax", 2, 0, "plan"),))
    index = SpanIndex.from_layout(layout)
    refiner = Refiner(layout.width, 1, 1)
    refiner.code_rates.copy_(torch.tensor([0.5, 0.5]))
    refiner.mass_values.fill_(0.0)
    refiner.mass_rates.fill_(0.3)
    rng = np.random.default_rng(1)
    codes = torch.from_numpy(rng.integers(0, 2, (4_000, 1)))
    values = torch.from_numpy(np.where(rng.random(4_000) < 0.5, 0.0, rng.uniform(1, 9, 4_000)))
    chance = torch.full((4_000,), 0.2)
    raked = refiner.raked(chance, codes, index, values[:, None])
    assert float(raked[values == 0].sum() / raked.sum()) == pytest.approx(0.3, abs=0.01)


def test_raking_keeps_rates_where_many_chances_reach_one():
    # the rare-in-draws category must carry most of the kept rows: its chances hit 1
    layout = Layout((Span("softmax", 2, 0, "plan"),))
    index = SpanIndex.from_layout(layout)
    refiner = Refiner(layout.width, 0)
    refiner.code_rates.copy_(torch.tensor([0.7, 0.3]))
    rng = np.random.default_rng(2)
    codes = torch.from_numpy((rng.random((4_000, 1)) < 0.7).astype(np.int64))  # 30 % drew 0
    chance = torch.from_numpy(rng.uniform(0.6, 1.0, 4_000)).float()
    raked = refiner.raked(chance, codes, index, torch.zeros((len(codes), 0)))
    assert float(raked.max()) <= 1.0
    share = float(raked[codes[:, 0] == 0].sum() / raked.sum())
    assert share == pytest.approx(0.7, abs=0.01)
    # as many rows kept as the rate allows: every row of code 0 at (nearly) 1
    assert float(raked[codes[:, 0] == 0].mean()) > 0.95


def test_the_refiner_trains_no_longer_than_the_fit_it_refines(adult_small, monkeypatch):
    """TVAE(epochs=2) on msq (3,896 rows, 92 columns) spent 19 of its 24 s training the
    refiner for 2,900 steps, for the same rows as after 500: a quick fit gets a quick refiner,
    with room for the early stop's looks; default fits (3,000 steps or more) keep 3,000."""
    from tvae import refiner_training as refiner

    assert refiner.step_budget(None) == refiner.MAX_STEPS == 3_000
    assert refiner.step_budget(10**6) == refiner.MAX_STEPS
    assert refiner.step_budget(1_200) == 1_200
    assert refiner.step_budget(4) == refiner.MIN_STEPS == 500  # five looks
    assert refiner.MIN_STEPS > refiner.CHECK_EVERY * refiner.PATIENCE  # room for the early stop
    budgets = []
    fit_classifier = refiner._fit_classifier

    def spy(*args):
        budgets.append(args[-1])
        return fit_classifier(*args)

    monkeypatch.setattr(refiner, "_fit_classifier", spy)
    model = TVAE(epochs=2, batch_size=100, refine=True, random_state=0).fit(adult_small)
    steps = 2 * -(-len(adult_small) // 100)
    assert budgets == [refiner.step_budget(steps)] and model.refiner_ is not None
