"""Matplotlib figures for the quality report, rendered to PNG bytes.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas directly, so no pyplot
global state or GUI backend is touched, and matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .columns import CONTINUOUS, DISCRETE, to_float

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REAL_COLOR = "#1f4e79"
SYN_COLOR = "#f28e2b"
TOP_CATEGORIES = 20
_DPI = 90
_NS_PER_DAY = 86_400e9


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def to_png(figure: Figure) -> bytes:
    """Encode a figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)  # constrained layout: no tight bbox needed
    return buffer.getvalue()


def _short(label: object, width: int = 24) -> str:
    text = str(label).strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def _missing_note(real: pd.Series, synthetic: pd.Series) -> str:
    r, s = real.isna().mean(), synthetic.isna().mean()
    return f"\nmissing: real {r:.1%}, synthetic {s:.1%}" if r or s else ""


def column_figure(
    real: pd.Series, synthetic: pd.Series, kind: str, score: float | None = None
) -> Figure:
    """Real vs synthetic distribution of one column: histogram or top-category bar chart."""
    name = str(real.name)
    title = _short(name, 40)
    if score is not None and not np.isnan(score):
        title += f"  (score {score:.3f})"
    title += _missing_note(real, synthetic)
    figure = _histogram(real, synthetic, kind) if kind in CONTINUOUS else _bars(real, synthetic)
    figure.axes[0].set_title(title, fontsize=10)
    return figure


def _histogram(real: pd.Series, synthetic: pd.Series, kind: str) -> Figure:
    figure = _figure(4.4, 3.1)
    axes = figure.add_subplot()
    r = to_float(real, kind)
    s = to_float(synthetic, kind)
    r, s = r[np.isfinite(r)], s[np.isfinite(s)]
    both = np.concatenate([r, s])
    if len(both) == 0:
        axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes)
        return figure
    low, high = np.percentile(both, [0.5, 99.5])  # the outer 0.5 % on each side is left out
    if kind != "datetime" and high - low <= 60 and np.all(both == np.round(both)):
        low, high = np.floor(low), np.ceil(high)
        edges = np.arange(low - 0.5, high + 1.0)  # one bar per integer (years, hours, codes)
    else:
        if low == high:
            low, high = low - 0.5, high + 0.5
        if kind == "datetime":  # matplotlib dates count days since 1970-01-01
            r, s = r / _NS_PER_DAY, s / _NS_PER_DAY
            low, high = low / _NS_PER_DAY, high / _NS_PER_DAY
        edges = np.linspace(low, high, 31)
    if len(r):
        axes.hist(r, bins=edges, density=True, color=REAL_COLOR, alpha=0.4, label="real")
    if len(s):
        axes.hist(
            s,
            bins=edges,
            density=True,
            histtype="step",
            color=SYN_COLOR,
            linewidth=1.8,
            label="synthetic",
        )
    if kind == "datetime":
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.set_ylabel("density", fontsize=8)
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=8, frameon=False)
    return figure


def _category_shares(real: pd.Series, synthetic: pd.Series) -> pd.DataFrame:
    """Shares of the top categories (by real then synthetic frequency), other and missing."""
    r = real.astype(object).map(str, na_action="ignore")
    s = synthetic.astype(object).map(str, na_action="ignore")
    table = pd.DataFrame(
        {
            "real": r.value_counts(dropna=True) / max(len(r), 1),
            "synthetic": s.value_counts(dropna=True) / max(len(s), 1),
        }
    ).fillna(0.0)
    table = table.sort_values(["real", "synthetic"], ascending=False)
    top, rest = table.iloc[:TOP_CATEGORIES], table.iloc[TOP_CATEGORIES:]
    extra = {}
    if len(rest):
        extra[f"(other {len(rest)})"] = rest.sum()
    if r.isna().any() or s.isna().any():
        extra["(missing)"] = pd.Series({"real": r.isna().mean(), "synthetic": s.isna().mean()})
    if extra:
        top = pd.concat([top, pd.DataFrame(extra).T])
    return top


def _bars(real: pd.Series, synthetic: pd.Series) -> Figure:
    shares = _category_shares(real, synthetic)
    height = 1.2 + 0.22 * max(len(shares), 2)
    figure = _figure(4.4, height)
    axes = figure.add_subplot()
    y = np.arange(len(shares))
    axes.barh(y - 0.2, shares["real"], height=0.4, color=REAL_COLOR, label="real")
    axes.barh(y + 0.2, shares["synthetic"], height=0.4, color=SYN_COLOR, label="synthetic")
    axes.set_yticks(y, [_short(v) for v in shares.index], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("share of rows", fontsize=8)
    axes.tick_params(axis="x", labelsize=8)
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    return figure


def _heatmap(
    axes, matrix: np.ndarray, labels: list[str], cmap: str, vmin: float, vmax: float, title: str
) -> object:
    image = axes.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax)
    ticks = np.arange(len(labels))
    size = 8 if len(labels) <= 16 else 6
    axes.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=size)
    axes.set_yticks(ticks, labels, fontsize=size)
    axes.set_title(title, fontsize=10)
    if len(labels) <= 12:
        for i, j in zip(*np.nonzero(np.isfinite(matrix)), strict=True):
            value = matrix[i, j]
            dark = abs(value - (vmin + vmax) / 2) > 0.3 * (vmax - vmin)
            axes.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    return image


