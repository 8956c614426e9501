"""Schedules: run a pipeline on a cron expression (UTC), and the scheduler that starts
due runs.

Any number of schedulers may run against one store: before starting a due run a
scheduler inserts a claim keyed by ``(schedule, due time)``; the primary key lets
exactly one insert succeed, on SQLite and PostgreSQL alike. A claim is a lease: it
records its launch (``launched_at``) as soon as the run is started, and a claim not
launched before it expires (the scheduler died between claim and launch) is taken
again by the next scheduler that ticks. Delivery is therefore at-least-once: a due run
is never lost, and it starts twice only when a scheduler dies after starting the run
and before recording it (the run carries ``lockgate.due_at``, so a duplicate is visible).

Due times missed while no scheduler ran follow the schedule's ``catchup`` policy:
``none`` starts nothing late (only a due time at most ``grace_seconds`` old), ``latest``
(the default) starts the newest missed one, ``all`` starts every missed one oldest first,
at most ``MAX_CATCHUP`` of them. Due runs start as ``lockgate run`` subprocesses, so a
long pipeline never delays another schedule.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import sqlalchemy as sa
from croniter import croniter

from lockgate.config import Settings
from lockgate.errors import close_matches
from lockgate.pipelines.errors import ScheduleError
from lockgate.pipelines.executors.factory import EXECUTORS
from lockgate.store import Store
from lockgate.store.tables_pipelines import pipeline_schedule_claims, pipeline_schedules

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")

Catchup = Literal["none", "latest", "all"]
CATCHUP: tuple[str, ...] = get_args(Catchup)
#: At most this many missed due times of one schedule are started by ``catchup: all``.
MAX_CATCHUP = 100
#: Seconds a claim holds before another scheduler may take it again.
CLAIM_SECONDS = 60.0
#: A claim taken this many times without a launch is given up (status ``failed``).
MAX_CLAIM_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Schedule:
    """A pipeline to run on a cron expression (UTC)."""

    name: str
    pipeline_ref: str
    cron: str
    params_file: str | None = None
    overrides: tuple[str, ...] = ()
    executor: str = "local"
    created_at: float = 0.0
    catchup: Catchup = "latest"

    def last_due(self, now: float) -> float:
        """The latest due time at or before ``now`` (epoch seconds)."""
        return float(croniter(self.cron, now + 1e-3).get_prev(float))

    def next_due(self, now: float) -> float:
        """The first due time after ``now``."""
        return float(croniter(self.cron, now).get_next(float))

    def missed(self, since: float, now: float, limit: int = MAX_CATCHUP) -> list[float]:
        """Due times after ``since`` and at or before ``now``, oldest first; at most the
        ``limit`` newest."""
        found: list[float] = []
        walker = croniter(self.cron, now + 1e-3)
        while len(found) < limit:
            due = float(walker.get_prev(float))
            if due <= since:
                break
            found.append(due)
        return found[::-1]

    def to_start(self, since: float, now: float, grace_seconds: float) -> list[float]:
        """The due times to start now under the catch-up policy."""
        limit = MAX_CATCHUP if self.catchup == "all" else 1
        due = self.missed(since, now, limit)
        if self.catchup == "none":
            return [d for d in due if now - d <= grace_seconds]
        return due

    def command(self, due_at: float) -> list[str]:
        """The ``lockgate run`` command that starts this schedule's run for ``due_at``."""
        cmd = [sys.executable, "-m", "lockgate.cli.main", "run", self.pipeline_ref,
               "--executor", self.executor, "--tag", f"lockgate.schedule={self.name}",
               "--tag", f"lockgate.due_at={due_at:.0f}"]
        if self.params_file:
            cmd += ["--params", self.params_file]
        for override in self.overrides:
            cmd += ["--set", override]
        return cmd


