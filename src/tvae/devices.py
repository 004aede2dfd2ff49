"""Choose the torch device: an explicit request, else CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import warnings

import torch

from tvae.errors import InvalidParameterError, TVAEWarning


def auto_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None, enable_gpu: bool = True) -> torch.device:
    """Turn ``device`` ("auto", "cpu", "cuda", "cuda:1", "mps", None) into an available device.

    A requested accelerator that this machine lacks falls back to the CPU with a warning, so a
    model trained on a GPU still loads and samples anywhere.
    """
    if device is None or device == "auto":
        return auto_device() if enable_gpu else torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InvalidParameterError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got device={device!r}"
        ) from error
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available(),
    }.get(resolved.type, False)
    if available and resolved.type == "cuda" and resolved.index is not None:
        count = torch.cuda.device_count()
        available = resolved.index < count  # cuda:N beyond this machine's GPUs
        where = f" (this machine has {gpu_count(count)})"
    else:
        where = ""
    if not available:
        warnings.warn(
            f"device {device!r} is not available here{where}; using the CPU",
            TVAEWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return resolved


def gpu_enabled(enable_gpu: bool, cuda: bool | None = None) -> bool:
    """Whether a GPU may be used: ``enable_gpu``, unless the deprecated ``cuda`` alias of
    ``ctgan.TVAE`` was given."""
    return bool(enable_gpu if cuda is None else cuda)


def gpu_count(count: int) -> str:
    """``count`` GPUs in words for a message: "1 GPU", "2 GPUs"."""
    return f"{count} GPU{'s' if count != 1 else ''}"
