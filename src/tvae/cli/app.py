"""The ``tvae`` command: fit, sample, evaluate, inspect and demo. A thin shell over the library.

Every verb reads tables (files or SQL databases, see :mod:`tvae.cli.tables`), calls the public
Python API and prints; the work is done by the library. Errors the user can fix (our
``TVAEError``s, ``ValueError``/``TypeError``, file errors) become one line ``error: ...`` on
stderr and exit code 1; usage errors (a missing or malformed option) exit with code 2;
``tvae --debug VERB ...`` shows the traceback. Progress bars and colour live here only (the
library's ``verbose`` switch is set from ``-q``).
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from tvae.cli.demo import demo
from tvae.cli.errors import ErrorReportingGroup
from tvae.cli.evaluate import evaluate
from tvae.cli.options import (
    Device,
    Discrete,
    Json,
    Metadata,
    QuantileMap,
    Quiet,
    Refine,
    Seed,
    Sep,
    Table,
    Threads,
)
from tvae.errors import InvalidParameterError
from tvae.version import __version__

# The verbs import what they use (pandas, torch, the library) when they run: `tvae --help`,
# `tvae --version` and usage errors answer in a fraction of a second.

app = typer.Typer(
    cls=ErrorReportingGroup,
    name="tvae",
    help="Learn a table with a Tabular VAE and generate synthetic rows like it.",
    epilog="\b\nExample:\n  tvae demo   (learns the bundled adult table; one to two minutes)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tvae {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Learn a table with a Tabular VAE and generate synthetic rows like it."""


