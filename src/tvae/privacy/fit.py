"""``TVAE(epsilon=...).fit``: the whole pipeline under one (ε, δ) budget.

1. Kinds come from dtypes and the user's declarations only (:func:`private_kinds`); exact
   dependencies are not detected: declared ones are kept, a "determines" one through a
   mapping released from a noisy joint histogram (:mod:`tvae.privacy.dependencies`).
2. The budget is planned before any work (:func:`tvae.privacy.plan.plan_budget`): a bad ε/δ or a
   budget too small to train raises here.
3. The transformer is fitted on a surrogate table drawn from noisy histograms
   (:mod:`tvae.privacy.statistics`); the real rows, projected onto what was released, are
   encoded with it.
4. The encoder is fixed to a whitened principal projection released from two noisy sums of
   the encoded rows (:mod:`tvae.privacy.latent`); DP-SGD then trains the decoder
   (:mod:`tvae.privacy.training`), which reads only the latent dimensions that projection
   fills.
5. With ``prior="mixture"`` (the default) and enough rows for its noise, the latent prior is
   a Gaussian mixture fitted by DP-EM on the projected latents (:mod:`tvae.privacy.mixture`),
   each iteration one more statistic; otherwise the standard N(0, I).
6. Post-processing: the decoder's softmax logits are sharpened (``DP_SHARPENING``) and then
   calibrated to the rates of the released (surrogate) table.

Every mechanism is recorded in one RDP accountant; ``model.privacy_`` reports it.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from tvae.devices import gpu_enabled, resolve_device
from tvae.errors import InvalidParameterError
from tvae.fitting import (
    FitResult,
    calibrate,
    networks_and_data,
    numeric_scale,
    training_config,
)
from tvae.inputs import check_continuous_values, resolve_kinds, to_frame
from tvae.kinds import Metadata
from tvae.layout import SpanIndex
from tvae.precision import BFLOAT16
from tvae.prior import LatentPrior, StandardPrior
from tvae.privacy.declared import check_public, count_mechanisms, private_kinds
from tvae.privacy.dependencies import release_mapping, release_presences, split_declared
from tvae.privacy.detection import detect_determinations, detection_slots
from tvae.privacy.latent import MECHANISMS as LATENT_MECHANISMS
from tvae.privacy.latent import (
    POSTERIOR_STD,
    latent_weight,
    n_components,
    release_projection,
    row_scale,
    set_projection,
)
from tvae.privacy.mixture import ITERATIONS as PRIOR_ITERATIONS
from tvae.privacy.mixture import (
    MIN_COMPONENTS,
    dropped_below,
    mixture_prior,
    release_mixture,
)
from tvae.privacy.plan import (
    CLIPPING_NORM,
    check_epsilon,
    plan_with_prior,
    resolve_delta,
    unspent_to_dp_sgd,
)
from tvae.privacy.releaser import Releaser, category_threshold
from tvae.privacy.statistics import project, release_table
from tvae.privacy.training import DPConfig, dp_fit_loop
from tvae.schedule import REFERENCE_LOSS_FACTOR, Schedule, is_default
from tvae.training import TensorBatches, dense_batch, posterior
from tvae.transformer import TableTransformer
from tvae.transformer.dependencies import Dependencies

DP_STEPS = 1_000  # DP-SGD steps of the "auto" schedule
DP_MIN_BATCH, DP_MAX_BATCH = 32, 2_048
DP_BATCH_FRACTION = 16  # "auto" batch: n / 16 rows (large batches drown the noise)
DP_LEARNING_RATE = 3e-3  # one-cycle peak while the batch gradient's noise is at most:
DP_REFERENCE_GRADIENT_NOISE = 6e-3  # noise multiplier * clipping norm / batch (adult, 4k, eps 10)
DP_MAX_LEARNING_RATE = 1e-2
# Adam divides each step by the gradient's RMS, which DP-SGD's noise dominates, so the data's
# share of a step falls as the noise on the batch's mean gradient grows. The "auto" peak grows
# with that noise to keep it, up to DP_MAX_LEARNING_RATE, beyond which the noise's own walk costs
# more (docs/privacy.md: adult, bank and titanic at epsilon 1, 3, 10; peaks 0.003, 0.01, 0.03).
MIN_ROWS = 10
# DP-SGD's noise grows with the square root of the parameters it covers, while a small table
# has little signal to give them: the decoder trains one hidden unit per DP_ROWS_PER_UNIT rows,
# at least DP_MIN_UNITS (3,840 rows or more: all 128). Measured (docs/privacy.md; seeds 0-7,
# epsilon 3 and 10): 64 units against 128 gained quality on titanic (712 rows, +0.011, +0.017)
# and breast_cancer (455, +0.016, +0.037) with efficacy F1 within its noise; 32 units gained
# more quality but lost F1 in every cell (mean -0.03). On 4,000 rows 32 to 256 changed nothing.
DP_ROWS_PER_UNIT = 30
DP_MIN_UNITS = 64
# Clipped, noisy steps leave the private decoder's logits small: each column's softmax given
# the latent is too flat, so columns drawn on their own given one latent agree less often than
# the rows do. Before calibration restores their rates the logits are multiplied by this
# (post-processing of the released decoder). Measured (docs/privacy.md; seeds 0-2): quality and
# F1 rose at every epsilon on titanic, bank and adult's 4,000 rows (titanic, epsilon 10:
# 0.893 -> 0.910); 3 gained on titanic and lost on adult's column shapes.
DP_SHARPENING = 2.0


def check_privacy_params(
    model: Any, checkpoint_dir: Any = None, distributed: bool = False, resume: bool = False
) -> None:
    """The privacy arguments of ``model`` (a :class:`tvae.TVAE`) alone, before the data is
    looked at; ``checkpoint_dir`` is the fit's (a private fit keeps no checkpoint: one would
    hold weights whose noise the accountant has not finished adding)."""
    if model.epsilon is None:
        if model.delta is not None or model.public is not None:
            raise InvalidParameterError(
                f"delta and public apply only with epsilon; got delta={model.delta!r}, "
                f"public={model.public!r} and epsilon=None"
            )
        return
    check_epsilon(model.epsilon)
    if distributed:
        raise InvalidParameterError(
            f"epsilon={model.epsilon!r}: fit_distributed does not train under differential "
            "privacy; use fit"
        )
    if checkpoint_dir is not None or resume:
        raise InvalidParameterError(
            f"epsilon={model.epsilon!r} trains in one go: checkpoint_dir and resume are not "
            "available under differential privacy"
        )
    if model.precision == BFLOAT16:
        raise InvalidParameterError(
            f"epsilon={model.epsilon!r} computes each row's gradient in float32; "
            "precision='bfloat16' is not available under differential privacy (leave it 'auto')"
        )
    if model.refine is True:
        raise InvalidParameterError(
            f"epsilon={model.epsilon!r} and refine=True: the refiner is a classifier trained "
            "on the real rows without differential privacy; leave refine 'auto' (off under "
            "epsilon) or set it False"
        )
    if model.quantile_map is True:
        raise InvalidParameterError(
            f"epsilon={model.epsilon!r} and quantile_map=True: a quantile map holds the real "
            "values' quantiles without differential privacy; leave quantile_map 'auto' (off "
            "under epsilon) or set it False"
        )


def dp_schedule(model: Any, n_rows: int) -> tuple[Schedule, float, int]:
    """The schedule, Poisson sampling rate and number of DP-SGD steps."""
    if is_default(model.batch_size):
        batch = int(np.clip(n_rows // DP_BATCH_FRACTION, DP_MIN_BATCH, DP_MAX_BATCH))
    else:
        batch = int(model.batch_size)
    batch = min(batch, n_rows)
    sample_rate = batch / n_rows
    steps_per_epoch = max(1, round(1 / sample_rate))
    if is_default(model.epochs):
        epochs = math.ceil(DP_STEPS / steps_per_epoch)
    else:
        epochs = int(model.epochs)
    lr_schedule = model.lr_schedule
    if lr_schedule == "auto":
        lr_schedule = "onecycle" if is_default(model.epochs) else "constant"
    learning_rate = model.learning_rate
    if learning_rate is None:
        # the one-cycle floor; fit_private raises it once the plan knows DP-SGD's noise
        learning_rate = DP_LEARNING_RATE if lr_schedule == "onecycle" else 1e-3
    # "auto": the reference's 2 (under DP-SGD noise the latent carries little either way: 2, 10
    # and 30 gave the same quality on adult at epsilon = 10)
    loss_factor = REFERENCE_LOSS_FACTOR if is_default(model.loss_factor) else model.loss_factor
    schedule = Schedule(epochs, batch, float(learning_rate), lr_schedule, float(loss_factor))
    return schedule, sample_rate, epochs * steps_per_epoch


def peak_learning_rate(
    noise_multiplier: float, batch_rows: float, clipping_norm: float = CLIPPING_NORM
) -> float:
    """The "auto" one-cycle peak for DP-SGD whose mean gradient over ``batch_rows`` rows gets
    noise of standard deviation ``noise_multiplier * clipping_norm / batch_rows``."""
    gradient_noise = noise_multiplier * clipping_norm / batch_rows
    grown = DP_LEARNING_RATE * gradient_noise / DP_REFERENCE_GRADIENT_NOISE
    return float(min(max(grown, DP_LEARNING_RATE), DP_MAX_LEARNING_RATE))


def fit_private(model: Any, train_data: Any, discrete_columns: Any, metadata: dict | None) -> Any:
    """Fit ``model`` (whose ``epsilon`` is set) under differential privacy."""
    frame, input_info = to_frame(train_data)
    n_rows = len(frame)
    if n_rows < MIN_ROWS:
        raise InvalidParameterError(
            f"epsilon needs at least {MIN_ROWS} rows of train_data, got {n_rows}"
        )
    epsilon = check_epsilon(model.epsilon)
    delta, delta_source = resolve_delta(model.delta, n_rows)
    kind_map, dependencies = private_kinds(frame, discrete_columns, metadata)
    orders, determined, sums, lines, cuts, parts, present = split_declared(dependencies, kind_map)
    declared = Metadata(kind_map)
    declared.dependencies = dependencies
    kinds = resolve_kinds(frame, discrete_columns, input_info, declared)
    check_continuous_values(frame, kinds)
    public = check_public(model.public, frame, kinds)
    schedule, sample_rate, steps = dp_schedule(model, n_rows)
    n_statistics, n_named = count_mechanisms(frame, kinds, public, len(determined) + len(present))
    slots = detection_slots(kinds) if dependencies is None else 0  # none declared: detected
    n_statistics += LATENT_MECHANISMS  # the private latent's two sums
    plan, components, slots = plan_with_prior(
        model.prior, n_rows, epsilon, delta, delta_source, n_statistics, n_named, sample_rate,
        steps, latent_weight(kinds), slots,
    )  # fmt: skip
    device = resolve_device(model.device, gpu_enabled(model.enable_gpu, model.cuda))
    seeds = np.random.SeedSequence(model.random_state)
    transformer_seq, network_seq, sampling_seq = seeds.spawn(3)
    started = time.perf_counter()

    # 1. the transformer's statistics: noisy histograms, a surrogate table, the usual fit on it
    rng = np.random.default_rng(transformer_seq)
    threshold = (
        category_threshold(plan.statistics_noise, plan.threshold_delta / n_named)
        if n_named
        else math.inf
    )
    releaser = Releaser(plan.statistics_noise, rng, plan.accountant, n_rows, threshold)
    surrogate = release_table(frame, kinds, public, releaser, rng)
    transformer = TableTransformer(
        model.max_clusters, model.weight_threshold, model.transformer_sample_size,
        enforce_min_max_values=model.enforce_min_max_values,
    )  # fmt: skip
    transformer.fit(
        surrogate, kinds, rng, progress=model.verbose, dependencies=[],
        point_masses=bool(model.point_masses), scale=numeric_scale(model.log_scale),
    )  # fmt: skip
    projected = project(frame, surrogate, kinds)
    # declared dependencies are not checked on the (private) rows; a determination's mapping
    # is released from the noisy joint histogram of the two columns' released values
    mappings = [release_mapping(projected, surrogate, s, t, releaser) for s, t in determined]
    detected = detect_determinations(projected, surrogate, kinds, releaser, slots)
    plan = unspent_to_dp_sgd(plan, components) if slots else plan  # what detection left
    mappings += detected
    presence = release_presences(projected, surrogate, present, releaser)
    decimals = {c.name: getattr(c, "decimals", None) for c in transformer.columns}  # released
    lines = [replace(line, decimals=decimals.get(line.target)) for line in lines]
    transformer.dependencies = Dependencies(
        mappings, orders, sums=sums, linear=lines, cuts=cuts, date_parts=parts, presence=presence
    )
    kinds.dependencies = transformer.dependencies.describe()
    encoded = transformer.transform(projected, rng)
    transformer_seconds = time.perf_counter() - started

    # 2. the networks: DP-SGD
    layout = transformer.layout
    network_seed, encoder, decoder, data = networks_and_data(
        model, layout.width, encoded, network_seq, device
    )
    if model.learning_rate is None and schedule.lr_schedule == "onecycle":
        peak = peak_learning_rate(plan.sgd_noise, schedule.batch_size, plan.clipping_norm)
        schedule = replace(schedule, learning_rate=peak)
    config = training_config(model, schedule, schedule.batch_size, model.verbose)
    generator = torch.Generator(device=device).manual_seed(network_seed)
    index = SpanIndex.from_layout(layout, device)
    # the latent's two sums: the same releaser (accountant, rng, record) at their own noise
    latent_releaser = replace(releaser, noise=plan.latent_noise)
    latent = private_latent(model, encoder, data, index, layout.width, latent_releaser)
    prior, prior_note = private_prior(
        model, encoder, data, index, latent["dimensions"], components, releaser
    )
    units = private_hidden_units(n_rows, model.decompress_dims)
    dp = DPConfig(plan.sgd_noise, plan.clipping_norm, sample_rate, steps,
                  latent_inputs=latent["dimensions"], hidden_units=units)  # fmt: skip
    history = dp_fit_loop(encoder, decoder, data, index, config, dp, generator)
    plan.accountant.record("dp-sgd", dp.noise_multiplier, sample_rate, steps)

    def released_codes() -> torch.Tensor:
        # the surrogate table's (drawn from the noisy histograms): post-processing, no budget;
        # the real rows' code frequencies would not be private
        return torch.from_numpy(transformer.transform(surrogate, rng).codes)

    sharpened = calibrate(model, decoder, prior, index, released_codes, network_seq, DP_SHARPENING)
    spent = plan.accountant.epsilon(plan.accounting_delta)
    privacy = {
        "epsilon": spent,
        "epsilon_requested": epsilon,
        **plan.to_dict(),
        "accountant": plan.accountant.to_dict(),
        "noise_multiplier": dp.noise_multiplier,
        "clipping_norm": dp.clipping_norm,
        "sample_rate": sample_rate,
        "steps": steps,
        "budget_split": plan.budget_split(),
        "public": sorted(str(c) for c in public),
        "prior": prior_note,
        "latent": latent,
        "decoder_sigma": f"fixed at {dp.fixed_sigma} (not trained under epsilon)",
        "decoder_units": units_note(units),
        "decoder_sharpening": (
            f"softmax logits x {DP_SHARPENING:g} before calibration" if sharpened else "none"
        ),
        "dependencies": (
            "declared ones, else label determinations detected by noisy joint histograms "
            "(detect:SOURCE->TARGET); a declared 'determines' mapping is the argmax of a noisy "
            "joint histogram (mapping:SOURCE->TARGET), a 'presence' rule of the target missing "
            "or not by the source (presence:SOURCE->TARGET)"
        ),
        "detection": {  # the statistics' mechanisms set aside; tested: detect:* in history
            "slots": slots,
            "kept": [f"{d.source}->{d.target}" for d in detected],
        },
        "noise_seeded": model.random_state is not None,
    }
    summary = {
        "n_rows": n_rows,
        **schedule.to_dict(),
        "final_loss": None,  # per-batch losses of real rows are not private
        "transformer_seconds": round(transformer_seconds, 3),
        "fit_seconds": round(time.perf_counter() - started, 3),
        "device": str(device),
    }
    result = FitResult(
        transformer, kinds, encoder, decoder, history, device,
        int(sampling_seq.generate_state(1)[0]), schedule, summary, prior,
    )  # fmt: skip
    model._set_fitted(result, input_info)
    model.privacy_ = privacy
    return model


def private_hidden_units(n_rows: int, decompress_dims: Any) -> int | None:
    """Hidden units per decoder layer that DP-SGD trains on ``n_rows`` rows; None: all."""
    units = max(DP_MIN_UNITS, n_rows // DP_ROWS_PER_UNIT)
    return units if units < max(decompress_dims, default=0) else None


def units_note(units: int | None) -> str:
    """What ``privacy_`` says of the decoder's trained hidden units."""
    if units is None:
        return "every hidden unit trained"
    return (
        f"the first {units} units of each hidden layer trained (one per {DP_ROWS_PER_UNIT} "
        f"rows, at least {DP_MIN_UNITS}); the others stay at zero"
    )


