"""Bytes by key, on a local folder or an S3-compatible bucket: the one interface every
stored byte of lockgate's artifacts, blobs and packages goes through.

:class:`ObjectStore` is deliberately small, so the retention helper (``lockgate gc`` /
``du``) and the content-addressed layer above (:mod:`lockgate.artifacts.blob_store`)
work the same on both backends:

- ``put_atomic(key, source, sha256)``: write to a temporary key, verify the bytes hash
  to ``sha256``, then move them under ``key`` with a conditional operation, so a
  partial or wrong object is never visible under its final key; an object already
  there is kept (content-addressed keys never change meaning).
- ``get`` / ``download`` / ``exists`` / ``size``: one object.
- ``list(prefix)``: every finished object under a prefix, as :class:`ObjectInfo`;
  temporary keys of unfinished uploads are never listed (``list_partials`` shows them
  to whoever cleans them up).
- ``delete(key)``: remove one object (missing is fine).
- ``touch(key)`` / ``delete_if_older(key, older_than)``: what ``lockgate gc`` relies on
  under concurrent writers. Storing bytes already present touches them (they count as
  just written), and gc deletes an unreferenced object only if it is still older than
  its grace age at the moment of deletion.

On S3 (``obstore``, the same Rust ``object_store`` deltalake uses) the temporary key is
``<prefix>/.tmp/<uuid>``; the final move is a server-side copy with
``copy_if_not_exists`` (multipart ``UploadPartCopy``, atomic at completion), then the
temporary key is deleted. A process killed mid-upload leaves either nothing visible (an
unfinished multipart upload) or a temporary key under ``.tmp/``, never a final key.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lockgate.errors import ArtifactError
from lockgate.location import ObjectLocation, s3_endpoint

TMP_PREFIX = ".tmp"
#: A local object ``delete_if_older`` has renamed aside while it re-reads its age.
SET_ASIDE_PREFIX = ".gc-"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object: its key (relative to the store's root), size and mtime."""

    key: str
    size: int
    modified: float


class ObjectStore(Protocol):
    """Keys to bytes, with atomic verified writes (see the module docstring)."""

    @property
    def root(self) -> Path | ObjectLocation:
        """Where the objects live (a folder or an ``s3://`` prefix)."""
        ...

    def put_atomic(self, key: str, source: bytes | Path, sha256: str) -> bool:
        """Store ``source`` under ``key`` if absent; True when this call wrote it."""
        ...

    def put(self, key: str, source: bytes | Path) -> None:
        """Write ``source`` under ``key`` in one request, replacing what is there: for
        objects nothing references yet (a Delta table's staged files). On S3 the object
        is whole or absent; locally it is written beside and renamed."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key`` (``FileNotFoundError`` when absent)."""
        ...

    def download(self, key: str, target: Path) -> None:
        """Stream the object into the local file ``target`` (not atomic by itself)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a finished object is under ``key``."""
        ...

    def size(self, key: str) -> int:
        """The size in bytes of the object under ``key``."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Finished objects whose key starts with ``prefix`` (never temporary keys)."""
        ...

    def list_partials(self) -> Iterator[ObjectInfo]:
        """Temporary keys of uploads that never finished (for cleanup)."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object under ``key``; a missing one is not an error."""
        ...

    def touch(self, key: str) -> bool:
        """Mark the object under ``key`` as just used; False when it is absent."""
        ...

    def delete_if_older(self, key: str, older_than: float) -> bool:
        """Delete the object only if it was last written (or touched) before
        ``older_than`` (epoch seconds); True when it was deleted."""
        ...


