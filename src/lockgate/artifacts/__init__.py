"""Content-addressed artifact store and materializers (frames, arrays, models, figures)."""

from lockgate.artifacts.artifact_store import ArtifactStore
from lockgate.artifacts.blob_store import (
    BlobStore,
    LocalBlobStore,
    MemoryBlobStore,
    check_key,
    key_from_uri,
    safe_join,
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
    "Materializer",
    "MemoryBlobStore",
    "OnnxModel",
    "SavedModel",
    "TypeAllowlist",
    "UntrustedTypeError",
    "allowlist",
    "check_key",
    "declare_trusted_types",
    "dumps",
    "flavor_for",
    "flavor_named",
    "flavor_names",
    "key_from_uri",
    "load_model",
    "loads",
    "materializer_for",
    "materializer_named",
    "register_flavor",
    "register_materializer",
    "safe_join",
    "save_model",
    "skops_trusted_types",
    "uri_for",
]