@app.command(
    epilog="\b\nExamples:\n  tvae fit adult.csv -o adult.tvae --discrete workclass,sex --seed 0"
    "\n  tvae fit sqlite:///data.db --table people -o people.tvae"
)
def fit(
    data: Annotated[
        str,
        typer.Argument(
            metavar="DATA",
            help="Training table: .csv, .tsv or .parquet, - (CSV on stdin), or a database URL "
            "(sqlite:///data.db) with --table or --query.",
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs", min=1, help="Passes over the table [default: tvae's fast schedule]."
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="Rows per optimiser step [default: as TVAE()]."),
    ] = None,
    discrete: Discrete = None,
    metadata: Metadata = None,
    sep: Sep = None,
    table: Table = None,
    query: Annotated[
        str | None, typer.Option("--query", help="SQL whose rows are the table (database DATA).")
    ] = None,
    device: Device = "auto",
    seed: Seed = None,
    threads: Threads = None,
    quiet: Quiet = False,
    nproc: Annotated[
        int | None,
        typer.Option(
            "--nproc",
            min=1,
            help="Train with N data-parallel workers (torchrun) that stream Parquet DATA "
            "(a file, folder or glob); see docs/scaling.md.",
        ),
    ] = None,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option("--checkpoint-dir", help="Save a resumable checkpoint in this folder."),
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", min=1, help="Epochs between checkpoints.")
    ] = 1,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the checkpoint in --checkpoint-dir.")
    ] = False,
    lr_schedule: Annotated[
        str,
        typer.Option("--lr-schedule", help="Learning-rate schedule: auto, constant or onecycle."),
    ] = "auto",
    refine: Refine = "auto",
    quantile_map: QuantileMap = "auto",
    precision: Annotated[
        str,
        typer.Option(
            "--precision",
            help="Matrix products of training: auto (bfloat16 on the fast schedule where the "
            "CPU has it natively), float32 or bfloat16.",
        ),
    ] = "auto",
    transformer_sample_size: Annotated[
        int | None,
        typer.Option(
            "--transformer-sample-size", min=1, help="Fit the column mixtures on at most N rows."
        ),
    ] = None,
    # privacy (issue 14)
    epsilon: Annotated[
        float | None,
        typer.Option("--epsilon", help="Train with differential privacy at this budget."),
    ] = None,
    delta: Annotated[
        float | None, typer.Option("--delta", help="Delta of the guarantee [default: 1/(10 n)].")
    ] = None,
    public: Annotated[
        Path | None,
        typer.Option(
            "--public",
            help='With --epsilon: JSON file of facts declared public, {"col": {"bounds": '
            '[low, high]} | {"categories": [...]}}; they spend no budget.',
        ),
    ] = None,
) -> None:
    """Learn the table DATA and save the model to one safe file (no pickle)."""
    from tvae.cli.parsing import check_model_output, parse_columns, parse_switch, read_kinds_file
    from tvae.cli.privacy import private_options  # privacy (issue 14)
    from tvae.cli.render import human_bytes, say
    from tvae.cli.sql import is_database_url
    from tvae.cli.table_io import STANDARD_STREAM
    from tvae.cli.tables import check_source, is_parquet_source, read_source
    from tvae.devices import resolve_device
    from tvae.synthesizer import TVAE
    from tvae.threads import limited_threads, threads_chosen

    privacy = private_options(epsilon, delta, public)
    refined, mapped = parse_switch("--refine", refine), parse_switch("--quantile-map", quantile_map)
    if resume and checkpoint_dir is None:
        raise InvalidParameterError("--resume needs --checkpoint-dir, the folder to resume from")
    if privacy and (nproc is not None or checkpoint_dir is not None):  # privacy (issue 14)
        raise InvalidParameterError(
            "--epsilon trains in one process without checkpoints: it cannot be combined with "
            "--nproc, --checkpoint-dir or --resume"
        )
    streamed = checkpoint_dir is not None and is_parquet_source(data, table, query, sep)
    if nproc is not None or streamed:
        from tvae.cli.launch import fit_command  # streamed Parquet shards, in parallel

        if is_database_url(data) or table or query or sep or data == STANDARD_STREAM:
            raise InvalidParameterError(
                "--nproc streams Parquet files; it cannot read a database (--table, --query), "
                "text (--sep) or standard input (-)"
            )
        check_model_output(output)
        code = fit_command(
            Path(data), output, nproc=nproc or 1, epochs=epochs, batch_size=batch_size,
            discrete=discrete, metadata=metadata, device=device, seed=seed, quiet=quiet,
            checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume,
            threads=threads, lr_schedule=lr_schedule, precision=precision,
            transformer_sample_size=transformer_sample_size, refine=refine,
            quantile_map=quantile_map,
        )  # fmt: skip
        if code:
            raise typer.Exit(code)
        return
    check_source(data, table, query)
    check_model_output(output)
    if device != "auto":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fit warns about a fallback itself
            resolve_device(device)
    kinds = read_kinds_file(metadata) if metadata is not None else None
    say(quiet, f"Reading {data} ...", err=True)
    frame = read_source(data, sep=sep, table=table, query=query)
    columns, column_kinds = parse_columns(discrete, kinds, frame)
    given = {"epochs": epochs, "batch_size": batch_size}  # left out: TVAE()'s own defaults
    model = TVAE(
        **{k: v for k, v in given.items() if v is not None},
        verbose=not quiet,
        random_state=seed,
        device=device,
        lr_schedule=lr_schedule,
        precision=precision,
        transformer_sample_size=transformer_sample_size,
        refine=refined,
        quantile_map=mapped,
        **privacy,  # privacy (issue 14)
    )
    with threads_chosen(threads), limited_threads(steady=seed is not None):
        model.fit(
            frame, discrete_columns=columns, metadata=column_kinds,
            checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every, resume=resume,
        )  # fmt: skip
    model.save(output)
    summary = model.training_summary_
    groups = model.transformer_.dependencies.groups  # each counted as its members' kind
    labels = {g.label for g in groups}
    counts = Counter(k for c, k in model.transformer_.kinds.items() if c not in labels)
    counts.update(model.metadata_[m] for g in groups for m in g.members)
    kinds_text = ", ".join(f"{n} {kind}" for kind, n in counts.most_common())
    if getattr(model, "privacy_", None) is not None:  # privacy (issue 14): no loss to show
        from tvae.privacy.report import privacy_summary

        ending = privacy_summary(model.privacy_)
    else:
        ending = f"final loss {summary['final_loss']:.4g}"
    say(
        quiet,
        f"Fitted {summary['n_rows']:,} rows x {frame.shape[1]} columns ({kinds_text}) "
        f"for {summary['epochs']} epochs in {summary['fit_seconds']:.1f} s on "
        f"{summary['device']}; {ending}",
    )
    say(quiet, f"Saved the model to {output} ({human_bytes(output.stat().st_size)})")


