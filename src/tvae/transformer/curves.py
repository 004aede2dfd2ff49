"""Numbers that one or two other numbers nearly determine: a smooth surface plus a small noise.

Measured quantities often carry one computed from others by a formula the table does not state:
covtype's three hillshade indices are the sunlight a slope of the row's ``Aspect`` and
``Slope`` gets at 9am, noon and 3pm, rounded from a terrain model. Each modelled on its own, the
decoder's noise on the index is independent of the slope's, so sampled rows break the formula
(the index missed the real surface by 10 points on average where real rows miss it by 1) and a
classifier tells them apart at once (covtype: detection 0.23 on those five columns alone). No
exact dependency holds, so neither a determination nor a line keeps them.

``fit`` finds such a *curve* (:func:`find_curves`): a numerical column, the *target*, that a
smooth function of one or two other numerical columns, its *sources*, predicts to within
``TIGHT_RATIO`` of its own spread (standard deviations of the out-of-fold residual and of the
column), on a table of ``MIN_ROWS`` rows or more, with no missing cell in any of them, no value
held by more than ``MAX_POINT_SHARE`` of the target's rows (a point mass the smooth surface
would spread), and a residual no other column explains (its correlation with any other number,
or its correlation ratio with any label, at most ``RESIDUAL_LINK``). The residual is drawn on
its own, so one that goes with another column would lose that link: diamonds' ``carat`` from
``z`` and ``price`` left a residual correlated 0.58 with ``depth``, and detection fell from
0.72 to 0.43. A row counter (whole numbers, all distinct) is neither target nor source: it is
the file's order, not a quantity.

The function is piecewise linear in each source between knots at its quantiles (bilinear over
a grid for two sources), fitted by least squares with a light penalty on its curvature, so
that empty cells of the grid follow their neighbours. Sampled rows get the target from their
sources: the surface's value plus a residual drawn from the real out-of-fold residuals'
quantiles, clipped to the target's range and rounded to its grid; a conditioned target stays
as it was drawn. Tightest first, a column is the target of one curve at most, and a target is
never a source. Columns an exact dependency reads or writes, orders' and offsets' columns are
left out. Curves are listed with the dependencies (``{"type": "curve", "column": C,
"sources": [A, B]}``), declared or switched off the same way.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvae.codec import decode_value, encode_value
from tvae.errors import InvalidParameterError
from tvae.transformer.numerical import is_number, to_float
from tvae.transformer.surface import design, fit_values, knots_of

TIGHT_RATIO = 0.1  # the residual's spread, at most this share of the target's
SCREEN_RATIO = 0.3  # the same on coarse bins, before a surface is fitted (see _screen)
MIN_ROWS = 2_000  # fewer rows fit a surface too loosely to replace the network's own draw
MIN_DISTINCT = 20  # a target of fewer values is left to its point masses
MAX_POINT_SHARE = 0.05  # a target value held by more of the rows is a point mass
MAX_COLUMNS = 120  # numerical columns searched, at most
SEARCH_ROWS = 50_000  # rows the search and the surfaces use, evenly spaced, at most
PAIR_SOURCES = 6  # per target, pairs are tried among its best single sources
SCREEN_BINS = (32, 12)  # bins per source on the screen, for one source and for two
QUANTILES = 101  # residual quantiles kept
RESIDUAL_LINK = 0.2  # the residual's correlation with any other column, at most (see _link)
MAX_FITS = 4  # surfaces fitted per target, at most (the best screened first)


@dataclass(frozen=True)
class Curve:
    """``column = surface(sources) + residual``: the surface's knots per source and its values on
    their grid (flattened, the first source's knots slowest), the residual's quantiles."""

    column: Hashable
    sources: tuple
    knots: tuple[np.ndarray, ...]
    values: np.ndarray
    residuals: np.ndarray

    def predict(self, sources: list[np.ndarray]) -> np.ndarray:
        """The surface at ``sources`` (one array per source, (N,) float64), flat past the knots."""
        return design(sources, self.knots) @ self.values

    def draw(self, sources: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """The surface plus a residual drawn from the real residuals' quantiles. (N,)"""
        steps = np.linspace(0.0, 1.0, len(self.residuals))
        noise = np.interp(rng.random(len(sources[0])), steps, self.residuals)
        return self.predict(sources) + noise

    def describe(self) -> dict:
        return {"type": "curve", "column": self.column, "sources": list(self.sources)}

    def get_state(self) -> dict:
        return {
            "column": encode_value(self.column),
            "sources": [encode_value(s) for s in self.sources],
            "knots": [k.tolist() for k in self.knots],
            "values": self.values.tolist(),
            "residuals": self.residuals.tolist(),
        }

    @classmethod
    def from_state(cls, state: Mapping) -> Curve:
        return cls(
            decode_value(state["column"]),
            tuple(decode_value(s) for s in state["sources"]),
            tuple(np.asarray(k, dtype=float) for k in state["knots"]),
            np.asarray(state["values"], dtype=float),
            np.asarray(state["residuals"], dtype=float),
        )


def fit_curve(
    column: Hashable, sources: tuple, numbers: Mapping
) -> tuple[Curve, float, np.ndarray]:
    """The curve of ``column`` on ``sources`` (``numbers``: column -> (N,) float64, no NaN),
    its residual's spread over the column's, and the residuals. They are out of fold (each half
    of the rows predicted by the surface fitted on the other), so a loose surface does not look
    tight; the surface kept is fitted on every row."""
    xs = [numbers[s] for s in sources]
    target = numbers[column]
    knots = tuple(knots_of(x) for x in xs)
    half = np.arange(len(target)) % 2 == 0
    residuals = np.empty_like(target)
    for part in (half, ~half):
        values = fit_values([x[~part] for x in xs], target[~part], knots)
        residuals[part] = target[part] - design([x[part] for x in xs], knots) @ values
    values = fit_values(xs, target, knots)
    spread = float(target.std())
    ratio = float(residuals.std() / spread) if spread > 0 else np.inf
    quantiles = np.quantile(residuals, np.linspace(0.0, 1.0, QUANTILES))
    return Curve(column, tuple(sources), knots, values, quantiles), ratio, residuals


def _link(residuals: np.ndarray, values: np.ndarray, numeric: bool) -> float:
    """How much of the residuals another column explains: the absolute correlation with a
    number (over the rows it is present in), the correlation ratio with a label's codes less
    what as many groups would explain by chance (a label of 2,000 values over 3,000 rows
    "explains" two thirds of any residual's variance)."""
    if numeric:
        present = ~np.isnan(values)
        x, y = values[present], residuals[present]
        if len(x) < 3 or x.std() == 0 or y.std() == 0:
            return 0.0
        return float(abs(np.corrcoef(x, y)[0, 1]))
    explained = _screen(residuals, values, between=True) ** 2
    chance = (len(np.unique(values)) - 1) / max(len(values) - 1, 1)
    return float(np.sqrt(max(explained - chance, 0.0) / (1.0 - chance))) if chance < 1 else 0.0


def _bins(values: np.ndarray, count: int) -> np.ndarray:
    """Each value's bin among ``count`` quantile bins (ties share a bin)."""
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, count + 1))[1:-1])
    return np.searchsorted(edges, values, side="right")


