"""Content-addressed bytes: ``put(bytes) -> sha256`` and ``get(sha256) -> bytes``.

The local store writes atomically (temp file, fsync, rename), verifies the hash on
every read, and never resolves a key or name to a path outside its root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from lockgate.errors import ArtifactError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
URI_SCHEME = "lockgate+sha256://"
_CHUNK = 1 << 20
#: Prefix of an upload in progress (renamed into place when complete).
PARTIAL_PREFIX = ".tmp-"
#: Prefix of a blob ``delete`` has set aside while it re-checks the blob's age.
DELETING_PREFIX = ".gc-"


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object of a blob store as a listing sees it.

    Attributes:
        key: its key relative to the store's root (``ab/ab12…`` for a blob,
            ``ab/.tmp-x1y2`` for an interrupted upload).
        size: bytes.
        modified: last write (or re-use, see :meth:`LocalBlobStore.put`), epoch seconds.
    """

    key: str
    size: int
    modified: float

    @property
    def name(self) -> str:
        """The last part of the key."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def is_blob(self) -> bool:
        """A complete content-addressed blob (its name is its sha256)."""
        return bool(_SHA256.match(self.name))

    @property
    def is_partial(self) -> bool:
        """An upload that was interrupted or is still being written."""
        return self.name.startswith(PARTIAL_PREFIX)


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


class LocalBlobStore:
    """Blobs in a folder: ``<root>/<sha[:2]>/<sha>``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def put(self, data: bytes) -> str:
        """Store bytes atomically; storing the same bytes twice writes them once.

        Re-storing present bytes refreshes the blob's modification time: ``lockgate gc``
        never deletes a blob younger than its grace age, so a writer that finds its bytes
        already present and is about to register them cannot lose them to a concurrent
        sweep (see :meth:`delete`).
        """
        sha = hashlib.sha256(data).hexdigest()
        target = self.path_for(sha)
        if self._reuse(target):
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
        if not self._reuse(target):
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

    # -- listing and deleting (what `lockgate gc` and `lockgate du` use) -----------

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object under the root whose key starts with ``prefix``: blobs, partial
        uploads (``.tmp-*``) and blobs a sweep set aside (``.gc-*``)."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not (folder.name.startswith(prefix[:2])):
                continue
            for path in sorted(folder.iterdir()):
                key = f"{folder.name}/{path.name}"
                if not key.startswith(prefix):
                    continue
                with contextlib.suppress(FileNotFoundError):  # deleted while listing
                    stat = path.stat()
                    if path.is_file():
                        yield StoredObject(key, stat.st_size, stat.st_mtime)

    def size(self, key: str) -> int:
        """Bytes of the object at ``key`` (a blob's sha256 or a listed key).

        Raises:
            ArtifactError: no such object.
        """
        try:
            return self._object_path(key).stat().st_size
        except FileNotFoundError as exc:
            raise ArtifactError(f"No object `{key}` in {self.root}.") from exc

    def delete(self, key: str, *, older_than: float | None = None) -> bool:
        """Delete the object at ``key``; True when it was deleted.

        With ``older_than`` (epoch seconds) the object is deleted only if it was last
        written (or re-used by :meth:`put`) before then. The check is safe against a
        concurrent ``put`` of the same bytes: the blob is first renamed aside, then its
        age is read again; a ``put`` that refreshed it before the rename is seen (the blob
        is put back), and one that comes after the rename finds no blob and writes it
        anew.
        """
        path = self._object_path(key)
        if older_than is None:
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            return True
        aside = path.with_name(f"{DELETING_PREFIX}{path.name}-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime >= older_than:
            with contextlib.suppress(FileNotFoundError):
                if path.exists():  # written anew meanwhile: same bytes, keep that one
                    aside.unlink()
                else:
                    os.rename(aside, path)
            return False
        aside.unlink()
        return True

    def restore_set_aside(self, key: str) -> bool:
        """Put back a blob a sweep set aside and could not finish with (a crash between
        the rename and the delete); True when it was put back."""
        path = self._object_path(key)
        if not path.name.startswith(DELETING_PREFIX):
            return False
        original = path.with_name(path.name[len(DELETING_PREFIX):].split("-", 1)[0])
        check_key(original.name)
        if original.exists():
            path.unlink(missing_ok=True)
            return False
        os.rename(path, original)
        return True

    def _object_path(self, key: str) -> Path:
        if _SHA256.match(key):
            return self.path_for(key)
        return safe_join(self.root, key)

    def _reuse(self, target: Path) -> bool:
        """Whether ``target`` is already stored; if so, mark it as just used."""
        try:
            os.utime(target)
        except FileNotFoundError:
            return False
        return True

    def _write_atomic(self, target: Path, chunks) -> None:  # type: ignore[no-untyped-def]
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=PARTIAL_PREFIX)
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
