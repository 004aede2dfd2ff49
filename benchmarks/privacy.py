"""Differential privacy: private tvae against non-private tvae and smartnoise-synth, and a
canary membership audit.

Usage (tvae's own environment; smartnoise-synth, if wanted, in a separate one):
    OMP_NUM_THREADS=1 python benchmarks/privacy.py --table DATA/adult.csv:income \
        --table DATA/bank.csv:churn --table DATA/titanic.csv:survived \
        --epsilons 1 3 10 --seeds 0 1 2 --out privacy.jsonl \
        [--smartnoise-python .venv-dp-bench/bin/python --synths mst aim dpctgan patectgan] \
        [--audit DATA/adult.csv]

A table is ``PATH[:TARGET]``. Per table and seed the rows are subsampled to ``--max-rows``
(seed 0) and split 80/20 by the seed (protocol.py). Runs:

- ``tvae``: tvae.TVAE(random_state=seed) without privacy (``--epochs``: its epochs);
- ``tvae-dp``: tvae.TVAE(epsilon=e, random_state=seed) for each ``--epsilons`` value
  (``--dp-epochs``: its epochs; default: its "auto" DP schedule);
- ``tvae-dp-deps`` (``--declared-dependencies``): the same with the table's exact
  "determines" dependencies between label columns declared in ``metadata`` (found on the
  table before the split, as a data dictionary would state them);
- ``tvae-dp-schema`` (``--public-schema``): the same with every categorical column's category
  list declared public (``public=``, taken from the table before the split, as a published
  code list would be): the footing of smartnoise-synth, whose preprocessor takes category sets
  from the data without spending budget;
- smartnoise-synth synthesizers at each epsilon, run by ``--smartnoise-python`` (a Python with
  smartnoise-synth installed) through benchmarks/privacy_smartnoise.py.

Scores against the training rows: the library's quality score (tvae.evaluation.evaluate,
``overall``: the SDMetrics QualityReport's recipe), efficacy macro-F1 on the held-out rows when
a target is given (protocol.efficacy_f1), fit seconds; for tvae-dp the epsilon actually spent.

The audit (``--audit PATH``): ``--canaries`` distinct rare rows (each value from a different
random real row, so every value is in range and the combination is new) are planted in the
training rows; ``--audit-pairs`` pairs of models, each pair with its own seed, are trained with
them (IN) and without (OUT), at epsilon 1 and without privacy; each canary's score is its ELBO
under a model minus the mean ELBO of 200 real reference rows (calibration; rows holding a label
the model merged away are left out). The membership test says "IN" when the score is high: its
AUC over every IN and OUT score is reported (0.5 = chance).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol import (
    dataset_name,
    discrete_columns_of,
    efficacy_f1,
    error_text,
    parse_params,
    read_table,
    split,
    subsample,
)

from tvae import TVAE
from tvae.evaluation import evaluate
from tvae.transformer.dependencies import Dependencies


def quality(train: pd.DataFrame, synthetic: pd.DataFrame, discrete: list[str]) -> float:
    kinds = {c: "categorical" if c in discrete else "numerical" for c in train.columns}
    return float(evaluate(train, synthetic[train.columns], metadata=kinds).overall)


def fit_tvae(train, discrete, seed, params, metadata=None):
    started = time.perf_counter()
    model = TVAE(random_state=seed, enable_gpu=False, **params)
    model.fit(train, discrete, metadata=metadata)
    return model, time.perf_counter() - started


def run_smartnoise(python, synth, epsilon, train, discrete, seed, timeout=None):
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "train.csv", Path(folder) / "synthetic.csv"
        train.to_csv(source, index=False)
        command = [python, str(Path(__file__).with_name("privacy_smartnoise.py")), str(source),
                   str(target), synth, str(epsilon), str(seed), ",".join(discrete)]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"stopped after {timeout} s (--smartnoise-timeout)") from None
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
        seconds = float(done.stdout.strip().splitlines()[-1])
        return pd.read_csv(target), seconds


def score(record, train, test, synthetic, discrete, target):
    record["quality"] = quality(train, synthetic, discrete)
    if target:
        record["efficacy_f1"] = efficacy_f1(synthetic, test, target, discrete)
    return record


# ------------------------------------------------------------------ the canary audit
CANARY_LABEL_SHARE = 0.2  # labels this common are released by any private fit


def canaries(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` distinct rare rows: each number taken from a different random real row, each label
    drawn from the column's labels held by at least ``CANARY_LABEL_SHARE`` of the rows (labels
    any private model keeps). Every value is in range, so a private fit's clipping does not
    turn the canaries into one repeated row (which would make the audit a test of a group)."""
    rng = np.random.default_rng(seed)
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            out[column] = values.to_numpy()[rng.integers(0, len(values), n)]
        else:
            shares = values.value_counts(normalize=True)
            common = shares.index[shares >= CANARY_LABEL_SHARE].to_numpy()
            common = common if len(common) else shares.index[:1].to_numpy()
            out[column] = common[rng.integers(0, len(common), n)]
    return pd.DataFrame(out).astype(frame.dtypes.to_dict())


