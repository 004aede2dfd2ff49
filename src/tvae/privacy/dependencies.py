"""Declared dependencies under differential privacy: checked without the rows, mappings released.

A user may declare exact dependencies in ``metadata`` (``{"type": "order", "low": A, "high":
B}``, ``{"type": "determines", "source": A, "target": B}``). The declaration itself is public;
it is never checked against the rows (the outcome of a check would be a release).

* An order stores only two column names, a sum three: each is kept as declared.
* A determination needs a mapping (which value of B each value of A comes with), and that is
  data. It is released as the argmax, per value of A, of a Gaussian-noised joint histogram of
  the two columns over their *released* values (the real rows projected onto them: each row
  adds 1 to one cell, L2 sensitivity 1, one mechanism ``mapping:A->B``). The mapping then names
  only values the columns' own counts released. Both columns must be categorical or boolean:
  a numerical column has no released set of values to map between.
* A presence (whether B holds a value, by A's value) is released the same way: per released
  value of A (or, with ``"by": "missing"``, per "A missing" and "A present"), the argmax of a
  Gaussian-noised histogram of B missing or not (one mechanism ``presence:A->B``).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from tvae.errors import InvalidParameterError, TVAEWarning, user_stacklevel
from tvae.privacy.releaser import Releaser
from tvae.transformer.cuts import Cut
from tvae.transformer.date_parts import check_date_parts, parse_date_part
from tvae.transformer.declared_cuts import check_cuts, parse_cut
from tvae.transformer.dependencies import Determination, Order
from tvae.transformer.dependency_search import sources_first
from tvae.transformer.linear import check_lines, parse_linear
from tvae.transformer.presence import Presence, check_presence, parse_presence, presence_with
from tvae.transformer.sums import check_sums, declared_sum

LABEL_KINDS = ("categorical", "boolean")
ORDER_KINDS = ("numerical", "datetime")
DETERMINES_HINT = (
    "; declare it categorical in metadata (its values are then released as labels) or leave "
    "the dependency out"
)


def split_declared(items: Sequence | None, kinds: Mapping[Hashable, str]) -> tuple[list, ...]:
    """The declared orders, the declared determinations as (source, target) pairs with every
    source before the targets it derives, the declared sums, lines, cuts and date parts
    (unchecked: no rounding, no ranges, which would be data), and the declared presences as
    (source, target, by_missing), sources first; raises for anything that cannot be kept."""
    orders, pairs, sums, lines, cuts, parts = [], [], [], [], [], []
    presences: list[Presence] = []
    for item in items or []:
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind == "presence":
            presences.append(_declared_presence(item, kinds))
            continue
        if kind == "cut":
            cuts.append(_declared_cut(item, kinds))
            continue
        if kind == "date_part":  # a formula: public
            parts.append(parse_date_part(item, kinds))
            continue
        if kind == "linear":
            lines.append(parse_linear(item, kinds))
            wrong = [n for n in (lines[-1].source, lines[-1].target) if kinds[n] != "numerical"]
            if wrong:
                raise InvalidParameterError(
                    f"metadata dependency {dict(item)!r}: a line needs numerical columns, but "
                    f"{wrong[0]!r} is {kinds[wrong[0]]}"
                )
            continue
        if kind == "sum":
            sums.append(declared_sum(None, item))
            wrong = [n for n in (*sums[-1].parts, sums[-1].column) if kinds.get(n) != "numerical"]
            if wrong:
                raise InvalidParameterError(
                    f"metadata dependency {dict(item)!r}: a sum needs numerical columns of "
                    f"train_data, but {wrong[0]!r} is {kinds.get(wrong[0], 'not one of them')}"
                )
            continue
        if kind == "one_hot":
            raise InvalidParameterError(
                f"metadata dependency {dict(item)!r}: with epsilon a one-hot group is not kept "
                "(its check would read every row); leave it out, or merge the group's columns "
                "into one categorical column before fitting"
            )
        if kind == "offset":
            raise InvalidParameterError(
                f"metadata dependency {dict(item)!r}: with epsilon a column is not modelled as "
                "an offset from another (its differences' model would be fitted on the rows "
                "without noise); leave it out"
            )
        if kind == "match":
            raise InvalidParameterError(
                f"metadata dependency {dict(item)!r}: with epsilon two columns are not matched "
                "(how often they are equal would be read without noise); leave it out"
            )
        if kind == "rate":
            raise InvalidParameterError(
                f"metadata dependency {dict(item)!r}: with epsilon a share is not kept on its "
                "counts' share (whether the rows keep it would be read without noise); leave "
                "it out"
            )
        if kind == "curve":
            raise InvalidParameterError(
                f"metadata dependency {dict(item)!r}: with epsilon a column is not drawn from a "
                "curve of others (its surface would be fitted on the rows without noise); "
                "leave it out"
            )
        if kind == "determines" and isinstance(item.get("source"), (list, tuple)):
            raise InvalidParameterError(
                f"metadata dependency {dict(item)!r}: with epsilon a column determined by two "
                "columns together is not kept (its mapping would be released from the rows); "
                "leave it out"
            )
        fields = {"order": ("low", "high"), "determines": ("source", "target")}.get(kind)
        names = [item.get(f) for f in fields] if fields else []
        if not fields or any(n not in kinds for n in names) or names[0] == names[1]:
            raise InvalidParameterError(
                f"metadata dependency {item!r} is not valid: give {{'type': 'determines', "
                "'source': A, 'target': B}} or {'type': 'order', 'low': A, 'high': B} with "
                "two different column names of train_data"
            )
        allowed = ORDER_KINDS if kind == "order" else LABEL_KINDS
        wrong = [n for n in names if kinds[n] not in allowed]
        if wrong:
            hint = DETERMINES_HINT if kind == "determines" else ""
            raise InvalidParameterError(
                f"metadata dependency {dict(item)!r}: with epsilon a {kind!r} dependency needs "
                f"{' or '.join(allowed)} columns, but {wrong[0]!r} is {kinds[wrong[0]]}{hint}"
            )
        if kind == "order":
            orders.append(Order(*names))
        else:
            pairs.append((names[0], names[1]))
    lines = check_lines(lines, {c for p in pairs for c in p} | {c for s in sums for c in s.parts})
    busy = {c for p in pairs for c in p} | {c for s in sums for c in (*s.parts, s.column)}
    busy |= {c for item in lines for c in (item.source, item.target)}
    cuts = check_cuts(cuts, busy)
    written = {t for _, t in pairs} | {s.column for s in sums} | {x.target for x in lines + cuts}
    parts = check_date_parts(parts, written)  # a date others read too
    sums = check_sums(sums, {c for p in pairs for c in p})
    presences = check_presence(presences, written | {p.target for p in parts})
    present = [(p.source, p.target, p.by_missing) for p in presences]
    return orders, sources_first(pairs), sums, lines, cuts, parts, present


def _declared_presence(item: Mapping, kinds: Mapping[Hashable, str]) -> Presence:
    """A declared presence under epsilon (names only, its rule released later): its source a
    label (whose values are released) or, with ``"by": "missing"``, any column."""
    source, target, by_missing = parse_presence(item, kinds)
    if not by_missing and kinds[source] not in LABEL_KINDS:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: with epsilon a 'presence' needs a categorical "
            f"or boolean source, but {source!r} is {kinds[source]}{DETERMINES_HINT}, or add "
            "'by': 'missing' where whether it holds a value decides"
        )
    return Presence(source, target, [], [], by_missing=by_missing)


def release_presences(
    projected: pd.DataFrame, surrogate: pd.DataFrame, declared: list[tuple], releaser: Releaser
) -> list[Presence]:
    """Each declared (source, target, by_missing) as a :class:`Presence` whose rule, per
    released value of the source (or "missing", "present"), is the argmax of the noisy
    histogram of the target missing or not over the real rows projected onto the released
    values (one mechanism ``presence:A->B``, L2 sensitivity 1). A target the released rows
    never leave missing keeps no rule (a warning says so): its column has no missing cells."""
    found = []
    for source, target, by_missing in declared:
        if not surrogate[target].isna().any():  # known from the releases: nothing to spend
            warnings.warn(
                f"the released rows hold no missing value of {target!r}: its declared presence "
                f"by {source!r} is not kept",
                TVAEWarning,
                stacklevel=user_stacklevel(),
            )
            continue
        keys = [False, True] if by_missing else released_values(surrogate[source])
        if by_missing:
            rows = projected[source].notna().to_numpy().astype(np.int64)
        else:
            rows = value_codes(projected[source], keys)
        absent = projected[target].isna().to_numpy().astype(np.int64)
        noisy = noisy_table(rows, absent, (len(keys), 2), f"presence:{source}->{target}", releaser)
        present = [bool(p) for p in noisy[:, 0] >= noisy[:, 1]]
        counts = [int(c) for c in np.maximum(np.rint(noisy.sum(axis=1)), 0)]
        found.append(presence_with(surrogate, source, target, keys, present, counts, by_missing))
    return found


def _declared_cut(item: Mapping, kinds: Mapping[Hashable, str]) -> Cut:
    """A declared cut under epsilon: its edges and labels are given (public), not read off
    the rows."""
    if "edges" not in item or "labels" not in item:
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: with epsilon a cut needs its 'edges' and "
            "'labels' (reading them off the rows would release them); give them, or leave it out"
        )
    cut = parse_cut(item, kinds)
    if kinds[cut.source] != "numerical":
        raise InvalidParameterError(
            f"metadata dependency {dict(item)!r}: a cut needs a numerical source, but "
            f"{cut.source!r} is {kinds[cut.source]}"
        )
    return cut


def released_values(column: pd.Series) -> list:
    """The values a surrogate column holds (its released ones), missing last as None."""
    values = list(pd.unique(column.dropna().astype(object)))
    return [*values, None] if column.isna().any() else values


def value_codes(column: pd.Series, values: list) -> np.ndarray:
    """Each cell's position in ``values`` (missing cells: the None slot; -1: not there)."""
    present = [v for v in values if v is not None]
    codes = pd.Index(present, dtype=object).get_indexer(column.astype(object))
    missing = column.isna().to_numpy()
    codes[missing] = len(present) if None in values else -1
    return codes


