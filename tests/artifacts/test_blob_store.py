"""The content-addressed blob store: atomic writes, verified reads, no escaping the root."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from lockgate.artifacts import LocalBlobStore, MemoryBlobStore, uri_for
from lockgate.artifacts.blob_store import safe_join
from lockgate.errors import ArtifactError


@pytest.fixture(params=["local", "memory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> LocalBlobStore | MemoryBlobStore:
    return LocalBlobStore(tmp_path / "root") if request.param == "local" else MemoryBlobStore()


def test_put_get_round_trip_is_content_addressed(blobs) -> None:  # type: ignore[no-untyped-def]
    sha = blobs.put(b"hello")
    assert sha == hashlib.sha256(b"hello").hexdigest()
    assert blobs.put(b"hello") == sha
    assert blobs.get(sha) == b"hello"


def test_writes_leave_no_temp_files(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    sha = blobs.put(b"x" * 10_000)
    folder = blobs.path_for(sha).parent
    assert [p.name for p in folder.iterdir()] == [sha]


def test_corrupted_blob_is_refused(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    sha = blobs.put(b"original")
    blobs.path_for(sha).write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match=f"Artifact {sha} is corrupted"):
        blobs.get(sha)


def test_missing_blob_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="is missing"):
        LocalBlobStore(tmp_path).get("0" * 64)


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/passwd", "A" * 64, "ab", "0" * 63 + "/"])
def test_keys_that_are_not_digests_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ArtifactError, match="is not an artifact key"):
        LocalBlobStore(tmp_path).get(key)


def test_put_file_streams_and_matches_put(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * (1 << 20) + 7))
    blobs = LocalBlobStore(tmp_path / "root")
    sha, size = blobs.put_file(source)
    assert size == source.stat().st_size
    assert blobs.get(sha) == source.read_bytes()
    assert uri_for(sha).endswith(sha)


@pytest.mark.parametrize(
    "path",
    ["../secret", "a/../../secret", "%2e%2e/secret", "%252e%252e%252fsecret", "/etc/passwd",
     "%2Fetc%2Fpasswd", "..\\secret", "a/\x00b"],
)
def test_safe_join_refuses_escapes(tmp_path: Path, path: str) -> None:
    with pytest.raises(ArtifactError, match="Refusing path"):
        safe_join(tmp_path, path)


def test_safe_join_refuses_symlinks_pointing_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    (root / "link").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(ArtifactError, match="resolves outside"):
        safe_join(root, "link")
    (root / "ok.txt").write_text("fine")
    assert safe_join(root, "ok.txt").read_text() == "fine"


def test_delete_if_older_keeps_a_blob_a_writer_stored_again(tmp_path: Path) -> None:
    """The dedupe race gc must survive: bytes already present (old, unreferenced) are
    stored again by a writer about to register them; the store touches them, so a sweep
    deciding on their old age does not delete them."""
    import time

    store = LocalBlobStore(tmp_path)
    sha = store.put(b"dedupe race")
    key = f"{sha[:2]}/{sha}"
    old = time.time() - 3600
    os.utime(store.path_for(sha), (old, old))
    store.put(b"dedupe race")  # a writer found the bytes present: touched
    assert not store.objects.delete_if_older(key, time.time() - 60)
    assert store.get(sha) == b"dedupe race"
    assert [i.key for i in store.objects.list()] == [key]  # nothing left aside
    os.utime(store.path_for(sha), (old, old))
    assert store.objects.delete_if_older(key, time.time() - 60) and not store.exists(sha)
    # a put after a sweep removed the bytes writes them anew
    assert store.put(b"dedupe race") == sha and store.get(sha) == b"dedupe race"


def test_a_blob_set_aside_by_a_crashed_gc_is_put_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    sha = store.put(b"interrupted sweep")
    aside = store.path_for(sha).with_name(f".gc-{sha}-123-456")
    os.rename(store.path_for(sha), aside)
    assert list(store.objects.list()) == []  # set aside: not a blob
    assert list(store.objects.restore_set_aside()) == [f"{sha[:2]}/{sha}"]
    assert store.get(sha) == b"interrupted sweep" and not aside.exists()
