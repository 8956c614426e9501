"""The exception tree: one root, a few subclasses that also inherit the matching builtin.

Every error lockgate raises on bad input says what was found, where, and how to fix it.
The CLI prints the message without a traceback (``--debug`` shows it).
"""

from __future__ import annotations

from collections.abc import Iterable


class LockgateError(Exception):
    """Root of every error lockgate raises on purpose."""


class ConfigError(LockgateError, ValueError):
    """A setting is missing, malformed or points somewhere unusable."""


class StoreError(LockgateError, RuntimeError):
    """The metadata store cannot be reached, opened or migrated."""


class NotFoundError(LockgateError, LookupError):
    """A run, artifact, table, model or other record does not exist."""


class TrackingError(LockgateError, ValueError):
    """A value given to the tracking API cannot be recorded faithfully."""


class ArtifactError(LockgateError, ValueError):
    """An artifact is corrupted, missing, or addressed outside its root."""


def close_matches(name: str, choices: Iterable[str]) -> str:
    """Return a ' Did you mean …?' hint for ``name`` among ``choices`` (or '')."""
    import difflib  # only on an error path; every command imports this module

    matches = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(f"`{m}`" for m in matches) + "?"


def numbered(problems: list[str]) -> str:
    """Format a list of problems as a numbered block for one combined error."""
    return "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
