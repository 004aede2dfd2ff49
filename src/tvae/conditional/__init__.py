"""Conditional sampling: synthetic rows that satisfy given column values exactly.

The decoder gives the probability of a condition given a latent z in closed form:
  * categorical column, allowed categories A:  w = sum_{c in A} softmax(logits)_c
  * numeric column, range [lo, hi]:  w = sum_k softmax(mode logits)_k * P(alpha in I_k), with
    alpha ~ N(tanh(out), sigma) clipped to [-1, 1] and I_k the range mapped through mode k;
    equality on a float column uses the density at the value instead (integers: [v-.5, v+.5]).
Latents z ~ N(0, I) are kept with probability w(z) / M, M the largest weight seen (rejection
sampling against the model's own likelihood: rare values cost far fewer draws than rejecting
decoded rows, and no row is ever decoded to a table only to be thrown away). Kept latents are
decoded as usual, except that the conditioned spans are drawn from their distribution restricted
to the condition (a category from the allowed set; mode and alpha from the truncated normal), and
conditioned values are finally set (equality) or clipped (range), so every row satisfies them
exactly. The mean of w over the draws estimates the probability of the conditions; the error for
a (nearly) impossible condition reports it. docs/conditional.md records the measurements behind
this choice.

New column kinds plug in through :mod:`tvae.conditional.kinds` (``NUMERIC_KINDS`` for kinds
encoded as a tanh alpha plus a mode softmax, ``CATEGORY_KINDS`` for one-softmax kinds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from tvae.conditional.conditions import CategoricalCondition, NumericCondition
from tvae.conditional.cuts import through_cuts
from tvae.conditional.date_parts import check_date_parts, date_ranges
from tvae.conditional.dependent import check_sums, through_dependencies
from tvae.conditional.held import allowed_sets, fixed_rows_of, merged, range_limits
from tvae.conditional.kinds import CATEGORY_KINDS, NUMERIC_KINDS, NumericView
from tvae.conditional.label_bounds import within_label_ranges
from tvae.conditional.lines import through_lines
from tvae.conditional.offsets import through_offsets
from tvae.conditional.orders import explained, through_orders
from tvae.conditional.parse import check_sets, count_requested, parse_conditions
from tvae.conditional.presence import through_presence
from tvae.conditional.sampler import draw_latents
from tvae.drawn_maps import map_drawn
from tvae.errors import ConditionError
from tvae.layout import SpanIndex
from tvae.refiner import Refiner
from tvae.sampled_repairs import Repairs
from tvae.sampling import decode_outputs

REFINE_ROUNDS = 10  # draws of a row the refiner keeps dropping, at most, after the first

__all__ = [
    "CATEGORY_KINDS",
    "NUMERIC_KINDS",
    "NumericView",
    "count_requested",
    "parse_conditions",
    "sample_conditional",
]


@torch.no_grad()
def sample_conditional(
    transformer: Any,
    layout: Any,
    decoder: torch.nn.Module,
    prior: Any,
    conditions: Mapping | pd.DataFrame,
    n_rows: int | None,
    generator: torch.Generator,
    decoding: str = "sample",
    *,
    id_offset: int = 0,
    refiner: Refiner | None = None,
    **limits: Any,
) -> pd.DataFrame:
    """Rows meeting ``conditions``: ``n_rows`` for a dict, one per row of a frame, in order.

    ``prior`` draws latents (see :mod:`tvae.prior`). A condition on a column that another
    determines is asked of the determining column instead (the values that map into it), so
    the dependency holds in every row. ID columns number the rows from position ``id_offset``
    (see :meth:`TableTransformer.inverse_transform <tvae.transformer.TableTransformer>`).
    With a ``refiner`` (:mod:`tvae.refiner`), a row it does not keep is drawn again, with
    the same conditions, up to REFINE_ROUNDS times (the last draw stays). ``limits``
    (``max_candidates``) are passed to :func:`draw_latents`.
    """
    device = generator.device
    asked = list(conditions.columns if isinstance(conditions, pd.DataFrame) else conditions)
    check_sums(transformer, conditions)
    check_sets(transformer, conditions)
    check_date_parts(transformer, conditions)
    given, (conditions, bounded) = conditions, through_orders(transformer, conditions)
    try:
        conditions, settle_offsets = through_offsets(transformer, conditions)
        conditions = through_presence(transformer, conditions, given)
        conditions = through_dependencies(transformer, conditions)
        conditions, derived = through_lines(transformer, conditions)
        conditions, cut = through_cuts(transformer, conditions)
        conditions = within_label_ranges(transformer, conditions)
    except ConditionError as error:
        raise explained(error, bounded) from error
    derived |= cut
    asked = [c for c in asked if c not in derived]  # a line's or cut's target, of its source
    # the columns the conditions now sit on stay on them: fixed, or, where a condition leaves
    # one of a set of labels, moved by the repairs only within it; a frame's columns are
    # fixed only in the rows that hold them to a value or a range
    allowed = allowed_sets(conditions, asked)
    asked += [c for c in conditions if c not in asked and c not in allowed]
    fixed_rows = fixed_rows_of(conditions, given, asked)
    asked = [c for c in asked if c not in fixed_rows]
    # a pair's repair moves a number within its range, a part's repair a date within its own
    allowed = merged(allowed, range_limits(conditions), date_ranges(transformer, conditions))
    parsed, groups, index = parse_conditions(transformer, layout, conditions, n_rows, device)
    n_groups = int(groups.max()) + 1 if len(groups) else 0

    def describe(group: int) -> str:
        return " and ".join(condition.describe(group) for condition in parsed) or "(none)"

    decoder.eval()
    kept = (CategoricalCondition, NumericCondition)
    frozen = frozenset(c.slot for c in parsed if isinstance(c, kept))
    span_index = SpanIndex.from_layout(layout, device)
    row_groups = torch.as_tensor(groups, device=device)

    def decoded(positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The requested rows at ``positions``, drawn afresh: alphas and codes."""
        wanted = groups[positions]
        raw, sigma, _ = draw_latents(
            decoder, parsed, np.bincount(wanted, minlength=n_groups), prior, generator,
            decoding, describe, **limits,
        )  # fmt: skip
        # ``raw`` is sorted by group; the rows, sorted by group (stably), take them in turn.
        order = torch.as_tensor(np.argsort(wanted, kind="stable"), device=device)
        rows = torch.empty_like(raw)
        rows[order] = raw
        alphas, codes = decode_outputs(rows, sigma, span_index, generator, decoding)
        map_drawn(transformer, alphas, codes)
        for condition in parsed:
            condition.draw(rows, sigma, row_groups[positions], decoding, generator, alphas, codes)
        # a condition's value stays; the other of an excluded pair, or a label whose bounds
        # the row's number leaves, is drawn again (a fixed label's number is moved onto its
        # bounds when decoded: TableTransformer.inverse_transform)
        Repairs(transformer, span_index)(rows, alphas, codes, generator, decoding, frozen)
        return alphas, codes

    if len(groups):
        alphas, codes = decoded(np.arange(len(groups)))
        if refiner is not None:  # rows the refiner does not keep are drawn again
            pending = np.arange(len(groups))
            for _ in range(REFINE_ROUNDS):
                kept = refiner.keep(  # not raked: conditions set their own rates
                    alphas[pending], codes[pending], span_index, transformer, generator, rake=False
                )
                pending = pending[~kept.cpu().numpy()]
                if not len(pending):
                    break
                alphas[pending], codes[pending] = decoded(pending)
        alphas_np, codes_np = alphas.cpu().numpy(), codes.cpu().numpy()
    else:
        alphas_np = np.empty((0, layout.n_tanh), dtype=np.float32)
        codes_np = np.empty((0, layout.n_softmax), dtype=np.int64)
    frame = transformer.inverse_transform(
        alphas_np, codes_np, id_offset=id_offset, fixed=asked, allowed=allowed,
        fixed_rows=fixed_rows,
    )  # fmt: skip
    if settle_offsets is not None:
        settle_offsets.capture(frame)
    for condition in parsed:
        condition.finalize(frame, alphas_np, codes_np, groups)
    if settle_offsets is not None:  # an offset column's asked values, its base added
        settle_offsets(frame)
    transformer.dependencies.apply(frame, asked, allowed, fixed_rows)
    if index is not None:
        frame.index = index
    return frame
