"""Options shared by several ``tvae`` verbs: one definition each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Seed = Annotated[int | None, typer.Option("--seed", min=0, help="Seed for reproducible results.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bars or summaries.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Discrete = Annotated[
    list[str] | None,
    typer.Option("--discrete", help="Categorical columns, comma-separated (repeatable)."),
]
Metadata = Annotated[
    Path | None,
    typer.Option(
        "--metadata",
        help='JSON file of column kinds, {"col": "numerical" | "categorical" | "boolean" | '
        '"datetime" | "id", ...}, or SDV metadata with a "columns" section; beside "columns", '
        'a "dependencies" list sets the exact dependencies to keep ([] keeps none).',
    ),
]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
Sep = Annotated[
    str | None,
    typer.Option("--sep", help="Delimiter of text tables: , ; tab | [default: detected]."),
]
Table = Annotated[
    str | None, typer.Option("--table", help="Table in the database URL (read or written).")
]
Threads = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="CPU threads [default: the CPUs this process may use]."),
]
Refine = Annotated[
    str,
    typer.Option(
        "--refine",
        help="Keep sampled rows by a classifier's odds: auto (on 2,500 rows or more), on or off "
        "(faster sampling).",
    ),
]
QuantileMap = Annotated[
    str,
    typer.Option(
        "--quantile-map",
        help="Map each drawn number onto the real column's quantiles: auto (where --refine "
        "auto refines), on or off.",
    ),
]
