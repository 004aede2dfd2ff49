"""``evaluate``: fidelity, ML efficacy and privacy of a synthetic table, as a ``QualityReport``."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .columns import infer_kinds
from .efficacy import ml_efficacy
from .metrics import (
    DEFAULT_REAL_ASSOCIATION_THRESHOLD,
    DEFAULT_REAL_CORRELATION_THRESHOLD,
    column_pair_trends,
    column_shapes,
    property_score,
)
from .privacy import privacy_metrics


def _plain(value: object) -> object:
    """JSON-ready copy: numpy scalars to Python, NaN/inf to None, frames to record lists."""
    if isinstance(value, pd.DataFrame):
        return [_plain(r) for r in value.to_dict(orient="records")]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


@dataclass
class QualityReport:
    """Scores of a synthetic table against the real one; see ``evaluate``."""

    overall: float
    column_shapes_score: float
    column_pair_trends_score: float
    column_shapes: pd.DataFrame
    column_pair_trends: pd.DataFrame
    efficacy: dict | None
    privacy: dict
    kinds: dict[str, str]
    settings: dict
    _real: pd.DataFrame = field(repr=False)
    _synthetic: pd.DataFrame = field(repr=False)
    _loss_values: pd.DataFrame | None = field(default=None, repr=False)
    _pngs: dict[str, bytes] | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """Every score as plain Python values (NaN becomes None), ready for ``json.dump``."""
        return _plain(
            {
                "overall": self.overall,
                "column_shapes_score": self.column_shapes_score,
                "column_pair_trends_score": self.column_pair_trends_score,
                "column_shapes": self.column_shapes,
                "column_pair_trends": self.column_pair_trends,
                "efficacy": self.efficacy,
                "privacy": self.privacy,
                "kinds": self.kinds,
                "settings": self.settings,
            }
        )

    def summary(self) -> str:
        """A few lines of text with the headline numbers."""
        pairs = self.column_pair_trends
        lines = [
            f"Overall quality:     {_fmt(self.overall)}",
            f"  Column shapes:     {_fmt(self.column_shapes_score)}"
            f" ({len(self.column_shapes)} columns)",
            f"  Column pair trends: {_fmt(self.column_pair_trends_score)}"
            f" ({int(pairs['contributes'].sum()) if len(pairs) else 0} of {len(pairs)} pairs"
            " count)",
        ]
        if self.efficacy is not None:
            e = self.efficacy
            lines.append(
                f"ML efficacy ({e['metric']} on {e['target']!r}): synthetic "
                f"{_fmt(e['synthetic_score'])}, real {_fmt(e['real_score'])},"
                f" ratio {_fmt(e['ratio'])}"
            )
        p = self.privacy
        lines.append(f"Exact copies of real rows: {_fmt(100 * p['exact_copy_share'], 2)}%")
        dcr = f"DCR median: synthetic {_fmt(p['dcr_synthetic_median'])}"
        if p.get("dcr_ratio") is not None:
            dcr += f", holdout {_fmt(p['dcr_holdout_median'])}, ratio {_fmt(p['dcr_ratio'])}"
        lines.append(dcr)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _plots(self) -> dict[str, bytes]:
        if self._pngs is None:
            try:
                import matplotlib  # noqa: F401
            except ImportError as error:
                raise ImportError(
                    "the report plots need matplotlib: pip install 'tvae[report]'"
                ) from error
            from .plots import render_all

            self._pngs = render_all(
                self._real,
                self._synthetic,
                self.kinds,
                self.column_shapes,
                self.column_pair_trends,
                self._loss_values,
            )
        return self._pngs

    def save_pngs(self, folder: str | Path) -> list[Path]:
        """Write every plot as ``folder/<name>.png`` and return the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for stem, png in self._plots().items():
            path = folder / f"{stem}.png"
            path.write_bytes(png)
            paths.append(path)
        return paths

    def to_html(self, path: str | Path) -> Path:
        """Write a self-contained HTML page (inline CSS, plots as base64 PNG) and return it."""
        from .page import render_page

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_page(self, self._plots()), encoding="utf-8")
        return path


