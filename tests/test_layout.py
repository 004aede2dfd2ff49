import numpy as np
import pytest

from tvae.layout import Layout, Span


def test_from_widths_computes_offsets_and_width():
    layout = Layout.from_widths([("tanh", 1, "a"), ("softmax", 3, "a"), ("softmax", 2, "b")])
    assert [s.offset for s in layout.spans] == [0, 1, 4]
    assert layout.width == 6
    assert layout.tanh_positions.tolist() == [0]
    assert layout.softmax_offsets.tolist() == [1, 4]
    assert layout.softmax_widths.tolist() == [3, 2]


def test_softmax_gather_packs_blocks_with_padding():
    layout = Layout.from_widths([("tanh", 1, "a"), ("softmax", 3, "a"), ("softmax", 2, "b")])
    index, mask = layout.softmax_gather
    assert index.shape == (2, 3)
    assert index[0].tolist() == [1, 2, 3]
    assert index[1, :2].tolist() == [4, 5]
    assert mask.tolist() == [[False, False, False], [False, False, True]]


@pytest.mark.parametrize(
    "spans",
    [
        (Span("tanh", 1, 0, "a"), Span("softmax", 2, 2, "a")),  # gap
        (Span("tanh", 1, 0, "a"), Span("softmax", 2, 0, "a")),  # overlap
        (Span("tanh", 2, 0, "a"),),  # tanh wider than 1
        (Span("softmax", 0, 0, "a"),),  # empty span
    ],
)
def test_layout_rejects_spans_that_do_not_tile(spans):
    with pytest.raises(ValueError):
        Layout(spans)


def test_layout_round_trips_through_json_list():
    layout = Layout.from_widths([("tanh", 1, "x"), ("softmax", 4, "x"), ("softmax", 7, "y")])
    assert Layout.from_list(layout.to_list()) == layout
    assert np.array_equal(Layout.from_list(layout.to_list()).softmax_widths, [4, 7])


def test_the_layout_places_each_column_in_the_alphas_and_the_codes() -> None:
    # a numerical column (tanh + modes), a categorical one, another numerical one
    layout = Layout.from_widths(
        [("tanh", 1, "x"), ("softmax", 3, "x"), ("softmax", 4, "c"), ("tanh", 1, "y"),
         ("softmax", 2, "y")]
    )  # fmt: skip
    assert layout.slots == (0, 0, 1, 1, 2)
    assert layout.column_slices([2, 1, 2]) == [
        (slice(0, 1), slice(0, 1)),
        (slice(1, 1), slice(1, 2)),
        (slice(1, 2), slice(2, 3)),
    ]
    with pytest.raises(ValueError, match="spans"):
        layout.column_slices([2, 1])
