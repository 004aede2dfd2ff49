"""How many CPU threads torch may use: no more than this process can actually run.

torch starts with one thread per core of the machine. In a container limited to fewer CPUs (a
cgroup quota), under ``taskset``, or beside other busy processes, the extra threads only wait
for each other, and a fit can run many times slower. :func:`usable_cpus` counts the CPUs the
process may run on (``os.sched_getaffinity``) and caps them by the cgroup CPU quota (cgroup v2
``cpu.max``; v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``).

``fit`` and ``sample`` run inside :func:`limited_threads`, which lowers torch's thread count to
the usable CPUs (or to the count given to :func:`set_threads`) and restores it afterwards. An
unseeded call also leaves out the CPUs other processes keep busy (:func:`idle_cpus`). A seeded
one (``random_state``) does not: the thread count changes how sums are split, so their rounding,
and the same seed must give the same rows however busy the machine is (two seeded GPU fits on
a 16-core machine fitted different latent priors when the load average changed between them).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tvae.errors import InvalidParameterError

CGROUP_ROOT = Path("/sys/fs/cgroup")
_chosen: int | None = None  # set_threads(n); None: automatic
_own_setting: int | None = None  # torch's thread count outside the outermost limited_threads
_INTERNAL = ("tvae", "contextlib")  # modules a warning's stacklevel skips to reach the user


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def cgroup_cpu_limit(root: str | os.PathLike = CGROUP_ROOT) -> float | None:
    """CPUs the cgroup quota allows (``quota / period``, e.g. 1.5), or None without a quota."""
    root = Path(root)
    text = _read(root / "cpu.max")  # cgroup v2: "max 100000" or "150000 100000"
    if text is not None:
        parts = text.split()
        if len(parts) == 2 and parts[0] != "max":
            return _ratio(parts[0], parts[1])
        return None
    for folder in (root, root / "cpu", root / "cpu,cpuacct"):  # cgroup v1 mount layouts
        quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return _ratio(quota, period)
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None  # v1 writes -1 for "no quota"


def usable_cpus(root: str | os.PathLike = CGROUP_ROOT) -> int:
    """CPUs this process can run on: its CPU affinity, capped by the cgroup quota (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cpus = min(cpus, math.floor(limit))
    return max(1, cpus)


def set_threads(n: int | None) -> None:
    """Use ``n`` torch threads in every ``fit`` and ``sample``; ``None``: automatic (default).

    Automatic keeps torch's own setting (``torch.set_num_threads``, ``OMP_NUM_THREADS``) but
    never more than :func:`usable_cpus`.
    """
    global _chosen
    _chosen = None if n is None else _check_threads(n)


def _check_threads(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameterError(f"threads must be a positive integer or None, got {n!r}")
    return n


@contextmanager
def threads_chosen(n: int | None) -> Iterator[None]:
    """:func:`set_threads` for the duration of the block only (``None``: leave it as it is)."""
    global _chosen
    previous = _chosen
    if n is not None:
        set_threads(n)
    try:
        yield
    finally:
        _chosen = previous


def chosen_threads(steady: bool = False) -> int:
    """The thread count ``fit`` and ``sample`` will use now: :func:`set_threads`'s, else torch's
    own setting capped by :func:`usable_cpus`, and unless ``steady`` (a seeded call, whose
    rounding must not depend on the machine's load) by :func:`idle_cpus`."""
    import torch

    if _chosen is not None:
        return _chosen
    own = _own_setting if _own_setting is not None else torch.get_num_threads()
    return max(1, min(own, usable_cpus() if steady else idle_cpus()))


def idle_cpus() -> int:
    """:func:`usable_cpus` less those other processes keep busy (the 1-minute load average,
    counting this process once): at least 1.

    Measured with ``benchmarks/threads.py`` on a 2-core machine beside other busy processes: a
    short fit took 9.3 s on one thread and 46 s on two, so threads beyond the idle CPUs only
    wait for each other.
    """
    cpus = usable_cpus()
    try:
        busy_elsewhere = os.getloadavg()[0] - 1.0
    except (AttributeError, OSError):  # no load average (Windows)
        return cpus
    return max(1, min(cpus, math.floor(cpus - busy_elsewhere + 0.5)))


@contextmanager
def limited_threads(n: int | None = None, *, steady: bool = False) -> Iterator[int]:
    """Run the block with ``n`` torch threads (default :func:`chosen_threads` with ``steady``);
    restore the count after. Nested blocks start from the outermost one's own setting."""
    import torch

    global _own_setting
    previous = torch.get_num_threads()
    outermost = _own_setting is None
    if outermost:
        _own_setting = previous
    try:
        target = _check_threads(n) if n is not None else chosen_threads(steady)
        if steady and n is None and _chosen is None and idle_cpus() < target:
            _warn_busy(target)
        if target != previous:
            torch.set_num_threads(target)
        yield target
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
        if outermost:
            _own_setting = None


def _warn_busy(threads: int) -> None:
    from tvae.errors import TVAEWarning

    warnings.warn(
        f"other processes keep this machine's CPUs busy, and this seeded call runs {threads} "
        "threads so that its rows repeat whatever the load, which can be many times slower "
        "beside them; tvae.set_threads(n) (--threads n) sets a count of your own",
        TVAEWarning,
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """The ``stacklevel`` that names the first frame outside tvae (and contextlib): the user's
    call, not this module's line."""
    frame, level = sys._getframe(2), 2  # the frame that called warnings.warn's caller
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in _INTERNAL:
        frame, level = frame.f_back, level + 1
    return level


def seeded_threads(method: Callable) -> Callable:
    """Decorator for ``fit`` and ``sample``: run the call in :func:`limited_threads`, the count
    picked at each call, steady when the call is seeded by its own ``random_state`` or by the
    model's (see :func:`chosen_threads`)."""

    @functools.wraps(method)
    def wrapper(model: Any, *args: Any, **kwargs: Any) -> Any:
        seeded = kwargs.get("random_state") is not None or model.random_state is not None
        with limited_threads(steady=seeded):
            return method(model, *args, **kwargs)

    return wrapper
