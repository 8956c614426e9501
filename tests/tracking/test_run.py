"""The tracking API: what a run records, and what happens when things go wrong."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import lockgate as lg
from lockgate.config import Settings
from lockgate.errors import TrackingError
from lockgate.store import Store


def test_run_records_params_metrics_notes_console_hardware(settings: Settings) -> None:
    with lg.start_run("baseline", experiment="churn", params={"lr": 0.1},
                      settings=settings) as run:
        for step in range(100):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metric("auc", np.float32(0.75))
        print("hello from the training loop")
        run.note("deeper trees overfit after step 40")
        time.sleep(0.6)  # let the background sampler take a sample
    store = Store.open(settings)
    record = store.get_run(run.id)
    assert (record.status, record.experiment) == ("FINISHED", "churn")
    assert store.params(run.id) == {"lr": 0.1}
    assert len(store.metrics(run.id, "loss")) == 100
    assert store.last_metrics([run.id])[run.id]["auc"] == pytest.approx(0.75)
    assert store.notes(run.id)[0].text == "deeper trees overfit after step 40"
    assert "hello from the training loop" in store.console(run.id)
    samples = store.hardware(run.id)
    assert samples and samples[0].rss_bytes > 10_000_000
    env = store.environment(run.id)
    assert env is not None and "SQLAlchemy" in env.packages


def test_steps_default_to_one_more_than_the_last(settings: Settings) -> None:
    with lg.start_run("steps", settings=settings) as run:
        run.log_metric("a", 1.0)
        run.log_metric("a", 2.0)
        run.log_metric("a", 3.0, step=10)
        run.log_metric("a", 4.0)
    assert [p.step for p in Store.open(settings).metrics(run.id, "a")] == [0, 1, 10, 11]


def test_exception_marks_failed_and_keeps_metrics_logged_just_before(settings: Settings) -> None:
    with pytest.raises(ZeroDivisionError), lg.start_run("boom", settings=settings) as run:
        for step in range(50):
            run.log_metric("loss", float(step), step=step)
        1 / 0  # noqa: B018
    store = Store.open(settings)
    record = store.get_run(run.id)
    assert record.status == "FAILED"
    assert "ZeroDivisionError" in (record.error or "")
    assert len(store.metrics(run.id, "loss")) == 50


def test_nan_metrics_are_stored_and_strings_refused(settings: Settings) -> None:
    with lg.start_run("nan", settings=settings) as run:
        run.log_metric("loss", math.nan)
        with pytest.raises(TrackingError, match="Metric `acc` got 'high' of type str"):
            run.log_metric("acc", "high")  # type: ignore[arg-type]
        with pytest.raises(TrackingError, match="type NoneType"):
            run.log_metric("acc", None)  # type: ignore[arg-type]
    assert math.isnan(Store.open(settings).metrics(run.id, "loss")[0].value)


def test_non_json_param_is_refused_before_anything_is_recorded(settings: Settings) -> None:
    with pytest.raises(TrackingError, match="Parameter `model` has a value of type object"):
        lg.start_run("bad", params={"model": object()}, settings=settings)
    assert Store.open(settings).list_runs() == []


def test_artifacts_are_logged_with_lineage(settings: Settings, tmp_path: Path) -> None:
    import polars as pl

    report = tmp_path / "report.html"
    report.write_text("<h1>ok</h1>")
    with lg.start_run("arts", settings=settings) as run:
        file_record = run.log_artifact(report)
        frame_record = run.log_frame(pl.DataFrame({"a": [1, 2]}), "frame")
        run.log_dict({"k": 1}, "meta")
        run.log_text("hi", "readme")
    store = Store.open(settings)
    names = [a.name for a in store.artifacts(run.id)]
    assert names[-4:] == ["report.html", "frame", "meta", "readme"]
    assert file_record.media_type == "text/html"
    assert run.artifacts.load(frame_record).to_dicts() == [{"a": 1}, {"a": 2}]
    produced = {e.role for e in store.lineage(run_id=run.id) if e.direction == "produced"}
    assert {"report.html", "frame", "meta", "readme"} <= produced


def _child(settings: Settings, body: str) -> subprocess.Popen[str]:
    script = textwrap.dedent(
        f"""
        import sys, time
        import lockgate as lg
        from lockgate.config import Settings
        settings = Settings.model_validate_json({settings.model_dump_json()!r})
        {textwrap.indent(textwrap.dedent(body), '        ').strip()}
        """
    )
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigkilled_process_leaves_a_crashed_run(settings: Settings) -> None:
    # beats every 6 s: RUNNING below survives a loaded machine starving the child's
    # heartbeat thread for 11 s (at load 40 on 2 cores, 3 s of slack was not enough)
    settings = dataclasses.replace(settings, heartbeat_seconds=6.0)
    store = Store.open(settings)  # opened first: its start-up is not charged to the beat
    child = _child(settings, """
        run = lg.start_run("doomed", settings=settings, sample_hardware=False)
        print(run.id, flush=True)
        run.log_metric("loss", 1.0)
        time.sleep(600)
    """)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert store.get_run(run_id).status == "RUNNING"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    deadline = time.time() + 90  # only a hang guard: CRASHED comes 12 s after the last beat
    while store.get_run(run_id).status == "RUNNING" and time.time() < deadline:
        time.sleep(0.2)
    assert store.get_run(run_id).status == "CRASHED"


def test_process_killed_before_its_first_heartbeat_is_crashed(settings: Settings) -> None:
    store = Store.open(settings)
    run_id = store.create_run("never-beat", heartbeat_seconds=settings.heartbeat_seconds)
    time.sleep(settings.heartbeat_seconds * 2 + 0.3)
    assert store.get_run(run_id).status == "CRASHED"


def test_liveness_window_is_two_heartbeats_in_python_and_in_sql(settings: Settings) -> None:
    from lockgate.store.records import crash_after, effective_status

    assert crash_after(5.0) == 10.0  # was 3 x 5 + 1 = 16 s
    assert effective_status("RUNNING", 100.0, 5.0, now=109.9) == "RUNNING"
    assert effective_status("RUNNING", 100.0, 5.0, now=110.1) == "CRASHED"
    store = Store.open(settings)
    run_id = store.create_run("sql-stale", heartbeat_seconds=settings.heartbeat_seconds)
    time.sleep(settings.heartbeat_seconds * 2 + 0.3)
    assert [r.id for r in store.list_runs(status="CRASHED")] == [run_id]
    assert store.list_runs(status="RUNNING") == []


def test_run_left_open_at_exit_is_flushed_but_not_finished(settings: Settings) -> None:
    child = _child(settings, """
        run = lg.start_run("left-open", settings=settings, sample_hardware=False)
        for i in range(10):
            run.log_metric("m", float(i))
        print(run.id, flush=True)
    """)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    run_id = out.strip().splitlines()[-1]
    store = Store.open(settings)
    record = store.get_run(run_id)
    assert record.status == "FAILED"
    assert "run still open" in (record.error or "")
    assert len(store.metrics(run_id, "m")) == 10


@pytest.mark.parametrize("code", [3, 0])
def test_sys_exit_without_ending_the_run_is_not_finished(settings: Settings, code: int) -> None:
    child = _child(settings, f"""
        run = lg.start_run("exits", settings=settings, sample_hardware=False)
        print(run.id, flush=True)
        sys.exit({code})
    """)
    out, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    record = Store.open(settings).get_run(out.strip().splitlines()[-1])
    assert record.status == "FAILED"


@pytest.mark.parametrize(("body", "status", "message"), [
    ("sys.exit(3)", "FAILED", "exited with code 3"),
    ("sys.exit('bad config')", "FAILED", "exited with code 'bad config'"),
    ("sys.exit(0)", "FINISHED", None),
    ("raise KeyboardInterrupt", "KILLED", "KeyboardInterrupt"),
    ("pass", "FINISHED", None),
])
def test_with_block_exit_decides_the_state(settings: Settings, body: str, status: str,
                                           message: str | None) -> None:
    child = _child(settings, f"""
        with lg.start_run("block", settings=settings, sample_hardware=False) as run:
            print(run.id, flush=True)
            {body}
    """)
    out, _ = child.communicate(timeout=60)
    record = Store.open(settings).get_run(out.strip().splitlines()[-1])
    assert record.status == status
    if message is None:
        assert record.error is None
    else:
        assert message in (record.error or "")


def test_sigterm_marks_the_run_killed_and_the_process_dies_of_it(settings: Settings) -> None:
    child = _child(settings, """
        run = lg.start_run("terminated", settings=settings, sample_hardware=False)
        run.log_metric("loss", 0.5)
        print(run.id, flush=True)
        time.sleep(600)
    """)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGTERM)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGTERM  # re-raised: dies of the signal as before
    store = Store.open(settings)
    record = store.get_run(run_id)
    assert record.status == "KILLED"
    assert "SIGTERM" in (record.error or "")
    assert len(store.metrics(run_id, "loss")) == 1  # flushed on the way out


def test_sigterm_chains_to_a_handler_the_program_installed(settings: Settings) -> None:
    child = _child(settings, """
        import signal
        def mine(signum, frame):
            print("own handler ran", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, mine)
        run = lg.start_run("chained", settings=settings, sample_hardware=False)
        print(run.id, flush=True)
        time.sleep(600)
    """)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGTERM)
    out, _ = child.communicate(timeout=30)
    assert "own handler ran" in out and child.returncode == 7
    assert Store.open(settings).get_run(run_id).status == "KILLED"


def test_uncaught_exception_outside_a_with_block_marks_failed(settings: Settings) -> None:
    child = _child(settings, """
        run = lg.start_run("uncaught", settings=settings, sample_hardware=False)
        print(run.id, flush=True)
        run.log_metric("m", 1.0)
        raise RuntimeError("exploded")
    """)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 1
    run_id = out.strip().splitlines()[-1]
    record = Store.open(settings).get_run(run_id)
    assert record.status == "FAILED" and "exploded" in (record.error or "")
    assert len(Store.open(settings).metrics(run_id, "m")) == 1


def test_code_version_and_diff_are_captured(settings: Settings, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(repo)
    with lg.start_run("code", settings=settings) as run:
        pass
    store = Store.open(settings)
    code = store.code_version(run.id)
    assert code is not None and code.branch == "main" and code.dirty is True
    assert code.commit and len(code.commit) == 40
    diff = run.artifacts.load(code.diff_artifact_id)
    assert "-print(1)" in diff and "+print(2)" in diff


def _nap(x: int) -> int:
    time.sleep(0.05)
    return x


def test_forked_workers_terminated_with_sigterm_leave_the_parents_run_alone(
        settings: Settings) -> None:
    """multiprocessing's Pool.terminate() sends SIGTERM to forked workers; they inherit
    the handler but not the runs: they die at once and the parent's run stays open."""
    import multiprocessing

    with lg.start_run("parent", settings=settings, sample_hardware=False) as run:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(_nap, range(4)) == [0, 1, 2, 3]
        # leaving the with block terminated the pool: no hang, no KILLED run
        assert Store.open(settings).get_run(run.id).status == "RUNNING"
    assert Store.open(settings).get_run(run.id).status == "FINISHED"
