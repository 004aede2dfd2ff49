"""Relations that hold nearly, not exactly: curves and rates, found and kept together.

Each lives in its own module (:mod:`tvae.transformer.curves`: a number a surface of one or two
others gives, plus a small residual; :mod:`tvae.transformer.rates`: a share of two counts in
nearly every row). They are kept by decoding after the exact dependencies' repairs, curves
first: their sources and the rates' counts are final by then. Neither names a column an exact
dependency, an order or an offset touches (``busy``), and a rate is no curve's column.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tvae.transformer.curves import declared_curves, find_curves, is_curve, keep_curves
from tvae.transformer.rates import declared_rates, find_rates, is_rate, keep_rates


def is_near(item: object) -> bool:
    """Whether a metadata dependency item declares a curve or a rate."""
    return is_curve(item) or is_rate(item)


def busy_columns(dependencies: Any, moved: set) -> set:
    """The columns an exact dependency reads or writes, an order compares or an offset
    (``moved``) pairs: no near relation names them."""
    busy = dependencies.linked() | set(moved)
    busy |= {c for o in dependencies.orders for c in (o.low, o.high)}
    return busy | {c for s in dependencies.sums for c in (*s.parts, s.column)}


def find_near(
    dependencies: Any, frame: pd.DataFrame, kinds: Mapping[Hashable, str], moved: set
) -> None:
    """Find the curves and rates of ``frame`` onto ``dependencies``."""
    busy = busy_columns(dependencies, moved)
    dependencies.curves = find_curves(frame, kinds, skip=busy)
    busy |= {c.column for c in dependencies.curves}
    dependencies.rates = find_rates(frame, kinds, skip=busy)


def declare_near(
    dependencies: Any, frame: pd.DataFrame, kinds: Mapping[Hashable, str], items: list, moved: set
) -> None:
    """The curves and rates ``items`` declare, checked and fitted on ``frame``."""
    busy = busy_columns(dependencies, moved)
    dependencies.curves = declared_curves(frame, kinds, items, busy)
    busy |= {c.column for c in dependencies.curves}
    dependencies.rates = declared_rates(frame, kinds, items, busy)


def keep_near(
    frame: pd.DataFrame,
    dependencies: Any,
    columns: Mapping,
    rng: np.random.Generator,
    fixed: set,
    fixed_rows: Mapping | None = None,
) -> None:
    """Keep the curves and rates in decoded rows whose exact dependencies hold, in place
    (``columns``: the column models by name)."""
    keep_curves(frame, dependencies.curves, columns, rng, fixed, fixed_rows)
    keep_rates(frame, dependencies.rates, columns, fixed, fixed_rows)
