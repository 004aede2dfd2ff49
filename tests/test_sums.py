"""Columns that are the exact sum of two others (tvae.transformer.sums): found, kept in every
sampled row (conditioned rows included), declared, saved, and kept under epsilon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tvae import TVAE
from tvae.cli import app
from tvae.errors import ConditionError, InvalidParameterError
from tvae.serialization import inspect_model
from tvae.transformer.sums import find_sums

SUMS = [
    {"type": "sum", "columns": ["sober", "drinks"], "column": "n"},
    {"type": "sum", "columns": ["price", "tax"], "column": "total"},
]


def _table(n_rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Counts and their total (DrinksWages: n = sober + drinks), and amounts on a cent grid
    and theirs (total = price + tax, where 0.1 + 0.2 is not 0.3 in floats)."""
    rng = np.random.default_rng(seed)
    sober, drinks = rng.poisson(20, n_rows), rng.poisson(8, n_rows)
    price = np.round(rng.gamma(2.0, 10.0, n_rows), 2)
    tax = np.round(price * 0.2 + rng.uniform(-1, 1, n_rows), 2)
    return pd.DataFrame({
        "trade": rng.choice(["baker", "smith", "tailor"], n_rows),
        "sober": sober, "drinks": drinks, "n": sober + drinks,
        "price": price, "tax": tax, "total": np.round(price + tax, 2),
    })  # fmt: skip


def _kept(rows: pd.DataFrame) -> tuple[float, float]:
    counts = (rows["sober"] + rows["drinks"] == rows["n"]).mean()
    amounts = np.isclose(rows["price"] + rows["tax"], rows["total"], rtol=0, atol=1e-9).mean()
    return float(counts), float(amounts)


@pytest.fixture(scope="module")
def model() -> TVAE:
    return TVAE(epochs=5, random_state=0).fit(_table())


def test_sums_are_found_and_hold_in_every_sampled_row(model):
    table = _table()
    assert [d for d in model.metadata_.dependencies if d["type"] == "sum"] == SUMS
    # a part below its total is implied by the sum: not listed as an order besides it
    orders = [d for d in model.metadata_.dependencies if d["type"] == "order"]
    assert not [d for d in orders if d["high"] in ("n", "total")]
    # modelled on their own (epochs=5), a total and its parts disagree in most rows
    loose = TVAE(epochs=5, random_state=0).fit(table, metadata={"columns": {}, "dependencies": []})
    assert max(_kept(loose.sample(500, random_state=1))) < 0.5
    rows = model.sample(2000, random_state=1)
    assert _kept(rows) == (1.0, 1.0)
    assert rows.dtypes.equals(table.dtypes)
    assert (rows["total"] == rows["total"].round(2)).all()  # on the cent grid, no float noise
    for total in ("n", "total"):  # a total stays within its real range: its parts follow
        assert rows[total].between(table[total].min(), table[total].max()).all()


def test_conditions_on_a_total_or_a_part_keep_the_sum(model):
    rows = model.sample(200, conditions={"n": 30}, random_state=1)
    assert (rows["n"] == 30).all() and _kept(rows) == (1.0, 1.0)
    # the parts stay within their real ranges where the total allows it: none negative
    assert (rows[["sober", "drinks"]] >= 0).all().all()
    rows = model.sample(200, conditions={"drinks": 3}, random_state=1)
    assert (rows["drinks"] == 3).all() and _kept(rows) == (1.0, 1.0)
    rows = model.sample(200, conditions={"total": (40.0, 60.0)}, random_state=1)
    assert rows["total"].between(40.0, 60.0).all() and _kept(rows) == (1.0, 1.0)
    asked = pd.DataFrame({"n": [25, None, 40], "sober": [None, 12, None]})
    rows = model.sample(conditions=asked, random_state=1)
    assert rows["n"].tolist()[::2] == [25, 40] and rows["sober"].iloc[1] == 12
    assert _kept(rows) == (1.0, 1.0)
    with pytest.raises(ConditionError, match="'n' is the sum of the others"):
        model.sample(10, conditions={"n": 30, "sober": 10, "drinks": 5})


