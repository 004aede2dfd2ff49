"""Where the command line reads and writes tables: files (CSV, TSV, Parquet) or SQL databases.

A DATA argument or ``-o`` value that looks like a SQLAlchemy URL (``sqlite:///data.db``,
``duckdb:///data.duckdb``, ``postgresql://...``) is a database, used with ``--table NAME`` (or,
for reading, ``--query SQL``); ``-`` is CSV on standard input or output; anything else is a
file whose extension gives the format.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from tvae.cli.parsing import check_input, parse_sep
from tvae.cli.sql import is_database_url
from tvae.cli.table_io import STANDARD_STREAM
from tvae.errors import InvalidParameterError


def check_source(data: str, table: str | None, query: str | None, what: str = "data") -> None:
    """Check a table to read (before any long work): a file that exists, or a URL + table."""
    if is_database_url(data):
        if (table is None) == (query is None):
            raise InvalidParameterError(
                f"{what} {data!r} is a database: give --table NAME or --query SQL (one of them)"
            )
        return
    if table is not None or query is not None:
        raise InvalidParameterError(
            f"--table and --query read from a database URL such as sqlite:///data.db; "
            f"{data!r} is {'standard input' if data == STANDARD_STREAM else 'a file'}"
        )
    if data != STANDARD_STREAM:
        check_input(Path(data), f"{what} file")


def read_source(
    data: str, *, sep: str | None = None, table: str | None = None, query: str | None = None
) -> pd.DataFrame:
    """The table at ``data``: a file (``sep`` for text files), or a database table or query."""
    check_source(data, table, query)
    if is_database_url(data):
        from tvae.cli.sql import read_sql

        return read_sql(data, table=table, query=query)
    from tvae.cli.table_io import read_standard_input, read_table, table_format

    if data == STANDARD_STREAM:
        return read_standard_input(parse_sep(sep))
    path = Path(data)
    if path.is_file():
        table_format(path)  # an unknown extension fails before anything else
    return read_table(path, sep=parse_sep(sep))


def is_parquet_source(data: str, table: str | None, query: str | None, sep: str | None) -> bool:
    """DATA names Parquet shards (a folder, a glob, a .parquet file): checkpointed fits of them
    stream the shards, as with --nproc; other tables are fitted in memory."""
    from tvae.cli.table_io import PARQUET_SUFFIXES

    if is_database_url(data) or table or query or sep or data == STANDARD_STREAM:
        return False
    return Path(data).is_dir() or any(c in data for c in "*?[") or data.endswith(PARQUET_SUFFIXES)


def check_target(output: str, table: str | None, if_exists: str) -> None:
    """Check that rows can be written to ``output`` (a file, or a database ``table``)."""
    if is_database_url(output):
        if table is None:
            raise InvalidParameterError(
                f"-o {output!r} is a database: give --table NAME, the table to write"
            )
        from tvae.cli.sql import check_sql_output

        check_sql_output(output, table, if_exists)
        return
    if table is not None:
        what = "standard output" if output == STANDARD_STREAM else "a file"
        raise InvalidParameterError(
            f"--table writes to a database URL such as sqlite:///out.db; {output!r} is {what}"
        )
    if if_exists != "fail":
        raise InvalidParameterError("--if-exists applies to database tables only")
    if output == STANDARD_STREAM:
        return
    from tvae.cli.table_io import check_output

    check_output(output)


def write_target(
    output: str, table: str | None, if_exists: str, chunks: Iterable[pd.DataFrame]
) -> int:
    """Write ``chunks`` to ``output`` (file or database table); return the row count."""
    if is_database_url(output):
        from tvae.cli.sql import write_sql_chunks

        return write_sql_chunks(output, table or "", chunks, if_exists)
    from tvae.cli.table_io import write_standard_output, write_table_chunks

    if output == STANDARD_STREAM:
        return write_standard_output(chunks)
    return write_table_chunks(output, chunks)


def describe_target(output: str, table: str | None) -> str:
    """``out.csv``, ``table 'synthetic' in sqlite:///out.db`` or ``standard output``."""
    if output == STANDARD_STREAM:
        return "standard output"
    return f"table {table!r} in {output}" if is_database_url(output) else output
