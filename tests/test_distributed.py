"""Data-parallel training on sharded Parquet: shares, transformer, checkpoints, torchrun, output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import tvae.training as training
from tvae import TVAE, load_demo
from tvae.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tvae.distributed import DistContext
from tvae.distributed.shards import ParquetSource, fit_transformer, iter_encoded_batches
from tvae.errors import InvalidDataError, InvalidParameterError
from tvae.optimizer import Adam, OneCycle
from tvae.parquet_parts import sample_to_parquet

COLUMNS = ["age", "workclass", "education", "hours-per-week", "sex", "income"]
DISCRETE = ["workclass", "education", "sex", "income"]
FAST = {"batch_size": 100, "lr_schedule": "onecycle"}


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return load_demo()[COLUMNS].sample(1000, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def shards(real: pd.DataFrame, tmp_path_factory) -> Path:
    """The table as 4 Parquet files of 2 row groups each."""
    folder = tmp_path_factory.mktemp("shards")
    for part in range(4):
        table = pa.Table.from_pandas(real.iloc[part * 250 : (part + 1) * 250], preserve_index=False)
        pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=125)
    return folder


def _rows(source: ParquetSource, rank: int, world: int, read_rows: int = 40) -> pd.DataFrame:
    batches = [
        b for piece in source.share(rank, world) for b in source.read(piece, None, read_rows)
    ]
    assert all(b.num_rows <= read_rows for b in batches)  # memory: bounded record batches
    return pa.Table.from_batches(batches).to_pandas()


@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_workers_share_every_row_exactly_once(shards: Path, real: pd.DataFrame, world: int) -> None:
    source = ParquetSource.open(shards)
    parts = [_rows(source, rank, world) for rank in range(world)]
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), real, check_dtype=False)


def test_source_accepts_globs_and_names_a_missing_path(shards: Path) -> None:
    assert ParquetSource.open(str(shards / "part-*.parquet")).n_rows == 1000
    with pytest.raises(InvalidDataError, match="no Parquet files"):
        ParquetSource.open(shards / "nothing-*.parquet")
    with pytest.raises(TypeError, match=r"Parquet files .* got DataFrame; fit a table in memory"):
        TVAE(epochs=1).fit_distributed(pd.DataFrame({"x": [1.0, 2.0]}))  # printed as a path


def test_sample_is_reproducible_and_bounded(shards: Path) -> None:
    source = ParquetSource.open(shards)
    first = source.sample(300, np.random.default_rng(1), read_rows=64)
    again = source.sample(300, np.random.default_rng(1), read_rows=64)
    assert len(first) == 300
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(source.sample(300, np.random.default_rng(2)))


def test_transformer_sees_every_category_and_range_beyond_its_sample(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 2000), "colour": rng.choice(["red", "blue"], 2000)})
    frame.loc[1234, ["x", "colour"]] = [50.0, "ultraviolet"]  # one row: almost never sampled
    frame.loc[77, "x"] = np.nan
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "t.parquet", row_group_size=300)
    source = ParquetSource.open(tmp_path)
    transformer, kinds = fit_transformer(
        source, ["colour"], sample_size=50, rng=np.random.default_rng(0),
        max_clusters=5, weight_threshold=0.005,
    )  # fmt: skip
    assert kinds["colour"] == "categorical"
    encoded = transformer.transform(frame, np.random.default_rng(0))  # no unseen value anywhere
    assert len(encoded) == 2000
    restored = transformer.inverse_transform(encoded.alphas, encoded.codes)
    assert restored.loc[1234, "colour"] == "ultraviolet"
    assert restored["x"].isna().sum() == 1  # missing values are modelled though none sampled
    numbers = transformer.columns[0]
    assert (numbers.low, numbers.high) == (frame["x"].min(), 50.0)  # the range of every row


def test_declared_orders_are_kept_and_a_declared_mapping_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    start = rng.uniform(0, 10, 600)
    frame = pd.DataFrame({"start": start, "end": start + rng.uniform(0, 5, 600),
                          "code": rng.choice(["a", "b"], 600)})  # fmt: skip
    frame["label"] = frame["code"].str.upper()
    frame["count"] = rng.integers(0, 9, 600)
    frame["more"] = rng.integers(0, 5, 600)
    frame["total"] = frame["count"] + frame["more"]
    frame["band"] = np.where(frame["start"] < 5, "low", "high")
    frame["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, 600), "D")
    frame["month"] = frame["when"].dt.month
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "t.parquet")
    order = {"type": "order", "low": "start", "high": "end"}
    total = {"type": "sum", "columns": ["count", "more"], "column": "total"}
    band = {"type": "cut", "source": "start", "target": "band"}  # edges read off the sample
    month = {"type": "date_part", "source": "when", "target": "month", "part": "month"}
    model = TVAE(epochs=1, random_state=0, **FAST).fit_distributed(
        tmp_path, ["code", "label", "band"],
        metadata={"columns": {}, "dependencies": [order, total, band, month]},
    )  # fmt: skip
    found = model.metadata_.dependencies
    assert found[:2] == [order, total] and found[2]["labels"] == ["low", "high"]
    assert found[3] == month
    rows = model.sample(500, random_state=0)
    assert (rows["start"] <= rows["end"]).all()
    assert (rows["count"] + rows["more"] == rows["total"]).all()
    edge = found[2]["edges"][0]
    assert (rows["band"] == np.where(rows["start"] < edge, "low", "high")).all()
    assert (rows["when"].dt.month == rows["month"]).all()
    mapping = {"type": "determines", "source": "code", "target": "label"}
    group = {"type": "one_hot", "columns": ["start", "end"]}  # refused before any check
    presence = {"type": "presence", "source": "code", "target": "label"}
    for refused in (mapping, group, presence):
        with pytest.raises(
            InvalidParameterError, match="'order', 'sum', 'linear', 'cut' and 'date_part'"
        ):
            TVAE(epochs=1).fit_distributed(
                tmp_path, ["code", "label"], metadata={"columns": {}, "dependencies": [refused]}
            )
    offset = {"type": "offset", "base": "start", "column": "end"}
    with pytest.raises(InvalidParameterError, match="does not model a column as another"):
        TVAE(epochs=1).fit_distributed(
            tmp_path, ["code", "label"], metadata={"columns": {}, "dependencies": [offset]}
        )


def test_an_epoch_streams_every_row_of_the_share_in_bounded_shuffled_batches(tmp_path: Path):
    keys = [f"k{i:02d}" for i in range(90)]
    frame = pd.DataFrame({"key": keys, "x": np.arange(90.0)})
    for part in range(3):
        chunk = pa.Table.from_pandas(frame.iloc[part * 30 : (part + 1) * 30], preserve_index=False)
        pq.write_table(chunk, tmp_path / f"p{part}.parquet", row_group_size=8)
    source = ParquetSource.open(tmp_path)
    transformer, _ = fit_transformer(source, ["key"], sample_size=20, rng=np.random.default_rng(0),
                                     max_clusters=2, weight_threshold=0.005)  # fmt: skip
    position = {key: i for i, key in enumerate(transformer.columns[0].encoder.categories)}
    mine = {position[k] for k in keys[:45]}  # rank 0 of 2 owns the first 45 rows
    epochs = []
    for seed in (0, 1):
        batches = list(iter_encoded_batches(
            source, source.share(0, 2), transformer, 10, 5, np.random.default_rng(seed),
            read_rows=7, shuffle_rows=16,
        ))  # fmt: skip
        assert [len(c) for _, c in batches] == [10, 10, 10, 10, 5]
        codes = np.concatenate([c[:, 0] for _, c in batches])
        assert sorted(codes) == sorted(mine)  # each row of the share exactly once
        epochs.append(codes)
    assert not np.array_equal(*epochs)  # shuffled differently each epoch
    padded = list(iter_encoded_batches(source, source.share(0, 2), transformer, 10, 6,
                                       np.random.default_rng(0)))  # fmt: skip
    assert len(padded) == 6  # a short share starts over to keep step with the other workers


def test_checkpoint_round_trip_restores_optimizer_and_its_schedule(tmp_path: Path) -> None:
    layer = torch.nn.Linear(3, 2)
    optimizer = Adam(list(layer.parameters()), 1e-3, schedule=OneCycle(1e-3, 10))
    layer(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    history = [{"epoch": 0, "batch": 0, "loss": 1.5, "reconstruction": 1.0, "kl": 0.5}]
    state = Checkpoint(0, layer.state_dict(), {}, optimizer.state_dict(), None, history,
                       {"entropy": "7"})  # fmt: skip
    path = save_checkpoint(tmp_path, state)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.safetensors"]  # no temp files
    loaded = load_checkpoint(tmp_path)
    fresh = Adam(list(torch.nn.Linear(3, 2).parameters()), 1e-3, schedule=OneCycle(1e-3, 10))
    fresh.load_state_dict(loaded.optimizer)
    torch.testing.assert_close(fresh.state_dict()["state"][0]["exp_avg"],
                               optimizer.state_dict()["state"][0]["exp_avg"])  # fmt: skip
    assert fresh.steps == 1 and fresh.hyperparameters() == optimizer.hyperparameters()
    assert loaded.scheduler is None
    assert loaded.history == history and loaded.info == {"entropy": "7"}
    assert load_checkpoint(tmp_path / "elsewhere") is None


class Crash(Exception):
    pass


def test_run_killed_after_a_checkpoint_resumes_to_the_same_model(
    shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run dies after epoch 1's checkpoint; ``tvae fit --resume`` ends with the same model."""
    from typer.testing import CliRunner

    from tvae.cli import app

    settings = {"epochs": 3, "batch_size": 100, "random_state": 3}
    whole = TVAE(**settings).fit_distributed(shards, DISCRETE, checkpoint_dir=tmp_path / "a")

    real_save = training.save_checkpoint

    def save_then_die(folder, state):
        real_save(folder, state)
        if state.epoch == 1:
            raise Crash("killed after epoch 1")

    monkeypatch.setattr(training, "save_checkpoint", save_then_die)
    with pytest.raises(Crash):
        TVAE(**settings).fit_distributed(shards, DISCRETE, checkpoint_dir=tmp_path / "b")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "b").epoch == 1
    with pytest.raises(InvalidParameterError, match="epochs"):  # other settings: refused
        TVAE(**{**settings, "epochs": 4}).fit_distributed(
            shards, DISCRETE, checkpoint_dir=tmp_path / "b", resume=True
        )
    output = tmp_path / "model.tvae"
    command = ["fit", str(shards), "-o", str(output), "--epochs", "3", "--batch-size", "100",
               "--seed", "3", "-q", "--discrete", ",".join(DISCRETE),
               "--checkpoint-dir", str(tmp_path / "b"), "--resume"]  # fmt: skip
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 0, done.output
    resumed = TVAE.load(output)  # an ordinary model file
    assert resumed.training_summary_["resumed_from_epoch"] == 1
    assert [r["loss"] for r in resumed.history_] == pytest.approx(
        [r["loss"] for r in whole.history_]
    )
    for key, value in whole.decoder_.state_dict().items():
        torch.testing.assert_close(resumed.decoder_.state_dict()[key], value, rtol=1e-4, atol=1e-4)
    assert len(resumed.sample(10)) == 10