def test_missing_parts_leave_the_total_missing():
    table = _table()
    table.loc[::7, "tax"] = np.nan
    table["total"] = table["price"] + table["tax"]
    fitted = TVAE(epochs=3, random_state=0).fit(table)
    assert {"type": "sum", "columns": ["price", "tax"], "column": "total"} in (
        fitted.metadata_.dependencies
    )
    rows = fitted.sample(1000, random_state=2)
    assert rows["tax"].isna().any()
    assert (rows["total"].isna() == rows["tax"].isna()).all()
    present = rows.dropna()
    assert np.allclose(present["price"] + present["tax"], present["total"], rtol=0, atol=1e-9)


def test_declared_sums_are_checked_and_kept():
    table = _table()
    declared = {"columns": {}, "dependencies": SUMS[:1]}
    fitted = TVAE(epochs=3, random_state=0).fit(table, metadata=declared)
    assert fitted.metadata_.dependencies == SUMS[:1]
    assert _kept(fitted.sample(500, random_state=1))[0] == 1.0
    wrong = {"type": "sum", "columns": ["sober", "tax"], "column": "n"}
    with pytest.raises(InvalidParameterError, match="'n' = 'sober' \\+ 'tax', but train_data"):
        TVAE(epochs=1).fit(table, metadata={"columns": {}, "dependencies": [wrong]})
    for bad, message in [
        ({"type": "sum", "columns": ["sober"], "column": "n"}, "is not valid"),
        ({"type": "sum", "columns": ["sober", "drinks"], "column": "nope"}, "unknown: \\['nope'"),
        ({"type": "sum", "columns": ["sober", "trade"], "column": "n"}, "needs numerical"),
    ]:
        with pytest.raises(InvalidParameterError, match=message):
            TVAE(epochs=1).fit(table, metadata={"columns": {}, "dependencies": [bad]})


def test_sums_survive_save_and_load_and_show_in_inspect(model, tmp_path):
    path = tmp_path / "sums.tvae"
    model.save(path)
    loaded = TVAE.load(path)
    assert loaded.metadata_.dependencies == model.metadata_.dependencies
    pd.testing.assert_frame_equal(
        loaded.sample(300, random_state=4), model.sample(300, random_state=4)
    )
    assert inspect_model(path)["dependencies"] == model.metadata_.dependencies
    shown = CliRunner().invoke(app, ["inspect", str(path)])
    assert shown.exit_code == 0 and "n = sober + drinks, total = price + tax" in shown.stdout


def test_no_sum_is_found_where_none_holds():
    rng = np.random.default_rng(3)
    table = pd.DataFrame(rng.integers(0, 4, (500, 6)), columns=list("abcdef"))
    assert find_sums(table, dict.fromkeys(table.columns, "numerical")) == []
    nearly = _table()
    nearly.loc[5, "n"] += 1  # one row off: not a sum
    kinds = dict.fromkeys(nearly.columns, "numerical") | {"trade": "categorical"}
    assert [s.column for s in find_sums(nearly, kinds)] == ["total"]


def test_a_declared_sum_is_kept_under_epsilon_without_reading_the_rows():
    table = _table(400)
    declared = {"columns": {}, "dependencies": SUMS[:1]}
    fitted = TVAE(epochs=2, epsilon=10.0, random_state=0).fit(table, metadata=declared)
    assert fitted.metadata_.dependencies == SUMS[:1]
    assert _kept(fitted.sample(500, random_state=1))[0] == 1.0
    bad = {"type": "sum", "columns": ["sober", "trade"], "column": "n"}
    with pytest.raises(InvalidParameterError, match="needs numerical columns"):
        TVAE(epsilon=1.0).fit(table, metadata={"columns": {}, "dependencies": [bad]})


VOTES = ["gore", "bush", "nader", "other"]


