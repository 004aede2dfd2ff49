"""Shares computed from two counts in nearly every row (tvae.transformer.rates)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import InvalidParameterError
from tvae.transformer.dependencies import Dependencies
from tvae.transformer.determination import Order
from tvae.transformer.joint import JointDetermination
from tvae.transformer.near import checked_only, keeps_checks
from tvae.transformer.rates import Rate, find_rates


def connections(n: int = 3_000, seed: int = 0) -> pd.DataFrame:
    """Connection counts in a window and the share of them to the same service, capped at 1
    and written to two decimals, but for 2 % of rows computed over another window; a share of
    errors that no count gives; a protocol."""
    rng = np.random.default_rng(seed)
    count = rng.integers(1, 200, n)
    same = np.minimum(rng.binomial(count, rng.beta(2, 2, n)) + rng.integers(0, 3, n), 255)
    share = np.round(np.minimum(same, count) / count, 2)
    other = rng.random(n) < 0.02
    share[other] = np.round(rng.random(other.sum()), 2)
    return pd.DataFrame(
        {
            "count": count,
            "same": same,
            "share": share,
            "errors": np.round(rng.beta(1, 8, n), 2),
            "protocol": rng.choice(["tcp", "udp", "icmp"], n),
        }
    )


KINDS = {"count": "numerical", "same": "numerical", "share": "numerical",
         "errors": "numerical", "protocol": "categorical"}  # fmt: skip


def kept(rows: pd.DataFrame) -> float:
    expected = np.round(np.minimum(rows["same"], rows["count"]) / rows["count"], 2)
    return float(np.isclose(rows["share"], expected).mean())


def test_a_share_of_two_counts_in_nearly_every_row_is_found():
    frame = connections()
    shape = lambda rates: [(r.column, r.part, r.whole, r.scale, r.decimals) for r in rates]  # noqa: E731
    (found,) = find_rates(frame, KINDS)
    assert shape([found]) == [("share", "same", "count", 1.0, 2)]
    assert found.kept == pytest.approx(0.98, abs=0.01)  # the rows computed over one window
    # as a percentage with one decimal
    percent = frame.assign(share=np.round(100 * np.minimum(frame["same"], frame["count"])
                                          / frame["count"], 1))  # fmt: skip
    assert shape(find_rates(percent, KINDS)) == [("share", "same", "count", 100.0, 1)]
    # a share that holds in fewer rows, or one mostly 0 that a tiny count over a large one
    # matches (0.00) without being computed from them, is no rate
    loose = frame.assign(share=frame["share"].where(frame.index % 10 > 0, 0.5))
    assert find_rates(loose, KINDS) == []
    rare = frame.assign(share=np.where(frame.index % 20 == 0, 0.3, 0.0),
                        same=np.where(frame.index % 20 == 0, 1, 0), count=10**6)  # fmt: skip
    assert find_rates(rare, KINDS) == []


def test_sampled_rows_keep_the_share_about_as_often_as_the_real_ones(tmp_path):
    frame = connections()
    model = TVAE(epochs=20, random_state=0).fit(frame)
    listed = {"type": "rate", "column": "share", "part": "same", "whole": "count",
              "scale": 1.0, "decimals": 2}  # fmt: skip
    assert listed in model.metadata_.dependencies
    rows = model.sample(2_000, random_state=1)
    assert rows.dtypes.equals(frame.dtypes)
    off = TVAE(epochs=20, random_state=0).fit(frame, metadata={"columns": {}, "dependencies": []})
    alone = kept(off.sample(2_000, random_state=1))
    assert kept(rows) >= 0.9 > alone  # the real rows: 0.98
    path = tmp_path / "model.tvae"
    model.save(path)
    assert TVAE.load(path).sample(300, random_state=2).equals(model.sample(300, random_state=2))
    asked = model.sample(100, random_state=0, conditions={"share": 0.5})
    assert (asked["share"] == 0.5).all()


def test_inspect_shows_a_rate():
    from tvae.cli.render import _dependency_text

    item = {"type": "rate", "column": "r", "part": "a", "whole": "b", "scale": 100.0}
    assert _dependency_text([item]) == "r = 100 * min(a, b) / b in nearly every row"


def test_rates_can_be_declared_or_switched_off():
    frame = connections()
    declared = [{"type": "rate", "column": "share", "part": "same", "whole": "count"}]
    model = TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": declared})
    assert model.metadata_.dependencies == [{**declared[0], "scale": 1.0, "decimals": 2}]
    none = TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": []})
    assert none.metadata_.dependencies == []
    wrong = [
        ([{"type": "rate", "column": "share", "part": "same", "whole": "nope"}], "not valid"),
        ([{"type": "rate", "column": "share", "part": "protocol", "whole": "count"}], "a share"),
        ([{"type": "rate", "column": "errors", "part": "same", "whole": "count"}], "only"),
        ([*declared, {"type": "order", "low": "share", "high": "count"}], "another"),
    ]
    for items, message in wrong:
        with pytest.raises(InvalidParameterError, match=message):
            TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": items})
    with pytest.raises(InvalidParameterError, match="counts' share"):
        TVAE(epochs=1, epsilon=10).fit(frame, metadata={"columns": {}, "dependencies": declared})


def test_a_full_share_drawn_keeps_its_real_rate_by_raising_the_part():
    # 60 % of the real rows have a full share (the part at least the whole); the drawn rows
    # too, but their counts give it in 40 %: setting every share on its counts would leave
    # 40 %, so the parts nearest the whole in 20 % of the rows are raised instead
    rng = np.random.default_rng(0)
    n = 5_000
    whole = rng.integers(10, 100, n).astype(float)
    full = rng.random(n) < 0.4
    part = np.where(full, whole + rng.integers(0, 5, n), np.floor(whole * rng.random(n)))
    drawn = np.where(rng.random(n) < 0.6, 1.0, np.round(part / whole, 2)).clip(0, 1)
    drawn[full] = 1.0
    rate = Rate("share", "part", "whole", full=0.6)
    share = rate.values(part, whole)
    everywhere = np.ones(n, dtype=bool)
    raised = rate.raised(part, whole, share, drawn, everywhere, everywhere)
    final = np.where(raised, 1.0, share)
    assert (final == 1.0).mean() == pytest.approx(0.6, abs=0.001)
    assert (drawn[raised] == 1.0).all() and (part[raised] < whole[raised]).all()
    # the parts nearest their whole go first
    gap = (whole - part) / whole
    lifted = raised | (drawn == 1.0) & (part >= whole)
    assert gap[raised].max() <= gap[(drawn == 1.0) & ~lifted].min()
    # a part that may not move stays; counts that give the full share often enough raise none
    held = np.arange(n) % 2 == 0
    assert not rate.raised(part, whole, share, drawn, everywhere, ~held)[held].any()
    assert (
        not replace(rate, full=0.3).raised(part, whole, share, drawn, everywhere, everywhere).any()
    )


def test_a_share_only_pair_checks_read_may_be_a_rate_that_keeps_them():
    # `service` and `share` give `guest` in every real row (a pair check); nothing else reads
    # `share`, so it may be set on its counts where the pair it makes keeps the check
    check = JointDetermination(("service", "share"), "guest", [("ftp", 0.5), ("http", 0.5)],
                               [1, 0], [3, 4])  # fmt: skip
    dependencies = Dependencies(joint_checks=[check])
    assert checked_only(dependencies, set()) == {"service", "share"}
    dependencies.orders = [Order("service", "share")]
    assert checked_only(dependencies, set()) == set()
    rows = pd.DataFrame({"service": ["ftp", "http", "ftp", "http"], "guest": [0, 0, 0, 1]})
    kept_check = keeps_checks(rows, [check], "share", np.array([0.5, 0.5, 0.7, 0.5]))
    assert kept_check.tolist() == [False, True, True, False]  # 0.7 with ftp: no real row
