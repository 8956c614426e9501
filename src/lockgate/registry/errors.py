"""Errors of the registry: refused packages, failed gates, unknown models and versions."""

from __future__ import annotations

from lockgate.errors import ArtifactError, LockgateError, NotFoundError


class PackageError(ArtifactError):
    """A model package is incomplete, tampered with, or cannot be read safely."""


class ModelNotFoundError(NotFoundError):
    """A model name, version or alias does not exist in the registry."""


class RegistryError(LockgateError, ValueError):
    """A registry operation was asked for something inconsistent (bad stage, bad ref)."""


class GateFailedError(LockgateError, RuntimeError):
    """A promotion was refused because at least one gate failed; carries the results."""

    def __init__(self, message: str, results: list) -> None:
        super().__init__(message)
        self.results = results


class VersionTakenError(RegistryError):
    """The version number being registered was taken by another writer first."""
