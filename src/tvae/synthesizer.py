"""TVAE: the public object. It validates, orchestrates and remembers; the maths lives elsewhere.

A drop-in for ``ctgan.TVAE``: the same constructor arguments (``cuda`` included, deprecated as
there) and defaults, except ``epochs`` and ``batch_size``, whose "auto" defaults select a faster
schedule (``TVAE(epochs=300, batch_size=500)`` trains as the reference's defaults); ``fit``,
``sample``, ``loss_values``, ``set_random_state``, ``set_device``, ``save`` and ``load``.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from tvae.devices import resolve_device
from tvae.errors import InvalidParameterError, NotFittedError
from tvae.loss import SpanIndex
from tvae.model import Decoder, Encoder
from tvae.persistence import read_model, write_model
from tvae.prior import PRIORS, LatentPrior, MixturePrior, StandardPrior
from tvae.privacy.fit import check_privacy_params, fit_private  # privacy (issue 14)
from tvae.sampling import DECODINGS, SAMPLE_CHUNK, decode_outputs
from tvae.schedule import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    Schedule,
    resolve_schedule,
)
from tvae.streaming import iter_chunks
from tvae.threads import uses_threads
from tvae.training import (
    LR_SCHEDULES,
    TrainingConfig,
    TrainingData,
    fit_loop,
    posterior,
)
from tvae.transformer import TableTransformer
from tvae.transformer.identifier import seeded_id_offset
from tvae.validation import (
    InputInfo,
    check_auto_or_positive_int,
    check_choice,
    check_continuous_values,
    check_dims,
    check_non_negative_int,
    check_positive_int,
    check_real,
    check_seed,
    resolve_kinds,
    seed_from_states,
    to_frame,
)


class TVAE(BaseEstimator):
    """Tabular Variational Autoencoder: learns a table and generates synthetic rows like it.

    Parameters follow ``ctgan.TVAE`` (same names and order; same defaults except "auto" for
    ``epochs`` and ``batch_size``); the keyword-only ones after ``cuda`` are ours.

    Args:
        embedding_dim: size of the latent vector.
        compress_dims: hidden layer sizes of the encoder.
        decompress_dims: hidden layer sizes of the decoder.
        l2scale: Adam weight decay.
        batch_size: rows per optimiser step, or "auto" (default): 500.
        epochs: passes over the table, or "auto" (default): tvae's faster schedule, a one-cycle
            learning rate over a budget of optimiser steps (see :mod:`tvae.schedule`). Any
            integer is honoured exactly with the reference's constant learning rate, so
            ``TVAE(epochs=300, batch_size=500)`` trains as ``ctgan.TVAE()``. The schedule used
            is in ``schedule_`` after ``fit``.
        loss_factor: weight of the reconstruction term against the KL term.
        enable_gpu: use CUDA (or Apple MPS) when available and ``device`` is not given.
        verbose: show progress bars (transformer fitting and epochs, with the loss).
        cuda: deprecated alias of ``enable_gpu``, accepted as by the reference (with a
            FutureWarning); None (default) leaves ``enable_gpu`` in charge.
        random_state: seed of every random draw in ``fit`` and ``sample``; None draws fresh entropy.
        device: "auto" (default), "cpu", "cuda", "cuda:N" or "mps"; overrides ``enable_gpu``.
        learning_rate: Adam's learning rate (peak rate under the one-cycle schedule); None
            picks 1e-3 for "constant" (the reference) and 3e-3 for "onecycle".
        lr_schedule: "constant" (the reference), "onecycle", or "auto": one-cycle when
            ``epochs`` is "auto", constant otherwise.
        decoding: how sampling reads categories and mixture modes from the decoder: "sample"
            draws them from its softmax; "argmax" takes the most likely one, as the reference.
        max_clusters: most mixture components per continuous column.
        weight_threshold: mixture components lighter than this are dropped.
        transformer_sample_size: fit the continuous columns' mixtures on at most this many rows
            (None: on every row, as the reference).
        enforce_min_max_values: clip generated numbers and datetimes to the range seen in
            ``fit`` (True) or let them extrapolate (False).
        prior: where sampled latents come from: "mixture" (default) is a Gaussian mixture
            fitted after training on the encoder's posterior means (see :mod:`tvae.prior`);
            "standard" is N(0, I), as the reference.
        point_masses: give numeric values held by many rows (zeros, caps, round numbers) exact
            modes, so they come back exactly and at their rate (False: the mixture alone, as
            the reference).
        epsilon: privacy budget; given, ``fit`` gives an (epsilon, delta) differential-privacy
            guarantee for everything the model keeps (see :mod:`tvae.privacy` and
            docs/privacy.md); the spending is reported in ``privacy_``. None (default): no DP.
        delta: the delta of the guarantee, in (0, 1/n]; None: 1 / (10 n).
        public: with ``epsilon``, per-column facts the user declares public (they spend no
            budget): ``{column: {"bounds": [low, high]}}`` or ``{column: {"categories": [...]}}``.

    ``fit`` also finds exact dependencies between columns (a column determined by another, an
    order such as start <= end) that hold in every real row, keeps them in
    ``metadata_.dependencies`` and makes them hold in every sampled row; see
    :mod:`tvae.transformer.dependencies`. ``fit(..., metadata=...)`` with ``"dependencies"``
    overrides them (``[]`` keeps none). The reference's behaviour is
    ``TVAE(epochs=300, prior="standard", decoding="argmax", point_masses=False)`` with
    ``metadata={"columns": {...}, "dependencies": []}``.

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
        batch_size: int | str = DEFAULT_BATCH_SIZE,
        epochs: int | str = DEFAULT_EPOCHS,
        loss_factor: float = 2,
        enable_gpu: bool = True,
        verbose: bool = False,
        cuda: bool | None = None,
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
        prior: str = "mixture",
        point_masses: bool = True,
        epsilon: float | None = None,  # privacy (issue 14): see tvae.privacy
        delta: float | None = None,
        public: dict | None = None,
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
        self.cuda = cuda
        if cuda is not None:  # at construction, where the reference warns (clone warns again)
            warnings.warn(
                "cuda is deprecated (as in ctgan.TVAE); use enable_gpu, or device", FutureWarning,
                stacklevel=2,
            )  # fmt: skip
        self.random_state = random_state
        self.device = device
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.decoding = decoding
        self.max_clusters = max_clusters
        self.weight_threshold = weight_threshold
        self.transformer_sample_size = transformer_sample_size
        self.enforce_min_max_values = enforce_min_max_values
        self.prior = prior
        self.point_masses = point_masses
        self.epsilon = epsilon  # privacy (issue 14)
        self.delta = delta
        self.public = public

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        check_positive_int("embedding_dim", self.embedding_dim)
        check_dims("compress_dims", self.compress_dims)
        check_dims("decompress_dims", self.decompress_dims)
        check_real("l2scale", self.l2scale, low=0.0)
        check_auto_or_positive_int("batch_size", self.batch_size)
        check_auto_or_positive_int("epochs", self.epochs)
        if self.cuda is not None and not self.enable_gpu:
            raise InvalidParameterError(
                f"cuda={self.cuda!r} and enable_gpu=False conflict; give only enable_gpu "
                "(cuda is its deprecated alias)"
            )
        check_real("loss_factor", self.loss_factor, low=0.0, low_inclusive=False)
        check_seed("random_state", self.random_state)
        if self.learning_rate is not None:
            check_real("learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        check_choice("lr_schedule", self.lr_schedule, ("auto", *LR_SCHEDULES))
        check_choice("decoding", self.decoding, DECODINGS)
        check_choice("prior", self.prior, PRIORS)
        check_positive_int("max_clusters", self.max_clusters)
        check_real("weight_threshold", self.weight_threshold, low=0.0)
        if self.transformer_sample_size is not None:
            check_positive_int("transformer_sample_size", self.transformer_sample_size)
        check_privacy_params(self)  # privacy (issue 14)

    def _gpu_enabled(self) -> bool:
        """``enable_gpu``, unless the deprecated ``cuda`` alias was given."""
        cuda = getattr(self, "cuda", None)
        return bool(self.enable_gpu if cuda is None else cuda)

    def _seeds(self) -> np.random.SeedSequence:
        """Independent child seeds for the transformer, the networks/training and sampling."""
        return np.random.SeedSequence(self.random_state)

    # ------------------------------------------------------------------ fit
    @uses_threads
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
        if self.epsilon is not None:  # privacy (issue 14): the whole fit under one DP budget
            return fit_private(self, train_data, discrete_columns, metadata)
        frame, input_info = to_frame(train_data)
        # differs from the reference: it treats every unlisted column as continuous (and fails
        # on text, dates and booleans); we detect each column's kind.
        kinds = resolve_kinds(frame, discrete_columns, input_info, metadata)
        check_continuous_values(frame, kinds)
        device = resolve_device(self.device, self._gpu_enabled())
        transformer_seq, network_seq, sampling_seq = self._seeds().spawn(3)
        started = time.perf_counter()

        transformer = TableTransformer(
            self.max_clusters,
            self.weight_threshold,
            self.transformer_sample_size,
            enforce_min_max_values=self.enforce_min_max_values,
        )
        data_rng = np.random.default_rng(transformer_seq)
        transformer.fit(
            frame, kinds, data_rng, progress=self.verbose, dependencies=kinds.dependencies,
            point_masses=bool(self.point_masses),
        )  # fmt: skip
        kinds.dependencies = transformer.dependencies.describe()
        encoded = transformer.transform(frame, data_rng)
        transformer_seconds = time.perf_counter() - started

        layout = transformer.layout
        network_seed = int(network_seq.generate_state(1)[0])
        encoder, decoder = self._build_networks(layout.width, network_seed, device)
        data = TrainingData(
            torch.from_numpy(encoded.alphas).to(device), torch.from_numpy(encoded.codes).to(device)
        )
        schedule = resolve_schedule(
            self.epochs, self.batch_size, self.learning_rate, self.lr_schedule, len(frame),
            layout.width, len(transformer.columns),
        )  # fmt: skip
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
        prior_seed = int(network_seq.generate_state(2)[1])
        prior = self._fit_prior(lambda: posterior(encoder, data, index, layout.width), prior_seed)

        summary = {
            "n_rows": int(frame.shape[0]),
            **schedule.to_dict(),
            "final_loss": history[-1]["loss"],
            "transformer_seconds": round(transformer_seconds, 3),
            "fit_seconds": round(time.perf_counter() - started, 3),
            "device": str(device),
        }
        return self._set_fitted(
            transformer, encoder, decoder, history, schedule, device, input_info, kinds, summary,
            int(sampling_seq.generate_state(1)[0]), prior,
        )  # fmt: skip

    def _fit_prior(self, posteriors: Any, seed: int) -> LatentPrior:
        """The latent prior ``prior`` asks for; ``posteriors()`` gives every training row's
        posterior mean and log-variance, (N, E) each."""
        if self.prior == "standard":
            return StandardPrior(self.embedding_dim)
        # differs from the reference: it samples N(0, I), which most latents of a trained
        # encoder never visit (posterior collapse leaves few active dimensions).
        return MixturePrior.fit(*posteriors(), seed)

    def _set_fitted(
        self, transformer: TableTransformer, encoder: Encoder, decoder: Decoder,
        history: list[dict], schedule: Schedule, device: torch.device, input_info: InputInfo,
        metadata: Any, summary: dict, sampling_seed: int, prior: LatentPrior,
    ) -> TVAE:  # fmt: skip
        """Record everything ``fit`` learned (shared by the in-memory and distributed fits)."""
        self.prior_ = prior
        self.transformer_ = transformer
        self.layout_ = transformer.layout
        self.encoder_, self.decoder_ = encoder, decoder
        self.history_ = history
        self.schedule_ = schedule
        self.device_ = device
        self.input_info_ = input_info
        self.metadata_ = metadata
        self.n_features_in_ = len(transformer.columns)
        self.feature_names_in_ = np.asarray(transformer.column_names, dtype=object)
        self.training_summary_ = summary
        self._sampling_seed = sampling_seed
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

        if getattr(self, "epsilon", None) is not None:  # privacy (issue 14)
            raise InvalidParameterError(
                f"epsilon={self.epsilon!r}: fit_distributed does not train under differential "
                "privacy; use fit"
            )
        result = train_sharded(
            self, data, discrete_columns, metadata=metadata, checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every, resume=resume,
        )  # fmt: skip
        return self._set_fitted(
            result.transformer, result.encoder, result.decoder, result.history, result.schedule,
            result.device, InputInfo("dataframe"), result.kinds, result.summary,
            result.sampling_seed, result.prior,
        )  # fmt: skip

    def _build_networks(
        self, data_dim: int, seed: int, device: torch.device
    ) -> tuple[Encoder, Decoder]:
        # Initialise from a private seed, leaving the global torch RNG as the user had it.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            encoder = Encoder(
                data_dim, check_dims("compress_dims", self.compress_dims), self.embedding_dim
            )
            decoder = Decoder(
                self.embedding_dim, check_dims("decompress_dims", self.decompress_dims), data_dim
            )
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
        """Restart the sampling stream from the seed, so a given seed gives the same rows; the
        count of IDs issued on the stream restarts with it."""
        self._sampling_generator = torch.Generator(device=self.device_).manual_seed(
            self._sampling_seed
        )
        self._ids_issued = 0

    def _id_offset(self, n_rows: int, seed: int | None, id_offset: int | None) -> int:
        """Where the IDs of ``n_rows`` new rows start (see :meth:`sample`)."""
        if id_offset is not None:
            return check_non_negative_int("id_offset", id_offset)
        if seed is not None:
            return seeded_id_offset(seed)
        start = self._ids_issued
        self._ids_issued += n_rows
        return start

    @property
    def loss_values(self) -> pd.DataFrame:
        """Loss of every training batch, as the reference: columns Epoch, Batch, Loss (no rows
        before ``fit``)."""
        if not self.__sklearn_is_fitted__():
            return pd.DataFrame(columns=["Epoch", "Batch", "Loss"])
        frame = pd.DataFrame(self.history_, columns=["epoch", "batch", "loss"])
        return frame.rename(columns={"epoch": "Epoch", "batch": "Batch", "loss": "Loss"})

    def set_random_state(
        self, random_state: int | tuple[np.random.RandomState, torch.Generator] | None
    ) -> None:
        """Set the seed for the next ``fit``; on a fitted model, restart sampling from it.

        As the reference, it also takes a ``(numpy.random.RandomState, torch.Generator)``
        pair; the seed is then derived from their current states (same states, same seed)
        and stored as ``random_state``; the pair itself is neither kept nor advanced.
        """
        if isinstance(random_state, tuple):
            random_state = seed_from_states(random_state)
        check_seed("random_state", random_state)
        self.random_state = random_state
        if self.__sklearn_is_fitted__():
            self._sampling_seed = int(self._seeds().spawn(3)[2].generate_state(1)[0])
            self._reset_sampler()

    def set_device(self, device: str | torch.device) -> None:
        """Move the model (and future fits) to ``device``."""
        self.device = str(device)
        if self.__sklearn_is_fitted__():
            target = resolve_device(self.device, self._gpu_enabled())
            self.encoder_.to(target)
            self.decoder_.to(target)
            self.device_ = target
            issued = self._ids_issued
            self._reset_sampler()
            self._ids_issued = issued  # the stream restarts on the new device; IDs go on

    # ------------------------------------------------------------------ sample
    @uses_threads
    @torch.no_grad()
    def sample(
        self,
        samples: int | None = None,
        *,
        conditions: dict | pd.DataFrame | None = None,
        random_state: int | None = None,
        id_offset: int | None = None,
    ) -> pd.DataFrame | np.ndarray:
        """Generate ``samples`` synthetic rows, as the same kind of object ``fit`` received.

        Successive calls continue one random stream (seeded by ``random_state`` of the model,
        restarted by :meth:`set_random_state`); pass ``random_state`` here for a stream of its
        own, which gives the same rows every time.

        ID columns (see :mod:`tvae.transformer.identifier`) get fresh IDs: calls on the model's
        stream continue one numbering (the model counts the IDs it has issued; the count
        restarts with the stream), so their rows never repeat an ID. A call with its own
        ``random_state`` numbers its rows from a block derived from that seed, far from the
        stream's (integer IDs then start billions above the real ones): the same seed gives the
        same IDs, different seeds almost surely disjoint ones. ``id_offset`` sets the first
        position instead (for callers that split one output into parts, each at its row offset).

        ``conditions`` asks for rows that satisfy given values exactly, the other columns drawn
        from the model's conditional distribution: a dict ``{column: value}`` (equality) or
        ``{column: (low, high)}`` (inclusive range, numeric columns), or a DataFrame of known
        values (any subset of the columns; empty cells are free), which returns one completed
        row per row of the frame, in order and with its index (``samples`` may be omitted).
        Raises :class:`~tvae.errors.ConditionError` for unknown columns or categories, and for
        conditions the model makes too unlikely to meet (stating the estimated probability).
        """
        self._check_fitted()
        generator, seed = self._sampling_generator, check_seed("random_state", random_state)
        if id_offset is not None:
            check_non_negative_int("id_offset", id_offset)
        if seed is not None:
            generator = torch.Generator(device=self.device_).manual_seed(seed)
        if conditions is not None:
            # differs from the reference: ctgan's TVAE cannot sample conditionally (CTGAN #200).
            frame = self._sample_conditional(samples, conditions, generator, seed, id_offset)
        else:
            n_rows = check_non_negative_int("samples", samples)
            alphas, codes = self._sample_encoded(n_rows, generator)
            first_id = self._id_offset(n_rows, seed, id_offset)
            frame = self.transformer_.inverse_transform(alphas, codes, id_offset=first_id)
        return self.input_info_.convert(frame)  # the kind of object fit received

    def _sample_conditional(
        self, samples: int | None, conditions: dict | pd.DataFrame, generator: torch.Generator,
        seed: int | None, id_offset: int | None,
    ) -> pd.DataFrame:  # fmt: skip
        """Rows meeting ``conditions`` (see :mod:`tvae.conditional`)."""
        from tvae.conditional import count_requested, sample_conditional

        n_rows = count_requested(samples, conditions)
        n_ids = len(conditions) if isinstance(conditions, pd.DataFrame) else n_rows
        return sample_conditional(
            self.transformer_, self.layout_, self.decoder_, self.prior_,
            conditions, n_rows, generator, self.decoding,
            id_offset=self._id_offset(n_ids or 0, seed, id_offset),
        )  # fmt: skip

    def _sample_encoded(
        self, n_rows: int, generator: torch.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_rows`` encoded rows in fixed-size chunks: alphas (N, T), codes (N, S)."""
        index = SpanIndex.from_layout(self.layout_, self.device_)
        self.decoder_.eval()
        alphas, codes = [], []
        for start in range(0, n_rows, SAMPLE_CHUNK):
            size = min(SAMPLE_CHUNK, n_rows - start)
            z = self.prior_.sample(size, generator)
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
        self,
        n: int,
        chunk_rows: int = 100_000,
        random_state: int | None = None,
        *,
        id_offset: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Generate ``n`` rows as DataFrames of at most ``chunk_rows`` rows each.

        For streaming to disk: memory is bounded by ``chunk_rows``, not ``n``. The rows are
        drawn in the same fixed-size blocks as :meth:`sample`, so the chunks, concatenated, equal
        ``sample(n, random_state=random_state)`` (as a DataFrame, whatever ``fit`` received),
        except for values drawn at decoding (UUID keys, rare values of wide categoricals), which
        are drawn per chunk, still reproducibly. IDs are numbered across chunks as by
        :meth:`sample` (the ``n`` IDs are reserved now, on the model's stream). Arguments are
        checked now, before the first chunk is asked for.
        """
        self._check_fitted()
        n_rows = check_non_negative_int("n", n)
        chunk_rows = check_positive_int("chunk_rows", chunk_rows)
        generator, seed = self._sampling_generator, check_seed("random_state", random_state)
        if seed is not None:
            generator = torch.Generator(device=self.device_).manual_seed(seed)
        first_id = self._id_offset(n_rows, seed, id_offset)
        return iter_chunks(self, n_rows, chunk_rows, generator, first_id)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to one safe file (safetensors + JSON; no pickle)."""
        self._check_fitted()
        write_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> TVAE:
        """Rebuild a model saved by :meth:`save`, on ``device`` (default: the best available)."""
        return read_model(cls, path, device)


def load(path: str | os.PathLike, device: str | None = None) -> TVAE:
    """Load a model file written by :meth:`TVAE.save`."""
    return TVAE.load(path, device=device)