@app.command(
    epilog="\b\nExamples:\n  tvae sample adult.tvae -n 100000 -o synthetic.parquet --seed 1 "
    "--where 'sex=Female' --where 'age=30..40'"
    "\n  tvae sample adult.tvae -n 100 -o sqlite:///out.db --table synthetic"
)
def sample(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL", help="Model file from tvae fit.")],
    n: Annotated[int, typer.Option("-n", "--rows", min=0, help="Number of rows to generate.")],
    output: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            help="Where to write: .csv, .tsv, .parquet, - (CSV on stdout) or a database URL.",
        ),
    ],
    table: Table = None,
    if_exists: Annotated[
        str,
        typer.Option(
            "--if-exists",
            help="When --table exists: fail, replace or append.",
            case_sensitive=False,
        ),
    ] = "fail",
    seed: Seed = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows generated and written at a time.")
    ] = 100_000,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Condition col=value or col=low..high (repeatable)."),
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")
    ] = None,
    threads: Threads = None,
    quiet: Quiet = False,
    nproc: Annotated[
        int | None,
        typer.Option(
            "--nproc",
            min=1,
            help="Write P Parquet files part-00000.parquet ... into the folder -o, in P "
            "processes (the same files for a given --seed and P).",
        ),
    ] = None,
) -> None:
    """Generate N synthetic rows from MODEL and write them in chunks (bounded memory)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from tvae.cli.parsing import check_input, conditional_chunks, fresh_seed, parse_where
    from tvae.cli.render import say
    from tvae.cli.table_io import STANDARD_STREAM
    from tvae.cli.tables import check_target, describe_target, write_target
    from tvae.synthesizer import TVAE
    from tvae.threads import limited_threads, threads_chosen

    check_input(model_file, "model file")
    if nproc is not None:  # parallel Parquet parts
        from tvae.parquet_parts import sample_to_parquet

        if where:
            raise InvalidParameterError("--where cannot be combined with --nproc; drop one")
        if table is not None:
            raise InvalidParameterError("--nproc writes Parquet files; it cannot fill --table")
        used_seed = fresh_seed() if seed is None else seed
        started = time.perf_counter()
        parts = sample_to_parquet(
            model_file, n, output, n_parts=nproc, seed=used_seed, chunk_rows=chunk_rows
        )
        say(
            quiet,
            f"Wrote {n:,} rows as {len(parts)} Parquet files in {output} in "
            f"{time.perf_counter() - started:.1f} s (seed {used_seed}; pass --seed {used_seed} "
            "and the same --nproc to repeat)",
        )
        return
    if_exists = if_exists.lower()
    check_target(output, table, if_exists)
    model = TVAE.load(model_file, device=device)
    conditions = parse_where(where or [], model)
    used_seed = fresh_seed() if seed is None else seed
    started = time.perf_counter()
    with threads_chosen(threads), limited_threads(steady=True):  # seeded: the rows must repeat
        if conditions:
            chunks = conditional_chunks(model, n, chunk_rows, conditions, used_seed)
        elif n == 0:
            chunks = iter([pd.DataFrame(columns=list(model.feature_names_in_))])
        else:
            chunks = model.sample_chunks(n, chunk_rows, random_state=used_seed)
        with tqdm(total=n, unit="row", unit_scale=True, desc="Sampling", disable=quiet) as bar:
            written = write_target(output, table, if_exists, _counted(chunks, bar))
    say(
        quiet,
        f"Wrote {written:,} rows to {describe_target(output, table)} in "
        f"{time.perf_counter() - started:.1f} s (seed {used_seed}; pass --seed {used_seed} to "
        "repeat)",
        err=output == STANDARD_STREAM,  # the rows went to standard output
    )


def _counted(chunks, bar):
    for chunk in chunks:
        bar.update(len(chunk))
        yield chunk


app.command(
    epilog="\b\nExample:\n  tvae evaluate real.csv synthetic.csv --target income "
    "--holdout test.csv --report report.html"
)(evaluate)


@app.command(epilog="\b\nExample:\n  tvae inspect adult.tvae --json")
def inspect(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL", help="Model file to describe.")],
    as_json: Json = False,
) -> None:
    """Describe MODEL without loading it: columns and kinds, training, file format."""
    from tvae.cli.parsing import check_input
    from tvae.cli.render import render_inspect
    from tvae.serialization import inspect_model

    check_input(model_file, "model file")
    info = inspect_model(model_file)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        typer.echo(render_inspect(info))


app.command(epilog="\b\nExample:\n  tvae demo -o synthetic_adult.csv --epochs 50")(demo)


def main() -> None:
    """Entry point of the ``tvae`` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
