"""The ``tvae`` command line: the outermost layer; nothing in the library imports it.

:mod:`tvae.cli.app` holds the verbs (fit, sample, evaluate, inspect, demo); the other modules
are their options, parsing, rendering, error reporting and table I/O (files and SQL databases).
"""

from tvae.cli.app import app, main

__all__ = ["app", "main"]
