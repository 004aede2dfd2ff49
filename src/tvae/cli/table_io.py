"""Tables in and out of files for the command line: the format is chosen by the extension.

Reading: CSV (``.csv``, ``.txt``), TSV (``.tsv``, ``.tab``), each optionally compressed
(``.gz``, ``.bz2``, ``.xz``, ``.zip``, ``.zst``), and Parquet (``.parquet``, ``.pq``, or a folder
of Parquet files). Writing: CSV, TSV or Parquet, fed chunk by chunk so that a table larger than
memory can be written; the file appears under its name only once it is complete. ``-`` is CSV
on standard input (``tvae fit -``) or standard output (``tvae sample ... -o -``), for pipes.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from tvae.errors import InvalidDataError, InvalidParameterError
from tvae.files import atomic_write

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip", ".zst": "zstd"}
TEXT_FORMATS = {".csv": ",", ".txt": ",", ".tsv": "\t", ".tab": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")
WRITE_COMPRESSIONS = {None: open, "gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
DELIMITERS = (",", ";", "\t", "|")  # the ones sniffed, in order of preference
SNIFF_CHARS, SNIFF_LINES = 65_536, 50
STANDARD_STREAM = "-"  # the path that means standard input or output


def table_format(path: str | os.PathLike) -> tuple[str, str | None]:
    """("csv" | "tsv" | "parquet", compression or None) from ``path``'s extension."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in PARQUET_SUFFIXES and compression is None:
        return "parquet", None
    if suffix in TEXT_FORMATS:
        return ("tsv" if TEXT_FORMATS[suffix] == "\t" else "csv"), compression
    raise InvalidParameterError(
        f"cannot tell the table format of {str(path)!r} from its extension {path.suffix!r}; "
        "use .csv, .tsv (optionally .gz) or .parquet"
    )


def _parquet():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise ImportError(
            "reading or writing Parquet needs pyarrow: pip install 'tvae[parquet]'"
        ) from error
    return pyarrow, pyarrow.parquet


