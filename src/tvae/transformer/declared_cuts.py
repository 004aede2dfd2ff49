"""Cuts the user declares (:mod:`tvae.transformer.cuts`): parsed, checked on the rows, and
refused where they cannot all be kept."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from tvae.errors import InvalidParameterError
from tvae.transformer.cut_dates import date_source
from tvae.transformer.cuts import Cut, arranged, cut_of, deriving, edges_of
from tvae.transformer.determination import check_derived
from tvae.transformer.repairs import missing_alike


def parse_cut(item: Mapping, columns: Iterable[Hashable]) -> Cut:
    """A declared ``{"type": "cut", ...}`` with its ``edges`` and ``labels`` (not checked)."""
    names = [item.get("source"), item.get("target")]
    try:
        edges = tuple(float(e) for e in item["edges"])
        labels = tuple(item["labels"])
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"metadata dependency {item!r} is not valid: a cut gives {{'type': 'cut', "
            "'source': A, 'target': B, 'edges': [e1, ...], 'labels': [b0, b1, ...]} (B is "
            "labels[i] where edges[i - 1] <= A < edges[i]), or only source and target to "
            "read the edges off train_data"
        ) from error
    missing = [n for n in names if n not in set(columns)]
    if (
        missing
        or names[0] == names[1]
        or len(labels) != len(edges) + 1
        or not np.isfinite(edges).all()
        or list(edges) != sorted(set(edges))
    ):
        raise InvalidParameterError(
            f"metadata dependency {item!r} is not valid: give two columns of train_data, "
            "increasing finite edges and one label more than edges"
            f"{f' (unknown: {missing})' if missing else ''}"
        )
    return Cut(names[0], names[1], edges, labels)


def declared_cut(frame: pd.DataFrame, item: Mapping) -> Cut:
    """A declared cut, checked on ``frame``: with ``edges`` and ``labels``, every row where the
    source is present must hold them; with neither, they are read off the rows (which must
    hold a cut: each target value one run of source values). A date source takes its edges
    as dates."""
    source = item.get("source")
    dates = source in frame.columns and date_source(frame[source])
    if "edges" not in item and "labels" not in item:
        names = [source, item.get("target")]
        if any(n not in set(frame.columns) for n in names) or names[0] == names[1]:
            parse_cut({**item, "edges": [], "labels": [None]}, frame.columns)  # raises
        if not dates and not pd.api.types.is_numeric_dtype(frame[names[0]].dtype):
            raise InvalidParameterError(f"metadata's cut: {names[0]!r} is not a number or a date")
        result = cut_of(frame, *names, dates)
        if result is None:
            raise InvalidParameterError(
                f"metadata says {names[1]!r} is a cut of {names[0]!r}, but in train_data a "
                f"value of {names[1]!r} holds more than one range of {names[0]!r} (or one "
                f"value of {names[0]!r} comes with several of {names[1]!r})"
            )
        return result[0]
    if dates and "edges" in item:
        item = {**item, "edges": [pd.Timestamp(e).value for e in item["edges"]]}
    cut = parse_cut(item, frame.columns)
    if not dates and not pd.api.types.is_numeric_dtype(frame[cut.source].dtype):
        raise InvalidParameterError(f"metadata's cut: {cut.source!r} is not a number or a date")
    cut = replace(cut, dates=bool(dates), date_format=dates if isinstance(dates, str) else None)
    values = cut.source_values(frame[cut.source])
    present = ~np.isnan(values)
    expected = np.asarray(cut.labels, dtype=object)[cut.positions(values)[present]]
    real = frame[cut.target].to_numpy(dtype=object)[present]
    wrong = [i for i, (a, b) in enumerate(zip(expected, real, strict=True))
             if missing_alike(a) != missing_alike(b)]  # fmt: skip
    if wrong:
        shown = frame[cut.source][present].iloc[wrong[0]]
        raise InvalidParameterError(
            f"metadata says {cut.target!r} is {list(cut.labels)!r} cut by {cut.source!r} at "
            f"{cut.describe()['edges']!r}, but train_data has {len(wrong)} rows where it does "
            f"not hold (the first: {cut.source!r} = {shown!r}, {cut.target!r} = "
            f"{real[wrong[0]]!r})"
        )
    spans = []
    for i in range(len(cut.labels)):
        held = values[present][cut.positions(values[present]) == i]
        spans.append((float(held.min()), float(held.max())) if len(held) else edges_of(cut, i))
    return replace(cut, spans=tuple(spans))


def check_cuts(items: list[Cut], busy: set, targets_too: set = frozenset()) -> list[Cut]:
    """Declared cuts, refused where they cannot all be kept (see ``check_derived``): a target
    several numbers cut is derived from the first given, and each other source, kept within
    the label's range, must be a number no other dependency or cut reads or writes. Columns
    of ``busy`` in ``targets_too`` (those only determinations read) may be targets."""
    items = arranged(items)
    firsts = list(deriving(items).values())
    others = items[len(firsts) :]  # arranged: every deriving cut first
    moved = [item.source for item in others]
    targets = set(targets_too) & {item.target for item in firsts}  # a source among them clashes
    check_derived(firsts, (busy | set(moved)) - targets, "cut")
    for item in others:
        read = [x.source for x in items if x is not item] + [x.target for x in items]
        if item.dates or item.source in busy or item.source in read or moved.count(item.source) > 1:
            raise InvalidParameterError(
                f"metadata's cuts of {item.target!r}: {item.source!r}, a second source kept "
                "within the label's range, must be a number that no other cut or dependency "
                "reads or writes; keep one of them"
            )
    return items
