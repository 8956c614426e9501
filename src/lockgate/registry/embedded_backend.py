"""The registry in the metadata store's own tables, with its decisions made here.

Stage changes are written in one transaction together with their transition rows and
their audit records, so the history and the audit trail can never disagree with the
current state. ``lockgate server`` applies every registry request through this variant.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lockgate.errors import close_matches
from lockgate.registry.errors import ModelNotFoundError, RegistryError, VersionTakenError
from lockgate.registry.model_version import (
    NAME,
    STAGE_ALIASES,
    STAGES,
    ModelNote,
    ModelVersion,
    Stage,
    Transition,
    current_actor,
)
from lockgate.registry.registry_backend import NewVersion, PromotionRequest
from lockgate.store import Store, audit
from lockgate.store import schema as core
from lockgate.store import tables_registry as t
from lockgate.store.records import from_row

if TYPE_CHECKING:
    from lockgate.registry.model_version import Registry
    from lockgate.registry.promotion import PromotionResult


class EmbeddedBackend:
    """The registry's records in ``store`` (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading -----------------------------------------------------------------

    def models(self) -> list[str]:
        with self.store.read() as conn:
            return list(conn.execute(sa.select(t.registered_models.c.name)
                                     .order_by(t.registered_models.c.name)).scalars())

    def require_model(self, name: str) -> None:
        with self.store.read() as conn:
            exists = conn.execute(sa.select(t.registered_models.c.name).where(
                t.registered_models.c.name == name)).scalar_one_or_none()
        if exists is None:  # list every name only to explain the miss
            known = self.models()
            raise ModelNotFoundError(
                f"No registered model `{name}`.{close_matches(name, known)} Registered: "
                f"{', '.join(known) or 'none'}. Register one with `lockgate models register`."
            )

    def versions(self, name: str) -> list[ModelVersion]:
        self.require_model(name)
        aliases = self.aliases(name)
        with self.store.read() as conn:
            rows = conn.execute(sa.select(t.model_versions).where(
                t.model_versions.c.model_name == name).order_by(t.model_versions.c.version))
            return [_version(row, aliases) for row in rows]

    def get(self, name: str, version: int) -> ModelVersion:
        self.require_model(name)
        with self.store.read() as conn:
            row = conn.execute(sa.select(t.model_versions).where(
                t.model_versions.c.model_name == name,
                t.model_versions.c.version == int(version))).one_or_none()
        if row is None:
            known = ", ".join(str(v.version) for v in self.versions(name)) or "none"
            raise ModelNotFoundError(f"Model `{name}` has no version {version}; versions: "
                                     f"{known}.")
        return _version(row, self.aliases(name))

    def aliases(self, name: str) -> dict[str, int]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(t.model_aliases.c.alias, t.model_aliases.c.version)
                                .where(t.model_aliases.c.model_name == name))
            return {alias: int(version) for alias, version in rows}

    def alias_version(self, name: str, alias: str) -> int | None:
        with self.store.read() as conn:
            return conn.execute(sa.select(t.model_aliases.c.version).where(
                t.model_aliases.c.model_name == name, t.model_aliases.c.alias == alias)
            ).scalar_one_or_none()

    def transitions(self, name: str) -> list[Transition]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(t.model_transitions).where(
                t.model_transitions.c.model_name == name).order_by(t.model_transitions.c.id))
            return [from_row(Transition, r, gates=json.loads(r.gates or "[]")) for r in rows]

    def notes(self, name: str) -> list[ModelNote]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(t.model_notes).where(
                t.model_notes.c.model_name == name).order_by(t.model_notes.c.id))
            return [from_row(ModelNote, row) for row in rows]

    def all_versions(self) -> list[ModelVersion]:
        """Every version of every model: by model name, newest version first."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(t.model_versions).order_by(
                t.model_versions.c.model_name, t.model_versions.c.version.desc())).all()
            aliases = conn.execute(sa.select(t.model_aliases.c.model_name,
                                             t.model_aliases.c.alias,
                                             t.model_aliases.c.version)).all()
        by_model: dict[str, dict[str, int]] = {}
        for model, alias, version in aliases:
            by_model.setdefault(model, {})[alias] = int(version)
        return [_version(row, by_model.get(row.model_name, {})) for row in rows]

    def version_count(self) -> int:
        """How many versions the registry holds, over every model."""
        with self.store.read() as conn:
            return int(conn.execute(sa.select(sa.func.count())
                                    .select_from(t.model_versions)).scalar_one())

    def versions_from(self, run_ids: Sequence[str],
                      artifact_sha256s: Sequence[str]) -> list[ModelVersion]:
        """Versions built by one of these runs or packaging an artifact of one of these
        contents, by model name and version."""
        query = (sa.select(t.model_versions)
                 .join(core.artifacts, core.artifacts.c.id == t.model_versions.c.artifact_id)
                 .where(sa.or_(t.model_versions.c.run_id.in_(list(run_ids)),
                               core.artifacts.c.sha256.in_(list(artifact_sha256s))))
                 .order_by(t.model_versions.c.model_name, t.model_versions.c.version))
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        aliases = {name: self.aliases(name) for name in {row.model_name for row in rows}}
        return [_version(row, aliases[row.model_name]) for row in rows]

    # -- writing -----------------------------------------------------------------

    def add_note(self, name: str, text: str, version: int | None, author: str | None
                 ) -> None:
        if version is not None:
            self.get(name, version)
        else:
            self.require_model(name)
        author = author or current_actor()
        with self.store.write() as conn:
            conn.execute(sa.insert(t.model_notes).values(
                model_name=name, version=version, author=author, text=text,
                created_at=time.time()))
            audit.record(self.store, "model.noted", _target(name, version), conn=conn,
                         after={"author": author, "text": text})

    def next_version(self, name: str) -> int:
        with self.store.read() as conn:
            top = conn.execute(sa.select(sa.func.max(t.model_versions.c.version)).where(
                t.model_versions.c.model_name == name)).scalar_one_or_none()
        return int(top or 0) + 1

    def add_version(self, new: NewVersion) -> ModelVersion:
        """The model (created on first use), its version, the ``register`` transition,
        the audit record and the run's lineage edge to the package, in one transaction.

        Raises:
            VersionTakenError: another writer took the number first (build again).
        """
        now = time.time()
        actor = new.actor or current_actor()
        try:
            with self.store.write() as conn:
                _ensure_model(conn, new.name, new.description, now)
                conn.execute(sa.insert(t.model_versions).values(
                    model_name=new.name, version=new.version, run_id=new.run_id,
                    artifact_id=new.artifact.id, package_sha256=new.artifact.sha256,
                    stage=Stage.CANDIDATE, details=json.dumps(new.details, default=str),
                    created_by=actor, created_at=now))
                _log(conn, new.name, new.version, "register", None, Stage.CANDIDATE, actor,
                     f"registered from run {new.run_id}", [], now)
                audit.record(self.store, "model.registered", f"model:{new.name}@{new.version}",
                             conn=conn, after={"run_id": new.run_id,
                                               "package_sha256": new.artifact.sha256})
                # only with the number: a lost race leaves no edge naming another package
                conn.execute(sa.insert(core.lineage).values(
                    run_id=new.run_id, direction="produced", artifact_id=new.artifact.id,
                    dataset_version_id=None, role=f"model-package:{new.name}@{new.version}",
                    note=None, created_at=now))
        except sa.exc.IntegrityError as exc:
            raise VersionTakenError(f"Version {new.version} of `{new.name}` was registered "
                                    "by another writer first; build the next one.") from exc
        return self.get(new.name, new.version)

    def transition(self, name: str, version: int, to_stage: str, *, action: str,
                   actor: str | None, reason: str | None,
                   gates: list[dict[str, Any]] | None) -> ModelVersion:
        if to_stage not in STAGES:
            raise RegistryError(f"Unknown stage `{to_stage}`; stages: {', '.join(STAGES)}."
                                f"{close_matches(to_stage, STAGES)}")
        current = self.get(name, version)
        if to_stage == Stage.ARCHIVED and Stage.PRODUCTION in current.aliases:
            raise RegistryError(f"{current.ref} is in production; run `lockgate models "
                                f"rollback {name}` or promote another version first.")
        actor = actor or current_actor()
        now = time.time()
        with self.store.write() as conn:
            for alias in STAGE_ALIASES:  # a version has one stage, so one stage alias
                if alias in current.aliases and alias != to_stage:
                    conn.execute(sa.delete(t.model_aliases).where(
                        t.model_aliases.c.model_name == name,
                        t.model_aliases.c.alias == alias))
            if to_stage in STAGE_ALIASES:
                self._move_alias(conn, name, to_stage, version, actor, now)
            _set_stage(conn, name, version, to_stage)
            _log(conn, name, version, action, current.stage, to_stage, actor, reason,
                 gates or [], now)
            audit.record(self.store, "model.stage_changed", f"model:{current.ref}", conn=conn,
                         before={"stage": current.stage, "aliases": list(current.aliases)},
                         after={"stage": to_stage, "action": action, "reason": reason})
        return self.get(name, version)

    def set_alias(self, name: str, alias: str, version: int, *, actor: str | None,
                  reason: str | None) -> ModelVersion:
        if alias in STAGE_ALIASES or not NAME.match(alias) or alias.isdigit():
            raise RegistryError(
                f"`{alias}` cannot be set directly: "
                + ("stage aliases move through `lockgate models promote`." if alias in
                   STAGE_ALIASES else "use letters, digits, `_ . -`, not only digits."))
        current = self.get(name, version)
        now = time.time()
        with self.store.write() as conn:
            before = conn.execute(sa.select(t.model_aliases.c.version).where(
                t.model_aliases.c.model_name == name, t.model_aliases.c.alias == alias)
            ).scalar_one_or_none()
            conn.execute(sa.delete(t.model_aliases).where(
                t.model_aliases.c.model_name == name, t.model_aliases.c.alias == alias))
            conn.execute(sa.insert(t.model_aliases).values(
                model_name=name, alias=alias, version=version, updated_at=now))
            audit.record(self.store, "alias.moved", f"model:{name}@{alias}", conn=conn,
                         before=None if before is None else {"version": before},
                         after={"version": version})
            _log(conn, name, version, f"alias:{alias}", current.stage, current.stage,
                 actor or current_actor(), reason or f"alias {alias} set", [], now)
        return self.get(name, version)

    def transition_refused(self, name: str, version: int, to_stage: str, *,
                           actor: str | None, reason: str | None,
                           gates: list[dict[str, Any]] | None) -> None:
        current = self.get(name, version)
        with self.store.write() as conn:
            _log(conn, name, version, "refused", current.stage, to_stage,
                 actor or current_actor(), reason or "a gate failed", gates or [], time.time())

    # -- decisions ---------------------------------------------------------------

    def promote(self, registry: Registry, request: PromotionRequest) -> PromotionResult:
        from lockgate.registry.promotion import decide_promotion

        return decide_promotion(registry, request)

    def rollback(self, registry: Registry, name: str, *, actor: str | None,
                 reason: str | None) -> ModelVersion:
        from lockgate.registry.promotion import restore_previous

        return restore_previous(registry, name, actor=actor, reason=reason)

    def _move_alias(self, conn: Any, name: str, alias: str, version: int, actor: str,
                    now: float) -> None:
        previous = conn.execute(sa.select(t.model_aliases.c.version).where(
            t.model_aliases.c.model_name == name, t.model_aliases.c.alias == alias)
        ).scalar_one_or_none()
        if previous is not None and previous != version:
            demoted = Stage.ARCHIVED if alias == Stage.PRODUCTION else Stage.CANDIDATE
            _set_stage(conn, name, previous, demoted)
            _log(conn, name, previous, "demote", alias, demoted, actor,
                 f"replaced as {alias} by v{version}", [], now)
            audit.record(self.store, "model.stage_changed", f"model:{name}@{previous}",
                         conn=conn, before={"stage": alias},
                         after={"stage": demoted, "action": "demote",
                                "reason": f"replaced as {alias} by v{version}"})
        conn.execute(sa.delete(t.model_aliases).where(
            t.model_aliases.c.model_name == name, t.model_aliases.c.alias == alias))
        conn.execute(sa.insert(t.model_aliases).values(
            model_name=name, alias=alias, version=version, updated_at=now))
        audit.record(self.store, "alias.moved", f"model:{name}@{alias}", conn=conn,
                     before=None if previous is None else {"version": previous},
                     after={"version": version})


def _target(name: str, version: int | None) -> str:
    return f"model:{name}" if version is None else f"model:{name}@{version}"


def _ensure_model(conn: Any, name: str, description: str | None, now: float) -> None:
    exists = conn.execute(sa.select(t.registered_models.c.name).where(
        t.registered_models.c.name == name)).scalar_one_or_none()
    if exists is None:
        conn.execute(sa.insert(t.registered_models).values(
            name=name, description=description, created_at=now))


def _set_stage(conn: Any, name: str, version: int, stage: str) -> None:
    conn.execute(sa.update(t.model_versions).where(
        t.model_versions.c.model_name == name, t.model_versions.c.version == version
    ).values(stage=stage))


def _log(conn: Any, name: str, version: int, action: str, from_stage: str | None,
         to_stage: str, actor: str | None, reason: str | None, gates: list[dict[str, Any]],
         now: float) -> None:
    conn.execute(sa.insert(t.model_transitions).values(
        model_name=name, version=version, action=action, from_stage=from_stage,
        to_stage=to_stage, actor=actor, reason=reason,
        gates=json.dumps(gates, default=str), created_at=now))


def _version(row: Any, aliases: Mapping[str, int]) -> ModelVersion:
    return from_row(
        ModelVersion, row, name=row.model_name, version=int(row.version),
        artifact_id=int(row.artifact_id),
        aliases=tuple(sorted(a for a, v in aliases.items() if v == row.version)),
        details=json.loads(row.details or "{}"),
    )
