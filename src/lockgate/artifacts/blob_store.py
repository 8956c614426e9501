"""Content-addressed bytes: ``put(bytes) -> sha256`` and ``get(sha256) -> bytes``.

The local store writes atomically (temp file, fsync, rename), verifies the hash on
every read, and never resolves a key or name to a path outside its root.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse
from pathlib import Path
from typing import BinaryIO, Protocol

from lockgate.errors import ArtifactError

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


def blob_store_for(store: object, root: Path | str) -> LocalBlobStore:
    """The blob store that goes with a metadata store: the local folder ``root``, or,
    behind ``lockgate server``, a verified cache in ``root`` synchronised with the
    server's blobs (imported only then: it needs an HTTP client)."""
    if getattr(store, "remote", False):
        from lockgate.artifacts.remote_blobs import RemoteBlobStore

        return RemoteBlobStore(store, root)  # type: ignore[arg-type]
    return LocalBlobStore(root)


class LocalBlobStore:
    """Blobs in a folder: ``<root>/<sha[:2]>/<sha>``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def put(self, data: bytes) -> str:
        """Store bytes atomically; storing the same bytes twice is a no-op."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path_for(sha)
        if target.exists():
            return sha
        self._write_atomic(target, [data])
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
        target = self.path_for(sha)
        if not target.exists():
            with source.open("rb") as handle:
                self._write_atomic(target, iter(lambda: handle.read(_CHUNK), b""))
        return sha, size

    def get(self, sha256: str) -> bytes:
        """Read and verify a blob.

        Raises:
            ArtifactError: missing, or its content no longer matches its hash.
        """
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactError(f"Artifact {sha256} is missing from {self.root}.") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ArtifactError(
                f"Artifact {sha256} is corrupted: its content hashes to {actual}. "
                f"Restore {path} from a backup or re-run the step that produced it."
            )
        return data

    def open_verified(self, sha256: str) -> BinaryIO:
        """Verify a blob by streaming it, then return an open handle on it."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise ArtifactError(f"Artifact {sha256} is missing from {self.root}.")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise ArtifactError(f"Artifact {sha256} is corrupted: its content changed.")
        return path.open("rb")

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this digest is present."""
        return self.path_for(sha256).is_file()

    def path_for(self, sha256: str) -> Path:
        """The file path of a key; the key is validated first."""
        key = check_key(sha256)
        return self.root / key[:2] / key

    def _write_atomic(self, target: Path, chunks) -> None:  # type: ignore[no-untyped-def]
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


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