def _matrix(pairs: pd.DataFrame, labels: list[str], field: str, diagonal: float) -> np.ndarray:
    position = {name: i for i, name in enumerate(labels)}
    matrix = np.full((len(labels), len(labels)), np.nan)
    np.fill_diagonal(matrix, diagonal)
    for a, b, value in zip(pairs["column_1"], pairs["column_2"], pairs[field], strict=True):
        if a in position and b in position:
            matrix[position[a], position[b]] = matrix[position[b], position[a]] = value
    return matrix


def correlation_figure(pairs: pd.DataFrame) -> Figure | None:
    """Pearson correlations of the continuous columns: real, synthetic and their difference."""
    numeric = pairs[pairs["metric"] == "CorrelationSimilarity"]
    if numeric.empty:
        return None
    labels = list(dict.fromkeys([*numeric["column_1"], *numeric["column_2"]]))
    real = _matrix(numeric, labels, "real", 1.0)
    synthetic = _matrix(numeric, labels, "synthetic", 1.0)
    side = 2.6 + 0.3 * len(labels)
    figure = _figure(3 * side + 1.6, side + 0.6)
    short = [_short(v, 16) for v in labels]
    axes = figure.subplots(1, 3)
    _heatmap(axes[0], real, short, "RdBu_r", -1, 1, "real correlation")
    image = _heatmap(axes[1], synthetic, short, "RdBu_r", -1, 1, "synthetic correlation")
    figure.colorbar(image, ax=axes[1], shrink=0.8)
    image = _heatmap(
        axes[2], synthetic - real, short, "PuOr_r", -1, 1, "difference (synthetic - real)"
    )
    figure.colorbar(image, ax=axes[2], shrink=0.8)
    for panel in axes[1:]:
        panel.tick_params(labelleft=False)
    return figure


def pair_trends_figure(pairs: pd.DataFrame) -> Figure | None:
    """Heatmap of every pair score (1 = same trend in real and synthetic)."""
    if pairs.empty:
        return None
    labels = list(dict.fromkeys([*pairs["column_1"], *pairs["column_2"]]))
    matrix = _matrix(pairs, labels, "score", np.nan)
    side = 3.4 + 0.32 * len(labels)
    figure = _figure(side + 1.2, side)
    axes = figure.add_subplot()
    image = _heatmap(
        axes, matrix, [_short(v, 16) for v in labels], "RdYlGn", 0, 1, "column pair trend scores"
    )
    figure.colorbar(image, ax=axes, shrink=0.7)
    return figure


def shapes_figure(shapes: pd.DataFrame) -> Figure | None:
    """Bar chart of the column shape scores."""
    if shapes.empty:
        return None
    figure = _figure(max(5.0, 0.38 * len(shapes) + 1.5), 3.2)
    axes = figure.add_subplot()
    colors = [REAL_COLOR if m == "KSComplement" else "#59a14f" for m in shapes["metric"]]
    x = np.arange(len(shapes))
    axes.bar(x, shapes["score"].fillna(0.0), color=colors)
    axes.set_xticks(
        x, [_short(c, 18) for c in shapes["column"]], rotation=60, ha="right", fontsize=8
    )
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score", fontsize=8)
    axes.set_title("column shapes (blue: KS complement, green: TV complement)", fontsize=10)
    return figure


def loss_figure(loss_values: pd.DataFrame) -> Figure:
    """Training loss per batch (faint) and its mean per epoch."""
    missing = {"Epoch", "Batch", "Loss"} - set(loss_values.columns)
    if missing:
        raise ValueError(f"loss_values lacks the columns {sorted(missing)}")
    data = loss_values[["Epoch", "Batch", "Loss"]].astype(float)
    per_epoch = data.groupby("Epoch")["Loss"].mean()
    batches = data["Batch"].max() + 1
    figure = _figure(6.5, 3.2)
    axes = figure.add_subplot()
    if batches > 1:
        x = data["Epoch"] + data["Batch"] / batches
        axes.plot(x, data["Loss"], color=REAL_COLOR, alpha=0.25, linewidth=0.8, label="batch")
    axes.plot(
        per_epoch.index + (0.5 if batches > 1 else 0),
        per_epoch.to_numpy(),
        color=SYN_COLOR,
        marker="o" if len(per_epoch) <= 60 else None,
        markersize=3,
        linewidth=1.8,
        label="epoch mean",
    )
    axes.set_xlabel("epoch", fontsize=8)
    axes.set_ylabel("loss", fontsize=8)
    axes.set_title("training loss", fontsize=10)
    axes.legend(fontsize=8, frameon=False)
    return figure


def render_all(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    kinds: dict[str, str],
    shapes: pd.DataFrame,
    pairs: pd.DataFrame,
    loss_values: pd.DataFrame | None = None,
) -> dict[str, bytes]:
    """All report plots as ``{file stem: PNG bytes}``, in display order."""
    scores = dict(zip(shapes["column"], shapes["score"], strict=True))
    pngs: dict[str, bytes] = {}
    summary = {
        "loss": loss_figure(loss_values) if loss_values is not None else None,
        "column_shapes": shapes_figure(shapes),
        "pair_trends": pair_trends_figure(pairs),
        "correlation_difference": correlation_figure(pairs),
    }
    for stem, figure in summary.items():
        if figure is not None:
            pngs[stem] = to_png(figure)
    for index, (column, kind) in enumerate(kinds.items()):
        if kind in CONTINUOUS or kind in DISCRETE:
            figure = column_figure(real[column], synthetic[column], kind, scores.get(column))
            stem = "column_{:02d}_{}".format(
                index, "".join(ch if ch.isalnum() else "_" for ch in str(column))[:40]
            )
            pngs[stem] = to_png(figure)
    return pngs
