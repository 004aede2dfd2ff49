"""One fit, from a table in memory to the fitted parts: seeds, transformer, networks, training,
prior. :meth:`tvae.TVAE.fit` calls :func:`fit_frame`; the sharded fit
(:func:`tvae.distributed.training.train_sharded`) makes the same parts from Parquet shards, and
both train through :func:`tvae.training.train`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from tvae.calibration import (
    CALIBRATION_DRAWS,
    calibrate_marginals,
    match_drawn_rates,
    sharpen_softmax_spans,
)
from tvae.checkpoint import check_same_params, load_checkpoint
from tvae.devices import gpu_enabled, resolve_device
from tvae.drawn_rates import drawn_spans, sampler_draw
from tvae.errors import InvalidDataError, InvalidParameterError, InvalidParameterTypeError
from tvae.exclusions import find_exclusions
from tvae.kinds import Metadata
from tvae.layout import SpanIndex
from tvae.params import (
    check_auto_or_positive_int,
    check_choice,
    check_dims,
    check_positive_int,
    check_random_state,
    check_real,
)
from tvae.precision import PRECISIONS, resolve_precision
from tvae.prior import PRIORS, LatentPrior, MixturePrior, StandardPrior
from tvae.quantile_fit import fit_maps
from tvae.refiner import DRAWN_PER_REAL, TRAIN_ROWS, Refiner, refines_by_default
from tvae.refiner_training import step_budget, train_refiner
from tvae.sampling import DECODINGS, concat_blocks, encoded_blocks
from tvae.schedule import Schedule, auto_or, is_default, resolve_schedule
from tvae.serialization import json_params
from tvae.training import (
    LR_SCHEDULES,
    Batch,
    Checkpoints,
    TensorBatches,
    TrainingConfig,
    TrainingData,
    build_networks,
    posterior,
    train,
)
from tvae.transformer import TableTransformer


@dataclass
class FitResult:
    """What a fit learned; :meth:`tvae.TVAE.fit` and ``fit_distributed`` keep it as the model."""

    transformer: TableTransformer
    kinds: Metadata
    encoder: torch.nn.Module
    decoder: torch.nn.Module
    history: list[dict]
    device: torch.device
    sampling_seed: int
    schedule: Schedule
    summary: dict
    prior: LatentPrior
    refiner: Refiner | None = None


def check_params(model: Any) -> None:
    """Check every constructor argument of ``model`` (a :class:`tvae.TVAE`), naming the culprit."""
    check_positive_int("embedding_dim", model.embedding_dim)
    check_dims("compress_dims", model.compress_dims)
    check_dims("decompress_dims", model.decompress_dims)
    check_real("l2scale", model.l2scale, low=0.0)
    check_auto_or_positive_int("batch_size", model.batch_size)
    check_auto_or_positive_int("epochs", model.epochs)
    if model.cuda is not None and not model.enable_gpu:
        raise InvalidParameterError(
            f"cuda={model.cuda!r} and enable_gpu=False conflict; give only enable_gpu "
            "(cuda is its deprecated alias)"
        )
    if not is_default(model.loss_factor):
        check_real("loss_factor", model.loss_factor, low=0.0, low_inclusive=False)
    check_random_state("random_state", model.random_state)
    if model.learning_rate is not None:
        check_real("learning_rate", model.learning_rate, low=0.0, low_inclusive=False)
    check_choice("lr_schedule", model.lr_schedule, ("auto", *LR_SCHEDULES))
    check_choice("precision", model.precision, PRECISIONS)
    check_choice("decoding", model.decoding, DECODINGS)
    check_choice("prior", model.prior, PRIORS)
    check_flag("calibrate", model.calibrate)
    check_auto_or_flag("log_scale", model.log_scale)
    check_auto_or_flag("refine", model.refine)
    check_auto_or_flag("quantile_map", model.quantile_map)
    check_positive_int("max_clusters", model.max_clusters)
    check_real("weight_threshold", model.weight_threshold, low=0.0)
    if model.transformer_sample_size is not None:
        check_positive_int("transformer_sample_size", model.transformer_sample_size)


def check_checkpointing(checkpoint_dir: Any, checkpoint_every: Any, resume: Any) -> None:
    """The checkpoint arguments of a fit: a positive ``checkpoint_every``, and a folder to
    resume from when ``resume`` is asked."""
    if isinstance(checkpoint_every, bool) or not (
        isinstance(checkpoint_every, int) and checkpoint_every >= 1
    ):
        raise InvalidParameterError(
            f"checkpoint_every must be a positive integer, got {checkpoint_every=}"
        )
    if resume and checkpoint_dir is None:
        raise InvalidParameterError("resume=True needs checkpoint_dir, the folder to resume from")


def fit_schedule(
    model: Any, n_rows: int, width: int, n_columns: int, device: torch.device
) -> Schedule:
    """The schedule ``model`` (a :class:`tvae.TVAE`) trains on for a table of ``n_rows`` rows and
    ``n_columns`` columns encoded ``width`` wide, its precision resolved for ``device``."""
    schedule = resolve_schedule(
        model.epochs, model.batch_size, model.learning_rate, model.lr_schedule, n_rows, width,
        n_columns, model.loss_factor,
    )  # fmt: skip
    batch_cells = min(schedule.batch_size, n_rows) * width
    precision = resolve_precision(model.precision, is_default(model.epochs), device, batch_cells)
    return replace(schedule, precision=precision)


def training_config(model: Any, schedule: Schedule, batch_size: int, verbose: bool):
    """The training settings of ``model`` (a :class:`tvae.TVAE`) under ``schedule``."""
    return TrainingConfig(
        epochs=schedule.epochs,
        batch_size=batch_size,
        learning_rate=schedule.learning_rate,
        weight_decay=model.l2scale,
        loss_factor=schedule.loss_factor,
        lr_schedule=schedule.lr_schedule,
        verbose=verbose,
        precision=schedule.precision,
    )


def fit_prior(model: Any, posteriors: Callable, seed: int) -> LatentPrior:
    """The latent prior ``model.prior`` asks for; ``posteriors()`` gives the training rows'
    posterior means and log-variances, (N, E) each."""
    if model.prior == "standard":
        return StandardPrior(model.embedding_dim)
    # differs from the reference: it samples N(0, I), which most latents of a trained
    # encoder never visit (posterior collapse leaves few active dimensions).
    return MixturePrior.fit(*posteriors(), seed)


def numeric_scale(log_scale: bool | str) -> str:
    """The transformer's ``scale`` for the model's ``log_scale`` ("auto", True or False)."""
    if is_default(log_scale):
        return "auto"
    return "log" if log_scale else "linear"


def check_flag(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterTypeError(f"{name} must be True or False, got {value!r}")


def check_auto_or_flag(name: str, value: Any) -> None:
    """A parameter that is "auto", True or False (``refine``, ``log_scale``)."""
    if not (is_default(value) or isinstance(value, (bool, np.bool_))):
        raise InvalidParameterTypeError(f"{name} must be 'auto', True or False, got {value!r}")


def fit_refiner(
    model: Any,
    decoder: torch.nn.Module,
    prior: LatentPrior,
    transformer: Any,
    rows: Callable[[], Iterable[Batch]],
    index: SpanIndex,
    network_seq: np.random.SeedSequence,
    n_rows: int,
    training_steps: int | None = None,
) -> tuple[Refiner | None, dict | None]:
    """With ``model.refine`` (its "auto": :func:`tvae.refiner.refines_by_default` on a table
    of ``n_rows``), the refiner (:mod:`tvae.refiner`) and its training summary: trained on at
    most TRAIN_ROWS of the training rows that ``rows()`` yields, against DRAWN_PER_REAL times
    as many rows drawn as the sampler draws them."""
    if not auto_or(model.refine, refines_by_default(model.decoding, n_rows)):
        return None, None
    blocks = list(rows())
    alphas, codes = torch.cat([a for a, _ in blocks]), torch.cat([c for _, c in blocks])
    device = next(decoder.parameters()).device
    generator = torch.Generator(device=device).manual_seed(int(network_seq.generate_state(4)[3]))
    if len(codes) > TRAIN_ROWS:
        chosen = torch.randperm(len(codes), generator=generator, device=device)[:TRAIN_ROWS]
        alphas, codes = alphas[chosen], codes[chosen]

    n_drawn = DRAWN_PER_REAL * len(codes)
    blocks = encoded_blocks(decoder, prior, transformer, n_drawn, generator, model.decoding)
    drawn = tuple(torch.from_numpy(p).to(device) for p in concat_blocks(blocks, transformer.layout))
    budget = step_budget(training_steps)  # no longer than the fit it refines
    return train_refiner((alphas, codes), drawn, index, transformer, generator, budget)


def networks_and_data(
    model: Any, width: int, encoded: Any, network_seq: np.random.SeedSequence, device: Any
) -> tuple[int, torch.nn.Module, torch.nn.Module, TrainingData]:
    """The network seed, the freshly built encoder and decoder for rows ``width`` wide, and the
    encoded table (alphas, codes) on ``device``: what every in-memory fit trains."""
    network_seed = int(network_seq.generate_state(1)[0])
    encoder, decoder = build_networks(model, width, network_seed, device)
    data = TrainingData(
        torch.from_numpy(encoded.alphas).to(device), torch.from_numpy(encoded.codes).to(device)
    )
    return network_seed, encoder, decoder, data


def fit_latents(
    model: Any,
    encoder: torch.nn.Module,
    decoder: torch.nn.Module,
    rows: Callable[[], Iterable[Batch]],
    index: SpanIndex,
    network_seq: np.random.SeedSequence,
    transformer: Any = None,
) -> LatentPrior:
    """After training: the latent prior, fitted on the posteriors of the training rows that
    ``rows()`` yields; then, with ``calibrate``, the decoder's category and mode rates under
    that prior matched to the rows' rates (:mod:`tvae.calibration`), as ``transformer``'s
    sampler draws them."""
    prior_seed = int(network_seq.generate_state(2)[1])
    prior = fit_prior(model, lambda: posterior(encoder, rows(), index, index.width), prior_seed)
    calibrate(
        model, decoder, prior, index, lambda: torch.cat([c for _, c in rows()]), network_seq,
        transformer=transformer,
    )  # fmt: skip
    return prior


def calibrate(
    model: Any,
    decoder: torch.nn.Module,
    prior: LatentPrior,
    index: SpanIndex,
    codes: Callable[[], torch.Tensor],
    network_seq: np.random.SeedSequence,
    sharpening: float = 1.0,
    transformer: Any = None,
) -> bool:
    """With ``model.calibrate`` (and sampled decoding), match the decoder's category and mode
    rates under ``prior`` to those of ``codes()`` (N, S), the rows' codes (:mod:`tvae.calibration`),
    after its softmax logits are multiplied by ``sharpening``; where ``transformer`` excludes
    value pairs, the rates of rows drawn as its sampler draws them. Returns whether it ran."""
    if not (model.calibrate and model.decoding == "sample"):
        return False
    if sharpening != 1.0:
        sharpen_softmax_spans(decoder, index, sharpening)
    device = next(decoder.parameters()).device
    generator = torch.Generator(device=device).manual_seed(int(network_seq.generate_state(3)[2]))
    real = codes().to(device)
    calibrate_marginals(decoder, prior, index, real, generator)
    spans, repaired = drawn_spans(transformer) if transformer is not None else ([], {})
    if spans:
        rng = np.random.default_rng(int(network_seq.generate_state(5)[4]))
        draw = sampler_draw(
            decoder, prior, transformer, CALIBRATION_DRAWS, generator, repaired, rng
        )
        match_drawn_rates(decoder, index, real, draw, spans, repaired)
    return True


def fit_frame(
    model: Any,
    frame: pd.DataFrame,
    kinds: Metadata,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
) -> FitResult:
    """Fit ``model``'s parts (it is an unfitted :class:`tvae.TVAE`) on ``frame``, whose columns
    have the checked ``kinds``. With ``checkpoint_dir`` a resumable state is saved every
    ``checkpoint_every`` epochs; ``resume`` continues from it (if there is one)."""
    check_checkpointing(checkpoint_dir, checkpoint_every, resume)
    device = resolve_device(model.device, gpu_enabled(model.enable_gpu, model.cuda))
    restored = load_checkpoint(checkpoint_dir) if checkpoint_dir is not None and resume else None
    if restored is not None:
        check_same_params(restored.info["params"], model, checkpoint_dir)
        entropy = int(restored.info["entropy"])
    else:
        entropy = np.random.SeedSequence(model.random_state).entropy  # random_state, if given
    transformer_seq, network_seq, sampling_seq = np.random.SeedSequence(entropy).spawn(3)
    started = time.perf_counter()

    transformer = TableTransformer(
        model.max_clusters,
        model.weight_threshold,
        model.transformer_sample_size,
        enforce_min_max_values=model.enforce_min_max_values,
    )
    data_rng = np.random.default_rng(transformer_seq)
    detect = kinds.dependencies is None  # else the metadata says which dependencies to keep
    transformer.fit(
        frame, kinds, data_rng, progress=model.verbose, dependencies=kinds.dependencies,
        point_masses=bool(model.point_masses), scale=numeric_scale(model.log_scale),
    )  # fmt: skip
    kinds.dependencies = transformer.dependencies.describe()
    encoded = transformer.transform(frame, data_rng)
    if detect:  # differs from the reference: it draws value pairs no real row holds
        transformer.exclusions = find_exclusions(
            encoded.codes, transformer.layout.softmax_widths, transformer.category_spans()
        )
        transformer.label_ranges = transformer.find_label_ranges(frame, encoded.codes)
    transformer_seconds = time.perf_counter() - started
    state = json.loads(json.dumps(transformer.get_state()))
    if restored is not None and state != restored.info.get("transformer"):
        raise InvalidDataError(
            f"the checkpoint in {str(checkpoint_dir)!r} was written for another table; resume "
            "with the same table or use another checkpoint folder"
        )

    layout = transformer.layout
    network_seed, encoder, decoder, data = networks_and_data(
        model, layout.width, encoded, network_seq, device
    )
    # the table's columns (a one-hot group counts its members): the steps its dependencies take
    schedule = fit_schedule(model, len(frame), layout.width, len(transformer.table_names), device)
    config = training_config(model, schedule, schedule.batch_size, model.verbose)
    checkpoints = None
    if checkpoint_dir is not None:
        info = {"entropy": str(entropy), "params": json_params(model.get_params())}
        checkpoints = Checkpoints(checkpoint_dir, checkpoint_every, {**info, "transformer": state})
    generator = torch.Generator(device=device).manual_seed(network_seed)
    index = SpanIndex.from_layout(layout, device)
    source = TensorBatches(data, config.batch_size)
    history = train(
        encoder, decoder, source, index, config, generator, checkpoints=checkpoints,
        restored=restored,
    )  # fmt: skip
    prior = fit_latents(model, encoder, decoder, source.rows, index, network_seq, transformer)
    mapped = fit_maps(model, decoder, prior, transformer, lambda: frame, network_seq, len(frame))
    steps = schedule.epochs * source.steps_per_epoch
    refiner, refined = fit_refiner(
        model, decoder, prior, transformer, source.rows, index, network_seq, len(frame), steps
    )
    summary = {
        "n_rows": int(frame.shape[0]),
        **schedule.to_dict(),
        "final_loss": history[-1]["loss"],
        "transformer_seconds": round(transformer_seconds, 3),
        "fit_seconds": round(time.perf_counter() - started, 3),
        "device": str(device),
    }
    if mapped is not None:
        summary["quantile_maps"] = mapped
    if refined is not None:
        summary["refiner"] = refined
    if restored is not None:
        summary["resumed_from_epoch"] = restored.epoch
    return FitResult(
        transformer, kinds, encoder, decoder, history, device,
        int(sampling_seq.generate_state(1)[0]), schedule, summary, prior, refiner,
    )  # fmt: skip
