"""Finding the columns that are a line in another number (:mod:`tvae.transformer.linear`):
every pair of numerical columns screened at once on rows spread over the table, the survivors
fitted on all of them, and a source picked for each target."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import pandas as pd

from tvae.transformer.linear import (
    MIN_TARGET_VALUES,
    MIN_VALUES,
    NOISE,
    Linear,
    fit_line,
    precision,
    span_of,
    together,
    tolerance_of,
)
from tvae.transformer.numerical import to_float

MAX_COLUMNS = 300  # a search over more numerical columns than this is skipped (cost: columns^2)
SCREEN_ROWS = 256  # every pair is first tried on this many rows (spread out), then on all


def find_linear(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], skip: Iterable[Hashable] = ()
) -> list[Linear]:
    """Every pair of numerical columns (not in ``skip``) where one is linear in the other or
    in its log (see the module); each target with one source, and no target a source."""
    skip = set(skip)
    names = [
        c
        for c in frame.columns
        if kinds.get(c) == "numerical"
        and c not in skip
        and pd.api.types.is_numeric_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c].dtype)
        and not isinstance(frame[c].dtype, pd.ArrowDtype)  # Arrow decimals: kept as they are
    ]
    if len(names) > MAX_COLUMNS:
        return []
    values = {c: to_float(frame[c]) for c in names}
    distinct = {c: len(np.unique(v[np.isfinite(v)])) for c, v in values.items()}
    names = [c for c in names if distinct[c] >= MIN_TARGET_VALUES]
    if not any(distinct[c] >= MIN_VALUES for c in names):
        return []
    written = {c: precision(values[c]) for c in names}
    tolerance = np.asarray([np.nanmax(tolerance_of(values[c], *written[c])) for c in names])
    # rows spread over the table: a table sorted by a column holds it constant in its first rows
    rows = np.unique(np.linspace(0, len(frame) - 1, SCREEN_ROWS).astype(np.int64))
    head = np.column_stack([values[c][rows] for c in names])
    positive = [bool(np.nanmin(values[c]) > 0) for c in names]
    found, lined = [], set()  # lined: pairs a line in the values holds (a log is not tried)
    for log in (False, True):
        sources = head if not log else np.log(np.where(head > 0, head, np.nan))
        for i, j in zip(*np.nonzero(_screen(sources, head, tolerance)), strict=True):
            few = distinct[names[i]] < MIN_VALUES  # too few points to tell a line
            if i == j or few or (log and not positive[i]) or (i, j) in lined:
                continue
            source, target = names[i], names[j]
            line = fit_line(values[source], values[target], log, written[target])
            if line is None:
                continue
            lined.add((i, j))
            if log or abs(line[0] - 1) > NOISE:  # a slope of 1: offsets and orders keep it
                pair = values[source], values[target]
                found.append(
                    Linear(source, target, *line, log, *written[target], together(*pair),
                           span_of(pair[1]))
                )  # fmt: skip
    return pick_sources(found, frame, distinct, written)


def _screen(sources: np.ndarray, targets: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """(C, C) bool: whether target column j may be linear in source column i, judged on these
    rows (R, C) at once, one source at a time (a pair with fewer than 3 rows both present
    passes: too few to refute)."""
    maybe = np.zeros((sources.shape[1], targets.shape[1]), dtype=bool)
    present = np.isfinite(targets)
    for i in range(sources.shape[1]):
        x = sources[:, i : i + 1]
        both = np.isfinite(x) & present
        count = both.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            dx = np.where(both, x - np.where(both, x, 0).sum(0) / count, 0.0)
            dy = np.where(both, targets - np.where(both, targets, 0).sum(0) / count, 0.0)
            slope = (dx * dy).sum(0) / (dx * dx).sum(0)
            residual = dy - slope * dx
            highest = np.where(both, residual, -np.inf).max(axis=0)
            off = (highest - np.where(both, residual, np.inf).min(axis=0)) / 2
        maybe[i] = (count < 3) | (off <= 2 * tolerance)  # least squares on few rows misses more
    return maybe


def pick_sources(
    found: list[Linear], frame: pd.DataFrame, distinct: Mapping, written: Mapping
) -> list[Linear]:
    """Of the lines found, those kept: sources by rank (more distinct values, then a coarser
    grid relative to the range: kilograms to 0.1 before pounds to 0.01, the measurement before
    the value computed from it, whose rounding the line then gives back; then table order),
    each target derived once, and no column both a source and a target."""
    position = {c: i for i, c in enumerate(frame.columns)}

    def rank(column: Hashable) -> tuple:
        values = to_float(frame[column])
        spread = float(np.nanmax(values) - np.nanmin(values)) or 1.0
        decimals = written[column][0]
        step = 10.0**-decimals if decimals is not None else 0.0  # no short decimals: finest
        return (-distinct[column], -step / spread, position[column])

    ranks = {c: rank(c) for item in found for c in (item.source, item.target)}
    kept: list[Linear] = []
    sources: set = set()
    targets: set = set()
    for item in sorted(found, key=lambda i: (ranks[i.source], ranks[i.target])):
        if ranks[item.source] > ranks[item.target] and any(
            (j.source, j.target) == (item.target, item.source) for j in found
        ):
            continue  # both ways: the better-ranked column is the source
        if item.target in targets | sources or item.source in targets:
            continue
        kept.append(item)
        sources.add(item.source)
        targets.add(item.target)
    return kept
