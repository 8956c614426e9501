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