def private_prior(
    model: Any, encoder: Any, data: Any, index: SpanIndex, k: int, components: int,
    releaser: Releaser,
) -> tuple[LatentPrior, str]:  # fmt: skip
    """The latent prior of a private ``model`` and what ``privacy_`` says of it: with
    ``components`` > 0, a mixture released by DP-EM on the fixed encoder's latents of the
    rows (their first ``k`` dimensions, the projected ones); otherwise N(0, I)."""
    if not components:
        reason = (
            "as prior='standard' asks" if model.prior == "standard"
            else f"too few rows for {MIN_COMPONENTS} private mixture components at this noise"
        )  # fmt: skip
        return StandardPrior(model.embedding_dim), f"standard N(0, I): {reason}"
    means, _ = posterior(encoder, TensorBatches(data, data.n_rows).rows(), index, index.width)
    latents = means[:, :k].double().cpu().numpy()  # the projected dimensions
    weights, centres, covariance = release_mixture(
        latents, components, 1.0 - POSTERIOR_STD**2, dropped_below(releaser.noise),
        releaser.histogram, releaser.rng,
    )  # fmt: skip
    prior = mixture_prior(model.embedding_dim, weights, centres, covariance, POSTERIOR_STD)
    return prior, (
        f"mixture of {len(weights)} Gaussians with one shared covariance over the "
        f"{k} projected latent dimensions, fitted by {PRIOR_ITERATIONS} DP-EM iterations "
        f"({components} components at the start)"
    )


def private_latent(
    model: Any, encoder: Any, data: Any, index: SpanIndex, width: int, releaser: Releaser
) -> dict:
    """Fix ``encoder`` to the private principal projection (:mod:`tvae.privacy.latent`), from
    two sums of the encoded rows released by ``releaser``; returns what ``privacy_`` says."""
    k = n_components(model.embedding_dim, tuple(model.compress_dims), width)
    scale = row_scale(index)
    blocks = (
        dense_batch(alphas, codes, index, width)
        for alphas, codes in TensorBatches(data, data.n_rows).rows()  # every row once
    )
    centre, projection = release_projection(blocks, data.n_rows, scale, k, releaser.histogram)
    set_projection(encoder, scale, centre, projection)
    return {
        "encoder": "fixed before DP-SGD: a whitened projection onto the top principal "
        "components of the encoded rows, from their sum and outer-product sum, each released "
        "with the Gaussian mechanism (sensitivity 1 after scaling each row to norm <= 1)",
        "dimensions": k,
        "posterior_std": POSTERIOR_STD,
        "mechanisms": LATENT_MECHANISMS,
    }
