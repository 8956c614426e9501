"""The modeling quickstart section runs after the data section and leaves its results."""

from __future__ import annotations

import io

from rich.console import Console

from lockgate.demo import data, modeling
from lockgate.demo.context import DemoContext
from lockgate.store import Store


def test_modeling_section(settings, tmp_path) -> None:
    out = io.StringIO()
    ctx = DemoContext(settings, Store.open(settings), Console(file=out, width=200), tmp_path)
    data.run(ctx)
    modeling.run(ctx)
    text = out.getvalue()
    assert "target_proxy" in text and "cancellation_fee" in text
    assert "computed without `cancellation_fee`" in text
    audited = ctx.results["modeling_audit"]
    assert audited.verdict == "inflated" and audited.claimed > audited.honest.high
    assert "splitter time because contract declares event_time `last_event_at`" in text
    result = ctx.results["train_result"]
    assert result.run_id == ctx.results["modeling_run_id"]
    assert result.evaluation.leak_free and result.evaluation.beats_baseline
    assert result.evaluation.dataset["table"] == "churn"
    assert Store.open(settings).get_run(ctx.results["modeling_leaky_run_id"]).status == "FINISHED"
