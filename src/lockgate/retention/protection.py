"""What lineage protects from deletion, and why.

A registered model version protects its package, the run that trained it, and
everything upstream of that run through lineage: the dataset versions and artifacts it
consumed, the runs that produced those, their inputs, and so on. Versions an alias
(``production``, ``staging``) points at come first, so a kept thing names the strongest
reason (``input of run 3f2a… that trained churn@3 (production)``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import sqlalchemy as sa

from lockgate.store import Store
from lockgate.store import schema as t
from lockgate.store import tables_registry as reg


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A registered model version and the aliases that point at it."""

    name: str
    version: int
    run_id: str | None
    artifact_id: int
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``churn@3 (production)``."""
        suffix = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.name}@{self.version}{suffix}"


@dataclass(frozen=True, slots=True)
class Protection:
    """Things that may not be deleted, each with the reason."""

    models: list[ModelRef] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)
    artifacts: dict[int, str] = field(default_factory=dict)
    dataset_versions: dict[int, str] = field(default_factory=dict)

    def trained(self, run_ids: set[str]) -> list[ModelRef]:
        """Model versions trained by one of ``run_ids``."""
        return [m for m in self.models if m.run_id in run_ids]


def model_refs(store: Store) -> list[ModelRef]:
    """Every registered version, aliased ones first, newest first within each group
    (behind ``lockgate server``: the versions of the models the user may read)."""
    if getattr(store, "remote", False):
        return _remote_refs(store)
    with store.read() as conn:
        aliases: dict[tuple[str, int], list[str]] = {}
        for name, alias, version in conn.execute(sa.select(
                reg.model_aliases.c.model_name, reg.model_aliases.c.alias,
                reg.model_aliases.c.version)):
            aliases.setdefault((name, int(version)), []).append(alias)
        rows = conn.execute(sa.select(
            reg.model_versions.c.model_name, reg.model_versions.c.version,
            reg.model_versions.c.run_id, reg.model_versions.c.artifact_id)).all()
    refs = [ModelRef(name, int(version), run_id, int(artifact_id),
                     tuple(sorted(aliases.get((name, int(version)), []))))
            for name, version, run_id, artifact_id in rows]
    return sorted(refs, key=lambda m: (not m.aliases, m.name, -m.version))


def _remote_refs(store: Store) -> list[ModelRef]:
    from lockgate.registry.registry_backend import backend_for

    backend = backend_for(store)
    refs = [ModelRef(v.name, v.version, v.run_id, v.artifact_id, tuple(sorted(v.aliases)))
            for name in backend.models() for v in backend.versions(name)]
    return sorted(refs, key=lambda m: (not m.aliases, m.name, -m.version))


def protection(store: Store) -> Protection:
    """Walk lineage upstream from every registered version's training run."""
    models = model_refs(store)
    with store.read() as conn:
        consumed: dict[str, list[tuple[int | None, int | None]]] = {}
        for run_id, artifact_id, dv_id in conn.execute(sa.select(
                t.lineage.c.run_id, t.lineage.c.artifact_id, t.lineage.c.dataset_version_id)
                .where(t.lineage.c.direction == "consumed")):
            consumed.setdefault(run_id, []).append((artifact_id, dv_id))
        producer = dict(conn.execute(sa.select(t.artifacts.c.id, t.artifacts.c.run_id)
                                     .where(t.artifacts.c.run_id.is_not(None))).all())
        dv_producer = dict(conn.execute(
            sa.select(t.dataset_versions.c.id, t.dataset_versions.c.run_id)
            .where(t.dataset_versions.c.run_id.is_not(None))).all())
        dv_names = {i: f"{name}@v{v}" for i, name, v in conn.execute(sa.select(
            t.dataset_versions.c.id, t.dataset_versions.c.table_name,
            t.dataset_versions.c.version))}
        parents = dict(conn.execute(sa.select(t.runs.c.id, t.runs.c.parent_id)
                                    .where(t.runs.c.parent_id.is_not(None))).all())
    found = Protection(models=models)
    for model in models:
        found.artifacts.setdefault(model.artifact_id, f"package of {model.label}")
        _walk(found, model, consumed, producer, dv_producer, dv_names, parents)
    return found


def _walk(found: Protection, model: ModelRef,
          consumed: dict[str, list[tuple[int | None, int | None]]],
          producer: dict[int, str], dv_producer: dict[int, str],
          dv_names: dict[int, str], parents: dict[str, str]) -> None:
    if model.run_id is None:
        return
    found.runs.setdefault(model.run_id, f"trained {model.label}")
    queue = deque([model.run_id])
    seen = {model.run_id}
    while queue:
        run_id = queue.popleft()
        parent = parents.get(run_id)
        if parent is not None and parent not in seen:
            seen.add(parent)
            found.runs.setdefault(parent, f"pipeline run of {run_id[:8]}, upstream of "
                                          f"{model.label}")
            queue.append(parent)
        for artifact_id, dv_id in consumed.get(run_id, []):
            reason = f"input of run {run_id[:8]}, upstream of {model.label}"
            upstream = None
            if artifact_id is not None:
                found.artifacts.setdefault(artifact_id, reason)
                upstream = producer.get(artifact_id)
            if dv_id is not None:
                found.dataset_versions.setdefault(dv_id, reason)
                upstream = dv_producer.get(dv_id)
            if upstream is not None and upstream not in seen:
                seen.add(upstream)
                what = (f"artifact #{artifact_id}" if artifact_id is not None
                        else dv_names.get(dv_id or -1, f"dataset version #{dv_id}"))
                found.runs.setdefault(upstream, f"produced {what}, upstream of {model.label}")
                queue.append(upstream)
