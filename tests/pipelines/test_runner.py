"""The runner on both executors: caching, retries, failure and resume, timeouts,
fan-out, lineage and console capture."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from lockgate.config import Settings
from lockgate.pipelines import resume_pipeline, run_pipeline
from lockgate.pipelines.ledger import steps_of
from lockgate.store import Store

from .conftest import ModuleWriter, load

CHAIN = """
from lockgate.pipelines import Pipeline, node, step

FACTOR = 2


def helper(x):
    return x + 1


@step
def make(n: int = 3) -> list:
    return [i * FACTOR for i in range(n)]


@step
def bump(xs: list) -> list:
    return [helper(x) for x in xs]


@step
def total(xs: list) -> dict:
    return {"total": sum(xs)}


pipe = Pipeline("chain", [
    node(make, outputs="xs"),
    node(bump, inputs="xs", outputs="bumped"),
    node(total, inputs="bumped", outputs="result"),
])
"""


def _run(path: Path, settings: Settings, executor: str, params=None, **options):
    return run_pipeline(load(path), params, settings=settings, executor=executor,
                        max_workers=2, **options)


def test_cache_hits_unless_code_params_or_inputs_change(
        write_module: ModuleWriter, settings: Settings, executor: str) -> None:
    path = write_module(CHAIN)
    first = _run(path, settings, executor)
    assert first.statuses() == {"make": "FINISHED", "bump": "FINISHED", "total": "FINISHED"}
    assert first.load("result", settings) == {"total": 9}

    again = _run(path, settings, executor)
    assert set(again.statuses().values()) == {"CACHED"}
    assert again.load("result", settings) == {"total": 9}

    # A parameter change reruns the step, and its changed output reruns everything after.
    changed = _run(path, settings, executor, {"make": {"n": 4}})
    assert set(changed.statuses().values()) == {"FINISHED"}
    assert changed.load("result", settings) == {"total": 16}

    # Code change in a helper the step calls: that step reruns, its upstream stays cached.
    write_module(CHAIN.replace("return x + 1", "return x + 10"))
    edited = _run(path, settings, executor)
    assert edited.statuses() == {"make": "CACHED", "bump": "FINISHED", "total": "FINISHED"}
    assert edited.load("result", settings) == {"total": 36}

    # A code change that leaves the output identical: downstream inputs are unchanged by
    # content, so downstream is a cache hit.
    write_module(CHAIN.replace("return x + 1", "return x + 10").replace(
        "return [helper(x) for x in xs]", "out = [helper(x) for x in xs]\n    return out"))
    same_output = _run(path, settings, executor)
    assert same_output.statuses() == {"make": "CACHED", "bump": "FINISHED", "total": "CACHED"}

    # A module constant read by the step is part of its code.
    write_module(CHAIN.replace("FACTOR = 2", "FACTOR = 3"))
    constant = _run(path, settings, executor)
    assert constant.step("make").status == "FINISHED"

    no_cache = _run(path, settings, executor, cache=False)
    assert set(no_cache.statuses().values()) == {"FINISHED"}


def test_cached_step_points_lineage_at_the_cached_artifacts(
        write_module: ModuleWriter, settings: Settings, executor: str) -> None:
    path = write_module(CHAIN)
    first = _run(path, settings, executor)
    second = _run(path, settings, executor)
    store = Store.open(settings)
    produced = {e.role: e.artifact_id for e in store.lineage(run_id=first.step("bump").run_id)
                if e.direction == "produced"}
    cached_edges = store.lineage(run_id=second.step("bump").run_id)
    assert {e.role: e.artifact_id for e in cached_edges if e.direction == "produced"} == produced
    consumed = [e for e in cached_edges if e.direction == "consumed"]
    assert [e.role for e in consumed] == ["xs"]
    assert all("cache hit" in (e.note or "") for e in cached_edges if e.direction == "produced")
    assert store.get_run(second.step("bump").run_id).status == "CACHED"
    assert store.get_run(second.run_id).kind == "pipeline"
    children = store.list_runs(parent_id=second.run_id, limit=None)
    assert {c.kind for c in children} == {"step"}
    assert store.params(first.run_id)["make.n"] == 3


RETRY = """
from pathlib import Path

from lockgate.pipelines import Pipeline, node, step


