"""How many CPU threads torch may use: no more than this process can actually run.

torch starts with one thread per core of the machine. In a container limited to fewer CPUs (a
cgroup quota), under ``taskset``, or beside other busy processes, the extra threads only wait
for each other, and a fit can run many times slower. :func:`usable_cpus` counts the CPUs the
process may run on (``os.sched_getaffinity``) and caps them by the cgroup CPU quota (cgroup v2
``cpu.max``; v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``).

``fit`` and ``sample`` run inside :func:`limited_threads`, which lowers torch's thread count to
the usable CPUs (or to the count given to :func:`set_threads`) and restores it afterwards. An
unseeded call also leaves out the CPUs other processes keep busy (:func:`idle_cpus`, measured
from ``/proc/stat`` over 50 ms, this process's own work left out). A seeded
one (``random_state``) does not: the thread count changes how sums are split, so their rounding,
and the same seed must give the same rows however busy the machine is (two seeded GPU fits on
a 16-core machine fitted different latent priors when the load average changed between them).
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvae.errors import InvalidParameterError

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_ROOT = Path("/proc")
BUSY_WINDOW_S = 0.05  # how long busy_elsewhere watches the CPUs (5 ticks of each at 100 Hz)
BUSY_CACHE_S = 2.0  # and how long it trusts what it saw: sample() in a loop pays once
_busy_cache: tuple[float, float] | None = None  # (time.monotonic(), CPUs busy elsewhere)
_chosen: int | None = None  # set_threads(n); None: automatic
_own_setting: int | None = None  # torch's thread count outside the outermost limited_threads


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
    cpus = len(_affinity())
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
    if own <= 1:  # nothing to lower: spare idle_cpus' 50 ms
        return 1
    return max(1, min(own, usable_cpus() if steady else idle_cpus()))


def idle_cpus() -> int:
    """:func:`usable_cpus` less those other processes keep busy (:func:`busy_elsewhere`): at
    least 1.

    Measured with ``benchmarks/threads.py`` on a 2-core machine beside other busy processes: a
    short fit took 9.3 s on one thread and 46 s on two, so threads beyond the idle CPUs only
    wait for each other.
    """
    cpus = usable_cpus()
    busy = busy_elsewhere()
    if busy is None:
        return cpus
    return max(1, min(cpus, math.floor(len(_affinity()) - busy + 0.5)))


@dataclass(frozen=True)
class CpuTimes:
    """Clock ticks from ``/proc``: of this process's CPUs, busy (any process, or the hypervisor's
    steal) and in all; and this process's own (every thread)."""

    busy: int
    total: int
    own: int


def cpu_times(cpus: Iterable[int], root: str | os.PathLike = PROC_ROOT) -> CpuTimes | None:
    """The ticks of ``cpus`` (``cpuN`` lines of ``/proc/stat``) and of this process (utime and
    stime of ``/proc/self/stat``); None where ``/proc`` does not say (macOS, Windows)."""
    root, wanted = Path(root), {f"cpu{n}" for n in cpus}
    stat, own = _read(root / "stat"), _read(root / "self" / "stat")
    if stat is None or own is None:
        return None
    busy = total = 0
    try:
        for line in stat.splitlines():
            name, *values = line.split()
            if name in wanted:
                # user nice system idle iowait irq softirq steal
                ticks = [int(v) for v in values[:8]]
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
        fields = own.rsplit(")", 1)[1].split()  # after "pid (name)": state is field 3
        own_ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    except (ValueError, IndexError):
        return None
    return CpuTimes(busy, total, own_ticks) if total else None


def busy_between(before: CpuTimes, after: CpuTimes, n_cpus: int) -> float | None:
    """CPUs (of ``n_cpus``) that processes other than this one kept busy between two readings."""
    total = after.total - before.total
    if total <= 0:
        return None
    others = (after.busy - before.busy) - (after.own - before.own)
    return max(0.0, others / total * n_cpus)


def busy_elsewhere(window: float = BUSY_WINDOW_S) -> float | None:
    """CPUs of this process's affinity that other processes keep busy, measured over ``window``
    seconds while this process waits (remembered for BUSY_CACHE_S seconds).

    Not the load average: it counts every runnable thread, this process's own among them, so on
    an idle 16-core GPU machine every seeded call after a 16-thread fit warned of busy CPUs.
    This process's own ticks are subtracted, as its threads may still spin. Where ``/proc``
    is missing, the 1-minute load average less one (this process) stands in; None without one.
    """
    global _busy_cache
    now = time.monotonic()
    if _busy_cache is not None and now - _busy_cache[0] < BUSY_CACHE_S:
        return _busy_cache[1]
    cpus = _affinity()
    before = cpu_times(cpus)
    if before is not None:
        time.sleep(window)
        after = cpu_times(cpus)
        busy = busy_between(before, after, len(cpus)) if after is not None else None
    else:
        try:
            busy = max(0.0, os.getloadavg()[0] - 1.0)
        except (AttributeError, OSError):  # no load average (Windows)
            busy = None
    _busy_cache = (time.monotonic(), busy) if busy is not None else None
    return busy


def _affinity() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return set(range(os.cpu_count() or 1))


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
        if steady and n is None and _chosen is None and target > 1 and idle_cpus() < target:
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
    from tvae.errors import TVAEWarning, user_stacklevel

    warnings.warn(
        f"other processes keep this machine's CPUs busy, and this seeded call runs {threads} "
        "threads so that its rows repeat whatever the load, which can be many times slower "
        "beside them; tvae.set_threads(n) (--threads n) sets a count of your own",
        TVAEWarning,
        stacklevel=user_stacklevel(),
    )


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
