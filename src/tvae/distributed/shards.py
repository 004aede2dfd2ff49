"""Sharded Parquet in and out: each worker reads only its share of rows, in bounded batches.

A :class:`ParquetSource` is a folder, a glob or a list of Parquet files opened as one
``pyarrow.dataset``. Its rows are numbered in file order, then row-group order; worker ``r`` of
``w`` owns the contiguous rows ``[r * n // w, (r + 1) * n // w)``, read row group by row group
in record batches of at most ``read_rows`` rows, so a worker's memory follows the batch and
read-ahead sizes, never the table size. Only the row groups on a share's boundary are touched by
two workers (each keeps its own rows).

Also here: the bounded, reproducible sample the transformer is fitted on, the scan that collects
every category of the categorical columns, the stream of encoded training batches, and
:func:`sample_to_parquet`, which writes synthetic rows as Parquet parts in parallel.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tvae.errors import InvalidDataError, InvalidDataTypeError, InvalidParameterError

try:  # pyarrow is the `parquet` extra: fail with a clear message only when it is needed.
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
except ImportError:  # pragma: no cover - exercised only without the extra
    pa = None

READ_ROWS = 65_536  # rows per record batch read from a row group
SHUFFLE_ROWS = 262_144  # encoded rows shuffled together (the read-ahead buffer)


def require_pyarrow() -> None:
    if pa is None:
        raise ImportError("Parquet shards need pyarrow: pip install 'tvae[parquet]'")


@dataclass(frozen=True)
class Piece:
    """Rows ``[start, stop)`` of one row group of one file."""

    file: int  # index into ParquetSource.fragments
    row_group: int
    start: int
    stop: int

    @property
    def n_rows(self) -> int:
        return self.stop - self.start


class ParquetSource:
    """A table stored as Parquet files, read piecewise (never whole)."""

    def __init__(self, files: Sequence[str]) -> None:
        require_pyarrow()
        self.files = list(files)
        try:
            self.dataset = ds.dataset(self.files, format="parquet")
        except (pa.ArrowInvalid, OSError) as error:
            raise InvalidDataError(
                f"cannot read {self.files[0]!r}... as Parquet ({error}); the sharded path reads "
                "Parquet files only: convert the table first (pandas: df.to_parquet(path))"
            ) from error
        self.fragments = list(self.dataset.get_fragments())
        self.row_groups: list[tuple[int, int, int]] = []  # (file, row group id, n_rows)
        for index, fragment in enumerate(self.fragments):
            fragment.ensure_complete_metadata()
            self.row_groups.extend((index, rg.id, rg.num_rows) for rg in fragment.row_groups)
        self.n_rows = sum(n for _, _, n in self.row_groups)

    @classmethod
    def open(cls, source: str | os.PathLike | Sequence[str | os.PathLike]) -> ParquetSource:
        """Open a folder (every ``*.parquet`` below it), a glob, a file or a list of files."""
        if not isinstance(source, (str, os.PathLike, list, tuple)):  # a frame was printed whole
            raise InvalidDataTypeError(
                "fit_distributed reads Parquet files (a folder, a glob, a file or a list of "
                f"files), got {type(source).__name__}; fit a table in memory with fit(), or "
                "write it with to_parquet() first"
            )
        if isinstance(source, (list, tuple)):
            files = [str(f) for f in source]
        else:
            text = str(source)
            path = Path(text)
            if path.is_dir():
                files = sorted(str(p) for p in path.rglob("*.parquet"))
            elif path.is_file():
                files = [text]
            else:
                files = sorted(glob.glob(text, recursive=True))
        missing = [f for f in files if not Path(f).is_file()]
        if not files or missing:
            raise InvalidDataError(
                f"no Parquet files found at {str(source)!r}"
                + (f" (missing: {missing[:3]})" if missing else "")
                + "; give a folder of .parquet files, a glob such as 'data/*.parquet' or a file"
            )
        return cls(files)

    @property
    def columns(self) -> list[str]:
        return list(self.dataset.schema.names)

    def share(self, rank: int, world_size: int) -> list[Piece]:
        """The pieces holding rows ``[rank * n // w, (rank + 1) * n // w)``."""
        low, high = rank * self.n_rows // world_size, (rank + 1) * self.n_rows // world_size
        pieces, offset = [], 0
        for file, row_group, n in self.row_groups:
            start, stop = max(low, offset), min(high, offset + n)
            if start < stop:
                pieces.append(Piece(file, row_group, start - offset, stop - offset))
            offset += n
        return pieces

    def read(
        self, piece: Piece, columns: Sequence[str] | None = None, read_rows: int = READ_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """Record batches (at most ``read_rows`` rows each) of ``piece``, one row group read."""
        fragment = self.fragments[piece.file].subset(row_group_ids=[piece.row_group])
        batches = fragment.to_batches(
            columns=list(columns) if columns is not None else None,
            batch_size=read_rows,
            batch_readahead=1,  # bounded read-ahead: one batch decoded ahead of the consumer
            fragment_readahead=1,
            use_threads=False,
        )
        offset = 0
        for batch in batches:
            low, high = max(piece.start - offset, 0), min(piece.stop - offset, batch.num_rows)
            offset += batch.num_rows
            if low < high:
                yield batch.slice(low, high - low)
            if offset >= piece.stop:
                break

    def sample(
        self, n_rows: int, rng: np.random.Generator, read_rows: int = READ_ROWS
    ) -> pd.DataFrame:
        """``n_rows`` rows drawn uniformly without replacement (all if fewer), in file order."""
        if n_rows >= self.n_rows:
            wanted = np.arange(self.n_rows)
        else:
            wanted = np.sort(rng.choice(self.n_rows, n_rows, replace=False))
        tables, offset = [], 0
        for file, row_group, n in self.row_groups:
            local = wanted[(wanted >= offset) & (wanted < offset + n)] - offset
            offset += n
            if not len(local):
                continue
            position = 0
            for batch in self.read(Piece(file, row_group, 0, n), read_rows=read_rows):
                inside = local[(local >= position) & (local < position + batch.num_rows)] - position
                position += batch.num_rows
                if len(inside):
                    tables.append(pa.Table.from_batches([batch.take(pa.array(inside))]))
        return pa.concat_tables(tables).to_pandas()

    def summarise(
        self, columns: Sequence[str], distinct_limit: int, read_rows: int = READ_ROWS
    ) -> dict[str, ColumnSummary]:
        """One pass over ``columns``: distinct values (first appearance), extremes, nulls.

        Distinct values are kept up to ``distinct_limit + 1`` per column, so memory follows the
        limit, never the number of rows.
        """
        summaries = {name: ColumnSummary() for name in columns}
        for file, row_group, n in self.row_groups:
            for batch in self.read(Piece(file, row_group, 0, n), list(columns), read_rows):
                for name in columns:
                    summaries[name].update(batch.column(name), distinct_limit)
        return summaries


@dataclass
class ColumnSummary:
    """What a full scan learns of one column: enough to fit its model on a sample."""

    distinct: pa.Array | None = None  # None once more than the limit were seen
    wide: bool = False
    low: pa.Scalar | None = None
    high: pa.Scalar | None = None
    has_null: bool = False

    def update(self, values: pa.Array, distinct_limit: int) -> None:
        self.has_null = self.has_null or values.null_count > 0
        if (
            pa.types.is_integer(values.type)
            or pa.types.is_floating(values.type)
            or (pa.types.is_timestamp(values.type) or pa.types.is_date(values.type))
        ):
            extremes = pc.min_max(values)
            low, high = extremes["min"], extremes["max"]
            if low.is_valid:
                self.low = low if self.low is None or pc.less(low, self.low).as_py() else self.low
                self.high = (
                    high if self.high is None or pc.greater(high, self.high).as_py() else self.high
                )
        if not self.wide:
            uniques = pc.unique(values)
            if self.distinct is not None:
                uniques = pc.unique(
                    pa.concat_arrays([self.distinct, uniques.cast(self.distinct.type)])
                )
            self.distinct, self.wide = uniques, len(uniques) > distinct_limit

    def to_series(self, values: list | pa.Array, type_: pa.DataType) -> pd.Series:
        """``values`` as pandas gives them when a batch of this column is converted."""
        array = values if isinstance(values, pa.Array) else pa.array(values, type=type_)
        return pa.table({"v": array}).to_pandas()["v"]


def fit_transformer(
    source: ParquetSource,
    discrete_columns: Sequence = (),
    metadata: dict | None = None,
    *,
    sample_size: int,
    rng: np.random.Generator,
    max_clusters: int,
    weight_threshold: float,
    clip: bool = True,
    read_rows: int = READ_ROWS,
    scale: str = "linear",
):
    """Fit a :class:`TableTransformer` on a table too big to load, from a sample and one scan.

    Column kinds and the mixtures come from ``sample_size`` rows drawn uniformly with ``rng``.
    What must not be missed comes from one pass over every row: the categories of categorical
    and boolean columns (none may be lost), the range of number and date columns, and whether a
    column has missing values. Returns ``(transformer, kinds)``.
    """
    from tvae.inputs import InputInfo, check_continuous_values, resolve_kinds
    from tvae.transformer import TableTransformer
    from tvae.transformer.build import build_column
    from tvae.transformer.dtypes import DtypeInfo
    from tvae.transformer.wide import MAX_CATEGORIES, WideCategoricalColumn

    sample = source.sample(sample_size, rng, read_rows)
    kinds = resolve_kinds(sample, discrete_columns, InputInfo("dataframe"), metadata)
    check_continuous_values(sample, kinds)
    scanned = [name for name in sample.columns if kinds[name] != "id"]
    summaries = source.summarise(scanned, MAX_CATEGORIES, read_rows)
    schema = source.dataset.schema
    transformer = TableTransformer(
        max_clusters, weight_threshold, sample_size, enforce_min_max_values=clip
    )
    for name in sample.columns:
        kind, summary = kinds[name], summaries.get(name)
        series = sample[name]
        if summary is not None and kind in ("categorical", "boolean"):
            if summary.wide:
                # differs from an in-memory fit: the frequent values and the rare values'
                # frequencies come from the sample; counting every value of a wide column over
                # all rows would need memory in proportion to the table.
                column = WideCategoricalColumn.fit(name, DtypeInfo.of(series), series)
                transformer.columns.append(column)
                continue
            series = summary.to_series(summary.distinct, schema.field(name).type)
        elif summary is not None:
            extra = [v.as_py() for v in (summary.low, summary.high) if v is not None]
            extra += [None] * summary.has_null
            if extra:  # every row's range and missingness; the sample's values otherwise
                added = summary.to_series(extra, schema.field(name).type)
                series = pd.concat([series, added], ignore_index=True)
        column = build_column(
            name,
            kind,
            series,
            sample[name],
            rng,
            max_clusters=max_clusters,
            weight_threshold=weight_threshold,
            clip=clip,
            scale=scale,
        )
        transformer.columns.append(column)
    keep_declared_orders(transformer, kinds, sample)
    return transformer, kinds


def keep_declared_orders(transformer, kinds, sample: pd.DataFrame) -> None:
    """Dependencies are not detected from a sample (it cannot show that one holds in every
    row), but declared orders, sums and lines are kept (checked on the sample); a declared
    "determines" or "presence" is refused: its mapping would need every row's pair of values."""
    from tvae.transformer.dependencies import Dependencies

    declared = kinds.dependencies
    if not declared:
        return
    kinds_declared = {d.get("type") for d in declared if isinstance(d, Mapping)}
    if "offset" in kinds_declared:
        raise InvalidParameterError(
            "fit_distributed does not model a column as another plus a difference (an "
            "'offset' dependency); fit the table in memory with fit, or leave it out"
        )
    refused = sorted(kinds_declared & {"determines", "one_hot", "presence"})
    if refused:
        raise InvalidParameterError(
            "fit_distributed keeps declared 'order', 'sum', 'linear', 'cut' and 'date_part' "
            f"dependencies only: a {refused[0]!r} one needs every row (a mapping, or a group's "
            "check); fit the table in memory with fit, or leave it out"
        )
    transformer.dependencies = Dependencies.declared(sample, declared)
    kinds.dependencies = transformer.dependencies.describe()


def iter_encoded_batches(
    source: ParquetSource,
    pieces: Sequence[Piece],
    transformer,
    batch_rows: int,
    n_batches: int,
    rng: np.random.Generator,
    *,
    read_rows: int = READ_ROWS,
    shuffle_rows: int = SHUFFLE_ROWS,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Exactly ``n_batches`` shuffled batches (alphas, codes) of a worker's share: one epoch.

    Pieces are visited in a random order; rows are shuffled within a buffer of ``shuffle_rows``
    encoded rows. A worker whose share ends before ``n_batches`` starts over from a fresh pass,
    so that every worker takes the same number of optimiser steps (as torch's
    ``DistributedSampler`` pads a short share by repeating rows).
    """
    if not pieces:
        raise InvalidDataError("this worker's share of the table is empty; use fewer workers")
    emitted = 0
    while True:
        batches = _one_pass(source, pieces, transformer, batch_rows, rng, read_rows, shuffle_rows)
        for alphas, codes in batches:
            yield alphas, codes
            emitted += 1
            if emitted == n_batches:
                return


def _one_pass(source, pieces, transformer, batch_rows, rng, read_rows, shuffle_rows):
    """One pass over ``pieces``: full shuffled batches, then the shuffled remainder."""
    buffered: list = []
    size = 0
    for index in rng.permutation(len(pieces)):
        for batch in source.read(pieces[index], source.columns, read_rows):
            encoded = transformer.transform(batch.to_pandas(), rng)
            buffered.append((encoded.alphas, encoded.codes))
            size += len(encoded)
            if size >= shuffle_rows:
                alphas, codes = _shuffled(buffered, rng)
                full = len(codes) // batch_rows * batch_rows
                for start in range(0, full, batch_rows):
                    yield alphas[start : start + batch_rows], codes[start : start + batch_rows]
                remainder = (alphas[full:].copy(), codes[full:].copy())  # frees the buffer
                buffered, size = [remainder], len(codes) - full
    if size:
        alphas, codes = _shuffled(buffered, rng)
        for start in range(0, len(codes), batch_rows):
            yield alphas[start : start + batch_rows], codes[start : start + batch_rows]


def _shuffled(buffered: list, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    alphas = np.concatenate([a for a, _ in buffered])
    codes = np.concatenate([c for _, c in buffered])
    order = rng.permutation(len(codes))
    return alphas[order], codes[order]
