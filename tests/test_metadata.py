"""Column-kind detection, the Metadata object, and overriding it through ``fit``."""

import json

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE, InvalidDataError, InvalidParameterError
from tvae.kinds import Metadata, detect_metadata


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "PassengerId": np.arange(n),
            "code": [f"K-{i:05d}" for i in range(n)],
            "token": [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(n)],
            "score": rng.normal(size=n),
            "n_children": rng.integers(0, 4, n),  # few distinct integers: still numerical
            "unique_int": rng.permutation(n),  # unique, but no key-like name: numerical
            "flag": rng.random(n) < 0.5,
            "flag_gaps": pd.Series(
                np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.5), dtype=object
            ),
            "nullable_flag": pd.array([True, None] * (n // 2), dtype="boolean"),
            "when": pd.date_range("2020-01-01", periods=n, freq="D"),
            "when_tz": pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC"),
            "day_text": pd.date_range("2021-05-01", periods=n, freq="D").strftime("%d/%m/%Y"),
            "number_text": [str(i % 7) for i in range(n)],  # digits as text are not dates
            "colour": rng.choice(["red", "blue"], n),
            "size": pd.Categorical(rng.choice(["S", "M"], n)),
            "mixed": [1, "a"] * (n // 2),
            "empty": np.nan,
        }
    )


EXPECTED = {
    "customer_id": "id",
    "PassengerId": "id",
    "code": "id",
    "token": "id",
    "score": "numerical",
    "n_children": "numerical",
    "unique_int": "numerical",
    "flag": "boolean",
    "flag_gaps": "boolean",
    "nullable_flag": "boolean",
    "when": "datetime",
    "when_tz": "datetime",
    "day_text": "datetime",
    "number_text": "categorical",
    "colour": "categorical",
    "size": "categorical",
    "mixed": "categorical",
    "empty": "numerical",
}


def test_detection_rules(table):
    assert dict(detect_metadata(table)) == EXPECTED


def test_discrete_columns_win_over_detection(table):
    detected = detect_metadata(table, discrete_columns=["n_children", "customer_id"])
    assert detected["n_children"] == "categorical"
    assert detected["customer_id"] == "categorical"


def test_tiny_tables_have_no_id_columns():
    frame = pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]})
    assert detect_metadata(frame)["id"] == "numerical"


def test_json_round_trip_keeps_column_name_types():
    metadata = Metadata({0: "numerical", "0": "categorical", "a b": "id", 1.5: "boolean"})
    text = json.dumps(metadata.to_dict())
    restored = Metadata.from_dict(json.loads(text))
    assert restored == metadata
    assert list(restored) == [0, "0", "a b", 1.5]


def test_from_dict_accepts_plain_mappings_and_aliases():
    assert Metadata.from_dict({"x": "continuous", "y": "discrete"}) == {
        "x": "numerical",
        "y": "categorical",
    }
    with pytest.raises(InvalidParameterError, match=r"'x'.*'text'"):
        Metadata.from_dict({"x": "text"})


def test_fit_exposes_and_saves_metadata(table, tmp_path):
    model = TVAE(epochs=1, random_state=0).fit(table)
    assert dict(model.metadata_) == EXPECTED
    model.save(tmp_path / "m.tvae")
    assert TVAE.load(tmp_path / "m.tvae").metadata_ == model.metadata_


def test_metadata_argument_overrides_detection(table):
    model = TVAE(epochs=1, random_state=0).fit(
        table, metadata={"n_children": "categorical", "customer_id": "numerical"}
    )
    assert model.metadata_["n_children"] == "categorical"
    assert model.metadata_["customer_id"] == "numerical"
    assert model.metadata_["colour"] == "categorical"  # others still detected
    synthetic = model.sample(50)
    assert set(synthetic["n_children"]) <= set(table["n_children"])
    # A fitted model's metadata can be fed back as is.
    again = TVAE(epochs=1, random_state=0).fit(table, metadata=model.metadata_)
    assert again.metadata_ == model.metadata_


def test_metadata_errors_name_the_column(table):
    with pytest.raises(InvalidDataError, match="'nope'"):
        TVAE(epochs=1).fit(table, metadata={"nope": "numerical"})
    with pytest.raises(InvalidParameterError, match="'colour'"):
        TVAE(epochs=1).fit(table, metadata={"colour": "float"})
    with pytest.raises(InvalidParameterError, match="discrete_columns"):
        TVAE(epochs=1).fit(table, ["score"], metadata={"score": "numerical"})
    with pytest.raises(InvalidDataError, match=r"'colour'.*numerical"):
        TVAE(epochs=1).fit(table, metadata={"colour": "numerical"})
    with pytest.raises(InvalidDataError, match=r"'colour'.*datetime"):
        TVAE(epochs=1).fit(table, metadata={"colour": "datetime"})
    with pytest.raises(InvalidDataError, match=r"'colour'.*boolean"):
        TVAE(epochs=1).fit(table, metadata={"colour": "boolean"})
    # five numbers declared boolean were modelled as categories, the metadata saying boolean
    with pytest.raises(InvalidDataError, match=r"'n_children'.*boolean.*values.*categorical"):
        TVAE(epochs=1).fit(table, metadata={"n_children": "boolean"})


def test_dependencies_may_sit_beside_plain_column_kinds(table):
    # {"dependencies": [...]} was read as a column named "dependencies" of kind [...]
    order = {"type": "order", "low": "score", "high": "unique_int"}
    plain = Metadata.from_dict({"colour": "categorical", "dependencies": [order]})
    assert dict(plain) == {"colour": "categorical"} and plain.dependencies == [order]
    model = TVAE(epochs=1, random_state=0).fit(table, metadata={"dependencies": []})
    assert model.metadata_.dependencies == [] and dict(model.metadata_) == EXPECTED
