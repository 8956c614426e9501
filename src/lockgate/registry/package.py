"""Model packages: one self-contained folder (or single-file archive) per model version.

A package holds the fitted pipeline in its flavor's safe files (skops for scikit-learn,
a booster's native text/JSON, ONNX; never pickle), the data contract, the
reference profile, the evaluation record, lineage ids, the environment, example
requests, optionally the holdout rows, a model card, and ``MANIFEST.json`` with every
file's sha256. :func:`load_package` verifies every hash before anything is parsed and
refuses an incomplete, extended or altered package.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.artifacts import (
    SavedModel,
    TypeAllowlist,
    flavor_named,
    load_model,
    save_model,
    skops_trusted_types,
)
from lockgate.artifacts.blob_store import safe_join
from lockgate.data.contract import ColumnSpec, Contract, load_contract
from lockgate.data.errors import ContractError
from lockgate.errors import ArtifactError, numbered
from lockgate.registry.errors import PackageError

FORMAT = "lockgate-model-package"
#: v2 records the model's flavor in the manifest; v1 packages (always one model.skops)
#: are still read.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "MANIFEST.json"
MODEL_FILE = "model.skops"
HOLDOUT_FILE = "holdout.parquet"
PREDICTION_PROFILE_FILE = "prediction_profile.json"
FEATURE_IMPORTANCE_FILE = "feature_importance.json"
REQUIRED_FILES = (
    "contract.json", "reference_profile.json", "evaluation.json", "lineage.json",
    "environment.json", "examples.json", "MODEL_CARD.md",
)
MAX_ARCHIVE_BYTES = 2 << 30
#: Distributions a package always needs besides those its pipeline's types come from.
BASE_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "scipy", "pandas")


@dataclass(frozen=True, slots=True)
class PackageContents:
    """Everything that goes into a package, before it is written."""

    pipeline: Any
    contract: Contract
    reference_profile: dict[str, Any]
    evaluation: dict[str, Any]
    lineage: dict[str, Any]
    model_card: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    holdout: Any = None  # polars frame of holdout rows (features + target), optional
    #: profile of the model's predictions on the holdout rows (prediction-drift reference)
    prediction_profile: dict[str, Any] | None = None
    #: permutation importance per input feature (``FeatureImportance.to_dict()``), the
    #: weights of monitoring's root cause
    feature_importance: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ModelPackage:
    """A verified, loaded model package."""

    path: Path
    pipeline: Any
    contract: Contract
    reference_profile: dict[str, Any]
    evaluation: dict[str, Any]
    lineage: dict[str, Any]
    environment: dict[str, Any]
    examples: list[dict[str, Any]]
    model_card: str
    manifest: dict[str, Any]

    @property
    def flavor(self) -> str:
        """The flavor the model was saved with (``sklearn``, ``lightgbm``, ...)."""
        return package_flavor(self.manifest)["name"]

    @property
    def feature_columns(self) -> list[str]:
        """The contract's feature columns, in contract order."""
        return self.contract.feature_columns

    def holdout(self) -> Any:
        """The holdout rows stored in the package (a polars frame), or None."""
        path = self.path / HOLDOUT_FILE
        if HOLDOUT_FILE not in self.manifest["files"]:
            return None
        import polars as pl

        return pl.read_parquet(path)

    def prediction_profile(self) -> dict[str, Any] | None:
        """The profile of the model's holdout predictions (dict form), or None for a
        package made without holdout rows (or before packages carried it)."""
        if PREDICTION_PROFILE_FILE not in self.manifest["files"]:
            return None
        return dict(json.loads((self.path / PREDICTION_PROFILE_FILE).read_text("utf-8")))

    def feature_importance(self) -> dict[str, Any] | None:
        """The package's permutation importance (``FeatureImportance.to_dict()`` form), or
        None for a package made without it (no holdout rows, or before packages carried it)."""
        if FEATURE_IMPORTANCE_FILE not in self.manifest["files"]:
            return None
        return dict(json.loads((self.path / FEATURE_IMPORTANCE_FILE).read_text("utf-8")))


def as_contract(contract: Contract | Mapping[str, Any]) -> Contract:
    """The typed contract a package carries, from a ``lockgate.data.Contract`` or its dict
    form (the layout of ``contract.json``).

    Raises:
        PackageError: the value is neither, or its dict form is not a valid contract.
    """
    if not isinstance(contract, Contract | Mapping):
        raise PackageError(
            f"A model package needs a data contract (lockgate.data.Contract or its dict with "
            f"`table` and `columns`), got {type(contract).__name__}.")
    try:
        return load_contract(contract)
    except ContractError as exc:
        raise PackageError(f"The model package's contract is not valid: {exc}") from exc


