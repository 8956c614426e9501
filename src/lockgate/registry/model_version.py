"""Model versions and the registry that keeps them: names, versions built from runs,
stages and aliases, notes, and the full transition history.

A version's package lives in the artifact store (content addressed, hash checked on
every read); the registry rows only point at it. Stage changes are written in one
transaction together with their transition row, so the history can never disagree
with the current state.
"""

from __future__ import annotations

import getpass
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.artifacts import ArtifactStore, allowlist, blob_store_for
from lockgate.artifacts.blob_store import key_from_uri
from lockgate.config import Settings, load_settings
from lockgate.data.contract import Contract
from lockgate.errors import ArtifactError, close_matches
from lockgate.registry.errors import (
    ModelNotFoundError,
    PackageError,
    RegistryError,
    VersionTakenError,
)
from lockgate.registry.feature_importance import package_importance
from lockgate.registry.holdout import holdout_from_data
from lockgate.registry.model_card import render_card
from lockgate.registry.package import (
    ModelPackage,
    PackageContents,
    archive_package,
    as_contract,
    extract_archive,
    load_package,
    write_package,
)
from lockgate.registry.prediction_profile import holdout_prediction_profile
from lockgate.registry.registry_backend import NewVersion
from lockgate.store import Store, audit
from lockgate.user_types import FrameLike

if TYPE_CHECKING:
    from lockgate.registry.embedded_backend import EmbeddedBackend


class Stage(StrEnum):
    """Where a version is in its life; ``staging`` and ``production`` are also aliases
    the registry moves itself (stored as the text)."""

    CANDIDATE = "candidate"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