def _screen(target: np.ndarray, cells: np.ndarray, between: bool = False) -> float:
    """The target's spread within ``cells`` over its whole spread: how tightly the binned
    sources hold it (a coarse upper view of a fitted surface's ratio); ``between``: the spread
    of the cells' means instead (a correlation ratio)."""
    count = np.bincount(cells)
    total = np.bincount(cells, target)
    squares = np.bincount(cells, target * target)
    filled = count > 0
    within = squares[filled].sum() - (total[filled] ** 2 / count[filled]).sum()
    variance = target.var() * len(target)
    if variance <= 0:
        return 0.0 if between else np.inf
    share = max(within, 0.0) / variance
    return float(np.sqrt(max(1.0 - share, 0.0) if between else share))


def _search_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Evenly spaced rows of ``frame``, SEARCH_ROWS at most: what the search reads."""
    return frame.iloc[:: max(1, -(-len(frame) // SEARCH_ROWS))]


def _numbers(frame: pd.DataFrame, names: list) -> dict:
    """``names`` as float64 arrays over the search's rows."""
    rows = _search_rows(frame)
    return {c: to_float(rows[c]) for c in names}


def _targets_and_sources(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], skip: set | frozenset
) -> tuple[list, list]:
    """The numerical columns a curve may use (no missing cell, two values or more, not whole
    numbers all distinct, none in ``skip``), and those of them that may be a target
    (MIN_DISTINCT values or more, none held by more than MAX_POINT_SHARE of the rows)."""
    sources, targets = [], []
    for name in frame.columns:
        if name in skip or not is_number(frame[name], kinds) or len(sources) >= MAX_COLUMNS:
            continue
        values = to_float(frame[name])
        if np.isnan(values).any() or not np.isfinite(values).all():
            continue
        counts = pd.Series(values).value_counts()
        if len(counts) < 2 or (len(counts) == len(values) and np.all(values == np.round(values))):
            continue  # constant, or a row counter (a file's order, not a quantity)
        sources.append(name)
        if len(counts) >= MIN_DISTINCT and counts.iloc[0] <= MAX_POINT_SHARE * len(values):
            targets.append(name)
    return targets, sources