def test_more_workers_than_gpus_is_a_clear_error(monkeypatch) -> None:
    """Worker 1 of 2 on a one-GPU node: an error that says what to start, not a CUDA traceback."""
    import tvae.distributed.context as context

    monkeypatch.setattr(context, "resolve_device", lambda device, enable_gpu: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    two = DistContext(rank=1, world_size=2, local_rank=1, local_world_size=2)
    with pytest.raises(InvalidParameterError, match="2 workers on this node but 1 GPU") as error:
        context.worker_device(two, "auto", True)
    assert "--device cpu" in str(error.value) and "--nproc" in str(error.value)
    first = DistContext(rank=0, world_size=2, local_rank=0, local_world_size=2)
    assert context.worker_device(first, "auto", True) == torch.device("cuda", 0)


def test_context_reads_torchrun_environment() -> None:
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    ctx = DistContext.from_env(env)
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.is_main, ctx.distributed) == (
        3, 4, 1, False, True,
    )  # fmt: skip
    assert DistContext.from_env({}).is_main


def test_two_gloo_workers_match_a_single_process_fit(shards: Path, real, tmp_path: Path) -> None:
    """torchrun, 2 CPU workers on loopback: an ordinary model file, of single-process quality."""
    evaluate = pytest.importorskip("tvae.evaluation").evaluate
    output = tmp_path / "model.tvae"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "tvae.distributed", "fit", str(shards), "-o", str(output), "--epochs", "30",
        "--batch-size", "100", "--lr-schedule", "onecycle", "--seed", "0", "-q", "--device", "cpu",
        "--discrete", ",".join(DISCRETE), "--checkpoint-dir", str(tmp_path / "ckpt"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    model = TVAE.load(output)
    assert model.training_summary_["world_size"] == 2
    assert model.refiner_ is None  # "auto": 1,000 rows are too few
    assert (tmp_path / "ckpt" / "checkpoint.safetensors").exists()
    single = TVAE(epochs=30, random_state=0, **FAST).fit(real, DISCRETE)
    scores = [
        evaluate(real, m.sample(2000, random_state=0), discrete_columns=DISCRETE).overall
        for m in (model, single)
    ]
    assert abs(scores[0] - scores[1]) <= 0.02, scores


def test_two_gloo_workers_train_one_refiner_and_one_set_of_maps(shards, real, tmp_path) -> None:
    """--refine on, --quantile-map on: rank 0 trains the refiner and fits the quantile maps on
    its share; the saved model samples with both."""
    output = tmp_path / "model.tvae"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "tvae.distributed", "fit", str(shards), "-o", str(output), "--epochs", "2",
        "--batch-size", "100", "--seed", "0", "-q", "--device", "cpu", "--refine", "on",
        "--quantile-map", "on", "--discrete", ",".join(DISCRETE),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    model = TVAE.load(output)
    assert model.refiner_ is not None and model.training_summary_["refiner"]["steps"] > 0
    mapped = model.training_summary_["quantile_maps"]
    assert mapped and all(isinstance(name, str) for name in mapped)
    maps = [c.name for c in model.transformer_.columns if getattr(c, "quantile_map", None)]
    assert [str(name) for name in maps] == mapped
    rows = model.sample(300, random_state=0)
    assert len(rows) == 300 and set(rows["sex"]) <= set(real["sex"])
    pd.testing.assert_frame_equal(rows, model.sample(300, random_state=0))


def test_cli_fits_with_checkpoints_and_samples_parts_in_parallel(shards: Path, tmp_path: Path):
    """tvae fit --checkpoint-dir (streamed, one process), then tvae sample --nproc 2."""
    from typer.testing import CliRunner

    from tvae.cli import app

    runner = CliRunner()
    model = tmp_path / "model.tvae"
    fit = ["fit", str(shards), "-o", str(model), "--epochs", "2", "--batch-size", "200",
           "--seed", "0", "-q", "--discrete", ",".join(DISCRETE)]  # fmt: skip
    done = runner.invoke(app, [*fit, "--resume"])
    assert done.exit_code == 1 and "--checkpoint-dir" in done.output  # nothing to resume from
    done = runner.invoke(app, [*fit, "--checkpoint-dir", str(tmp_path / "ckpt")])
    assert done.exit_code == 0, done.output
    assert TVAE.load(model).training_summary_["world_size"] == 1
    assert load_checkpoint(tmp_path / "ckpt").epoch == 0  # every epoch but the last

    sample = ["sample", str(model), "-n", "1001", "--seed", "5", "--chunk-rows", "300", "-q"]
    done = runner.invoke(app, [*sample, "-o", str(tmp_path / "p"), "--nproc", "2"])
    assert done.exit_code == 0, done.output
    parallel = sorted((tmp_path / "p").glob("*.parquet"))
    assert [p.name for p in parallel] == ["part-00000.parquet", "part-00001.parquet"]
    tables = [pd.read_parquet(p) for p in parallel]
    assert [len(t) for t in tables] == [500, 501]
    serial = sample_to_parquet(model, 1001, tmp_path / "s", n_parts=2, processes=1, seed=5,
                               chunk_rows=300)  # fmt: skip
    for left, right in zip(tables, map(pd.read_parquet, serial), strict=True):
        pd.testing.assert_frame_equal(left, right)  # the same files, in parallel or not
    other = sample_to_parquet(model, 1001, tmp_path / "o", n_parts=2, processes=1, seed=6)
    assert not pd.read_parquet(other[0]).equals(tables[0])


def test_two_gloo_workers_fit_a_table_without_numeric_columns(tmp_path: Path) -> None:
    """No numeric column leaves the decoder's sigma out of the loss; DDP must still step."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"colour": rng.choice(["red", "blue", "green"], 400),
                          "size": rng.choice(["S", "M", "L"], 400)})  # fmt: skip
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "t.parquet", row_group_size=100)
    output = tmp_path / "model.tvae"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "tvae.distributed", "fit", str(tmp_path / "t.parquet"), "-o", str(output),
        "--epochs", "2", "--batch-size", "100", "--seed", "0", "-q", "--device", "cpu",
        "--discrete", "colour,size",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    model = TVAE.load(output)
    assert model.training_summary_["world_size"] == 2
    assert len(model.history_) == 2 * 4  # 2 epochs of 4 global steps
    assert set(model.sample(50)["colour"]) <= {"red", "blue", "green"}


def test_a_failed_parallel_resume_prints_one_line(shards: Path, tmp_path: Path) -> None:
    """tvae fit --nproc 2 --resume with changed settings: the workers' error once, no traceback."""
    from typer.testing import CliRunner

    from tvae.cli import app

    fit = ["fit", str(shards), "-o", str(tmp_path / "m.tvae"), "--batch-size", "200", "--seed",
           "0", "-q", "--checkpoint-dir", str(tmp_path / "ckpt"), "--device", "cpu"]  # fmt: skip
    assert CliRunner().invoke(app, [*fit, "--epochs", "2"]).exit_code == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tvae", *fit, "--epochs", "3", "--resume", "--nproc", "2"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    assert "other settings" in lines[0] and "epochs" in lines[0]


@pytest.mark.parametrize(("raised", "status"), [(None, 0), (0, 0), (2, 2), ("error: x", 1)])
def test_the_worker_program_leaves_with_its_commands_exit_status(monkeypatch, capsys, raised,
                                                                 status) -> None:  # fmt: skip
    """``python -m tvae.distributed`` ends with os._exit(status): the status the command gave
    (typer's SystemExit), or 1 with the message printed, as sys.exit would."""
    import tvae.distributed.__main__ as worker_main

    def command() -> int:
        raise SystemExit(raised)

    monkeypatch.setattr(worker_main, "main", command)
    assert worker_main.exit_code() == status
    assert ("error: x" in capsys.readouterr().err) == isinstance(raised, str)
