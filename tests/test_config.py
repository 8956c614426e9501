"""Settings precedence: explicit > environment > lockgate.yaml > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.config import load_settings
from lockgate.errors import ConfigError


def test_defaults_put_everything_under_the_home(tmp_path: Path) -> None:
    settings = load_settings()
    home = (tmp_path / ".lockgate").resolve()
    assert settings.resolved_db_url == f"sqlite:///{home / 'lockgate.db'}"
    assert settings.resolved_artifact_root == home / "artifacts"
    assert settings.resolved_data_root == home / "data"


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lockgate.yaml").write_text("home: from-yaml\nheartbeat_seconds: 7\n")
    assert load_settings().home == Path("from-yaml")
    assert load_settings().heartbeat_seconds == 7
    monkeypatch.setenv("LOCKGATE_HOME", "from-env")
    assert load_settings().home == Path("from-env")
    assert load_settings(home=Path("from-flag")).home == Path("from-flag")


def test_invalid_values_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_HEARTBEAT_SECONDS", "-1")
    with pytest.raises(ConfigError, match="heartbeat_seconds"):
        load_settings()
    monkeypatch.delenv("LOCKGATE_HEARTBEAT_SECONDS")
    (tmp_path / "lockgate.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings()
    (tmp_path / "lockgate.yaml").write_text("home: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings()


def test_password_is_redacted_in_recorded_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_DB_URL", "postgresql+psycopg://bob:s3cret@db:5432/x")
    assert load_settings().public_dict()["db_url"] == "postgresql+psycopg://bob:***@db:5432/x"


def test_settings_round_trip_through_json_for_child_processes(tmp_path: Path) -> None:
    from lockgate.config import Settings

    settings = Settings(home=tmp_path / "h", db_url="sqlite:///x.db", heartbeat_seconds=0.5)
    again = Settings.model_validate_json(settings.model_dump_json())
    assert again == settings and isinstance(again.home, Path)
    with pytest.raises(ConfigError, match="heartbeat_seconds"):
        Settings.model_validate_json('{"heartbeat_seconds": 0}')
    with pytest.raises(ConfigError, match="Unknown lockgate settings"):
        Settings(colour="red")
