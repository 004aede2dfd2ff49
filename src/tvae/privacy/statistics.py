"""DP statistics for the transformer: every column summarised by noisy histograms.

The transformer's column models (ranges, mixtures, point masses, decimals, categories and
their rates, missing rates, datetime steps) are never fitted on the real rows under differential
privacy: each column is summarised by Gaussian-noised histograms (each real row adds 1 to one
bin of each: L2 sensitivity 1), a *surrogate* column is drawn from them, and the usual column
models are fitted on it: every number saved is a post-processing of the noisy histograms.

Per column (each item is one Gaussian mechanism, recorded in the accountant):

* numerical: (1) a coarse histogram over signed powers of two, giving the range (skipped when
  the user declares ``{"bounds": [low, high]}`` public); (2) for float dtypes, the histogram of
  how many decimals each value needs (integer dtypes: 0, public); (3) a fine histogram over the
  range, with an exact bin for 0 (point masses at 0 survive) and a bin for missing cells when
  the dtype can hold them.
* datetime (``datetime64`` dtypes): the same, over years for the range and over the coarsest
  step (day, hour, minute, second, ...) each value sits on for the granularity.
* categorical: noisy counts of the categories. Names come from the data, so only those whose
  noisy count clears a threshold set by δ are released; the rest are merged into one
  ``OTHER`` value (never named). A declared list ``{"categories": [...]}`` is public: its
  counts are noised, the names spend nothing.
* boolean: noisy counts of True, False (and missing, when the dtype can hold it).

The real rows are then *projected* onto what was released (unreleased categories become
``OTHER``, missing cells of a column released without them take its most common value) before
DP-SGD encodes them: a row-by-row map that depends on released values only.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype

from tvae.errors import InvalidParameterError, TVAEWarning, user_stacklevel
from tvae.privacy.declared import can_be_missing
from tvae.privacy.releaser import (
    FINE_FALSE_BINS,
    RANGE_FALSE_BINS,
    Releaser,
    allocate,
    clean,
    empty_floor,
)
from tvae.transformer.datetime import check_nanosecond_range
from tvae.transformer.dtypes import float_values
from tvae.transformer.granularity import (
    MAX_DECIMALS,
    STEPS_NS,
    coarsest_level,
    decimals_needed,
    steps_needed,
)

OTHER = "(other)"  # what unreleased categories become
LOG2_RANGE = (-20, 64)  # magnitudes 2^-20 .. 2^64 for the coarse numeric range
YEAR_RANGE = (1678, 2262)  # what datetime64[ns] holds


# ------------------------------------------------------------------ numbers
def _coarse_numeric_range(values: np.ndarray, releaser: Releaser, name: Any) -> tuple | None:
    """A range holding the values, from a noisy histogram over signed powers of two; None
    where the noise hides it (:func:`_range_bins`)."""
    low_k, high_k = LOG2_RANGE
    n_mag = high_k - low_k
    magnitude = np.abs(values)
    tiny = magnitude < 2.0**low_k
    k = np.clip(np.floor(np.log2(np.where(tiny, 1.0, magnitude))), low_k, high_k - 1) - low_k
    # bins: negatives (largest magnitude first), the near-zero bin, positives
    index = np.where(tiny, n_mag, np.where(values < 0, n_mag - 1 - k, n_mag + 1 + k)).astype(int)
    noisy = releaser.histogram(np.bincount(index, minlength=2 * n_mag + 1), f"range:{name}")
    above = _range_bins(noisy, releaser)
    if above is None:
        return None

    def edges(b: int) -> tuple[float, float]:
        if b == n_mag:
            return -(2.0**low_k), 2.0**low_k
        if b > n_mag:
            e = b - n_mag - 1 + low_k
            return 2.0**e, 2.0 ** (e + 1)
        e = n_mag - 1 - b + low_k
        return -(2.0 ** (e + 1)), -(2.0**e)

    return edges(int(above[0]))[0], edges(int(above[-1]))[1]


def _range_bins(noisy: np.ndarray, releaser: Releaser) -> np.ndarray | None:
    """The bins of a range histogram that hold rows beyond the noise. Where none clears the
    strict floor (few rows), the run of contiguous bins over the fine bins' floor (noise alone
    clears it in 5 % of histograms) that holds the most; else None. A range is never picked
    from noise alone: the largest bin once gave a 36-row column values near -3e17, and a lone
    noise bin can outdo either of two real ones, not their sum."""
    above = np.flatnonzero(noisy > empty_floor(releaser.noise, len(noisy), RANGE_FALSE_BINS))
    if len(above):
        return above
    clear = np.flatnonzero(noisy > empty_floor(releaser.noise, len(noisy), FINE_FALSE_BINS))
    if not len(clear):
        return None
    runs = np.split(clear, np.flatnonzero(np.diff(clear) > 1) + 1)
    return max(runs, key=lambda run: float(noisy[run].sum()))


def _check_hidden_range(counts: np.ndarray, bins: int, name: Any, releaser: Releaser) -> None:
    """A column whose range the noise hid (its fine histogram drawn over a stand-in range) is
    listed for :func:`release_table`'s error unless that histogram holds only missing cells:
    an empty column needs no range."""
    if counts[: bins + 1].any() or not counts[bins + 1] > 0:
        releaser.hidden.append(name)


def _refuse_hidden_ranges(hidden: list, n_rows: int) -> None:
    """One error naming every column whose range the noise hides, and the ``public`` that
    would fit them (their bounds, to be filled in)."""
    if hidden:
        public = ", ".join(f"{name!r}: {{'bounds': [low, high]}}" for name in hidden)
        raise InvalidParameterError(
            f"columns {hidden}: with this epsilon no part of their range holds enough of the "
            f"{n_rows} rows to stand out of the noise; declare their bounds public "
            f"(public={{{public}}}), raise epsilon or use more rows"
        )


def _granularity(needed: np.ndarray, n_levels: int, releaser: Releaser, label: str) -> int:
    """The coarsest level (0 = coarsest) that all but ``OFF_GRID_SHARE`` of the values sit on,
    from a noisy histogram of each value's finest needed level."""
    return coarsest_level(releaser.histogram(np.bincount(needed, minlength=n_levels), label))


