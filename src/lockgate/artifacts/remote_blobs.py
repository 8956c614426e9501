"""Blobs behind ``lockgate server``: a local, hash-verified cache in front of the
server's content-addressed store.

Writing keeps the bytes in the cache and uploads what the server lacks: one request up
to a chunk, beyond that a chunked upload that resumes from the server's offset after a
failure (nothing is sent twice, nothing is skipped: the server checks the whole hash at
the end). Reading downloads into the cache and verifies the hash before anything uses
the bytes, exactly as a local read does.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import BinaryIO

from lockgate.artifacts.blob_store import LocalBlobStore, check_key
from lockgate.errors import ArtifactError, NotFoundError
from lockgate.store.remote import RemoteError, RemoteStore

CHUNK_BYTES = 8 << 20  # the server's largest body


class RemoteBlobStore(LocalBlobStore):
    """A :class:`LocalBlobStore` cache synchronised with the server's blobs."""

    def __init__(self, store: RemoteStore, cache: Path | str,
                 chunk_bytes: int = CHUNK_BYTES) -> None:
        super().__init__(cache)
        self.remote = store
        self.chunk_bytes = chunk_bytes

    def put(self, data: bytes) -> str:
        sha = super().put(data)
        if not self._on_server(sha):
            if len(data) <= self.chunk_bytes:
                self.remote.request("PUT", f"/blobs/{sha}", content=data)
            else:
                self._upload(sha)
        return sha

    def put_file(self, path: Path | str) -> tuple[str, int]:
        sha, size = super().put_file(path)
        if not self._on_server(sha):
            if size <= self.chunk_bytes:
                self.remote.request("PUT", f"/blobs/{sha}",
                                    content=self.path_for(sha).read_bytes())
            else:
                self._upload(sha)
        return sha, size

    def get(self, sha256: str) -> bytes:
        self._fetch(sha256)
        return super().get(sha256)

    def open_verified(self, sha256: str) -> BinaryIO:
        self._fetch(sha256)
        return super().open_verified(sha256)

    def local_copy(self, sha256: str) -> Path:
        self._fetch(sha256)
        return super().local_copy(sha256)

    def exists(self, sha256: str) -> bool:
        return super().exists(sha256) or self._on_server(sha256)

    def _on_server(self, sha: str) -> bool:
        try:
            self.remote.request("HEAD", f"/blobs/{check_key(sha)}")
        except NotFoundError:
            return False
        except RemoteError as exc:
            if "404" in str(exc):
                return False
            raise
        return True

    def _upload(self, sha: str) -> None:
        """A chunked upload from wherever the server's copy ends (resume)."""
        path = self.path_for(sha)
        offset = int(self.remote.request("GET", f"/uploads/{sha}").json()["offset"])
        size = path.stat().st_size
        with path.open("rb") as handle:
            while offset < size:
                handle.seek(offset)
                chunk = handle.read(self.chunk_bytes)
                try:
                    answer = self.remote.request("PUT", f"/uploads/{sha}",
                                                 params={"offset": offset}, content=chunk)
                    offset = int(answer.json()["offset"])
                except RemoteError as exc:  # 409: the server holds another offset
                    offset = _offset_in(exc)
        self.remote.request("POST", f"/uploads/{sha}/complete")

    def _fetch(self, sha256: str) -> None:
        if super().exists(sha256):
            return
        target = self.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        response = self.remote.request("GET", f"/blobs/{sha256}")
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".dl-", delete=False) as out:
            for chunk in response.iter_bytes():
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            Path(out.name).unlink(missing_ok=True)
            raise ArtifactError(f"Artifact {sha256} arrived from {self.remote.url} with "
                                f"content hashing to {digest.hexdigest()}; refused.")
        Path(out.name).replace(target)


def _offset_in(exc: RemoteError) -> int:
    """Where the server's copy ends, from its 409 answer."""
    text = str(exc)
    start = text.find('{"offset"')
    if start < 0:
        raise exc
    return int(json.loads(text[start:text.index("}", start) + 1])["offset"])
