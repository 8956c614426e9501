"""Settings: where lockgate keeps its home, metadata database, artifacts and tables.

Precedence, written once here: explicit keyword (CLI flag) > environment
(``LOCKGATE_*``) > ``lockgate.yaml`` in the project folder > default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
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
            whose heartbeat is older than ``2 x`` this as CRASHED.
        hardware_seconds: interval of the background hardware sampler.
        metric_flush_seconds: how often buffered metrics are written.
    """

    model_config = SettingsConfigDict(env_prefix="LOCKGATE_", extra="ignore")

    home: Path = Field(default=Path(".lockgate"))
    db_url: str | None = None
    artifact_root: Path | None = None
    data_root: Path | None = None
    heartbeat_seconds: float = 5.0
    hardware_seconds: float = 5.0
    metric_flush_seconds: float = 1.0

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
