"""ID columns stay unique across everything one model object or one command generates."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.cli.parsing import conditional_chunks
from tvae.parquet_parts import sample_to_parquet

IDS = ["cid", "code", "token", "name"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    return pd.DataFrame(
        {
            "cid": np.arange(1000, 1000 + n),
            "code": [f"C{i:05d}" for i in range(n)],
            "token": [str(uuid.UUID(int=int(x), version=4)) for x in rng.integers(0, 2**62, n)],
            "name": [chr(97 + i % 26) + chr(97 + i // 26) for i in range(n)],
            "x": rng.normal(0, 1, n),
            "colour": rng.choice(["red", "blue"], n),
        }
    )


@pytest.fixture(scope="module")
def model(table) -> TVAE:
    kinds = dict.fromkeys(IDS, "id")
    return TVAE(epochs=1, batch_size=60, random_state=0).fit(table, metadata=kinds)


def _unique_and_new(frames: list[pd.DataFrame], table: pd.DataFrame) -> None:
    rows = pd.concat(frames, ignore_index=True)
    for name in IDS:
        assert rows[name].is_unique, name
        assert not rows[name].isin(table[name]).any(), name


def test_successive_calls_continue_the_numbering_reproducibly(model, table):
    model.set_random_state(0)
    first, second = model.sample(50), model.sample(70)
    assert first["cid"].tolist() == list(range(1120, 1170))
    assert second["cid"].tolist() == list(range(1170, 1240))
    assert second["code"].iloc[0] == "C00170"  # zero-padded as the real ones
    _unique_and_new([first, second], table)
    model.set_random_state(0)  # the stream and its ID count restart together
    pd.testing.assert_frame_equal(model.sample(50), first)
    pd.testing.assert_frame_equal(model.sample(70), second)
    assert all(uuid.UUID(t).version == 4 for t in second["token"])


def test_moving_the_model_keeps_the_numbering(model, table):
    model.set_random_state(0)
    first = model.sample(10)
    model.set_device("cpu")  # restarts the sampling stream, not the IDs
    _unique_and_new([first, model.sample(10)], table)


def test_seeded_call_gets_a_block_of_its_own(model, table):
    model.set_random_state(1)
    stream = model.sample(30)
    seeded = model.sample(30, random_state=5)
    pd.testing.assert_frame_equal(model.sample(30, random_state=5), seeded)  # same seed, same IDs
    other = model.sample(30, random_state=6)
    _unique_and_new([stream, seeded, other, model.sample(30)], table)
    assert seeded["cid"].is_monotonic_increasing and seeded["cid"].dtype == table["cid"].dtype


def test_chunks_continue_the_numbering(model, table):
    model.set_random_state(2)
    chunks = list(model.sample_chunks(100, chunk_rows=30))
    assert [len(c) for c in chunks] == [30, 30, 30, 10]
    _unique_and_new([*chunks, model.sample(20)], table)
    seeded = pd.concat(model.sample_chunks(100, chunk_rows=30, random_state=4))
    whole = model.sample(100, random_state=4)
    for name in ("cid", "code", "name"):  # counted IDs: the same as one call
        assert seeded[name].tolist() == whole[name].tolist()


def test_conditional_calls_continue_the_numbering(model, table):
    model.set_random_state(3)
    plain = model.sample(10)
    red = model.sample(40, conditions={"colour": "red"})
    blue = model.sample(40, conditions={"colour": "blue"})
    known = model.sample(conditions=pd.DataFrame({"colour": ["red", "blue"]}))
    assert red["cid"].tolist() == list(range(1130, 1170))
    _unique_and_new([plain, red, blue, known], table)


def test_where_chunks_of_one_command_share_one_numbering(model, table):
    chunks = list(conditional_chunks(model, 100, 30, {"colour": "blue"}, seed=8))
    assert sum(map(len, chunks)) == 100
    _unique_and_new(chunks, table)
    unconditioned = pd.concat(model.sample_chunks(100, 30, random_state=8))
    assert pd.concat(chunks)["cid"].tolist() == unconditioned["cid"].tolist()


def test_parallel_parts_of_one_command_share_one_numbering(model, table, tmp_path):
    pytest.importorskip("pyarrow")
    model.save(tmp_path / "model.tvae")
    parts = sample_to_parquet(
        tmp_path / "model.tvae", 101, tmp_path / "out", n_parts=3, processes=1, seed=5,
        chunk_rows=20,
    )  # fmt: skip
    frames = [pd.read_parquet(p) for p in parts]
    assert sum(map(len, frames)) == 101
    _unique_and_new(frames, table)
    whole = model.sample(101, random_state=5)
    assert pd.concat(frames)["cid"].tolist() == whole["cid"].tolist()


def test_narrow_integer_ids_widen_instead_of_repeating():
    frame = pd.DataFrame(
        {"cid": np.arange(100, dtype=np.int32), "x": np.random.default_rng(0).random(100)}
    )
    model = TVAE(epochs=1, random_state=0).fit(frame, metadata={"cid": "id"})
    rows = model.sample(50, random_state=1)
    assert rows["cid"].is_unique and rows["cid"].min() > 2**31