def find_curves(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], skip: set | frozenset = frozenset()
) -> list[Curve]:
    """The curves of ``frame`` (see the module docstring), none of them naming a column of
    ``skip``, in the table's order of their targets."""
    if len(frame) < MIN_ROWS:
        return []
    targets, sources = _targets_and_sources(frame, kinds, skip)
    if not targets or len(sources) < 2:
        return []
    numbers = _numbers(frame, sources)
    single = {c: _bins(numbers[c], SCREEN_BINS[0]) for c in sources}
    paired = {c: _bins(numbers[c], SCREEN_BINS[1]) for c in sources}
    found, others = [], None
    for target in targets:
        screened = sorted((_screen(numbers[target], single[s]), s) for s in sources if s != target)
        tried = [((s,), ratio) for ratio, s in screened]
        best = [s for _, s in screened[:PAIR_SOURCES]]
        for i, first in enumerate(best):
            for second in best[i + 1 :]:
                cells = paired[first] * (SCREEN_BINS[1] + 1) + paired[second]
                tried.append(((first, second), _screen(numbers[target], cells)))
        candidates = sorted(tried, key=lambda item: item[1])[:MAX_FITS]
        for pair, ratio in candidates:
            if ratio > SCREEN_RATIO:
                break
            curve, fitted, residuals = fit_curve(target, pair, numbers)
            if fitted > TIGHT_RATIO:
                continue
            others = others if others is not None else _others(frame, kinds)
            named = {target, *pair}
            links = [_link(residuals, v, n) for c, (v, n) in others.items() if c not in named]
            if max(links, default=0.0) <= RESIDUAL_LINK:
                found.append((fitted, len(pair), curve))
                break
    return _kept(found, list(frame.columns))


def _others(frame: pd.DataFrame, kinds: Mapping[Hashable, str]) -> dict:
    """Every column but keys and dates over the rows of :func:`_numbers`: name -> (values,
    whether numeric): numbers as float64 (NaN: missing), labels as codes (missing: a code)."""
    rows, found = _search_rows(frame), {}
    for name in frame.columns:
        kind = kinds.get(name)
        if is_number(frame[name], kinds):
            found[name] = (to_float(rows[name]), True)
        elif kind in ("categorical", "boolean"):
            codes = pd.factorize(rows[name], use_na_sentinel=False)[0]
            found[name] = (codes, False)
    return found


def _kept(found: list, order: list) -> list[Curve]:
    """Tightest first (fewer sources on a tie): one curve per target, no target a source."""
    targets: dict = {}
    used: set = set()
    for _, _, curve in sorted(found, key=lambda item: item[:2]):
        if curve.column in used or any(s in targets for s in curve.sources):
            continue
        targets[curve.column] = curve
        used.update(curve.sources)
        used.add(curve.column)
    return [targets[c] for c in order if c in targets]


def is_curve(item: object) -> bool:
    """Whether a metadata dependency item declares a curve."""
    return isinstance(item, Mapping) and item.get("type") == "curve"


def declared_curves(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], items: list, skip: set | frozenset
) -> list[Curve]:
    """The curves a metadata dependency list declares, fitted on ``frame``; a column an exact
    dependency reads or writes (``skip``) may not be a curve's target."""
    curves = [_declared(frame, kinds, item, skip) for item in items if is_curve(item)]
    targets = [c.column for c in curves]
    clash = {t for t in targets if targets.count(t) > 1}
    clash |= {s for c in curves for s in c.sources} & set(targets)
    if clash:
        raise InvalidParameterError(
            f"metadata's 'curve' dependencies give {sorted(map(str, clash))} two curves, or use "
            "a curve's column as another's source: a column is the column of one curve at "
            "most, and a curve's column is no curve's source"
        )
    return curves


def _declared(
    frame: pd.DataFrame, kinds: Mapping[Hashable, str], item: Mapping, skip: set | frozenset
) -> Curve:
    column, sources = item.get("column"), item.get("sources")
    valid = isinstance(sources, (list, tuple)) and 1 <= len(sources) <= 2
    names = [column, *sources] if valid else []
    if not valid or any(not isinstance(n, Hashable) or n not in frame.columns for n in names):
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r} is not valid: give {{'type': 'curve', "
            "'column': C, 'sources': [A] or [A, B]} with column names of train_data"
        )
    if len(set(names)) < len(names):
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: a curve's column and sources must be "
            "different columns"
        )
    wrong = [n for n in names if not is_number(frame[n], kinds)]
    missing = [n for n in names if not wrong and frame[n].isna().any()]
    if wrong or missing:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: a curve needs numerical columns without "
            f"missing cells, but {(wrong or missing)[0]!r} is "
            f"{'not held as numbers' if wrong else 'missing in some rows'}"
        )
    constant = [n for n in sources if frame[n].nunique() < 2]
    if constant:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: a curve's source must vary, but "
            f"{constant[0]!r} holds one value"
        )
    if column in skip:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: {column!r} is also read or written by another "
            "dependency (a determination, an order, a sum, a line, a cut or an offset), which "
            "the curve's draw would break; leave one of the two out"
        )
    curve, _, _ = fit_curve(column, tuple(sources), _numbers(frame, names))
    return curve
