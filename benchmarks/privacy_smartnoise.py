"""One smartnoise-synth run for benchmarks/privacy.py, in smartnoise-synth's own environment.

Usage: python privacy_smartnoise.py TRAIN.csv OUT.csv SYNTH EPSILON SEED DISCRETE,COLUMNS

Fits ``snsynth.Synthesizer.create(SYNTH, epsilon=EPSILON)`` with 10 % of epsilon spent by its
preprocessor on the numeric columns' bounds (subtracted from the training budget), samples as
many rows as the training table holds, writes them to OUT.csv and prints the fit seconds.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd


def main() -> None:
    source, target, synth, epsilon, seed, discrete = sys.argv[1:7]
    epsilon = float(epsilon)
    train = pd.read_csv(source)
    categorical = [c for c in discrete.split(",") if c]
    continuous = [c for c in train.columns if c not in categorical]
    np.random.seed(int(seed))  # snsynth draws from the global generators
    try:
        import torch

        torch.manual_seed(int(seed))
    except ImportError:
        pass
    from snsynth import Synthesizer

    warnings.simplefilter("ignore")
    started = time.perf_counter()
    model = Synthesizer.create(synth, epsilon=epsilon, verbose=False)
    model.fit(
        train, categorical_columns=categorical, continuous_columns=continuous,
        preprocessor_eps=0.1 * epsilon, nullable=bool(train.isna().any().any()),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    model.sample(len(train)).to_csv(target, index=False)
    print(seconds)


if __name__ == "__main__":
    main()
