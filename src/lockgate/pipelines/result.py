"""Results of a pipeline run as values: per step status, timings, errors; the outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lockgate.artifacts import ArtifactStore
from lockgate.config import Settings, load_settings
from lockgate.errors import NotFoundError, close_matches
from lockgate.pipelines.task import Ref
from lockgate.store import ArtifactRecord


@dataclass(frozen=True, slots=True)
class StepResult:
    """How one step run (one item of a fan-out) ended."""

    name: str
    node: str
    item: int | None
    run_id: str
    status: str  # FINISHED | CACHED | FAILED | TIMED_OUT | KILLED | SKIPPED
    duration: float
    attempts: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """How a pipeline run ended, with every step and the datasets it made available."""

    run_id: str
    pipeline: str
    status: str
    duration: float
    steps: tuple[StepResult, ...]
    outputs: dict[str, Ref] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the run FINISHED."""
        return self.status == "FINISHED"

    def statuses(self) -> dict[str, str]:
        """``{step name: status}``, e.g. ``{"fit[3]": "CACHED"}``."""
        return {s.name: s.status for s in self.steps}

    def step(self, name: str) -> StepResult:
        """The result of the step run called ``name`` (``fit`` or ``fit[3]``)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFoundError(f"No step `{name}` in run {self.run_id}."
                            + close_matches(name, [s.name for s in self.steps]))

    def load(self, dataset: str, settings: Settings | None = None) -> Any:
        """Load a dataset's value (a list for a fan-out's gathered output)."""
        if dataset not in self.outputs:
            raise NotFoundError(f"Run {self.run_id} has no dataset `{dataset}`."
                                + close_matches(dataset, self.outputs))
        store = ArtifactStore.open(settings or load_settings())
        ref = self.outputs[dataset]
        if isinstance(ref, ArtifactRecord):
            return store.load(ref)
        return [store.load(r) for r in ref]
