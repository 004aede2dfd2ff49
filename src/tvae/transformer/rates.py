"""Shares computed from two counts in nearly every row: ``rate = min(part, whole) / whole``.

Logs and aggregated tables carry shares beside the counts they were computed from. Intrusion's
``same_srv_rate`` is ``srv_count / count`` capped at 1 and written to two decimals in 99.9 % of
its rows, ``dst_host_same_srv_rate`` is ``dst_host_srv_count / dst_host_count`` in 98.1 %; the
rest were computed over another window. Each drawn on its own, the decoder's noise on the share
is independent of the counts', so only 75 % of sampled rows kept the formula, and a classifier
told them apart by these three columns alone (detection 0.67 on them). No exact dependency holds
(not every row keeps it), so none of the others keeps them.

``fit`` finds such a *rate* (:func:`find_rates`): a numerical column with decimals (1 to
``MAX_DECIMALS``), its values within [0, 1] (``scale`` 1) or [0, 100] (``scale`` 100, a
percentage), and two whole-number columns, its *part* and its *whole*, with ``rate ==
round(scale * min(part, whole) / whole, decimals)`` in at least ``MIN_SHARE`` of the rows where
all three are present and the whole is positive (``MIN_ROWS`` rows or more), and in
``OFF_MODE_SHARE`` of those off the share's most frequent value (a tiny count over a large one
gives 0.00, which a share that is mostly 0 matches without being computed from them).

In sampled rows the share is set on its counts' share in the rows whose drawn share lies
nearest it, as many as the real rows that keep it; the rows the network drew farthest from it
stay as drawn, as the real exceptions do, so that the rows keep the formula as often as the
real ones (a fixed distance would set too many rows, or too few, as the network's draws are
tight or loose). Set on their counts, the drawn full shares (``scale``) the counts do not
give would fall: intrusion's ``same_srv_rate`` is 1 wherever ``srv_count >= count``, which the
network draws less often than the real rows hold it, and its full shares came back 5.6 to 6.3
points short. So where the part moves freely (``raises_part``), as many drawn full shares as
keep the real rows' share of them (``full``) stay, and their part is raised to the whole
(:meth:`Rate.raised`). A conditioned share stays. Each column is the rate of one pair at most,
the pair that holds in the most rows; a column an exact dependency, an order, an offset or a
curve touches is no rate, except one that only pair checks read, set only in the rows where
the checks still hold (:func:`tvae.transformer.near.checked_only`). Rates are listed with the
dependencies (``{"type": "rate", "column": R, "part": A, "whole": B}``, with the ``scale``
and ``decimals`` found), declared or switched off the same way.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.granularity import observed_decimals
from tvae.transformer.numerical import is_number, to_float

MIN_SHARE = 0.95  # rows keeping the formula, at least (of those where it applies)
OFF_MODE_SHARE = 0.9  # the same among rows off the share's most frequent value
MIN_ROWS = 200  # rows where it applies, at least
MAX_DECIMALS = 4  # a share written with more decimals is a measurement, not a count's share
PROBE_ROWS = 2_000  # candidates are first checked on this many rows, then on all
MAX_RATES, MAX_COUNTS = 60, 40  # columns searched, at most


@dataclass(frozen=True)
class Rate:
    """``column = round(scale * min(part, whole) / whole, decimals)`` in nearly every row."""

    column: Hashable
    part: Hashable
    whole: Hashable
    scale: float = 1.0
    decimals: int = 2
    kept: float = 1.0  # the share of real rows keeping it, of those it applies to
    raises_part: bool = False  # a drawn full share may keep its value, the part raised
    full: float = 0.0  # the share of real rows at the full share (``scale``), where it applies

    def values(self, part: np.ndarray, whole: np.ndarray) -> np.ndarray:
        """The share each row's counts give (NaN where the whole is not positive or missing)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            share = self.scale * np.minimum(part, whole) / np.where(whole > 0, whole, np.nan)
        return np.round(share, self.decimals)

    def settled(
        self, part: np.ndarray, whole: np.ndarray, drawn: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The counts' share, and the rows to set on it: those whose ``drawn`` share lies
        nearest it, as many as the real rows that keep it (``kept``); the rows drawn farthest
        from it stay as the exceptions. (N,) each."""
        expected = self.values(part, whole)
        miss = np.abs(drawn - expected)  # NaN where it does not apply
        if np.isnan(miss).all():
            return expected, np.zeros(len(drawn), dtype=bool)
        bound = np.nanquantile(miss, self.kept, method="lower")
        return expected, miss <= bound  # False where it does not apply

    def raised(
        self,
        part: np.ndarray,
        whole: np.ndarray,
        expected: np.ndarray,
        drawn: np.ndarray,
        settled: np.ndarray,
        movable: np.ndarray,
    ) -> np.ndarray:
        """Of the ``settled`` rows (set on their counts' share) drawn with a full share their
        counts do not give, those whose part to raise to the whole instead, keeping the full
        share: as many as bring the rows at the full share to the real rows' share of them
        (``full``), the parts nearest the whole first, only where the part is ``movable``;
        ``expected``: the counts' share (:meth:`values`). (N,) bool."""
        applies = ~np.isnan(expected) & ~np.isnan(drawn)
        final = np.where(settled, expected, drawn)
        wanted = round(self.full * applies.sum()) - int((applies & (final == self.scale)).sum())
        candidates = settled & movable & (drawn == self.scale) & (expected < self.scale)
        candidates = np.flatnonzero(candidates)
        chosen = np.zeros(len(drawn), dtype=bool)
        if wanted > 0 and len(candidates):
            nearest = np.argsort((whole - part)[candidates] / whole[candidates], kind="stable")
            chosen[candidates[nearest[:wanted]]] = True
        return chosen

    def describe(self) -> dict:
        item = {"type": "rate", "column": self.column, "part": self.part, "whole": self.whole}
        return {**item, "scale": self.scale, "decimals": self.decimals}

    def get_state(self) -> dict:
        return {
            "column": encode_value(self.column),
            "part": encode_value(self.part),
            "whole": encode_value(self.whole),
            "scale": self.scale,
            "decimals": self.decimals,
            "kept": self.kept,
            "raises_part": self.raises_part,
            "full": self.full,
        }

    @classmethod
    def from_state(cls, state: Mapping) -> Rate:
        return cls(
            decode_value(state["column"]),
            decode_value(state["part"]),
            decode_value(state["whole"]),
            float(state["scale"]),
            int(state["decimals"]),
            float(state["kept"]),
            bool(state.get("raises_part", False)),
            float(state.get("full", 0.0)),
        )


def _full_share(rate: Rate, numbers: Mapping) -> float:
    """The share of the rows ``rate`` applies to whose share is full (``scale``)."""
    expected = rate.values(numbers[rate.part], numbers[rate.whole])
    applies = ~np.isnan(expected) & ~np.isnan(numbers[rate.column])
    return float((numbers[rate.column][applies] == rate.scale).mean()) if applies.any() else 0.0


def _kept_share(rate: Rate, numbers: Mapping) -> tuple[float, int]:
    """The share of rows keeping ``rate``'s formula among those it applies to, or less where
    the rows off the share's most frequent value keep it in under OFF_MODE_SHARE of them (a
    formula that gives 0 where the share is mostly 0 explains nothing), and their count."""
    expected = rate.values(numbers[rate.part], numbers[rate.whole])
    actual = numbers[rate.column]
    applies = ~np.isnan(expected) & ~np.isnan(actual)
    if not applies.any():
        return 0.0, 0
    actual, expected = actual[applies], expected[applies]
    kept = np.abs(actual - expected) <= 0.5 * 10.0**-rate.decimals * 1e-3
    values, counts = np.unique(actual, return_counts=True)
    off_mode = actual != values[np.argmax(counts)]
    if not off_mode.any():
        return 0.0, int(applies.sum())
    explains = kept[off_mode].mean() >= OFF_MODE_SHARE
    return float(kept.mean()) if explains else 0.0, int(applies.sum())


def _shape(values: np.ndarray) -> tuple[float, int] | None:
    """A share's scale and decimals, or None for a column that is no share."""
    present = values[~np.isnan(values)]
    if len(present) == 0 or present.min() < 0 or len(np.unique(present)) < 3:
        return None
    decimals = observed_decimals(present)
    if decimals is None or not 1 <= decimals <= MAX_DECIMALS:
        return None
    if present.max() <= 1:
        return 1.0, decimals
    return (100.0, decimals) if present.max() <= 100 else None


def _is_count(values: np.ndarray) -> bool:
    present = values[~np.isnan(values)]
    return (
        len(present) > 0
        and present.min() >= 0
        and bool(np.all(present == np.round(present)))
        and len(np.unique(present)) >= 3
    )


def find_rates(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], skip: set | frozenset = frozenset()
) -> list[Rate]:
    """The rates of ``frame`` (see the module docstring), none of them a column of ``skip``."""
    numbers = {c: to_float(frame[c]) for c in frame.columns if is_number(frame[c], kinds)}
    shapes = {c: _shape(v) for c, v in numbers.items() if c not in skip}
    rates = [c for c, shape in shapes.items() if shape is not None][:MAX_RATES]
    counts = [c for c, v in numbers.items() if _is_count(v)][:MAX_COUNTS]
    if not rates or len(counts) < 2:
        return []
    head = {c: v[:PROBE_ROWS] for c, v in numbers.items()}
    found = []
    for column in rates:
        scale, decimals = shapes[column]
        best = None
        for whole in counts:
            for part in counts:
                if part == whole:
                    continue
                rate = Rate(column, part, whole, scale, decimals)
                if _kept_share(rate, head)[0] < MIN_SHARE:
                    continue
                share, rows = _kept_share(rate, numbers)
                if share >= MIN_SHARE and rows >= MIN_ROWS and (best is None or share > best[0]):
                    best = (share, rate)
        if best is not None:
            found.append(replace(best[1], kept=best[0], full=_full_share(best[1], numbers)))
    return found


def is_rate(item: object) -> bool:
    """Whether a metadata dependency item declares a rate."""
    return isinstance(item, Mapping) and item.get("type") == "rate"


def declared_rates(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], items: list, skip: set | frozenset
) -> list[Rate]:
    """The rates a metadata dependency list declares, checked on ``frame``: each must hold in
    MIN_SHARE of the rows it applies to; a column another dependency touches (``skip``) is no
    rate, and a column is the rate of one pair at most."""
    rates = [_declared(frame, kinds, item, skip) for item in items if is_rate(item)]
    columns = [r.column for r in rates]
    twice = sorted({str(c) for c in columns if columns.count(c) > 1})
    if twice:
        raise InvalidParameterError(
            f"metadata's 'rate' dependencies give {twice} two pairs of counts: a column is the "
            "rate of one pair at most"
        )
    return rates


