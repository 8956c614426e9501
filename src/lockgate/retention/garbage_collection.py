"""``lockgate gc``: remove what nothing live references, explain everything kept.

One pass, in this order, every step recorded as a :class:`Decision`:

1. **Runs** — experiment policies (``keep_last`` / ``max_age``) soft-delete the runs they
   expire; runs deleted longer than ``run_purge_days`` ago are purged, unless something
   not being purged still refers to what they made.
2. **Blobs** — mark and sweep: the blobs are listed, then the artifact rows read; a blob
   no row names is removed only if it is older than ``gc_grace_seconds`` at the sweep's
   start, its age is read again at the delete (``ObjectStore.delete_if_older``) and its
   references just before. A writer always stores the bytes (or touches present ones)
   *before* registering them, so a blob whose reference is in flight is always younger
   than the grace age. Interrupted uploads (``.tmp-*``, ``.tmp/`` on S3) older than the
   grace age go too.
3. **Tables and prediction logs** — Delta OPTIMIZE, then VACUUM keeping every version
   lineage protects and every version the table's policy keeps (see
   :mod:`lockgate.retention.table_maintenance`).

Nothing a registered model version depends on is ever removed: its package, its
training run and everything upstream of that run (:mod:`lockgate.retention.protection`).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import sqlalchemy as sa

from lockgate.artifacts.blob_store import ObjectBlobStore, blob_key, blob_store_for
from lockgate.artifacts.object_store import ObjectInfo
from lockgate.config import Settings, load_settings
from lockgate.data.table import QUARANTINE_DIR, quarantine_path, table_path
from lockgate.location import StoragePath
from lockgate.retention.policy import Policies, RetentionPolicy, format_age, load_policies
from lockgate.retention.protection import Protection, protection
from lockgate.retention.run_deletion import (
    RunDeletionError,
    ancestors,
    delete_runs,
    deleted_runs,
    descendants,
    purge_runs,
)
from lockgate.retention.table_maintenance import delta_tables, maintain
from lockgate.store import RunRecord, Store, audit
from lockgate.store import schema as t
from lockgate.store import tables_pipelines as tp
from lockgate.store import tables_quality as tq
from lockgate.store import tables_registry as reg

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
Subject = Literal["run", "blob", "partial", "table", "version", "log"]
Action = Literal["keep", "remove", "soft-delete", "purge", "compact", "vacuum"]
LOG_DIRS = ("_predictions", "_feedback")


@dataclass(frozen=True, slots=True)
class Decision:
    """One thing gc looked at and what it did (or, in a dry run, would do).

    Attributes:
        subject: what kind of thing (run, blob, partial upload, table, table version, log).
        target: its id, key, name or ``table@vN``.
        action: ``keep``, or what was (would be) done.
        reason: why: the alias, version, run or policy that keeps it, or why it goes.
        bytes: space the action frees (0 when kept).
    """

    subject: Subject
    target: str
    action: Action
    reason: str
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class GcReport:
    """Every decision of one gc pass."""

    started_at: float
    dry_run: bool
    decisions: list[Decision] = field(default_factory=list)

    @property
    def removed(self) -> list[Decision]:
        """Decisions that remove or hide something."""
        return [d for d in self.decisions if d.action != "keep"]

    @property
    def kept(self) -> list[Decision]:
        """Decisions that keep something, each with its reason."""
        return [d for d in self.decisions if d.action == "keep"]

    @property
    def freed_bytes(self) -> int:
        """Bytes the pass freed (would free)."""
        return sum(d.bytes for d in self.decisions)

    def about(self, target: str) -> list[Decision]:
        """The decisions about one target (a run id, blob key, ``table@vN``...)."""
        return [d for d in self.decisions if d.target == target]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (``lockgate gc --json``)."""
        return {"started_at": self.started_at, "dry_run": self.dry_run,
                "freed_bytes": self.freed_bytes,
                "decisions": [{"subject": d.subject, "target": d.target, "action": d.action,
                               "reason": d.reason, "bytes": d.bytes}
                              for d in self.decisions]}


