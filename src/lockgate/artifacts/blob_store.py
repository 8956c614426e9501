"""Content-addressed bytes: ``put(bytes) -> sha256`` and ``get(sha256) -> bytes``.

Blobs live on an :class:`~lockgate.artifacts.object_store.ObjectStore` (a local folder
or an ``s3://`` prefix): written atomically (temporary key, hash verified, conditional
move), verified on every read, and never resolved to a path outside the root.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from lockgate.artifacts.object_store import LocalObjectStore, ObjectStore, object_store_for
from lockgate.errors import ArtifactError
from lockgate.location import ObjectLocation

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
URI_SCHEME = "lockgate+sha256://"
_CHUNK = 1 << 20


class BlobStore(Protocol):
    """Where artifact bytes live; keyed by their sha256."""

    def put(self, data: bytes) -> str:
        """Store bytes and return their sha256 hex digest."""
        ...

    def get(self, sha256: str) -> bytes:
        """Return the bytes with this digest, verified."""
        ...


def check_key(sha256: str) -> str:
    """Validate that a key is a lowercase sha256 hex digest and return it.

    Raises:
        ArtifactError: anything else, since a key is used to build a path.
    """
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise ArtifactError(
            f"`{sha256!s:.80}` is not an artifact key: expected 64 lowercase hex characters "
            "(a sha256 digest)."
        )
    return sha256


def uri_for(sha256: str) -> str:
    """The store-independent URI of an artifact, e.g. ``lockgate+sha256://ab12…``."""
    return URI_SCHEME + check_key(sha256)


def key_from_uri(uri: str) -> str:
    """The sha256 inside a ``lockgate+sha256://`` URI."""
    if not uri.startswith(URI_SCHEME):
        raise ArtifactError(f"`{uri}` is not a lockgate artifact URI ({URI_SCHEME}<sha256>).")
    return check_key(uri[len(URI_SCHEME):])


