"""Text the command line prints: model descriptions and side-by-side comparisons."""

from __future__ import annotations

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype


def say(quiet: bool, text: str = "", *, err: bool = False) -> None:
    """Print ``text`` (on stderr with ``err``) unless ``quiet``."""
    if not quiet:
        import typer

        typer.echo(text, err=err)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def _number(value: object) -> float:
    """A saved number, NaN where none was saved (a private model keeps no loss)."""
    return float("nan") if value is None else float(value)


def render_inspect(info: dict) -> str:
    """The text form of :func:`tvae.serialization.inspect_model`'s dict."""
    params, training = info.get("params", {}), info.get("training", {})
    lines = [
        f"Model file:  {info['file']} ({human_bytes(info['file_bytes'])})",
        f"Format:      {info['format']} version {info['format_version']}, written by "
        f"{info.get('library')} {info.get('library_version')}",
    ]
    if training:
        lines.append(
            f"Training:    {training.get('epochs')} epochs on {training.get('n_rows', 0):,} rows "
            f"in {training.get('fit_seconds', float('nan')):.1f} s on {training.get('device')}; "
            f"final loss {_number(training.get('final_loss')):.4g}"
        )
        if training.get("lr_schedule") is not None:
            lines.append(
                f"Schedule:    {training.get('epochs')} epochs, batch size "
                f"{training.get('batch_size')}, learning rate {training.get('learning_rate'):g} "
                f"({training.get('lr_schedule')}), {training.get('precision', 'float32')} "
                "matrix products"
            )
    encoder = tuple(params.get("compress_dims", ()))
    decoder = tuple(params.get("decompress_dims", ()))
    lines.append(
        f"Networks:    embedding {params.get('embedding_dim')}, encoder {encoder}, decoder "
        f"{decoder}; {info['n_weights']:,} weights; encoded width {info['encoded_width']}"
    )
    others = {
        k: v
        for k, v in params.items()
        if k not in {"embedding_dim", "compress_dims", "decompress_dims", "verbose"}
    }
    lines.append("Parameters:  " + ", ".join(f"{k}={v!r}" for k, v in others.items()))
    lines.append("Sampling:    " + _sampling_text(info.get("sampling") or {}, params, training))
    if info.get("privacy"):  # privacy (issue 14)
        from tvae.privacy.report import privacy_lines

        lines.extend(privacy_lines(info["privacy"]))
    lines.append("Dependencies: " + _dependency_text(info.get("dependencies") or []))
    columns = info["columns"]
    names = [str(c["name"]) or "''" for c in columns]  # an empty name (R's row names): ''
    width = max([len(name) for name in names] + [6])
    lines.append(f"Columns ({len(columns)}):")
    lines.append(f"  {'name':<{width}}  {'kind':<12} {'dtype':<10} width")
    for name, column in zip(names, columns, strict=True):
        span = column["width"] if column["width"] is not None else "?"
        dtype = column["dtype"] or "?"
        scale = "  (mixture over its logarithm)" if column.get("log_scale") else ""
        lines.append(f"  {name:<{width}}  {column['kind']:<12} {dtype:<10} {span}{scale}")
    return "\n".join(lines)


def _sampling_text(sampling: dict, params: dict, training: dict) -> str:
    """How the model draws rows: its prior, its decoding, and what the refiner keeps."""
    components = sampling.get("prior_components")
    if sampling.get("prior") == "mixture" and components:
        parts = [f"mixture prior ({components} components)"]
    else:
        parts = ["N(0, I) prior"]
    parts.append(f"{params.get('decoding', 'sample')} decoding")
    refined = training.get("refiner")
    if sampling.get("refiner") and isinstance(refined, dict):
        parts.append(
            f"refiner keeps about {100 * _number(refined.get('kept_share')):.0f} % of the rows "
            f"drawn (held-aside AUC {_number(refined.get('held_aside_auc')):.2f})"
        )
    else:
        parts.append("no refiner: every decoded row kept")
    mapped = training.get("quantile_maps")
    if mapped:
        noun = "number" if len(mapped) == 1 else "numbers"
        parts.append(f"quantile maps on {len(mapped)} {noun} ({', '.join(map(str, mapped))})")
    return "; ".join(parts)