def collect_garbage(*, dry_run: bool = True, settings: Settings | None = None,
                    policies: Policies | None = None, now: float | None = None,
                    on_decision: Callable[[Decision], None] | None = None) -> GcReport:
    """Run one gc pass (a dry run by default: nothing changes, every decision is listed).

    Args:
        dry_run: only report.
        settings: where the store, artifacts and tables are; ``run_purge_days`` and
            ``gc_grace_seconds`` come from here.
        policies: retention policies (default: ``retention:`` of ``lockgate.yaml``).
        now: the sweep's start (tests pass a later time instead of waiting).
        on_decision: called with each decision as it is made (progress output).

    Example:
        >>> report = collect_garbage(dry_run=True)          # doctest: +SKIP
        >>> [d.reason for d in report.kept if d.subject == "blob"][:1]  # doctest: +SKIP
        ['package of churn@2 (production)']
    """
    settings = settings or load_settings()
    chosen_policies = policies is not None
    policies = policies if policies is not None else load_policies()
    started = time.time() if now is None else now
    report = GcReport(started_at=started, dry_run=dry_run)

    def record(decision: Decision) -> None:
        report.decisions.append(decision)
        if on_decision is not None:
            on_decision(decision)

    store = Store.open(settings)
    if getattr(store, "remote", False):  # behind `lockgate server`: it runs the pass
        return _remote_pass(store, dry_run, policies_given=chosen_policies,
                            now=now, on_decision=on_decision)
    protected = protection(store)
    blobs = blob_store_for(settings.resolved_artifact_root)
    restore = getattr(blobs.objects, "restore_set_aside", None)  # a crashed sweep's leftovers
    if restore is not None and not dry_run:
        restore()
    listing = list(blobs.objects.list())  # mark: listed before the references are read
    partials = list(blobs.objects.list_partials())
    expire_runs(store, protected, policies, started, dry_run, record)
    purged = purge_deleted(store, settings, started, dry_run, record)
    sweep_blobs(store, blobs, listing, protected, purged, settings, started, dry_run, record)
    sweep_partials(blobs, partials, settings, started, dry_run, record)
    maintain_tables(store, settings, protected, policies, started, dry_run, record)
    maintain_logs(settings, policies, started, dry_run, record)
    if not dry_run:
        audit.record(store, "gc.ran", "gc", after=_summary(report))
    return report


def _summary(report: GcReport) -> dict[str, object]:
    """What a pass changed, for the audit log (each purged run has its own entry)."""
    counts: dict[str, int] = {}
    for decision in report.decisions:
        if decision.action != "keep":
            key = f"{decision.subject}:{decision.action}"
            counts[key] = counts.get(key, 0) + 1
    return {"started_at": report.started_at, "freed_bytes": report.freed_bytes,
            "changes": counts}


def _remote_pass(store: Store, dry_run: bool, *, policies_given: bool, now: float | None,
                 on_decision: Callable[[Decision], None] | None) -> GcReport:
    """One pass run by the server (its policies, its clock; admins only)."""
    from lockgate.errors import StoreError

    if policies_given or now is not None:
        raise StoreError("Behind `lockgate server` gc runs with the server's retention "
                         "policies and clock: do not pass `policies` or `now`.")
    found = store.request("POST", "/gc", json_body={"dry_run": dry_run},  # type: ignore[attr-defined]
                          idempotent=True).json()
    report = GcReport(started_at=float(found["started_at"]), dry_run=bool(found["dry_run"]))
    for item in found["decisions"]:
        decision = Decision(item["subject"], item["target"], item["action"], item["reason"],
                            int(item.get("bytes") or 0))
        report.decisions.append(decision)
        if on_decision is not None:
            on_decision(decision)
    return report


# -- runs ---------------------------------------------------------------------------

def expire_runs(store: Store, protected: Protection, policies: Policies, now: float,
                dry_run: bool, record: Callable[[Decision], None]) -> None:
    """Soft-delete the top-level runs an experiment's policy no longer keeps."""
    for experiment in store.experiments():
        policy = policies.for_("experiments", experiment)
        if policy is None:
            continue
        runs = store.list_runs(experiment=experiment, top_level=True, limit=None)
        for rank, run in enumerate(runs):  # newest first
            age = now - run.start_time
            if policy.keeps(rank, age):
                continue
            why = (f"expired by {policy.describe()} of experiment `{experiment}` "
                   f"({_where(policy)}): #{rank + 1} newest, {_age(age)} old")
            if run.id in protected.runs:
                record(Decision("run", run.id, "keep", f"{why}, but kept by lineage: "
                                f"{protected.runs[run.id]}"))
                continue
            if run.status == "RUNNING":
                record(Decision("run", run.id, "keep", f"{why}, but still running"))
                continue
            if not dry_run:
                try:
                    delete_runs([run.id], store=store)
                except RunDeletionError as exc:
                    record(Decision("run", run.id, "keep", f"{why}, but {exc.problems[0]}"))
                    continue
            record(Decision("run", run.id, "soft-delete",
                            f"{why}; restorable with `lockgate runs restore {run.id}`"))


