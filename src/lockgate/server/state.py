"""What every route of ``lockgate server`` reads, as one typed record: the settings, the
store, the artifact blobs, the upload folder, the registry, the login rate limiter and
the monitor passes running.

The app factory builds one :class:`TeamServerState` and keeps it on ``app.state``; a
route asks for it with :data:`TeamDep` and for the authenticated user with
:data:`PrincipalDep`. Routes therefore depend on nothing they are not handed, and one
router of :mod:`lockgate.server.routes` can be mounted alone on a bare app (with the
auth middleware in front) for a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, HTTPException, Request
from starlette.applications import Starlette

from lockgate.artifacts import ObjectBlobStore, blob_store_for
from lockgate.config import Settings
from lockgate.registry import Registry
from lockgate.security.accounts import Principal
from lockgate.server.access import RateLimiter, principal_of
from lockgate.server.pass_slots import PassSlots
from lockgate.store import Store

if TYPE_CHECKING:
    from lockgate.registry import GateConfig


@dataclass(frozen=True, slots=True)
class TeamServerState:
    """One team server's dependencies: where its records and bytes live."""

    settings: Settings
    store: Store
    blobs: ObjectBlobStore
    uploads: Path  # partial chunked uploads, one ``<sha256>.part`` file each
    registry: Registry
    limiter: RateLimiter
    passes: PassSlots  # the monitor passes running now
    #: The operator's promotion gates; None: the ``gates`` of ``lockgate.yaml``, read
    #: at each promotion.
    gates: GateConfig | None = None

    @classmethod
    def open(cls, settings: Settings, store: Store, limiter: RateLimiter,
             passes: PassSlots | None = None,
             gates: GateConfig | None = None) -> TeamServerState:
        """The state over ``store`` and the artifact root of ``settings``."""
        return cls(settings, store, blob_store_for(settings.resolved_artifact_root),
                   settings.home.resolve() / "server-uploads", Registry(store, settings),
                   limiter, passes or PassSlots(), gates)

    def gate_config(self) -> GateConfig:
        """The gates this server runs: the operator's, never a caller's."""
        from lockgate.registry import load_gate_config

        return self.gates if self.gates is not None else load_gate_config()

    def attach(self, app: Starlette) -> None:
        """Make this the record every route of ``app`` receives."""
        app.state.team = self


async def team_state(request: Request) -> TeamServerState:
    """The record of the app that received ``request``."""
    return cast(TeamServerState, request.app.state.team)


def principal(request: Request) -> Principal:
    """The user the auth middleware authenticated for ``request``."""
    found = principal_of(request.scope)
    if found is None:  # the middleware lets no request through without one
        raise HTTPException(401, "Not authenticated.")
    return found


async def principal_dependency(request: Request) -> Principal:
    """:func:`principal` as a dependency (async: no thread hop)."""
    return principal(request)


#: A route parameter annotated with this receives the app's :class:`TeamServerState`.
TeamDep = Annotated[TeamServerState, Depends(team_state)]
#: A route parameter annotated with this receives the authenticated :class:`Principal`.
PrincipalDep = Annotated[Principal, Depends(principal_dependency)]
