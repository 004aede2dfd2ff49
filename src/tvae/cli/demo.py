"""``tvae demo``: train on the bundled adult table, write synthetic rows, compare them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tvae.cli.options import Quiet, Threads

DEMO_NUMBERS = ["age", "hours-per-week", "education-num"]
DEMO_LABELS = {"sex": " Female", "income": " >50K", "marital-status": " Married-civ-spouse"}


def demo(
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the synthetic rows.")
    ] = Path("tvae-demo.csv"),
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Passes over the table [default: tvae's schedule]."),
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option("--rows", min=1, help="Synthetic rows to write [default: as many as real]."),
    ] = None,
    train_rows: Annotated[
        int | None,
        typer.Option("--train-rows", min=1, help="Train on a random slice of this many rows."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the whole run.")] = 0,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write an HTML quality report.")
    ] = None,
    threads: Threads = None,
    quiet: Quiet = False,
) -> None:
    """Train on the bundled adult census table, write synthetic rows, show how close they are."""
    from tvae.cli.render import demo_comparisons, say, shape_lines
    from tvae.cli.table_io import check_output, write_table_chunks
    from tvae.datasets import DEMO_DISCRETE_COLUMNS, load_demo
    from tvae.synthesizer import TVAE
    from tvae.threads import limited_threads, threads_chosen

    check_output(output)
    real = load_demo()
    if train_rows is not None and train_rows < len(real):
        real = real.sample(train_rows, random_state=seed).reset_index(drop=True)
    n_rows = rows or len(real)
    say(quiet, f"Training on {len(real):,} rows of the adult census table")
    # tvae's default schedule (one-cycle learning rate, see tvae.schedule) reaches the
    # reference's 300-epoch quality in a fraction of its time; --epochs keeps one-cycle.
    schedule = {} if epochs is None else {"epochs": epochs, "lr_schedule": "onecycle"}
    model = TVAE(verbose=not quiet, random_state=seed, **schedule)
    with threads_chosen(threads), limited_threads(steady=True):  # always seeded (--seed 0)
        model.fit(real, discrete_columns=DEMO_DISCRETE_COLUMNS)
        chunks = model.sample_chunks(n_rows, 100_000, random_state=seed)
        written = write_table_chunks(output, chunks)
    seconds = model.training_summary_["fit_seconds"]
    say(quiet, f"Trained in {seconds:.0f} s; wrote {written:,} synthetic rows to {output}")
    if quiet:
        return
    from tvae.cli.table_io import read_table

    synthetic = read_table(output)
    try:
        from tvae.evaluation import evaluate as run_evaluation
    except ImportError:  # evaluation extras missing: fall back to simple comparisons
        run_evaluation = None
    if run_evaluation is not None:
        result = run_evaluation(
            real, synthetic, discrete_columns=DEMO_DISCRETE_COLUMNS, loss_values=model.loss_values
        )
        typer.echo(result.summary())
        typer.echo(shape_lines(result.column_shapes, limit=5))
        if report is not None:
            result.to_html(report)
            typer.echo(f"Wrote the report to {report}")
    typer.echo(demo_comparisons(real, synthetic, DEMO_NUMBERS, DEMO_LABELS))