@torch.no_grad()
def elbo(model: TVAE, rows: pd.DataFrame, draws: int = 16) -> np.ndarray:
    """Each row's evidence lower bound under ``model`` (mean over ``draws`` latent draws). (N,)"""
    from tvae.loss import SpanIndex, latent_draw, tvae_loss
    from tvae.model import standard_normal
    from tvae.training import dense_batch

    encoded = model.transformer_.transform(rows, np.random.default_rng(0))
    alphas = torch.from_numpy(encoded.alphas)
    codes = torch.from_numpy(encoded.codes)
    index = SpanIndex.from_layout(model.layout_)
    generator = torch.Generator().manual_seed(0)
    dense = dense_batch(alphas, codes, index, model.layout_.width)
    mu, logvar = model.encoder_(dense)
    out = np.zeros(len(rows))
    for i in range(len(rows)):
        total = 0.0
        for _ in range(draws):
            row_mu, row_logvar = mu[i : i + 1], logvar[i : i + 1]
            z, kl = latent_draw(row_mu, row_logvar, standard_normal(row_mu, generator))
            raw, sigma = model.decoder_(z)
            terms = tvae_loss(raw, sigma, alphas[i : i + 1], codes[i : i + 1], kl, index,
                              model.schedule_.loss_factor)  # fmt: skip
            total += float(terms.total)
        out[i] = -total / draws
    return out


def known_rows(model: TVAE, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows whose every label the model knows (a private model merges rare ones)."""
    keep = pd.Series(True, index=rows.index)
    for column in model.transformer_.columns:
        encoder = getattr(column, "encoder", None)
        if encoder is not None:
            keep &= rows[column.name].isin(list(encoder.value_table()))
    return rows[keep]


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative) (ties count half)."""
    diff = positive[:, None] - negative[None, :]
    return float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))


def audit(path, args, out) -> None:
    frame = subsample(read_table(path), args.max_rows)
    discrete = discrete_columns_of(frame, None)
    train, _ = split(frame, 0)
    planted = canaries(train, args.canaries, seed=1)
    reference = train.sample(200, random_state=2)
    settings = (
        [] if args.audit_dp_only else [("tvae", {"epochs": args.epochs} if args.epochs else {})]
    )
    dp = {"epochs": args.dp_epochs} if args.dp_epochs else {}
    settings.append(("tvae-dp", {"epsilon": 1.0, **dp}))
    for name, params in settings:
        scores: dict[str, list] = {"in": [], "out": []}
        for pair in range(args.audit_pairs):  # each pair: its own seed for both models
            for side, rows in (("in", pd.concat([train, planted], ignore_index=True)),
                               ("out", train)):  # fmt: skip
                model, _ = fit_tvae(rows, discrete, pair, params)
                calibration = elbo(model, known_rows(model, reference)).mean()
                scores[side].append(elbo(model, planted) - calibration)
        inside, outside = np.concatenate(scores["in"]), np.concatenate(scores["out"])
        record = {
            "audit": dataset_name(path), "run": name, "epsilon": params.get("epsilon"),
            "canaries": args.canaries, "model_pairs": args.audit_pairs,
            "membership_auc": auc(inside, outside),
            "mean_score_in": float(inside.mean()), "mean_score_out": float(outside.mean()),
        }  # fmt: skip
        print(json.dumps(record), flush=True)
        out.write(json.dumps(record) + "\n")
        out.flush()


