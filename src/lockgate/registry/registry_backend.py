"""Where the registry's records live and where its decisions are made: one interface,
two variants (one file each).

:class:`~lockgate.registry.embedded_backend.EmbeddedBackend` reads and writes the
registry's tables in the metadata store and runs the promotion gates in this process.
:class:`~lockgate.registry.remote_backend.RemoteBackend` sends the same operations to
``lockgate server``, which applies them with the embedded variant: its own gate
configuration, its own shadow evidence, its authorization and audit trail. The
:class:`~lockgate.registry.Registry` and ``promote``/``rollback`` call this interface
only, so the registry's code is the same whether the store is local or a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lockgate.registry.gates import GateConfig
    from lockgate.registry.model_version import ModelNote, ModelVersion, Registry, Transition
    from lockgate.registry.promotion import PromotionResult
    from lockgate.registry.shadow_period import ShadowEvidence
    from lockgate.store import ArtifactRecord, Store


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A package already stored as an artifact, to become the next version of a model."""

    name: str
    version: int
    run_id: str
    artifact: ArtifactRecord
    details: dict[str, Any]
    actor: str | None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class PromotionRequest:
    """What ``promote`` was asked to do."""

    name: str
    version: int
    to: str
    config: GateConfig | None
    dry_run: bool
    actor: str | None
    reason: str | None
    shadow: ShadowEvidence | None


class RegistryBackend(Protocol):
    """The registry's records (models, versions, aliases, history, notes) and its two
    decisions (promote through the gates, roll back production)."""

    def models(self) -> list[str]: ...

    def require_model(self, name: str) -> None: ...

    def versions(self, name: str) -> list[ModelVersion]: ...

    def get(self, name: str, version: int) -> ModelVersion: ...

    def aliases(self, name: str) -> dict[str, int]: ...

    def alias_version(self, name: str, alias: str) -> int | None: ...

    def transitions(self, name: str) -> list[Transition]: ...

    def notes(self, name: str) -> list[ModelNote]: ...

    def add_note(self, name: str, text: str, version: int | None, author: str | None
                 ) -> None: ...

    def next_version(self, name: str) -> int: ...

    def add_version(self, new: NewVersion) -> ModelVersion: ...

    def transition(self, name: str, version: int, to_stage: str, *, action: str,
                   actor: str | None, reason: str | None,
                   gates: list[dict[str, Any]] | None) -> ModelVersion: ...

    def set_alias(self, name: str, alias: str, version: int, *, actor: str | None,
                  reason: str | None) -> ModelVersion: ...

    def transition_refused(self, name: str, version: int, to_stage: str, *,
                           actor: str | None, reason: str | None,
                           gates: list[dict[str, Any]] | None) -> None: ...

    def promote(self, registry: Registry, request: PromotionRequest) -> PromotionResult: ...

    def rollback(self, registry: Registry, name: str, *, actor: str | None,
                 reason: str | None) -> ModelVersion: ...


def backend_for(store: Store) -> RegistryBackend:
    """The variant that matches the store: a client of ``lockgate server`` speaks to
    it, anything else reads its own tables (the one place the two are told apart)."""
    from lockgate.store.remote import RemoteStore

    if isinstance(store, RemoteStore):
        from lockgate.registry.remote_backend import RemoteBackend

        return RemoteBackend(store)
    from lockgate.registry.embedded_backend import EmbeddedBackend

    return EmbeddedBackend(store)