@step(retries=2, retry_delay=0.1)
def flaky(counter: str) -> int:
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    print(f"attempt number {seen + 1}")
    if seen < 1:
        raise ConnectionError("transient failure")
    return seen


@step(retries=1, retry_delay=0.05)
def always(counter: str) -> int:
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    raise ConnectionResetError("the service keeps resetting")


pipe = Pipeline("retry", [node(flaky, outputs="n")])
broken = Pipeline("broken", [node(always, outputs="n")])
"""


def test_retry_then_success(write_module: ModuleWriter, settings: Settings, executor: str,
                            tmp_path: Path) -> None:
    path = write_module(RETRY)
    counter = tmp_path / "count.txt"
    result = _run(path, settings, executor, {"flaky": {"counter": str(counter)}})
    assert result.status == "FINISHED"
    assert result.step("flaky").attempts == 2
    assert counter.read_text() == "2"
    assert result.load("n", settings) == 1
    console = Store.open(settings).console(result.step("flaky").run_id)
    assert "attempt 1 of 3 failed (ConnectionError: transient failure)" in console
    assert "attempt number 2" in console


def test_retries_exhausted_fail_the_step(write_module: ModuleWriter, settings: Settings,
                                         executor: str, tmp_path: Path) -> None:
    path = write_module(RETRY)
    counter = tmp_path / "count.txt"
    result = run_pipeline(load(path, "broken"), {"always": {"counter": str(counter)}},
                          settings=settings, executor=executor)
    assert result.status == "FAILED"
    assert counter.read_text() == "2"  # the first attempt and one retry
    assert "ConnectionResetError: the service keeps resetting" in (result.error or "")


FAILING = """
from pathlib import Path

from lockgate.pipelines import Pipeline, node, step


@step
def source(n: int = 3) -> list:
    return list(range(n))


@step
def broken(xs: list, flag: str) -> int:
    if Path(flag).exists():
        raise ValueError("broken on purpose")
    return sum(xs)


@step
def after(total: int) -> dict:
    return {"total": total}


@step
def last(result: dict) -> int:
    return result["total"]


@step
def independent() -> str:
    return "done"


pipe = Pipeline("failing", [
    node(source, outputs="xs"),
    node(broken, inputs="xs", outputs="total"),
    node(after, inputs="total", outputs="result"),
    node(last, inputs="result", outputs="final"),
    node(independent, outputs="other"),
])
"""


def test_failure_skips_downstream_and_resume_reuses_upstream(
        write_module: ModuleWriter, settings: Settings, executor: str, tmp_path: Path) -> None:
    path = write_module(FAILING)
    flag = tmp_path / "break"
    flag.touch()
    failed = _run(path, settings, executor, {"broken": {"flag": str(flag)}})
    assert failed.status == "FAILED"
    assert failed.statuses() == {"source": "FINISHED", "independent": "FINISHED",
                                 "broken": "FAILED", "after": "SKIPPED", "last": "SKIPPED"}
    assert "first `broken`: ValueError: broken on purpose" in (failed.error or "")
    assert f"lockgate pipelines resume {failed.run_id}" in (failed.error or "")
    store = Store.open(settings)
    assert store.get_run(failed.run_id).status == "FAILED"
    assert "Skipped: upstream step `broken` failed" in (failed.step("last").error or "")
    assert "ValueError: broken on purpose" in (store.get_run(failed.step("broken").run_id).error
                                                or "")

    flag.unlink()
    resumed = resume_pipeline(failed.run_id, settings=settings, executor=executor)
    assert resumed.status == "FINISHED"
    assert resumed.statuses() == {"source": "CACHED", "independent": "CACHED",
                                  "broken": "FINISHED", "after": "FINISHED", "last": "FINISHED"}
    assert resumed.load("final", settings) == 3
    ledger = {row.node: row for row in steps_of(store, resumed.run_id)}
    assert ledger["source"].reused_from == failed.step("source").run_id
    assert store.tags(resumed.run_id)["lockgate.resumed_from"] == failed.run_id


TIMEOUT = """
import os
import time
from pathlib import Path

from lockgate.pipelines import Pipeline, node, step


@step(timeout=1.5)
def slow(pidfile: str) -> int:
    Path(pidfile).write_text(str(os.getpid()))
    print("connecting to the warehouse", flush=True)
    time.sleep(600)
    return 1


@step
def fast() -> int:
    return 2


