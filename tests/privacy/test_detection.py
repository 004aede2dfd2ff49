"""Label determinations found under epsilon: a budget set aside, a test that is the mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.privacy.detection import can_keep_one, merge_of
from tvae.privacy.report import privacy_lines


@pytest.fixture(scope="module")
def towns() -> pd.DataFrame:
    """3,000 rows: town determines region (a merge of three values into two); colour and
    size are drawn on their own, with shares that match region's and town's by chance."""
    rng = np.random.default_rng(0)
    n = 3_000
    town = rng.choice(["Oslo", "Lima", "Pune"], n, p=[0.5, 0.3, 0.2])
    region = np.where(town == "Oslo", "north", "south")
    colour = rng.choice(["red", "blue"], n, p=[0.5, 0.5])  # region's 50/50, but independent
    size = rng.choice(["S", "M", "L"], n, p=[0.5, 0.3, 0.2])  # town's shares, independent
    return pd.DataFrame({"town": town, "region": region, "colour": colour, "size": size,
                         "x": rng.normal(size=n)})  # fmt: skip


def _pairs(model: TVAE) -> set:
    return {(d["source"], d["target"]) for d in model.metadata_.dependencies}


def test_a_determination_is_found_kept_and_accounted_for(towns):
    model = TVAE(epsilon=10.0, epochs=2, random_state=0).fit(towns)
    assert _pairs(model) == {("town", "region")}  # not colour or size: their rows disagree
    tested = [h["label"] for h in model.privacy_["accountant"]["history"]]
    assert "detect:town->region" in tested
    assert model.privacy_["epsilon"] <= 10.0 + 1e-9
    shown = [line for line in privacy_lines(model.privacy_) if "Detection:" in line]
    assert shown and shown[0].endswith("kept: town->region")  # tvae inspect
    rows = model.sample(2_000, random_state=1)
    assert (rows["region"] == np.where(rows["town"] == "Oslo", "north", "south")).all()
    asked = model.sample(200, conditions={"region": "north"}, random_state=2)
    assert (asked["town"] == "Oslo").all()


def test_declared_dependencies_turn_detection_off(towns):
    model = TVAE(epsilon=10.0, epochs=1, random_state=0).fit(towns, metadata={"dependencies": []})
    assert model.metadata_.dependencies == []
    assert not any(
        h["label"].startswith("detect:") for h in model.privacy_["accountant"]["history"]
    )


def test_no_budget_is_set_aside_where_no_determination_could_be_kept(towns):
    # 300 rows at epsilon 1: the noise could not show that a pair's rows agree
    small = towns.head(300)
    with_detection = TVAE(epsilon=1.0, epochs=1, random_state=0).fit(small)
    without = TVAE(epsilon=1.0, epochs=1, random_state=0).fit(small, metadata={"dependencies": []})
    assert with_detection.metadata_.dependencies == []
    assert with_detection.privacy_["noise_multiplier"] == without.privacy_["noise_multiplier"]
    noise = with_detection.privacy_["budget_split"]["statistics"]["noise_multiplier"]
    assert not can_keep_one(300, noise)


def test_merge_of_finds_a_partition_of_counts_within_the_noise():
    assert merge_of(np.array([500, 300, 200]), np.array([502, 498]), 5.0) is not None
    assert merge_of(np.array([500, 300, 200]), np.array([600, 400]), 5.0) is None
    assert merge_of(np.array([50, 50]), np.array([50, 50]), 1.0) == 0.0
