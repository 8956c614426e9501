"""Pipelines: plain-function steps wired as data, content-addressed caching, retries,
timeouts, fan-out, resume, schedules, lineage; local and Ray executors."""

from lockgate.pipelines.errors import ParamsError, PipelineError, ScheduleError
from lockgate.pipelines.pipeline import Node, Pipeline, node
from lockgate.pipelines.reference import load_pipeline
from lockgate.pipelines.result import PipelineResult, StepResult
from lockgate.pipelines.resume import resume_pipeline
from lockgate.pipelines.runner import RunOptions, run_pipeline
from lockgate.pipelines.step import StepSpec, step
from lockgate.pipelines.step_context import StepContext, current_step

__all__ = [
    "Node",
    "ParamsError",
    "Pipeline",
    "PipelineError",
    "PipelineResult",
    "RunOptions",
    "ScheduleError",
    "StepContext",
    "StepResult",
    "StepSpec",
    "current_step",
    "load_pipeline",
    "node",
    "resume_pipeline",
    "run_pipeline",
    "step",
]
