"""The data transformer: table <-> (alphas, codes) matrices, with the layout that ties them.

``transform`` returns the compact form the trainer keeps in memory: ``alphas`` (N, n_tanh)
float32 and ``codes`` (N, n_softmax) int64. The dense one-hot row the networks see is built
per batch (see :func:`tvae.training.dense_batch`), so a million-row table never exists as a
wide float matrix.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from tvae.codec import decode_value, encode_value
from tvae.exclusions import Exclusion
from tvae.label_ranges import LabelRange, clip_into_bounds, find_label_ranges
from tvae.layout import Layout
from tvae.transformer.build import build_column, column_from_state, keyed_numbers
from tvae.transformer.columns import ColumnModel, Draws
from tvae.transformer.continuous import MAX_CLUSTERS, WEIGHT_THRESHOLD
from tvae.transformer.declared_dependencies import check_members_unnamed
from tvae.transformer.decoding_seed import seed_from_rows
from tvae.transformer.dependencies import Dependencies
from tvae.transformer.determination import order_of
from tvae.transformer.dtypes import DtypeInfo, float_values
from tvae.transformer.near import declare_near, find_near, is_near, keep_near
from tvae.transformer.offset_column import decode_with_repairs, fit_offset, with_differences
from tvae.transformer.offsets import declared_offsets, find_offsets, is_offset
from tvae.transformer.one_hot import collapse, declared_group, find_groups, member_orders
from tvae.transformer.sums import check_apart


@dataclass
class EncodedTable:
    """A table in model space."""

    alphas: np.ndarray  # (N, n_tanh) float32
    codes: np.ndarray  # (N, n_softmax) int64

    def __len__(self) -> int:
        return len(self.codes) if self.codes.size or not self.alphas.size else len(self.alphas)


class TableTransformer:
    """Fits one column model per column and assembles their spans into a :class:`Layout`."""

    def __init__(
        self,
        max_clusters: int = MAX_CLUSTERS,
        weight_threshold: float = WEIGHT_THRESHOLD,
        fit_sample_size: int | None = None,
        *,
        enforce_min_max_values: bool = True,
    ) -> None:
        self.max_clusters = max_clusters
        self.weight_threshold = weight_threshold
        self.fit_sample_size = fit_sample_size
        self.enforce_min_max_values = enforce_min_max_values
        self.columns: list[ColumnModel] = []
        self.dependencies = Dependencies()  # kept in every decoded row (see ``fit``)
        self.output_names: list = []  # the table's columns, in order (one-hot members included)
        self.exclusions: list[Exclusion] = []  # value pairs never sampled (tvae.exclusions)
        self.label_ranges: list[LabelRange] = []  # bounds a number keeps under its label

    def fit(
        self,
        frame: pd.DataFrame,
        kinds: Mapping[Hashable, str],
        rng: np.random.Generator,
        progress: bool = False,
        dependencies: list | None = None,
        point_masses: bool = True,
        scale: str = "linear",
    ) -> TableTransformer:
        """Fit a model per column; ``kinds`` maps each column to its kind.

        ``dependencies`` (a list in :meth:`Dependencies.describe` form) fixes the exact
        dependencies to keep; None detects them (:meth:`Dependencies.detect`, and one-hot
        groups: :func:`tvae.transformer.one_hot.find_groups`). A one-hot group's members are
        modelled as one categorical column. ``point_masses`` gives frequent numeric values
        exact modes; ``scale`` ("linear", "log" or "auto") is the space of numbers' mixtures
        (:class:`~tvae.transformer.continuous.ModeNormalizer`).
        """
        self.output_names = list(frame.columns)
        # differs from the reference: it models each indicator of a one-hot group on its own,
        # and its rows break the group (covtype: one soil type in half of them)
        if dependencies is None:
            groups, declared = find_groups(frame, kinds), None
        else:
            groups = [declared_group(frame, kinds, d) for d in dependencies if _is_one_hot(d)]
            offsets = declared_offsets(frame, kinds, dependencies, groups)
            declared = [d for d in dependencies if not (_is_one_hot(d) or is_offset(d))]
            declared = [d for d in declared if not is_near(d)]
            check_members_unnamed(groups, declared)
        table, frame = frame, collapse(frame, groups)
        labels = {g.label: "id" for g in groups}  # left out of the search: derived only
        if declared is None:
            self.dependencies = Dependencies.detect(frame, {**kinds, **labels})
            pairs = member_orders(table, kinds, groups)
            self.dependencies.orders += [order_of(table, low, high) for low, high in pairs]
            # a column an exact dependency derives or moves stays as it is (Car's prices)
            summed = {c for s in self.dependencies.sums for c in (*s.parts, s.column)}
            offsets = find_offsets(table, kinds, skip=self.dependencies.linked() | summed)
            moved = {c for o in offsets for c in (o.base, o.column)}
            find_near(self.dependencies, frame, kinds, moved)
            self.dependencies.add_presence(frame, {**kinds, **labels}, moved)
        else:  # checked on the table: a declared order may name a member
            self.dependencies = Dependencies.declared(table, declared)
            moved = {c for o in offsets for c in (o.base, o.column)}
            check_apart(self.dependencies.sums, moved)
            declare_near(self.dependencies, frame, kinds, dependencies, moved)
        self.dependencies.groups = groups
        self.dependencies.offsets = offsets
        offset_of = {o.column: o for o in offsets}
        kinds = {**kinds, **{g.label: "categorical" for g in groups}}
        sample = frame
        if self.fit_sample_size is not None and len(frame) > self.fit_sample_size:
            rows = np.sort(rng.choice(len(frame), self.fit_sample_size, replace=False))
            sample = frame.iloc[rows]
        self.columns = []
        bar = tqdm(
            list(frame.columns), desc="Fitting transformer", disable=not progress, leave=False
        )
        options = {
            "max_clusters": self.max_clusters,
            "weight_threshold": self.weight_threshold,
            "clip": self.enforce_min_max_values,
        }
        deps = self.dependencies.determinations
        keyed = keyed_numbers(deps, kinds, self.max_clusters) if point_masses else ()
        for name in bar:
            bar.set_postfix_str(str(name))
            column = build_column(
                name, kinds[name], frame[name], sample[name], rng, point_masses=point_masses,
                scale=scale, every_value=name in keyed, **options,
            )  # fmt: skip
            if name in offset_of:  # modelled as its difference from its base (offsets.py)
                seed = int(rng.integers(2**31 - 1))
                column = fit_offset(
                    offset_of[name], kinds, frame, sample, column, seed, find_points=point_masses,
                    scale=scale, **options,
                )  # fmt: skip
            self.columns.append(column)
        return self

    @property
    def layout(self) -> Layout:
        return Layout.from_widths(
            [
                (kind, width, str(col.name), *role)
                for col in self.columns
                for kind, width, *role in col.spans
            ]
        )

    @property
    def column_slices(self) -> list[tuple[slice, slice]]:
        """Each modelled column's slice of the encoded alphas and of the codes."""
        return self.layout.column_slices([len(col.spans) for col in self.columns])

    @property
    def column_names(self) -> list:
        """The modelled columns (a one-hot group as its label)."""
        return [col.name for col in self.columns]

    @property
    def table_names(self) -> list:
        """The table's columns, in order: what ``fit`` read and ``inverse_transform`` gives."""
        return list(self.output_names) or self.column_names

    @property
    def kinds(self) -> dict:
        return {col.name: col.kind for col in self.columns}

    def transform(self, frame: pd.DataFrame, rng: np.random.Generator) -> EncodedTable:
        """Encode ``frame`` (same columns as in fit); modes are drawn with ``rng``."""
        frame = with_differences(collapse(frame, self.dependencies.groups), self.columns)
        alphas, codes = [], []
        for col in self.columns:
            a, c = col.transform(frame[col.name], rng)
            alphas.append(a)
            codes.append(c)
        return EncodedTable(
            alphas=np.concatenate(alphas, axis=1).astype(np.float32, copy=False),
            codes=np.concatenate(codes, axis=1).astype(np.int64, copy=False),
        )

    def inverse_transform(
        self,
        alphas: np.ndarray,
        codes: np.ndarray,
        rng: np.random.Generator | None = None,
        *,
        id_offset: int = 0,
        fixed: Iterable[Hashable] = (),
        allowed: Mapping | None = None,
        fixed_rows: Mapping | None = None,
    ) -> pd.DataFrame:
        """Decode model-space rows back to a table with the input's columns and dtypes.

        ``fixed`` names conditioned columns, which the dependencies' repairs leave as they are,
        ``allowed`` the values a condition leaves others and ``fixed_rows`` the rows a column is
        conditioned in, where only some are (:meth:`Dependencies.apply`).

        ``rng`` serves the few columns that draw at decoding (rare values of wide categoricals,
        UUIDs); by default it is seeded from the encoded rows themselves, so a seeded
        ``sample`` stays reproducible without a second random stream. ID columns number the
        rows from position ``id_offset`` of their sequence (UUIDs: drawn from that seed and
        ``id_offset``), so successive calls can continue one another.
        """
        id_rng = rng
        if rng is None:
            seed = seed_from_rows(alphas, codes)
            rng, id_rng = np.random.default_rng(seed), np.random.default_rng([seed, id_offset])
        draws = Draws(rng, id_rng, id_offset)
        slices = self.column_slices
        out = [
            col.inverse(alphas[:, a], codes[:, c], draws)
            for col, (a, c) in zip(self.columns, slices, strict=True)
        ]
        frame = pd.concat(out, axis=1, ignore_index=True)
        frame.columns = pd.Index(self.column_names, tupleize_cols=False)  # ("a", 1): a label
        self._keep_label_ranges(frame, codes)
        repair = lambda rows: self.dependencies.apply(rows, fixed, allowed, fixed_rows)  # noqa: E731
        frame = decode_with_repairs(frame, self.columns, repair, set(fixed))
        keep_near(frame, self.dependencies, self.columns, rng, set(fixed), fixed_rows)  # last
        if self.dependencies.groups:  # the members, back in the table's order
            frame = frame[self.output_names]
        return frame

    def get_state(self) -> dict:
        return {
            "max_clusters": self.max_clusters,
            "weight_threshold": self.weight_threshold,
            "fit_sample_size": self.fit_sample_size,
            "enforce_min_max_values": self.enforce_min_max_values,
            "columns": [
                {
                    "name": encode_value(col.name),
                    "kind": col.kind,
                    "dtype": col.dtype.get_state(),
                    "state": col.get_state(),
                }
                for col in self.columns
            ],
            "dependencies": self.dependencies.get_state(),
            "output_names": [encode_value(n) for n in self.table_names],
            **({"exclusions": [e.get_state() for e in self.exclusions]} if self.exclusions else {}),
            **(
                {"label_ranges": [r.get_state() for r in self.label_ranges]}
                if self.label_ranges
                else {}
            ),
        }

    @classmethod
    def from_state(cls, state: dict) -> TableTransformer:
        transformer = cls(
            state["max_clusters"],
            state["weight_threshold"],
            state["fit_sample_size"],
            enforce_min_max_values=bool(state.get("enforce_min_max_values", True)),
        )
        transformer.columns = [
            column_from_state(
                decode_value(item["name"]),
                item["kind"],
                DtypeInfo.from_state(item["dtype"]),
                item["state"],
            )
            for item in state["columns"]
        ]
        transformer.dependencies = Dependencies.from_state(state.get("dependencies"))
        transformer.output_names = [decode_value(n) for n in state.get("output_names", [])]
        transformer.exclusions = [Exclusion.from_state(e) for e in state.get("exclusions", [])]
        transformer.label_ranges = [LabelRange.from_state(r) for r in state.get("label_ranges", [])]
        return transformer

    def find_label_ranges(self, frame: pd.DataFrame, codes: np.ndarray) -> list[LabelRange]:
        """The bounds a number keeps under a label (:mod:`tvae.label_ranges`) in ``frame``
        (the fitted table), whose encoded rows have ``codes``: between the label columns that no
        dependency repair edits after the draw and the numbers no dependency derives (an order
        or a pair check may still move one: census's ages, which its household labels bound,
        were left free and came back 1.5 points too often at 17 and 18)."""
        deps = self.dependencies
        derived = {str(c) for c in deps.derived()}
        written = derived | {
            str(c)
            for c in [
                *(c for d in deps.checks for c in (d.source, d.target)),
                *(c for o in deps.orders for c in (o.low, o.high)),
            ]
        }
        labels = {str(col.name) for col in self.columns if col.kind in CATEGORY_KINDS} - written
        spans = [place for name, place in self._value_spans().items() if name in labels]
        numbers = {
            place: float_values(frame[col.name])
            for place, col in enumerate(self.columns)
            if col.kind == "numerical" and str(col.name) not in derived
        }
        return find_label_ranges(codes, self.layout.softmax_widths, spans, numbers)

    def _keep_label_ranges(self, frame: pd.DataFrame, codes: np.ndarray) -> None:
        """Move each number outside its label's bounds onto the nearest one, in place. The
        sampler has drawn such a label again where the number was the likelier
        (tvae.sampled_repairs.repair_ranges); what is left are likelier labels, labels a condition
        fixed and numbers no label's bounds hold (a titanic age of 15.4, between the
        children's 15 and the adults' 16)."""
        for item in self.label_ranges:
            column = self.columns[item.column]
            values = float_values(frame[column.name], errors="raise")
            bounded = clip_into_bounds(values, codes[:, item.span], item)
            if not np.array_equal(bounded, values, equal_nan=True):
                restored = column.dtype.restore_numbers(bounded, column.name)
                frame[column.name] = restored.set_axis(frame.index)

    def mode_spans(self) -> dict[int, int]:
        """Each numerical column (place among the columns) -> its mode span (place among the
        softmax spans)."""
        places = self._value_spans()
        return {
            c: places[str(col.name)]
            for c, col in enumerate(self.columns)
            if col.kind == "numerical" and str(col.name) in places
        }

    def numbers(
        self, alphas: np.ndarray, codes: np.ndarray, columns: Iterable[int]
    ) -> dict[int, np.ndarray]:
        """The decoded values (N,) float64, NaN where missing, of the numerical ``columns``
        (places among the columns) of the encoded rows."""
        slices = self.column_slices
        return {
            place: self.columns[place].inverse_numbers(
                alphas[:, slices[place][0]], codes[:, slices[place][1]]
            )
            for place in columns
        }

    def category_spans(self) -> list[int]:
        """Places, among the softmax spans, of the spans whose codes are values, of columns that
        no dependency reads or writes: where value pairs may be excluded (tvae.exclusions).

        Label columns, and numbers made only of point masses with no missing cell (veterans
        benefits: 0, 1 or 2), whose mode is the value itself.
        """
        deps = self.dependencies
        linked = {
            str(c) for d in [*deps.determinations, *deps.checks] for c in (d.source, d.target)
        } | {str(c) for c in deps.derived()}  # drawn, then overwritten
        linked |= {str(c) for j in deps.joint_checks for c in j.sources}  # moved after the draw
        valued = {str(col.name) for col in self.columns if _codes_are_values(col)} - linked
        return [place for name, place in self._value_spans().items() if name in valued]

    def _value_spans(self) -> dict[str, int]:
        """Each column with a value softmax span (its categories, or its modes) -> the span's
        place among the softmax spans, in that order."""
        return {
            span.column: place
            for place, span in enumerate(self.layout.softmax_spans)
            if span.role == "value"
        }


CATEGORY_KINDS = ("categorical", "boolean")  # columns whose codes are their values


def _codes_are_values(column: ColumnModel) -> bool:
    """Whether the column's value span codes its values one to one (see category_spans)."""
    if column.kind in CATEGORY_KINDS:
        return True
    return (
        column.kind == "numerical"
        and not column.has_missing
        and bool(column.normalizer.exact.all())
    )


def _is_one_hot(item: object) -> bool:
    return isinstance(item, Mapping) and item.get("type") == "one_hot"
