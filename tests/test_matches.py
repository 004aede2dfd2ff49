"""Two numbers equal in many rows, not all (tvae.transformer.matches)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import InvalidParameterError
from tvae.transformer.matches import Match, find_matches


def visits(n: int = 3_000, seed: int = 0) -> pd.DataFrame:
    """Visits counted by two trackers: the same number for 60 % of visitors, a few more or
    fewer for the others; pages seen, unrelated; a device."""
    rng = np.random.default_rng(seed)
    front = rng.poisson(8, n) + 3
    step = rng.choice([-2, -1, 1, 2, 3], n)
    total = front + np.where(rng.random(n) < 0.6, 0, step)
    return pd.DataFrame(
        {
            "front": front,
            "total": total,
            "pages": rng.poisson(8, n) + 1,
            "device": rng.choice(["phone", "desktop"], n),
        }
    )


KINDS = {"front": "numerical", "total": "numerical", "pages": "numerical",
         "device": "categorical"}  # fmt: skip


def equal_share(rows: pd.DataFrame) -> float:
    return float((rows["front"] == rows["total"]).mean())


def test_two_numbers_equal_in_many_rows_are_found_as_a_match():
    frame = visits()
    (found,) = find_matches(frame, KINDS)
    assert (found.first, found.second) == ("front", "total")
    assert found.share == pytest.approx(equal_share(frame))
    # `pages` has values like `front`'s but is equal to it only by chance (about 13 %);
    # two mostly-zero counts, equal mostly at 0, and a row counter match nothing
    rng = np.random.default_rng(1)
    rare = lambda: rng.binomial(1, 0.05, 3_000) * rng.integers(1, 9, 3_000)  # noqa: E731
    sparse = pd.DataFrame({"a": rare(), "b": rare()})
    assert find_matches(sparse, {"a": "numerical", "b": "numerical"}) == []
    counter = frame.sort_values("front").assign(row=np.arange(3_000))
    counter["front"] = np.where(np.arange(3_000) % 2 == 0, counter["row"], counter["front"])
    assert all("row" not in (m.first, m.second) for m in find_matches(counter, KINDS))


def test_sampled_rows_are_equal_as_often_as_the_real_ones(tmp_path):
    frame = visits()
    model = TVAE(epochs=10, random_state=0).fit(frame)
    listed = [d for d in model.metadata_.dependencies if d["type"] == "match"]
    assert [d["columns"] for d in listed] == [["front", "total"]]
    rows = model.sample(2_000, random_state=1)
    assert equal_share(rows) == pytest.approx(equal_share(frame), abs=0.02)
    off = TVAE(epochs=10, random_state=0).fit(frame, metadata={"columns": {}, "dependencies": []})
    assert equal_share(off.sample(2_000, random_state=1)) < equal_share(frame) - 0.1
    path = tmp_path / "model.tvae"
    model.save(path)
    assert TVAE.load(path).sample(300, random_state=2).equals(model.sample(300, random_state=2))
    asked = model.sample(100, random_state=0, conditions={"total": 20})
    assert (asked["total"] == 20).all()


def shares(values: np.ndarray) -> pd.Series:
    return pd.Series(values).value_counts(normalize=True)


def prices(n: int, seed: int, cheap_kept: float) -> pd.DataFrame:
    """A brand's price in two stores: the same in half the weeks; 0.69 and 0.89 in 30 % (a
    standing pair); one price step lower in the second store in the rest (a sale). Of the
    weeks equal at the two low prices, ``cheap_kept`` stay equal, the others a sale."""
    rng = np.random.default_rng(seed)
    price = np.array([0.39, 0.59, 0.69, 0.89])
    same = rng.choice(4, n, p=[0.1, 0.2, 0.3, 0.4])
    sale = rng.choice([1, 2, 3], n)
    kind = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    lost = (kind == 0) & (same < 2) & (rng.random(n) > cheap_kept)
    kind, sale = np.where(lost, 2, kind), np.where(lost, same + 1, sale)
    first = np.select([kind == 0, kind == 1], [price[same], 0.69], price[sale])
    second = np.select([kind == 0, kind == 1], [price[same], 0.89], price[sale - 1])
    return pd.DataFrame({"a": first, "b": second})


def test_rows_are_made_equal_where_the_drawn_rows_lack_equal_values():
    real = prices(20_000, 0, cheap_kept=1.0)
    match = Match.measured("a", "b", real)
    assert match.share == pytest.approx(0.5, abs=0.01)
    assert match.values == (0.39, 0.59, 0.69, 0.89)
    assert sum(match.shares) == pytest.approx(match.share)
    # drawn rows: equal at the two low prices a third as often; the standing pair as real
    drawn = prices(20_000, 1, cheap_kept=1 / 3)
    everywhere = np.ones(20_000, dtype=bool)
    first, second = drawn["a"].to_numpy(), drawn["b"].to_numpy()
    common, moves = match.settled(first, second, everywhere, everywhere)
    new_first = np.where(moves == 1, common, first)
    new_second = np.where(moves == 2, common, second)
    assert (new_first == new_second).mean() == pytest.approx(match.share, abs=0.001)
    equal_at = lambda a, b, v: float(((a == v) & (b == v)).mean())  # noqa: E731
    for value, share in zip(match.values, match.shares, strict=True):
        assert equal_at(new_first, new_second, value) == pytest.approx(share, abs=0.01)
    # the standing pair, one price step apart, is not broken up to make rows equal
    standing = lambda a, b: float(((a == 0.69) & (b == 0.89)).mean())  # noqa: E731
    assert standing(new_first, new_second) > 0.95 * standing(first, second)
    assert set(np.unique(moves)) == {0, 1, 2}  # each column takes the other's value in some
    # a column conditioned in some rows does not move there
    held = np.arange(20_000) < 10_000
    common, moves = match.settled(first, second, ~held, everywhere)
    assert not (moves[held] == 1).any() and (moves[held] == 2).any()


def test_inspect_shows_a_match():
    from tvae.cli.render import _dependency_text

    item = {"type": "match", "columns": ["front", "total"], "share": 0.6}
    assert _dependency_text([item]) == "front = total in 60% of rows"


def test_matches_can_be_declared_or_switched_off():
    frame = visits()
    declared = [{"type": "match", "columns": ["front", "pages"]}]
    model = TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": declared})
    (item,) = model.metadata_.dependencies
    assert item["columns"] == ["front", "pages"] and item["share"] < 0.2
    none = TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": []})
    frame = frame.assign(pages_seen=frame["pages"] + 1)  # an order a match may not cross
    assert none.metadata_.dependencies == []
    wrong = [
        ([{"type": "match", "columns": ["front"]}], "not valid"),
        ([{"type": "match", "columns": ["front", "device"]}], "numerical"),
        ([*declared, {"type": "match", "columns": ["front", "total"]}], "twice"),
        ([*declared, {"type": "order", "low": "pages", "high": "pages_seen"}], "another"),
    ]
    for items, message in wrong:
        with pytest.raises(InvalidParameterError, match=message):
            TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": items})
    with pytest.raises(InvalidParameterError, match="not matched"):
        TVAE(epochs=1, epsilon=10).fit(frame, metadata={"columns": {}, "dependencies": declared})
