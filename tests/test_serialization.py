"""Model files: safe (no pickle), portable across devices, reproducible, and loud when damaged."""

from __future__ import annotations

import io
import json
import pickle
import struct
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

import tvae
from tvae import TVAE, ModelFileError, TVAEWarning
from tvae.sampling import SAMPLE_CHUNK
from tvae.serialization import (
    FORMAT_VERSION,
    checksum,
    inspect_model,
    load_model,
    read_description,
    save_model,
)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return tvae.load_demo().sample(300, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, table):
    """A fitted model and its file; the model has not sampled yet (fresh default stream)."""
    model = TVAE(epochs=2, batch_size=100, random_state=0).fit(table, tvae.DEMO_DISCRETE_COLUMNS)
    path = tmp_path_factory.mktemp("models") / "adult.tvae"
    model.save(path)
    return model, path


def _rewrite(src, dst, edit=None, *, format_version=None):
    """Copy a model file with its description edited (and a valid checksum)."""
    tensors, description = load_model(src)
    if edit is not None:
        edit(description)
    if format_version is None:
        save_model(dst, tensors, description)
        return dst
    text = json.dumps(description)
    metadata = {
        "format": "tvae-model",
        "format_version": str(format_version),
        "description": text,
        "sha256": checksum(text, tensors),
    }
    save_file(tensors, str(dst), metadata=metadata)
    return dst


# ---------------------------------------------------------------- reproducibility
def test_same_seed_same_rows_after_round_trip(model_file):
    model, path = model_file
    loaded = TVAE.load(path)
    # An explicit seed gives the same rows before and after.
    pd.testing.assert_frame_equal(
        model.sample(100, random_state=1), loaded.sample(100, random_state=1)
    )
    # The default stream of a freshly fitted model equals the loaded model's, call after call.
    # (The only test that draws from the fixture model's default stream.)
    pd.testing.assert_frame_equal(model.sample(64), loaded.sample(64))
    pd.testing.assert_frame_equal(model.sample(30), loaded.sample(30))


def test_loaded_model_keeps_its_state(model_file, table):
    model, path = model_file
    loaded = tvae.load(path)
    assert list(loaded.feature_names_in_) == list(table.columns)
    pd.testing.assert_frame_equal(loaded.loss_values, model.loss_values)
    assert loaded.training_summary_ == model.training_summary_
    assert loaded.get_params() == model.get_params()
    saved, restored = model.decoder_.state_dict(), loaded.decoder_.state_dict()
    assert saved.keys() == restored.keys()
    assert all(torch.equal(saved[k].cpu(), restored[k].cpu()) for k in saved)


def test_sample_chunks_equal_one_sample_and_bound_chunk_size(model_file):
    model = TVAE.load(model_file[1])
    n = 3 * SAMPLE_CHUNK + 1_234  # crosses block boundaries of the sampler
    chunks = list(model.sample_chunks(n, 5_000, random_state=7))
    assert [len(c) for c in chunks] == [5_000] * (n // 5_000) + [n % 5_000]
    pd.testing.assert_frame_equal(pd.concat(chunks), model.sample(n, random_state=7))
    small = list(model.sample_chunks(10, 1_000, random_state=3))
    assert len(small) == 1
    pd.testing.assert_frame_equal(small[0], model.sample(10, random_state=3))
    assert list(model.sample_chunks(0, 10)) == []


def test_sample_chunks_checks_arguments_before_iterating(model_file):
    model = TVAE.load(model_file[1])
    with pytest.raises(ValueError, match="chunk_rows"):
        model.sample_chunks(10, 0)
    with pytest.raises(ValueError, match="n must be"):
        model.sample_chunks(-1, 10)


# ---------------------------------------------------------------- safety
def test_loading_never_unpickles(model_file, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a model file must never be unpickled")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded = TVAE.load(model_file[1])
    assert len(loaded.sample(5)) == 5


def test_file_is_plain_safetensors_with_json_description(model_file):
    raw = model_file[1].read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_size])  # safetensors: JSON header, then raw bytes
    meta = header["__metadata__"]
    assert meta["format"] == "tvae-model" and int(meta["format_version"]) == FORMAT_VERSION
    description = json.loads(meta["description"])
    assert description["library_version"] == tvae.__version__
    assert {"params", "transformer", "training"} <= set(description)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert all(v["dtype"] in {"F32", "F64", "I64"} for v in tensors.values())
    assert read_description(model_file[1]) == description


# ---------------------------------------------------------------- devices
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_load_on_missing_gpu_falls_back_to_cpu_with_warning(model_file):
    model, path = model_file
    with pytest.warns(TVAEWarning, match="not available"):
        loaded = TVAE.load(path, device="cuda")
    assert loaded.device_ == torch.device("cpu")
    expected = model.sample(20, random_state=2)
    pd.testing.assert_frame_equal(loaded.sample(20, random_state=2), expected)