def read_table(path: str | os.PathLike, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file (or a folder of Parquet files) into a DataFrame.

    ``sep`` is the delimiter of a text file; by default ``.tsv`` files use tabs and ``.csv``
    and ``.txt`` files the delimiter found on their first lines (``,`` ``;`` tab or ``|``).
    A text file read as one column whose name holds a likely delimiter is refused.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if path.is_dir():
        _parquet()
        return pd.read_parquet(path)
    kind, compression = table_format(path)
    if kind == "parquet":
        _parquet()
        return pd.read_parquet(path)
    chosen = sep
    if sep is None:
        sep = "\t" if kind == "tsv" else sniff_delimiter(path, compression)
    try:
        frame = pd.read_csv(path, sep=sep, compression=compression, low_memory=False)
    except pd.errors.EmptyDataError as error:
        raise pd.errors.EmptyDataError(f"data file {str(path)!r} is empty") from error
    except UnicodeDecodeError as error:
        byte = error.object[error.start : error.start + 1].hex()
        raise ValueError(
            f"data file {str(path)!r} is not UTF-8 text (byte 0x{byte}: {error.reason}); if it "
            f"is {kind} in another encoding, save it as UTF-8 first, "
            f"e.g. iconv -f latin1 -t utf-8 {path.name} > utf8-{path.name}"
        ) from None
    if chosen is None:  # a delimiter the user gave is honoured as is
        _check_not_one_glued_column(path, frame, sep)
    return _empty_header_kept(path, sep, compression, frame)


def _empty_header_kept(
    path: Path, sep: str, compression: str | None, frame: pd.DataFrame
) -> pd.DataFrame:
    """``frame`` with its one empty header name kept empty. pandas calls such a column
    "Unnamed: 0" (the row names R's write.csv and pandas' to_csv write first), and the
    synthetic file's header then differed from the real one's."""
    unnamed = [i for i, name in enumerate(frame.columns) if name == f"Unnamed: {i}"]
    if len(unnamed) != 1 or "" in frame.columns:
        return frame
    header = pd.read_csv(
        path, sep=sep, compression=compression, header=None, nrows=1, dtype=str,
        keep_default_na=False,
    )  # fmt: skip
    position = unnamed[0]
    if position < header.shape[1] and not header.iloc[0, position].strip():
        frame = frame.rename(columns={frame.columns[position]: ""})
    return frame


def sniff_delimiter(path: str | os.PathLike, compression: str | None = None) -> str:
    """The delimiter of a text table from its first lines: ``,`` ``;`` tab or ``|``.

    The delimiter that splits every sampled row into the same number (above one) of fields
    wins, the most fields first; failing that, the one that splits the header most; else ``,``.
    """
    opener = WRITE_COMPRESSIONS.get(compression)
    if opener is None:  # zip, zstd: not sniffed
        return ","
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            sample = handle.read(SNIFF_CHARS)
    except (OSError, UnicodeDecodeError, EOFError, lzma.LZMAError):
        return ","  # pandas reports the problem with the file itself
    return _sniffed(sample, complete=len(sample) < SNIFF_CHARS)


def _sniffed(sample: str, complete: bool) -> str:
    """The delimiter of the text ``sample`` (the start of a table; ``complete``: all of it)."""
    lines = sample.splitlines(keepends=True)
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    text = "".join(lines[:SNIFF_LINES])
    best, best_key = ",", (False, 1)
    for delimiter in DELIMITERS:
        rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
        if not rows:
            continue
        widths = {len(row) for row in rows}
        key = (len(widths) == 1 and len(rows[0]) > 1, len(rows[0]))
        if key > best_key:
            best, best_key = delimiter, key
    return best


def read_standard_input(sep: str | None = None) -> pd.DataFrame:
    """A text table piped in on standard input (``tvae fit - ...``), its delimiter ``sep`` or,
    by default, found on its first lines as for a ``.csv`` file."""
    text = sys.stdin.read()
    if not text.strip():
        raise pd.errors.EmptyDataError("standard input held no table (DATA '-' reads CSV piped in)")
    chosen = sep
    if sep is None:
        sep = _sniffed(text[:SNIFF_CHARS], complete=len(text) <= SNIFF_CHARS)
    frame = pd.read_csv(io.StringIO(text), sep=sep, low_memory=False)
    if chosen is None:
        _check_not_one_glued_column(Path("<standard input>"), frame, sep)
    return frame


def _check_not_one_glued_column(path: Path, frame: pd.DataFrame, sep: str) -> None:
    if frame.shape[1] != 1:
        return
    header = str(frame.columns[0])
    found = [d for d in DELIMITERS if d != sep and d in header]
    if found:
        shown = ", ".join(repr(d) for d in found)
        raise InvalidDataError(
            f"data file {str(path)!r} was read with delimiter {sep!r} as one column named "
            f"{header[:60]!r}, whose name holds {shown}, a likely delimiter; pass --sep "
            f"{found[0]!r} (or read_table(..., sep={found[0]!r})) to split it"
        )


def _string_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet wants string column names; models fitted on arrays have integer ones."""
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.rename(columns=str)


def check_output(path: str | os.PathLike) -> tuple[str, str | None]:
    """Check that a table can be written to ``path`` (run it before any long work)."""
    path = Path(path)
    kind, compression = table_format(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write a table to {str(path)!r}: it is a folder")
    if compression not in WRITE_COMPRESSIONS:
        raise InvalidParameterError(
            f"cannot write {compression}-compressed text to {str(path)!r}; "
            "use no compression, .gz, .bz2 or .xz"
        )
    if kind == "parquet":
        _parquet()
    return kind, compression


def write_table_chunks(path: str | os.PathLike, chunks: Iterable[pd.DataFrame]) -> int:
    """Write ``chunks`` (DataFrames with the same columns) to ``path``; return the row count.

    The data goes to a temporary file in the same folder, renamed to ``path`` at the end, so an
    interrupted run never leaves a half-written file under the final name.
    """
    path = Path(path)
    kind, compression = check_output(path)
    with atomic_write(path) as temporary:
        if kind == "parquet":
            n_rows = _write_parquet(temporary, chunks)
        else:
            n_rows = _write_text(temporary, chunks, "\t" if kind == "tsv" else ",", compression)
    return n_rows


def write_standard_output(chunks: Iterable[pd.DataFrame]) -> int:
    """Write ``chunks`` as CSV to standard output (``-o -``); return the row count."""
    n_rows = _write_handle(sys.stdout, chunks, ",")
    sys.stdout.flush()
    return n_rows


def _write_text(
    path: str, chunks: Iterable[pd.DataFrame], sep: str, compression: str | None
) -> int:
    opener = WRITE_COMPRESSIONS[compression]
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        return _write_handle(handle, chunks, sep)


def _write_handle(handle: io.TextIOBase, chunks: Iterable[pd.DataFrame], sep: str) -> int:
    """Write ``chunks`` to the open text ``handle``, the header once; return the row count."""
    n_rows, first = 0, True
    for chunk in chunks:
        chunk.to_csv(handle, sep=sep, index=False, header=first)
        n_rows += len(chunk)
        first = False
    if first:
        raise ValueError("no rows to write: the table is empty and has no columns")
    return n_rows


def _write_parquet(path: str, chunks: Iterable[pd.DataFrame]) -> int:
    pa, pq = _parquet()
    writer = None
    n_rows = 0
    try:
        for chunk in chunks:
            chunk = _string_columns(chunk)
            if writer is None:
                table = pa.Table.from_pandas(chunk, preserve_index=False)
                writer = pq.ParquetWriter(path, table.schema)
            else:
                table = pa.Table.from_pandas(chunk, schema=writer.schema, preserve_index=False)
            writer.write_table(table)
            n_rows += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ValueError("no rows to write: the table is empty and has no columns")
    return n_rows
