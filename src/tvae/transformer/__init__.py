"""The data transformer: a table <-> the encoded rows the networks learn."""

from tvae.transformer.table import EncodedTable, TableTransformer

__all__ = ["EncodedTable", "TableTransformer"]
