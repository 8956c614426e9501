"""Typed artifacts with lineage: values and files saved through the blob store and
registered in the metadata store, loaded back by record and verified."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from lockgate.artifacts.blob_store import (
    ObjectBlobStore,
    blob_store_for,
    key_from_uri,
    safe_join,
    uri_for,
)
from lockgate.artifacts.materializers import dumps, loads, materializer_named
from lockgate.artifacts.trusted_types import TypeAllowlist, allowlist
from lockgate.config import Settings, load_settings
from lockgate.errors import ArtifactError
from lockgate.store import ArtifactRecord, Store


class ArtifactStore:
    """Save values and files as artifacts and load them back.

    ``trusted`` is the type allowlist models are loaded with; build it from the
    operator's settings with ``lockgate.artifacts.allowlist(settings)``.
    """

    def __init__(self, store: Store, blobs: ObjectBlobStore,
                 trusted: TypeAllowlist | None = None) -> None:
        self.store = store
        self.blobs = blobs
        self.trusted = trusted or allowlist()

    @classmethod
    def open(cls, settings: Settings | None = None) -> ArtifactStore:
        """The artifact store named by ``settings`` (metadata store included)."""
        settings = settings or load_settings()
        store = Store.open(settings)
        return cls(store, blob_store_for(settings.resolved_artifact_root, store=store),
                   allowlist(settings))

    def save(self, value: object, name: str, *, run_id: str | None = None) -> ArtifactRecord:
        """Materialise a value by its type, store the bytes and register the artifact."""
        data, materializer = dumps(value)
        sha = self.blobs.put(data)
        return self.store.add_artifact(
            run_id=run_id, name=name, uri=uri_for(sha), sha256=sha, size=len(data),
            media_type=materializer.media_type, materializer=materializer.name,
        )

    def save_file(self, path: Path | str, *, name: str | None = None,
                  run_id: str | None = None) -> ArtifactRecord:
        """Store a file's bytes and register it under ``name`` (default: the file name)."""
        source = Path(path)
        sha, size = self.blobs.put_file(source)
        media_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        return self.store.add_artifact(
            run_id=run_id, name=name or source.name, uri=uri_for(sha), sha256=sha, size=size,
            media_type=media_type, materializer=None,
        )

    def load(self, artifact: ArtifactRecord | int) -> Any:
        """Load an artifact back into a value (bytes when it was a plain file)."""
        record = artifact if isinstance(artifact, ArtifactRecord) else self.store.artifact(artifact)
        data = self.blobs.get(key_from_uri(record.uri))
        if record.materializer is None:
            return data
        try:
            return loads(data, record.materializer, trusted=self.trusted)
        except ArtifactError:
            raise
        except Exception as exc:
            raise ArtifactError(
                f"Artifact {record.id} ({record.name}) could not be read back by the "
                f"`{record.materializer}` materializer: {exc}"
            ) from exc

    def read_bytes(self, artifact: ArtifactRecord | int) -> bytes:
        """The verified bytes of an artifact."""
        record = artifact if isinstance(artifact, ArtifactRecord) else self.store.artifact(artifact)
        return self.blobs.get(key_from_uri(record.uri))

    def export(self, artifact: ArtifactRecord | int, directory: Path | str, *,
               name: str | None = None) -> Path:
        """Write an artifact's verified bytes into ``directory`` and return the file.

        The file is named after the artifact (plus its format's extension, e.g.
        ``.parquet``, when the name has none). The name comes from the store, so it is
        joined with :func:`safe_join`: a name such as ``../x`` is refused, never written
        outside ``directory``.

        Raises:
            ArtifactError: the name would leave ``directory``, or the bytes are corrupted.
        """
        record = artifact if isinstance(artifact, ArtifactRecord) else self.store.artifact(artifact)
        target = safe_join(directory, file_name(record, name))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.read_bytes(record))
        return target


def file_name(record: ArtifactRecord, name: str | None = None) -> str:
    """The file name an artifact is exported under: its name plus its format's extension."""
    base = name or record.name
    if record.materializer is None or Path(base).suffix:
        return base
    try:
        return base + materializer_named(record.materializer).extension
    except ArtifactError:  # an unregistered materializer: the bare name
        return base
