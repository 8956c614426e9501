"""The content-addressed blob store: atomic writes, verified reads, no escaping the root."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from lockgate.artifacts import LocalBlobStore, MemoryBlobStore, safe_join, uri_for
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


def test_list_size_and_delete_name_every_object(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    a, b = store.put(b"a" * 10), store.put(b"b" * 20)
    partial = store.root / a[:2] / ".tmp-upload"
    partial.write_bytes(b"half")
    listed = {o.key: o for o in store.list()}
    assert set(listed) == {f"{a[:2]}/{a}", f"{b[:2]}/{b}", f"{a[:2]}/.tmp-upload"}
    assert listed[f"{a[:2]}/{a}"].is_blob and listed[f"{a[:2]}/.tmp-upload"].is_partial
    assert b in [o.name for o in store.list(prefix=b[:2] + "/")]
    assert store.size(a) == 10 and store.size(f"{a[:2]}/.tmp-upload") == 4
    assert store.delete(f"{a[:2]}/.tmp-upload") and not partial.exists()
    assert store.delete(b) and not store.exists(b) and not store.delete(b)
    with pytest.raises(ArtifactError, match=r"outside|not allowed"):
        store.delete("../escape")
    with pytest.raises(ArtifactError, match="No object"):
        store.size(b)


def test_delete_older_than_keeps_a_blob_refreshed_by_a_put(tmp_path: Path) -> None:
    import time

    store = LocalBlobStore(tmp_path)
    sha = store.put(b"dedupe race")
    old = time.time() - 3600
    os.utime(store.path_for(sha), (old, old))
    store.put(b"dedupe race")  # a writer found the bytes present: refreshed
    assert not store.delete(sha, older_than=time.time() - 60)
    assert store.get(sha) == b"dedupe race"
    assert not any(o.name.startswith(".gc-") for o in store.list())
    os.utime(store.path_for(sha), (old, old))
    assert store.delete(sha, older_than=time.time() - 60) and not store.exists(sha)


def test_a_blob_set_aside_by_a_crashed_gc_is_put_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    sha = store.put(b"interrupted sweep")
    aside = store.path_for(sha).with_name(f".gc-{sha}-123-456")
    os.rename(store.path_for(sha), aside)
    [leftover] = list(store.list())
    assert store.restore_set_aside(leftover.key)
    assert store.get(sha) == b"interrupted sweep" and not aside.exists()
