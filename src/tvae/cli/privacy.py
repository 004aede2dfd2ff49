"""The ``tvae fit`` options of differential privacy: ``--epsilon``, ``--delta``, ``--public``."""

from __future__ import annotations

import json
from pathlib import Path

from tvae.errors import InvalidParameterError


def private_options(epsilon: float | None, delta: float | None, public: Path | None) -> dict:
    """The ``TVAE`` keyword arguments the options ask for ({} without ``--epsilon``)."""
    if epsilon is None:
        if delta is not None or public is not None:
            raise InvalidParameterError("--delta and --public apply only with --epsilon")
        return {}
    options: dict = {"epsilon": epsilon}
    if delta is not None:
        options["delta"] = delta
    if public is not None:
        if not public.is_file():
            raise InvalidParameterError(f"--public: no such file {str(public)!r}")
        try:
            options["public"] = json.loads(public.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise InvalidParameterError(
                f"--public: {str(public)!r} is not JSON ({error})"
            ) from None
    return options
