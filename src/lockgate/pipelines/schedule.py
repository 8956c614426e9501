"""Schedules: run a pipeline on a cron expression (UTC), and the scheduler that starts
due runs.

Any number of schedulers may run against one store: before starting a due run a
scheduler inserts a claim keyed by ``(schedule, due time)``; the primary key lets
exactly one insert succeed, on SQLite and PostgreSQL alike, so a due run is started
at most once. A scheduler that was down starts only the latest missed due time of a
schedule, not every one it missed. Due runs start as ``lockgate run`` subprocesses,
so a long pipeline never delays another schedule.
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

import sqlalchemy as sa
from croniter import croniter

from lockgate.config import Settings
from lockgate.errors import close_matches
from lockgate.pipelines.errors import ScheduleError
from lockgate.pipelines.executors.factory import EXECUTORS
from lockgate.store import Store
from lockgate.store.tables_pipelines import pipeline_schedule_claims, pipeline_schedules

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


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

    def last_due(self, now: float) -> float:
        """The latest due time at or before ``now`` (epoch seconds)."""
        return float(croniter(self.cron, now + 1e-3).get_prev(float))

    def next_due(self, now: float) -> float:
        """The first due time after ``now``."""
        return float(croniter(self.cron, now).get_next(float))

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
    if problems:
        raise ScheduleError(f"Cannot add schedule `{schedule.name}`: " + "; ".join(problems)
                            + ".")
    if validate:
        _check_pipeline(schedule)
    try:
        store.execute_write(sa.insert(pipeline_schedules).values(
            name=schedule.name, pipeline_ref=schedule.pipeline_ref, cron=schedule.cron,
            params_file=schedule.params_file, overrides=json.dumps(list(schedule.overrides)),
            executor=schedule.executor, created_at=schedule.created_at or time.time()))
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


def claim(store: Store, schedule: str, due_at: float, owner: str) -> bool:
    """Try to take the due run ``(schedule, due_at)``; True for exactly one caller."""
    try:
        store.execute_write(sa.insert(pipeline_schedule_claims).values(
            schedule=schedule, due_at=due_at, owner=owner, claimed_at=time.time(),
            pid=os.getpid()))
    except sa.exc.IntegrityError:
        return False
    return True


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
    """A due run a scheduler started."""

    schedule: str
    due_at: float
    process: subprocess.Popen[bytes] | None = None


Launcher = Callable[[Schedule, float], subprocess.Popen[bytes] | None]


@dataclass(slots=True)
class Scheduler:
    """Starts due runs of every schedule in the store.

    Attributes:
        settings: the store and artifact locations (passed on to the started runs).
        owner: recorded on claims; default ``host:pid:random``.
        launcher: starts a run; default a ``lockgate run`` subprocess.
    """

    settings: Settings
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:"
                                                 f"{uuid.uuid4().hex[:6]}")
    launcher: Launcher | None = None
    launched: list[Launch] = field(default_factory=list)

    def tick(self, now: float | None = None) -> list[Launch]:
        """Claim and start every schedule whose latest due time has not been started."""
        now = time.time() if now is None else now
        store = Store.open(self.settings)
        started = []
        for schedule in list_schedules(store):
            due_at = schedule.last_due(now)
            if due_at < schedule.created_at - 1e-3:
                continue  # the schedule did not exist at that due time
            if claim(store, schedule.name, due_at, self.owner):
                launch = Launch(schedule.name, due_at, (self.launcher or self._spawn)(
                    schedule, due_at))
                started.append(launch)
        self.launched += started
        return started

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
                    tuple(json.loads(r["overrides"])), r["executor"], r["created_at"])


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

