"""The registry through ``lockgate server``: the same operations as the embedded
backend, sent to ``/api/v1/models``.

The server applies each one with its own store and decides what only it may decide:
the gates (its configuration, its shadow evidence), which version a rollback restores,
who acts (the token's user) and whether a stage may move without the gates (an
admin's override, audited). Every state change carries an ``Idempotency-Key`` kept
across its retries, so a request whose answer was lost is applied once.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from lockgate.registry.errors import RegistryError
from lockgate.registry.gates import GateResult
from lockgate.registry.model_version import (
    STAGE_ALIASES,
    ModelNote,
    ModelVersion,
    Transition,
)
from lockgate.registry.registry_backend import NewVersion, PromotionRequest
from lockgate.store.remote import RemoteStore

if TYPE_CHECKING:
    from lockgate.registry.model_version import Registry
    from lockgate.registry.promotion import PromotionResult

#: How long the server may take to run the gates of one promotion (bootstrap, a fresh
#: process loading the package for the infra check) before the client gives up.
DECISION_SECONDS = 900.0


class RemoteBackend:
    """The registry of the server behind ``store``."""

    def __init__(self, store: RemoteStore) -> None:
        self.store = store

    # -- reading -----------------------------------------------------------------

    def models(self) -> list[str]:
        return [str(n) for n in self._get("")]

    def require_model(self, name: str) -> None:
        self._get(f"/{_part(name)}")

    def versions(self, name: str) -> list[ModelVersion]:
        return [version_from(v) for v in self._get(f"/{_part(name)}/versions")]

    def get(self, name: str, version: int) -> ModelVersion:
        return version_from(self._get(f"/{_part(name)}/versions/{int(version)}"))

    def aliases(self, name: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in self._get(f"/{_part(name)}/aliases").items()}

    def alias_version(self, name: str, alias: str) -> int | None:
        found = self._get(f"/{_part(name)}/aliases/{_part(alias)}")["version"]
        return None if found is None else int(found)

    def transitions(self, name: str) -> list[Transition]:
        return [Transition(**t) for t in self._get(f"/{_part(name)}/transitions")]

    def notes(self, name: str) -> list[ModelNote]:
        return [ModelNote(**n) for n in self._get(f"/{_part(name)}/notes")]

    # -- writing -----------------------------------------------------------------

    def add_note(self, name: str, text: str, version: int | None, author: str | None
                 ) -> None:
        self._post(f"/{_part(name)}/notes", {"text": text, "version": version,
                                             "author": author})

    def next_version(self, name: str) -> int:
        return int(self._get(f"/{_part(name)}/next-version")["version"])

    def add_version(self, new: NewVersion) -> ModelVersion:
        """Record a package already uploaded (``Registry.register`` stored it through the
        server's blobs); the server checks it is that run's, intact package."""
        return version_from(self._post(f"/{_part(new.name)}/versions", {
            "version": new.version, "run_id": new.run_id, "artifact_id": new.artifact.id,
            "package_sha256": new.artifact.sha256, "description": new.description,
            "actor": new.actor}))

    def transition(self, name: str, version: int, to_stage: str, *, action: str,
                   actor: str | None, reason: str | None,
                   gates: list[dict[str, Any]] | None) -> ModelVersion:
        # a stage the gates guard moves without them only as an (admin's) override
        route = "override" if to_stage in STAGE_ALIASES else "stage"
        return version_from(self._post(
            f"/{_part(name)}/versions/{int(version)}/{route}",
            {"to": to_stage, "action": action, "actor": actor, "reason": reason,
             "gates": gates or []}))

    def set_alias(self, name: str, alias: str, version: int, *, actor: str | None,
                  reason: str | None) -> ModelVersion:
        return version_from(self._post(f"/{_part(name)}/aliases/{_part(alias)}",
                                       {"version": int(version), "actor": actor,
                                        "reason": reason}))

    def transition_refused(self, name: str, version: int, to_stage: str, *,
                           actor: str | None, reason: str | None,
                           gates: list[dict[str, Any]] | None) -> None:
        raise RegistryError(
            f"lockgate server ({self.store.url}) records refused promotions itself, from "
            f"the gates it runs: call `promote({name!r}, {version}, to={to_stage!r})` "
            "instead of writing the refusal.")

    # -- decisions ---------------------------------------------------------------

    def promote(self, registry: Registry, request: PromotionRequest) -> PromotionResult:
        from lockgate.registry.promotion import PromotionResult

        # A config and shadow evidence travel as what the caller expects: the server
        # runs its own gates (an admin's config is applied, audited) and reads its own
        # shadow evidence, and refuses a difference (see server/routes/models.py).
        expected = None if request.config is None else \
            request.config.model_dump(mode="json")
        found = self._post(f"/{_part(request.name)}/versions/{int(request.version)}/promote",
                           {"to": request.to, "dry_run": request.dry_run,
                            "actor": request.actor, "reason": request.reason,
                            "config": expected, "shadow": None if request.shadow is None
                            else dataclasses.asdict(request.shadow)},
                           seconds=DECISION_SECONDS)
        return PromotionResult(version_from(found["version"]), str(found["to"]),
                               [GateResult(**g) for g in found["gates"]],
                               bool(found["promoted"]), found["previous"],
                               bool(found["dry_run"]))

    def rollback(self, registry: Registry, name: str, *, actor: str | None,
                 reason: str | None) -> ModelVersion:
        return version_from(self._post(f"/{_part(name)}/rollback",
                                       {"actor": actor, "reason": reason},
                                       seconds=DECISION_SECONDS))

    # -- the wire ----------------------------------------------------------------

    def _get(self, path: str) -> Any:
        return self.store.request("GET", "/models" + path).json()

    def _post(self, path: str, body: dict[str, Any], seconds: float | None = None) -> Any:
        """A state change; with ``seconds``, a long one: each attempt may wait that long
        and its retries (the same Idempotency-Key: the server answers 409 until the first
        attempt is done, then its answer) stop that long from now."""
        if seconds is None:
            return self.store.request("POST", "/models" + path, json_body=body,
                                      idempotent=True).json()
        return self.store.request("POST", "/models" + path, json_body=body, idempotent=True,
                                  timeout=seconds, deadline=time.monotonic() + seconds).json()


def version_from(data: dict[str, Any]) -> ModelVersion:
    """A :class:`ModelVersion` from its JSON form (aliases travel as a list)."""
    return ModelVersion(**{**data, "aliases": tuple(data.get("aliases") or ())})


def _part(text: str) -> str:
    return urllib.parse.quote(str(text), safe="")
