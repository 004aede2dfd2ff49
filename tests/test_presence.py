"""Presence: a column that decides, in every real row, whether another column holds a value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tvae import TVAE
from tvae.cli.render import render_inspect
from tvae.drawn_rates import drawn_spans, sampler_draw
from tvae.errors import ConditionError, InvalidParameterError
from tvae.sampling import concat_blocks, encoded_blocks
from tvae.serialization import inspect_model
from tvae.transformer.donors import nearest_donors, row_features


def placements(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """``placed`` decides ``salary`` and ``start``; ``bonus`` is missing with ``salary``;
    ``survey`` holds a value exactly where ``interview`` does not."""
    rng = np.random.default_rng(seed)
    placed = rng.random(n) < 0.6
    score = rng.normal(60, 10, n).round(1)
    salary = np.where(placed, rng.normal(300, 40, n).round(), np.nan)
    start = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    interview = np.where(rng.random(n) < 0.5, rng.integers(1, 10, n).astype(float), np.nan)
    return pd.DataFrame(
        {
            "placed": placed,
            "score": score,
            "salary": salary,
            "bonus": np.where(placed, rng.integers(0, 50, n).astype(float), np.nan),
            "start": pd.Series(start).where(placed),
            "interview": interview,
            "survey": np.where(np.isnan(interview), rng.normal(5, 1, n).round(2), np.nan),
        }
    )


def presences(model: TVAE) -> list[dict]:
    return [d for d in model.metadata_.dependencies if d["type"] == "presence"]


def kept(rows: pd.DataFrame) -> None:
    placed = rows["placed"].astype(bool).to_numpy()
    for column in ("salary", "bonus", "start"):
        assert (rows[column].notna().to_numpy() == placed).all(), column
    assert (rows["survey"].notna() != rows["interview"].notna()).all()


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, TVAE]:
    frame = placements()
    return frame, TVAE(epochs=2, batch_size=100, random_state=0).fit(frame)


def test_found_and_kept_in_every_sampled_row(fitted):
    frame, model = fitted
    # bonus's 50 values also determine placed, which is then derived from bonus: bonus
    # follows salary's presence instead of the label derived from it
    targets = {d["target"]: d["source"] for d in presences(model)}
    assert targets == {
        "salary": "placed",
        "start": "placed",
        "bonus": "salary",
        "survey": "interview",
    }
    rows = model.sample(2000, random_state=1)
    kept(rows)
    # the rule decides where values go, not how many rows hold them
    assert abs(rows["placed"].mean() - frame["placed"].mean()) < 0.15
    assert rows["salary"].dropna().between(frame["salary"].min(), frame["salary"].max()).all()
    assert rows["start"].dtype == frame["start"].dtype


def test_calibration_reads_the_rates_of_rows_the_presences_repaired():
    # a presence empties some decoded numbers and gives others a value: the point-mass rates
    # calibration matches are those of the rows as sampled, not as the decoder drew them
    rng = np.random.default_rng(1)
    n = 400
    placed = rng.random(n) < 0.6
    salary = np.where(rng.random(n) < 0.3, 300.0, rng.normal(320, 40, n).round())
    bonus = np.where(rng.random(n) < 0.4, 0.0, rng.normal(30, 5, n).round())
    frame = pd.DataFrame(
        {
            "placed": placed,
            "score": rng.normal(60, 10, n).round(1),
            "salary": np.where(placed, salary, np.nan),
            "bonus": np.where(placed, bonus, np.nan),
        }
    )
    model = TVAE(epochs=2, batch_size=100, random_state=0).fit(frame)
    assert {d["target"] for d in presences(model)} == {"salary", "bonus"}
    transformer = model.transformer_
    spans, repaired = drawn_spans(transformer)
    columns = {transformer.layout.softmax_spans[s].column for s in repaired}
    assert columns == {"salary", "bonus"} and set(repaired) <= set(spans)
    flags = {
        span.column: s
        for s, span in enumerate(transformer.layout.softmax_spans)
        if span.role == "missing"
    }
    generator = torch.Generator().manual_seed(0)
    draw = sampler_draw(
        model.decoder_, model.prior_, transformer, 3000, generator, repaired,
        np.random.default_rng(0),
    )  # fmt: skip
    salary, bonus = draw().numpy()[:, [flags["salary"], flags["bonus"]]].T
    assert (salary == bonus).all()  # bonus is missing with salary in every sampled row
    blocks = encoded_blocks(model.decoder_, model.prior_, transformer, 3000, generator)
    decoded = concat_blocks(blocks, transformer.layout)[1]
    assert (decoded[:, flags["salary"]] != decoded[:, flags["bonus"]]).any()  # as drawn


def test_kept_after_saving_and_in_one_row(fitted, tmp_path):
    _, model = fitted
    model.save(tmp_path / "m.tvae")
    loaded = TVAE.load(tmp_path / "m.tvae")
    assert presences(loaded) == presences(model)
    pd.testing.assert_frame_equal(
        loaded.sample(300, random_state=4), model.sample(300, random_state=4)
    )
    for seed in range(5):
        kept(model.sample(1, random_state=seed))
    shown = render_inspect(inspect_model(tmp_path / "m.tvae"))
    assert "placed's value decides where salary is" in shown
    assert "salary's presence decides where bonus is" in shown


def test_conditions_on_a_target_ask_its_source(fitted):
    _, model = fitted
    rows = model.sample(200, conditions={"salary": 310.0}, random_state=2)
    assert (rows["salary"] == 310.0).all() and rows["placed"].astype(bool).all()
    kept(rows)
    rows = model.sample(200, conditions={"placed": False}, random_state=2)
    assert rows[["salary", "bonus", "start"]].isna().all().all()
    kept(rows)
    rows = model.sample(200, conditions={"survey": 5.0}, random_state=2)
    assert (rows["survey"] == 5.0).all() and rows["interview"].isna().all()
    frame = pd.DataFrame({"placed": [True, None, False], "bonus": [None, 20.0, None]})
    rows = model.sample(conditions=frame, random_state=3)
    assert rows["placed"].astype(bool).tolist() == [True, True, False]
    assert rows["bonus"].iloc[1] == 20.0
    kept(rows)


def test_contradicting_conditions_are_refused(fitted):
    _, model = fitted
    with pytest.raises(ConditionError, match=r"'salary'.*'placed'"):
        model.sample(10, conditions={"placed": False, "salary": 300.0})


def test_declared_presence_is_checked(fitted):
    frame, model = fitted
    again = TVAE(epochs=1, batch_size=100, random_state=0)
    again.fit(frame, metadata=model.metadata_.to_dict())
    assert presences(again) == presences(model)
    kept(again.sample(500, random_state=1))
    wrong = {"type": "presence", "source": "score", "target": "salary"}
    with pytest.raises(InvalidParameterError, match="'score' decides where 'salary'"):
        TVAE(epochs=1).fit(frame, metadata={"dependencies": [wrong]})
    with pytest.raises(InvalidParameterError, match="presence"):
        bad = {"type": "presence", "source": "placed", "target": "nowhere"}
        TVAE(epochs=1).fit(frame, metadata={"dependencies": [bad]})


def test_a_declared_presence_is_released_and_kept_with_epsilon(tmp_path):
    pytest.importorskip("opacus")
    rules = [
        {"type": "presence", "source": "placed", "target": "salary"},
        {"type": "presence", "source": "interview", "target": "survey", "by": "missing"},
    ]
    frame = placements(3000)
    model = TVAE(epsilon=3.0, epochs=2, random_state=0, embedding_dim=16,
                 compress_dims=(32,), decompress_dims=(32,))  # fmt: skip
    model.fit(frame, ["placed"], metadata={"columns": {}, "dependencies": rules})
    history = [item["label"] for item in model.privacy_["accountant"]["history"]]
    assert "presence:placed->salary" in history and "presence:interview->survey" in history
    assert model.privacy_["epsilon"] <= 3.0
    rows = model.sample(1000, random_state=1)
    assert (rows["salary"].notna() == rows["placed"].astype(bool)).all()
    assert (rows["survey"].notna() != rows["interview"].notna()).all()
    model.save(tmp_path / "m.tvae")
    assert presences(TVAE.load(tmp_path / "m.tvae")) == rules
    numeric = {"type": "presence", "source": "score", "target": "salary"}
    with pytest.raises(InvalidParameterError, match="'presence' needs a categorical"):
        TVAE(epochs=1, epsilon=3.0).fit(frame, metadata={"dependencies": [numeric]})


def test_a_row_takes_its_values_from_the_sampled_row_most_like_it():
    frame = pd.DataFrame(
        {
            "score": [10.0, 50.0, 90.0, 48.0, 12.0, np.nan],
            "group": ["a", "b", "b", "b", "a", "a"],
            "salary": [100.0, 500.0, 900.0, np.nan, np.nan, np.nan],
        }
    )
    features = row_features(frame)
    chosen = nearest_donors(features, np.array([3, 4, 5]), np.array([0, 1, 2]))
    # 48 is nearest 50; 12 and "a" nearest 10 and "a"; a row sharing only "a" takes row 0's
    assert chosen.tolist() == [1, 0, 0]


def test_some_values_of_a_source_decide():
    """scale "short" never holds item; "long" holds it but for a few skipped answers."""
    rng = np.random.default_rng(5)
    n = 600
    scale = rng.choice(["short", "long"], n)
    item = np.where(scale == "short", np.nan, rng.integers(1, 5, n).astype(float))
    item[np.flatnonzero(scale == "long")[:4]] = np.nan  # skipped: no rule for "long"
    frame = pd.DataFrame({"scale": scale, "mood": rng.normal(0, 1, n).round(2), "item": item})
    model = TVAE(epochs=2, batch_size=100, random_state=0).fit(frame)
    rule = model.transformer_.dependencies.presence[0]
    assert (rule.source, rule.target) == ("scale", "item")
    assert dict(zip(rule.keys, rule.present, strict=True)) == {"short": False, "long": None}
    rows = model.sample(2000, random_state=1)
    assert rows.loc[rows["scale"] == "short", "item"].isna().all()
    assert rows.loc[rows["scale"] == "long", "item"].isna().any()  # no rule: left as drawn
    asked = model.sample(100, conditions={"item": 2.0}, random_state=2)
    assert (asked["scale"] == "long").all()
    again = TVAE(epochs=1, batch_size=100, random_state=0)
    again.fit(frame, metadata=model.metadata_.to_dict())  # a partial rule is declared again
    assert again.transformer_.dependencies.presence[0].present == rule.present


def test_an_order_bound_on_a_column_the_row_leaves_missing_is_dropped():
    """affect's shape: ``bdi`` equals ``ea`` where present, and only "maps" rows hold it;
    asking a "flat" row's ``ea`` bounded ``bdi`` through the orders, and was refused."""
    rng = np.random.default_rng(0)
    n = 400
    study = rng.choice(["flat", "maps"], n)
    ea = rng.integers(0, 30, n).astype(float)
    bdi = np.where(study == "maps", np.minimum(ea, 25), np.nan)
    frame = pd.DataFrame(
        {
            "study": study,
            "meq": np.where(study == "flat", rng.integers(20, 70, n), np.nan),
            "ea": np.where(study == "maps", bdi, ea),
            "bdi": bdi,
        }
    )
    model = TVAE(epochs=2, random_state=0).fit(frame)
    rows = model.sample(50, conditions={"study": "flat", "meq": 40.0, "ea": 29.0}, random_state=1)
    assert (rows["ea"] == 29.0).all() and (rows["meq"] == 40.0).all()
    assert rows["bdi"].isna().all()
    # through a chain: "flat" gives meq, and meq leaves bdi missing
    rows = model.sample(50, conditions={"study": "flat", "ea": 29.0}, random_state=1)
    assert (rows["ea"] == 29.0).all() and rows["bdi"].isna().all() and rows["meq"].notna().all()
    with pytest.raises(ConditionError, match="'bdi' holds a value only where"):
        model.sample(5, conditions={"meq": 40.0, "bdi": 20.0})  # asked: refused