def purge_deleted(store: Store, settings: Settings, now: float, dry_run: bool,
                  record: Callable[[Decision], None]) -> set[str]:
    """Purge runs deleted more than ``run_purge_days`` ago that nothing else refers to.

    Returns:
        The ids purged (in a dry run: that would be).
    """
    cutoff = now - settings.run_purge_days * 86400
    due: list[RunRecord] = []
    for run in deleted_runs(store):
        deleted_at = run.deleted_at or 0.0
        if deleted_at >= cutoff:
            until = _date(deleted_at + settings.run_purge_days * 86400)
            record(Decision("run", run.id, "keep",
                            f"soft-deleted {_date(deleted_at)}; restorable, purged after "
                            f"{until} (run_purge_days={settings.run_purge_days:g})"))
        else:
            due.append(run)
    candidates = set(descendants(store, [r.id for r in due]))
    blocked = _still_referenced(store, candidates)
    # a run stays with any of its tree that stays (the parent_id foreign key)
    for run_id in list(blocked):
        for above in ancestors(store, [run_id]) & candidates:
            blocked.setdefault(above, f"its descendant {run_id[:8]} is kept: "
                                      f"{blocked[run_id]}")
    purgeable = candidates - set(blocked)
    for run in due:
        if run.id in blocked:
            record(Decision("run", run.id, "keep", f"deleted {_date(run.deleted_at or 0)} and "
                            f"due, but {blocked[run.id]}"))
        else:
            record(Decision("run", run.id, "purge",
                            f"deleted {_date(run.deleted_at or 0)}, more than "
                            f"{settings.run_purge_days:g} days ago; nothing live refers to it"))
    if not dry_run:
        purge_runs(store, sorted(purgeable))
    return purgeable


def _still_referenced(store: Store, runs: set[str]) -> dict[str, str]:
    """Runs of ``runs`` whose artifacts something outside ``runs`` still names."""
    if not runs:
        return {}
    ids = list(runs)
    found: dict[str, str] = {}
    with store.read() as conn:
        owned = dict(conn.execute(sa.select(t.artifacts.c.id, t.artifacts.c.run_id)
                                  .where(t.artifacts.c.run_id.in_(ids))).all())
        if not owned:
            return {}
        for user, artifact_id in conn.execute(sa.select(t.lineage.c.run_id,
                                                        t.lineage.c.artifact_id).where(
                t.lineage.c.artifact_id.in_(list(owned)), t.lineage.c.run_id.not_in(ids))):
            found.setdefault(owned[artifact_id], f"run {user} consumed its artifact "
                                                 f"#{artifact_id}")
        for step, outputs in conn.execute(sa.select(tp.pipeline_steps.c.step_run_id,
                                                    tp.pipeline_steps.c.outputs).where(
                tp.pipeline_steps.c.outputs.is_not(None),
                tp.pipeline_steps.c.step_run_id.not_in(ids))):
            for artifact_id in _output_ids(outputs):
                if artifact_id in owned:
                    found.setdefault(owned[artifact_id], f"step run {step} reuses its "
                                                         f"output #{artifact_id} (cache)")
        for artifact_id, dv_id in conn.execute(sa.select(
                tq.quality_profiles.c.artifact_id, tq.quality_profiles.c.dataset_version_id)
                .where(tq.quality_profiles.c.artifact_id.in_(list(owned)))):
            found.setdefault(owned[artifact_id], f"its artifact #{artifact_id} is the stored "
                                                 f"profile of dataset version #{dv_id}")
        for name, version, artifact_id in conn.execute(sa.select(
                reg.model_versions.c.model_name, reg.model_versions.c.version,
                reg.model_versions.c.artifact_id)
                .where(reg.model_versions.c.artifact_id.in_(list(owned)))):
            found.setdefault(owned[artifact_id], f"its artifact #{artifact_id} is the package "
                                                 f"of {name}@{version}")
    return found


def _output_ids(text: str) -> list[int]:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [int(v) for v in (value.values() if isinstance(value, dict) else [])
            if isinstance(v, int)]


# -- blobs --------------------------------------------------------------------------