def add_schedule(store: Store, schedule: Schedule, *, validate: bool = True) -> Schedule:
    """Register a schedule after checking its name, cron, executor, pipeline and params.

    Raises:
        ScheduleError: a bad name or cron, an unknown executor, or the name is taken.
        PipelineError / ParamsError: the pipeline or its params do not load.
    """
    problems = []
    if not _NAME.match(schedule.name):
        problems.append(f"name `{schedule.name}` must be letters, digits, `_`, `-` or `.`")
    if not croniter.is_valid(schedule.cron):
        problems.append(f"cron `{schedule.cron}` is not a valid cron expression "
                        "(5 fields: minute hour day-of-month month day-of-week, e.g. "
                        "`0 * * * *` for hourly)")
    if schedule.executor not in EXECUTORS:
        problems.append(f"executor `{schedule.executor}` is unknown; use "
                        f"{' or '.join(EXECUTORS)}")
    if schedule.catchup not in CATCHUP:
        problems.append(f"catchup `{schedule.catchup}` is unknown; use none (skip missed due "
                        "times), latest (start the newest missed one) or all (start every "
                        f"missed one, at most {MAX_CATCHUP})")
    if problems:
        raise ScheduleError(f"Cannot add schedule `{schedule.name}`: " + "; ".join(problems)
                            + ".")
    if validate:
        _check_pipeline(schedule)
    try:
        store.execute_write(sa.insert(pipeline_schedules).values(
            name=schedule.name, pipeline_ref=schedule.pipeline_ref, cron=schedule.cron,
            params_file=schedule.params_file, overrides=json.dumps(list(schedule.overrides)),
            executor=schedule.executor, created_at=schedule.created_at or time.time(),
            catchup=schedule.catchup))
    except sa.exc.IntegrityError as exc:
        raise ScheduleError(
            f"A schedule named `{schedule.name}` exists already; remove it first with "
            f"`lockgate schedule remove {schedule.name}`."
        ) from exc
    return get_schedule(store, schedule.name)


def list_schedules(store: Store) -> list[Schedule]:
    """Every schedule, by name."""
    with store.read() as conn:
        rows = conn.execute(sa.select(pipeline_schedules).order_by(pipeline_schedules.c.name))
        return [_schedule(row) for row in rows.mappings()]


def get_schedule(store: Store, name: str) -> Schedule:
    """The schedule called ``name``.

    Raises:
        ScheduleError: no such schedule (with close matches).
    """
    with store.read() as conn:
        row = conn.execute(sa.select(pipeline_schedules)
                           .where(pipeline_schedules.c.name == name)).mappings().first()
    if row is None:
        names = [s.name for s in list_schedules(store)]
        raise ScheduleError(f"No schedule `{name}`." + close_matches(name, names)
                            + " List them with `lockgate schedule list`.")
    return _schedule(row)


def remove_schedule(store: Store, name: str) -> None:
    """Delete a schedule and its claims.

    Raises:
        ScheduleError: no such schedule.
    """
    get_schedule(store, name)
    with store.write() as conn:
        conn.execute(sa.delete(pipeline_schedule_claims)
                     .where(pipeline_schedule_claims.c.schedule == name))
        conn.execute(sa.delete(pipeline_schedules).where(pipeline_schedules.c.name == name))


def claim(store: Store, schedule: str, due_at: float, owner: str, *,
          now: float | None = None, lease: float = CLAIM_SECONDS) -> bool:
    """Try to take the due run ``(schedule, due_at)`` for ``lease`` seconds; True for
    exactly one caller. A claim that expired without a launch can be taken again."""
    now = time.time() if now is None else now
    try:
        store.execute_write(sa.insert(pipeline_schedule_claims).values(
            schedule=schedule, due_at=due_at, owner=owner, claimed_at=now,
            pid=os.getpid(), expires_at=now + lease, status="claimed", attempts=1))
    except sa.exc.IntegrityError:
        return _retake(store, schedule, due_at, owner, now, lease)
    return True


def _retake(store: Store, schedule: str, due_at: float, owner: str, now: float,
            lease: float) -> bool:
    c = pipeline_schedule_claims.c
    result = store.execute_write(
        sa.update(pipeline_schedule_claims)
        .where(c.schedule == schedule, c.due_at == due_at, c.status == "claimed",
               c.expires_at < now)
        .values(owner=owner, claimed_at=now, pid=os.getpid(), expires_at=now + lease,
                attempts=c.attempts + 1))
    return bool(result.rowcount == 1)