def feature_columns(contract: Contract | Mapping[str, Any]) -> list[str]:
    """Columns a model reads: :attr:`lockgate.data.Contract.feature_columns`, which owns
    the rule (all but primary key, target, event time, entity and ``feature: false``)."""
    return as_contract(contract).feature_columns


def example_requests(contract: Contract | Mapping[str, Any],
                     count: int = 3) -> list[dict[str, Any]]:
    """Synthesise valid requests from the contract's column specs (types, bounds, allowed).

    Why synthesised: the infra check must exercise the exact request shape the server
    accepts even when no holdout rows ship with the package.
    """
    features = as_contract(contract).features
    return [{spec.name: _example_value(spec, i) for spec in features} for i in range(count)]


def requirements_for(pipeline_bytes: bytes) -> dict[str, str]:
    """Installed versions of the distributions a skops pipeline needs to load and predict."""
    return _versions(_skops_modules(pipeline_bytes))


def requirements_for_model(saved: SavedModel) -> dict[str, str]:
    """Installed versions of what a flavored model needs: its library, and the modules of
    the types inside its skops files."""
    modules: set[str] = set()
    for name, data in saved.files.items():
        if name.endswith(".skops"):
            modules |= _skops_modules(data)
    modules |= set(flavor_named(saved.flavor).libraries)
    return _versions(modules)


def _skops_modules(data: bytes) -> set[str]:
    import skops.io as sio

    # Types from lockgate itself (the modeling stage's feature transformers) make
    # lockgate a requirement of the package like any other library.
    return {name.split(".", 1)[0] for name in sio.get_untrusted_types(data=data)}


def _versions(modules: set[str]) -> dict[str, str]:
    modules = modules | {"sklearn", "skops", "numpy", "scipy", "pandas"}
    distributions = importlib.metadata.packages_distributions()
    names = {dist for module in modules for dist in distributions.get(module, [])}
    names |= set(BASE_REQUIREMENTS)
    found: dict[str, str] = {}
    for name in sorted(names):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def package_flavor(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``{"name", "files", "meta"}`` of a manifest's model (v1: the skops flavor)."""
    if manifest.get("format_version") == 1:
        return {"name": "sklearn", "files": [MODEL_FILE], "meta": {"model_file": MODEL_FILE}}
    return dict(manifest["flavor"])


def write_package(contents: PackageContents, folder: Path | str, *,
                  card: Callable[[Mapping[str, Any]], str] | None = None) -> Path:
    """Write a package folder with its manifest, each file once.

    Args:
        contents: what goes in.
        folder: an empty or new folder.
        card: renders the model card from the environment this function records
            (the registry's card shows the real requirements); default
            ``contents.model_card`` as given.

    Raises:
        PackageError: the folder exists and is not empty, or the pipeline cannot be saved.
    """
    target = Path(folder)
    if target.exists() and any(target.iterdir()):
        raise PackageError(f"Refusing to write a package into non-empty folder {target}.")
    try:
        saved = save_model(contents.pipeline)
    except ArtifactError as exc:
        raise PackageError(f"The fitted model cannot be packaged: {exc}") from exc
    target.mkdir(parents=True, exist_ok=True)
    environment = {"python": sys.version.split()[0], "platform": platform.platform(),
                   "requirements": requirements_for_model(saved)}
    examples = contents.examples or example_requests(contents.contract)
    files: dict[str, bytes] = {
        **saved.files,
        "contract.json": _json_bytes(contents.contract.to_dict()),
        "reference_profile.json": _json_bytes(contents.reference_profile),
        "evaluation.json": _json_bytes(contents.evaluation),
        "lineage.json": _json_bytes(contents.lineage),
        "environment.json": _json_bytes(environment),
        "examples.json": _json_bytes(examples),
        "MODEL_CARD.md": (card(environment) if card else contents.model_card).encode("utf-8"),
    }
    if contents.prediction_profile is not None:
        files[PREDICTION_PROFILE_FILE] = _json_bytes(contents.prediction_profile)
    if contents.feature_importance is not None:
        files[FEATURE_IMPORTANCE_FILE] = _json_bytes(contents.feature_importance)
    if contents.holdout is not None:
        buffer = io.BytesIO()
        contents.holdout.write_parquet(buffer)
        files[HOLDOUT_FILE] = buffer.getvalue()
    for name, data in files.items():
        (target / name).write_bytes(data)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "flavor": {"name": saved.flavor, "files": sorted(saved.files), "meta": saved.meta},
        "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                  for name, data in sorted(files.items())},
    }
    (target / MANIFEST).write_bytes(_json_bytes(manifest))
    return target