STAGES: tuple[Stage, ...] = tuple(Stage)
#: Aliases the registry moves itself when a version changes stage.
STAGE_ALIASES: tuple[Stage, ...] = (Stage.STAGING, Stage.PRODUCTION)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    run_id: str | None
    artifact_id: int
    package_sha256: str
    stage: str
    aliases: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    created_by: str | None = None
    created_at: float = 0.0

    @property
    def ref(self) -> str:
        """Readable id, e.g. ``churn@3``."""
        return f"{self.name}@{self.version}"

    def _repr_html_(self) -> str:
        from lockgate.registry.display import version_html

        return version_html(self)


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of stage: who moved which version where, when, why, and the gates."""

    id: int
    model_name: str
    version: int
    action: str
    from_stage: str | None
    to_stage: str
    actor: str | None
    reason: str | None
    gates: list[dict[str, Any]]
    created_at: float


@dataclass(frozen=True, slots=True)
class ModelNote:
    """A free-text note on a model or one of its versions."""

    id: int
    model_name: str
    version: int | None
    author: str | None
    text: str
    created_at: float


def current_actor() -> str:
    """Who is acting: the team server's authenticated user, ``LOCKGATE_ACTOR``, a CI's
    actor variable, or the OS user."""
    served = audit.authenticated_actor()
    if served is not None:
        return served
    for key in ("LOCKGATE_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "USER"):
        if os.environ.get(key):
            return os.environ[key]
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return "unknown"


def parse_ref(ref: str, default_alias: str = Stage.PRODUCTION) -> tuple[str, str | int]:
    """Split ``name@alias`` / ``name@3`` / ``name`` into ``(name, alias or version)``.

    Raises:
        RegistryError: malformed name or empty selector.
    """
    name, _, selector = ref.partition("@")
    if not NAME.match(name):
        raise RegistryError(
            f"`{ref}` is not a model reference: use NAME, NAME@ALIAS or NAME@VERSION with a "
            "name of letters, digits, `_`, `.` and `-`."
        )
    if not selector:
        return name, default_alias
    selector = selector.lstrip("v") if selector[:1] == "v" and selector[1:].isdigit() else selector
    return name, int(selector) if selector.isdigit() else selector


class RegistryReader:
    """The registry's reads over a :class:`~lockgate.store.Store`: versions, aliases,
    transitions and notes as frozen records.

    Why apart from :class:`Registry`: a reader needs only the store, not the settings
    and the artifact store a writer packages with, so the dashboard and the CLI read the
    registry without opening a blob store. Every read goes through the store's
    :class:`~lockgate.registry.registry_backend.RegistryBackend`, the one holder of the
    registry's SQL (or of its requests to ``lockgate server``).

    Example:
        versions = RegistryReader(Store.open(settings)).all_versions()
    """

    def __init__(self, store: Store) -> None:
        from lockgate.registry.registry_backend import backend_for

        self.store = store
        self.backend = backend_for(store)

    # -- reading -----------------------------------------------------------------

    def models(self) -> list[str]:
        """Registered model names."""
        return self.backend.models()

    def all_versions(self) -> list[ModelVersion]:
        """Every version of every model: by model name, newest version first.

        Raises:
            StoreError: through ``lockgate server`` (the dashboard that reads this runs
                beside the database).
        """
        return self._tables().all_versions()

    def version_count(self) -> int:
        """How many versions the registry holds, over every model (behind ``lockgate
        server``: of the models the user may read, counted model by model)."""
        from lockgate.registry.embedded_backend import EmbeddedBackend

        if not isinstance(self.backend, EmbeddedBackend):
            return sum(len(self.backend.versions(name)) for name in self.backend.models())
        return self._tables().version_count()

    def versions_from(self, run_ids: Sequence[str],
                      artifact_sha256s: Sequence[str]) -> list[ModelVersion]:
        """Versions built by one of these runs or packaging an artifact of one of these
        contents (what a lineage graph links its runs and artifacts to), by model name
        and version (beside the database, like :meth:`all_versions`)."""
        return self._tables().versions_from(run_ids, artifact_sha256s)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        return self.backend.versions(name)

    def get(self, name: str, version: int) -> ModelVersion:
        """One version.

        Raises:
            ModelNotFoundError: no such model or version (with the versions that exist).
        """
        return self.backend.get(name, version)

    def resolve(self, ref: str, default_alias: str = Stage.PRODUCTION) -> ModelVersion:
        """The version a reference names: ``churn@production``, ``churn@3``, ``churn``.

        Raises:
            ModelNotFoundError: unknown model, version or alias.
        """
        name, selector = parse_ref(ref, default_alias)
        if isinstance(selector, int):
            return self.get(name, selector)
        self.backend.require_model(name)
        aliases = self.aliases(name)
        if selector not in aliases:
            have = ", ".join(f"{k}->v{v}" for k, v in sorted(aliases.items())) or "none"
            raise ModelNotFoundError(
                f"Model `{name}` has no alias `{selector}` (aliases: {have})."
                f"{close_matches(selector, {*aliases, *STAGE_ALIASES} - {selector})} "
                f"Promote a version first: `lockgate models promote {name} VERSION --to "
                f"{selector}`."
            )
        return self.get(name, aliases[selector])

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version for one model."""
        return self.backend.aliases(name)

    def alias_version(self, name: str, alias: str) -> int | None:
        """The version an alias points at, or None (cheap: used by servers polling)."""
        return self.backend.alias_version(name, alias)

    def transitions(self, name: str, version: int | None = None) -> list[Transition]:
        """The transition history of a model (or of one version), oldest first."""
        found = self.backend.transitions(name)
        return found if version is None else [t for t in found if t.version == version]

    def notes(self, name: str) -> list[ModelNote]:
        """Notes on a model and its versions, oldest first."""
        return self.backend.notes(name)

    def _tables(self) -> EmbeddedBackend:
        """The registry's tables in this store, for the reads only the database answers
        (a client of ``lockgate server`` is refused by its store, naming where to run)."""
        from lockgate.registry.embedded_backend import EmbeddedBackend as Tables

        return self.backend if isinstance(self.backend, Tables) else Tables(self.store)


