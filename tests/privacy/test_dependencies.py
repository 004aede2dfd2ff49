"""Declared dependencies under epsilon: refused where they cannot be kept; a determination's
mapping released from a noisy joint histogram and kept in every sampled row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE, load
from tvae.errors import ConditionError, InvalidParameterError
from tvae.privacy.dependencies import split_declared

RARE = "Qwx-rare-3b1"  # a source value held by one row: merged away, never named
TOWNS = {"S": "Southampton", "C": "Cherbourg", "Q": "Queenstown"}
DECKS = {"Southampton": "low", "Cherbourg": "high", "Queenstown": "high"}


@pytest.fixture(scope="module")
def ports() -> pd.DataFrame:
    """embarked determines town, town determines deck; fare is independent."""
    rng = np.random.default_rng(1)
    n = 3_000
    embarked = rng.choice(list(TOWNS), n, p=[0.7, 0.2, 0.1]).astype(object)
    embarked[5] = RARE
    town = np.array([TOWNS.get(e, "Elsewhere") for e in embarked], dtype=object)
    deck = np.array([DECKS.get(t, "none") for t in town], dtype=object)
    fare = np.round(rng.lognormal(3, 0.6, n), 2)
    return pd.DataFrame({"embarked": embarked, "town": town, "deck": deck, "fare": fare})


CHAIN = [  # declared child first: the fit derives sources first
    {"type": "determines", "source": "town", "target": "deck"},
    {"type": "determines", "source": "embarked", "target": "town"},
]


@pytest.fixture(scope="module")
def model(ports) -> TVAE:
    return TVAE(epsilon=3.0, epochs=2, random_state=0, embedding_dim=16,
                compress_dims=(32,), decompress_dims=(32,)).fit(
        ports, ["embarked", "town", "deck"], metadata={"columns": {}, "dependencies": CHAIN}
    )  # fmt: skip


def _kept(rows: pd.DataFrame) -> bool:
    towns = rows["embarked"].map(TOWNS)
    return bool((rows["town"] == towns).all() and (rows["deck"] == rows["town"].map(DECKS)).all())


def test_a_declared_determination_holds_in_every_sampled_row(model, tmp_path):
    rows = model.sample(2_000, random_state=1)
    assert set(rows["embarked"]) <= {"S", "C", "Q", "(other)"}
    assert _kept(rows[rows["embarked"] != "(other)"])
    model.save(tmp_path / "m.tvae")
    assert _kept(
        load(tmp_path / "m.tvae").sample(500, random_state=2).query("embarked != '(other)'")
    )
    history = [item["label"] for item in model.privacy_["accountant"]["history"]]
    assert "mapping:embarked->town" in history and "mapping:town->deck" in history
    assert model.privacy_["epsilon"] <= 3.0
    assert {"type": "determines", "source": "embarked", "target": "town"} in (
        model.metadata_.dependencies
    )


def test_the_mapping_names_only_released_values(model, tmp_path):
    model.save(tmp_path / "m.tvae")
    assert RARE.encode() not in (tmp_path / "m.tvae").read_bytes()
    mapping = model.transformer_.dependencies.determinations
    keys = {key for item in mapping for key in item.keys}
    assert RARE not in keys and "Elsewhere" not in keys


def test_conditions_on_a_derived_column_ask_its_parent(model):
    rows = model.sample(100, conditions={"town": "Cherbourg"}, random_state=0)
    assert (rows["embarked"] == "C").all() and (rows["deck"] == "high").all()
    with pytest.raises(ConditionError):
        model.sample(10, conditions={"town": "Atlantis"})


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"type": "determines", "source": "fare", "target": "town"}], "'fare' is numerical"),
        ([{"type": "determines", "source": "town", "target": "nowhere"}], "not valid"),
        ([{"type": "determines", "source": "town", "target": "town"}], "two different"),
        ([{"type": "order", "low": "town", "high": "deck"}], "numerical or datetime"),
        (
            [{"type": "determines", "source": "town", "target": "deck"},
             {"type": "determines", "source": "embarked", "target": "deck"}],
            "more than one determining column",
        ),
        (
            [{"type": "determines", "source": "town", "target": "deck"},
             {"type": "determines", "source": "deck", "target": "town"}],
            "cycle",
        ),
    ],
)  # fmt: skip
def test_dependencies_that_cannot_be_kept_are_refused_before_any_work(ports, items, message):
    kinds = {"embarked": "categorical", "town": "categorical", "deck": "categorical",
             "fare": "numerical"}  # fmt: skip
    with pytest.raises(InvalidParameterError, match=message):
        split_declared(items, kinds)
    model = TVAE(epsilon=1.0)
    with pytest.raises(InvalidParameterError, match=message):
        model.fit(
            ports, ["embarked", "town", "deck"], metadata={"columns": {}, "dependencies": items}
        )
    assert not hasattr(model, "decoder_")


def test_sources_are_derived_first():
    kinds = dict.fromkeys("abcd", "categorical")
    items = [{"type": "determines", "source": s, "target": t} for s, t in ("cd", "bc", "ab")]
    _, pairs, *_ = split_declared(items, kinds)
    assert pairs == [("a", "b"), ("b", "c"), ("c", "d")]
