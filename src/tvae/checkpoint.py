"""Training checkpoints: everything needed to resume a run, in one safetensors file.

Tensors (network weights, Adam's moments, the loss history) are safetensors; everything else
(epoch, hyper-parameters, transformer, optimiser hyper-parameters, scheduler, seed) is JSON in
the file's metadata. Nothing is pickled. Files are written to a temporary name and renamed, so
a run killed while writing leaves the previous checkpoint intact.

Random state is not a byte dump: the distributed trainer reseeds every generator at the start of
each epoch from ``(seed, rank, epoch)``, so the seed (``entropy``) is the whole random state and
a resumed run continues exactly where the interrupted one was.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tvae.errors import ModelFileError
from tvae.files import atomic_write

CHECKPOINT_FORMAT = "tvae-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.safetensors"
HISTORY_KEYS = ("epoch", "batch", "loss", "reconstruction", "kl")


@dataclass
class Checkpoint:
    """A resumable training state; ``epoch`` is the last finished epoch (0-based)."""

    epoch: int
    encoder: dict[str, torch.Tensor]
    decoder: dict[str, torch.Tensor]
    optimizer: dict
    scheduler: dict | None
    history: list[dict]
    info: dict  # JSON: params, transformer state, entropy, world size, ...


def checkpoint_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / CHECKPOINT_NAME


def save_checkpoint(folder: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``folder/checkpoint.safetensors`` atomically."""
    tensors = {f"encoder.{k}": v for k, v in checkpoint.encoder.items()}
    tensors.update({f"decoder.{k}": v for k, v in checkpoint.decoder.items()})
    optimizer_state: dict[str, dict] = {}
    for param_id, state in checkpoint.optimizer["state"].items():
        optimizer_state[str(param_id)] = {}
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param_id}.{key}"] = value
                optimizer_state[str(param_id)][key] = None  # stored as a tensor
            else:
                optimizer_state[str(param_id)][key] = value
    history = np.array([[r[k] for k in HISTORY_KEYS] for r in checkpoint.history], dtype=np.float64)
    tensors["history"] = torch.from_numpy(history.reshape(-1, len(HISTORY_KEYS)))
    description = {
        "epoch": checkpoint.epoch,
        "optimizer": {
            "param_groups": checkpoint.optimizer["param_groups"],
            "state": optimizer_state,
        },
        "scheduler": checkpoint.scheduler,
        "info": checkpoint.info,
    }
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "format_version": str(CHECKPOINT_VERSION),
        "description": json.dumps(description, allow_nan=False),
    }
    path = checkpoint_path(folder)
    with atomic_write(path) as temporary:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
            temporary,
            metadata=metadata,
        )
    return path


def load_checkpoint(folder: str | os.PathLike) -> Checkpoint | None:
    """The checkpoint in ``folder``, or None when there is none yet."""
    path = checkpoint_path(folder)
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        if metadata.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a tvae checkpoint")
        if int(metadata["format_version"]) > CHECKPOINT_VERSION:
            raise ValueError(f"format {metadata['format_version']} is newer than this tvae reads")
        description = json.loads(metadata["description"])
        state = {}
        for param_id, entries in description["optimizer"]["state"].items():
            state[int(param_id)] = {
                key: tensors[f"optimizer.{param_id}.{key}"] if value is None else value
                for key, value in entries.items()
            }
        groups = description["optimizer"]["param_groups"]
        for group in groups:
            if "betas" in group:
                group["betas"] = tuple(group["betas"])
        history = [dict(zip(HISTORY_KEYS, row, strict=True)) for row in tensors["history"].tolist()]
        for record in history:
            record["epoch"], record["batch"] = int(record["epoch"]), int(record["batch"])
        return Checkpoint(
            epoch=int(description["epoch"]),
            encoder=_prefixed(tensors, "encoder."),
            decoder=_prefixed(tensors, "decoder."),
            optimizer={"state": state, "param_groups": groups},
            scheduler=description["scheduler"],
            history=history,
            info=description["info"],
        )
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as error:
        raise ModelFileError(
            f"checkpoint {str(path)!r} is unreadable ({error}); delete it to start over"
        ) from error


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
