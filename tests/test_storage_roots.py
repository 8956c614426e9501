"""Artifact and data roots: local folders, ``s3://bucket/prefix``, and nothing else.

Before #21 an ``s3://`` root silently became a local folder named ``s3:``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.config import Settings
from lockgate.errors import ConfigError


@pytest.mark.parametrize("field", ["artifact_root", "data_root"])
def test_s3_root_is_an_object_location_not_a_local_folder(field: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", **{field: "s3://my-bucket/team/lockgate"})
    root = getattr(settings, f"resolved_{field}")
    assert str(root) == "s3://my-bucket/team/lockgate"
    assert not isinstance(root, Path)
    assert not (tmp_path / "s3:").exists()


@pytest.mark.parametrize("field", ["artifact_root", "data_root"])
@pytest.mark.parametrize("value", ["gs://bucket/x", "hdfs://nn/x", "ftp://host/x",
                                   "file+s3://x", "S4://bucket"])
def test_unknown_scheme_is_refused(field: str, value: str, monkeypatch) -> None:
    monkeypatch.setenv(f"LOCKGATE_{field.upper()}", value)
    with pytest.raises(ConfigError, match=f"LOCKGATE_{field.upper()}.*scheme"):
        Settings()


@pytest.mark.parametrize("value", ["s3://", "s3:///prefix", "s3://Bad_Bucket/x",
                                   "s3://b/x", "s3://bucket/a/../b", "s3://bucket/x?y=1",
                                   "s3://user:pw@bucket/x"])
def test_unusable_s3_uri_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="artifact_root"):
        Settings(artifact_root=value)


def test_local_roots_are_unchanged(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", artifact_root=str(tmp_path / "a"))
    assert settings.resolved_artifact_root == (tmp_path / "a").resolve()
    assert settings.resolved_data_root == (tmp_path / "h" / "data").resolve()


def test_credentials_never_reach_the_recorded_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-key")
    settings = Settings(home=tmp_path, artifact_root="s3://my-bucket/a", data_root="s3://my-bucket/d")
    text = repr(settings.public_dict()) + settings.model_dump_json()
    assert "very-secret-key" not in text
    assert settings.public_dict()["artifact_root"] == "s3://my-bucket/a"


def test_an_object_location_never_becomes_a_local_path_by_accident() -> None:
    from lockgate.location import parse_root

    location = parse_root("s3://my-bucket/a")
    with pytest.raises(TypeError):
        Path(location)  # type: ignore[call-overload]
    assert str(location.resolve() / "b" / "c") == "s3://my-bucket/a/b/c"
    assert str((location / "b").parent) == "s3://my-bucket/a"


def test_child_process_settings_keep_s3_roots(tmp_path: Path) -> None:
    """The reproduction's environment and the quickstart's absolute settings once ran
    ``Path(root).resolve()``, which turns ``s3://b/x`` into the local ``s3:/b/x``."""
    from lockgate.demo.flavors import _absolute
    from lockgate.modeling.reproduction import _settings_env

    settings = Settings(home=tmp_path, artifact_root="s3://my-bucket/a",
                        data_root="s3://my-bucket/d")
    env = _settings_env(settings)
    assert (env["LOCKGATE_ARTIFACT_ROOT"], env["LOCKGATE_DATA_ROOT"]) == (
        "s3://my-bucket/a", "s3://my-bucket/d")
    again = _absolute(settings)
    assert str(again.resolved_data_root) == "s3://my-bucket/d"
    assert Settings.model_validate_json(settings.model_dump_json()).resolved_artifact_root \
        == settings.resolved_artifact_root