def _fine_numbers(
    values: np.ndarray, missing: int, low: float, high: float, integral: bool, nullable: bool,
    releaser: Releaser, name: Any,
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """Noisy fine histogram over [low, high]: (edges, counts of bins, zero, missing), zero bin
    only when 0 is in range; returns (edges (K + 1,), cleaned noisy counts (K + 2,), n_bins)."""
    bins = releaser.n_bins()
    if integral:
        low, high = math.floor(low), math.ceil(high)
        width = max(1, math.ceil((high - low + 1) / bins))
        bins = math.ceil((high - low + 1) / width)
        edges = low + width * np.arange(bins + 1, dtype=np.float64)
    else:
        edges = np.linspace(low, high, bins + 1)
    clipped = np.clip(values, edges[0], np.nextafter(edges[-1], -np.inf))
    is_zero = (values == 0) & (edges[0] <= 0 <= edges[-1])
    index = np.clip(np.searchsorted(edges, clipped, side="right") - 1, 0, bins - 1)
    counts = np.bincount(index[~is_zero], minlength=bins).astype(np.float64)
    extra = [int(is_zero.sum())] + ([missing] if nullable else [])
    noisy = releaser.histogram(np.concatenate([counts, extra]), f"histogram:{name}")
    cleaned = clean(noisy, empty_floor(releaser.noise, len(noisy), FINE_FALSE_BINS))
    if nullable and noisy[-1] < releaser.missing_floor():
        cleaned[-1] = 0.0
    if not nullable:
        cleaned = np.concatenate([cleaned, [0.0]])
    if not (edges[0] <= 0 <= edges[-1]):
        cleaned[bins] = 0.0
    return edges, cleaned, bins


def _draw_numbers(
    edges: np.ndarray, counts: np.ndarray, bins: int, n_rows: int, integral: bool,
    rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Surrogate values (N,) float64: NaN for missing, 0 for the zero bin, uniform in bins.

    The zero and missing bins keep their noisy counts as they are (their shares are then off by
    noise / n only); the other rows are spread over the bins in proportion to their counts.
    """
    special = np.minimum(np.round(np.maximum(counts[bins:], 0)), n_rows).astype(np.int64)
    if special.sum() > n_rows:
        special = allocate(special.astype(np.float64), n_rows)
    rest = n_rows - int(special.sum())
    if rest and counts[:bins].max() <= 0 and special.any():  # only zeros or missing cells
        special[np.argmax(special)] += rest  # not values spread over an empty range
        rest = 0
    allocated = np.concatenate([allocate(counts[:bins], rest) if rest else np.zeros(bins,
                                np.int64), special])  # fmt: skip
    which = np.repeat(np.arange(len(counts)), allocated)
    out = np.full(n_rows, np.nan)
    regular = which < bins
    left, right = edges[which[regular]], edges[which[regular] + 1]
    if integral:
        out[regular] = left + np.floor(rng.random(regular.sum()) * (right - left))
    else:
        out[regular] = left + rng.random(regular.sum()) * (right - left)
    out[which == bins] = 0.0
    return rng.permutation(out)


def release_numerical(
    series: pd.Series, spec: Mapping, releaser: Releaser, rng: np.random.Generator
) -> pd.Series:
    name, dtype = series.name, series.dtype
    values = float_values(series)
    present = values[~np.isnan(values)]
    missing = len(values) - len(present)
    found = spec["bounds"] if "bounds" in spec else _coarse_numeric_range(present, releaser, name)
    low, high = found if found is not None else (0.0, 1.0)  # hidden: checked below
    integral = is_integer_dtype(dtype)
    decimals = 0
    if not integral:
        decimals = _granularity(
            decimals_needed(present), MAX_DECIMALS + 2, releaser, f"decimals:{name}"
        )
        integral = decimals == 0
    edges, counts, bins = _fine_numbers(
        present, missing, low, high, integral, can_be_missing(dtype), releaser, name
    )
    if found is None:
        _check_hidden_range(counts, bins, name, releaser)
    drawn = _draw_numbers(edges, counts, bins, len(series), integral, rng)
    if not integral and decimals <= MAX_DECIMALS:
        drawn = np.round(drawn, decimals)
    out = pd.Series(drawn, name=name)
    if np.isnan(drawn).any() and isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return out.astype("Int64")
    return _as_dtype(out, dtype)


def release_datetime(
    series: pd.Series, spec: Mapping, releaser: Releaser, rng: np.random.Generator
) -> pd.Series:
    name, dtype = series.name, series.dtype
    zone = getattr(dtype, "tz", None)
    naive = series.dt.tz_convert("UTC").dt.tz_localize(None) if zone is not None else series
    check_nanosecond_range(naive.to_numpy(), name)
    stamps = naive.to_numpy().astype("datetime64[ns]")
    missing_mask = np.isnat(stamps)
    ns = stamps.view(np.int64)[~missing_mask]
    hidden = False
    if "bounds" in spec:
        low, high = (_naive_ns(b) for b in spec["bounds"])
    else:
        first, last = YEAR_RANGE
        years = pd.DatetimeIndex(ns.astype("datetime64[ns]")).year.to_numpy() - first
        noisy = releaser.histogram(
            np.bincount(np.clip(years, 0, last - first - 1), minlength=last - first),
            f"range:{name}",
        )
        above = _range_bins(noisy, releaser)
        hidden = above is None
        above = np.array([1970 - first]) if hidden else above  # hidden: checked below
        low = _naive_ns(pd.Timestamp(year=first + int(above[0]), month=1, day=1))
        high = _naive_ns(pd.Timestamp(year=first + int(above[-1]) + 1, month=1, day=1))
    needed = steps_needed(ns)
    step = STEPS_NS[_granularity(needed, len(STEPS_NS), releaser, f"step:{name}")]
    scale = float(step)  # the histogram counts in steps, so values land on whole steps
    edges, counts, bins = _fine_numbers(
        ns / scale, int(missing_mask.sum()), low / scale, high / scale, True, True, releaser, name
    )
    if hidden:
        _check_hidden_range(counts, bins, name, releaser)
    drawn = _draw_numbers(edges, counts, bins, len(series), True, rng)
    present = ~np.isnan(drawn)
    out = np.full(len(drawn), np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    out[present] = (drawn[present] * step).astype(np.int64).view("datetime64[ns]")
    result = pd.Series(out, name=name)
    if zone is not None:
        result = result.dt.tz_localize("UTC").dt.tz_convert(zone)
    return _as_dtype(result, dtype)


def _naive_ns(stamp: Any) -> int:
    stamp = pd.Timestamp(stamp)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.as_unit("ns").value)


# ------------------------------------------------------------------ labels
def release_labels(
    series: pd.Series, kind: str, spec: Mapping, releaser: Releaser, rng: np.random.Generator
) -> pd.Series:
    """Surrogate categorical or boolean column from noisy counts of its values."""
    name, dtype = series.name, series.dtype
    missing = series.isna().to_numpy()
    observed = series[~missing]
    nullable = can_be_missing(dtype)
    if kind == "boolean":
        keys, public_keys = [True, False], True
    elif "categories" in spec:
        keys, public_keys = list(spec["categories"]), True
    else:
        keys, public_keys = list(pd.unique(observed.astype(object))), False
    codes = pd.Index(keys, dtype=object).get_indexer(observed.astype(object))  # -1: not a key
    counts = np.bincount(codes[codes >= 0], minlength=len(keys)).astype(np.float64)
    outside = int((codes < 0).sum())  # declared lists: values outside them become OTHER
    parts = [counts, [missing.sum()] if nullable else []]
    if public_keys and kind == "categorical":
        parts.append([outside])
    noisy = releaser.histogram(np.concatenate(parts), f"counts:{name}")
    key_counts = noisy[: len(keys)]
    missing_count = noisy[len(keys)] if nullable else 0.0
    floor = empty_floor(releaser.noise, len(noisy), FINE_FALSE_BINS)
    if public_keys:
        released = [k for k, c in zip(keys, key_counts, strict=False) if c >= floor]
        weights = [c for c in key_counts if c >= floor]
        other = noisy[-1] if kind == "categorical" else 0.0
    else:
        # names found in the data: only those clearly held by many rows are released
        # sorted by noisy count: the data's order of first appearance is not released
        keep = np.flatnonzero(key_counts >= releaser.threshold)
        keep = keep[np.argsort(-key_counts[keep], kind="stable")]
        released = [keys[i] for i in keep]
        weights = list(key_counts[keep])
        other = len(series) - max(missing_count, 0.0) - float(np.sum(weights))
        if not released and len(keys):
            _warn_all_other(name)
    if other >= floor * math.sqrt(len(weights) + 1) or not released:
        released, weights = [*released, OTHER], [*weights, max(other, 1.0)]
    values = list(released)
    if missing_count >= max(floor, releaser.missing_floor()):
        values, weights = [*values, None], [*weights, missing_count]
    allocated = allocate(np.maximum(np.asarray(weights, dtype=np.float64), 0), len(series))
    drawn = np.empty(len(series), dtype=object)
    drawn[:] = [v for v, c in zip(values, allocated, strict=False) for _ in range(c)]
    drawn = rng.permutation(drawn)
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Series(pd.Categorical(drawn, categories=released), name=name)
    out = pd.Series(drawn, name=name, dtype=object)
    if kind == "boolean" and out.isna().any():
        return out.astype("boolean")
    return _as_dtype(out, dtype)


def _warn_all_other(name: Any) -> None:
    """Say (from the released counts alone) that every value of ``name`` sampled is OTHER."""
    warnings.warn(
        f"column {name!r}: no value is held by enough rows to be released under epsilon, so "
        f"every value it holds in sampled rows is {OTHER!r}; convert dates with pd.to_datetime"
        f" before fit, declare public categories (public={{{name!r}: {{'categories': [...]}}}})"
        " or drop an ID or free-text column",
        TVAEWarning,
        stacklevel=user_stacklevel(),
    )


def _as_dtype(values: pd.Series, dtype: Any) -> pd.Series:
    """``values`` in ``dtype`` where they fit it, else as they are."""
    with contextlib.suppress(TypeError, ValueError):
        return values.astype(dtype)
    return values


# ------------------------------------------------------------------ the table
def release_table(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], public: Mapping, releaser: Releaser,
    rng: np.random.Generator,
) -> pd.DataFrame:  # fmt: skip
    """The surrogate table: one column drawn from each column's noisy histograms."""
    columns = {}
    for name, kind in kinds.items():
        spec, series = public.get(name, {}), frame[name]
        if kind == "numerical":
            columns[name] = release_numerical(series, spec, releaser, rng)
        elif kind == "datetime":
            columns[name] = release_datetime(series, spec, releaser, rng)
        else:
            columns[name] = release_labels(series, kind, spec, releaser, rng)
    _refuse_hidden_ranges(releaser.hidden, releaser.n_rows)
    surrogate = pd.DataFrame(columns)
    surrogate.columns = frame.columns
    return surrogate


def project(frame: pd.DataFrame, surrogate: pd.DataFrame, kinds: Mapping) -> pd.DataFrame:
    """The real rows mapped onto what the surrogate holds, row by row (for DP-SGD to encode):
    labels not released become ``OTHER`` (or the most common released value), missing cells
    of a column released without any take its most common value, and a number or time
    released with no value at all (its few values under the noise) is missing throughout."""
    out = {}
    for name, kind in kinds.items():
        real, released = frame[name], surrogate[name]
        fallback = released.mode(dropna=True)
        fallback = fallback.iloc[0] if len(fallback) else None
        if kind in ("categorical", "boolean"):
            allowed = real.isin(released.dropna().unique())
            if released.isna().any():
                allowed |= real.isna()
            target = OTHER if (released == OTHER).any() else fallback
            real = real.astype(object).where(allowed, target)
            with contextlib.suppress(TypeError, ValueError):
                real = real.astype(released.dtype)
        elif not released.isna().any() and real.isna().any():
            real = real.where(real.notna(), fallback)
        elif released.isna().all():  # no value released (all under the noise): none kept
            real = real.where(np.zeros(len(real), dtype=bool))
        out[name] = real.to_numpy() if kind != "datetime" else real
    projected = pd.DataFrame(out, index=frame.index)
    projected.columns = frame.columns
    return projected
