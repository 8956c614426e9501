"""Schedules and schedulers: validation, and one start per due time however many
schedulers run."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lockgate.config import Settings
from lockgate.pipelines import ScheduleError
from lockgate.pipelines.schedule import (
    Schedule,
    Scheduler,
    add_schedule,
    claim,
    claims,
    get_schedule,
    list_schedules,
    remove_schedule,
)
from lockgate.store import Store

from .conftest import ModuleWriter

TINY = """
from lockgate.pipelines import Pipeline, node, step


@step
def hello(name: str = "world") -> str:
    return f"hello {name}"


pipe = Pipeline("tiny", [node(hello, outputs="greeting")])
"""


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(LOCKGATE_HOME=str(settings.home.resolve()), LOCKGATE_DB_URL=settings.resolved_db_url)
    return env


def test_add_list_remove_and_validation(settings: Settings, write_module: ModuleWriter) -> None:
    path = write_module(TINY)
    store = Store.open(settings)
    added = add_schedule(store, Schedule("hourly", f"{path}:pipe", "0 * * * *",
                                         overrides=("hello.name=cron",)))
    assert [s.name for s in list_schedules(store)] == ["hourly"]
    assert added.overrides == ("hello.name=cron",)
    assert added.next_due(0) == 3600.0
    with pytest.raises(ScheduleError, match="A schedule named `hourly` exists already"):
        add_schedule(store, Schedule("hourly", f"{path}:pipe", "0 * * * *"))
    with pytest.raises(ScheduleError, match=r"cron `every hour` is not a valid cron expression"):
        add_schedule(store, Schedule("bad", f"{path}:pipe", "every hour"))
    with pytest.raises(ScheduleError, match=r"executor `dask` is unknown; use local or ray"):
        add_schedule(store, Schedule("bad", f"{path}:pipe", "0 * * * *", executor="dask"))
    from lockgate.pipelines import ParamsError

    with pytest.raises(ParamsError, match=r"has no parameter `nme`\. Did you mean `name`\?"):
        add_schedule(store, Schedule("bad", f"{path}:pipe", "0 * * * *",
                                     overrides=("hello.nme=x",)))
    with pytest.raises(ScheduleError, match=r"No schedule `hourli`\. Did you mean `hourly`\?"):
        get_schedule(store, "hourli")
    remove_schedule(store, "hourly")
    assert list_schedules(store) == []


def test_claims_race_has_one_winner(any_settings: Settings) -> None:
    store = Store.open(any_settings)
    add_schedule(store, Schedule("race", "x.py:pipe", "* * * * *"), validate=False)
    barrier = threading.Barrier(6)
    wins: list[bool] = []

    def contend(owner: str) -> None:
        barrier.wait()
        wins.append(claim(store, "race", 1200.0, owner))

    threads = [threading.Thread(target=contend, args=(f"s{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 5 + [True]
    assert len(claims(store, "race")) == 1


def test_two_concurrent_schedulers_start_each_due_run_once(
        settings: Settings, write_module: ModuleWriter) -> None:
    path = write_module(TINY)
    store = Store.open(settings)
    created = time.time() - 7200
    add_schedule(store, Schedule("hourly", f"{path}:pipe", "0 * * * *", created_at=created))
    cmd = [sys.executable, "-m", "lockgate.cli.main", "scheduler", "--once"]

    def both(extra: list[str]) -> list[subprocess.CompletedProcess[str]]:
        procs = [subprocess.Popen(cmd + extra, env=_env(settings), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
        return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate())
                for p in procs]

    first = both([])
    assert all(p.returncode == 0 for p in first), [p.stderr for p in first]
    assert sorted("started hourly" in p.stdout for p in first) == [False, True]
    runs = store.list_runs(kind="pipeline", tags={"lockgate.schedule": "hourly"})
    assert len(runs) == 1 and runs[0].status == "FINISHED"

    # Further due times, two in-process schedulers racing (a subprocess costs seconds).
    launched: list[float] = []
    schedulers = [Scheduler(settings, launcher=lambda s, due: launched.append(due))
                  for _ in range(2)]
    same_due = time.time()
    next_due = get_schedule(store, "hourly").next_due(same_due) + 1
    for now in (same_due, next_due, next_due + 60):
        barrier = threading.Barrier(2)

        def tick(scheduler: Scheduler, at: float = now, gate: threading.Barrier = barrier
                 ) -> None:
            gate.wait()
            scheduler.tick(at)

        threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert launched == [next_due - 1]  # the first due was taken, then one start for the next
    assert len(claims(store, "hourly")) == 2


def test_scheduler_skips_due_times_before_the_schedule_existed(settings: Settings) -> None:
    store = Store.open(settings)
    add_schedule(store, Schedule("fresh", "x.py:pipe", "0 0 * * *"), validate=False)
    started: list[tuple[str, float]] = []
    scheduler = Scheduler(settings, launcher=lambda s, due: started.append((s.name, due)))
    assert scheduler.tick() == []
    tomorrow = get_schedule(store, "fresh").next_due(time.time())
    assert [x.schedule for x in scheduler.tick(tomorrow + 5)] == ["fresh"]
    assert started == [("fresh", tomorrow)]


def test_schedule_command_runs_the_pipeline_with_its_settings(tmp_path: Path) -> None:
    schedule = Schedule("n", "/p.py:pipe", "* * * * *", "/params.yaml", ("a.b=1",), "ray")
    cmd = schedule.command(60.0)
    assert cmd[3:] == ["run", "/p.py:pipe", "--executor", "ray", "--tag",
                       "lockgate.schedule=n", "--tag", "lockgate.due_at=60", "--params",
                       "/params.yaml", "--set", "a.b=1"]


def test_a_scheduler_dying_between_claim_and_launch_loses_no_due_run(
        settings: Settings) -> None:
    store = Store.open(settings)
    created = time.time() - 3 * 3600
    add_schedule(store, Schedule("hourly", "x.py:pipe", "0 * * * *", created_at=created),
                 validate=False)
    # A real scheduler process that takes the claim and dies before it launches anything.
    script = f"""
