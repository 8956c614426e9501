"""The object-store interface, one suite over both backends (a local folder and a real
S3-compatible server, ``moto_server`` on 127.0.0.1), plus the crash test: a process
killed with SIGKILL in the middle of a large upload leaves nothing listed, and the
upload done again is complete and idempotent."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lockgate.artifacts import (
    ArtifactStore,
    ObjectBlobStore,
    S3ObjectStore,
    blob_key,
    blob_store_for,
    object_store_for,
)
from lockgate.config import Settings
from lockgate.errors import ArtifactError
from lockgate.location import ObjectLocation, parse_root
from lockgate.store import Store


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Path | ObjectLocation:
    if request.param == "local":
        return tmp_path / "objects"
    return parse_root(request.getfixturevalue("s3_bucket") + "/team/objects")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_atomic_get_list_size_delete(root) -> None:  # type: ignore[no-untyped-def]
    objects = object_store_for(root)
    assert objects.put_atomic("ab/one", b"hello", _sha(b"hello")) is True
    assert objects.put_atomic("ab/one", b"hello", _sha(b"hello")) is False  # already there
    assert objects.put_atomic("cd/two", b"world!", _sha(b"world!")) is True
    assert objects.get("ab/one") == b"hello"
    assert objects.exists("ab/one") and not objects.exists("ab/none")
    assert objects.size("cd/two") == 6
    assert [(i.key, i.size) for i in objects.list()] == [("ab/one", 5), ("cd/two", 6)]
    assert [i.key for i in objects.list("cd/")] == ["cd/two"]
    assert list(objects.list_partials()) == []
    objects.delete("ab/one")
    objects.delete("ab/one")  # missing is fine
    assert [i.key for i in objects.list()] == ["cd/two"]
    with pytest.raises(FileNotFoundError):
        objects.get("ab/one")


def test_a_wrong_hash_stores_nothing(root) -> None:  # type: ignore[no-untyped-def]
    objects = object_store_for(root)
    with pytest.raises(ArtifactError, match=r"hash to .* not 0000"):
        objects.put_atomic("ab/x", b"content", "0" * 64)
    assert not objects.exists("ab/x")
    assert list(objects.list()) == [] and list(objects.list_partials()) == []


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", "", "a\\b"])
def test_keys_never_leave_the_root(root, key: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ArtifactError, match="not a valid object key"):
        object_store_for(root).put_atomic(key, b"x", _sha(b"x"))


def test_blob_store_on_s3_is_content_addressed_and_verified(s3_bucket: str,
                                                            tmp_path: Path) -> None:
    blobs = blob_store_for(parse_root(f"{s3_bucket}/artifacts"))
    assert isinstance(blobs, ObjectBlobStore)
    sha = blobs.put(b"payload")
    assert sha == _sha(b"payload") and blobs.put(b"payload") == sha
    assert blobs.get(sha) == b"payload" and blobs.exists(sha)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * (1 << 20) + 3))  # > one multipart part
    file_sha, size = blobs.put_file(big)
    assert size == big.stat().st_size and blobs.get(file_sha) == big.read_bytes()
    with blobs.open_verified(file_sha) as handle:
        assert _sha(handle.read()) == file_sha
    assert sorted(blobs.keys()) == sorted([sha, file_sha])
    # tampering on the server is caught on read
    blobs.objects.delete(blob_key(sha))
    raw = S3ObjectStore(parse_root(f"{s3_bucket}/artifacts"))  # type: ignore[arg-type]
    import obstore

    obstore.put(raw._store, blob_key(sha), b"tampered")
    with pytest.raises(ArtifactError, match=f"Artifact {sha} is corrupted"):
        blobs.get(sha)
    with pytest.raises(ArtifactError, match="is missing"):
        blobs.get("1" * 64)


def test_artifact_store_saves_and_loads_values_on_s3(s3_settings: Settings) -> None:
    import polars as pl

    artifacts = ArtifactStore.open(s3_settings)
    frame = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    record = artifacts.save(frame, "frame")
    assert record.uri.startswith("lockgate+sha256://")
    assert artifacts.load(record).equals(frame)
    assert not (s3_settings.home / "artifacts").exists()  # nothing went to a local folder
    listed = list(object_store_for(s3_settings.resolved_artifact_root).list())
    assert [i.key for i in listed] == [blob_key(record.sha256)]
    Store.close_all()


_UPLOADER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from lockgate.artifacts import blob_store_for
    from lockgate.location import parse_root

    blobs = blob_store_for(parse_root(sys.argv[1]))
    print("uploading", flush=True)
    blobs.put_file(Path(sys.argv[2]))
    print("done", flush=True)
""")


def test_sigkill_during_a_large_upload_leaves_nothing_listed(s3_bucket: str,
                                                             tmp_path: Path) -> None:
    root = f"{s3_bucket}/artifacts"
    big = tmp_path / "large.bin"
    big.write_bytes(os.urandom(48 * (1 << 20)))
    sha = _sha(big.read_bytes())
    child = subprocess.Popen([sys.executable, "-c", _UPLOADER, root, str(big)],
                             stdout=subprocess.PIPE, env=os.environ.copy())
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"uploading"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    rest = child.stdout.read()
    child.wait(timeout=30)
    assert b"done" not in rest, "the upload finished before the kill; use a larger file"
    blobs = blob_store_for(parse_root(root))
    assert list(blobs.objects.list()) == [] and not blobs.exists(sha)
    # done again: complete, verified, and a third time changes nothing
    assert blobs.put_file(big) == (sha, big.stat().st_size)
    assert blobs.put_file(big) == (sha, big.stat().st_size)
    assert [i.key for i in blobs.objects.list()] == [blob_key(sha)]
    assert blobs.get(sha) == big.read_bytes()


def test_credentials_from_a_named_aws_profile(s3_bucket: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """No keys in the environment, only AWS_PROFILE and a shared credentials file: the
    profile chain (through boto3) signs the requests."""
    credentials = tmp_path / "credentials"
    credentials.write_text("[lgtest]\naws_access_key_id = profilekey\n"
                           "aws_secret_access_key = profilesecret\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_PROFILE", "lgtest")
    blobs = blob_store_for(parse_root(f"{s3_bucket}/profile"))
    sha = blobs.put(b"signed by a profile")
    assert blobs.get(sha) == b"signed by a profile"
