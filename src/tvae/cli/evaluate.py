"""``tvae evaluate``: score a synthetic table against the real one (and write a report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tvae.cli.options import Discrete, Json, Metadata, Sep


def evaluate(
    real: Annotated[Path, typer.Argument(metavar="REAL", help="The real (training) table.")],
    synthetic: Annotated[
        Path, typer.Argument(metavar="SYNTH", help="The synthetic table (- reads stdin).")
    ],
    target: Annotated[
        str | None, typer.Option("--target", help="Column to predict, for ML efficacy.")
    ] = None,
    holdout: Annotated[
        Path | None,
        typer.Option("--holdout", help="Real rows not used for training (efficacy, privacy)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    discrete: Discrete = None,
    metadata: Metadata = None,
    sep: Sep = None,
    as_json: Json = False,
) -> None:
    """Score how close SYNTH is to REAL: quality, column shapes and pairs, efficacy, privacy.
    One of the three tables may be ``-``, CSV on standard input (``tvae sample ... -o - |``)."""
    from tvae.cli.parsing import check_input, parse_sep, read_kinds_file
    from tvae.cli.render import shape_lines
    from tvae.cli.table_io import STANDARD_STREAM, read_standard_input, read_table
    from tvae.errors import InvalidParameterError
    from tvae.evaluation import evaluate as run_evaluation

    tables = {"real table": real, "synthetic table": synthetic, "holdout table": holdout}
    piped = [what for what, path in tables.items() if str(path) == STANDARD_STREAM]
    if len(piped) > 1:
        raise InvalidParameterError(
            f"only one table can be read from standard input (-); {' and '.join(piped)} are"
        )
    for what, path in tables.items():
        if path is not None and what not in piped:
            check_input(path, what)
    # --target without --holdout: tvae.evaluate warns that efficacy is skipped (one stderr line)
    if report is not None:
        _need_matplotlib()
    kinds = read_kinds_file(metadata) if metadata is not None else None
    delimiter = parse_sep(sep)

    def read(path: Path):
        if str(path) == STANDARD_STREAM:
            return read_standard_input(delimiter)
        return read_table(path, sep=delimiter)

    real_frame, synthetic_frame = read(real), read(synthetic)
    holdout_frame = read(holdout) if holdout is not None else None
    columns = [c for item in discrete or [] for c in item.split(",") if c.strip()]
    result = run_evaluation(
        real_frame,
        synthetic_frame,
        discrete_columns=[c.strip() for c in columns] or None,
        metadata=kinds,
        target=target,
        holdout=holdout_frame,
    )
    if report is not None:
        result.to_html(report)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        if report is not None:
            typer.echo(f"Wrote the report to {report}", err=True)
        return
    typer.echo(result.summary())
    typer.echo(shape_lines(result.column_shapes))
    if report is not None:
        typer.echo(f"Wrote the report to {report}")


def _need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "--report draws plots with matplotlib: pip install 'tvae[report]'"
        ) from error
