"""TVAE: the public object. It validates, orchestrates and remembers; the maths lives elsewhere.

A drop-in for ``ctgan.TVAE``: its constructor arguments (``cuda`` deprecated as there) and
defaults but "auto" ``epochs`` and ``batch_size`` (a faster schedule); ``fit``, ``sample``,
``loss_values``, ``set_random_state``, ``set_device``, ``save`` and ``load``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from tvae import params
from tvae.devices import gpu_enabled, resolve_device
from tvae.errors import NotFittedError
from tvae.fitting import FitResult, check_params, fit_frame
from tvae.floats import flushed_subnormals
from tvae.inputs import InputInfo, check_continuous_values, resolve_kinds, to_frame
from tvae.persistence import read_model, write_model
from tvae.privacy.fit import check_privacy_params, fit_private  # privacy (issue 14)
from tvae.sampling import SampleStream, concat_blocks, encoded_blocks, iter_chunks
from tvae.schedule import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LOSS_FACTOR
from tvae.threads import seeded_threads


class TVAE(BaseEstimator):
    """Tabular Variational Autoencoder: learns a table and generates synthetic rows like it.

    Parameters follow ``ctgan.TVAE`` (same names, order and defaults but "auto" for ``epochs``,
    ``batch_size`` and ``loss_factor``); the keyword-only ones after ``cuda`` are ours.

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
        loss_factor: weight of the reconstruction term against the KL term; "auto" (default):
            2, or on the fast schedule 2 to 5 by rows (:mod:`tvae.schedule`, ``schedule_``).
        enable_gpu: use CUDA (or Apple MPS) when available and ``device`` is not given.
        verbose: show progress bars (transformer fitting and epochs, with the loss).
        cuda: deprecated alias of ``enable_gpu``, accepted as by the reference (with a
            FutureWarning); None (default) leaves ``enable_gpu`` in charge.
        random_state: seed of every random draw in ``fit`` and ``sample``; None draws fresh entropy;
            a numpy ``RandomState`` or ``Generator`` gives each fit a seed drawn from it.
        device: "auto" (default), "cpu", "cuda", "cuda:N" or "mps"; overrides ``enable_gpu``.
        learning_rate: Adam's learning rate (peak rate under the one-cycle schedule); None
            picks 1e-3 for "constant" (the reference) and 3e-3 for "onecycle".
        lr_schedule: "constant" (the reference), "onecycle", or "auto": one-cycle when
            ``epochs`` is "auto", constant otherwise.
        precision: the training step's matrix products: "float32" (the reference), "bfloat16",
            or "auto" (default): bfloat16 on the fast schedule where the CPU has it natively
            (:mod:`tvae.precision`; the one used is in ``schedule_``).
        decoding: how sampling reads categories and mixture modes from the decoder: "sample"
            draws them from its softmax; "argmax" takes the most likely one, as the reference.
        max_clusters: most mixture components per continuous column.
        weight_threshold: mixture components lighter than this are dropped.
        transformer_sample_size: fit the continuous columns' mixtures on at most this many rows
            (None: on every row, as the reference).
        enforce_min_max_values: clip generated numbers and datetimes to the range seen in
            ``fit`` (True) or let them extrapolate (False).
        prior: where sampled latents come from: "mixture" (default) is a Gaussian mixture
            fitted after training on draws from the encoder's posteriors (:mod:`tvae.prior`);
            "standard" is N(0, I), as the reference.
        point_masses: give numeric values held by many rows (zeros, caps, round numbers) exact
            modes, so they come back exactly and at their rate (False: the mixture alone, as
            the reference).
        log_scale: "auto" (default) fits a positive number's mixture to its log where that makes
            its values likelier (:mod:`tvae.transformer.continuous`); True always, False never.
        calibrate: after the prior is fitted, shift the decoder's logits so that each category,
            numeric mode and point mass is sampled at its training rate (:mod:`tvae.calibration`;
            only with ``decoding="sample"``). False: as the reference.
        refine: keep sampled rows by the odds of a classifier told to tell them from real rows
            (:mod:`tvae.refiner`). "auto" (default): with ``decoding="sample"`` on 2,500 rows or
            more (``fit_distributed``: on rank 0), not under ``epsilon``. False: as the reference.
        quantile_map: map each drawn number onto the real column's value at its rank among the
            model's draws, so that its heaps and shape come back (:mod:`tvae.transformer.
            quantile_map`). "auto" (default): where ``refine`` applies. False: as the reference.
        epsilon, delta: an (epsilon, delta) differential-privacy guarantee for everything the
            model keeps (:mod:`tvae.privacy`, docs/privacy.md; spending in ``privacy_``); delta
            in (0, 1/n], None: 1 / (10 n). epsilon=None (default): no DP.
        public: with ``epsilon``, facts declared public (no budget spent): ``{column: {"bounds":
            [low, high]} or {"categories": [...]}}``.

    ``fit`` also finds exact dependencies (a column determined by another, an order such as
    start <= end) that hold in every real row, keeps them in ``metadata_.dependencies`` and in
    every sampled row (:mod:`tvae.transformer.dependencies`); ``metadata`` with
    ``"dependencies"`` overrides them (``[]`` keeps none). The reference's behaviour is ``TVAE(
    epochs=300, prior="standard", decoding="argmax", point_masses=False, log_scale=False)``
    with ``metadata={"columns": {...}, "dependencies": []}``.

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
        loss_factor: float | str = DEFAULT_LOSS_FACTOR,
        enable_gpu: bool = True,
        verbose: bool = False,
        cuda: bool | None = None,
        *,
        random_state: params.Seed = None,
        device: str | None = None,
        learning_rate: float | None = None,
        lr_schedule: str = "auto",
        precision: str = "auto",
        decoding: str = "sample",
        max_clusters: int = 10,
        weight_threshold: float = 0.005,
        transformer_sample_size: int | None = None,
        enforce_min_max_values: bool = True,
        prior: str = "mixture",
        point_masses: bool = True,
        log_scale: bool | str = "auto",
        calibrate: bool = True,
        refine: bool | str = "auto",
        quantile_map: bool | str = "auto",
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
            message = "cuda is deprecated (as in ctgan.TVAE); use enable_gpu, or device"
            warnings.warn(message, FutureWarning, stacklevel=2)
        self.random_state = random_state
        self.device = device
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.precision = precision
        self.decoding = decoding
        self.max_clusters = max_clusters
        self.weight_threshold = weight_threshold
        self.transformer_sample_size = transformer_sample_size
        self.enforce_min_max_values = enforce_min_max_values
        self.prior = prior
        self.point_masses = point_masses
        self.log_scale = log_scale
        self.calibrate = calibrate
        self.refine = refine
        self.quantile_map = quantile_map
        self.epsilon = epsilon  # privacy (issue 14)
        self.delta = delta
        self.public = public

    # ------------------------------------------------------------------ fit
    @seeded_threads
    @flushed_subnormals()
    @params.drawing_seed
    def fit(
        self,
        train_data: pd.DataFrame | np.ndarray,
        discrete_columns: Sequence = (),
        *,
        metadata: dict | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
    ) -> TVAE:
        """Learn ``train_data``; ``discrete_columns`` lists its categorical columns (names for a
        DataFrame, indices for an ndarray). Unlisted columns get a detected kind
        (:mod:`tvae.kinds`), kept in ``metadata_``; ``metadata`` ({column: kind}) overrides it.
        Missing values are modelled. ``checkpoint_dir`` keeps a resumable state every
        ``checkpoint_every`` epochs; ``resume=True`` continues from it to the same model."""
        check_params(self)
        check_privacy_params(self, checkpoint_dir, resume=resume)  # privacy (issue 14)
        if self.epsilon is not None:  # privacy (issue 14): the whole fit under one DP budget
            return fit_private(self, train_data, discrete_columns, metadata)
        frame, input_info = to_frame(train_data)
        # differs from the reference: it treats every unlisted column as continuous (and fails
        # on text, dates and booleans); we detect each column's kind.
        kinds = resolve_kinds(frame, discrete_columns, input_info, metadata)
        check_continuous_values(frame, kinds)
        result = fit_frame(
            self, frame, kinds, checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
            resume=resume,
        )  # fmt: skip
        return self._set_fitted(result, input_info)

    def _set_fitted(self, result: FitResult, input_info: InputInfo) -> TVAE:
        """Record everything a fit learned (in memory or distributed)."""
        self.prior_ = result.prior
        self.refiner_ = result.refiner
        self.transformer_ = result.transformer
        self.layout_ = result.transformer.layout
        self.encoder_, self.decoder_ = result.encoder, result.decoder
        self.history_ = result.history
        self.schedule_ = result.schedule
        self.device_ = result.device
        self.input_info_ = input_info
        self.metadata_ = result.kinds
        self.n_features_in_ = len(result.transformer.table_names)
        self.feature_names_in_ = np.asarray(result.transformer.table_names, dtype=object)
        self.training_summary_ = result.summary
        self._sampling_seed = result.sampling_seed
        self._reset_sampler()
        return self

    @flushed_subnormals()
    @params.drawing_seed
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

        Call it on every rank (a lone process works too); each worker reads its share of the rows,
        and every rank gets the same fitted model (save it on rank 0: ``is_main_process``).
        Checkpoints and ``resume`` as in :meth:`fit`. See :mod:`tvae.distributed`.
        """
        from tvae.distributed.training import train_sharded  # torch.distributed: when asked

        check_privacy_params(self, checkpoint_dir, distributed=True)  # privacy (issue 14)
        result = train_sharded(
            self, data, discrete_columns, metadata=metadata, checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every, resume=resume,
        )  # fmt: skip
        return self._set_fitted(result, InputInfo("dataframe"))

    # ------------------------------------------------------------------ state
    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError("This TVAE is not fitted yet; call fit(train_data) first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "decoder_")

    def _reset_sampler(self) -> None:
        """Restart the sampling stream from the seed (and its count of issued IDs)."""
        self._stream = SampleStream(self._sampling_seed, self.device_)

    @property
    def loss_values(self) -> pd.DataFrame:
        """Loss of each training batch, as the reference: Epoch, Batch, Loss (empty unfitted)."""
        if not self.__sklearn_is_fitted__():
            return pd.DataFrame(columns=["Epoch", "Batch", "Loss"])
        frame = pd.DataFrame(self.history_, columns=["epoch", "batch", "loss"])
        return frame.rename(columns={"epoch": "Epoch", "batch": "Batch", "loss": "Loss"})

    def set_random_state(self, random_state: params.Seed | tuple) -> None:
        """Set the seed for the next ``fit``; on a fitted model, restart sampling from it. As the
        reference, it takes a ``(numpy.random.RandomState, torch.Generator)`` pair, whose states
        give the seed (neither kept nor advanced); a lone RandomState or Generator draws one.
        """
        if isinstance(random_state, tuple):
            random_state = params.seed_from_states(random_state)
        self.random_state = params.seed_of("random_state", random_state)
        if self.__sklearn_is_fitted__():
            # the sampling seed of a fit with this random_state (see tvae.fitting.fit_frame)
            sampling_seq = np.random.SeedSequence(self.random_state).spawn(3)[2]
            self._sampling_seed = int(sampling_seq.generate_state(1)[0])
            self._reset_sampler()

    def set_device(self, device: str | torch.device) -> None:
        """Move the model (and future fits) to ``device``."""
        self.device = str(device)
        if self.__sklearn_is_fitted__():
            target = resolve_device(self.device, gpu_enabled(self.enable_gpu, self.cuda))
            for network in (self.encoder_, self.decoder_, self.refiner_):
                if network is not None:
                    network.to(target)
            self.device_ = target
            self._stream.move(target)  # the stream restarts on the new device; IDs go on

    # ------------------------------------------------------------------ sample
    @seeded_threads
    @torch.no_grad()
    def sample(
        self,
        samples: int | None = None,
        *,
        conditions: dict | pd.DataFrame | None = None,
        random_state: params.Seed = None,
        id_offset: int | None = None,
    ) -> pd.DataFrame | np.ndarray:
        """Generate ``samples`` synthetic rows, as the same kind of object ``fit`` received.

        Calls continue one random stream (seeded by the model's ``random_state``, restarted by
        :meth:`set_random_state`); ``random_state`` here gives a stream of its own.

        ID columns (:mod:`tvae.transformer.identifier`) get fresh IDs, never repeated in the
        model's stream; a call with its own ``random_state`` numbers from a block derived from
        that seed (billions above the real IDs); ``id_offset`` sets the first position instead.

        ``conditions`` asks for rows that satisfy given values exactly, the other columns drawn
        from the model's conditional distribution: a dict ``{column: value}`` (equality) or
        ``{column: (low, high)}`` (inclusive range, numeric columns), or a DataFrame of known
        values (any subset of the columns; empty cells are free), which returns one completed
        row per row of the frame, in order and with its index (``samples`` may be omitted).
        Raises :class:`~tvae.errors.ConditionError` for unknown columns or categories, and for
        conditions the model makes too unlikely to meet (stating the estimated probability).
        """
        self._check_fitted()
        seed = params.seed_of("random_state", random_state)
        if id_offset is not None:
            params.check_non_negative_int("id_offset", id_offset)
        generator = self._stream.generator_for(seed)
        if conditions is not None:
            # differs from the reference: ctgan's TVAE cannot sample conditionally (CTGAN #200).
            frame = self._sample_conditional(samples, conditions, generator, seed, id_offset)
        else:
            n_rows = params.check_samples(samples, self.n_features_in_)
            alphas, codes = concat_blocks(self._blocks(n_rows, generator), self.layout_)
            first_id = self._stream.first_id(n_rows, seed, id_offset)
            frame = self.transformer_.inverse_transform(alphas, codes, id_offset=first_id)
        return self.input_info_.convert(frame)  # the kind of object fit received

    def _sample_conditional(self, samples, conditions, generator, seed, id_offset) -> pd.DataFrame:
        """Rows meeting ``conditions`` (see :mod:`tvae.conditional`)."""
        from tvae.conditional import count_requested, sample_conditional

        n_rows = count_requested(samples, conditions, self.n_features_in_)
        n_ids = len(conditions) if isinstance(conditions, pd.DataFrame) else n_rows
        return sample_conditional(
            self.transformer_, self.layout_, self.decoder_, self.prior_,
            conditions, n_rows, generator, self.decoding,
            id_offset=self._stream.first_id(n_ids or 0, seed, id_offset), refiner=self.refiner_,
        )  # fmt: skip

    def _blocks(self, n_rows: int, generator: torch.Generator):
        """``n_rows`` encoded rows in the sampler's fixed blocks (see :mod:`tvae.sampling`)."""
        model = (self.decoder_, self.prior_, self.transformer_)
        return encoded_blocks(*model, n_rows, generator, self.decoding, self.refiner_)

    def sample_chunks(
        self,
        n: int,
        chunk_rows: int = 100_000,
        random_state: params.Seed = None,
        *,
        id_offset: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Generate ``n`` rows as DataFrames of at most ``chunk_rows`` rows each (memory bounded
        by ``chunk_rows``). Concatenated, the chunks equal ``sample(n, random_state=...)`` but for
        values drawn at decoding (UUID keys, rare values of wide categoricals), drawn per chunk,
        reproducibly. IDs are numbered as by :meth:`sample`; arguments are checked at once.
        """
        self._check_fitted()
        n_rows = params.check_non_negative_int("n", n)
        chunk_rows = params.check_positive_int("chunk_rows", chunk_rows)
        seed = params.seed_of("random_state", random_state)
        generator = self._stream.generator_for(seed)
        first_id = self._stream.first_id(n_rows, seed, id_offset)
        return iter_chunks(self._blocks(n_rows, generator), self.transformer_, chunk_rows, first_id)

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
