"""Who is looking at the dashboard, and so what it may show them.

Served alone (``lockgate ui``) the dashboard has one kind of viewer, who sees
everything. Mounted in ``lockgate server``, the viewer is the request's authenticated
user: a global reader sees everything, a user limited to its grants (global role
``none``) sees the runs of the experiments and the models its grants name, and nothing
else. Listings leave the rest out and a page about the rest answers 404, the same as
for something that does not exist, as the REST API does.

Deny by default: the server lets such a user reach only the dashboard routes marked
:data:`FILTERED` (their handlers filter through a :class:`Viewer`); every other page
(data tables, lineage, raw blobs) needs a global reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from lockgate.errors import NotFoundError
from lockgate.security.accounts import PRINCIPAL_KEY, Principal
from lockgate.store import ArtifactRecord, RunRecord, Store

FILTERED_KEY = "x-lockgate-filtered"
#: ``openapi_extra`` of a dashboard route whose handler shows a :class:`Viewer` only what
#: it may see (the server's middleware lets users limited to their grants reach it).
FILTERED: dict[str, Any] = {FILTERED_KEY: True}


@dataclass(frozen=True, slots=True)
class Viewer:
    """What one viewer may see: experiment and model names (None: all of them)."""

    experiments: frozenset[str] | None = None
    models: frozenset[str] | None = None

    @classmethod
    def of(cls, principal: Principal | None) -> Viewer:
        """The viewer a principal is (None: the dashboard served alone sees all)."""
        if principal is None:
            return cls()
        return cls(principal.visible("experiment"), principal.visible("model"))

    @property
    def scoped(self) -> bool:
        """Whether anything is hidden from this viewer."""
        return self.experiments is not None or self.models is not None

    def sees_experiment(self, name: str) -> bool:
        return self.experiments is None or name in self.experiments

    def sees_model(self, name: str) -> bool:
        return self.models is None or name in self.models

    def run(self, store: Store, run_id: str) -> RunRecord:
        """The run ``run_id`` (an id or unique prefix), if this viewer may see it.

        Raises:
            NotFoundError: no such run, or one of an experiment hidden from the viewer.
        """
        found = store.get_run(run_id)
        if not self.sees_experiment(found.experiment):
            raise NotFoundError(f"No run with id `{run_id}`.")
        return found

    def model(self, name: str) -> str:
        """``name``, if this viewer may see the model.

        Raises:
            NotFoundError: a model hidden from the viewer.
        """
        if not self.sees_model(name):
            raise NotFoundError(f"No model `{name}`.")
        return name

    def artifact(self, store: Store, artifact_id: int) -> ArtifactRecord:
        """The artifact, if it belongs to a run this viewer may see (an artifact of no
        run only for an unscoped viewer).

        Raises:
            NotFoundError: no such artifact, or one hidden from the viewer.
        """
        found = store.artifact(artifact_id)
        if self.experiments is not None and (
                found.run_id is None or not self.sees_experiment(
                    store.get_run(found.run_id).experiment)):
            raise NotFoundError(f"No artifact {artifact_id}.")
        return found

    def within(self, store: Store) -> tuple[str, ...] | None:
        """The existing experiments this viewer may see (None: all)."""
        if self.experiments is None:
            return None
        return tuple(name for name in store.experiments() if name in self.experiments)

    def runs(self, runs: Iterable[RunRecord]) -> list[RunRecord]:
        """The runs among ``runs`` this viewer may see."""
        return [r for r in runs if self.sees_experiment(r.experiment)]


async def viewer(request: Request) -> Viewer:
    """The viewer of ``request``: its user behind ``lockgate server``, else everyone."""
    found = (request.scope.get("state") or {}).get(PRINCIPAL_KEY)
    return Viewer.of(found if isinstance(found, Principal) else None)


#: A route parameter annotated with this receives the request's :class:`Viewer`.
ViewerDep = Annotated[Viewer, Depends(viewer)]
