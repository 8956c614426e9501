"""One artifact for a flavored model: its flavor's files in a flat, deterministic tar
with ``flavor.json`` (name + metadata), so a training run's ``model`` artifact holds the
same safe files a package holds. Registered as the ``model`` materializer, asked before
skops, for every model whose flavor is not plain scikit-learn."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from lockgate.artifacts.flavors.flavor import (
    FlavorError,
    SavedModel,
    check_file_names,
    flavor_for,
    load_model,
    save_model,
)
from lockgate.artifacts.materializers import Materializer, register_materializer

HEADER = "flavor.json"
MAX_BYTES = 2 << 30


def pack(saved: SavedModel) -> bytes:
    """The saved model as tar bytes (sorted names, zero mtimes: same model, same hash)."""
    files = {HEADER: json.dumps({"flavor": saved.flavor, "meta": saved.meta},
                                sort_keys=True).encode("utf-8"), **saved.files}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def unpack(data: bytes) -> SavedModel:
    """Read a packed model, refusing links, folders and oversized members.

    Raises:
        FlavorError: not a model bundle, or an unsafe member.
    """
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar.getmembers():
                if not member.isfile() or member.size > MAX_BYTES:
                    raise FlavorError(f"Model bundle member `{member.name}` is not a plain "
                                      "file within the size limit.")
                handle = tar.extractfile(member)
                if handle is None:  # unreachable for a regular file; never trust it silently
                    raise FlavorError(f"Model bundle member `{member.name}` cannot be read.")
                files[member.name] = handle.read()
    except tarfile.TarError as exc:
        raise FlavorError(f"Not a model bundle: {exc}") from exc
    if HEADER not in files:
        raise FlavorError(f"Not a model bundle: {HEADER} is missing.")
    header = json.loads(files.pop(HEADER).decode("utf-8"))
    check_file_names(files, str(header.get("flavor")))
    return SavedModel(str(header.get("flavor")), files, dict(header.get("meta") or {}))


def _handles(value: Any) -> bool:
    if not (hasattr(value, "predict") or hasattr(value, "fit")):
        return False
    try:
        return flavor_for(value).name != "sklearn"
    except FlavorError:
        return False


def _load(data: bytes, trusted: Any = None) -> Any:
    saved = unpack(data)
    return load_model(saved.flavor, saved.files, saved.meta, trusted=trusted)


register_materializer(Materializer("model", "application/x-lockgate-model", ".model.tar",
                                   _handles, lambda value: pack(save_model(value)), _load,
                                   load_trusted=_load))