def _votes(n_rows: int = 300, seed: int = 1) -> pd.DataFrame:
    """Four candidates' votes and their total (Florida's Total), the registered voters, never
    fewer than the votes cast (an order on the total with a column outside the sum), and a
    count never above one candidate's (an order on a part)."""
    rng = np.random.default_rng(seed)
    votes = {name: rng.poisson(rate, n_rows) for name, rate in
             zip(VOTES, (400, 380, 30, 8), strict=True)}  # fmt: skip
    frame = pd.DataFrame(votes)
    frame["total"] = frame.sum(axis=1)
    frame["registered"] = frame["total"] + rng.integers(0, 400, n_rows)
    frame["nader_floor"] = np.maximum(frame["nader"] - rng.integers(0, 4, n_rows), 0)
    return frame


@pytest.fixture(scope="module")
def votes_model() -> TVAE:
    return TVAE(epochs=5, random_state=0).fit(_votes())


def test_a_total_of_many_parts_holds_beside_an_order_on_it(votes_model):
    fitted = votes_model
    listed = fitted.metadata_.dependencies
    assert {"type": "sum", "columns": ["gore", "bush", "nader", "other"], "column": "total"} in (
        listed
    )
    assert {"type": "order", "low": "total", "high": "registered"} in listed
    rows = fitted.sample(2000, random_state=1)
    parts = VOTES
    assert (rows[parts].sum(axis=1) == rows["total"]).all()
    assert (rows["total"] <= rows["registered"]).all()
    held = fitted.sample(300, conditions={"total": 800}, random_state=2)
    assert (held["total"] == 800).all() and (held[parts].sum(axis=1) == 800).all()
    assert (held[parts] >= 0).all().all() and (held["registered"] >= 800).all()
    with pytest.raises(ConditionError, match="'total' is the sum of the others"):
        fitted.sample(5, conditions={"gore": 1, "bush": 1, "nader": 1, "other": 1, "total": 5})


def test_an_order_on_a_total_moves_its_parts_together(votes_model):
    """A total that an order puts below an asked column is lowered, its parts scaled together
    (before, neither side of ``total <= registered`` moved: 96 % of rows broke it); an asked
    total scales its parts, and an order on a part moves its other side (before, the sum moved
    the part back: ``nader_floor <= nader`` broke in all but 1 % of rows)."""
    table = _votes()
    listed = votes_model.metadata_.dependencies
    assert {"type": "order", "low": "nader_floor", "high": "nader"} in listed
    shares = {p: (table[p] / table["total"]).median() for p in ("nader", "other")}
    lowest = int(table["registered"].min())  # below most totals the model draws
    for conditions in ({"registered": lowest}, {"total": 760}, {"total": (740, 770)}):
        rows = votes_model.sample(300, conditions=conditions, random_state=2)
        assert (rows[VOTES].sum(axis=1) == rows["total"]).all()
        assert (rows["total"] <= rows["registered"]).all()
        assert (rows["nader_floor"] <= rows["nader"]).all()
        for part, share in shares.items():  # each part keeps its share of the total
            assert abs((rows[part] / rows["total"]).median() - share) < 0.25 * share, part
    assert (rows["total"].between(740, 770)).all()


def test_sums_in_nullable_integers_and_float32_are_found_and_kept():
    rng = np.random.default_rng(5)
    table = pd.DataFrame({
        "a": pd.array(rng.integers(0, 50, 300), dtype="Int64"),
        "b": pd.array(rng.integers(0, 50, 300), dtype="Int64"),
        "x": rng.normal(size=300).astype("float32"),
        "y": (rng.normal(size=300) * 3).astype("float32"),
    })  # fmt: skip
    table.loc[::10, "b"] = pd.NA
    table["c"] = table["a"] + table["b"]  # missing where b is
    table["z"] = table["x"] + table["y"]  # added in float32: not exact in float64
    fitted = TVAE(epochs=3, random_state=0).fit(table)
    sums = [d for d in fitted.metadata_.dependencies if d["type"] == "sum"]
    assert [(d["columns"], d["column"]) for d in sums] == [(["a", "b"], "c"), (["x", "y"], "z")]
    rows = fitted.sample(500, random_state=1)
    assert rows.dtypes.equals(table.dtypes)
    assert (rows["c"].isna() == rows["b"].isna()).all() and rows["b"].isna().any()
    assert (rows["a"] + rows["b"] == rows["c"]).dropna().all()
    assert np.allclose(rows["x"] + rows["y"], rows["z"], rtol=1e-6, atol=1e-7)