def sweep_blobs(store: Store, blobs: ObjectBlobStore, listing: list[ObjectInfo],
                protected: Protection, purged: set[str], settings: Settings, now: float,
                dry_run: bool, record: Callable[[Decision], None]) -> None:
    """Remove blobs no artifact names that are older than the grace age."""
    cutoff = now - settings.gc_grace_seconds
    users = _blob_users(store, protected, purged)
    for item in listing:
        name = item.key.rsplit("/", 1)[-1]
        if not _SHA256.match(name) or item.key != blob_key(name):
            record(Decision("blob", item.key, "keep", "not a lockgate blob (unknown file)"))
        elif name in users:
            record(Decision("blob", name, "keep", users[name]))
        elif item.modified >= cutoff:
            record(Decision("blob", name, "keep",
                            f"no artifact names it, but it was written "
                            f"{_age(now - item.modified)} ago, within the grace age "
                            f"({format_age(settings.gc_grace_seconds)}): a write may be about "
                            "to register it"))
        elif dry_run or (not _referenced_now(store, name)
                         and blobs.objects.delete_if_older(item.key, cutoff)):
            record(Decision("blob", name, "remove",
                            f"no artifact names it (last written {_age(now - item.modified)} "
                            "ago)", item.size))
        else:
            record(Decision("blob", name, "keep", "registered or stored again while gc "
                            "ran: kept"))


def sweep_partials(blobs: ObjectBlobStore, partials: list[ObjectInfo], settings: Settings,
                   now: float, dry_run: bool, record: Callable[[Decision], None]) -> None:
    """Remove the temporary objects of uploads interrupted longer ago than the grace age."""
    cutoff = now - settings.gc_grace_seconds
    for item in partials:
        age = _age(now - item.modified)
        if item.modified >= cutoff:
            record(Decision("partial", item.key, "keep",
                            f"upload in progress? last written {age} ago, within the grace age"))
        elif dry_run or blobs.objects.delete_if_older(item.key, cutoff):
            record(Decision("partial", item.key, "remove",
                            f"interrupted upload, last written {age} ago", item.size))


def _referenced_now(store: Store, sha: str) -> bool:
    with store.read() as conn:
        return conn.execute(sa.select(t.artifacts.c.id).where(t.artifacts.c.sha256 == sha)
                            .limit(1)).first() is not None


