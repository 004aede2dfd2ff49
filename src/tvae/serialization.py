"""Save and load model files: tensors in safetensors, everything else as versioned JSON.

One file per model. Its safetensors header carries the JSON description in its metadata, so
loading parses JSON and raw tensors only: nothing is unpickled and no code from the file runs.
A SHA-256 checksum over the description and every tensor's bytes catches corruption that the
safetensors format alone would let through (a flipped byte inside a weight loads silently).
This module never imports the synthesizer; the synthesizer hands it tensors and a dict.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tvae.errors import InvalidParameterTypeError, ModelFileError
from tvae.files import atomic_write
from tvae.transformer.dependencies import Dependencies

FILE_FORMAT = "tvae-model"
FORMAT_VERSION = 1


def checksum(description_json: str, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the description text and of every tensor (name, dtype, shape, bytes)."""
    digest = hashlib.sha256(description_json.encode("utf-8"))
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"\0{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def file_path(path: object, action: str) -> Path:
    """``path`` as a Path; an open file or a buffer is refused by name (pathlib's own error
    says only "expected str, bytes or os.PathLike object")."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidParameterTypeError(
            f"{action} a model needs a file path (str or os.PathLike), got "
            f"{type(path).__name__}; for bytes in memory, save to a temporary file "
            "(tempfile.TemporaryDirectory) and read it back"
        )
    return Path(path)


def save_model(
    path: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    description: dict,
    *,
    file_format: str = FILE_FORMAT,
) -> Path:
    """Write ``tensors`` and ``description`` to ``path`` atomically (temp file, then rename).

    ``file_format`` names what the file holds (a model; a training checkpoint is the same format
    under another name, so that neither is taken for the other).
    """
    path = file_path(path, "saving")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save a model to {str(path)!r}: it is a directory")
    cpu_tensors = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    description_json = json.dumps(description, allow_nan=False)
    metadata = {
        "format": file_format,
        "format_version": str(FORMAT_VERSION),
        "description": description_json,
        "sha256": checksum(description_json, cpu_tensors),
    }
    with atomic_write(path) as temporary:
        save_file(cpu_tensors, temporary, metadata=metadata)
    return path


def _read(
    path: Path, file_format: str = FILE_FORMAT
) -> tuple[dict[str, torch.Tensor], dict[str, str], dict]:
    """Tensors (on the CPU), raw metadata and parsed description of a checked model file."""
    if not path.exists():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise ModelFileError(f"model file {str(path)!r} is a directory, not a file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFileError(
            f"{str(path)!r} is not a readable tvae model file (truncated, corrupted or another "
            f"format): {reason}"
        ) from error
    if metadata.get("format") != file_format:
        raise ModelFileError(
            f"{str(path)!r} is a safetensors file but not a tvae model file (no tvae description "
            "in its header); give a file written by TVAE.save or `tvae fit`"
        )
    try:
        version = int(metadata["format_version"])
    except (KeyError, ValueError) as error:
        raise ModelFileError(f"{str(path)!r} has no valid format version: {error}") from error
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses model file format {version}, newer than this tvae "
            f"understands ({FORMAT_VERSION}); upgrade tvae to load it"
        )
    if version < 1:
        raise ModelFileError(f"{str(path)!r} has an invalid format version {version}")
    text = metadata.get("description")
    if text is None or metadata.get("sha256") is None:
        raise ModelFileError(f"{str(path)!r} is damaged: its description or checksum is missing")
    if checksum(text, tensors) != metadata["sha256"]:
        raise ModelFileError(
            f"{str(path)!r} is corrupted: its checksum does not match its contents (the file "
            "was changed or damaged after it was saved); use an intact copy or fit again"
        )
    try:
        description = json.loads(text)
    except ValueError as error:
        raise ModelFileError(f"{str(path)!r} has a damaged model description: {error}") from error
    if not isinstance(description, dict):
        raise ModelFileError(f"{str(path)!r} has a damaged model description: not a JSON object")
    return tensors, metadata, description


def load_model(
    path: str | os.PathLike, *, file_format: str = FILE_FORMAT
) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and check a model file onto the CPU; raise :class:`ModelFileError` on any problem."""
    tensors, _, description = _read(file_path(path, "loading"), file_format)
    return tensors, description


def read_description(path: str | os.PathLike) -> dict:
    """The JSON description of a model file, without its tensors (for ``tvae inspect``)."""
    return _read(file_path(path, "reading"))[2]


def _log_scaled(state: object) -> bool:
    """Whether a column's saved state holds a mixture fitted to the log of its numbers (its
    own, or that of the numbers a date, duration or offset is modelled by)."""
    if not isinstance(state, dict):
        return False
    normalizer = state.get("normalizer")
    if isinstance(normalizer, dict) and normalizer.get("log"):
        return True
    return any(_log_scaled(value) for value in state.values())


def inspect_model(path: str | os.PathLike) -> dict:
    """A short, JSON-ready account of a model file: format, columns and kinds, training.

    This is what ``tvae inspect --json`` prints. It reads the file without building a model.
    """
    path = file_path(path, "inspecting")
    tensors, metadata, description = _read(path)
    try:
        widths: dict[str, int] = {}
        for span in description.get("layout", []):
            widths[str(span["column"])] = widths.get(str(span["column"]), 0) + int(span["width"])
        columns = []
        for item in description["transformer"]["columns"]:
            name = item["name"]
            name = name if isinstance(name, (str, int, float, bool)) else str(name)
            columns.append(
                {
                    "name": name,
                    "kind": item["kind"],
                    "dtype": item.get("dtype", {}).get("name"),
                    "width": widths.get(str(name)),
                    "log_scale": _log_scaled(item.get("state")),
                }
            )
        networks = ("encoder.", "decoder.")
        n_weights = sum(t.numel() for k, t in tensors.items() if k.startswith(networks))
        return {
            "file": str(path),
            "file_bytes": path.stat().st_size,
            "format": metadata["format"],
            "format_version": int(metadata["format_version"]),
            "library": description.get("library"),
            "library_version": description.get("library_version"),
            "columns": columns,
            # the exact dependencies kept, by column names only (never the mapped values)
            "dependencies": Dependencies.from_state(
                description["transformer"].get("dependencies")
            ).describe(),
            "encoded_width": sum(widths.values()),
            "n_weights": int(n_weights),
            "params": description.get("params", {}),
            "training": description.get("training", {}),
            "sampling": {
                "prior": description.get("prior", "standard"),
                "prior_components": int(tensors["prior.weights"].numel())
                if "prior.weights" in tensors
                else None,
                "refiner": description.get("refiner") is not None,
            },
            # privacy (issue 14): a private model's accounting, as saved
            **({"privacy": description["privacy"]} if "privacy" in description else {}),
        }
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFileError(
            f"{str(path)!r} holds an inconsistent model description: {error!r}"
        ) from error


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments as JSON (tuples become lists; devices become strings)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, torch.device):
            value = str(value)
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out
