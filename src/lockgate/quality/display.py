"""Notebook display of profiles, drift results and quality reports (offline)."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from lockgate.tracking import display as d


def profile_html(profile: Any) -> str:
    """Per-column statistics as a table."""
    rows = []
    for name, c in profile.columns.items():
        rows.append((name, profile.roles.get(name, ""), c.kind, c.count, c.nulls,
                     c.distinct_estimate, c.minimum, c.mean, c.maximum))
    return d.box(f"Profile: {profile.rows:,} rows, {len(profile.columns)} columns",
                 d.table(["column", "role", "kind", "rows", "nulls", "distinct≈", "min",
                          "mean", "max"], rows, limit=200))


def profile_text(profile: Any) -> str:
    """A plain ``__repr__``."""
    return d.text_lines(f"Profile({profile.rows:,} rows, {len(profile.columns)} columns)",
                        [f"{n}: {c.kind}, {c.nulls} nulls" for n, c in profile.columns.items()])


def drift_html(report: Any) -> str:
    """The verdict, a per-column table (drifted first) and a chart of the statistics."""
    verdict = '<span class="bad">drifted</span>' if report.drifted else \
        '<span class="ok">no dataset drift</span>'
    head = (f"<p>{verdict} · {report.share_drifted:.0%} of columns drifted · reference "
            f"{report.reference_rows:,} rows, current {report.current_rows:,} rows</p>")
    ranked = sorted(report.features, key=lambda f: (not f.drifted, -f.statistic / max(
        f.threshold, 1e-12)))
    rows = [(f.name, f.kind, "yes" if f.drifted else "no", f.statistic_name, f.statistic,
             f.threshold, f.p_value, f.reason) for f in ranked]
    parts = [head, d.table(["column", "kind", "drifted", "statistic", "value", "threshold",
                            "p-value", "why"], rows, limit=200)]
    if report.skipped:
        parts += [d.heading("Not compared"), d.mapping_table(report.skipped, "column", "why")]
    if report.features:
        fig = go.Figure(go.Bar(
            x=[f.name for f in ranked], y=[f.statistic / max(f.threshold, 1e-12) for f in ranked],
            marker_color=["#b00020" if f.drifted else "#4a78b5" for f in ranked]))
        fig.add_hline(y=1.0, line_dash="dash", annotation_text="threshold")
        fig.update_layout(title="Drift statistic / threshold per column", height=320,
                          margin={"t": 40, "b": 30})
        parts.append(d.figure(fig))
    return d.box("Drift", *parts)


def drift_text(report: Any) -> str:
    """A plain ``__repr__``."""
    return d.text_lines(
        f"DriftReport(drifted={report.drifted}, share={report.share_drifted:.0%})",
        [f"{f.name}: {'DRIFTED' if f.drifted else 'ok'} ({f.reason})" for f in report.features])


def report_html(report: Any, height: int = 700) -> str:
    """The self-contained report page in an isolated frame (its styles stay inside)."""
    return (f'<iframe title="{d.esc(report.ref)}" srcdoc="{html.escape(report.html, quote=True)}"'
            f' style="width:100%;height:{height}px;border:1px solid #ddd"></iframe>')
