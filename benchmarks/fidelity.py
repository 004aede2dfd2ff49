"""Fidelity: tvae and the reference between the floor (independent columns) and the ceiling
(real held-out rows), on the same split per seed, several tables in one run.

Usage (needs the `bench` extra):
    python benchmarks/fidelity.py --table DATA/adult.csv:income --table DATA/beijing.csv \
        --seeds 0 1 2 --out fidelity.jsonl

A table is ``PATH[:TARGET]`` (the target, a column name, enables efficacy). Per table and seed:
the rows are subsampled to ``--max-rows`` (seed 0) and split 80/20 by the seed (protocol.py);
each implementation samples as many rows as the training rows hold:

- ``tvae``: tvae.TVAE(random_state=seed, enable_gpu=False, **--tvae-param);
- ``ctgan``: the reference, ctgan.TVAE with its defaults (imported only when asked for);
- ``independent``: each column drawn on its own from its training values (with replacement);
- ``holdout``: the real held-out rows, as they are (fewer than the training rows).

Scores, all against the training rows: the SDMetrics quality report (row keys scored as keys),
detection (protocol.DETECTION; 1 = indistinguishable; each side sampled to the held-out size),
efficacy macro-F1 on the held-out rows when a target is given (for ``holdout``: the classifier
trained on the real training rows, the ceiling), exact copies of training rows (tvae.evaluation),
the DCR share (protocol.dcr_share; 0.5 = no closer to the training rows than fresh real rows),
fit seconds, gap closed = (quality - independent) / (holdout - independent) with the same seed's
floor and ceiling, and checks.py's exact structure: the share of rows keeping every functional
dependency and order found in the training rows, and the worst point-mass difference (points),
on the scored rows and on POINT_MASS_ROWS more rows of the same model.

A run that fails (the reference on tables with missing values, say) is recorded with its error
and the run goes on. Every result is a JSON line in ``--out``; each table ends with a Markdown
table of mean ± sd over the seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd

from tvae.evaluation import exact_copy_share

sys.path.insert(0, str(Path(__file__).resolve().parent))
from checks import dependency_kept, find_dependencies, numerical_columns, point_masses
from protocol import (
    DETECTION,
    ctgan_runner,
    dataset_name,
    dcr_share,
    detection_score,
    discrete_columns_of,
    efficacy_f1,
    error_text,
    independent_sample,
    is_key,
    library_kinds,
    parse_params,
    read_table,
    sdmetrics_quality,
    split,
    subsample,
    timed,
    tvae_runner,
    unique_keys,
    warm_up,
)

BASELINES = ("independent", "holdout")
# Point masses are also scored on this many sampled rows: a share measured on a small table's
# own row count (142 on wine) moves by several points from sampling alone (held-out rows:
# 6 points), which hides how near the model's own rate is.
POINT_MASS_ROWS = 20_000
COLUMNS = [  # (JSON field, Markdown heading)
    ("quality", "quality"),
    ("column_shapes", "shapes"),
    ("column_pair_trends", "trends"),
    ("detection", "detection"),
    ("efficacy_f1", "efficacy F1"),
    ("exact_copy_share", "exact copies"),
    ("dcr_share", "DCR share"),
    ("fit_seconds", "fit s"),
    ("gap_closed", "gap closed"),
    ("dependency_kept", "deps kept"),
    ("worst_point_mass_points", "worst point mass (pts)"),
    ("worst_point_mass_points_many", f"on {POINT_MASS_ROWS:,} rows"),
]


def parse_table(spec: str) -> tuple[str, str | None]:
    """``PATH[:TARGET]``; a colon followed by a path separator belongs to the path."""
    path, sep, target = spec.rpartition(":")
    if not sep or not path or "/" in target or "\\" in target:
        return spec, None
    return path, target or None


def score(
    name: str,
    rows: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    context: dict,
) -> dict:
    """Every score of ``rows`` (synthetic, or the held-out rows for ``holdout``)."""
    discrete, keys, target, seed = (context[k] for k in ("discrete", "keys", "target", "seed"))
    quality, shapes, trends = sdmetrics_quality(train, rows, discrete, keys)
    if target is None:
        f1 = None
    else:  # held-out rows would be scored on themselves: the real training rows instead
        f1 = efficacy_f1(train if name == "holdout" else rows, test, target, discrete)
    dcr, ties = dcr_share(train, rows, test, context["kinds"], seed, name == "holdout")
    result = {
        "quality": quality,
        "column_shapes": shapes,
        "column_pair_trends": trends,
        "detection": detection_score(train, rows, discrete, keys, len(test), seed),
        "efficacy_f1": f1,
        "exact_copy_share": exact_copy_share(train, rows, kinds=context["kinds"]),
        "dcr_share": dcr,
        "dcr_ties": ties,
    }
    result.update(dependency_kept(rows, context["dependencies"]))
    result.update(point_masses(train, rows, context["numerical"]))
    return result


def gap_closed(quality: float, floor: dict | None, ceiling: dict | None) -> float | None:
    """(quality - floor) / (ceiling - floor): 0 = independent columns, 1 = real held-out rows."""
    if not floor or not ceiling or "quality" not in floor or "quality" not in ceiling:
        return None
    span = ceiling["quality"] - floor["quality"]
    return (quality - floor["quality"]) / span if span > 0 else None


def measure(name: str, train, test, context: dict, args, runners: dict) -> dict:
    """One implementation on one split: its rows and every score, or the error it raised."""
    record = {
        "table": context["table"],
        "implementation": name,
        "seed": context["seed"],
        "n_train": len(train),
        "n_holdout": len(test),
        "detection_metric": DETECTION,
        "dependencies_found": context["dependencies"].describe(),
        "settings": {"max_rows": args.max_rows, "epochs": args.epochs},
    }
    if name == "tvae":
        record["settings"]["tvae_params"] = parse_params(args.tvae_param)
    try:
        if name == "holdout":
            rows, fit_seconds, sample_seconds = test, None, None
        elif name == "independent":
            rows, sample_seconds = timed(independent_sample, train, len(train), context["seed"])
            fit_seconds = None
        else:
            rows, fit_seconds, sample_seconds = runners[name](
                train, context["discrete"], context["seed"], len(train)
            )
        record.update(fit_seconds=fit_seconds, sample_seconds=sample_seconds)
        record.update(score(name, rows, train, test, context))
        many = more_rows(name, runners, train, context["seed"])
        if many is not None:
            masses = point_masses(train, many, context["numerical"])
            record["worst_point_mass_points_many"] = masses["worst_point_mass_points"]
    except Exception as error:  # the reference fails on some real tables: record it
        record["error"] = error_text(error)
    return record


def more_rows(name: str, runners: dict, train: pd.DataFrame, seed: int) -> pd.DataFrame | None:
    """POINT_MASS_ROWS more rows of the model just fitted (independent columns: drawn anew);
    None for the held-out rows, which are what they are."""
    if name == "holdout":
        return None
    if name == "independent":
        return independent_sample(train, POINT_MASS_ROWS, seed + 1)
    model = getattr(runners[name], "last_model", None)
    return model.sample(POINT_MASS_ROWS) if model is not None else None


def emit(record: dict, out: str | None) -> None:
    """Print the record (without its point-mass list) and append it to ``out``."""
    clean = _plain(record)
    shown = {k: v for k, v in clean.items() if k not in ("point_masses", "settings")}
    print(json.dumps(shown), flush=True)
    if out:
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(clean) + "\n")


def split_context(
    table: str, train: pd.DataFrame, discrete: list[str], target: str | None, seed: int
) -> dict:
    """What scoring one seed's split needs: its keys, kinds, dependencies, numeric columns."""
    keys = tuple(unique_keys(train))
    skip = {c for c in train.columns if is_key(c) or c in keys}
    return {
        "table": table,
        "discrete": discrete,
        "keys": keys,
        "target": target,
        "seed": seed,
        "kinds": library_kinds(train, discrete, keys),
        "dependencies": find_dependencies(train, discrete, skip),
        "numerical": numerical_columns(train, skip | set(discrete)),
    }