import os, signal, time
from lockgate.config import Settings
from lockgate.pipelines.schedule import Scheduler
settings = Settings.model_validate_json({settings.model_dump_json()!r})
def die(schedule, due):
    print("claimed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
Scheduler(settings, launcher=die, claim_seconds=1.0).tick()
"""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == -9 and "claimed" in child.stdout, child.stderr
    [taken] = claims(store, "hourly")
    assert taken["status"] == "claimed" and taken["launched_at"] is None
    due = float(taken["due_at"])
    launched: list[float] = []
    other = Scheduler(settings, launcher=lambda s, d: launched.append(d))
    assert other.tick(now=float(taken["claimed_at"]) + 0.5) == []  # the lease still holds
    [launch] = other.tick(now=float(taken["claimed_at"]) + 1.5)
    assert (launch.due_at, launch.attempt, launched) == (due, 2, [due])
    [row] = claims(store, "hourly")
    assert row["status"] == "launched" and row["owner"] == other.owner
    assert row["launched_at"] is not None
    assert other.tick(now=due + 60) == []  # started once it is launched


@pytest.mark.parametrize(("catchup", "expected"), [
    ("none", []), ("latest", [-1]), ("all", [-3, -2, -1]),
])
def test_catchup_policy_for_due_times_missed_while_no_scheduler_ran(
        settings: Settings, catchup: str, expected: list[int]) -> None:
    store = Store.open(settings)
    hour = 3600.0
    base = 1_700_000_000 // 3600 * 3600.0  # on the hour
    add_schedule(store, Schedule("hourly", "x.py:pipe", "0 * * * *", created_at=base,
                                 catchup=catchup), validate=False)  # type: ignore[arg-type]
    started: list[float] = []
    scheduler = Scheduler(settings, launcher=lambda s, due: started.append(due))
    scheduler.tick(now=base + 0.5)  # on time: started under every policy
    assert started == [base]
    started.clear()
    now = base + 4 * hour - 600  # three due times missed, the last 50 minutes ago
    launches = scheduler.tick(now=now)
    assert started == [base + 4 * hour + k * hour for k in expected]
    assert [x.due_at for x in launches] == started
    assert all(x.launched_at > 0 for x in launches)
    on_time = scheduler.tick(now=base + 4 * hour + 30)
    assert [x.due_at for x in on_time] == [base + 4 * hour]  # a due time on time starts


def test_catchup_all_is_bounded(settings: Settings) -> None:
    from lockgate.pipelines.schedule import MAX_CATCHUP

    store = Store.open(settings)
    add_schedule(store, Schedule("minutely", "x.py:pipe", "* * * * *", created_at=1.0,
                                 catchup="all"), validate=False)
    started: list[float] = []
    Scheduler(settings, launcher=lambda s, due: started.append(due)).tick(now=86_400.0)
    assert len(started) == MAX_CATCHUP and started[-1] == 86_400.0 and started == sorted(started)


def test_a_failed_launch_is_retried_then_given_up(settings: Settings) -> None:
    from lockgate.pipelines.schedule import MAX_CLAIM_ATTEMPTS

    store = Store.open(settings)
    add_schedule(store, Schedule("hourly", "x.py:pipe", "0 * * * *", created_at=3600.0),
                 validate=False)

    def broken(schedule: Schedule, due: float) -> None:
        raise OSError("no such executable")

    scheduler = Scheduler(settings, launcher=broken)
    for i in range(MAX_CLAIM_ATTEMPTS + 2):
        assert scheduler.tick(now=3600.0 + 10 + i) == []
    [row] = claims(store, "hourly")
    assert (row["status"], row["attempts"]) == ("failed", MAX_CLAIM_ATTEMPTS)


def test_unknown_catchup_is_refused(settings: Settings) -> None:
    with pytest.raises(ScheduleError, match="catchup `sometimes` is unknown; use none"):
        add_schedule(Store.open(settings), Schedule("x", "x.py:pipe", "0 * * * *",
                                                    catchup="sometimes"),  # type: ignore[arg-type]
                     validate=False)
