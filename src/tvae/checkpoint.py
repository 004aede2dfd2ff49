"""Training checkpoints: everything needed to resume a fit, in the model file format.

A checkpoint is written by :func:`tvae.serialization.save_model` under its own format name:
tensors (network weights, Adam's moments, the training generator's state) in safetensors, and
a JSON description (epoch, loss history, optimiser hyper-parameters, scheduler, and the fit's
``info``: seed, parameters, transformer) with the same SHA-256 checksum as a model. Nothing is
pickled. The file is written to a temporary name and renamed, so a run killed while writing
leaves the previous checkpoint intact.

Random state: an in-memory fit draws every epoch from one generator, whose state is saved; the
distributed trainer reseeds its generators at the start of each epoch from ``(seed, rank,
epoch)``, so there the seed (``entropy`` in ``info``) is the whole random state. Either way a
resumed run continues exactly where the interrupted one was.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tvae.errors import InvalidParameterError, ModelFileError
from tvae.serialization import json_params, load_model, save_model

CHECKPOINT_FORMAT = "tvae-checkpoint"
CHECKPOINT_VERSION = 2  # 2: the model file format, the history as JSON, the generator's state
CHECKPOINT_NAME = "checkpoint.safetensors"
HISTORY_KEYS = ("epoch", "batch", "loss", "reconstruction", "kl")
RESUME_IGNORED = ("verbose", "device", "enable_gpu")  # params that may change between attempts


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
    generator: torch.Tensor | None = None  # the training generator's state (uint8)


def checkpoint_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / CHECKPOINT_NAME


def save_checkpoint(folder: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``folder/checkpoint.safetensors`` atomically."""
    tensors = {f"encoder.{k}": v for k, v in checkpoint.encoder.items()}
    tensors.update({f"decoder.{k}": v for k, v in checkpoint.decoder.items()})
    if checkpoint.generator is not None:
        tensors["generator"] = checkpoint.generator
    optimizer_state: dict[str, dict] = {}
    for param_id, state in checkpoint.optimizer["state"].items():
        optimizer_state[str(param_id)] = {}
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{param_id}.{key}"] = value
                optimizer_state[str(param_id)][key] = None  # stored as a tensor
            else:
                optimizer_state[str(param_id)][key] = value
    description = {
        "checkpoint_version": CHECKPOINT_VERSION,
        "epoch": checkpoint.epoch,
        "history": [[_finite(r[k]) for k in HISTORY_KEYS] for r in checkpoint.history],
        "optimizer": {
            "param_groups": checkpoint.optimizer["param_groups"],
            "state": optimizer_state,
        },
        "scheduler": checkpoint.scheduler,
        "info": checkpoint.info,
    }
    path = checkpoint_path(folder)
    return save_model(path, tensors, description, file_format=CHECKPOINT_FORMAT)


def _finite(value: float) -> float | None:
    """A loss for JSON: a diverged (infinite or NaN) one becomes null."""
    return value if math.isfinite(value) else None


def load_checkpoint(folder: str | os.PathLike) -> Checkpoint | None:
    """The checkpoint in ``folder``, or None when there is none yet."""
    path = checkpoint_path(folder)
    if not path.exists():
        return None
    try:
        tensors, description = load_model(path, file_format=CHECKPOINT_FORMAT)
        if int(description["checkpoint_version"]) > CHECKPOINT_VERSION:
            raise ValueError(f"version {description['checkpoint_version']} is newer than ours")
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
        history = []
        for row in description["history"]:
            record = dict(zip(HISTORY_KEYS, row, strict=True))
            record = {k: float("nan") if v is None else v for k, v in record.items()}
            record["epoch"], record["batch"] = int(record["epoch"]), int(record["batch"])
            history.append(record)
        return Checkpoint(
            epoch=int(description["epoch"]),
            encoder=_prefixed(tensors, "encoder."),
            decoder=_prefixed(tensors, "decoder."),
            optimizer={"state": state, "param_groups": groups},
            scheduler=description["scheduler"],
            history=history,
            info=description["info"],
            generator=tensors.get("generator"),
        )
    except (ModelFileError, KeyError, ValueError, TypeError) as error:
        raise ModelFileError(
            f"checkpoint {str(path)!r} is unreadable ({error}); delete it to start over"
        ) from error


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def check_same_params(saved: dict, model: Any, folder: str | os.PathLike) -> None:
    """Resuming needs the settings the checkpoint was written with (``saved``, as JSON), except
    those of :data:`RESUME_IGNORED`; ``model`` is the :class:`tvae.TVAE` resuming."""
    current = json_params(model.get_params())
    # a setting missing from an older checkpoint was the constructor's default
    defaults = json_params(
        {name: p.default for name, p in inspect.signature(type(model)).parameters.items()}
    )
    changed = {
        key: (saved.get(key, defaults.get(key)), value)
        for key, value in current.items()
        if key not in RESUME_IGNORED and saved.get(key, defaults.get(key)) != value
    }
    if changed:
        detail = ", ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in changed.items())
        raise InvalidParameterError(
            f"the checkpoint in {str(folder)!r} was written with other settings ({detail}); "
            "resume with the same settings or use another checkpoint folder"
        )