def _blob_users(store: Store, protected: Protection, purged: set[str]) -> dict[str, str]:
    """For each referenced blob, the strongest reason it is kept."""
    with store.read() as conn:
        rows = conn.execute(sa.select(
            t.artifacts.c.id, t.artifacts.c.sha256, t.artifacts.c.name, t.artifacts.c.run_id,
            t.runs.c.deleted_at, t.experiments.c.name,
        ).select_from(t.artifacts.outerjoin(t.runs, t.runs.c.id == t.artifacts.c.run_id)
                      .outerjoin(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
                      )).all()
        profiles = dict(conn.execute(sa.select(
            tq.quality_profiles.c.artifact_id, t.dataset_versions.c.table_name
            + sa.literal("@v") + sa.cast(t.dataset_versions.c.version, sa.String))
            .join(t.dataset_versions,
                  t.dataset_versions.c.id == tq.quality_profiles.c.dataset_version_id)).all())
    ranked: dict[str, tuple[int, str]] = {}
    for artifact_id, sha, name, run_id, deleted_at, experiment in rows:
        if run_id is not None and run_id in purged:
            continue
        if artifact_id in protected.artifacts:
            rank, why = 0, protected.artifacts[artifact_id]
        elif run_id is not None and run_id in protected.runs:
            rank, why = 1, f"artifact `{name}` of run {run_id[:8]}, which {protected.runs[run_id]}"
        elif run_id is None:
            owner = profiles.get(artifact_id)
            rank, why = 2, (f"stored profile of {owner}" if owner else
                            f"artifact #{artifact_id} `{name}` (no run)")
        elif deleted_at is None:
            rank, why = 2, f"artifact `{name}` of live run {run_id[:8]} (experiment `{experiment}`)"
        else:
            rank, why = 3, (f"artifact `{name}` of soft-deleted run {run_id[:8]}, kept until "
                            "it is purged")
        if sha not in ranked or rank < ranked[sha][0]:
            ranked[sha] = (rank, why)
    return {sha: why for sha, (_rank, why) in ranked.items()}


# -- tables and logs ----------------------------------------------------------------

def maintain_tables(store: Store, settings: Settings, protected: Protection,
                    policies: Policies, now: float, dry_run: bool,
                    record: Callable[[Decision], None]) -> None:
    """Decide each table version's fate, then compact and vacuum the table."""
    for table in store.dataset_tables():
        policy = policies.for_("tables", table)
        versions = sorted(store.dataset_versions(table), key=lambda v: -v.version)
        keep: list[int] = []
        for rank, version in enumerate(versions):
            target = f"{table}@v{version.version}"
            age = now - version.created_at
            if version.id in protected.dataset_versions:
                keep.append(version.version)
                record(Decision("version", target, "keep", protected.dataset_versions[version.id]))
            elif rank == 0:
                keep.append(version.version)
                record(Decision("version", target, "keep", "the latest version"))
            elif policy is None:
                keep.append(version.version)
                record(Decision("version", target, "keep", f"no retention policy for table "
                                f"`{table}` (set retention.tables.{table} in lockgate.yaml)"))
            elif policy.keeps(rank, age):
                keep.append(version.version)
                record(Decision("version", target, "keep",
                                f"kept by {policy.describe()} ({_where(policy)})"))
            else:
                record(Decision("version", target, "vacuum",
                                f"expired by {policy.describe()} ({_where(policy)}): time travel "
                                "to it ends once its files are vacuumed"))
        path = table_path(settings, table)
        _maintain(path, "table", table, None if policy is None else keep,
                  settings, 0.0, dry_run, record)
        quarantine = quarantine_path(settings, table)
        if quarantine.exists():
            _maintain(quarantine, "table", f"{QUARANTINE_DIR}/{table}",
                      None if policy is None else [], settings,
                      (policy.max_age or 0.0) if policy else 0.0, dry_run, record)


def maintain_logs(settings: Settings, policies: Policies, now: float, dry_run: bool,
                  record: Callable[[Decision], None]) -> None:
    """Compact and vacuum every model's prediction and feedback log."""
    del now
    root = settings.resolved_data_root
    for folder in LOG_DIRS:
        for path in delta_tables(root / folder):
            model = _relative(path, root / folder)
            policy = policies.for_("predictions", model) or RetentionPolicy()
            keep = _newest_versions(path, policy.keep_last)
            _maintain(path, "log", f"{folder}/{model}", keep, settings,
                      policy.max_age or 0.0, dry_run, record,
                      why=f"{policy.describe()} ({_where(policy)})")


def _relative(path: StoragePath, base: StoragePath) -> str:
    """``path`` below ``base`` as text (``churn``), for folders and prefixes alike."""
    return str(path)[len(str(base)):].strip("/")


def _newest_versions(path: StoragePath, count: int | None) -> list[int]:
    from lockgate.data.table import current_version

    latest = current_version(path)
    if latest is None or count is None:
        return []
    return list(range(max(0, latest - count + 1), latest + 1))


def _maintain(path: StoragePath, subject: Subject, name: str, keep: list[int] | None,
              settings: Settings, min_age: float, dry_run: bool,
              record: Callable[[Decision], None], why: str = "") -> None:
    done = maintain(path, keep_versions=keep, grace_seconds=settings.gc_grace_seconds,
                    min_age_seconds=min_age, dry_run=dry_run)
    if done is None:
        return
    if done.small_files > 1:
        verb = "would compact" if dry_run else f"compacted {done.compacted} of"
        record(Decision(subject, name, "compact", f"{verb} {done.small_files} small files "
                        "(one per commit) into large ones"))
    if done.retention_hours is None:
        record(Decision(subject, name, "keep", "every version's files kept: no retention "
                        f"policy for `{name}`"))
        return
    kept = ", ".join(f"v{v}" for v in done.kept_versions)
    record(Decision(subject, name, "vacuum" if done.vacuumed else "keep",
                    f"VACUUM {'would delete' if dry_run else 'deleted'} {len(done.vacuumed)} "
                    f"file(s) removed by earlier commits, older than {done.retention_hours} h;"
                    f" files of {kept} kept" + (f"; policy {why}" if why else ""),
                    done.vacuumed_bytes))
    if done.log_files:
        record(Decision(subject, name, "vacuum",
                        f"{'would remove' if dry_run else 'removed'} {len(done.log_files)} "
                        f"Delta log file(s) before the checkpoint that the oldest kept "
                        f"version ({kept.split(', ')[0]}) is read from"))


# -- wording ------------------------------------------------------------------------

def _where(policy: RetentionPolicy) -> str:
    return policy.source


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _date(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

