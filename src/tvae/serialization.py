"""Save and load model files: tensors in safetensors, everything else as versioned JSON.

One file per model. Its safetensors header carries the JSON description in its metadata, so
loading parses JSON and raw tensors only: nothing is unpickled and no code from the file runs.
This module never imports the synthesizer; the synthesizer hands it tensors and a dict.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

FILE_FORMAT = "tvae-model"
FORMAT_VERSION = 1


def save_model(path: str | os.PathLike, tensors: dict[str, torch.Tensor], description: dict) -> Path:
    """Write ``tensors`` and ``description`` to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot save a model to {str(path)!r}: it is a directory")
    metadata = {
        "format": FILE_FORMAT,
        "format_version": str(FORMAT_VERSION),
        "description": json.dumps(description, allow_nan=False),
    }
    cpu_tensors = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(cpu_tensors, temporary, metadata=metadata)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def load_model(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a model file onto the CPU; raise :class:`ModelFileError` on anything unexpected."""
    from tvae.errors import ModelFileError

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise ModelFileError(f"model file {str(path)!r} is a directory, not a file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(
            f"{str(path)!r} is not a readable tvae model file (truncated, corrupted or another "
            f"format): {error}"
        ) from error
    if metadata.get("format") != FILE_FORMAT:
        raise ModelFileError(f"{str(path)!r} is a safetensors file but not a tvae model file")
    try:
        version = int(metadata["format_version"])
        description = json.loads(metadata["description"])
    except (KeyError, ValueError) as error:
        raise ModelFileError(f"{str(path)!r} has a damaged model description: {error}") from error
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses model file format {version}, newer than this tvae "
            f"understands ({FORMAT_VERSION}); upgrade tvae to load it"
        )
    return tensors, description


def read_description(path: str | os.PathLike) -> dict:
    """The JSON description of a model file, without its tensors (for ``tvae inspect``)."""
    return load_model(path)[1]