def _dependency_text(items: list[dict]) -> str:
    """``[{"type": "determines", ...}, {"type": "order", ...}, {"type": "one_hot", ...},
    {"type": "offset", ...}, {"type": "sum", ...}, {"type": "linear", ...},
    {"type": "cut", ...}, {"type": "date_part", ...}, {"type": "presence", ...},
    {"type": "curve", ...}, {"type": "match", ...}, {"type": "rate", ...}]`` as one line."""
    if not items:
        return "none"
    groups = [
        f"{'at most one' if d.get('allow_none') else 'one'} of {_span(d['columns'])}"
        for d in items
        if d["type"] == "one_hot"
    ]
    determines = [
        f"{' + '.join(map(str, d['source'])) if isinstance(d['source'], list) else d['source']}"
        f" -> {d['target']}"
        for d in items
        if d["type"] == "determines"
    ]
    orders = [f"{d['low']} <= {d['high']}" for d in items if d["type"] == "order"]
    offsets = [
        f"{d['column']} = {d['base']} + a learned difference"
        for d in items
        if d["type"] == "offset"
    ]
    sums = [
        f"{d['column']} = {' + '.join(map(str, d['columns']))}" for d in items if d["type"] == "sum"
    ]
    lines = [_line_text(d) for d in items if d["type"] == "linear"]
    cuts = [_cut_text(d) for d in items if d["type"] == "cut"]
    parts = [
        f"{d['target']} = {d['part']}({d['source']})" for d in items if d["type"] == "date_part"
    ]
    presences = [
        f"{d['source']}'s {'presence' if d.get('by') else 'value'} decides where {d['target']} is"
        for d in items
        if d["type"] == "presence"
    ]
    curves = [
        f"{d['column']} ~ a curve of {' and '.join(map(str, d['sources']))}"
        for d in items
        if d["type"] == "curve"
    ]
    curves += [
        f"{' = '.join(map(str, d['columns']))} in {d['share']:.0%} of rows"
        for d in items
        if d["type"] == "match"
    ]
    curves += [_rate_text(d) for d in items if d["type"] == "rate"]
    found = groups + determines + orders + offsets + sums + lines + cuts + parts + presences
    return ", ".join(found + curves)


def _rate_text(item: dict) -> str:
    """``{"type": "rate", ...}`` as its formula: ``r = min(a, b) / b in nearly every row``."""
    scale = item.get("scale", 1)
    times = f"{scale:g} * " if scale != 1 else ""
    whole = item["whole"]
    return f"{item['column']} = {times}min({item['part']}, {whole}) / {whole} in nearly every row"


def _line_text(item: dict) -> str:
    """``{"type": "linear", ...}`` as its formula: ``lb = 2.20462 * kg + 0``."""
    source = f"log({item['source']})" if item.get("log") else str(item["source"])
    sign = "-" if item["intercept"] < 0 else "+"
    return f"{item['target']} = {item['slope']:g} * {source} {sign} {abs(item['intercept']):g}"


def _cut_text(item: dict) -> str:
    """``{"type": "cut", ...}`` as its ranges: ``low = 1 if bwt < 2500, else 0``."""
    edges, labels = item["edges"], item["labels"]
    parts = [f"{labels[i]!r} if {item['source']} < {edge:g}" for i, edge in enumerate(edges)]
    return f"{item['target']} = {', '.join(parts)}, else {labels[-1]!r}"


def _span(columns: list) -> str:
    """A one-hot group's columns, shortened when long: ``Soil_Type1..Soil_Type40 (40)``."""
    if len(columns) <= 4:
        return "{" + ", ".join(str(c) for c in columns) + "}"
    return f"{{{columns[0]}..{columns[-1]}}} ({len(columns)})"


def demo_comparisons(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    numbers: list | None = None,
    labels: dict | None = None,
) -> str:
    """Plain numbers side by side: means of ``numbers``, shares of ``labels`` ({column: value}).

    Without them, the first three number columns and the commonest label of three others.
    """
    if numbers is None:
        numbers = [
            c for c in real.columns if is_numeric_dtype(real[c]) and not is_bool_dtype(real[c])
        ][:3]
    if labels is None:
        others = [c for c in real.columns if c not in numbers][-3:]
        labels = {c: real[c].value_counts().index[0] for c in others}
    lines = [f"{'':<44}{'real':>10}{'synthetic':>12}"]
    for column in numbers:
        real_mean = float(real[column].mean())
        synthetic_mean = float(pd.to_numeric(synthetic[column], errors="coerce").mean())
        lines.append(f"{'mean ' + str(column):<44}{real_mean:>10.4g}{synthetic_mean:>12.4g}")
    for column, value in labels.items():
        real_share = float((real[column].astype(str) == str(value)).mean())
        synthetic_share = float((synthetic[column].astype(str) == str(value)).mean())
        label = f"share of {column} = {str(value).strip()}"[:43]
        lines.append(f"{label:<44}{real_share:>10.1%}{synthetic_share:>12.1%}")
    return "\n".join(lines)


def shape_lines(shapes: pd.DataFrame | None, limit: int = 20) -> str:
    """Per-column shape scores, worst first."""
    if shapes is None or len(shapes) == 0 or "score" not in shapes:
        return ""
    name = "column" if "column" in shapes else shapes.columns[0]
    rows = shapes.sort_values("score").head(limit)
    width = max(len(str(v)) for v in rows[name])
    lines = ["Column shapes (worst first):"]
    for _, row in rows.iterrows():
        metric = f"  {row['metric']}" if "metric" in rows else ""
        lines.append(f"  {row[name]!s:<{width}}  {row['score']:.3f}{metric}")
    return "\n".join(lines)
