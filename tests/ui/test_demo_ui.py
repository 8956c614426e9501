"""The quickstart's dashboard section prints the command and what each page shows."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from lockgate.config import Settings
from lockgate.demo import ui
from lockgate.demo.context import DemoContext
from lockgate.store import Store


def test_prints_the_dashboard_command(settings: Settings, tmp_path: Path) -> None:
    store = Store.open(settings)
    run_id = store.create_run("demo")
    out = io.StringIO()
    ctx = DemoContext(settings=settings, store=store, workdir=tmp_path,
                      console=Console(file=out, width=200), results={"tracking_run_id": run_id})
    ui.run(ctx)
    text = out.getvalue()
    assert "lockgate ui" in text
    assert f"http://127.0.0.1:5000/runs/{run_id}" in text
    assert "1 runs" in text and "0 tables (none yet)" in text
    for name in ("Runs", "Pipelines", "Data", "Models", "Monitoring"):
        assert name in text
    assert ctx.results["ui_command"] == "lockgate ui"