def check_relative_key(key: str) -> str:
    """A key as a store accepts it: relative, ``/``-separated, no ``.``/``..`` parts."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) \
            or "\x00" in key or "\\" in key:
        raise ArtifactError(f"`{key[:80]}` is not a valid object key: it must be a relative "
                            "path without empty, `.` or `..` parts.")
    return key


def _chunks(source: bytes | Path) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield bytes(source)
        return
    with Path(source).open("rb") as handle:
        yield from iter(lambda: handle.read(_CHUNK), b"")


def _mismatch(key: str, expected: str, actual: str) -> ArtifactError:
    return ArtifactError(
        f"Refusing to store {key}: the bytes written hash to {actual}, not {expected} "
        "(the source changed while it was stored). Nothing was stored; store it again.")


class LocalObjectStore:
    """Objects as files under a folder; writes are temp file, fsync, hash, rename."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        """The file of a key (validated, inside the root)."""
        return self.root / check_relative_key(key)

    def put_atomic(self, key: str, source: bytes | Path, sha256: str) -> bool:
        """Write via ``.tmp-*`` in the target's folder, verify, then rename into place."""
        target = self.path(key)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as handle:
                for chunk in _chunks(source):
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if digest.hexdigest() != sha256:
                raise _mismatch(key, sha256, digest.hexdigest())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return True

    def put(self, key: str, source: bytes | Path) -> None:
        """Write via a ``.tmp-*`` file beside the target, then rename (no hash check)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in _chunks(source):
                    handle.write(chunk)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        """The file's bytes."""
        return self.path(key).read_bytes()

    def download(self, key: str, target: Path) -> None:
        """Copy the file to ``target``."""
        import shutil

        shutil.copyfile(self.path(key), target)

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        """The file's size (``FileNotFoundError`` when absent)."""
        return self.path(key).stat().st_size

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Files under the root whose key starts with ``prefix``; ``.tmp-*`` skipped."""
        for info in self._walk():
            name = info.key.rsplit("/", 1)[-1]
            if info.key.startswith(prefix) and not name.startswith((".tmp-",
                                                                     SET_ASIDE_PREFIX)):
                yield info

    def list_partials(self) -> Iterator[ObjectInfo]:
        """``.tmp-*`` files left by writes that were killed."""
        return (i for i in self._walk() if i.key.rsplit("/", 1)[-1].startswith(".tmp-"))

    def delete(self, key: str) -> None:
        """Remove the file (missing is fine)."""
        self.path(key).unlink(missing_ok=True)

    def touch(self, key: str) -> bool:
        """Set the file's modification time to now; False when it is absent."""
        try:
            os.utime(self.path(key))
        except FileNotFoundError:
            return False
        return True

    def delete_if_older(self, key: str, older_than: float) -> bool:
        """Rename the file aside, read its age again, then delete it or put it back.

        Safe against a concurrent ``put_atomic`` + ``touch`` of the same key: a touch
        before the rename is seen in the age read after it (the file is put back); a
        writer coming after the rename finds no file and writes it anew.
        """
        path = self.path(key)
        aside = path.with_name(f"{SET_ASIDE_PREFIX}{path.name}-{os.getpid()}-{uuid.uuid4().hex}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime < older_than:
            aside.unlink()
            return True
        with contextlib.suppress(FileNotFoundError):
            if path.exists():  # written anew meanwhile: the same bytes, keep that one
                aside.unlink()
            else:
                os.rename(aside, path)
        return False

    def restore_set_aside(self) -> builtins.list[str]:
        """Put back files a ``delete_if_older`` left aside when its process died between
        the rename and the delete; returns their keys."""
        restored = []
        for path in sorted(self.root.rglob(f"{SET_ASIDE_PREFIX}*")) if self.root.is_dir() \
                else []:
            original = path.with_name(path.name[len(SET_ASIDE_PREFIX):].split("-", 1)[0])
            if original.exists():
                path.unlink(missing_ok=True)
                continue
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, original)
                restored.append(original.relative_to(self.root).as_posix())
        return restored

    def _walk(self) -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file():
                    stat = path.stat()
                    yield ObjectInfo(path.relative_to(self.root).as_posix(), stat.st_size,
                                     stat.st_mtime)


