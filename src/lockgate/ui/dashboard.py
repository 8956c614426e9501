"""What every dashboard route reads, as one typed record: the store, the artifacts and
the access policy of one dashboard.

The app factory builds it once and keeps it on ``app.state``; a route asks for it with
:data:`DashboardDep`. Routes therefore depend on nothing they are not handed, and one
router can be mounted on a bare app with its own record (as the tests do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from starlette.applications import Starlette

from lockgate.artifacts import ArtifactStore, ObjectBlobStore, allowlist, blob_store_for
from lockgate.config import Settings
from lockgate.store import Store
from lockgate.ui.access import AccessPolicy


@dataclass(frozen=True, slots=True)
class Dashboard:
    """One dashboard's dependencies: where its records and bytes live, who may edit."""

    settings: Settings
    policy: AccessPolicy
    store: Store
    blobs: ObjectBlobStore
    artifacts: ArtifactStore

    @classmethod
    def open(cls, settings: Settings, policy: AccessPolicy) -> Dashboard:
        """The dashboard over the store and artifact root named by ``settings``."""
        store = Store.open(settings)
        blobs = blob_store_for(settings.resolved_artifact_root)
        return cls(settings, policy, store, blobs, ArtifactStore(store, blobs,
                                                                 allowlist(settings)))

    def attach(self, app: Starlette) -> None:
        """Make this the record every route of ``app`` receives."""
        app.state.dashboard = self


async def dashboard(request: Request) -> Dashboard:
    """The record of the app that received ``request`` (async: no thread hop per page)."""
    return cast(Dashboard, request.app.state.dashboard)


#: A route parameter annotated with this receives the app's :class:`Dashboard`.
DashboardDep = Annotated[Dashboard, Depends(dashboard)]