class ObjectBlobStore:
    """Content-addressed blobs over an :class:`ObjectStore`: ``<sha[:2]>/<sha>``.

    Writes go through ``put_atomic`` (temporary key, hash verified, conditional move),
    so a blob is either absent or complete under its key; reads verify the hash again.
    """

    def __init__(self, objects: ObjectStore, cache: Path | None = None) -> None:
        self.objects = objects
        self.root = objects.root
        self._cache = cache

    def put(self, data: bytes) -> str:
        """Store bytes atomically; storing the same bytes twice writes them once.

        Re-storing present bytes touches them: ``lockgate gc`` never deletes a blob
        younger than its grace age, so a writer that finds its bytes already stored and
        is about to register them cannot lose them to a concurrent sweep.
        """
        sha = hashlib.sha256(data).hexdigest()
        self._store(sha, data)
        return sha

    def put_file(self, path: Path | str) -> tuple[str, int]:
        """Store a file's content without loading it whole; returns ``(sha256, size)``."""
        source = Path(path)
        if not source.is_file():
            raise ArtifactError(f"Cannot log artifact {source}: no such file.")
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
        sha = digest.hexdigest()
        self._store(sha, source)
        return sha, size

    def _store(self, sha: str, source: bytes | Path) -> None:
        """Write the blob, or touch it when present. A sweep may remove it between the
        two (it was old and unreferenced): then the touch fails and it is written anew."""
        key = blob_key(sha)
        while not self.objects.put_atomic(key, source, sha):
            if self.objects.touch(key):
                return

    def get(self, sha256: str) -> bytes:
        """Read and verify a blob.

        Raises:
            ArtifactError: missing, or its content no longer matches its hash.
        """
        try:
            data = self.objects.get(blob_key(sha256))
        except FileNotFoundError as exc:
            raise ArtifactError(f"Artifact {sha256} is missing from {self.root}.") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ArtifactError(
                f"Artifact {sha256} is corrupted: its content hashes to {actual}. "
                f"Restore {self.root}/{blob_key(sha256)} from a backup or re-run the step "
                "that produced it."
            )
        return data

    def open_verified(self, sha256: str) -> BinaryIO:
        """Verify a blob by streaming it, then return an open handle on a local file
        holding it (the blob itself locally; a verified cached copy for object storage)."""
        path = self.local_copy(sha256)
        if not _hashes_to(path, sha256):
            raise ArtifactError(f"Artifact {sha256} is corrupted: its content changed.")
        return path.open("rb")

    def local_copy(self, sha256: str) -> Path:
        """A local file with the blob's bytes: downloaded once into the cache, atomically."""
        key = blob_key(sha256)
        cache = self._cache or Path(tempfile.gettempdir()) / f"lockgate-{os.getuid()}-blobs"
        target = cache / key
        if target.is_file() and _hashes_to(target, sha256):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            try:
                self.objects.download(key, Path(tmp_name))
            except FileNotFoundError as exc:
                raise ArtifactError(f"Artifact {sha256} is missing from {self.root}.") from exc
            os.replace(tmp_name, target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        return target

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this digest is present."""
        return self.objects.exists(blob_key(sha256))

    def keys(self) -> Iterator[str]:
        """Digests of every stored blob (for retention and disk figures)."""
        for info in self.objects.list():
            name = info.key.rsplit("/", 1)[-1]
            if _SHA256.match(name) and info.key == blob_key(name):
                yield name


class LocalBlobStore(ObjectBlobStore):
    """Blobs in a folder: ``<root>/<sha[:2]>/<sha>`` (temp file, fsync, rename)."""

    def __init__(self, root: Path | str) -> None:
        super().__init__(LocalObjectStore(root))
        self.root: Path = Path(root).resolve()

    def local_copy(self, sha256: str) -> Path:
        """The blob's own file (no copy is needed locally)."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise ArtifactError(f"Artifact {sha256} is missing from {self.root}.")
        return path

    def path_for(self, sha256: str) -> Path:
        """The file path of a key; the key is validated first."""
        key = check_key(sha256)
        return self.root / key[:2] / key


def blob_key(sha256: str) -> str:
    """The object key of a blob: ``<sha[:2]>/<sha>`` (the key is validated first)."""
    key = check_key(sha256)
    return f"{key[:2]}/{key}"


def blob_store_for(root: Path | ObjectLocation, *, store: object = None) -> ObjectBlobStore:
    """The blob store of an artifact root from the settings (local folder or ``s3://``);
    given a metadata ``store`` behind ``lockgate server``, a verified local cache in front
    of the server's blobs (imported only then: it needs an HTTP client).

    Example:
        blobs = blob_store_for(settings.resolved_artifact_root)
    """
    if getattr(store, "remote", False):
        from lockgate.artifacts.remote_blobs import RemoteBlobStore

        cache = root if isinstance(root, Path) else Path(tempfile.gettempdir()) / \
            f"lockgate-{os.getuid()}-remote-blobs"
        return RemoteBlobStore(store, cache)  # type: ignore[arg-type]
    if isinstance(root, ObjectLocation):
        return ObjectBlobStore(object_store_for(root))
    return LocalBlobStore(root)


def _hashes_to(path: Path, sha256: str) -> bool:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest() == sha256


class MemoryBlobStore:
    """Blobs in a dict, for tests of code that only needs put/get."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        """Store bytes in memory."""
        sha = hashlib.sha256(data).hexdigest()
        self._blobs[sha] = bytes(data)
        return sha

    def get(self, sha256: str) -> bytes:
        """Return stored bytes, verified."""
        data = self._blobs.get(check_key(sha256))
        if data is None:
            raise ArtifactError(f"Artifact {sha256} is missing.")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactError(f"Artifact {sha256} is corrupted.")
        return data


def safe_join(root: Path | str, relative: str) -> Path:
    """Resolve a path from outside (a request, a manifest) strictly inside ``root``.

    Percent-encoding is decoded first, then absolute paths, ``..`` parts, NUL bytes and
    symlinks that resolve outside the root are refused.

    Raises:
        ArtifactError: the path would leave ``root``.
    """
    base = Path(root).resolve()
    decoded = urllib.parse.unquote(relative)
    while decoded != urllib.parse.unquote(decoded):  # double encoding
        decoded = urllib.parse.unquote(decoded)
    if "\x00" in decoded or decoded.startswith(("/", "\\")) or Path(decoded).is_absolute():
        raise ArtifactError(f"Refusing path `{relative}`: it must be relative to {base}.")
    parts = Path(decoded.replace("\\", "/")).parts
    if any(part == ".." for part in parts):
        raise ArtifactError(f"Refusing path `{relative}`: `..` is not allowed.")
    candidate = (base / decoded).resolve()
    if candidate != base and base not in candidate.parents:
        raise ArtifactError(f"Refusing path `{relative}`: it resolves outside {base}.")
    return candidate