class S3ObjectStore:
    """Objects under an ``s3://bucket/prefix`` (AWS, MinIO, Ceph, R2) through obstore.

    The endpoint comes from ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` and the
    credentials from the standard AWS environment and profile chain, read by the
    library when the store is built; lockgate never stores or logs them.
    """

    def __init__(self, root: ObjectLocation) -> None:
        self.root = root
        self._store = _s3_store(root)

    def put_atomic(self, key: str, source: bytes | Path, sha256: str) -> bool:
        """Upload to ``.tmp/<uuid>``, verify by reading it back, then copy-if-not-exists."""
        import obstore

        check_relative_key(key)
        if self.exists(key):
            return False
        tmp = f"{TMP_PREFIX}/{uuid.uuid4().hex}"
        try:
            self._call(obstore.put, tmp, _put_source(source))
            actual = self._hash(tmp)
            if actual != sha256:
                raise _mismatch(key, sha256, actual)
            try:
                self._call(obstore.copy, tmp, key, overwrite=False)
            except FileExistsError:  # another writer stored the same content first
                return False
            return True
        finally:
            with contextlib.suppress(Exception):
                obstore.delete(self._store, tmp)

    def put(self, key: str, source: bytes | Path) -> None:
        """One PUT (bytes) or a multipart upload (a file), visible only when complete."""
        import obstore

        self._call(obstore.put, check_relative_key(key), _put_source(source))

    def get(self, key: str) -> bytes:
        """The object's bytes."""
        import obstore

        return bytes(self._call(obstore.get, check_relative_key(key)).bytes())

    def download(self, key: str, target: Path) -> None:
        """Stream the object into ``target``."""
        import obstore

        result = self._call(obstore.get, check_relative_key(key))
        with target.open("wb") as handle:
            for chunk in result:
                handle.write(chunk)

    def exists(self, key: str) -> bool:
        """Whether the object exists (a HEAD request)."""
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        """The object's size (``FileNotFoundError`` when absent)."""
        import obstore

        return int(self._call(obstore.head, check_relative_key(key))["size"])

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under the root whose key starts with ``prefix``; ``.tmp/`` skipped."""
        return (i for i in self._list(prefix) if not i.key.startswith(TMP_PREFIX + "/"))

    def list_partials(self) -> Iterator[ObjectInfo]:
        """Temporary keys under ``.tmp/`` (uploads that never finished)."""
        return self._list(TMP_PREFIX + "/")

    def any(self) -> bool:
        """Whether anything at all lies under the root."""
        import obstore

        return any(batch for batch in self._call(obstore.list, None, chunk_size=1))

    def delete(self, key: str) -> None:
        """Remove the object (S3 deletes of missing keys succeed)."""
        import obstore

        with contextlib.suppress(FileNotFoundError):
            self._call(obstore.delete, check_relative_key(key))

    def touch(self, key: str) -> bool:
        """Whether the object exists. S3 cannot change an object's LastModified in place
        (a copy onto itself would need new metadata), so a re-stored blob is not made
        young again: ``lockgate gc`` on S3 relies on its grace age and its re-check of
        the references just before each delete (see docs/retention.md)."""
        return self.exists(key)

    def delete_if_older(self, key: str, older_than: float) -> bool:
        """Delete the object if its LastModified is before ``older_than`` (read again
        just before the delete)."""
        import obstore

        try:
            meta = self._call(obstore.head, check_relative_key(key))
        except FileNotFoundError:
            return False
        if meta["last_modified"].timestamp() >= older_than:
            return False
        self.delete(key)
        return True

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        import obstore

        for batch in self._call(obstore.list, prefix or None):
            for meta in batch:
                yield ObjectInfo(str(meta["path"]), int(meta["size"]),
                                 meta["last_modified"].timestamp())

    def _hash(self, key: str) -> str:
        import obstore

        digest = hashlib.sha256()
        for chunk in self._call(obstore.get, key):
            digest.update(chunk)
        return digest.hexdigest()

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Call obstore; turn its errors into messages naming the location (not keys or
        secrets), keeping ``FileNotFoundError`` / ``FileExistsError`` for callers."""
        from obstore.exceptions import AlreadyExistsError, NotFoundError

        try:
            return func(self._store, *args, **kwargs)
        except NotFoundError as exc:
            raise FileNotFoundError(f"{self.root}/{args[0] if args else ''}") from exc
        except AlreadyExistsError as exc:
            raise FileExistsError(f"{self.root}/{args[0] if args else ''}") from exc
        except (FileNotFoundError, FileExistsError):
            raise
        except Exception as exc:
            first_line = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise ArtifactError(
                f"Object storage at {self.root} failed: {first_line}. Check the bucket, "
                "AWS_ENDPOINT_URL and the AWS credentials (environment or profile).") from exc


def _put_source(source: bytes | Path) -> Any:
    # obstore streams a path (multipart for large files) and sends bytes in one PUT.
    return Path(source) if isinstance(source, Path) else bytes(source)


def _s3_store(root: ObjectLocation) -> Any:
    """An obstore S3Store for ``root`` (one per location and endpoint per process: a store
    holds a connection pool), with the conditional operations lockgate relies on."""
    profile = None if os.environ.get("AWS_ACCESS_KEY_ID") else os.environ.get("AWS_PROFILE")
    return _cached_s3_store(root, s3_endpoint(), profile)


@functools.lru_cache(maxsize=64)
def _cached_s3_store(root: ObjectLocation, endpoint: str | None, profile: str | None) -> Any:
    try:
        from obstore.store import S3Store
    except ImportError as exc:  # pragma: no cover - obstore is a dependency
        raise ArtifactError("Object storage needs obstore: `pip install obstore`.") from exc
    config: dict[str, str] = {"conditional_put": "etag", "copy_if_not_exists": "multipart"}
    if endpoint:
        config["endpoint"] = endpoint
        if endpoint.startswith("http://"):
            config["allow_http"] = "true"
    options: dict[str, Any] = {}
    if profile:  # a named profile (SSO, assumed roles...): resolved by boto3's own chain
        options["credential_provider"] = _profile_credentials(profile)
    return S3Store(root.bucket, prefix=root.prefix or None, config=config,  # type: ignore[arg-type]
                   **options)


def _profile_credentials(profile: str) -> Any:
    """Credentials of an AWS profile through boto3 (obstore reads only the environment
    variables and instance metadata by itself)."""
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError as exc:
        raise ArtifactError(
            f"AWS_PROFILE={profile} needs boto3 to read the profile: `pip install boto3`, "
            "or set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.") from exc
    return Boto3CredentialProvider(boto3.session.Session(profile_name=profile))


def object_store_for(root: Path | ObjectLocation) -> LocalObjectStore | S3ObjectStore:
    """The object store of a root from the settings."""
    if isinstance(root, ObjectLocation):
        return S3ObjectStore(root)
    return LocalObjectStore(root)


def total_size(infos: Iterable[ObjectInfo]) -> int:
    """Sum of sizes (what ``lockgate du`` reports per prefix)."""
    return sum(i.size for i in infos)
