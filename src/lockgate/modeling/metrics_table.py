"""The holdout metrics of an evaluation as a Rich table, shared by the CLI and the demo."""

from __future__ import annotations

from rich.table import Table

from lockgate.modeling.evaluation import EvaluationRecord


def metrics_table(record: EvaluationRecord, title: str) -> Table:
    """One row per holdout metric: the model's value, its 95% interval and the baseline's."""
    table = Table(title=title)
    for column in ("metric", "model", "95% CI", "baseline"):
        table.add_column(column)
    for key, value in record.metrics.items():
        lo, hi = record.intervals[key]
        table.add_row(key, f"{value:.4f}", f"[{lo:.4f}, {hi:.4f}]",
                      f"{record.baseline_metrics[key]:.4f}")
    return table