def _declared(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], item: Mapping, skip: set | frozenset
) -> Rate:
    names = [item.get(f) for f in ("column", "part", "whole")]
    valid = all(isinstance(n, Hashable) and n in frame.columns for n in names)
    if not valid or len(set(names)) < 3:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r} is not valid: give {{'type': 'rate', 'column': "
            "R, 'part': A, 'whole': B} with three different column names of train_data"
        )
    column, part, whole = names
    numbers = {n: to_float(frame[n]) for n in names if is_number(frame[n], kinds)}
    shape = _shape(numbers[column]) if column in numbers else None
    counts = [n for n in (part, whole) if n in numbers and _is_count(numbers[n])]
    if shape is None or len(counts) < 2:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: a rate needs a share (a number within [0, 1] "
            f"or [0, 100], written with 1 to {MAX_DECIMALS} decimals) and two columns of whole "
            "numbers of at least 0"
        )
    if column in skip:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: {column!r} is also read or written by another "
            "dependency, whose repair the rate's would undo; leave one of the two out"
        )
    rate = Rate(column, part, whole, *shape)
    share, _ = _kept_share(rate, numbers)
    rate = replace(rate, kept=share, full=_full_share(rate, numbers))
    if share < MIN_SHARE:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: {column!r} is min({part!r}, {whole!r}) / "
            f"{whole!r} in only {share:.1%} of the rows where it applies; a rate must hold in "
            f"{MIN_SHARE:.0%} of them"
        )
    return rate