pipe = Pipeline("timeout", [node(slow, outputs="a"), node(fast, outputs="b")])
"""


def test_timeout_kills_the_steps_worker_not_the_caller(
        write_module: ModuleWriter, settings: Settings, executor: str, tmp_path: Path) -> None:
    path = write_module(TIMEOUT)
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = _run(path, settings, executor, {"slow": {"pidfile": str(pidfile)}})
    assert time.monotonic() - started < 600  # killed, not run to the end of its sleep
    assert result.statuses() == {"slow": "TIMED_OUT", "fast": "FINISHED"}
    assert result.status == "FAILED"
    assert "ran longer than its timeout of 1.5 s; its worker was killed" in (
        result.step("slow").error or "")
    store = Store.open(settings)
    assert store.get_run(result.step("slow").run_id).status == "TIMED_OUT"
    # what the killed attempt printed before it hung is kept
    assert "connecting to the warehouse" in store.console(result.step("slow").run_id)
    pid = int(pidfile.read_text())
    assert _gone(pid), f"the step's worker {pid} is still alive"


def _gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


FANOUT = """
from lockgate.pipelines import Pipeline, node, step


@step
def items(values: list) -> list:
    return values


@step
def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@step
def gather(squares: list) -> dict:
    return {"sum": sum(squares), "count": len(squares)}


pipe = Pipeline("fanout", [
    node(items, outputs="values"),
    node(square, inputs={"x": "values"}, outputs="squares", map_over="x"),
    node(gather, inputs="squares", outputs="summary"),
])
"""


def test_fanout_over_20_items_reruns_only_the_changed_item(
        write_module: ModuleWriter, settings: Settings, executor: str) -> None:
    path = write_module(FANOUT)
    values = list(range(20))
    first = _run(path, settings, executor, {"items": {"values": values}})
    assert first.status == "FINISHED"
    assert sum(1 for s in first.steps if s.node == "square" and s.status == "FINISHED") == 20
    assert first.load("summary", settings) == {"sum": sum(v * v for v in values), "count": 20}
    assert first.load("squares", settings) == [v * v for v in values]

    values[7] = 100
    second = _run(path, settings, executor, {"items": {"values": values}})
    statuses = second.statuses()
    assert statuses["square[7]"] == "FINISHED"
    assert [n for n, s in statuses.items() if n.startswith("square") and s == "FINISHED"] == [
        "square[7]"]
    assert sum(1 for n, s in statuses.items() if n.startswith("square") and s == "CACHED") == 19
    assert statuses["items"] == "FINISHED" and statuses["gather"] == "FINISHED"
    assert second.load("summary", settings)["sum"] == sum(v * v for v in values)
    console = Store.open(settings).console(second.step("square[7]").run_id)
    assert "squaring 100" in console


UNKNOWN_TYPE = """
from lockgate.pipelines import Pipeline, node, step


class Opaque:
    pass


@step(retries=3)
def make() -> object:
    return Opaque()


@step
def split() -> tuple:
    return 1


