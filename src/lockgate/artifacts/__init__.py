"""Content-addressed artifact store and materializers (frames, arrays, models, figures)."""

from lockgate.artifacts.artifact_store import ArtifactStore
from lockgate.artifacts.blob_store import (
    BlobStore,
    LocalBlobStore,
    MemoryBlobStore,
    ObjectBlobStore,
    blob_key,
    blob_store_for,
    uri_for,
)
from lockgate.artifacts.flavors import (
    Flavor,
    FlavorError,
    OnnxModel,
    SavedModel,
    flavor_for,
    flavor_named,
    flavor_names,
    load_model,
    register_flavor,
    save_model,
)
from lockgate.artifacts.materializers import (
    Materializer,
    dumps,
    loads,
    materializer_for,
    materializer_named,
    register_materializer,
    skops_trusted_types,
)
from lockgate.artifacts.object_store import (
    LocalObjectStore,
    ObjectInfo,
    ObjectStore,
    S3ObjectStore,
    object_store_for,
)
from lockgate.artifacts.trusted_types import (
    TypeAllowlist,
    UntrustedTypeError,
    allowlist,
    declare_trusted_types,
)

__all__ = [
    "ArtifactStore",
    "BlobStore",
    "Flavor",
    "FlavorError",
    "LocalBlobStore",
    "LocalObjectStore",
    "Materializer",
    "MemoryBlobStore",
    "ObjectBlobStore",
    "ObjectInfo",
    "ObjectStore",
    "OnnxModel",
    "S3ObjectStore",
    "SavedModel",
    "TypeAllowlist",
    "UntrustedTypeError",
    "allowlist",
    "blob_key",
    "blob_store_for",
    "declare_trusted_types",
    "dumps",
    "flavor_for",
    "flavor_named",
    "flavor_names",
    "load_model",
    "loads",
    "materializer_for",
    "materializer_named",
    "object_store_for",
    "register_flavor",
    "register_materializer",
    "save_model",
    "skops_trusted_types",
    "uri_for",
]
