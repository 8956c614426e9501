"""Diagnostic charts of an evaluation as Plotly figures: confusion matrix, ROC, PR,
calibration, residuals, permutation importance and learning curves.

Each function takes plain predictions and returns a ``plotly.graph_objects.Figure``; the
training run logs them with ``run.log_figure`` and the dashboard renders them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from lockgate.modeling.evaluation import Predictions

_MAX_POINTS = 5000


def diagnostic_figures(pred: Predictions,
                       importance: Mapping[str, tuple[float, float]] | None = None
                       ) -> dict[str, go.Figure]:
    """Every chart that applies to the problem type, keyed by artifact name."""
    figures: dict[str, go.Figure] = {}
    if pred.problem_type == "regression":
        figures["chart_residuals"] = residuals_figure(pred.y_true, pred.y_pred)
    else:
        figures["chart_confusion_matrix"] = confusion_figure(pred)
        if pred.problem_type == "binary":
            t, p = pred.y_true == 1, pred.probabilities[:, 1]
            if 0 < t.sum() < len(t):
                figures["chart_roc"] = roc_figure(t, p)
                figures["chart_pr"] = pr_figure(t, p)
                figures["chart_calibration"] = calibration_figure(t, p)
    if importance:
        figures["chart_permutation_importance"] = importance_figure(importance)
    return figures


def confusion_figure(pred: Predictions) -> go.Figure:
    labels = [str(c) for c in pred.classes]
    known = pred.y_true >= 0
    matrix = confusion_matrix(pred.y_true[known], pred.y_pred[known],
                              labels=list(range(len(labels))))
    figure = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Blues",
                                  text=matrix, texttemplate="%{text}"))
    figure.update_layout(title="Confusion matrix (holdout)", xaxis_title="predicted",
                         yaxis_title="actual", yaxis_autorange="reversed")
    return figure


def roc_figure(truth: np.ndarray, score: np.ndarray) -> go.Figure:
    fpr, tpr, _ = roc_curve(truth, score)
    fpr, tpr = _thin(fpr), _thin(tpr)
    figure = go.Figure([go.Scatter(x=fpr, y=tpr, mode="lines", name="model"),
                        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                                   line={"dash": "dash"})])
    figure.update_layout(title="ROC curve (holdout)", xaxis_title="false positive rate",
                         yaxis_title="true positive rate")
    return figure


def pr_figure(truth: np.ndarray, score: np.ndarray) -> go.Figure:
    precision, recall, _ = precision_recall_curve(truth, score)
    figure = go.Figure([
        go.Scatter(x=_thin(recall), y=_thin(precision), mode="lines", name="model"),
        go.Scatter(x=[0, 1], y=[truth.mean()] * 2, mode="lines", name="prevalence",
                   line={"dash": "dash"}),
    ])
    figure.update_layout(title="Precision-recall curve (holdout)", xaxis_title="recall",
                         yaxis_title="precision")
    return figure


def calibration_figure(truth: np.ndarray, score: np.ndarray, bins: int = 10) -> go.Figure:
    observed, predicted = calibration_curve(truth, score, n_bins=bins, strategy="quantile")
    figure = go.Figure([
        go.Scatter(x=predicted, y=observed, mode="lines+markers", name="model"),
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dash"}),
    ])
    figure.update_layout(title="Calibration (holdout)", xaxis_title="mean predicted probability",
                         yaxis_title="observed frequency")
    return figure


def residuals_figure(truth: np.ndarray, predicted: np.ndarray) -> go.Figure:
    keep = _sample_positions(len(truth))
    figure = go.Figure(go.Scatter(x=predicted[keep], y=(truth - predicted)[keep],
                                  mode="markers", marker={"size": 4, "opacity": 0.5}))
    figure.add_hline(y=0, line_dash="dash")
    figure.update_layout(title="Residuals vs predicted (holdout)", xaxis_title="predicted",
                         yaxis_title="actual − predicted")
    return figure


def importance_figure(importance: Mapping[str, tuple[float, float]]) -> go.Figure:
    ordered = sorted(importance.items(), key=lambda kv: kv[1][0])
    figure = go.Figure(go.Bar(
        x=[v[0] for _, v in ordered], y=[k for k, _ in ordered], orientation="h",
        error_x={"type": "data", "array": [v[1] for _, v in ordered]},
    ))
    figure.update_layout(title="Permutation importance (holdout, drop in primary metric)",
                         xaxis_title="importance")
    return figure


def learning_curve_figure(curves: Mapping[str, Sequence[float]]) -> go.Figure:
    figure = go.Figure([go.Scatter(y=list(v), mode="lines", name=k) for k, v in curves.items()])
    figure.update_layout(title="Learning curve by boosting iteration", xaxis_title="iteration")
    return figure


def _sample_positions(n: int) -> Any:
    if n <= _MAX_POINTS:
        return slice(None)
    return np.sort(np.random.default_rng(0).choice(n, _MAX_POINTS, replace=False))


def _thin(values: np.ndarray) -> np.ndarray:
    if len(values) <= _MAX_POINTS:
        return values
    return values[np.linspace(0, len(values) - 1, _MAX_POINTS).astype(int)]
