"""Notebook display of evaluations and leakage findings: a metrics table with the
interval and the baseline, the findings, and charts (metric vs baseline with the 95%
interval, per-fold CV scores as points, permutation importance), offline."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from lockgate.tracking import display as d

MAX_IMPORTANCE_BARS = 20


def evaluation_html(record: Any, *, title: str = "Evaluation") -> str:
    """The evaluation as HTML: verdict line, metrics, findings, charts."""
    verdict = ("beats the dummy baseline" if record.beats_baseline
               else "does NOT reliably beat the dummy baseline")
    leak = '<span class="ok">leak-free</span>' if record.leak_free else \
        '<span class="bad">NOT leak-free</span>'
    head = (f"<p>{d.esc(record.problem_type)} · primary metric <b>"
            f"{d.esc(record.primary_metric)}</b> {d.esc(verdict)} · {leak} · splitter "
            f"<b>{d.esc(record.splitter)}</b> ({d.esc(record.splitter_reason)})</p>")
    rows = [(k, v, f"[{d.fmt(record.intervals[k][0])}, {d.fmt(record.intervals[k][1])}]"
             if k in record.intervals else "—", record.baseline_metrics.get(k))
            for k, v in record.metrics.items()]
    parts = [head, d.heading("Holdout metrics"),
             d.table(["metric", "model", "95% CI", "baseline"], rows),
             d.heading("Findings"), findings_table(record.findings)]
    parts += [d.figure(fig) for fig in evaluation_figures(record)]
    return d.box(title, *parts)


def evaluation_text(record: Any) -> str:
    """A plain ``__repr__``: the primary metric with its interval and the verdicts."""
    key = record.primary_metric
    lo, hi = record.intervals.get(key, (float("nan"), float("nan")))
    lines = [f"{k} = {d.fmt(v)}" for k, v in record.metrics.items()]
    lines.append(f"{key} 95% CI [{d.fmt(lo)}, {d.fmt(hi)}], baseline "
                 f"{d.fmt(record.baseline_metrics.get(key))}, beats baseline: "
                 f"{record.beats_baseline}, leak-free: {record.leak_free}")
    lines += [f"{f['severity']} {f['code']}: {f['message']}" for f in record.findings]
    return d.text_lines(f"EvaluationRecord({record.problem_type}, splitter {record.splitter})",
                        lines)


def findings_table(findings: list[dict[str, Any]]) -> str:
    """Findings as rows, the worst first."""
    if not findings:
        return d.paragraph("none", "muted")
    order = {"blocking": 0, "error": 0, "warning": 1, "info": 2}
    ranked = sorted(findings, key=lambda f: order.get(str(f.get("severity")), 3))
    return d.table(["severity", "code", "message"],
                   ((f.get("severity"), f.get("code"), f.get("message")) for f in ranked))


def finding_html(finding: Any) -> str:
    """One finding with its evidence (the record renders itself)."""
    return str(finding._repr_html_())


def evaluation_figures(record: Any) -> list[go.Figure]:
    """Metric vs baseline (with interval), CV scores per fold, permutation importance."""
    keys = list(record.metrics)
    low = [record.metrics[k] - record.intervals.get(k, (record.metrics[k],) * 2)[0]
           for k in keys]
    high = [record.intervals.get(k, (record.metrics[k],) * 2)[1] - record.metrics[k]
            for k in keys]
    versus = go.Figure([
        go.Bar(name="model", x=keys, y=[record.metrics[k] for k in keys],
               error_y={"type": "data", "array": high, "arrayminus": low}),
        go.Bar(name="baseline", x=keys, y=[record.baseline_metrics.get(k) for k in keys]),
    ])
    versus.update_layout(title="Holdout metrics vs dummy baseline (95% CI)", height=320,
                         barmode="group", margin={"t": 40, "b": 30})
    figures = [versus]
    if record.cv_metrics:
        # One point per fold: folds are not steps, so no line joins them.
        folds = go.Figure([go.Scatter(x=[k] * len(v), y=v, mode="markers", name=k)
                           for k, v in record.cv_metrics.items()])
        folds.update_layout(title="Cross-validation: one point per fold", height=300,
                            showlegend=False, margin={"t": 40, "b": 30})
        figures.append(folds)
    if record.feature_importance:
        top = sorted(record.feature_importance.items(), key=lambda kv: kv[1],
                     reverse=True)[:MAX_IMPORTANCE_BARS]
        bars = go.Figure(go.Bar(x=[v for _, v in top][::-1], y=[k for k, _ in top][::-1],
                                orientation="h"))
        bars.update_layout(title="Permutation importance on the holdout", height=320,
                           margin={"t": 40, "b": 30})
        figures.append(bars)
    return figures


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"
