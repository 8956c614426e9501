"""The public surface of lockgate.pipelines is a decision, not an accident."""

from __future__ import annotations

import lockgate.pipelines as pipelines


def test_exported_members() -> None:
    assert sorted(pipelines.__all__) == [
        "Node", "ParamsError", "Pipeline", "PipelineError", "PipelineResult", "RunOptions",
        "ScheduleError", "StepContext", "StepResult", "StepSpec", "current_step",
        "load_pipeline", "node", "resume_pipeline", "run_pipeline", "step",
    ]
    for name in pipelines.__all__:
        assert getattr(pipelines, name) is not None
