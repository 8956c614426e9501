"""Settings: where lockgate keeps its home, metadata database, artifacts and tables.

Precedence, written once here: explicit keyword (CLI flag) > environment
(``LOCKGATE_*``) > ``lockgate.yaml`` in the project folder > default.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.errors import ConfigError
from lockgate.location import LocationError, ObjectLocation, parse_root

PROJECT_FILE = "lockgate.yaml"
ENV_PREFIX = "LOCKGATE_"
_SECONDS = ("heartbeat_seconds", "hardware_seconds", "metric_flush_seconds")
_NAMES = ("trusted_types", "allowed_hosts", "outbound_allow")
#: Durations that may be zero (purge at once, no grace), unlike the intervals above.
_DURATIONS = ("run_purge_days", "gc_grace_seconds")
_ROOTS = ("artifact_root", "data_root")


@dataclass(slots=True)
class Settings:
    """Resolved lockgate settings.

    A plain dataclass read by hand rather than a pydantic-settings model: every command
    builds one, and pydantic-settings costs ~0.25 s of CPU to import, most of the budget
    of ``lockgate runs list``. Building one applies the precedence above: a keyword given
    here wins, then ``LOCKGATE_<FIELD>``, then ``lockgate.yaml``, then the default.

    Attributes:
        home: folder for everything lockgate writes by default (``./.lockgate``).
        db_url: SQLAlchemy URL of the metadata store; default is a SQLite file in ``home``.
        artifact_root: folder, or ``s3://bucket/prefix``, of the content-addressed
            artifact store (see ``lockgate.location``; any other scheme is refused).
        data_root: folder, or ``s3://bucket/prefix``, of the versioned Delta tables.
        heartbeat_seconds: how often a live run proves it is alive; a reader sees a run
            whose heartbeat is older than ``2 x`` this as CRASHED.
        hardware_seconds: interval of the background hardware sampler.
        metric_flush_seconds: how often buffered metrics are written.
        trusted_types: types (``module.Name``) or ``module.*`` a skops model file may hold
            beyond lockgate's allowlist (``LOCKGATE_TRUSTED_TYPES``, comma-separated);
            see ``lockgate.artifacts.trusted_types``.
        allowed_hosts: extra ``Host`` names every lockgate server answers to, beyond its
            bind address and loopback (``LOCKGATE_ALLOWED_HOSTS``, comma-separated).
        outbound_allow: hosts or CIDR ranges outbound URLs (webhooks) may reach although
            they are private, loopback or link-local (``LOCKGATE_OUTBOUND_ALLOW``).
        run_purge_days: how long a deleted run stays restorable before ``lockgate gc``
            purges it (``LOCKGATE_RUN_PURGE_DAYS``).
        gc_grace_seconds: ``lockgate gc`` never removes an unreferenced blob, partial
            upload or Delta file younger than this: it may belong to a write in
            progress whose reference is not recorded yet (``LOCKGATE_GC_GRACE_SECONDS``).
        tracking_uri: ``http(s)://`` address of a ``lockgate server``
            (``LOCKGATE_TRACKING_URI``); runs, metrics, artifacts, lineage and registry
            reads then go through it with the token of ``LOCKGATE_TOKEN`` (or the
            credentials file). Unset: the embedded store, as always.

    Raises:
        ConfigError: a value (from any source) has the wrong type or is out of range;
            the message names the field and where the value came from.
    """

    home: Path = field(default=Path(".lockgate"))
    db_url: str | None = None
    artifact_root: Path | ObjectLocation | None = None
    data_root: Path | ObjectLocation | None = None
    heartbeat_seconds: float = 5.0
    hardware_seconds: float = 5.0
    metric_flush_seconds: float = 1.0
    trusted_types: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    outbound_allow: tuple[str, ...] = ()
    run_purge_days: float = 30.0
    gc_grace_seconds: float = 3600.0
    tracking_uri: str | None = None

    def __init__(self, **given: Any) -> None:
        names = [f.name for f in dataclasses.fields(Settings)]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ConfigError(f"Unknown lockgate settings {unknown}; known: {names}.")
        sources = _sources(names)
        for f in dataclasses.fields(Settings):
            if f.name in given:
                value, origin = given[f.name], "the keyword argument"
            elif f.name in sources:
                value, origin = sources[f.name]
            else:
                value, origin = f.default, "the default"
            setattr(self, f.name, _coerce(f.name, value, origin))

    def model_dump(self) -> dict[str, Any]:
        """The settings as plain values (paths as text): what a child process needs."""
        return {f.name: (str(v) if isinstance(v, Path | ObjectLocation) else v)
                for f in dataclasses.fields(Settings) for v in [getattr(self, f.name)]}

    def model_copy(self, *, update: dict[str, Any] | None = None,
                   deep: bool = False) -> Settings:
        """A copy with ``update`` applied (pydantic's spelling, kept for callers); the
        updated values are validated like keywords."""
        del deep  # every field is immutable (paths, text, numbers, tuples)
        return dataclasses.replace(self, **(update or {}))

    def model_dump_json(self) -> str:
        """The settings as JSON (the spelling pydantic models use, kept for callers)."""
        import json

        return json.dumps(self.model_dump())

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Settings:
        """Settings from :meth:`model_dump_json` output, validated like keywords.

        Raises:
            ConfigError: not a JSON object, an unknown field or a bad value.
        """
        import json

        try:
            values = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"Settings JSON is not valid: {exc}") from exc
        if not isinstance(values, dict):
            raise ConfigError(f"Settings JSON must be an object, got {type(values).__name__}.")
        return cls(**values)

    @property
    def resolved_db_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<home>/lockgate.db``."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'lockgate.db').resolve()}"

    @property
    def resolved_artifact_root(self) -> Path | ObjectLocation:
        """The artifact root (a folder or an ``s3://`` prefix), default ``<home>/artifacts``."""
        return (self.artifact_root or self.home / "artifacts").resolve()

    @property
    def resolved_data_root(self) -> Path | ObjectLocation:
        """The root of the Delta tables (a folder or an ``s3://`` prefix), default
        ``<home>/data``."""
        return (self.data_root or self.home / "data").resolve()

    def public_dict(self) -> dict[str, Any]:
        """The resolved settings as plain JSON values, recorded with each run."""
        return {
            "home": str(self.home.resolve()),
            "db_url": _redact(self.resolved_db_url),
            "artifact_root": str(self.resolved_artifact_root),
            "data_root": str(self.resolved_data_root),
        }


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning pydantic's validation report into a ConfigError.

    Args:
        **overrides: explicit values (from CLI flags); ``None`` values are ignored.

    Raises:
        ConfigError: a value from the environment or ``lockgate.yaml`` is invalid.
    """
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _sources(names: list[str]) -> dict[str, tuple[Any, str]]:
    """Values from the environment, else from lockgate.yaml, with where each came from."""
    found: dict[str, tuple[Any, str]] = {}
    yaml_file = Path(os.environ.get(f"{ENV_PREFIX}PROJECT_FILE", PROJECT_FILE))
    if yaml_file.is_file():
        for key, value in _read_yaml(yaml_file).items():
            if key in names:  # other keys belong to other tools sharing the file
                found[key] = (value, f"`{key}` in {yaml_file}")
    env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
    for name in names:
        variable = f"{ENV_PREFIX}{name.upper()}"
        if variable in env:
            found[name] = (env[variable], f"the environment variable {variable}")
    return found


def _coerce(name: str, value: Any, origin: str) -> Any:
    """A value of the field's type, or a ConfigError naming the field and its origin."""
    if name in _NAMES:
        return _names(name, value, origin)
    if value is None:
        if name == "home" or name in _SECONDS or name in _DURATIONS:
            raise ConfigError(f"Invalid lockgate settings: {name} cannot be empty ({origin}).")
        return None
    try:
        if name in _DURATIONS:
            if isinstance(value, bool):
                raise ValueError("a boolean is not a duration")
            number = float(value)
            if not number >= 0:
                raise ValueError("must be >= 0")
            return number
        if name in _SECONDS:
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number of seconds")
            number = float(value)
            if not number > 0:
                raise ValueError("must be > 0 seconds")
            return number
        if name == "db_url":
            if not isinstance(value, str):
                raise ValueError(f"must be a text URL, not {type(value).__name__}")
            return value
        if name == "tracking_uri":
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise ValueError("must be the http(s):// address of a `lockgate server`")
            return value.rstrip("/") or None
        if name in _ROOTS and isinstance(value, str | os.PathLike | ObjectLocation):
            return parse_root(value)
        if not isinstance(value, str | os.PathLike):
            raise ValueError(f"must be a path, not {type(value).__name__}")
        if name == "home" and isinstance(parse_root(value), ObjectLocation):
            raise ValueError("the home folder holds local state (the SQLite store, caches) "
                             "and must be a local path; put artifact_root and data_root on "
                             "object storage instead")
        return Path(value)
    except LocationError as exc:
        raise ConfigError(
            f"Invalid lockgate settings: {name} = {value!r} from {origin}: {exc} Fix the "
            f"{ENV_PREFIX}{name.upper()} environment variable or the entry in {PROJECT_FILE}."
        ) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Invalid lockgate settings: {name} = {value!r} from {origin}: {exc}. Fix the "
            f"{ENV_PREFIX}* environment variable or the entry in {PROJECT_FILE}."
        ) from exc


def _names(name: str, value: Any, origin: str) -> tuple[str, ...]:
    """A list of names: comma-separated text (the environment) or a list (YAML, code)."""
    if value is None:
        return ()
    if isinstance(value, str):
        names = tuple(part.strip() for part in value.split(",") if part.strip())
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        names = tuple(value)
    else:
        raise ConfigError(
            f"Invalid lockgate settings: {name} = {value!r} from {origin}: give names as a "
            "comma-separated text or a list of texts."
        )
    if name == "trusted_types" and names:  # imported only when there is something to check
        from lockgate.artifacts.trusted_types import check_names

        return check_names(names, source="trusted_types")
    return names


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only when a project file exists: keeps start-up light

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, found {type(loaded).__name__}.")
    return loaded or {}


def _redact(url: str) -> str:
    """Hide a password in a database URL before it is shown or recorded."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


class PortInUseError(ConfigError):
    """A server's port is taken: said before anything else is printed or loaded."""

    headline = "Port in use"

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        super().__init__(f"port {port} is in use on {host}: another process is listening "
                         f"there. Stop it, or pass another port (e.g. `--port {port + 1}`).")


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a taken port before a server announces, loads or binds anything.

    Every lockgate server (serve, ui, ingest serve) calls this first, so an operator
    never reads a URL that is not served. Port 0 (any free port) is always free.

    Raises:
        PortInUseError: something already listens on ``host:port``.
    """
    import socket

    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # what uvicorn sets too, so a port in TIME_WAIT after a restart is not "in use"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise PortInUseError(host, port) from None
            raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
