"""A finished (or running) run read back for analysis: ``lg.get_run(ID)``.

    run = lg.get_run("3f2a")          # any unique id prefix
    run.params                        # {"lr": 0.1, ...}
    run.metrics                       # Polars frame: key, step, timestamp, value
    run.artifact("model")             # the value, materialized (model, frame, figure...)
    run.outputs["train.model"]        # a pipeline step's output, loaded on access
    run.lineage()                     # what it consumed and produced

Like Metaflow's Client and MLflow's ``runs:/`` URIs, it loads what a past run saved
without re-running anything; artifacts are read through the artifact store, which
verifies their hash.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import polars as pl

from lockgate.artifacts import ArtifactStore
from lockgate.config import Settings, load_settings
from lockgate.errors import NotFoundError, close_matches
from lockgate.store import ArtifactRecord, RunRecord, Store
from lockgate.tracking import display as d
from lockgate.tracking.output_preview import produced
from lockgate.tracking.search import params_that_differ


def get_run(run_id: str, *, settings: Settings | None = None) -> RunView:
    """The run with this id (or a unique prefix of it).

    Raises:
        NotFoundError: no run has this id, or the prefix is ambiguous.
    """
    artifacts = ArtifactStore.open(settings or load_settings())
    return RunView(artifacts.store.get_run(run_id), artifacts)


class OutputMap(Mapping[str, Any]):
    """A run's outputs by name; each value is loaded (and hash-checked) on access."""

    def __init__(self, records: dict[str, ArtifactRecord], artifacts: ArtifactStore) -> None:
        self.records = records
        self._artifacts = artifacts

    def __getitem__(self, name: str) -> Any:
        if name not in self.records:
            raise NotFoundError(f"No output `{name}`; the run has "
                                f"{', '.join(self.records) or 'none'}."
                                + close_matches(name, self.records))
        return self._artifacts.load(self.records[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"OutputMap({', '.join(self.records) or 'empty'})"


@dataclass(eq=False)
class RunView:
    """A run read from the store: record, params, metrics, artifacts, outputs, lineage."""

    record: RunRecord
    artifacts_store: ArtifactStore = field(repr=False)

    @property
    def id(self) -> str:
        """The run's full id."""
        return self.record.id

    @property
    def store(self) -> Store:
        """The metadata store the run lives in."""
        return self.artifacts_store.store

    @cached_property
    def params(self) -> dict[str, Any]:
        """Params as logged (JSON values)."""
        return self.store.params(self.id)

    @cached_property
    def tags(self) -> dict[str, str]:
        """Tags of the run."""
        return self.store.tags(self.id)

    @cached_property
    def metrics(self) -> pl.DataFrame:
        """Every logged metric point: ``key, step, timestamp, value`` in logging order."""
        points = self.store.metrics(self.id)
        return pl.DataFrame(
            {"key": [p.key for p in points], "step": [p.step for p in points],
             "timestamp": [p.timestamp for p in points], "value": [p.value for p in points]},
            schema={"key": pl.String, "step": pl.Int64, "timestamp": pl.Float64,
                    "value": pl.Float64},
        )

    @cached_property
    def summary(self) -> dict[str, float]:
        """The last value of each metric."""
        return self.store.last_metrics([self.id])[self.id]

    @cached_property
    def artifacts(self) -> list[ArtifactRecord]:
        """Artifacts the run saved, oldest first."""
        return self.store.artifacts(self.id)

    def artifact(self, name: str) -> Any:
        """The artifact saved under ``name`` (the latest, if saved twice), materialized:
        a model, a frame, a figure, JSON, or bytes for a plain file.

        Raises:
            NotFoundError: no artifact of that name (with the names there are).
        """
        return self.artifacts_store.load(self.artifact_record(name))

    def artifact_record(self, name: str) -> ArtifactRecord:
        """The record of the artifact saved under ``name`` (the latest)."""
        matches = [a for a in self.artifacts if a.name == name]
        if not matches:
            names = sorted({a.name for a in self.artifacts})
            raise NotFoundError(
                f"Run {self.id} has no artifact `{name}`; it has "
                f"{', '.join(names) or 'none'}." + close_matches(name, names)
            )
        return matches[-1]

    @cached_property
    def outputs(self) -> OutputMap:
        """What the run produced, by role: a step's outputs (``model``), a pipeline run's
        steps' outputs (``train.model``), or a tracked run's artifacts by name."""
        records = self._produced(self.record, prefix="")
        for child in self.store.list_runs(parent_id=self.id, limit=None)[::-1]:
            records.update(self._produced(child, prefix=f"{child.name}."))
        if not records:
            records = {a.name: a for a in self.artifacts}
        return OutputMap(records, self.artifacts_store)

    def lineage(self) -> pl.DataFrame:
        """Edges of the run: ``direction`` (consumed/produced), ``kind`` (artifact or
        dataset), ``ref`` (artifact name or ``table@vN``), ``id``, ``role`` and ``note``."""
        rows = []
        for edge in self.store.lineage(run_id=self.id):
            if edge.artifact_id is not None:
                kind, ref = "artifact", self.store.artifact(edge.artifact_id).name
                ident = edge.artifact_id
            else:
                version = self.store.dataset_version_by_id(int(edge.dataset_version_id or 0))
                kind, ref = "dataset", f"{version.table_name}@v{version.version}"
                ident = version.id
            rows.append({"direction": edge.direction, "kind": kind, "ref": ref, "id": ident,
                         "role": edge.role, "note": edge.note})
        return pl.DataFrame(rows, schema={"direction": pl.String, "kind": pl.String,
                                          "ref": pl.String, "id": pl.Int64,
                                          "role": pl.String, "note": pl.String})

    def _produced(self, run: RunRecord, prefix: str) -> dict[str, ArtifactRecord]:
        return {prefix + role: r for role, r in produced(self.store, run.id).items()}

    # -- display -------------------------------------------------------------------

    def __repr__(self) -> str:
        r = self.record
        lines = [f"status {r.status}, {d.fmt(r.duration)}s, started {d.when(r.start_time)}"]
        lines += [f"param {k} = {d.fmt(v)}" for k, v in self.params.items()]
        lines += [f"metric {k} = {d.fmt(v)}" for k, v in self.summary.items()]
        lines += [f"artifact {a.name} ({a.size:,} bytes)" for a in self.artifacts]
        return d.text_lines(f"Run {r.id} {r.name!r} in {r.experiment!r}", lines)

    def _repr_html_(self) -> str:
        r = self.record
        status = "ok" if r.status in ("FINISHED", "CACHED") else "bad"
        head = (f'<p><span class="{status}">{d.esc(r.status)}</span> · experiment '
                f"<b>{d.esc(r.experiment)}</b> · {d.esc(d.fmt(r.duration))} s · started "
                f"{d.esc(d.when(r.start_time))} UTC</p>")
        artifacts = d.table(["name", "type", "bytes"],
                            ((a.name, a.media_type, a.size) for a in self.artifacts))
        return d.box(f"Run {r.name} ({r.id})", head, d.heading("Metrics (last value)"),
                     d.mapping_table(self.summary, "metric"), d.heading("Params"),
                     d.mapping_table(self.params, "param"), d.heading("Artifacts"),
                     artifacts if self.artifacts else d.paragraph("none", "muted"))


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Several runs side by side: params that differ and last metrics (best marked)."""

    runs: tuple[RunView, ...]

    def differing_params(self) -> list[str]:
        """Param keys whose values differ between the runs."""
        return params_that_differ({r.id: r.params for r in self.runs})

    def metric_keys(self) -> list[str]:
        """Every metric any of the runs logged."""
        return sorted({k for r in self.runs for k in r.summary})

    def __repr__(self) -> str:
        lines = [f"{r.id} {r.record.name}: " + ", ".join(
            f"{k}={d.fmt(r.summary.get(k))}" for k in self.metric_keys()) for r in self.runs]
        return d.text_lines(f"Comparison of {len(self.runs)} runs", lines)

    def _repr_html_(self) -> str:
        columns = ["", *(f"{r.record.name} ({r.id[:8]})" for r in self.runs)]
        params = [(k, *(r.params.get(k) for r in self.runs)) for k in self.differing_params()]
        metrics = [(k, *(r.summary.get(k) for r in self.runs)) for k in self.metric_keys()]
        return d.box(f"Comparison of {len(self.runs)} runs", d.heading("Params that differ"),
                     d.table(columns, params) if params else d.paragraph("identical", "muted"),
                     d.heading("Metrics (last value)"), d.table(columns, metrics))


def compare_runs(*run_ids: str, settings: Settings | None = None) -> RunComparison:
    """Compare runs by id (or prefix) for display in a notebook."""
    artifacts = ArtifactStore.open(settings or load_settings())
    return RunComparison(tuple(RunView(artifacts.store.get_run(i), artifacts)
                               for i in run_ids))