class Registry(RegistryReader):
    """The model registry in a metadata store.

    Example:
        registry = Registry(Store.open(settings), settings)
        mv = registry.register("churn", run_id, contract=contract, reference_profile=prof)
    """

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        super().__init__(store)
        self.settings = settings or load_settings()
        blobs = blob_store_for(self.settings.resolved_artifact_root, store=store)
        self.artifacts = ArtifactStore(store, blobs, allowlist(self.settings))

    # -- registering -------------------------------------------------------------

    def register(
        self,
        name: str,
        run_id: str,
        *,
        contract: Contract | Mapping[str, Any],
        reference_profile: Mapping[str, Any],
        holdout: FrameLike | None = None,
        examples: list[dict[str, Any]] | None = None,
        description: str | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Build a package from a training run's ``model`` and ``evaluation`` artifacts and
        register it as the next version (stage ``candidate``).

        The package is built and stored here (through a server: uploaded, chunked and
        resumable, hash checked by the server); the backend then records the version.

        Args:
            name: model name (letters, digits, ``_ . -``); created on first use.
            run_id: the training run (any unique prefix).
            contract: the data contract (``lockgate.data.Contract`` or its dict).
            reference_profile: profile of the training data (``Profile`` or its dict),
                the drift reference of monitoring.
            holdout: holdout rows (features + target) for the champion/challenger gate;
                default: read from the recorded dataset version by the evaluation's ids.
            examples: example requests for the infra check; default: from the contract.
            description: shown on the model card.
            actor: who registers (default: :func:`current_actor`).

        Raises:
            ModelNotFoundError: the run has no ``model`` or ``evaluation`` artifact.
            PackageError: the contract or pipeline cannot be packaged.
        """
        parse_ref(name)
        run_id = self.store.resolve_run_id(run_id)
        pipeline, evaluation = self._run_outputs(run_id)
        typed = as_contract(contract)
        lineage = self._lineage(run_id, evaluation)
        if holdout is None:
            holdout = holdout_from_data(evaluation, typed, self.settings)
        predictions = holdout_prediction_profile(pipeline, holdout, typed, evaluation)
        importance = package_importance(pipeline, holdout, typed, evaluation)
        for _attempt in range(5):  # another writer may take the same number: retry
            version = self.backend.next_version(name)
            with tempfile.TemporaryDirectory(prefix="lockgate-package-") as tmp:
                folder = Path(tmp) / "package"
                write_package(PackageContents(
                    pipeline=pipeline, contract=typed,
                    reference_profile=_as_dict(reference_profile), evaluation=evaluation,
                    lineage=lineage, model_card="", examples=examples or [], holdout=holdout,
                    prediction_profile=predictions,
                    feature_importance=importance.to_dict() if importance else None,
                ), folder, card=_card_for(name, version, evaluation, typed, lineage,
                                          description))
                archive = archive_package(folder, Path(tmp) / f"{name}-v{version}.tar.gz")
                record = self.artifacts.save_file(archive, name="model-package", run_id=run_id)
            try:
                return self.backend.add_version(NewVersion(
                    name, version, run_id, record, _details(evaluation, lineage), actor,
                    description))
            except VersionTakenError:
                continue
        raise RegistryError(f"Could not allocate a version number for `{name}`; retry.")

    # -- notes -------------------------------------------------------------------

    def add_note(self, name: str, text: str, *, version: int | None = None,
                 author: str | None = None) -> None:
        """Attach a note to a model (or one version)."""
        self.backend.add_note(name, text, version, author)

    # -- packages ----------------------------------------------------------------

    def package_path(self, mv: ModelVersion) -> Path:
        """The verified, unpacked package folder of a version (cached under home).

        The archive's bytes must hash to the registered ``package_sha256``; the cached
        folder is reused only if it is exactly that archive's content.

        Raises:
            PackageError: the artifact record does not hold the registered digest.
        """
        record = self.store.artifact(mv.artifact_id)
        if key_from_uri(record.uri) != mv.package_sha256:
            raise PackageError(
                f"Refusing {mv.ref}: its artifact {record.id} holds {record.uri[-64:][:12]}…, "
                f"not the registered package digest {mv.package_sha256[:12]}…. The registry "
                "was altered; restore the version from a backup.")
        with self.artifacts.blobs.open_verified(key_from_uri(record.uri)) as handle:
            archive = Path(handle.name)
        cache = Path(self.settings.home).resolve() / "packages" / mv.package_sha256
        return extract_archive(archive, cache)

    def load(self, mv: ModelVersion | str) -> ModelPackage:
        """Load the verified package of a version or reference."""
        version = self.resolve(mv) if isinstance(mv, str) else mv
        return load_package(self.package_path(version), trusted=self.artifacts.trusted)

    # -- stage changes -------------------------------------------------------------

    def transition(self, name: str, version: int, to_stage: str, *, action: str,
                   actor: str | None = None, reason: str | None = None,
                   gates: list[dict[str, Any]] | None = None) -> ModelVersion:
        """Move a version to a stage, moving the stage's alias and demoting the version
        that held it, all in one transaction with its transition rows.

        No gate runs here (``promote`` runs them first). Through ``lockgate server``,
        moving to ``staging`` or ``production`` this way is a gate override: only an
        admin may, and the audit trail records it as ``gate.overridden``.

        Raises:
            RegistryError: unknown stage, or archiving the production version.
        """
        return self.backend.transition(name, version, to_stage, action=action, actor=actor,
                                       reason=reason, gates=gates)

    def set_alias(self, name: str, alias: str, version: int, *, actor: str | None = None,
                  reason: str | None = None) -> ModelVersion:
        """Point a free alias (``shadow``, ``canary``...) at a version, recorded in the
        history. Stage aliases move only through :meth:`transition` (the gates).

        Raises:
            RegistryError: ``alias`` is a stage alias or not a valid name.
        """
        return self.backend.set_alias(name, alias, version, actor=actor, reason=reason)

    def transition_refused(self, name: str, version: int, to_stage: str, *,
                           actor: str | None = None, reason: str | None = None,
                           gates: list[dict[str, Any]] | None = None) -> None:
        """Record a refused promotion (the stage does not change)."""
        self.backend.transition_refused(name, version, to_stage, actor=actor, reason=reason,
                                        gates=gates)

    # -- internals ---------------------------------------------------------------

    def _run_outputs(self, run_id: str) -> tuple[Any, dict[str, Any]]:
        found = {a.name: a for a in self.store.artifacts(run_id)}
        missing = [n for n in ("model", "evaluation") if n not in found]
        if missing:
            raise ModelNotFoundError(
                f"Run {run_id} has no artifact {' or '.join(f'`{m}`' for m in missing)}; "
                f"it logged {sorted(found) or 'nothing'}. Register a run made by "
                "`lockgate.modeling.train`, which logs both."
            )
        evaluation = self.artifacts.load(found["evaluation"])
        if hasattr(evaluation, "to_dict"):
            evaluation = evaluation.to_dict()
        try:
            model = self.artifacts.load(found["model"])
        except ArtifactError as exc:  # refused before anything in it was built
            raise PackageError(f"Refusing to register the model of run {run_id}: {exc}") from exc
        return model, dict(evaluation)

    def _lineage(self, run_id: str, evaluation: Mapping[str, Any]) -> dict[str, Any]:
        dataset = dict(evaluation.get("dataset") or {})
        code = self.store.code_version(run_id)
        return {
            "run_id": run_id, "table": dataset.get("table"),
            "dataset_version": dataset.get("version"),
            "dataset_version_id": dataset.get("dataset_version_id"),
            # labeled feedback trained on beside the table (a retraining's new evidence)
            "labeled": dataset.get("labeled"),
            "code_commit": code.commit if code else None,
            "code_dirty": code.dirty if code else None,
        }


def _card_for(name: str, version: int, evaluation: dict[str, Any], contract: Contract,
              lineage: dict[str, Any], description: str | None
              ) -> Callable[[Mapping[str, Any]], str]:
    """The card of this version, rendered by :func:`write_package` once the environment
    it records is known (so the package is written once, card and manifest complete)."""
    return lambda environment: render_card(
        name, version, evaluation=evaluation, contract=contract, lineage=lineage,
        environment=environment, description=description)


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value.to_dict() if hasattr(value, "to_dict") else value)


def _details(evaluation: Mapping[str, Any], lineage: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "problem_type": evaluation.get("problem_type"),
        "primary_metric": evaluation.get("primary_metric"),
        "metrics": evaluation.get("metrics", {}),
        "dataset": f"{lineage.get('table')}@v{lineage.get('dataset_version')}",
    }
