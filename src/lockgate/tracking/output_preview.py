"""A pipeline step's outputs read back for people: found by step name, shown as a
short preview (a frame's head, a value's JSON), or written as files by the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lockgate.artifacts import ArtifactStore
from lockgate.config import Settings
from lockgate.errors import NotFoundError, close_matches
from lockgate.store import ArtifactRecord, Store

PREVIEW_ROWS = 10
PREVIEW_CHARS = 4000


@dataclass(frozen=True, slots=True)
class StepOutputs:
    """The outputs of one step run, by role."""

    step_run_id: str
    records: dict[str, ArtifactRecord]
    artifacts: ArtifactStore

    def select(self, name: str | None) -> dict[str, ArtifactRecord]:
        """All outputs, or the one called ``name``.

        Raises:
            NotFoundError: no output of that name (with the names there are).
        """
        if name is None:
            return dict(self.records)
        if name not in self.records:
            raise NotFoundError(
                f"The step has no output `{name}`; it has {', '.join(self.records) or 'none'}."
                + close_matches(name, self.records))
        return {name: self.records[name]}

    def load(self, name: str) -> Any:
        """The output's value, materialized and hash-checked."""
        return self.artifacts.load(self.records[name])


def step_outputs(settings: Settings, run_id: str, step_name: str) -> StepOutputs:
    """The outputs of step ``step_name`` in pipeline run ``run_id``.

    Raises:
        NotFoundError: no such run, or no such step in it (with close matches).
    """
    artifacts = ArtifactStore.open(settings)
    store = artifacts.store
    run = store.get_run(run_id)
    steps = store.list_runs(parent_id=run.id, limit=None)
    matches = [s for s in steps if s.name == step_name]
    if not matches:
        names = sorted({s.name for s in steps})
        raise NotFoundError(
            f"Run {run.id} ({run.name}) has no step `{step_name}`; its steps are "
            f"{', '.join(names) or 'none (not a pipeline run)'}." + close_matches(step_name, names))
    step = max(matches, key=lambda s: s.start_time)  # the last attempt of a re-run step
    return StepOutputs(step.id, produced(store, step.id), artifacts)


def produced(store: Store, run_id: str) -> dict[str, ArtifactRecord]:
    """What a run produced, by lineage role."""
    out: dict[str, ArtifactRecord] = {}
    for edge in store.lineage(run_id=run_id):
        if edge.direction == "produced" and edge.artifact_id is not None:
            record = store.artifact(edge.artifact_id)
            out[edge.role or record.name] = record
    return out


def outputs_by_step(store: Store, run_id: str) -> list[tuple[str, str, ArtifactRecord]]:
    """``(step, role, record)`` for every output of a pipeline run's steps, in run order."""
    rows = []
    for step in reversed(store.list_runs(parent_id=run_id, limit=None)):
        rows += [(step.name, role, record) for role, record in produced(store, step.id).items()]
    return rows


def preview(value: Any, *, as_json: bool = False) -> Any:
    """A short, faithful look at a value: a frame's shape and head, JSON for plain data,
    the type and size otherwise (text is never silently truncated without saying so)."""
    frame = _as_polars(value)
    if frame is not None:
        if as_json:
            return {"shape": list(frame.shape), "head": frame.head(PREVIEW_ROWS).to_dicts()}
        return f"{frame.height:,} rows × {frame.width} columns\n{frame.head(PREVIEW_ROWS)}"
    if as_json:
        try:
            json.dumps(value, allow_nan=True)
            return value
        except (TypeError, ValueError):
            return {"type": type(value).__name__, "repr": repr(value)[:PREVIEW_CHARS]}
    try:
        text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + f"\n… ({len(text) - PREVIEW_CHARS:,} more characters; "
        text += "use --out DIR for the whole value)"
    return text


def _as_polars(value: Any) -> Any:
    module = type(value).__module__
    if module.startswith("polars") and hasattr(value, "head"):
        return value
    if module.startswith("pandas") and hasattr(value, "to_dict") and hasattr(value, "columns"):
        import polars as pl

        return pl.from_pandas(value)
    return None
