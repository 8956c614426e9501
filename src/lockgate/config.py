"""Settings: where lockgate keeps its home, metadata database, artifacts and tables.

Precedence, written once here: explicit keyword (CLI flag) > environment
(``LOCKGATE_*``) > ``lockgate.yaml`` in the project folder > default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from lockgate.errors import ConfigError

PROJECT_FILE = "lockgate.yaml"


class Settings(BaseSettings):
    """Resolved lockgate settings.

    Attributes:
        home: folder for everything lockgate writes by default (``./.lockgate``).
        db_url: SQLAlchemy URL of the metadata store; default is a SQLite file in ``home``.
        artifact_root: folder of the content-addressed artifact store.
        data_root: folder of the versioned Delta tables.
        heartbeat_seconds: how often a live run proves it is alive; a reader sees a run
            whose heartbeat is older than ``3 x`` this as CRASHED.
        hardware_seconds: interval of the background hardware sampler.
        metric_flush_seconds: how often buffered metrics are written.
        trusted_types: types (``module.Name``) or ``module.*`` a skops model file may hold
            beyond lockgate's allowlist (``LOCKGATE_TRUSTED_TYPES``, comma-separated);
            see ``lockgate.artifacts.trusted_types``.
        allowed_hosts: extra ``Host`` names every lockgate server answers to, beyond its
            bind address and loopback (``LOCKGATE_ALLOWED_HOSTS``, comma-separated).
        outbound_allow: hosts or CIDR ranges outbound URLs (webhooks) may reach although
            they are private, loopback or link-local (``LOCKGATE_OUTBOUND_ALLOW``).
    """

    model_config = SettingsConfigDict(env_prefix="LOCKGATE_", extra="ignore")

    home: Path = Field(default=Path(".lockgate"))
    db_url: str | None = None
    artifact_root: Path | None = None
    data_root: Path | None = None
    heartbeat_seconds: float = 5.0
    hardware_seconds: float = 5.0
    metric_flush_seconds: float = 1.0
    trusted_types: Annotated[tuple[str, ...], NoDecode] = ()
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    outbound_allow: Annotated[tuple[str, ...], NoDecode] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = Path(os.environ.get("LOCKGATE_PROJECT_FILE", PROJECT_FILE))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file.is_file():
            _check_yaml(yaml_file)
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    @field_validator("heartbeat_seconds", "hardware_seconds", "metric_flush_seconds")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be > 0 seconds")
        return value

    @field_validator("trusted_types", "allowed_hosts", "outbound_allow", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: comma-separated
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_types")
    @classmethod
    def _trustable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from lockgate.artifacts.trusted_types import check_names

        try:
            return check_names(value, source="trusted_types")
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc

    @property
    def resolved_db_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<home>/lockgate.db``."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'lockgate.db').resolve()}"

    @property
    def resolved_artifact_root(self) -> Path:
        """The artifact root, defaulting to ``<home>/artifacts``."""
        return (self.artifact_root or self.home / "artifacts").resolve()

    @property
    def resolved_data_root(self) -> Path:
        """The root of the Delta tables, defaulting to ``<home>/data``."""
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
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ConfigError:
        raise
    except Exception as exc:  # pydantic.ValidationError, with field names in it
        raise ConfigError(
            f"Invalid lockgate settings: {exc}. Fix the LOCKGATE_* environment variable "
            f"or the entry in {PROJECT_FILE}."
        ) from exc


def _check_yaml(path: Path) -> None:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, found {type(loaded).__name__}.")


def _redact(url: str) -> str:
    """Hide a password in a database URL before it is shown or recorded."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
