"""Real-world columns through fit -> sample: every kind, with and without missing values.

Each case builds one messy column (plus a numeric companion) in code, fits a tiny model with
no hints and checks what a downstream pipeline relies on: the detected kind, the dtype, the
range/precision/values, and that missing cells come back (or not) with the real marker.
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE, InvalidDataError, InvalidDataTypeError, InvalidParameterError
from tvae.transformer import TableTransformer
from tvae.transformer.wide import MAX_CATEGORIES

N_ROWS = 200
SMALL = {"embedding_dim": 16, "compress_dims": (32,), "decompress_dims": (32,)}  # fast fits
MISSING_RATE = 0.3


def _gaps(values, rng: np.random.Generator, marker):
    """``values`` (a list/array) with about 30 % of cells replaced by ``marker``."""
    out = np.asarray(values, dtype=object).copy()
    out[rng.random(len(out)) < MISSING_RATE] = marker
    return out


def make_column(case: str, missing: bool, rng: np.random.Generator) -> pd.Series:
    n = N_ROWS
    days = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    if case == "float":
        values = rng.normal(50, 10, n).round(2)
        return pd.Series(_gaps(values, rng, np.nan) if missing else values, dtype="float64")
    if case == "int64":
        return pd.Series(rng.integers(-5, 100, n), dtype="int64")
    if case == "uint8":
        return pd.Series(rng.integers(3, 200, n), dtype="uint8")
    if case == "Int64":
        values = rng.integers(0, 50, n)
        return pd.Series(_gaps(values, rng, pd.NA) if missing else values, dtype="Int64")
    if case == "bool":
        return pd.Series(rng.random(n) < 0.3)
    if case == "boolean":
        values = rng.random(n) < 0.3
        return pd.Series(_gaps(values, rng, pd.NA) if missing else values, dtype="boolean")
    if case == "object_bool":
        values = _gaps(rng.random(n) < 0.6, rng, None if missing else True)
        return pd.Series(values if missing else values.astype(bool), dtype=object)
    if case == "datetime":
        values = days.to_numpy()
        return pd.Series(_gaps(values, rng, pd.NaT) if missing else values, dtype="datetime64[ns]")
    if case == "datetime_tz":
        stamps = pd.Series(days + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"))
        stamps = stamps.dt.tz_localize("America/New_York")
        return stamps.where(rng.random(n) >= MISSING_RATE) if missing else stamps
    if case == "date_text":
        values = days.strftime("%Y-%m-%d").to_numpy(dtype=object)
        return pd.Series(_gaps(values, rng, None) if missing else values, dtype=object)
    if case == "py_date":
        values = np.array(list(days.date), dtype=object)
        return pd.Series(_gaps(values, rng, None) if missing else values, dtype=object)
    if case == "text":
        values = rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]).astype(object)
        return pd.Series(_gaps(values, rng, None) if missing else values, dtype=object)
    if case == "category":
        values = rng.choice(["S", "M", "L"], n).astype(object)
        values = _gaps(values, rng, np.nan) if missing else values
        return pd.Series(pd.Categorical(values, categories=["S", "M", "L", "XL"]))
    if case == "wide":
        values = np.array([f"name {i}" for i in rng.zipf(1.3, n) % 5000], dtype=object)
        return pd.Series(_gaps(values, rng, None) if missing else values, dtype=object)
    if case == "int_id":
        return pd.Series(rng.permutation(n) + 10_000, dtype="int64")
    if case == "text_id":
        return pd.Series([f"CUST-{i:07d}" for i in rng.permutation(n)], dtype=object)
    raise ValueError(case)


KIND = {
    "float": "numerical", "int64": "numerical", "uint8": "numerical", "Int64": "numerical",
    "bool": "boolean", "boolean": "boolean", "object_bool": "boolean",
    "datetime": "datetime", "datetime_tz": "datetime", "date_text": "datetime",
    "py_date": "datetime",
    "text": "categorical", "category": "categorical", "wide": "categorical",
    "int_id": "id", "text_id": "id",
}  # fmt: skip
CAN_BE_MISSING = {"float", "Int64", "boolean", "object_bool", "datetime", "datetime_tz",
                  "date_text", "py_date", "text", "category", "wide"}  # fmt: skip
CASES = [(case, False) for case in KIND] + [(case, True) for case in sorted(CAN_BE_MISSING)]


def fit_and_sample(column: pd.Series, name: str, **params) -> tuple[TVAE, pd.DataFrame]:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({name: column, "companion": rng.choice(["u", "v"], len(column))})
    settings = {"epochs": 2, "batch_size": 100, "random_state": 0, **SMALL, **params}
    model = TVAE(**settings).fit(frame)
    return model, model.sample(400)


@pytest.mark.parametrize(("case", "missing"), CASES)
def test_every_kind_round_trips_through_fit_and_sample(case, missing):
    name = "customer_id" if case.endswith("_id") else f"col {case}"
    real = make_column(case, missing, np.random.default_rng(0))
    model, synthetic = fit_and_sample(real, name)
    fake = synthetic[name]
    assert model.metadata_[name] == KIND[case]
    assert fake.dtype == real.dtype
    assert len(fake) == 400
    present = fake.dropna()
    if missing:
        assert 0 < fake.isna().mean() < 0.9  # missing cells are generated, not imputed
        _check_missing_marker(real, fake)
    else:
        assert not fake.isna().any()
    kind = KIND[case]
    if kind in ("numerical", "datetime"):
        observed = real.dropna()
        values = present
        if case in ("date_text", "py_date"):
            observed, values = pd.to_datetime(observed), pd.to_datetime(present)
        assert values.min() >= observed.min() and values.max() <= observed.max()
    if kind == "numerical":
        decimals = 2 if case == "float" else 0
        np.testing.assert_allclose(present.to_numpy(float), present.to_numpy(float).round(decimals))
    if kind in ("boolean", "categorical"):
        assert set(present) <= set(real.dropna())
    if case == "datetime":
        assert (present.dt.normalize() == present).all()  # day precision kept
    if case == "py_date":
        assert all(type(v) is datetime.date for v in present)
    if case == "date_text":
        assert present.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    if case == "category":
        assert list(fake.cat.categories) == ["S", "M", "L", "XL"]
    if kind == "id":
        assert fake.is_unique and not fake.isin(real).any()


def _check_missing_marker(real: pd.Series, fake: pd.Series) -> None:
    """Object columns reuse their own missing marker (None stays None)."""
    if real.dtype == object:
        real_marker = real[real.isna()].iloc[0]
        fake_markers = {type(v) for v in fake[fake.isna()]}
        assert fake_markers == {type(real_marker)}


def test_id_columns_keep_their_format():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "order_id": [f"ORD{i:06d}" for i in range(100)],
            "user_id": np.arange(500, 600),
            "x": rng.normal(size=100),
        }
    )
    model = TVAE(epochs=1, random_state=0, **SMALL).fit(frame)
    fake = model.sample(50)
    assert fake["order_id"].str.fullmatch(r"ORD\d{6}").all()
    assert fake["user_id"].min() > frame["user_id"].max()
    assert fake["user_id"].dtype == np.int64
    assert {s.column for s in model.layout_.spans} == {"x"}  # IDs take no place in the row


def test_wide_categorical_has_bounded_width_and_keeps_rare_values():
    rng = np.random.default_rng(0)
    n = 1500
    names = np.array([f"person-{i}" for i in rng.integers(0, 1200, n)], dtype=object)
    frame = pd.DataFrame({"name": names, "x": rng.normal(size=n)})
    model = TVAE(epochs=1, random_state=0, **SMALL).fit(frame)
    (span,) = [s for s in model.layout_.spans if s.column == "name"]
    assert span.width == MAX_CATEGORIES + 1
    fake = model.sample(2000)["name"]
    assert set(fake) <= set(names)
    assert fake.nunique() > MAX_CATEGORIES  # the rare bucket is redrawn from the rare values
    pd.testing.assert_series_equal(
        model.sample(30, random_state=4)["name"], model.sample(30, random_state=4)["name"]
    )


def test_missing_rate_is_learned():
    rng = np.random.default_rng(0)
    n = 600
    income = rng.lognormal(10, 0.5, n).round(0)
    has_job = rng.random(n) < 0.5
    income[~has_job] = np.nan  # missing exactly when there is no job: a joint pattern
    frame = pd.DataFrame({"income": income, "has_job": has_job})
    model = TVAE(epochs=40, batch_size=100, random_state=0).fit(frame)
    fake = model.sample(2000)
    assert abs(fake["income"].isna().mean() - 0.5) < 0.1
    agreement = (fake["income"].isna() == ~fake["has_job"]).mean()
    assert agreement > 0.7  # learned jointly with has_job (independent flags would give 0.5)


def test_missing_flags_round_trip_exactly_through_the_transformer():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": np.where(rng.random(300) < 0.3, np.nan, rng.normal(size=300).round(3)),
            "t": pd.Series(pd.date_range("2020", periods=300, freq="min")).where(
                rng.random(300) > 0.2
            ),
        }
    )
    transformer = TableTransformer().fit(
        frame, {"x": "numerical", "t": "datetime"}, np.random.default_rng(0)
    )
    assert [s.width for s in transformer.layout.spans if s.kind == "softmax"][-1] == 2
    encoded = transformer.transform(frame, np.random.default_rng(1))
    restored = transformer.inverse_transform(encoded.alphas, encoded.codes)
    pd.testing.assert_series_equal(restored["x"].isna(), frame["x"].isna())
    pd.testing.assert_series_equal(restored["t"].isna(), frame["t"].isna())
    clone = TableTransformer.from_state(transformer.get_state())
    pd.testing.assert_frame_equal(clone.inverse_transform(encoded.alphas, encoded.codes), restored)


@pytest.mark.parametrize("enforce", [True, False])
def test_enforce_min_max_values(enforce):
    frame = pd.DataFrame({"x": np.linspace(0.0, 1.0, 50)})
    transformer = TableTransformer(enforce_min_max_values=enforce).fit(
        frame, {"x": "numerical"}, np.random.default_rng(0)
    )
    encoded = transformer.transform(frame, np.random.default_rng(0))
    extreme = np.where(encoded.alphas >= 0, 1.0, -1.0).astype(np.float32)  # tanh saturated
    values = transformer.inverse_transform(extreme, encoded.codes)["x"]
    inside = values.between(0.0, 1.0).all()
    assert inside if enforce else not inside


def test_all_missing_columns_stay_missing():
    frame = pd.DataFrame(
        {
            "x": np.arange(30.0),
            "empty_float": np.nan,
            "empty_object": pd.Series([None] * 30, dtype=object),
            "empty_time": pd.Series([pd.NaT] * 30, dtype="datetime64[ns]"),
            "empty_int": pd.array([pd.NA] * 30, dtype="Int64"),
        }
    )
    fake = TVAE(epochs=1, random_state=0, **SMALL).fit(frame).sample(20)
    for name in frame.columns[1:]:
        assert fake[name].isna().all()
        assert fake[name].dtype == frame[name].dtype
    assert all(v is None for v in fake["empty_object"])


def test_column_names_of_any_type():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({0: rng.normal(size=40), "with space": rng.choice(["a", "b"], 40),
                          2.5: rng.integers(0, 3, 40)})  # fmt: skip
    fake = TVAE(epochs=1, random_state=0, **SMALL).fit(frame).sample(10)
    assert list(fake.columns) == [0, "with space", 2.5]


def test_pyarrow_tables_are_accepted():
    pa = pytest.importorskip("pyarrow")
    rng = np.random.default_rng(0)
    n = 60
    table = pa.table(
        {
            "n": pa.array([None if i % 5 == 0 else int(i) for i in range(n)], pa.int64()),
            "flag": pa.array([None if i % 7 == 0 else bool(i % 2) for i in range(n)]),
            "label": pa.array(rng.choice(["a", "b"], n).tolist()),
            "day": pa.array(pd.date_range("2021-01-01", periods=n).date, pa.date32()),
        }
    )
    model = TVAE(epochs=1, random_state=0, **SMALL).fit(table)
    assert dict(model.metadata_) == {
        "n": "numerical", "flag": "boolean", "label": "categorical", "day": "datetime"
    }  # fmt: skip
    out = model.sample(30)  # the kind of object fit received
    assert isinstance(out, pa.Table)
    assert out.num_rows == 30
    assert out.schema.equals(table.schema)


def test_polars_frames_are_accepted():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {
            "x": [1, None, 3] * 10,
            "day": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, 30), eager=True),
            "c": ["a", "b", None] * 10,
            "flag": [True, None, False] * 10,
        }
    )
    model = TVAE(epochs=1, random_state=0, **SMALL).fit(frame)
    assert dict(model.metadata_) == {
        "x": "numerical", "day": "datetime", "c": "categorical", "flag": "boolean"
    }  # fmt: skip
    out = model.sample(10)  # the kind of object fit received
    assert isinstance(out, pl.DataFrame)
    assert out.schema == frame.schema


# ---------------------------------------------------------------- bad input, one test each
def test_nested_lists_are_rejected():
    frame = pd.DataFrame({"tags": [["a"], ["b", "c"]] * 10, "x": range(20)})
    with pytest.raises(InvalidDataTypeError, match=r"'tags'.*nested"):
        TVAE(epochs=1).fit(frame)


def test_nested_dicts_are_rejected_even_when_listed():
    frame = pd.DataFrame({"meta": [{"a": 1}, None] * 10, "x": range(20)})
    with pytest.raises(InvalidDataTypeError, match="'meta'"):
        TVAE(epochs=1).fit(frame, ["meta"])


def test_infinite_values_are_rejected_with_the_column_name():
    frame = pd.DataFrame({"x": [1.0, np.inf, 2.0, -np.inf] * 5, "y": range(20)})
    with pytest.raises(InvalidDataError, match=r"'x' has 10 infinite"):
        TVAE(epochs=1).fit(frame)


def trips(n: int = 600) -> pd.DataFrame:
    """Walks of 5-39 minutes and drives of 30-299, a tenth of the durations unknown."""
    rng = np.random.default_rng(0)
    kind = rng.choice(["walk", "drive"], n)
    minutes = np.where(kind == "walk", rng.integers(5, 40, n), rng.integers(30, 300, n))
    trip = pd.Series(pd.to_timedelta(minutes, unit="min")).astype("timedelta64[s]")
    trip[rng.random(n) < 0.1] = pd.NaT
    return pd.DataFrame({"kind": kind, "trip": trip, "x": rng.normal(0, 1, n)})


def test_durations_are_modelled_as_numbers_and_come_back_as_durations(tmp_path):
    """Until December 2026 a timedelta64 column was refused ("convert it to numbers")."""
    frame = trips()
    model = TVAE(epochs=5, random_state=0).fit(frame)
    assert model.metadata_["trip"] == "numerical"
    rows = model.sample(1_000, random_state=1)
    assert rows["trip"].dtype == frame["trip"].dtype  # timedelta64[s]
    minutes = rows["trip"].dropna().dt.total_seconds() / 60
    assert (minutes % 1 == 0).all()  # on the real durations' step: whole minutes
    assert minutes.min() >= 5 and minutes.max() <= 299
    assert 0.02 < rows["trip"].isna().mean() < 0.25
    asked = model.sample(50, conditions={"trip": pd.Timedelta("2h")}, random_state=0)
    assert (asked["trip"] == pd.Timedelta("2h")).all()
    ranged = model.sample(50, conditions={"trip": ("10 minutes", "20 minutes")}, random_state=0)
    assert ranged["trip"].between(pd.Timedelta("10min"), pd.Timedelta("20min")).all()
    path = tmp_path / "model.tvae"
    model.save(path)
    assert TVAE.load(path).sample(200, random_state=2).equals(model.sample(200, random_state=2))


def test_a_duration_column_is_scored_as_a_number():
    from tvae import evaluate

    frame = trips()
    shifted = frame.assign(trip=frame["trip"] + pd.Timedelta("1min"))
    as_text = frame.assign(trip=frame["trip"].astype(str).where(frame["trip"].notna()))
    for real, later in ((frame, shifted), (as_text, shifted.astype({"trip": str}))):
        shapes = evaluate(real, later).column_shapes.set_index("column")
        # a minute later is close as a number (KS), not as a label (0.63 read as categories)
        assert shapes.loc["trip", "metric"] == "KSComplement"
        assert shapes.loc["trip", "score"] > 0.9
    # efficacy reads durations as numbers (a missing one is no number): walks are short
    train, test = frame.iloc[:400], frame.iloc[400:]
    scored = evaluate(train, train, target="kind", holdout=test)
    assert scored.efficacy is not None and scored.efficacy["synthetic_score"] > 0.8


def test_durations_under_epsilon_ask_for_numbers():
    with pytest.raises(InvalidParameterError, match=r"'trip'.*total_seconds"):
        TVAE(epochs=1, epsilon=10).fit(trips())


def test_durations_as_python_timedeltas_or_iso_text_come_back_as_such():
    frame = trips().dropna()
    micros = frame["trip"].to_numpy(dtype="timedelta64[us]").astype(object)
    as_objects = frame.assign(trip=pd.Series(micros, index=frame.index, dtype=object))
    as_iso = frame.assign(trip=[span.isoformat() for span in frame["trip"]])
    for given, check in (
        (as_objects, lambda v: isinstance(v, datetime.timedelta)),
        (as_iso, lambda v: isinstance(v, str) and v.startswith("P0DT")),
    ):
        model = TVAE(epochs=3, random_state=0).fit(given)
        assert model.metadata_["trip"] == "numerical"
        rows = model.sample(300, random_state=0)
        assert rows["trip"].map(check).all()
        spans = pd.to_timedelta(rows["trip"])
        assert spans.between(pd.Timedelta("5min"), pd.Timedelta("299min")).all()
        assert (spans.dt.total_seconds() % 60 == 0).all()
    with pytest.raises(InvalidParameterError, match=r"'trip'.*total_seconds"):
        TVAE(epochs=1, epsilon=10).fit(as_iso)


def test_text_that_only_looks_like_durations_stays_categorical():
    frame = pd.DataFrame({"slot": ["0 days 01:00:00", "morning"] * 20, "x": range(40)})
    assert TVAE(epochs=1).fit(frame).metadata_["slot"] == "categorical"


def test_complex_numbers_are_rejected_with_the_column_name():
    frame = pd.DataFrame({"z": np.arange(20) * 1j, "y": range(20)})
    with pytest.raises(InvalidDataTypeError, match=r"'z'.*complex"):
        TVAE(epochs=1).fit(frame)


def test_duplicate_column_names_are_rejected():
    frame = pd.DataFrame(np.zeros((20, 2)), columns=["a", "a"])
    with pytest.raises(InvalidDataError, match=r"duplicate.*'a'"):
        TVAE(epochs=1).fit(frame)


def test_zero_rows_are_rejected():
    frame = pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=object)})
    with pytest.raises(InvalidDataError, match="no rows"):
        TVAE(epochs=1).fit(frame)


def test_unknown_hint_columns_are_named():
    frame = pd.DataFrame({"a": np.arange(20.0), "b": ["x", "y"] * 10})
    with pytest.raises(InvalidDataError, match="'c'"):
        TVAE(epochs=1).fit(frame, ["b", "c"])
    with pytest.raises(InvalidDataError, match="'c'"):
        TVAE(epochs=1).fit(frame, metadata={"c": "numerical"})


def test_a_table_of_only_ids_is_rejected():
    frame = pd.DataFrame({"id": np.arange(30), "key": [f"K{i:03d}" for i in range(30)]})
    with pytest.raises(InvalidDataError, match="nothing to learn"):
        TVAE(epochs=1).fit(frame)


def test_metadata_must_be_a_mapping():
    frame = pd.DataFrame({"a": np.arange(20.0)})
    with pytest.raises(InvalidDataTypeError, match="metadata"):
        TVAE(epochs=1).fit(frame, metadata=["a"])


def test_error_messages_do_not_start_training():
    """Bad input fails in well under a second: the checks run before any long work."""
    import time

    frame = pd.DataFrame({"x": [np.inf] * 5000, "y": np.arange(5000)})
    started = time.perf_counter()
    with pytest.raises(InvalidDataError):
        TVAE(epochs=300).fit(frame)
    assert time.perf_counter() - started < 5.0
