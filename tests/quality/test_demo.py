"""The quality section of the quickstart, after the data section it builds on."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from lockgate.config import Settings
from lockgate.demo import data, quality
from lockgate.demo.context import DemoContext
from lockgate.store import Store


def test_quality_section_writes_the_report_and_shows_the_gate(settings: Settings) -> None:
    out = io.StringIO()
    workdir = Path(settings.home).resolve() / "quickstart"
    workdir.mkdir(parents=True)
    ctx = DemoContext(settings=settings, store=Store.open(settings),
                      console=Console(file=out, width=200), workdir=workdir)
    data.run(ctx)
    quality.run(ctx)
    text = out.getvalue()
    report = json.loads(Path(ctx.results["quality_report_json"]).read_text())
    assert report["dataset"]["validation_status"] == "passed"
    assert report["drift"]["compared"] and not report["drift"]["drifted"]
    assert Path(ctx.results["quality_report_html"]).is_file()
    at = next(c for c in report["columns"] if c["column"] == "last_event_at")
    assert at["kind"] == "temporal" and at["min_time"].startswith("20")
    assert "lockgate data report churn@" in text
    assert "Refusing to train on churn_units@v1: its validation failed." in text
    assert "scale:tenure_months (batch)" in text
    run_id = ctx.results["quality_override_run_id"]
    (edge,) = ctx.store.lineage(run_id=run_id)
    assert edge.note.startswith("allow_unvalidated: demo: the new CRM export")
