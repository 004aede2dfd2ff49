"""Conditional sampling: speed and fidelity of three methods on adult (see docs/conditional.md).

    python benchmarks/conditional.py --epochs 40 --save /tmp/adult40.tvae
    python benchmarks/conditional.py --model /tmp/adult40.tvae      # reuse a fitted model

Methods, all on the same fitted model:
* ``rejection``: plain batched rejection, as SDV does for TVAE: decode unconditional rows in
  batches (doubling up to 1M) and keep the matching ones, giving up after 10 s;
* ``sir``: sampling-importance-resampling: 200,000 prior latents weighted by the decoder's
  p(conditions | z), ``n`` of them resampled by weight (approximate: duplicates of heavy z);
* ``latent`` (tvae's ``sample(n, conditions=...)``): exact rejection in latent space against
  p(conditions | z), with conditioned spans drawn from their restricted distribution.
Fidelity compares each method's rows with the real rows meeting the same conditions (the
income rate, the age mean and the KS distance of age) and with the model's own conditional
(rows of a 400,000-row unconditional sample that meet them).
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import torch
from scipy.stats import ks_2samp

import tvae
from tvae.conditional import parse_conditions
from tvae.conditional.sampler import FORWARD_CHUNK
from tvae.layout import SpanIndex
from tvae.sampling import decode_outputs

N_ROWS = 1_000
TIME_LIMIT = 10.0


def matches(frame: pd.DataFrame, conditions: dict) -> pd.Series:
    keep = pd.Series(True, index=frame.index)
    for column, value in conditions.items():
        if isinstance(value, tuple):
            keep &= frame[column].between(*value)
        else:
            keep &= frame[column] == value
    return keep


def plain_rejection(model: tvae.TVAE, conditions: dict, n: int, seed: int) -> pd.DataFrame:
    """Decode unconditional batches and keep matching rows (batch doubles while too few)."""
    kept, found, batch, started, round_ = [], 0, max(n, 1_000), time.perf_counter(), 0
    while found < n:
        if time.perf_counter() - started > TIME_LIMIT:
            raise TimeoutError(f"{found} of {n} rows after {TIME_LIMIT:.0f} s")
        rows = model.sample(batch, random_state=seed * 1000 + round_)
        rows = rows[matches(rows, conditions)]
        kept.append(rows)
        found += len(rows)
        batch, round_ = min(batch * 2, 1_000_000), round_ + 1
    return pd.concat(kept).head(n).reset_index(drop=True)


@torch.no_grad()
def sir(model: tvae.TVAE, conditions: dict, n: int, seed: int, pool: int = 200_000) -> pd.DataFrame:
    """Sampling-importance-resampling from ``pool`` prior latents (for comparison only)."""
    generator = torch.Generator().manual_seed(seed)
    parsed, _, _ = parse_conditions(model.transformer_, model.layout_, conditions, n)
    raws, weights = [], []
    for start in range(0, pool, FORWARD_CHUNK):
        size = min(FORWARD_CHUNK, pool - start)
        raw, sigma = model.decoder_(torch.randn((size, model.embedding_dim), generator=generator))
        groups = torch.zeros(size, dtype=torch.long)
        weight = torch.ones(size, dtype=torch.float64)
        for condition in parsed:
            weight = weight * condition.weight(raw, sigma, groups, model.decoding)
        raws.append(raw)
        weights.append(weight)
    weight = torch.cat(weights)
    if weight.sum() <= 0:
        raise ValueError("no latent has positive weight")
    chosen = torch.multinomial(weight, n, replacement=True, generator=generator)
    raw, groups = torch.cat(raws)[chosen], torch.zeros(n, dtype=torch.long)
    index = SpanIndex.from_layout(model.layout_)
    alphas, codes = decode_outputs(raw, sigma, index, generator, model.decoding)
    for condition in parsed:
        condition.draw(raw, sigma, groups, model.decoding, generator, alphas, codes)
    alphas, codes = alphas.numpy(), codes.numpy()
    frame = model.transformer_.inverse_transform(alphas, codes)
    for condition in parsed:
        condition.finalize(frame, alphas, codes, groups.numpy())
    frame.attrs["distinct_latents"] = int(torch.unique(chosen).numel())
    return frame


def latent(model: tvae.TVAE, conditions: dict, n: int, seed: int) -> pd.DataFrame:
    return model.sample(n, conditions=conditions, random_state=seed)


METHODS = {"rejection": plain_rejection, "sir": sir, "latent": latent}


def fidelity(rows: pd.DataFrame, reference: pd.DataFrame) -> dict:
    """Income rate, age mean and KS distance of age against reference rows."""
    out = {
        "income_rate": round(float(rows["income"].eq(" >50K").mean()), 3),
        "age_mean": round(float(rows["age"].mean()), 2),
    }
    if len(reference) > 1:
        out["age_ks"] = round(float(ks_2samp(rows["age"], reference["age"]).statistic), 3)
    return out


def scenarios(real: pd.DataFrame) -> list[tuple[str, dict]]:
    counts = {
        (c, v): k
        for c in tvae.DEMO_DISCRETE_COLUMNS
        for v, k in real[c].value_counts().items()
        if c != "income"
    }
    share = {key: k / len(real) for key, k in counts.items()}
    one_percent = min(share, key=lambda key: abs(share[key] - 0.01))
    single = next(key for key, k in sorted(counts.items(), key=lambda kv: kv[1]) if k == 1)
    return [
        ("50 %: sex == Female (33 %)", {"sex": " Female"}),
        (f"1 %: {one_percent[0]} == {one_percent[1].strip()}", {one_percent[0]: one_percent[1]}),
        (f"1 row: {single[0]} == {single[1].strip()}", {single[0]: single[1]}),
        ("range: age in [30, 40]", {"age": (30, 40)}),
        ("joint: Female, >50K, age 30-40", {"sex": " Female", "income": " >50K", "age": (30, 40)}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--model", help="a saved model to reuse instead of fitting")
    parser.add_argument("--save", help="where to save the fitted model")
    parser.add_argument("--out", default="benchmarks/results/conditional.jsonl")
    args = parser.parse_args()
    real = tvae.load_demo()
    torch.set_num_threads(2)
    if args.model:
        model = tvae.TVAE.load(args.model, device="cpu")
    else:
        started = time.perf_counter()
        model = tvae.TVAE(epochs=args.epochs, random_state=0).fit(real, tvae.DEMO_DISCRETE_COLUMNS)
        print(f"fit {args.epochs} epochs: {time.perf_counter() - started:.0f} s")
        if args.save:
            model.save(args.save)
    unconditional = model.sample(400_000, random_state=123)
    results = []
    for name, conditions in scenarios(real):
        reference = real[matches(real, conditions)]
        own = unconditional[matches(unconditional, conditions)]
        print(f"\n## {name}: {len(reference)} real rows, {len(own)} of 400,000 model rows")
        print(f"real: {fidelity(reference, reference)}  model's own: {fidelity(own, reference)}")
        for method, run in METHODS.items():
            latent(model, conditions, 10, 0) if method == "latent" else None  # warm-up
            started = time.perf_counter()
            try:
                rows = run(model, conditions, N_ROWS, 0)
            except Exception as error:
                seconds = time.perf_counter() - started
                print(f"{method:>9}: failed after {seconds:.2f} s: {str(error)[:150]}")
                results.append({"scenario": name, "method": method, "error": str(error)[:300]})
                continue
            seconds = time.perf_counter() - started
            exact = bool(matches(rows, conditions).all())
            record = {"scenario": name, "method": method, "seconds": round(seconds, 3)}
            record.update(exact=exact, **fidelity(rows, reference))
            if "distinct_latents" in rows.attrs:
                record["distinct_latents"] = rows.attrs["distinct_latents"]
            results.append(record)
            shown = {k: v for k, v in record.items() if k != "scenario"}
            print(f"{method:>9}: {json.dumps(shown)}")
    with open(args.out, "a", encoding="utf-8") as handle:
        for record in results:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
