"""Bytes the dashboard serves: its static files (plotly from the installed package) and
artifact downloads, each addressed by sha256 and verified before it is sent."""

from __future__ import annotations

import os
import re
from pathlib import Path

import plotly
from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from lockgate.artifacts import ObjectBlobStore
from lockgate.artifacts.blob_store import check_key, key_from_uri
from lockgate.errors import ArtifactError, NotFoundError
from lockgate.ui.dashboard import DashboardDep
from lockgate.ui.viewer import FILTERED, ViewerDep

STATIC = Path(__file__).parent.parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
STATIC_FILES = {
    "app.js": (STATIC / "app.js", "text/javascript"),
    "style.css": (STATIC / "style.css", "text/css"),
    "plotly.min.js": (PLOTLY_JS, "text/javascript"),
    "favicon.svg": (STATIC / "favicon.svg", "image/svg+xml"),
}

router = APIRouter()


@router.get("/artifacts/{artifact_id}/download", openapi_extra=FILTERED)
def download(artifact_id: int, dash: DashboardDep, viewer: ViewerDep) -> Response:
    """One artifact's bytes, under its recorded name and media type."""
    record = viewer.artifact(dash.store, artifact_id)
    return blob_response(dash.blobs, key_from_uri(record.uri), record.name,
                         record.media_type)


@router.get("/blobs/{key:path}")
def blob(key: str, dash: DashboardDep) -> Response:
    """A blob by its sha256 (anything else is a 404, never a path)."""
    return blob_response(dash.blobs, key, key, "application/octet-stream")


@router.get("/favicon.ico", openapi_extra=FILTERED)  # the same icon for everyone
def favicon() -> Response:  # browsers ask for it on every page, whatever the <link>
    """The dashboard's icon."""
    path, media_type = STATIC_FILES["favicon.svg"]
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    """One of :data:`STATIC_FILES`, by name only."""
    if name not in STATIC_FILES:
        raise NotFoundError(f"No static file `{name}`.")
    path, media_type = STATIC_FILES[name]
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=3600"})


def blob_response(blobs: ObjectBlobStore, key: str, name: str, media_type: str) -> Response:
    """Bytes of one blob, addressed by sha256 only (a checked key is never a path), served
    from a verified local file (the blob itself, or a verified copy from object storage)."""
    try:
        check_key(key)
        if not blobs.exists(key):
            raise NotFoundError(f"Artifact {key} is missing from the artifact store.")
        handle = blobs.open_verified(key)
    except ArtifactError as exc:
        raise NotFoundError(f"No artifact at `{key[:80]}`: {exc}") from exc
    path = Path(handle.name)
    handle.close()
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(name))[:120] or "artifact"
    return FileResponse(path, media_type=media_type or "application/octet-stream",
                        filename=filename, content_disposition_type="attachment")