def _check_frame(name: str, frame: object) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise ValueError(f"{name} has no rows")
    if frame.columns.duplicated().any():
        dup = list(frame.columns[frame.columns.duplicated()])
        raise ValueError(f"{name} has duplicated column names {dup}")
    numbers = frame.select_dtypes("number")
    infinite = [c for c in numbers if np.isinf(numbers[c].to_numpy(float, na_value=0)).any()]
    if infinite:
        raise ValueError(
            f"{name} holds infinite values in {infinite}; replace them (e.g. with NaN, "
            "scored as missing) before evaluating"
        )
    return frame


def _align(name: str, frame: pd.DataFrame, columns: pd.Index) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in columns]
    if missing or extra:
        raise ValueError(
            f"{name} must have the same columns as real: missing {missing}, extra {extra}"
        )
    return frame[list(columns)]


def evaluate(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    discrete_columns: list[str] | tuple[str, ...] | None = None,
    metadata: dict[str, str] | None = None,
    target: str | None = None,
    holdout: pd.DataFrame | None = None,
    loss_values: pd.DataFrame | None = None,
    real_correlation_threshold: float = DEFAULT_REAL_CORRELATION_THRESHOLD,
    real_association_threshold: float = DEFAULT_REAL_ASSOCIATION_THRESHOLD,
    seed: int = 0,
) -> QualityReport:
    """Compare ``synthetic`` with the ``real`` rows it was trained on.

    Column kinds come from ``metadata`` ({column: "numerical" | "categorical" | "boolean" |
    "datetime" | "id"}); columns it leaves out are categorical if in ``discrete_columns`` and
    numerical otherwise, or follow their dtype when neither is given (see ``infer_kinds``).
    "id" columns are skipped.
    Fidelity follows the SDMetrics QualityReport (see ``tvae.evaluation.metrics``; the two
    thresholds are its defaults, pass 0 to average every column pair). ML efficacy needs
    ``target`` and ``holdout`` (real rows not used for training); privacy always runs and uses
    ``holdout`` as its baseline when given. ``loss_values`` (Epoch, Batch, Loss) adds a loss
    curve to the plots. ``seed`` drives the privacy subsampling.
    """
    real = _check_frame("real", real)
    synthetic = _align("synthetic", _check_frame("synthetic", synthetic), real.columns)
    if holdout is not None:
        holdout = _align("holdout", _check_frame("holdout", holdout), real.columns)
    if loss_values is not None:
        if not isinstance(loss_values, pd.DataFrame):
            raise TypeError("loss_values must be a DataFrame with columns Epoch, Batch, Loss")
        missing = {"Epoch", "Batch", "Loss"} - set(loss_values.columns)
        if missing:
            raise ValueError(f"loss_values lacks the columns {sorted(missing)}")
    if target is not None and target not in real.columns:
        raise ValueError(f"target column {target!r} is not in the data")
    kinds = infer_kinds(real, discrete_columns=discrete_columns, metadata=metadata)

    shapes = column_shapes(real, synthetic, kinds)
    pairs = column_pair_trends(
        real,
        synthetic,
        kinds,
        real_correlation_threshold=real_correlation_threshold,
        real_association_threshold=real_association_threshold,
    )
    shapes_score, pairs_score = property_score(shapes), property_score(pairs)
    finite = [s for s in (shapes_score, pairs_score) if not math.isnan(s)]
    overall = float(np.mean(finite)) if finite else float("nan")

    efficacy = None
    if target is not None and holdout is None:
        warnings.warn(
            "target was given without holdout: ML efficacy needs real rows kept out of "
            "training and is skipped",
            UserWarning,
            stacklevel=2,
        )
    if target is not None and holdout is not None:
        efficacy = ml_efficacy(real, synthetic, holdout, target, kinds=kinds)
    privacy = privacy_metrics(
        real, synthetic, holdout, kinds=kinds, rng=np.random.default_rng(seed)
    )
    settings = {
        "real_correlation_threshold": float(real_correlation_threshold),
        "real_association_threshold": float(real_association_threshold),
        "seed": int(seed),
        "n_rows_real": len(real),
        "n_rows_synthetic": len(synthetic),
        "n_rows_holdout": None if holdout is None else len(holdout),
    }
    return QualityReport(
        overall=overall,
        column_shapes_score=shapes_score,
        column_pair_trends_score=pairs_score,
        column_shapes=shapes,
        column_pair_trends=pairs,
        efficacy=efficacy,
        privacy=privacy,
        kinds=kinds,
        settings=settings,
        _real=real,
        _synthetic=synthetic,
        _loss_values=loss_values,
    )
