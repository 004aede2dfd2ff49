"""A fitted TVAE to one model file and back (tensors + JSON description; never pickle).

:mod:`tvae.serialization` handles the file format; this module decides what goes in it. It sits
below :mod:`tvae.synthesizer` and never imports it: ``model`` is a fitted :class:`tvae.TVAE`,
``cls`` the class to rebuild.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch

from tvae.devices import gpu_enabled, resolve_device
from tvae.errors import ModelFileError
from tvae.inputs import InputInfo
from tvae.kinds import Metadata
from tvae.layout import Layout
from tvae.params import RANDOM_STATES
from tvae.prior import load_prior
from tvae.refiner import load_refiner
from tvae.schedule import Schedule
from tvae.serialization import json_params, load_model, save_model
from tvae.training import build_networks
from tvae.transformer import TableTransformer
from tvae.version import __version__


def write_model(model: Any, path: str | os.PathLike) -> None:
    """Write a fitted model's weights, history and description to one safe file."""
    tensors = {f"encoder.{k}": v for k, v in model.encoder_.state_dict().items()}
    tensors.update({f"decoder.{k}": v for k, v in model.decoder_.state_dict().items()})
    fields = ("epoch", "batch", "loss", "reconstruction", "kl")
    history = np.array([[r[f] for f in fields] for r in model.history_], dtype=np.float64).reshape(
        -1, 5
    )
    tensors["history"] = torch.from_numpy(history)
    tensors.update({k: v.detach().cpu() for k, v in model.prior_.tensors().items()})
    refiner = getattr(model, "refiner_", None)
    if refiner is not None:
        tensors.update({f"refiner.{k}": v.detach().cpu() for k, v in refiner.state_dict().items()})
    description = {
        "library": "tvae",
        "library_version": __version__,
        "params": json_params(saved_params(model)),
        "transformer": model.transformer_.get_state(),
        "layout": model.layout_.to_list(),
        "input": model.input_info_.to_dict(),
        "metadata": model.metadata_.to_dict(),
        "training": model.training_summary_,
        "sampling_seed": model._sampling_seed,
        "prior": model.prior_.kind,
        "refiner": None if refiner is None else {"hidden": list(refiner.hidden)},
    }
    if getattr(model, "privacy_", None) is not None:  # privacy (issue 14)
        description["privacy"] = model.privacy_
    save_model(path, tensors, description)


def saved_params(model: Any) -> dict:
    """``model``'s parameters as saved: a numpy ``RandomState`` or ``Generator`` given as
    ``random_state`` is saved as the seed the fit drew from it (a file holds no live state)."""
    params = model.get_params()
    if isinstance(params["random_state"], RANDOM_STATES):
        params["random_state"] = getattr(model, "_drawn_seed", None)
    return params


def read_model(cls: type, path: str | os.PathLike, device: str | None = None) -> Any:
    """Rebuild a fitted ``cls`` from a file written by :func:`write_model`, on ``device``."""
    tensors, description = load_model(path)
    try:
        params = dict(description["params"])
        params["compress_dims"] = tuple(params["compress_dims"])
        params["decompress_dims"] = tuple(params["decompress_dims"])
        if device is not None:
            params["device"] = device
        with warnings.catch_warnings():  # a saved cuda=...: warned about when it was given
            warnings.simplefilter("ignore", FutureWarning)
            model = cls(**params)
        model.transformer_ = TableTransformer.from_state(description["transformer"])
        model.layout_ = Layout.from_list(description["layout"])
        if model.layout_ != model.transformer_.layout:
            raise ValueError("layout does not match the transformer")
        encoder, decoder = build_networks(model, model.layout_.width, 0, torch.device("cpu"))
        encoder.load_state_dict(_prefixed(tensors, "encoder."), strict=True)
        decoder.load_state_dict(_prefixed(tensors, "decoder."), strict=True)
        history = tensors["history"].numpy()
        model.history_ = [
            {
                "epoch": int(e),
                "batch": int(b),
                "loss": float(v),
                "reconstruction": float(r),
                "kl": float(k),
            }
            for e, b, v, r, k in history
        ]
        model.input_info_ = InputInfo.from_dict(description["input"])
        model.metadata_ = Metadata.from_dict(
            description.get("metadata") or {c.name: c.kind for c in model.transformer_.columns}
        )
        model.training_summary_ = dict(description["training"])
        model.schedule_ = Schedule(  # files before the loss factor was recorded: the default
            **{
                k: model.training_summary_[k]
                for k in Schedule.__dataclass_fields__
                if k in model.training_summary_
            }
        )
        model._sampling_seed = int(description["sampling_seed"])
        if "privacy" in description:  # privacy (issue 14)
            model.privacy_ = dict(description["privacy"])
        model.prior_ = load_prior(
            description.get("prior", "standard"), model.embedding_dim,
            {k: v for k, v in tensors.items() if not k.startswith("refiner.")},
        )  # fmt: skip
        refined = description.get("refiner")  # None, or absent in files written before it
        model.refiner_ = (
            None
            if refined is None
            else load_refiner(
                model.layout_.width, refined["hidden"], _prefixed(tensors, "refiner.")
            )
        )
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        # One line: torch's state-dict errors span many lines.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFileError(f"{str(path)!r} holds an inconsistent model: {reason}") from error
    target = resolve_device(
        model.device, gpu_enabled(model.enable_gpu, model.cuda)
    )  # a bad ``device`` is the caller's
    model.encoder_, model.decoder_ = encoder.to(target).eval(), decoder.to(target).eval()
    if model.refiner_ is not None:
        model.refiner_ = model.refiner_.to(target)
    model.device_ = target
    model.n_features_in_ = len(model.transformer_.table_names)
    model.feature_names_in_ = np.asarray(model.transformer_.table_names, dtype=object)
    model._reset_sampler()
    return model


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
