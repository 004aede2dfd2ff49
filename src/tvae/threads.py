"""How many CPU threads torch may use: no more than this process can actually run.

torch starts with one thread per core of the machine. In a container limited to fewer CPUs (a
cgroup quota), under ``taskset``, or beside other busy processes, the extra threads only wait
for each other, and a fit can run many times slower. :func:`usable_cpus` counts the CPUs the
process may run on (``os.sched_getaffinity``) and caps them by the cgroup CPU quota (cgroup v2
``cpu.max``; v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``).

``fit`` and ``sample`` run inside :func:`limited_threads`, which lowers torch's thread count to
:func:`idle_cpus` -- the usable CPUs less those other processes keep busy -- (or to the count
given to :func:`set_threads`) and restores it afterwards.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tvae.errors import InvalidParameterError

CGROUP_ROOT = Path("/sys/fs/cgroup")
_chosen: int | None = None  # set_threads(n); None: automatic


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


def chosen_threads() -> int:
    """The thread count ``fit`` and ``sample`` will use now."""
    import torch

    if _chosen is not None:
        return _chosen
    return max(1, min(torch.get_num_threads(), idle_cpus()))


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
def limited_threads(n: int | None = None) -> Iterator[int]:
    """Run the block with ``n`` torch threads (default :func:`chosen_threads`); restore after.

    Also a decorator, ``@limited_threads()``, that picks the count anew at each call."""
    import torch

    target = _check_threads(n) if n is not None else chosen_threads()
    previous = torch.get_num_threads()
    if target != previous:
        torch.set_num_threads(target)
    try:
        yield target
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
