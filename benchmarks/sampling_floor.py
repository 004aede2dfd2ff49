"""How close sampling is to its floor: the decoder's forward pass on every row.

Fits each implementation for one epoch on DATA (adult), then times ``sample(1_000_000)`` and
the decoder's forward pass alone on as many latents (the reference in its own 500-row batches,
tvae in its sampling blocks). Run once per implementation, with the same thread settings:

    OMP_NUM_THREADS=1 python benchmarks/sampling_floor.py DATA/adult.csv ctgan
    OMP_NUM_THREADS=1 python benchmarks/sampling_floor.py DATA/adult.csv tvae
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

DISCRETE = [
    "workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
    "native-country", "income",
]  # fmt: skip
ROWS = 1_000_000


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def reference(frame: pd.DataFrame) -> tuple[float, float]:
    from ctgan import TVAE as ReferenceTVAE

    model = ReferenceTVAE(epochs=1, enable_gpu=False)
    model.set_random_state(0)
    model.fit(frame, DISCRETE)
    model.sample(1000)  # warm-up
    total = _timed(lambda: model.sample(ROWS))
    model.decoder.eval()

    def forward() -> None:
        with torch.no_grad():
            for _ in range(ROWS // 500):
                model.decoder(torch.randn(500, model.embedding_dim))

    return total, _timed(forward)


def ours(frame: pd.DataFrame) -> tuple[float, float]:
    from tvae import TVAE
    from tvae.sampling import SAMPLE_CHUNK

    model = TVAE(epochs=1, batch_size=500, random_state=0, enable_gpu=False).fit(frame, DISCRETE)
    model.sample(1000)  # warm-up
    total = min(_timed(lambda: model.sample(ROWS)) for _ in range(2))
    generator = torch.Generator().manual_seed(0)

    def forward() -> None:
        with torch.inference_mode():
            for _ in range(-(-ROWS // SAMPLE_CHUNK)):
                model.decoder_(torch.randn(SAMPLE_CHUNK, model.embedding_dim, generator=generator))

    return total, _timed(forward)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("implementation", choices=["tvae", "ctgan"])
    args = parser.parse_args()
    frame = pd.read_csv(args.data)
    total, forward = (ours if args.implementation == "tvae" else reference)(frame)
    print(
        f"{args.implementation}: threads={torch.get_num_threads()} sample {ROWS:,} rows "
        f"{total:.2f} s, decoder forward alone {forward:.2f} s"
    )


if __name__ == "__main__":
    main()