def mark_launched(store: Store, schedule: str, due_at: float, owner: str,
                  now: float | None = None) -> None:
    """Record that the claimed due run was started (the claim no longer expires)."""
    c = pipeline_schedule_claims.c
    store.execute_write(
        sa.update(pipeline_schedule_claims)
        .where(c.schedule == schedule, c.due_at == due_at, c.owner == owner)
        .values(status="launched", launched_at=time.time() if now is None else now))


def release(store: Store, schedule: str, due_at: float, owner: str, now: float) -> str:
    """Give a claim back after a failed launch: it can be taken again at once, or is
    ``failed`` after ``MAX_CLAIM_ATTEMPTS``. Returns the claim's new status."""
    c = pipeline_schedule_claims.c
    with store.write() as conn:
        attempts = conn.execute(sa.select(c.attempts).where(
            c.schedule == schedule, c.due_at == due_at, c.owner == owner)).scalar() or 0
        status = "failed" if attempts >= MAX_CLAIM_ATTEMPTS else "claimed"
        conn.execute(sa.update(pipeline_schedule_claims)
                     .where(c.schedule == schedule, c.due_at == due_at, c.owner == owner)
                     .values(status=status, expires_at=now))
    return status


def expired_claims(store: Store, schedule: str, now: float) -> list[float]:
    """Due times of claims never launched whose lease ran out (their scheduler died)."""
    c = pipeline_schedule_claims.c
    with store.read() as conn:
        return [float(d) for d in conn.execute(
            sa.select(c.due_at).where(c.schedule == schedule, c.status == "claimed",
                                      c.expires_at < now).order_by(c.due_at)).scalars()]


def last_claimed(store: Store, schedule: str) -> float | None:
    """The newest due time of a schedule that was claimed, or None."""
    c = pipeline_schedule_claims.c
    with store.read() as conn:
        found = conn.execute(sa.select(sa.func.max(c.due_at))
                             .where(c.schedule == schedule)).scalar()
    return None if found is None else float(found)


def claims(store: Store, schedule: str | None = None) -> list[dict[str, object]]:
    """Claims taken so far (newest first): which scheduler started which due run."""
    query = sa.select(pipeline_schedule_claims).order_by(
        pipeline_schedule_claims.c.due_at.desc())
    if schedule is not None:
        query = query.where(pipeline_schedule_claims.c.schedule == schedule)
    with store.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


@dataclass(slots=True)
class Launch:
    """A due run a scheduler started.

    Attributes:
        schedule: the schedule's name.
        due_at: the due time it stands for (also the run's ``lockgate.due_at`` tag).
        process: the ``lockgate run`` process (None with a custom launcher).
        launched_at: when it started; ``launched_at - due_at`` is how late.
        attempt: 2 and more when an earlier scheduler claimed it and died.
    """

    schedule: str
    due_at: float
    process: subprocess.Popen[bytes] | None = None
    launched_at: float = 0.0
    attempt: int = 1


Launcher = Callable[[Schedule, float], subprocess.Popen[bytes] | None]