# ------------------------------------------------------------------ the comparison
def category_schema(frame: pd.DataFrame, discrete: list[str]) -> dict:
    """Every categorical column's category list, as ``TVAE(public=...)`` takes it."""
    return {
        column: {"categories": sorted(frame[column].dropna().unique().tolist(), key=str)}
        for column in discrete
    }


CODE_VALUES = 50  # a numerical column with at most this many values may be declared a code


def label_dependencies(frame: pd.DataFrame, discrete: list[str]) -> dict | None:
    """The "determines" dependencies that hold in every row of the table before the split, as
    ``fit(metadata=...)`` takes them: what a published data dictionary would state. Under
    epsilon a mapping needs labels on both sides, so a numerical column in one with at most
    ``CODE_VALUES`` values is declared categorical (education -> education-num: a code), and
    dependencies with other numerical columns are left out."""
    labels = [c for c in frame.columns if c in discrete or pd.api.types.is_bool_dtype(frame[c])]
    kinds = {c: "categorical" if c in labels else "numerical" for c in frame.columns}
    codes = {c for c in frame.columns if c not in labels and frame[c].nunique() <= CODE_VALUES}
    found = Dependencies.detect(frame, kinds).determinations
    pairs = [(d.source, d.target) for d in found if {d.source, d.target} <= set(labels) | codes]
    if not pairs:
        return None
    declared_codes = sorted({c for pair in pairs for c in pair} & codes)
    return {
        "columns": dict.fromkeys(declared_codes, "categorical"),
        "dependencies": [{"type": "determines", "source": s, "target": t} for s, t in pairs],
    }


def as_scored(synthetic: pd.DataFrame, metadata: dict, discrete: list[str]) -> pd.DataFrame:
    """A numerical column declared a code is scored as numerical, like every other run's:
    its rare values merged into "(other)" under epsilon become missing cells."""
    synthetic = synthetic.copy()
    for column in metadata["columns"]:
        if column not in discrete:
            synthetic[column] = pd.to_numeric(synthetic[column], errors="coerce")
    return synthetic


