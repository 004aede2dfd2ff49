"""The seed decoding draws from, derived from the encoded rows themselves.

A seeded ``sample`` stays reproducible without a second random stream: the rows already
depend on the whole seeded stream before them.
"""

from __future__ import annotations

import hashlib

import numpy as np

SEED_ROWS = 1024  # encoded rows hashed into the decoding seed


def seed_from_rows(alphas: np.ndarray, codes: np.ndarray) -> int:
    """A seed derived from the encoded rows (which come from the seeded sampling stream).

    The first rows and the shape suffice: they already depend on the whole stream before them.
    """
    digest = hashlib.blake2b(repr((codes.shape, alphas.shape)).encode(), digest_size=8)
    digest.update(np.ascontiguousarray(codes[:SEED_ROWS]).tobytes())
    digest.update(np.ascontiguousarray(alphas[:SEED_ROWS]).tobytes())
    return int.from_bytes(digest.digest(), "little")
