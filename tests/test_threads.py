"""Thread counts: CPUs the process may use (affinity, cgroup quota) and torch's setting."""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import tvae
import tvae.fitting
import tvae.threads
from tvae.threads import cgroup_cpu_limit, limited_threads, set_threads, usable_cpus


def write(folder, **files):
    for name, text in files.items():
        path = folder / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_cgroup_v2_quota(tmp_path):
    assert cgroup_cpu_limit(write(tmp_path / "a", **{"cpu.max": "150000 100000\n"})) == 1.5
    assert cgroup_cpu_limit(write(tmp_path / "b", **{"cpu.max": "max 100000\n"})) is None
    assert cgroup_cpu_limit(write(tmp_path / "c", **{"cpu.max": "garbage\n"})) is None
    assert cgroup_cpu_limit(tmp_path / "none") is None


def test_cgroup_v1_quota_in_each_layout(tmp_path):
    flat = write(tmp_path / "a", **{"cpu.cfs_quota_us": "200000", "cpu.cfs_period_us": "100000"})
    assert cgroup_cpu_limit(flat) == 2.0
    nested = write(tmp_path / "b", **{"cpu,cpuacct__cpu.cfs_quota_us": "50000",
                                      "cpu,cpuacct__cpu.cfs_period_us": "100000"})  # fmt: skip
    assert cgroup_cpu_limit(nested) == 0.5
    unlimited = write(tmp_path / "c", **{"cpu__cpu.cfs_quota_us": "-1",
                                         "cpu__cpu.cfs_period_us": "100000"})  # fmt: skip
    assert cgroup_cpu_limit(unlimited) is None


def test_usable_cpus_is_the_affinity_capped_by_the_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_cpus(tmp_path / "none") == affinity
    assert usable_cpus(write(tmp_path / "a", **{"cpu.max": "100000 100000"})) == 1
    assert usable_cpus(write(tmp_path / "b", **{"cpu.max": "30000 100000"})) == 1  # at least 1
    assert usable_cpus(write(tmp_path / "c", **{"cpu.max": "6400000 100000"})) == affinity


def test_limited_threads_sets_and_restores():
    before = torch.get_num_threads()
    with limited_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(tvae.InvalidParameterError, match="threads"), limited_threads(0):
        pass
    with pytest.raises(tvae.InvalidParameterError, match="threads"):
        set_threads(-2)


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # as torch starts on a 2-core machine
    yield
    torch.set_num_threads(previous)


def test_fit_and_sample_run_on_the_usable_cpus(monkeypatch, two_threads):
    seen = []
    real_train = tvae.fitting.train

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(tvae.fitting, "train", spy)
    monkeypatch.setattr(tvae.threads, "busy_elsewhere", lambda: 0.0)  # an idle machine
    monkeypatch.setattr(tvae.threads, "usable_cpus", lambda: 1)  # as in a 1-CPU container
    before = torch.get_num_threads()
    assert before == 2
    table = pd.DataFrame({"x": np.arange(40.0), "c": ["a", "b"] * 20})
    model = tvae.TVAE(epochs=1, random_state=0).fit(table)
    assert seen == [1] and torch.get_num_threads() == before
    monkeypatch.setattr(tvae.threads, "usable_cpus", lambda: 64)
    try:
        tvae.set_threads(2)
        model.fit(table)
        assert seen[-1] == 2  # set_threads wins over the automatic count
    finally:
        tvae.set_threads(None)
    model.fit(table)
    assert seen[-1] == before  # automatic: torch's own setting when the CPUs allow it
    assert len(model.sample(5)) == 5 and torch.get_num_threads() == before


