"""A short analysis in a real Jupyter kernel (nbclient + ipykernel): search runs, read
one back, load an artifact, and display runs, a comparison, an evaluation with its
charts, a finding, a profile and a drift result; the HTML is checked, offline."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    """
    import lockgate as lg, polars as pl, numpy as np
    from lockgate.config import Settings
    settings = Settings(home=HOME)
    ids = []
    for lr, auc in [(0.001, 0.71), (0.05, 0.93), (0.2, 0.88)]:
        with lg.start_run(f"lr-{lr}", experiment="nb", params={"lr": lr, "seed": 1},
                          settings=settings, sample_hardware=False) as run:
            run.log_metric("roc_auc", auc)
            run.log_frame(pl.DataFrame({"score": [auc, 1 - auc]}), "scores")
        ids.append(run.id)
    """,
    'lg.search_runs("params.lr > 0.01", order_by="metrics.roc_auc DESC", settings=settings)',
    "run = lg.get_run(ids[1][:8], settings=settings); run",
    'run.artifact("scores")["score"].round(2).to_list()',
    "lg.compare_runs(*ids, settings=settings)",
    """
    from tests.modeling.datasets import churn, churn_contract
    from sklearn.linear_model import LogisticRegression
    from lockgate.modeling import train_frame, TrainConfig
    result = train_frame(churn(300), churn_contract(), LogisticRegression(max_iter=300),
                         settings=settings, config=TrainConfig.for_budget("quick"))
    result.evaluation
    """,
    "result.findings[0] if result.findings else None",
    """
    from lockgate.quality import profile, drift
    frame = churn(300)
    shifted = frame.with_columns(pl.col(frame.columns[1]) * 3) if frame.schema[
        frame.columns[1]].is_numeric() else frame
    profile(frame)
    """,
    "drift(frame, shifted)",
]


@pytest.mark.timeout(600)
def test_analysis_in_a_real_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.v4.new_notebook()
    setup = f"HOME = {str(tmp_path / '.lockgate')!r}"
    notebook.cells = [nbformat.v4.new_code_cell(setup)] + [
        nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in CELLS]
    root = Path(__file__).resolve().parents[1]
    env_path = os.pathsep.join([str(root / "src"), str(root), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", env_path)  # the kernel is a child: it inherits this
    client = NotebookClient(notebook, timeout=500, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [_html(cell) for cell in notebook.cells]
    search, run, _artifact, comparison, evaluation, finding, prof, drifted = outputs[2:]
    assert "metrics.roc_auc" in search and search.index("lr-0.05") < search.index("lr-0.2")
    assert "lr-0.001" not in search
    assert "Metrics (last value)" in run and "scores" in run and "FINISHED" in run
    assert _text(notebook.cells[4]) == "[0.93, 0.07]"
    assert "Params that differ" in comparison and "lr" in comparison
    assert "Holdout metrics" in evaluation and "95% CI" in evaluation
    # Charts are embedded offline: plotly.js inline once, never a CDN.
    assert evaluation.count("Plotly.newPlot") >= 2
    assert not re.search(r"<script[^>]+src=", "".join(outputs))
    assert "plotly.js v" in evaluation or "plotly.js" in evaluation
    if finding:
        assert "Finding" in finding
    assert "Profile: 300 rows" in prof
    assert "Drift" in drifted and "Plotly.newPlot" in drifted
    assert "plotly.js v" not in drifted  # not inlined a second time
    _save_render(tmp_path, outputs)


def _html(cell: nbformat.NotebookNode) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            raise AssertionError("\n".join(output["traceback"]))
        data = output.get("data", {})
        if "text/html" in data:
            return str(data["text/html"])
    return ""


def _text(cell: nbformat.NotebookNode) -> str:
    for output in cell.get("outputs", []):
        if "text/plain" in output.get("data", {}):
            return str(output["data"]["text/plain"])
    return ""


def _save_render(folder: Path, outputs: list[str]) -> None:
    """The outputs as one page (for a screenshot when NOTEBOOK_RENDER_PATH is set)."""
    target = os.environ.get("NOTEBOOK_RENDER_PATH")
    if target:
        body = "".join(f"<section style='margin:16px 0'>{o}</section>" for o in outputs if o)
        Path(target).write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{body}</body>",
                                encoding="utf-8")
    (folder / "outputs.json").write_text(json.dumps(outputs))
