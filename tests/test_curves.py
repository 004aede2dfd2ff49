"""Numbers that one or two other numbers nearly determine (tvae.transformer.curves)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvae import TVAE
from tvae.errors import InvalidParameterError
from tvae.transformer.curves import find_curves


def sunlight(aspect: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """A hillshade-like index: the light a slope facing ``aspect`` gets from the south-east."""
    a, s = np.radians(aspect), np.radians(slope)
    return 200 * (np.cos(s) * 0.7 + np.sin(s) * np.cos(a - np.radians(135)) * 0.7) + 30


def terrain(n: int = 3_000, seed: int = 0) -> pd.DataFrame:
    """Terrain cells: an aspect (degrees), a slope, an index computed from both and rounded
    (plus a little measurement noise), an elevation unrelated to it, and a land cover."""
    rng = np.random.default_rng(seed)
    aspect = rng.integers(0, 360, n)
    slope = np.minimum(rng.gamma(3.0, 5.0, n).round(), 60).astype(int)
    light = np.round(sunlight(aspect, slope) + rng.normal(0, 1, n)).astype(int)
    return pd.DataFrame(
        {
            "aspect": aspect,
            "slope": slope,
            "light": light,
            "elevation": rng.normal(2_500, 300, n).round(),
            "cover": rng.choice(["pine", "aspen", "spruce"], n),
        }
    )


KINDS = {"aspect": "numerical", "slope": "numerical", "light": "numerical",
         "elevation": "numerical", "cover": "categorical"}  # fmt: skip


def test_a_number_two_others_nearly_determine_is_found_as_a_curve():
    frame = terrain()
    found = find_curves(frame, KINDS)
    assert [(c.column, set(c.sources)) for c in found] == [("light", {"aspect", "slope"})]
    curve = found[0]
    xs = [frame[s].to_numpy(float) for s in curve.sources]
    miss = frame["light"].to_numpy() - curve.predict(xs)
    assert np.abs(miss).mean() < 1.5  # the rounding and the noise, not more
    # the residual's real spread is kept (the noise, the rounding and what the surface
    # misses between its knots), and not more
    assert (
        1.0 < np.abs(curve.residuals[[5, 95]]).min() <= np.abs(curve.residuals[[5, 95]]).max() < 3.5
    )
    # an index with much noise beside its sources is no curve, nor one on too few rows
    noisy = frame.assign(light=frame["light"] + np.random.default_rng(1).normal(0, 30, 3_000))
    assert find_curves(noisy, KINDS) == []
    assert find_curves(frame.head(500), KINDS) == []
    # a row counter of a file sorted by the index follows it closely, but it is the file's
    # order, not a quantity: neither a curve's column nor its source
    ordered = frame.sort_values("light", kind="stable").reset_index(drop=True)
    ordered["row"] = np.arange(len(ordered))
    kinds = {**KINDS, "row": "numerical"}
    assert [c.column for c in find_curves(ordered, kinds)] == ["light"]
    assert all("row" not in c.sources for c in find_curves(ordered, kinds))
    # a residual that goes with another column would lose that link when drawn on its own:
    # an index a pine's needles shade, or one a warm elevation raises, is no curve
    pine = frame.assign(light=frame["light"] + 3 * (frame["cover"] == "pine"))
    warm = frame.assign(light=frame["light"] + ((frame["elevation"] - 2_500) / 150).round())
    assert find_curves(pine, KINDS) == [] and find_curves(warm, KINDS) == []
    # while a label of many values, which explains any residual's spread by chance alone
    # (its groups of one or two rows), is no reason to refuse a curve
    named = frame.assign(cell=[f"cell {i % 2_000}" for i in range(3_000)])
    found = find_curves(named, {**KINDS, "cell": "categorical"})
    assert [c.column for c in found] == ["light"]
    # a target mostly at one value is a point mass, left to the point masses
    massed = frame.assign(light=frame["light"].where(frame.index % 5 > 0, 0))
    assert find_curves(massed, KINDS) == []


def test_sampled_rows_keep_the_curve_within_the_real_residuals(tmp_path):
    frame = terrain()
    model = TVAE(epochs=30, random_state=0).fit(frame)
    listed = {"type": "curve", "column": "light", "sources": ["aspect", "slope"]}
    assert listed in model.metadata_.dependencies
    rows = model.sample(2_000, random_state=1)
    assert rows.dtypes.equals(frame.dtypes)
    miss = rows["light"] - sunlight(rows["aspect"].to_numpy(), rows["slope"].to_numpy())
    real = frame["light"] - sunlight(frame["aspect"].to_numpy(), frame["slope"].to_numpy())
    # within a point of the real rows' misses (the network alone misses by far more: below)
    assert miss.abs().quantile(0.9) <= real.abs().quantile(0.9) + 1.0
    assert rows["light"].between(frame["light"].min(), frame["light"].max()).all()
    off = TVAE(epochs=30, random_state=0).fit(frame, metadata={"columns": {}, "dependencies": []})
    drawn = off.sample(2_000, random_state=1)
    alone = drawn["light"] - sunlight(drawn["aspect"].to_numpy(), drawn["slope"].to_numpy())
    assert alone.abs().quantile(0.9) > 3 * miss.abs().quantile(0.9)
    path = tmp_path / "model.tvae"
    model.save(path)
    assert TVAE.load(path).sample(300, random_state=2).equals(model.sample(300, random_state=2))


def test_a_conditioned_curve_column_keeps_the_asked_value():
    frame = terrain()
    model = TVAE(epochs=10, random_state=0).fit(frame)
    rows = model.sample(200, random_state=0, conditions={"light": 150})
    assert (rows["light"] == 150).all()
    asked = pd.DataFrame({"light": [150, np.nan, 150, np.nan], "cover": ["pine"] * 4})
    some = model.sample(random_state=0, conditions=asked)
    assert (some["light"].iloc[[0, 2]] == 150).all()
    assert (some["cover"] == "pine").all()


def test_inspect_shows_a_curve():
    from tvae.cli.render import _dependency_text

    item = {"type": "curve", "column": "light", "sources": ["aspect", "slope"]}
    assert _dependency_text([item]) == "light ~ a curve of aspect and slope"


def test_curves_can_be_declared_or_switched_off():
    frame = terrain()
    declared = [{"type": "curve", "column": "light", "sources": ["slope"]}]
    model = TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": declared})
    assert model.metadata_.dependencies == declared
    none = TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": []})
    assert none.metadata_.dependencies == []
    order = {"type": "order", "low": "light", "high": "elevation"}
    wrong = [
        ([{"type": "curve", "column": "light", "sources": ["cover"]}], "numerical columns"),
        ([{"type": "curve", "column": "light", "sources": ["nope"]}], "column names of train"),
        ([{"type": "curve", "column": "light", "sources": []}], "is not valid"),
        ([{"type": "curve", "column": "light", "sources": ["light"]}], "different columns"),
        ([*declared, {"type": "curve", "column": "slope", "sources": ["aspect"]}], "source"),
        ([*declared, order], "another dependency"),
    ]
    for items, message in wrong:
        with pytest.raises(InvalidParameterError, match=message):
            TVAE(epochs=1).fit(frame, metadata={"columns": {}, "dependencies": items})
    flat = frame.assign(slope=5)
    with pytest.raises(InvalidParameterError, match="'slope' holds one value"):
        TVAE(epochs=1).fit(flat, metadata={"columns": {}, "dependencies": declared})
    gaps = frame.assign(slope=frame["slope"].where(frame.index % 9 > 0))
    with pytest.raises(InvalidParameterError, match="'slope' is missing in some rows"):
        TVAE(epochs=1).fit(gaps, metadata={"columns": {}, "dependencies": declared})
    with pytest.raises(InvalidParameterError, match="curve of others"):
        TVAE(epochs=1, epsilon=10).fit(frame, metadata={"columns": {}, "dependencies": declared})
