"""TVAE: the public object. It validates, orchestrates and remembers; the maths lives elsewhere.

A drop-in for ``ctgan.TVAE``: the same constructor arguments and defaults, ``fit``,
``sample``, ``loss_values``, ``set_random_state``, ``set_device``, ``save`` and ``load``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from tvae import __version__
from tvae.devices import resolve_device
from tvae.errors import NotFittedError
from tvae.layout import Layout
from tvae.loss import SpanIndex
from tvae.model import Decoder, Encoder
from tvae.sampling import DECODINGS, decode_outputs
from tvae.serialization import load_model, save_model
from tvae.training import LR_SCHEDULES, TrainingConfig, TrainingData, fit_loop
from tvae.transformer import TableTransformer
from tvae.validation import (
    InputInfo,
    check_choice,
    check_continuous_values,
    check_dims,
    check_non_negative_int,
    check_positive_int,
    check_real,
    check_seed,
    resolve_kinds,
    to_frame,
)

SAMPLE_CHUNK = 16_384  # rows decoded at once by ``sample``: bounds memory, fixed for determinism


class TVAE(BaseEstimator):
    """Tabular Variational Autoencoder: learns a table and generates synthetic rows like it.

    Parameters follow ``ctgan.TVAE`` (same names, same defaults); the keyword-only ones after
    ``verbose`` are ours.

    Args:
        embedding_dim: size of the latent vector.
        compress_dims: hidden layer sizes of the encoder.
        decompress_dims: hidden layer sizes of the decoder.
        l2scale: Adam weight decay.
        batch_size: rows per optimiser step.
        epochs: passes over the table.
        loss_factor: weight of the reconstruction term against the KL term.
        enable_gpu: use CUDA (or Apple MPS) when available and ``device`` is not given.
        verbose: show progress bars (transformer fitting and epochs, with the loss).
        random_state: seed of every random draw in ``fit`` and ``sample``; None draws fresh entropy.
        device: "auto" (default), "cpu", "cuda", "cuda:N" or "mps"; overrides ``enable_gpu``.
        learning_rate: Adam's learning rate (peak rate under the one-cycle schedule).
        lr_schedule: "constant" (the reference) or "onecycle".
        decoding: how sampling reads categories and mixture modes from the decoder: "sample"
            draws them from its softmax; "argmax" takes the most likely one, as the reference.
        max_clusters: most mixture components per continuous column.
        weight_threshold: mixture components lighter than this are dropped.
        transformer_sample_size: fit the continuous columns' mixtures on at most this many rows
            (None: on every row, as the reference).

    Example:
        >>> from tvae import TVAE, load_demo
        >>> real = load_demo().head(500)
        >>> model = TVAE(epochs=2, random_state=0).fit(real)
        >>> synthetic = model.sample(100)
        >>> list(synthetic.columns) == list(real.columns)
        True
    """

    def __init__(
        self,
        embedding_dim: int = 128,
        compress_dims: Sequence[int] = (128, 128),
        decompress_dims: Sequence[int] = (128, 128),
        l2scale: float = 1e-5,
        batch_size: int = 500,
        epochs: int = 300,
        loss_factor: float = 2,
        enable_gpu: bool = True,
        verbose: bool = False,
        *,
        random_state: int | None = None,
        device: str | None = None,
        learning_rate: float = 1e-3,
        lr_schedule: str = "constant",
        decoding: str = "sample",
        max_clusters: int = 10,
        weight_threshold: float = 0.005,
        transformer_sample_size: int | None = None,
    ) -> None:
        self.embedding_dim = embedding_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.l2scale = l2scale
        self.batch_size = batch_size
        self.epochs = epochs
        self.loss_factor = loss_factor
        self.enable_gpu = enable_gpu
        self.verbose = verbose
        self.random_state = random_state
        self.device = device
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.decoding = decoding
        self.max_clusters = max_clusters
        self.weight_threshold = weight_threshold
        self.transformer_sample_size = transformer_sample_size

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        check_positive_int("embedding_dim", self.embedding_dim)
        check_dims("compress_dims", self.compress_dims)
        check_dims("decompress_dims", self.decompress_dims)
        check_real("l2scale", self.l2scale, low=0.0)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("epochs", self.epochs)
        check_real("loss_factor", self.loss_factor, low=0.0, low_inclusive=False)
        check_seed("random_state", self.random_state)
        check_real("learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("decoding", self.decoding, DECODINGS)
        check_positive_int("max_clusters", self.max_clusters)
        check_real("weight_threshold", self.weight_threshold, low=0.0)
        if self.transformer_sample_size is not None:
            check_positive_int("transformer_sample_size", self.transformer_sample_size)

    def _seeds(self) -> np.random.SeedSequence:
        """Independent child seeds for the transformer, the networks/training and sampling."""
        return np.random.SeedSequence(self.random_state)

    # ------------------------------------------------------------------ fit
    def fit(self, train_data: pd.DataFrame | np.ndarray, discrete_columns: Sequence = ()) -> TVAE:
        """Learn ``train_data``; ``discrete_columns`` lists its categorical columns.

        For a DataFrame give column names; for a 2-D ndarray give integer column indices.
        Non-numeric columns are treated as categorical even when not listed.
        """
        self._validate_params()
        frame, input_info = to_frame(train_data)
        kinds = resolve_kinds(frame, discrete_columns, input_info)
        check_continuous_values(frame, kinds)
        device = resolve_device(self.device, self.enable_gpu)
        transformer_seq, network_seq, sampling_seq = self._seeds().spawn(3)
        started = time.perf_counter()

        transformer = TableTransformer(
            self.max_clusters, self.weight_threshold, self.transformer_sample_size
        )
        data_rng = np.random.default_rng(transformer_seq)
        transformer.fit(frame, kinds, data_rng, progress=self.verbose)
        encoded = transformer.transform(frame, data_rng)
        transformer_seconds = time.perf_counter() - started

        layout = transformer.layout
        network_seed = int(network_seq.generate_state(1)[0])
        encoder, decoder = self._build_networks(layout.width, network_seed, device)
        data = TrainingData(
            torch.from_numpy(encoded.alphas).to(device), torch.from_numpy(encoded.codes).to(device)
        )
        config = TrainingConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.l2scale,
            loss_factor=self.loss_factor,
            lr_schedule=self.lr_schedule,
            verbose=self.verbose,
        )
        generator = torch.Generator(device=device).manual_seed(network_seed)
        index = SpanIndex.from_layout(layout, device)
        history = fit_loop(encoder, decoder, data, index, config, generator)

        self.transformer_ = transformer
        self.layout_ = layout
        self.encoder_ = encoder
        self.decoder_ = decoder
        self.history_ = history
        self.device_ = device
        self.input_info_ = input_info
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.training_summary_ = {
            "n_rows": int(frame.shape[0]),
            "epochs": int(self.epochs),
            "final_loss": history[-1]["loss"],
            "transformer_seconds": round(transformer_seconds, 3),
            "fit_seconds": round(time.perf_counter() - started, 3),
            "device": str(device),
        }
        self._sampling_seed = int(sampling_seq.generate_state(1)[0])
        self._reset_sampler()
        return self

    def _build_networks(self, data_dim: int, seed: int, device: torch.device) -> tuple[Encoder, Decoder]:
        # Initialise from a private seed, leaving the global torch RNG as the user had it.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = Encoder(data_dim, check_dims("compress_dims", self.compress_dims), self.embedding_dim)
            decoder = Decoder(self.embedding_dim, check_dims("decompress_dims", self.decompress_dims), data_dim)
        return encoder.to(device), decoder.to(device)

    # ------------------------------------------------------------------ state
    def _check_fitted(self) -> None:
        if not hasattr(self, "decoder_"):
            raise NotFittedError(
                "This TVAE is not fitted yet; call fit(train_data) before using this method"
            )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "decoder_")

    def _reset_sampler(self) -> None:
        """Restart the sampling stream from the seed, so a given seed gives the same rows."""
        self._sampling_generator = torch.Generator(device=self.device_).manual_seed(self._sampling_seed)

    @property
    def loss_values(self) -> pd.DataFrame:
        """Loss of every training batch, as the reference: columns Epoch, Batch, Loss."""
        self._check_fitted()
        frame = pd.DataFrame(self.history_, columns=["epoch", "batch", "loss"])
        return frame.rename(columns={"epoch": "Epoch", "batch": "Batch", "loss": "Loss"})

    def set_random_state(self, random_state: int | None) -> None:
        """Set the seed for the next ``fit``; on a fitted model, restart sampling from it."""
        check_seed("random_state", random_state)
        self.random_state = random_state
        if self.__sklearn_is_fitted__():
            self._sampling_seed = int(self._seeds().spawn(3)[2].generate_state(1)[0])
            self._reset_sampler()

    def set_device(self, device: str | torch.device) -> None:
        """Move the model (and future fits) to ``device``."""
        self.device = str(device)
        if self.__sklearn_is_fitted__():
            target = resolve_device(self.device, self.enable_gpu)
            self.encoder_.to(target)
            self.decoder_.to(target)
            self.device_ = target
            self._reset_sampler()

    # ------------------------------------------------------------------ sample
    @torch.no_grad()
    def sample(self, samples: int, *, random_state: int | None = None) -> pd.DataFrame | np.ndarray:
        """Generate ``samples`` synthetic rows, as the same kind of object ``fit`` received.

        Successive calls continue one random stream (seeded by ``random_state`` of the model);
        pass ``random_state`` here for a stream of its own.
        """
        self._check_fitted()
        n_rows = check_non_negative_int("samples", samples)
        generator = self._sampling_generator
        if random_state is not None:
            seed = check_seed("random_state", random_state)
            generator = torch.Generator(device=self.device_).manual_seed(seed)
        alphas, codes = self._sample_encoded(n_rows, generator)
        frame = self.transformer_.inverse_transform(alphas, codes)
        if self.input_info_.kind == "ndarray":
            return frame.to_numpy(dtype=np.dtype(self.input_info_.array_dtype))
        return frame

    def _sample_encoded(self, n_rows: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_rows`` encoded rows in fixed-size chunks: alphas (N, T), codes (N, S)."""
        index = SpanIndex.from_layout(self.layout_, self.device_)
        self.decoder_.eval()
        alphas, codes = [], []
        for start in range(0, n_rows, SAMPLE_CHUNK):
            size = min(SAMPLE_CHUNK, n_rows - start)
            z = torch.randn((size, self.embedding_dim), generator=generator, device=self.device_)
            raw, sigma = self.decoder_(z)
            a, c = decode_outputs(raw, sigma, index, generator, self.decoding)
            alphas.append(a.cpu().numpy())
            codes.append(c.cpu().numpy())
        if not alphas:
            return (
                np.empty((0, self.layout_.n_tanh), dtype=np.float32),
                np.empty((0, self.layout_.n_softmax), dtype=np.int64),
            )
        return np.concatenate(alphas), np.concatenate(codes)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to one safe file (safetensors + JSON; no pickle)."""
        self._check_fitted()
        tensors = {f"encoder.{k}": v for k, v in self.encoder_.state_dict().items()}
        tensors.update({f"decoder.{k}": v for k, v in self.decoder_.state_dict().items()})
        history = np.array(
            [[r["epoch"], r["batch"], r["loss"], r["reconstruction"], r["kl"]] for r in self.history_],
            dtype=np.float64,
        ).reshape(-1, 5)
        tensors["history"] = torch.from_numpy(history)
        description = {
            "library": "tvae",
            "library_version": __version__,
            "params": _json_params(self.get_params()),
            "transformer": self.transformer_.get_state(),
            "layout": self.layout_.to_list(),
            "input": self.input_info_.to_dict(),
            "training": self.training_summary_,
            "sampling_seed": self._sampling_seed,
        }
        save_model(path, tensors, description)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> TVAE:
        """Rebuild a model saved by :meth:`save`, on ``device`` (default: the best available)."""
        from tvae.errors import ModelFileError

        tensors, description = load_model(path)
        try:
            params = dict(description["params"])
            params["compress_dims"] = tuple(params["compress_dims"])
            params["decompress_dims"] = tuple(params["decompress_dims"])
            if device is not None:
                params["device"] = device
            model = cls(**params)
            model.transformer_ = TableTransformer.from_state(description["transformer"])
            model.layout_ = Layout.from_list(description["layout"])
            if model.layout_ != model.transformer_.layout:
                raise ValueError("layout does not match the transformer")
            target = resolve_device(model.device, model.enable_gpu)
            encoder, decoder = model._build_networks(model.layout_.width, 0, torch.device("cpu"))
            encoder.load_state_dict(_prefixed(tensors, "encoder."), strict=True)
            decoder.load_state_dict(_prefixed(tensors, "decoder."), strict=True)
            history = tensors["history"].numpy()
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise ModelFileError(f"{str(path)!r} holds an inconsistent model: {error}") from error
        model.encoder_, model.decoder_ = encoder.to(target).eval(), decoder.to(target).eval()
        model.device_ = target
        model.history_ = [
            {"epoch": int(e), "batch": int(b), "loss": float(v), "reconstruction": float(r), "kl": float(k)}
            for e, b, v, r, k in history
        ]
        model.input_info_ = InputInfo.from_dict(description["input"])
        model.training_summary_ = description["training"]
        model.n_features_in_ = len(model.transformer_.columns)
        model.feature_names_in_ = np.asarray(model.transformer_.column_names, dtype=object)
        model._sampling_seed = int(description["sampling_seed"])
        model._reset_sampler()
        return model


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
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


def load(path: str | os.PathLike, device: str | None = None) -> TVAE:
    """Load a model file written by :meth:`TVAE.save`."""
    return TVAE.load(path, device=device)
