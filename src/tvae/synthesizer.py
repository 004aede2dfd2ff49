"""TVAE: the public object. It validates, orchestrates and remembers; the maths lives elsewhere.

A drop-in for ``ctgan.TVAE``: the same constructor arguments and defaults, ``fit``,
``sample``, ``loss_values``, ``set_random_state``, ``set_device``, ``save`` and ``load``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
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
from tvae.metadata import Metadata
from tvae.model import Decoder, Encoder
from tvae.sampling import DECODINGS, decode_outputs
from tvae.schedule import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    Schedule,
    is_default,
    resolve_schedule,
)
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
        epochs: passes over the table. Left at their defaults, ``epochs`` and ``batch_size``
            let tvae choose its faster schedule (see :mod:`tvae.schedule`); any value given
            is honoured exactly. The schedule used is in ``schedule_`` after ``fit``.
        loss_factor: weight of the reconstruction term against the KL term.
        enable_gpu: use CUDA (or Apple MPS) when available and ``device`` is not given.
        verbose: show progress bars (transformer fitting and epochs, with the loss).
        random_state: seed of every random draw in ``fit`` and ``sample``; None draws fresh entropy.
        device: "auto" (default), "cpu", "cuda", "cuda:N" or "mps"; overrides ``enable_gpu``.
        learning_rate: Adam's learning rate (peak rate under the one-cycle schedule); None
            picks 1e-3 for "constant" (the reference) and 3e-3 for "onecycle".
        lr_schedule: "constant" (the reference), "onecycle", or "auto": one-cycle when
            ``epochs`` is left at its default, constant otherwise.
        decoding: how sampling reads categories and mixture modes from the decoder: "sample"
            draws them from its softmax; "argmax" takes the most likely one, as the reference.
        max_clusters: most mixture components per continuous column.
        weight_threshold: mixture components lighter than this are dropped.
        transformer_sample_size: fit the continuous columns' mixtures on at most this many rows
            (None: on every row, as the reference).
        enforce_min_max_values: clip generated numbers and datetimes to the range seen in
            ``fit`` (True) or let them extrapolate (False).

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
        batch_size: int = DEFAULT_BATCH_SIZE,
        epochs: int = DEFAULT_EPOCHS,
        loss_factor: float = 2,
        enable_gpu: bool = True,
        verbose: bool = False,
        *,
        random_state: int | None = None,
        device: str | None = None,
        learning_rate: float | None = None,
        lr_schedule: str = "auto",
        decoding: str = "sample",
        max_clusters: int = 10,
        weight_threshold: float = 0.005,
        transformer_sample_size: int | None = None,
        enforce_min_max_values: bool = True,
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
        self.enforce_min_max_values = enforce_min_max_values

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
        if self.learning_rate is not None:
            check_real("learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        check_choice("lr_schedule", self.lr_schedule, ("auto", *LR_SCHEDULES))
        check_choice("decoding", self.decoding, DECODINGS)
        check_positive_int("max_clusters", self.max_clusters)
        check_real("weight_threshold", self.weight_threshold, low=0.0)
        if self.transformer_sample_size is not None:
            check_positive_int("transformer_sample_size", self.transformer_sample_size)

    def _seeds(self) -> np.random.SeedSequence:
        """Independent child seeds for the transformer, the networks/training and sampling."""
        return np.random.SeedSequence(self.random_state)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        train_data: pd.DataFrame | np.ndarray,
        discrete_columns: Sequence = (),
        *,
        metadata: dict | None = None,
    ) -> TVAE:
        """Learn ``train_data``; ``discrete_columns`` lists its categorical columns.

        For a DataFrame give column names; for a 2-D ndarray give integer column indices.
        Columns not listed get a detected kind (numerical, categorical, boolean, datetime or
        id; see :mod:`tvae.metadata`), kept in ``metadata_``; ``metadata`` ({column: kind},
        partial or complete) overrides the detection. Missing values are modelled.
        """
        self._validate_params()
        frame, input_info = to_frame(train_data)
        # differs from the reference: it treats every unlisted column as continuous (and fails
        # on text, dates and booleans); we detect each column's kind.
        kinds = resolve_kinds(frame, discrete_columns, input_info, metadata)
        check_continuous_values(frame, kinds)
        device = resolve_device(self.device, self.enable_gpu)
        transformer_seq, network_seq, sampling_seq = self._seeds().spawn(3)
        started = time.perf_counter()

        transformer = TableTransformer(
            self.max_clusters,
            self.weight_threshold,
            self.transformer_sample_size,
            enforce_min_max_values=self.enforce_min_max_values,
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
        schedule = resolve_schedule(
            self.epochs, self.batch_size, self.learning_rate, self.lr_schedule, len(frame)
        )
        config = TrainingConfig(
            epochs=schedule.epochs,
            batch_size=schedule.batch_size,
            learning_rate=schedule.learning_rate,
            weight_decay=self.l2scale,
            loss_factor=self.loss_factor,
            lr_schedule=schedule.lr_schedule,
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
        self.schedule_ = schedule
        self.device_ = device
        self.input_info_ = input_info
        self.metadata_ = kinds
        self.n_features_in_ = frame.shape[1]
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.training_summary_ = {
            "n_rows": int(frame.shape[0]),
            **schedule.to_dict(),
            "final_loss": history[-1]["loss"],
            "transformer_seconds": round(transformer_seconds, 3),
            "fit_seconds": round(time.perf_counter() - started, 3),
            "device": str(device),
        }
        self._sampling_seed = int(sampling_seq.generate_state(1)[0])
        self._reset_sampler()
        return self

    def fit_distributed(
        self,
        data: str | os.PathLike | Sequence,
        discrete_columns: Sequence = (),
        *,
        metadata: dict | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
    ) -> TVAE:
        """Learn a Parquet table (folder, glob or files) with every worker of a torchrun job.

        Call it on every rank (a lone process works too); each worker reads only its share of
        the rows and the result is the same fitted model on every rank (save it on rank 0,
        see :func:`tvae.distributed.is_main_process`). Checkpoints go to ``checkpoint_dir``
        every ``checkpoint_every`` epochs; ``resume`` continues from one. See
        :mod:`tvae.distributed`.
        """
        from tvae.distributed import train_sharded

        result = train_sharded(
            self, data, discrete_columns, metadata=metadata, checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every, resume=resume,
        )  # fmt: skip
        self.transformer_ = result.transformer
        self.layout_ = result.transformer.layout
        self.encoder_, self.decoder_ = result.encoder, result.decoder
        self.history_ = result.history
        self.schedule_ = result.schedule
        self.device_ = result.device
        self.input_info_ = InputInfo("dataframe")
        self.metadata_ = result.kinds
        self.n_features_in_ = len(result.transformer.columns)
        self.feature_names_in_ = np.asarray(result.transformer.column_names, dtype=object)
        self.training_summary_ = result.summary
        self._sampling_seed = result.sampling_seed
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
    def sample(
        self,
        samples: int | None = None,
        *,
        conditions: dict | pd.DataFrame | None = None,
        random_state: int | None = None,
    ) -> pd.DataFrame | np.ndarray:
        """Generate ``samples`` synthetic rows, as the same kind of object ``fit`` received.

        Successive calls continue one random stream (seeded by ``random_state`` of the model);
        pass ``random_state`` here for a stream of its own.

        ``conditions`` asks for rows that satisfy given values exactly, the other columns drawn
        from the model's conditional distribution: a dict ``{column: value}`` (equality) or
        ``{column: (low, high)}`` (inclusive range, numeric columns), or a DataFrame of known
        values (any subset of the columns; empty cells are free), which returns one completed
        row per row of the frame, in order and with its index (``samples`` may be omitted).
        Raises :class:`~tvae.errors.ConditionError` for unknown columns or categories, and for
        conditions the model makes too unlikely to meet (stating the estimated probability).
        """
        self._check_fitted()
        generator = self._sampling_generator
        if random_state is not None:
            seed = check_seed("random_state", random_state)
            generator = torch.Generator(device=self.device_).manual_seed(seed)
        if conditions is not None:
            # differs from the reference: ctgan's TVAE cannot sample conditionally (CTGAN #200).
            frame = self._sample_conditional(samples, conditions, generator)
        else:
            n_rows = check_non_negative_int("samples", samples)
            alphas, codes = self._sample_encoded(n_rows, generator)
            frame = self.transformer_.inverse_transform(alphas, codes)
        if self.input_info_.kind == "ndarray":
            return frame.to_numpy(dtype=np.dtype(self.input_info_.array_dtype))
        return frame

    def _sample_conditional(
        self, samples: int | None, conditions: dict | pd.DataFrame, generator: torch.Generator
    ) -> pd.DataFrame:
        """Rows meeting ``conditions`` (see :mod:`tvae.conditional`); checks ``samples`` first."""
        from tvae.conditional import sample_conditional
        from tvae.errors import InvalidParameterError

        if isinstance(conditions, pd.DataFrame):
            n_given = None if samples is None else check_non_negative_int("samples", samples)
            if n_given is not None and n_given != len(conditions):
                raise InvalidParameterError(
                    f"samples={samples!r} differs from the {len(conditions)} rows of the "
                    "conditions frame; omit samples (one row is returned per row of the frame)"
                )
            n_rows = None
        else:
            if samples is None:
                raise InvalidParameterError(
                    "samples is required with a dict of conditions, e.g. "
                    "sample(100, conditions={'sex': 'Female'})"
                )
            n_rows = check_non_negative_int("samples", samples)
        return sample_conditional(
            self.transformer_, self.layout_, self.decoder_, self.embedding_dim,
            conditions, n_rows, generator, self.decoding,
        )  # fmt: skip

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

    def sample_chunks(
        self, n: int, chunk_rows: int = 100_000, random_state: int | None = None
    ) -> Iterator[pd.DataFrame]:
        """Generate ``n`` rows as DataFrames of at most ``chunk_rows`` rows each.

        For streaming to disk: memory is bounded by ``chunk_rows``, not ``n``. The rows are
        drawn in the same fixed-size blocks as :meth:`sample`, so the chunks, concatenated, equal
        ``sample(n, random_state=random_state)`` (as a DataFrame, whatever ``fit`` received),
        except for values drawn at decoding (UUID keys, rare values of wide categoricals), which
        are drawn per chunk, still reproducibly. Counted IDs stay unique across chunks.
        Arguments are checked now, before the first chunk is asked for.
        """
        self._check_fitted()
        n_rows = check_non_negative_int("n", n)
        chunk_rows = check_positive_int("chunk_rows", chunk_rows)
        generator = self._sampling_generator
        if random_state is not None:
            seed = check_seed("random_state", random_state)
            generator = torch.Generator(device=self.device_).manual_seed(seed)
        return self._iter_chunks(n_rows, chunk_rows, generator)

    def _iter_chunks(
        self, n_rows: int, chunk_rows: int, generator: torch.Generator
    ) -> Iterator[pd.DataFrame]:
        pending_alphas: list[np.ndarray] = []
        pending_codes: list[np.ndarray] = []
        pending = emitted = 0
        for start in range(0, n_rows, SAMPLE_CHUNK):
            size = min(SAMPLE_CHUNK, n_rows - start)
            with torch.no_grad():
                alphas, codes = self._sample_encoded(size, generator)  # one block, as in sample
            pending_alphas.append(alphas)
            pending_codes.append(codes)
            pending += size
            last = start + size == n_rows
            while pending >= chunk_rows or (last and pending):
                alphas, codes = np.concatenate(pending_alphas), np.concatenate(pending_codes)
                take = min(chunk_rows, pending)
                frame = self.transformer_.inverse_transform(alphas[:take], codes[:take])
                frame.index = pd.RangeIndex(emitted, emitted + take)
                if emitted:
                    self._continue_ids(frame, emitted)
                yield frame
                emitted += take
                pending -= take
                pending_alphas, pending_codes = [alphas[take:]], [codes[take:]]

    def _continue_ids(self, frame: pd.DataFrame, offset: int) -> None:
        """Counted ID columns go on from the previous chunk, so a streamed table keeps them
        unique (each ``inverse_transform`` call counts from the first new ID)."""
        for col in self.transformer_.columns:
            if getattr(col, "kind", None) != "id" or getattr(col, "style", "uuid") == "uuid":
                continue
            shifted = dataclasses.replace(col, start=col.start + offset)
            empty = np.empty((len(frame), 0))
            frame[col.name] = shifted.inverse(empty, empty.astype(np.int64)).to_numpy()

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to one safe file (safetensors + JSON; no pickle)."""
        self._check_fitted()
        tensors = {f"encoder.{k}": v for k, v in self.encoder_.state_dict().items()}
        tensors.update({f"decoder.{k}": v for k, v in self.decoder_.state_dict().items()})
        fields = ("epoch", "batch", "loss", "reconstruction", "kl")
        history = np.array(
            [[r[f] for f in fields] for r in self.history_], dtype=np.float64
        ).reshape(-1, 5)
        tensors["history"] = torch.from_numpy(history)
        description = {
            "library": "tvae",
            "library_version": __version__,
            "params": _json_params(self.get_params()),
            "transformer": self.transformer_.get_state(),
            "layout": self.layout_.to_list(),
            "input": self.input_info_.to_dict(),
            "metadata": self.metadata_.to_dict(),
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
            encoder, decoder = model._build_networks(model.layout_.width, 0, torch.device("cpu"))
            encoder.load_state_dict(_prefixed(tensors, "encoder."), strict=True)
            decoder.load_state_dict(_prefixed(tensors, "decoder."), strict=True)
            history = tensors["history"].numpy()
            model.history_ = [
                {"epoch": int(e), "batch": int(b), "loss": float(v),
                 "reconstruction": float(r), "kl": float(k)}
                for e, b, v, r, k in history
            ]
            model.input_info_ = InputInfo.from_dict(description["input"])
            model.metadata_ = Metadata.from_dict(
                description.get("metadata") or {c.name: c.kind for c in model.transformer_.columns}
            )
            model.training_summary_ = dict(description["training"])
            model.schedule_ = Schedule(
                **{k: model.training_summary_.get(k) for k in Schedule.__dataclass_fields__}
            )
            model._sampling_seed = int(description["sampling_seed"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
            # One line: torch's state-dict errors span many lines.
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ModelFileError(f"{str(path)!r} holds an inconsistent model: {reason}") from error
        target = resolve_device(model.device, model.enable_gpu)  # a bad ``device`` is the caller's
        model.encoder_, model.decoder_ = encoder.to(target).eval(), decoder.to(target).eval()
        model.device_ = target
        model.n_features_in_ = len(model.transformer_.columns)
        model.feature_names_in_ = np.asarray(model.transformer_.column_names, dtype=object)
        model._reset_sampler()
        return model


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments as JSON (tuples become lists; devices become strings)."""
    out = {}
    for key, value in params.items():
        if is_default(value):
            continue  # left to the constructor's default, so a refit chooses as the original did
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
