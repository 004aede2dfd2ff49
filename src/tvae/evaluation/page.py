"""The self-contained HTML page of a ``QualityReport`` (inline CSS, plots as base64 PNG)."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

import pandas as pd

WORST_PAIRS = 15

_CSS = """
body{margin:0;background:#f4f5f7;color:#1d2330;font:14px/1.45 -apple-system,"Segoe UI",
Roboto,Helvetica,Arial,sans-serif}
main{max-width:1220px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:30px 0 10px;
border-bottom:2px solid #dde1e8;padding-bottom:4px}
.meta{color:#5b6475;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 3px #0002}
.card .label{font-size:12px;color:#5b6475;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:600;margin-top:2px}
.card .hint{font-size:12px;color:#5b6475}
.good{color:#1e7d3c}.ok{color:#b26b00}.poor{color:#b3261e}
.two{display:grid;grid-template-columns:1fr 1fr;gap:18px;align-items:start}
table{border-collapse:collapse;background:#fff;width:100%;box-shadow:0 1px 3px #0002;
border-radius:6px;overflow:hidden}
th,td{padding:5px 9px;text-align:left;border-bottom:1px solid #eceef2;font-size:13px}
th{background:#e9ecf2;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding:0 0 6px}
.bar{display:inline-block;height:8px;border-radius:4px;background:#1f4e79;
vertical-align:middle;margin-left:6px}
figure{margin:0;background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 3px #0002;
text-align:center}
figure img{max-width:100%;height:auto}
.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:12px;align-items:start}
.wide{margin-bottom:12px}
.note{color:#5b6475;font-size:12px}
footer{margin-top:32px;color:#5b6475;font-size:12px}
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _num(value: object, digits: int = 3) -> str:
    if _is_missing(value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _esc(value)


def _grade(score: object, good: float = 0.9, ok: float = 0.75) -> str:
    if _is_missing(score):
        return ""
    return "good" if score >= good else "ok" if score >= ok else "poor"


def _card(label: str, value: object, hint: str = "", grade: str = "", pct: bool = False) -> str:
    text = "n/a" if _is_missing(value) else (f"{100 * value:.1f}%" if pct else _num(value))
    return (
        f'<div class="card"><div class="label">{_esc(label)}</div>'
        f'<div class="value {grade}">{text}</div><div class="hint">{_esc(hint)}</div></div>'
    )


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{data}"></figure>'


def _table(caption: str, header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><caption>{_esc(caption)}</caption><tr>{head}</tr>{body}</table>"


def _score_cell(score: object) -> str:
    if _is_missing(score):
        return "n/a"
    width = max(0.0, min(1.0, float(score))) * 60
    return (
        f'<span class="{_grade(score)}">{score:.3f}</span>'
        f'<span class="bar" style="width:{width:.0f}px"></span>'
    )


def _shapes_table(shapes: pd.DataFrame) -> str:
    rows = [
        [_esc(r.column), _esc(r.kind), _esc(r.metric), _score_cell(r.score)]
        for r in shapes.itertuples(index=False)
    ]
    return _table("Column shapes", ["column", "kind", "metric", "score"], rows, {3})


def _pairs_table(pairs: pd.DataFrame) -> str:
    counted = pairs[pairs["contributes"]].sort_values("score").head(WORST_PAIRS)
    rows = []
    for r in counted.itertuples(index=False):
        if r.metric == "CorrelationSimilarity":
            detail = f"r real {_num(r.real, 2)}, synth {_num(r.synthetic, 2)}"
        else:
            detail = (
                f"V real {_num(r.real_association, 2)}, synth {_num(r.synthetic_association, 2)}"
            )
        rows.append(
            [
                f"{_esc(r.column_1)} × {_esc(r.column_2)}",
                _esc(r.metric.replace("Similarity", "")),
                detail,
                _score_cell(r.score),
            ]
        )
    caption = (
        f"Column pair trends: the {len(rows)} weakest of the "
        f"{int(pairs['contributes'].sum())} pairs that count (of {len(pairs)})"
    )
    return _table(caption, ["pair", "metric", "real vs synthetic", "score"], rows, {3})


def _efficacy_section(efficacy: dict | None) -> str:
    if efficacy is None:
        return (
            '<p class="note">Not computed: pass <code>target</code> and <code>holdout</code>'
            " (real rows kept out of training) to evaluate.</p>"
        )
    rows = [
        ["trained on synthetic", _num(efficacy["synthetic_score"])],
        ["trained on real", _num(efficacy["real_score"])],
        ["ratio synthetic / real", _num(efficacy["ratio"])],
    ]
    caption = (
        f"{efficacy['model']} predicting {efficacy['target']!r}, {efficacy['metric']} on "
        f"{efficacy['n_holdout']} holdout rows"
    )
    return _table(caption, ["model", "score"], rows, {1})


def _privacy_section(privacy: dict) -> str:
    rows = [
        ["synthetic rows that copy a real row", _num(100 * privacy["exact_copy_share"], 2) + "%"],
    ]
    if privacy.get("holdout_exact_copy_share") is not None:
        rows.append(
            [
                "holdout rows that copy a real row (baseline)",
                _num(100 * privacy["holdout_exact_copy_share"], 2) + "%",
            ]
        )
    rows.append(
        ["median distance to closest real row: synthetic", _num(privacy["dcr_synthetic_median"])]
    )
    if privacy.get("dcr_holdout_median") is not None:
        rows.append(
            ["median distance to closest real row: holdout", _num(privacy["dcr_holdout_median"])]
        )
        rows.append(
            ["DCR ratio synthetic / holdout (about 1 or more is good)", _num(privacy["dcr_ratio"])]
        )
    return _table("Privacy", ["check", "value"], rows, {1})


def render_page(report: Any, pngs: dict[str, bytes]) -> str:
    """The whole HTML document of ``report`` (a :class:`.report.QualityReport`) as a string."""
    s = report.settings
    privacy, efficacy = report.privacy, report.efficacy
    meta = (
        f"{s['n_rows_real']:,} real rows · {s['n_rows_synthetic']:,} synthetic rows"
        + (f" · {s['n_rows_holdout']:,} holdout rows" if s["n_rows_holdout"] else "")
        + f" · {len(report.kinds)} columns"
    )
    cards = [
        _card(
            "Overall quality", report.overall, "mean of the two properties", _grade(report.overall)
        ),
        _card(
            "Column shapes",
            report.column_shapes_score,
            "KS / TV complement",
            _grade(report.column_shapes_score),
        ),
        _card(
            "Column pair trends",
            report.column_pair_trends_score,
            "correlation / contingency",
            _grade(report.column_pair_trends_score),
        ),
    ]
    if efficacy is not None:
        cards.append(
            _card(
                "ML efficacy",
                efficacy["ratio"],
                f"{efficacy['metric']} synthetic / real",
                _grade(efficacy["ratio"]),
            )
        )
    copy = privacy["exact_copy_share"]
    cards.append(
        _card(
            "Exact copies",
            copy,
            "synthetic rows equal to a real row",
            "" if _is_missing(copy) else ("good" if copy < 0.01 else "poor"),
            pct=True,
        )
    )
    if privacy.get("dcr_ratio") is not None:
        ratio = privacy["dcr_ratio"]
        cards.append(
            _card("DCR ratio", ratio, "synthetic / holdout distance", _grade(ratio, 0.9, 0.6))
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Synthetic data quality report</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>Synthetic data quality report</h1>",
        f'<p class="meta">{_esc(meta)}</p>',
        f'<section class="cards">{"".join(cards)}</section>',
        "<h2>Scores</h2>",
        f'<div class="two"><div>{_shapes_table(report.column_shapes)}</div>'
        f"<div>{_pairs_table(report.column_pair_trends)}</div></div>",
        '<h2>Machine-learning efficacy and privacy</h2><div class="two">'
        f"<div>{_efficacy_section(efficacy)}</div><div>{_privacy_section(privacy)}</div></div>",
    ]
    if "loss" in pngs:
        parts += ["<h2>Training loss</h2>", f'<div class="wide">{_img(pngs["loss"], "loss")}</div>']
    parts.append("<h2>Column shapes and pair trends</h2>")
    for stem in ("column_shapes", "pair_trends", "correlation_difference"):
        if stem in pngs:
            parts.append(f'<div class="wide">{_img(pngs[stem], stem.replace("_", " "))}</div>')
    columns = [stem for stem in pngs if stem.startswith("column_") and stem != "column_shapes"]
    if columns:
        parts.append('<h2>Column distributions: real vs synthetic</h2><div class="grid">')
        parts += [_img(pngs[stem], stem) for stem in columns]
        parts.append("</div>")
    thresholds = (
        f"|r| &gt; {s['real_correlation_threshold']:g} and Cramér's V &gt; "
        f"{s['real_association_threshold']:g}"
    )
    parts.append(
        "<footer>Scores follow the SDMetrics QualityReport definitions: KS complement for "
        "numerical and datetime columns, TV complement for categorical and boolean columns; "
        "Pearson correlation similarity for pairs of continuous columns and contingency "
        "similarity (continuous columns cut into 10 bins) otherwise. A pair counts towards the "
        f"pair trends score only when the real data shows a trend ({thresholds}).</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)