def run_table(path: str, target: str | None, args, runners: dict) -> list[dict]:
    frame = subsample(read_table(path), args.max_rows)
    if target is not None and target not in frame.columns:
        raise SystemExit(f"{path}: no column {target!r} (a table is PATH[:TARGET])")
    discrete = discrete_columns_of(frame, None, target)
    table = dataset_name(path)
    order = [n for n in BASELINES if n in args.implementations]
    order += [n for n in args.implementations if n not in BASELINES]
    records = []
    for seed in args.seeds:
        train, test = split(frame, seed)
        context = split_context(table, train, discrete, target, seed)
        measured: dict[str, dict] = {}
        pending: list[dict] = []
        baselines = set(BASELINES) & set(order)
        for name in order:
            measured[name] = measure(name, train, test, context, args, runners)
            pending.append(measured[name])
            if not baselines <= set(measured):
                continue  # the floor and the ceiling are written once both are known
            for record in pending:
                if "error" not in record:
                    floor, ceiling = measured.get("independent"), measured.get("holdout")
                    record["gap_closed"] = gap_closed(record["quality"], floor, ceiling)
                emit(record, args.out)
            records += pending
            pending = []
    return records


def _plain(value):
    """JSON-ready: NaN and infinities as null."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell(values: list) -> str:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return "—"
    series = pd.Series(values, dtype=float)
    if len(series) == 1:
        return f"{series.iloc[0]:.3f}"
    return f"{series.mean():.3f} ± {series.std():.3f}"


def fit_time_ratio(records: list[dict]) -> str | None:
    """tvae's fit seconds over the reference's, from the seeds where both fitted (None if
    none): the ratio of the means, and each seed's."""
    seconds = {
        name: {r["seed"]: r["fit_seconds"] for r in records
               if r["implementation"] == name and r.get("fit_seconds")}
        for name in ("tvae", "ctgan")
    }  # fmt: skip
    seeds = sorted(set(seconds["tvae"]) & set(seconds["ctgan"]))
    if not seeds:
        return None
    ours, theirs = ([seconds[n][s] for s in seeds] for n in ("tvae", "ctgan"))
    each = ", ".join(f"{a / b:.3f}" for a, b in zip(ours, theirs, strict=True))
    return (
        f"Fit time, tvae over the reference (seeds {', '.join(map(str, seeds))}): "
        f"{sum(ours) / sum(theirs):.3f} (per seed {each})."
    )