pipe = Pipeline("opaque", [node(make, outputs="thing")])
wrong_arity = Pipeline("arity", [node(split, outputs=["a", "b"])])
"""


def test_output_without_materializer_fails_clearly_without_retrying(
        write_module: ModuleWriter, settings: Settings, executor: str) -> None:
    path = write_module(UNKNOWN_TYPE)
    result = _run(path, settings, executor)
    step = result.step("make")
    assert step.status == "FAILED" and step.attempts == 1
    assert "No materializer for a value of type" in (step.error or "")
    assert ".Opaque" in (step.error or "")
    assert "register_materializer" in (step.error or "")
    arity = run_pipeline(load(path, "wrong_arity"), settings=settings, executor=executor)
    assert "declares 2 outputs ['a', 'b'] but returned int" in (arity.step("split").error or "")


def test_free_inputs_are_stored_and_required(write_module: ModuleWriter, settings: Settings,
                                             executor: str) -> None:
    path = write_module(CHAIN)
    pipeline = load(path).__class__("partial", [n for n in load(path).nodes if n.name != "make"])
    result = run_pipeline(pipeline, inputs={"xs": [1, 2]}, settings=settings,
                          executor=executor)
    assert result.load("result", settings) == {"total": 5}
    from lockgate.pipelines import PipelineError

    with pytest.raises(PipelineError, match=r"input `xs` \(read by bump\) is produced by no "
                                            r"step; pass it as `inputs=\{'xs': \.\.\.\}`"):
        run_pipeline(pipeline, settings=settings, executor=executor)


def test_interrupted_run_is_recorded_killed_and_workers_stopped(
        write_module: ModuleWriter, settings: Settings) -> None:
    path = write_module(CHAIN)

    def stop(result) -> None:  # stands in for Ctrl-C arriving after the first step
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(load(path), settings=settings, observer=stop)
    store = Store.open(settings)
    run = store.list_runs(kind="pipeline")[0]
    assert run.status == "KILLED"
    assert "KeyboardInterrupt: pipeline run interrupted" in (run.error or "")
    assert all(c.status != "RUNNING" for c in store.list_runs(parent_id=run.id))


@pytest.mark.postgres
def test_caching_and_lineage_on_postgresql(write_module: ModuleWriter, pg_url: str,
                                           tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / ".lockgate", db_url=pg_url, heartbeat_seconds=0.5)
    path = write_module(FANOUT)
    first = _run(path, settings, "local", {"items": {"values": [1, 2, 3]}})
    second = _run(path, settings, "local", {"items": {"values": [1, 2, 4]}})
    assert first.status == second.status == "FINISHED"
    assert second.statuses() == {"items": "FINISHED", "square[0]": "CACHED",
                                 "square[1]": "CACHED", "square[2]": "FINISHED",
                                 "gather": "FINISHED"}
    edges = Store.open(settings).lineage(run_id=second.step("gather").run_id)
    assert sorted(e.role for e in edges if e.direction == "consumed") == [
        "squares[0]", "squares[1]", "squares[2]"]


SLEEPY = """
import os
import time
from pathlib import Path

from lockgate.pipelines import Pipeline, node, step


@step
def sleepy(pidfile: str) -> int:
    Path(pidfile).write_text(str(os.getpid()))
    time.sleep(600)
    return 1


pipe = Pipeline("sleepy", [node(sleepy, outputs="n")])
"""


def test_sigterm_to_the_runner_marks_the_run_and_its_steps_killed(
        write_module: ModuleWriter, settings: Settings, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    path = write_module(SLEEPY)
    pidfile = tmp_path / "pid"
    script = (
        "from lockgate.config import Settings\n"
        "from lockgate.pipelines import load_pipeline, run_pipeline\n"
        f"settings = Settings.model_validate_json({settings.model_dump_json()!r})\n"
        f"pipe = load_pipeline({str(path) + ':pipe'!r})[0]\n"
        f"run_pipeline(pipe, {{'sleepy': {{'pidfile': {str(pidfile)!r}}}}}, "
        "settings=settings, max_workers=1)\n")
    child = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 90
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pidfile.exists(), "the step never started"
    os.kill(child.pid, signal.SIGTERM)
    assert child.wait(timeout=60) == -signal.SIGTERM
    store = Store.open(settings)
    run = store.list_runs(kind="pipeline")[0]
    assert run.status == "KILLED" and "SIGTERM" in (run.error or "")
    assert [c.status for c in store.list_runs(parent_id=run.id)] == ["KILLED"]
    assert _gone(int(pidfile.read_text())), "the step's worker outlived the runner"


ENV_STEP = """
import os

from lockgate.pipelines import Pipeline, node, step


@step
def read_env(tag: str = "") -> dict:
    return {"marker": os.environ.get("LOCKGATE_TEST_ENV_MARKER"), "tag": tag}


pipe = Pipeline("env", [node(read_env, outputs="seen")])
"""


def test_steps_see_the_environment_of_their_run_not_of_the_first_pool(
        write_module: ModuleWriter, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes come from a forkserver started by the process's first pool: a
    setting or credential exported after that (e.g. AWS_* for an s3:// root) must still
    reach the steps of a later run."""
    path = write_module(ENV_STEP)
    first = _run(path, settings, "local", {"read_env": {"tag": "first"}})
    assert first.load("seen", settings)["marker"] is None
    monkeypatch.setenv("LOCKGATE_TEST_ENV_MARKER", "exported-later")
    second = _run(path, settings, "local", {"read_env": {"tag": "second"}})
    assert second.status == "FINISHED", second.error
    assert second.load("seen", settings)["marker"] == "exported-later"