def test_a_seeded_fit_or_sample_keeps_its_thread_count_on_a_busy_machine(monkeypatch, two_threads):
    """The thread count changes the rounding of sums: a seeded call must not follow the load."""
    seen = []
    real_train, real_blocks = tvae.fitting.train, tvae.synthesizer.encoded_blocks

    def spy(real):
        def wrapper(*args, **kwargs):
            seen.append(torch.get_num_threads())
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(tvae.fitting, "train", spy(real_train))
    monkeypatch.setattr(tvae.synthesizer, "encoded_blocks", spy(real_blocks))
    monkeypatch.setattr(tvae.threads, "usable_cpus", lambda: 2)
    monkeypatch.setattr(tvae.threads, "_affinity", lambda: {0, 1})
    monkeypatch.setattr(tvae.threads, "busy_elsewhere", lambda: 2.0)  # both CPUs busy
    table = pd.DataFrame({"x": np.arange(40.0), "c": ["a", "b"] * 20})
    with pytest.warns(tvae.TVAEWarning, match=r"seeded call runs 2 threads.*set_threads") as got:
        seeded = tvae.TVAE(epochs=1, random_state=0).fit(table)
    assert got[0].filename == __file__  # the user's line, not one inside tvae
    with pytest.warns(tvae.TVAEWarning, match="busy"):
        seeded.sample(5)
    assert seen == [2, 2]  # torch's own setting, as on an idle machine
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unseeded call takes the idle CPUs, silently
        unseeded = tvae.TVAE(epochs=1).fit(table)
        unseeded.sample(5)
    with pytest.warns(tvae.TVAEWarning, match="busy"):
        unseeded.sample(5, random_state=1)  # a seeded call of an unseeded model
    assert seen[2:] == [1, 1, 2]
    with tvae.threads.limited_threads() as outer:  # as the CLI wraps a fit
        assert outer == 1
        with pytest.warns(tvae.TVAEWarning, match="busy"):
            seeded.fit(table)
    assert seen[-1] == 2 and torch.get_num_threads() == 2  # from the outermost own setting
    try:
        tvae.set_threads(1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a count of the user's own: no warning
            seeded.fit(table)
    finally:
        tvae.set_threads(None)
    assert seen[-1] == 1


def test_automatic_threads_leave_out_cpus_other_processes_keep_busy(monkeypatch):
    monkeypatch.setattr(tvae.threads, "usable_cpus", lambda: 4)
    monkeypatch.setattr(tvae.threads, "_affinity", lambda: {0, 1, 2, 3})
    for busy, idle in [(0.0, 4), (2.2, 2), (8.0, 1)]:  # never fewer than one
        monkeypatch.setattr(tvae.threads, "busy_elsewhere", lambda busy=busy: busy)
        assert tvae.threads.idle_cpus() == idle
    monkeypatch.setattr(tvae.threads, "usable_cpus", lambda: 2)  # a quota of 2 of the 4 CPUs
    monkeypatch.setattr(tvae.threads, "busy_elsewhere", lambda: 1.0)
    assert tvae.threads.idle_cpus() == 2  # 3 of the 4 are idle: the quota is the limit


def _proc(folder, cpus: list[list[int]], utime: int, stime: int):
    lines = ["cpu  " + " ".join(str(sum(c)) for c in zip(*cpus, strict=True))]
    lines += [f"cpu{n} " + " ".join(map(str, ticks)) + " 0 0" for n, ticks in enumerate(cpus)]
    own = f"42 (python3 (x)) R 1 42 42 0 -1 4194304 10 0 0 0 {utime} {stime} 0 0 20 0 3 0"
    return write(folder, stat="\n".join(lines) + "\nintr 1 2 3\n", self__stat=own)


def test_busy_cpus_are_read_from_proc_stat_without_this_process(tmp_path):
    # user nice system idle iowait irq softirq steal, per CPU
    before = _proc(tmp_path / "a", [[100, 0, 0, 900, 0, 0, 0, 0]] * 2, utime=50, stime=0)
    times = tvae.threads.cpu_times([0, 1], before)
    assert times == tvae.threads.CpuTimes(busy=200, total=2000, own=50)
    assert tvae.threads.cpu_times([1], before).total == 1000  # only the CPUs asked for
    # 20 ticks on each CPU: 10 + 10 (+ 2 stolen) busy, of which this process ran 12
    after = _proc(tmp_path / "b", [[110, 0, 0, 910, 0, 0, 0, 0], [108, 0, 0, 910, 0, 0, 0, 2]],
                  utime=60, stime=2)  # fmt: skip
    later = tvae.threads.cpu_times([0, 1], after)
    assert tvae.threads.busy_between(times, later, 2) == pytest.approx(0.4)  # (20 - 12) / 40 * 2
    assert tvae.threads.cpu_times([0], tmp_path / "none") is None


def test_this_process_own_threads_are_not_counted_as_busy_elsewhere(monkeypatch):
    def measure() -> float:
        tvae.threads._busy_cache = None
        return tvae.threads.busy_elsewhere(0.3)

    if tvae.threads.cpu_times([0]) is None:
        pytest.skip("needs /proc")
    quiet = measure()
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        # one of our threads keeps a CPU busy the whole time. Counted as elsewhere, it would
        # read about 1 every time; the least of three reads leaves out a moment when another
        # process (or the hypervisor's steal) happens to take a CPU: once, on CI, 0.87.
        spinning = min(measure() for _ in range(3))
    finally:
        stop.set()
        spinner.join()
    assert spinning < quiet + 0.5


def test_busy_elsewhere_is_remembered_and_falls_back_to_the_load_average(monkeypatch):
    calls = []
    monkeypatch.setattr(tvae.threads, "_busy_cache", None)
    monkeypatch.setattr(tvae.threads, "cpu_times", lambda cpus: calls.append(cpus))  # no /proc
    monkeypatch.setattr(tvae.threads.os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    assert tvae.threads.busy_elsewhere() == 2.0  # this process counted once
    monkeypatch.setattr(tvae.threads.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert tvae.threads.busy_elsewhere() == 2.0 and len(calls) == 1  # remembered for 2 s
    monkeypatch.setattr(tvae.threads, "_busy_cache", None)
    assert tvae.threads.busy_elsewhere() == 8.0