@dataclass(slots=True)
class Scheduler:
    """Starts due runs of every schedule in the store.

    Attributes:
        settings: the store and artifact locations (passed on to the started runs).
        owner: recorded on claims; default ``host:pid:random``.
        launcher: starts a run; default a ``lockgate run`` subprocess.
        claim_seconds: how long a claim holds before another scheduler may take it.
        grace_seconds: how late a due time may be and still start under ``catchup: none``.
    """

    settings: Settings
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:"
                                                 f"{uuid.uuid4().hex[:6]}")
    launcher: Launcher | None = None
    launched: list[Launch] = field(default_factory=list)
    claim_seconds: float = CLAIM_SECONDS
    grace_seconds: float = 120.0

    def tick(self, now: float | None = None) -> list[Launch]:
        """Claim and start what is due: claims whose scheduler died before launching,
        then the due times missed since the newest claim, by the catch-up policy."""
        now = time.time() if now is None else now
        store = Store.open(self.settings)
        started = []
        for schedule in list_schedules(store):
            since = last_claimed(store, schedule.name)
            since = schedule.created_at - 1e-3 if since is None else since
            due = [*expired_claims(store, schedule.name, now),
                   *schedule.to_start(since, now, self.grace_seconds)]
            for due_at in due:
                launch = self._launch(store, schedule, due_at, now)
                if launch is not None:
                    started.append(launch)
        self.launched += started
        return started

    def _launch(self, store: Store, schedule: Schedule, due_at: float,
                now: float) -> Launch | None:
        if not claim(store, schedule.name, due_at, self.owner, now=now,
                     lease=self.claim_seconds):
            return None
        try:
            process = (self.launcher or self._spawn)(schedule, due_at)
        except Exception as exc:
            status = release(store, schedule.name, due_at, self.owner, now)
            print(f"lockgate: could not start schedule {schedule.name} due {due_at:.0f}: "
                  f"{exc} (claim {status})", file=sys.stderr)
            return None
        launched_at = time.time()
        mark_launched(store, schedule.name, due_at, self.owner, launched_at)
        return Launch(schedule.name, due_at, process, launched_at,
                      _attempts(store, schedule.name, due_at))

    def serve(self, *, poll_seconds: float = 30.0, stop: threading.Event | None = None,
              on_launch: Callable[[Launch], None] | None = None) -> None:
        """Tick until ``stop`` is set, sleeping until the next due time (at most
        ``poll_seconds``, so new schedules are noticed)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            for launch in self.tick():
                if on_launch is not None:
                    on_launch(launch)
            self.reap()
            stop.wait(self._sleep(poll_seconds))

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the runs this scheduler started."""
        for launch in self.launched:
            if launch.process is not None:
                launch.process.wait(timeout=timeout)

    def reap(self) -> None:
        """Forget started runs whose process has ended."""
        self.launched = [x for x in self.launched
                         if x.process is not None and x.process.poll() is None]

    def _sleep(self, poll_seconds: float) -> float:
        now = time.time()
        schedules = list_schedules(Store.open(self.settings))
        upcoming = [s.next_due(now) - now for s in schedules]
        return max(0.05, min([poll_seconds, *upcoming]))

    def _spawn(self, schedule: Schedule, due_at: float) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update({
            "LOCKGATE_HOME": str(self.settings.home.resolve()),
            "LOCKGATE_DB_URL": self.settings.resolved_db_url,
            "LOCKGATE_ARTIFACT_ROOT": str(self.settings.resolved_artifact_root),
            "LOCKGATE_DATA_ROOT": str(self.settings.resolved_data_root),
        })
        return subprocess.Popen(schedule.command(due_at), env=env)


def _schedule(row: object) -> Schedule:
    r = dict(row)  # type: ignore[call-overload]
    return Schedule(r["name"], r["pipeline_ref"], r["cron"], r["params_file"],
                    tuple(json.loads(r["overrides"])), r["executor"], r["created_at"],
                    r.get("catchup") or "latest")


def _attempts(store: Store, schedule: str, due_at: float) -> int:
    c = pipeline_schedule_claims.c
    with store.read() as conn:
        found: Any = conn.execute(sa.select(c.attempts).where(
            c.schedule == schedule, c.due_at == due_at)).scalar()
    return int(found or 1)


def _check_pipeline(schedule: Schedule) -> None:
    from lockgate.pipelines.params import apply_overrides, load_params_file, resolve_params
    from lockgate.pipelines.reference import load_pipeline

    pipeline, _ = load_pipeline(schedule.pipeline_ref)
    values = load_params_file(schedule.params_file) if schedule.params_file else {}
    resolve_params(pipeline, apply_overrides(values, schedule.overrides))


def normalise_refs(pipeline_ref: str, params_file: str | None) -> tuple[str, str | None]:
    """Absolute paths, so a scheduler started elsewhere finds the files."""
    where, sep, attr = pipeline_ref.rpartition(":")
    if sep and (where.endswith(".py") or "/" in where):
        pipeline_ref = f"{Path(where).resolve()}:{attr}"
    return pipeline_ref, str(Path(params_file).resolve()) if params_file else None

