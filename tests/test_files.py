"""Files tvae writes (models, checkpoints, tables) get the mode the process umask gives."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
import torch

from tvae.checkpoint import Checkpoint, checkpoint_path, save_checkpoint
from tvae.cli.table_io import write_table_chunks
from tvae.files import atomic_write
from tvae.serialization import save_model


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    previous = os.umask(request.param)  # the test's own setting, restored after it
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_model_checkpoint_and_tables_follow_the_umask(umask, tmp_path):
    expected = 0o666 & ~umask
    model = tmp_path / "m.tvae"
    save_model(model, {"w": torch.zeros(3)}, {"library": "tvae"})
    assert mode(model) == expected
    state = Checkpoint(0, {"w": torch.zeros(2)}, {}, {"state": {}, "param_groups": []}, None, [],
                       {"params": {}})  # fmt: skip
    save_checkpoint(tmp_path / "ckpt", state)
    assert mode(checkpoint_path(tmp_path / "ckpt")) == expected
    for name in ("t.csv", "t.parquet"):
        write_table_chunks(tmp_path / name, [pd.DataFrame({"a": [1, 2]})])
        assert mode(tmp_path / name) == expected
    assert os.umask(umask) == umask  # nothing changed the process umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "m.tvae", "t.csv", "t.parquet"]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_write(target) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