def verify_package(folder: Path | str) -> dict[str, Any]:
    """Check a package folder against its manifest and return the manifest.

    Every problem is collected and reported at once: missing required files, files
    whose sha256 differs, files present but not in the manifest, unknown format.

    Raises:
        PackageError: anything is missing, altered or added.
    """
    root = Path(folder)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise PackageError(f"{root} is not a model package: {MANIFEST} is missing.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PackageError(f"{manifest_path} is not a valid package manifest: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") not in READABLE_VERSIONS:
        raise PackageError(
            f"{manifest_path} declares format {manifest.get('format')!r} version "
            f"{manifest.get('format_version')!r}; this lockgate reads {FORMAT} "
            f"v{', v'.join(map(str, READABLE_VERSIONS))}."
        )
    problems = [f"required file `{name}` is not in the manifest"
                for name in (*REQUIRED_FILES, *_model_files(manifest)) if name not in files]
    for name, entry in sorted(files.items()):
        problems += _check_file(root, name, entry)
    listed = set(files) | {MANIFEST}
    problems += [f"`{p.name}` is in the folder but not in the manifest"
                 for p in sorted(root.iterdir()) if p.name not in listed]
    if problems:
        raise PackageError(
            f"Refusing model package {root}: {len(problems)} problem(s)\n{numbered(problems)}\n"
            "The package was altered or is incomplete; rebuild it with "
            "`lockgate models register` or restore it from the registry."
        )
    return manifest


def _model_files(manifest: Mapping[str, Any]) -> list[str]:
    try:
        flavor = package_flavor(manifest)
        names = flavor["files"]
        flavor_named(str(flavor["name"]))
    except (KeyError, TypeError, ArtifactError) as exc:
        raise PackageError(f"The manifest's model flavor is missing or unknown: {exc}") from exc
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PackageError(f"The manifest's flavor files must be a list of names, got {names!r}.")
    return names


def load_package(path: Path | str, *, extract_to: Path | str | None = None,
                 trusted: TypeAllowlist | None = None) -> ModelPackage:
    """Verify and load a package folder or ``.tar.gz`` archive.

    Args:
        path: a package folder, or an archive made by :func:`archive_package`.
        extract_to: where to unpack an archive (default: a folder beside it).
        trusted: the types the model file may hold (default: lockgate's allowlist and
            the declared types; pass ``lockgate.artifacts.allowlist(settings)`` to
            include the operator's additions).

    Raises:
        PackageError: incomplete, tampered, or holding types outside the trusted list.
    """
    source = Path(path)
    if source.is_file():
        destination = Path(extract_to) if extract_to else source.with_name(source.name + ".d")
        source = extract_archive(source, destination)
    manifest = verify_package(source)
    pipeline = _load_pipeline(manifest, source, trusted)
    read = lambda name: json.loads((source / name).read_text(encoding="utf-8"))  # noqa: E731
    return ModelPackage(
        path=source.resolve(), pipeline=pipeline, contract=as_contract(read("contract.json")),
        reference_profile=read("reference_profile.json"), evaluation=read("evaluation.json"),
        lineage=read("lineage.json"), environment=read("environment.json"),
        examples=read("examples.json"),
        model_card=(source / "MODEL_CARD.md").read_text(encoding="utf-8"), manifest=manifest,
    )


def archive_package(folder: Path | str, archive: Path | str) -> Path:
    """Pack a verified package folder into one reproducible ``.tar.gz`` file."""
    root = Path(folder)
    manifest = verify_package(root)
    target = Path(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted([*manifest["files"], MANIFEST]):
            data = (root / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return target


def extract_archive(archive: Path | str, destination: Path | str) -> Path:
    """Unpack a package archive, refusing anything but plain files inside ``destination``.

    Links, devices, absolute names and ``..`` are refused before anything is written.
    Unpacking goes to a temporary sibling folder that is renamed into place, so several
    processes (server workers) unpacking the same package never see a half-written one.
    An existing destination is reused only when its ``MANIFEST.json`` is byte-for-byte the
    archive's and every file matches it (a folder that re-sealed its own manifest after
    an edit is not the archive): otherwise it is replaced.

    Raises:
        PackageError: unsafe member, oversized archive, or not a tar archive.
    """
    source, target = Path(archive), Path(destination)
    try:
        with tarfile.open(source, "r:*") as tar:
            members = tar.getmembers()
            _check_members(members, target, source)
            expected = _manifest_bytes(tar, members, source)
            if _verified(target, expected):
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            try:
                for member in members:
                    handle = tar.extractfile(member)
                    assert handle is not None
                    safe_join(staging, member.name).write_bytes(handle.read())
                _install(staging, target, expected)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except tarfile.TarError as exc:
        raise PackageError(f"{source} is not a model package archive: {exc}") from exc
    return target


def _manifest_bytes(tar: tarfile.TarFile, members: list[tarfile.TarInfo], source: Path
                    ) -> bytes:
    member = next((m for m in members if m.name.strip("./") == MANIFEST), None)
    handle = tar.extractfile(member) if member is not None else None
    if handle is None:
        raise PackageError(f"Refusing archive {source}: it has no {MANIFEST}.")
    return handle.read()


def _verified(folder: Path, expected_manifest: bytes) -> bool:
    """Whether ``folder`` holds exactly the package whose manifest is ``expected_manifest``."""
    manifest = folder / MANIFEST
    if not manifest.is_file() or manifest.read_bytes() != expected_manifest:
        return False
    try:
        verify_package(folder)
    except PackageError:
        return False
    return True


def _install(staging: Path, target: Path, expected_manifest: bytes) -> None:
    """Move an unpacked package into place; the same verified package already there wins."""
    if target.exists() and not _verified(target, expected_manifest):
        if not (target / MANIFEST).is_file() and any(target.iterdir()):
            raise PackageError(f"Refusing to unpack over {target}: it holds files that are "
                               "not a model package.")
        shutil.rmtree(target)  # an altered copy of a package: replace it
    try:
        os.replace(staging, target)
    except OSError:
        if not _verified(target, expected_manifest):  # another process installed it meanwhile
            raise


def _check_members(members: list[tarfile.TarInfo], target: Path, source: Path) -> None:
    problems: list[str] = []
    total = 0
    for member in members:
        if not member.isfile():
            problems.append(f"`{member.name}` is not a regular file (links and devices "
                            "are refused)")
            continue
        if "/" in member.name.strip("./") or "\\" in member.name:
            problems.append(f"`{member.name}` is inside a folder; packages are flat")
        try:
            safe_join(target, member.name)
        except ArtifactError as exc:
            problems.append(str(exc))
        total += member.size
    if total > MAX_ARCHIVE_BYTES:
        problems.append(f"it unpacks to {total} bytes, above the {MAX_ARCHIVE_BYTES} limit")
    if problems:
        raise PackageError(f"Refusing archive {source}:\n{numbered(problems)}")


def _check_file(root: Path, name: str, entry: Mapping[str, Any]) -> list[str]:
    try:
        path = safe_join(root, name)
    except ArtifactError as exc:
        return [str(exc)]
    if not path.is_file():
        return [f"`{name}` is listed in the manifest but missing"]
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != entry.get("sha256"):
        return [f"`{name}` hashes to {actual[:12]}…, the manifest says "
                f"{str(entry.get('sha256'))[:12]}…"]
    return []


def _load_pipeline(manifest: Mapping[str, Any], root: Path,
                   trusted: TypeAllowlist | None = None) -> Any:
    flavor = package_flavor(manifest)
    files = {name: safe_join(root, name).read_bytes() for name in flavor["files"]}
    try:
        return load_model(flavor["name"], files, flavor.get("meta") or {}, trusted=trusted)
    except ArtifactError as exc:
        raise PackageError(f"Refusing the {flavor['name']} model in {root}: {exc}") from exc


def skops_types_of(root: Path | str, manifest: Mapping[str, Any],
                   trusted: TypeAllowlist | None = None) -> list[str]:
    """The skops ``trusted`` list of every skops file of a package's model, each type
    checked against the allowlist (``trusted``, default lockgate's and the declared)."""
    types: list[str] = []
    for name in package_flavor(manifest)["files"]:
        if name.endswith(".skops"):
            types += skops_trusted_types(safe_join(Path(root), name).read_bytes(), trusted)
    return sorted(set(types))


def _example_value(column: ColumnSpec, index: int) -> Any:
    kind = column.type
    allowed = column.allowed_json
    if allowed:
        return allowed[index % len(allowed)]
    low, high = column.min, column.max
    if kind in ("int", "float"):
        low = 0.0 if low is None else float(low)
        high = low + 10.0 if high is None else float(high)
        value = low + (high - low) * (index + 1) / 4
        return round(value) if kind == "int" else value
    if kind == "bool":
        return index % 2 == 0
    if kind == "date":
        return f"2024-01-{index + 1:02d}"
    if kind == "datetime":
        return f"2024-01-{index + 1:02d}T00:00:00+00:00"
    return f"example-{index}"


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=_json_default).encode("utf-8")