def release_mapping(
    projected: pd.DataFrame, surrogate: pd.DataFrame, source: Hashable, target: Hashable,
    releaser: Releaser,
) -> Determination:  # fmt: skip
    """``source`` -> ``target`` as the argmax of their noisy joint histogram, over the released
    values (``surrogate``) of the real rows projected onto them (``projected``)."""
    label = f"mapping:{source}->{target}"
    keys, values, table = noisy_joint(projected, surrogate, source, target, label, releaser)
    mapped = [values[i] for i in table.argmax(axis=1)]
    return Determination(source, target, keys, mapped, None)


def noisy_joint(
    projected: pd.DataFrame, surrogate: pd.DataFrame, source: Hashable, target: Hashable,
    label: str, releaser: Releaser,
) -> tuple[list, list, np.ndarray]:  # fmt: skip
    """The released values of ``source`` and of ``target`` and the noisy joint histogram of
    the real rows projected onto them (one mechanism ``label``)."""
    keys, values = released_values(surrogate[source]), released_values(surrogate[target])
    rows, cols = value_codes(projected[source], keys), value_codes(projected[target], values)
    return keys, values, noisy_table(rows, cols, (len(keys), len(values)), label, releaser)


def noisy_table(
    rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], label: str, releaser: Releaser
) -> np.ndarray:
    """The noisy ``shape`` histogram of the real rows' (row, column) codes, one mechanism
    ``label``; a row outside (a code -1) adds nothing, so the L2 sensitivity stays 1."""
    inside = (rows >= 0) & (cols >= 0)
    counts = np.bincount(rows[inside] * shape[1] + cols[inside], minlength=shape[0] * shape[1])
    return releaser.histogram(counts, label).reshape(shape)