def compare(spec: str, args, out) -> list[dict]:
    path, _, target = spec.partition(":")
    frame = subsample(read_table(path), args.max_rows)
    discrete = discrete_columns_of(frame, None, target or None)
    records = []
    for seed in args.seeds:
        train, test = split(frame, seed)
        extra = parse_params(args.tvae_param)
        runs = (
            []
            if args.skip_nonprivate
            else [("tvae", None, {**extra, **({"epochs": args.epochs} if args.epochs else {})})]
        )
        dp = {**extra, **({"epochs": args.dp_epochs} if args.dp_epochs else {})}
        runs += [("tvae-dp", e, {"epsilon": e, **dp}) for e in args.epsilons]
        if args.public_schema:
            public = category_schema(frame, discrete)
            runs += [
                ("tvae-dp-schema", e, {"epsilon": e, "public": public, **dp}) for e in args.epsilons
            ]
        declared = label_dependencies(frame, discrete) if args.declared_dependencies else None
        if declared:
            runs += [("tvae-dp-deps", e, {"epsilon": e, **dp}) for e in args.epsilons]
        if args.only_smartnoise:
            runs = []
        if args.smartnoise_python:
            runs += [(s, e, None) for s in args.synths for e in args.epsilons]
        for name, epsilon, params in runs:
            record = {"dataset": dataset_name(path), "run": name, "seed": seed,
                      "epsilon": epsilon, "n_train": len(train)}  # fmt: skip
            try:
                if params is None:
                    synthetic, seconds = run_smartnoise(
                        args.smartnoise_python,
                        name,
                        epsilon,
                        train,
                        discrete,
                        seed,
                        args.smartnoise_timeout,
                    )
                else:
                    metadata = declared if name == "tvae-dp-deps" else None
                    model, seconds = fit_tvae(train, discrete, seed, params, metadata)
                    synthetic = model.sample(len(train))
                    if metadata:
                        synthetic = as_scored(synthetic, metadata, discrete)
                    if epsilon is not None:
                        record["epsilon_spent"] = model.privacy_["epsilon"]
                        record["noise_multiplier"] = model.privacy_["noise_multiplier"]
                record["fit_seconds"] = seconds
                score(record, train, test, synthetic, discrete, target)
            except Exception as error:  # a failed run is recorded and the run goes on
                record["error"] = error_text(error)
            print(json.dumps(record), flush=True)
            out.write(json.dumps(record) + "\n")
            out.flush()
            records.append(record)
    return records


def table(records: list[dict]) -> str:
    frame = pd.DataFrame([r for r in records if "error" not in r])
    if frame.empty:
        return "(no successful run)"
    frame["epsilon"] = frame["epsilon"].astype(object).where(frame["epsilon"].notna(), "-")
    columns = [c for c in ("quality", "efficacy_f1", "fit_seconds") if c in frame]
    grouped = frame.groupby(["dataset", "run", "epsilon"], sort=False)[columns]
    mean, sd, count = grouped.mean(), grouped.std(), grouped.size()
    lines = ["| dataset | run | epsilon | seeds | " + " | ".join(columns) + " |",
             "|---|---|---|---|" + "---|" * len(columns)]  # fmt: skip
    for key in mean.index:
        cells = [
            f"{mean.loc[key, c]:.3f}"
            + ("" if np.isnan(sd.loc[key, c]) else f" ± {sd.loc[key, c]:.3f}")
            for c in columns
        ]
        lines.append(f"| {' | '.join(map(str, key))} | {count[key]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="append", default=[], help="PATH[:TARGET]")
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="non-private tvae's epochs")
    parser.add_argument("--dp-epochs", type=int, default=None, help="private tvae's epochs")
    parser.add_argument(
        "--tvae-param", action="append", default=[], help="key=value, to every tvae run"
    )
    parser.add_argument("--smartnoise-python", default=None)
    parser.add_argument("--synths", nargs="+", default=["mst", "aim", "dpctgan", "patectgan"])
    parser.add_argument(
        "--smartnoise-timeout", type=float, default=None, help="seconds per smartnoise run"
    )
    parser.add_argument("--skip-nonprivate", action="store_true", help="no non-private tvae")
    parser.add_argument(
        "--public-schema", action="store_true", help="also tvae-dp with category lists public"
    )
    parser.add_argument(
        "--declared-dependencies",
        action="store_true",
        help="also tvae-dp with the table's exact label dependencies declared in metadata",
    )
    parser.add_argument("--only-smartnoise", action="store_true", help="skip the tvae runs")
    parser.add_argument("--audit", default=None, help="PATH of the table for the canary audit")
    parser.add_argument("--canaries", type=int, default=10)
    parser.add_argument("--audit-pairs", type=int, default=5, help="IN/OUT model pairs")
    parser.add_argument("--audit-dp-only", action="store_true", help="audit only at epsilon 1")
    parser.add_argument("--out", default="privacy.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    records = []
    with open(args.out, "a", encoding="utf-8") as out:
        for spec in args.table:
            records += compare(spec, args, out)
        if args.audit:
            audit(args.audit, args, out)
    if records:
        print(table(records))


if __name__ == "__main__":
    main()