def markdown(records: list[dict]) -> str:
    """One Markdown table: mean ± sd over the seeds per implementation, failures counted."""
    table = records[0]["table"]
    heads = ["model", "seeds", *(h for _, h in COLUMNS), "failed"]
    rule = "|---|---:" + "|---" * (len(heads) - 2) + "|"
    lines = [f"### {table}", "", "| " + " | ".join(heads) + " |", rule]
    names = list(dict.fromkeys(r["implementation"] for r in records))
    for name in names:
        runs = [r for r in records if r["implementation"] == name]
        ok = [r for r in runs if "error" not in r]
        failed = [r["error"] for r in runs if "error" in r]
        cells = []
        for field, _ in COLUMNS:
            cell = _cell([r.get(field) for r in ok])
            if field == "worst_point_mass_points" and ok:
                where = Counter(r["worst_point_mass"] for r in ok).most_common(1)[0][0]
                cell += f" ({where})" if where else ""
            cells.append(cell)
        failure = f"{len(failed)}: {failed[0][:80]}" if failed else ""
        lines.append("| " + " | ".join([name, str(len(ok)), *cells, failure]) + " |")
    found = Counter(r["dependencies_found"] for r in records).most_common(1)[0][0]
    lines += ["", f"Dependencies in the training rows (most seeds): {found}."]
    ratio = fit_time_ratio(records)
    if ratio:
        lines.append(ratio)
    lines.append(f"Detection: {records[0]['detection_metric']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--table",
        action="append",
        required=True,
        metavar="PATH[:TARGET]",
        help="a CSV (optionally .gz) and its classification target; repeat for more tables",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--implementations",
        nargs="+",
        default=["tvae", "ctgan", "independent", "holdout"],
        choices=["tvae", "ctgan", *BASELINES],
    )
    parser.add_argument("--max-rows", type=int, default=20_000, help="subsample larger tables")
    parser.add_argument("--tvae-param", action="append", default=[], help="key=value")
    parser.add_argument("--epochs", type=int, default=None, help="tvae and ctgan (smoke tests)")
    parser.add_argument("--out", default=None, help="append results as JSON lines here")
    args = parser.parse_args(argv)

    warm_up()  # so that no implementation's timed fit carries the process's one-time costs
    runners = {}
    if "tvae" in args.implementations:
        runners["tvae"] = tvae_runner(args.epochs, None, parse_params(args.tvae_param))
    if "ctgan" in args.implementations:
        runners["ctgan"] = ctgan_runner(args.epochs, None)
    tables = [parse_table(spec) for spec in args.table]
    for path, _ in tables:
        if not Path(path).is_file():
            raise SystemExit(f"no such table: {path}")
    warnings.filterwarnings("ignore", category=FutureWarning)
    for path, target in tables:
        records = run_table(path, target, args, runners)
        print("\n" + markdown(records) + "\n", flush=True)


if __name__ == "__main__":
    main()