def test_sums_among_sparse_indicators_are_found():
    """Indicators that are 0 in most rows add up in any three of their first rows: the search
    screens on the rows that tell them apart instead (and stays quick: 120 such columns of
    50,000 rows took 176 s on the first rows)."""
    rng = np.random.default_rng(7)
    table = pd.DataFrame((rng.random((5000, 40)) < 0.01).astype(int))
    table.columns = [f"flag{i}" for i in range(40)]
    table["three"] = table["flag0"] + table["flag1"] + table["flag2"]
    table["two"] = table["flag3"] + table["flag4"]
    found = find_sums(table, dict.fromkeys(table.columns, "numerical"))
    assert [(s.column, s.parts) for s in found] == [
        ("three", ("flag0", "flag1", "flag2")),
        ("two", ("flag3", "flag4")),
    ]


def _questionnaire(n_rows: int = 400, seed: int = 2) -> pd.DataFrame:
    """Five items scored 0-3 (a few answers missing) and their scale score, which was not
    computed in 15 % of the rows even where every item was answered (R's msq: NegAff)."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame(rng.integers(0, 4, (n_rows, 5)), columns=[f"q{i}" for i in range(5)])
    items = items.astype("float64")
    items.iloc[rng.choice(n_rows, 12, replace=False), 1] = np.nan
    frame = items.assign(group=rng.choice(["a", "b"], n_rows), age=rng.integers(18, 70, n_rows))
    frame["score"] = items.sum(axis=1, skipna=False)
    frame.loc[rng.random(n_rows) < 0.15, "score"] = np.nan
    return frame


def test_a_score_missing_where_its_items_are_answered_is_found_and_kept():
    table = _questionnaire()
    found = find_sums(table, dict.fromkeys(table.columns, "numerical") | {"group": "categorical"})
    assert [(s.column, s.parts, s.missing_alone) for s in found] == [
        ("score", ("q0", "q1", "q2", "q3", "q4"), True)
    ]
    fitted = TVAE(epochs=3, random_state=0).fit(table)
    items = [f"q{i}" for i in range(5)]
    assert {"type": "sum", "columns": items, "column": "score"} in fitted.metadata_.dependencies
    rows = fitted.sample(2000, random_state=1)
    answered = rows[items].notna().all(axis=1)
    scored = rows["score"].notna()
    assert not (scored & ~answered).any()  # a score only where every item is answered
    assert (answered & ~scored).mean() > 0.05  # and left out in some rows, as in the real ones
    assert (rows.loc[scored, items].sum(axis=1) == rows.loc[scored, "score"]).all()
    # declared, the same sum is accepted (a missing score is not a broken sum)
    declared = [{"type": "sum", "columns": items, "column": "score"}]
    TVAE(epochs=1, random_state=0).fit(table, metadata={"columns": {}, "dependencies": declared})
    # before: the search skipped columns with missing cells, and a score missing on its own
    strict = table.assign(score=table[items].sum(axis=1, skipna=False))
    found = find_sums(strict, dict.fromkeys(strict.columns, "numerical") | {"group": "categorical"})
    assert [(s.column, s.missing_alone) for s in found] == [("score", False)]


def test_a_total_among_complete_columns_is_found_beside_many_sparse_ones():
    """Twenty columns, each missing in a fifth of the rows, leave too few rows holding every
    column for a least-squares search over all: the columns without a missing cell are
    searched then, as before missing cells were allowed."""
    rng = np.random.default_rng(4)
    n_rows = 300
    parts = pd.DataFrame(rng.integers(0, 9, (n_rows, 3)), columns=["a", "b", "c"])
    sparse = pd.DataFrame(rng.normal(size=(n_rows, 20)), columns=[f"s{i}" for i in range(20)])
    sparse = sparse.mask(rng.random(sparse.shape) < 0.2)
    table = pd.concat([parts.assign(total=parts.sum(axis=1)), sparse], axis=1)
    found = find_sums(table, dict.fromkeys(table.columns, "numerical"))
    assert [(s.column, s.parts) for s in found] == [("total", ("a", "b", "c"))]