def test_load_on_a_gpu_index_this_machine_lacks_falls_back_to_cpu(model_file, monkeypatch):
    """A file trained on cuda:3 loads on a one-GPU machine (a warning, not an ordinal error)."""
    _, path = model_file
    on_cpu = TVAE.load(path, device="cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.warns(
        TVAEWarning, match=r"'cuda:3' is not available here \(this machine has 1 GPU\)"
    ):
        loaded = TVAE.load(path, device="cuda:3")
    assert loaded.device_ == torch.device("cpu")
    pd.testing.assert_frame_equal(
        loaded.sample(20, random_state=2), on_cpu.sample(20, random_state=2)
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_gpu_trained_file_loads_on_cpu(model_file, tmp_path):
    model, path = model_file

    def trained_on_gpu(description):
        description["params"]["device"] = "cuda"
        description["training"]["device"] = "cuda:0"

    gpu_file = _rewrite(path, tmp_path / "gpu.tvae", trained_on_gpu)
    with pytest.warns(TVAEWarning, match="cuda"):
        loaded = tvae.load(gpu_file)
    assert loaded.device_.type == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit CPU request is silent
        on_cpu = tvae.load(gpu_file, device="cpu")
    expected = model.sample(20, random_state=4)
    pd.testing.assert_frame_equal(on_cpu.sample(20, random_state=4), expected)


# ---------------------------------------------------------------- damaged and foreign files
def _assert_refused(path, *words):
    with pytest.raises(ModelFileError) as caught:
        TVAE.load(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    assert any(w in message for w in words), message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("keep", [0, 7, 8, 100, 0.5, -1])
def test_truncated_file_is_refused(model_file, tmp_path, keep):
    raw = model_file[1].read_bytes()
    size = int(len(raw) * keep) if isinstance(keep, float) else keep % len(raw)
    path = tmp_path / "truncated.tvae"
    path.write_bytes(raw[:size])
    _assert_refused(path, "truncated", "not a readable")


def test_any_flipped_byte_is_refused(model_file, tmp_path):
    raw = model_file[1].read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    rng = np.random.default_rng(0)
    positions = [
        *rng.integers(8, 8 + header_size, 15),  # description, checksum, tensor table
        *rng.integers(8 + header_size, len(raw), 15),  # weights and history
        len(raw) - 1,
    ]
    for position in positions:
        damaged = bytearray(raw)
        damaged[position] ^= 0x10
        path = tmp_path / f"flipped-{position}.tvae"
        path.write_bytes(bytes(damaged))
        _assert_refused(path, "corrupted", "not a readable", "not a tvae model file", "damaged")


def test_foreign_files_are_refused(tmp_path):
    text = tmp_path / "notes.tvae"
    text.write_text("this is not a model\n" * 20)
    _assert_refused(text, "not a readable")
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    _assert_refused(png, "not a readable")
    other = tmp_path / "other.safetensors"
    save_file({"weight": torch.randn(3, 4)}, str(other), metadata={"author": "someone else"})
    _assert_refused(other, "not a tvae model file")
    empty = tmp_path / "empty.tvae"
    empty.write_bytes(b"")
    _assert_refused(empty, "not a readable")
    _assert_refused(tmp_path / "missing.tvae", "does not exist")
    _assert_refused(tmp_path, "directory")


def test_newer_format_is_refused_with_upgrade_hint(model_file, tmp_path):
    path = _rewrite(model_file[1], tmp_path / "future.tvae", format_version=FORMAT_VERSION + 1)
    _assert_refused(path, "upgrade tvae")


def test_consistent_checksum_but_inconsistent_model_is_refused(model_file, tmp_path):
    path = _rewrite(model_file[1], tmp_path / "odd.tvae", lambda d: d.pop("layout"))
    _assert_refused(path, "inconsistent")
    path = _rewrite(
        model_file[1], tmp_path / "odd2.tvae", lambda d: d["params"].update(embedding_dim=64)
    )
    _assert_refused(path, "inconsistent")


def test_inspect_model_describes_columns_without_loading(model_file, table):
    info = inspect_model(model_file[1])
    assert [c["name"] for c in info["columns"]] == list(table.columns)
    kinds = {c["name"]: c["kind"] for c in info["columns"]}
    assert all(kinds[c] == "categorical" for c in tvae.DEMO_DISCRETE_COLUMNS)
    assert info["format_version"] == FORMAT_VERSION
    assert info["library_version"] == tvae.__version__
    assert info["training"]["epochs"] == 2 and info["training"]["n_rows"] == len(table)
    json.dumps(info)  # JSON-ready


def test_sample_chunks_keep_counted_ids_unique(table):
    frame = table[["age", "sex"]].head(120).copy()
    frame.insert(0, "customer_id", range(1000, 1120))
    model = TVAE(epochs=1, random_state=0).fit(frame, metadata={"customer_id": "id"})
    streamed = pd.concat(model.sample_chunks(250, 40, random_state=2))
    assert streamed["customer_id"].is_unique
    assert not streamed["customer_id"].isin(frame["customer_id"]).any()
    pd.testing.assert_frame_equal(streamed, model.sample(250, random_state=2))


def test_an_open_file_or_a_buffer_is_refused_by_name(model_file):
    model, path = model_file
    with pytest.raises(TypeError, match=r"saving a model needs a file path .* got BytesIO"):
        model.save(io.BytesIO())  # pathlib said only "expected str, bytes or os.PathLike"
    with (
        open(path, "rb") as handle,
        pytest.raises(TypeError, match=r"loading a model needs a file path .* got Buffered"),
    ):
        TVAE.load(handle)
