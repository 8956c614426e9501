"""What travels between the runner and a worker: one step attempt and its outcome.

Both are small picklable records. Inputs and outputs are artifact records, never the
values themselves: values always go through the artifact store, so lineage and caching
are the same on every executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lockgate.config import Settings
from lockgate.store import ArtifactRecord

#: An input or output: one artifact, or a list of artifacts (a fan-out's items).
Ref = ArtifactRecord | tuple[ArtifactRecord, ...]


@dataclass(frozen=True, slots=True)
class StepTask:
    """One attempt of one step run, as sent to a worker.

    Attributes:
        key: unique within the pipeline run (``fit`` or ``fit[3]``).
        step_run_id: the child run the attempt belongs to.
        node: the node's name (artifact names start with it).
        function: ``(module, qualname, file, file sha256)`` of the step function.
        params: keyword arguments from the resolved parameters.
        inputs: ``{argument: Ref}``.
        outputs: output names, in return order.
        split_outputs: outputs saved one artifact per list item (they feed a fan-out).
        settings: where the store and the artifacts live.
        timeout: seconds before the worker is killed.
        attempt: 1 for the first attempt.
        cpus, gpus, resources: what the step asked for (Ray schedules by them).
        pipeline_run_id: the pipeline run (with node and item: the idempotency key).
        item: the index in a fan-out, else None.
        tables: ``{table: version}`` pinned for the step's declared table inputs.
    """

    key: str
    step_run_id: str
    node: str
    function: tuple[str, str, str | None, str | None]
    params: Mapping[str, Any]
    inputs: Mapping[str, Ref]
    outputs: tuple[str, ...]
    split_outputs: tuple[str, ...]
    settings: Settings
    timeout: float | None = None
    attempt: int = 1
    cpus: float = 1.0
    gpus: float = 0.0
    resources: Mapping[str, float] = field(default_factory=dict)
    pipeline_run_id: str = ""
    item: int | None = None
    tables: Mapping[str, int] = field(default_factory=dict)

    def retry(self) -> StepTask:
        """The same task as its next attempt."""
        return replace(self, attempt=self.attempt + 1)


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What an attempt ended with.

    Attributes:
        key: the task's key.
        ok: the function returned and every output was stored.
        outputs: ``{output name: Ref}`` when ok.
        error: the traceback (or the framework's message) when not ok.
        retryable: whether the step's retry policy (``@step(retry_on=...)``) counts
            this failure as transient; False too for failures no retry can fix (an output
            without a materializer, a wrong number of outputs).
        duration: seconds the attempt took in the worker.
        state: how a failed attempt ended: FAILED, or TIMED_OUT when killed at its timeout.
        reads: the table versions the step read (``TableRead.to_dict()`` each).
        died: the worker died during the attempt (no exception to judge).
    """

    key: str
    ok: bool
    outputs: Mapping[str, Ref] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = True
    duration: float = 0.0
    state: Literal["FAILED", "TIMED_OUT"] = "FAILED"
    reads: tuple[Mapping[str, Any], ...] = ()
    died: bool = False

    @property
    def summary(self) -> str:
        """The last line of the error: ``ValueError: ...``."""
        lines = [line for line in (self.error or "").strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""
