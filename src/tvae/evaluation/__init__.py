"""Evaluation of synthetic tables: fidelity (SDMetrics-style quality), ML efficacy, privacy.

``evaluate(real, synthetic, ...)`` returns a ``QualityReport`` with the scores, a text
summary, a JSON-ready dict, a self-contained HTML page and PNG plots. Only numpy, pandas and
scikit-learn are needed (matplotlib for the plots, imported on demand); no torch.
"""

from .columns import infer_kinds
from .efficacy import ml_efficacy
from .metrics import (
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    ks_complement,
    tv_complement,
)
from .privacy import distance_to_closest_record, exact_copy_share, privacy_metrics
from .report import QualityReport, evaluate

__all__ = [
    "QualityReport",
    "column_pair_trends",
    "column_shapes",
    "contingency_similarity",
    "correlation_similarity",
    "distance_to_closest_record",
    "evaluate",
    "exact_copy_share",
    "infer_kinds",
    "ks_complement",
    "ml_efficacy",
    "privacy_metrics",
    "tv_complement",
]
