"""Tables in and out of SQL databases, named by a SQLAlchemy URL (``sqlite:///data.db``).

Needs the ``sql`` extra (SQLAlchemy, and duckdb-engine for ``duckdb:///`` URLs); every function
says so when it is missing. Reading takes a whole table or the rows of a query; writing creates
a table (or replaces or appends to one, if asked) inside one transaction, so an interrupted run
leaves the database as it was. File databases (SQLite, DuckDB) must exist to be read: a typo in
the path fails instead of creating an empty database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from tvae.errors import InvalidParameterError

URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")
FILE_DIALECTS = ("sqlite", "duckdb")
IF_EXISTS = ("fail", "replace", "append")
EXTRA = "pip install 'tvae[sql]'"


def is_database_url(text: str | Any) -> bool:
    """True for ``dialect[+driver]://...`` (a SQLAlchemy URL), False for a file path."""
    return isinstance(text, str) and bool(URL_PATTERN.match(text)) and not text.startswith("file:")


def _engine(url: str):
    try:
        import sqlalchemy
    except ImportError as error:
        raise ImportError(f"reading or writing a SQL database needs SQLAlchemy: {EXTRA}") from error
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError as error:
        raise InvalidParameterError(f"cannot read the database URL {url!r}: {error}") from None
    if parsed.get_backend_name() == "duckdb":
        try:
            import duckdb_engine  # noqa: F401
        except ImportError as error:
            raise ImportError(f"duckdb:// URLs need duckdb-engine: {EXTRA}") from error
    try:
        return sqlalchemy.create_engine(parsed), parsed
    except (sqlalchemy.exc.NoSuchModuleError, ImportError) as error:
        raise ImportError(
            f"no SQLAlchemy driver for {parsed.drivername!r} in {url!r} ({error}); install the "
            "database's driver package"
        ) from None


def _database_file(parsed: Any) -> Path | None:
    database = parsed.database
    if parsed.get_backend_name() in FILE_DIALECTS and database and database != ":memory:":
        return Path(database)
    return None


def _one_line(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def read_sql(url: str, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    """The rows of ``table`` or of ``query`` (give exactly one) in the database at ``url``."""
    if (table is None) == (query is None):
        raise InvalidParameterError(
            f"reading from the database {url!r} needs exactly one of table (a table name) or "
            "query (a SELECT statement)"
        )
    engine, parsed = _engine(url)
    import sqlalchemy

    path = _database_file(parsed)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"database file {str(path)!r} (from {url!r}) does not exist")
    try:
        with engine.connect() as connection:
            if table is not None:
                names = sqlalchemy.inspect(connection).get_table_names()
                if table not in names:
                    raise InvalidParameterError(
                        f"table {table!r} is not in the database {url!r}; its tables are "
                        f"{sorted(names)[:20]}"
                    )
                # a plain SELECT, not pandas' read_sql_table: its reflection fails on DuckDB
                query = f"SELECT * FROM {engine.dialect.identifier_preparer.quote(table)}"
            return pd.read_sql_query(sqlalchemy.text(query), connection)
    except sqlalchemy.exc.SQLAlchemyError as error:
        what = f"table {table!r}" if table is not None else f"query {query!r}"
        raise InvalidParameterError(
            f"reading {what} from {url!r} failed: {_one_line(error)}"
        ) from None
    finally:
        engine.dispose()


def check_sql_output(url: str, table: str, if_exists: str = "fail") -> None:
    """Check, before any long work, that ``table`` can be written at ``url``."""
    if not isinstance(table, str) or not table:
        raise InvalidParameterError(f"writing to the database {url!r} needs a table name")
    if if_exists not in IF_EXISTS:
        raise InvalidParameterError(f"if_exists must be one of {IF_EXISTS}, got {if_exists!r}")
    engine, parsed = _engine(url)
    import sqlalchemy

    path = _database_file(parsed)
    if path is not None and not path.parent.is_dir():
        raise FileNotFoundError(f"folder {str(path.parent)!r} of the database {url!r} is missing")
    try:
        with engine.connect() as connection:
            exists = table in sqlalchemy.inspect(connection).get_table_names()
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise InvalidParameterError(
            f"cannot open the database {url!r}: {_one_line(error)}"
        ) from None
    finally:
        engine.dispose()
    if exists and if_exists == "fail":
        raise InvalidParameterError(
            f"table {table!r} already exists in {url!r}; choose another table, or replace or "
            "append to it (if_exists / --if-exists)"
        )


def write_sql_chunks(
    url: str, table: str, chunks: Iterable[pd.DataFrame], if_exists: str = "fail"
) -> int:
    """Write ``chunks`` (DataFrames with the same columns) as ``table``; return the row count.

    All in one transaction: the table appears (or changes) only if every chunk was written.
    """
    check_sql_output(url, table, if_exists)
    engine, _ = _engine(url)
    import sqlalchemy

    n_rows, first = 0, True
    try:
        with engine.begin() as connection:
            if if_exists == "replace":  # dropped here: pandas' "replace" reflects, not on DuckDB
                quoted = engine.dialect.identifier_preparer.quote(table)
                connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {quoted}"))
            for chunk in chunks:
                chunk = chunk.rename(columns=str)
                chunk.to_sql(table, connection, if_exists="append", index=False)
                n_rows += len(chunk)
                first = False
            if first:  # raised inside the transaction: a replaced table comes back
                raise ValueError("no rows to write: the table is empty and has no columns")
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise InvalidParameterError(
            f"writing table {table!r} to {url!r} failed: {_one_line(error)}"
        ) from None
    finally:
        engine.dispose()
    return n_rows
