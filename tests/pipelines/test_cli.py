"""The CLI: run with params and overrides, show, resume, lineage, schedules; errors are
messages, never tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.pipelines.schedule import claim
from lockgate.store import Store

from .conftest import ModuleWriter
from .test_runner import CHAIN, FAILING


@pytest.fixture
def home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    return settings


def test_run_with_params_file_and_overrides_then_show(
        home: Settings, write_module: ModuleWriter, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_module(CHAIN)
    params = tmp_path / "params.yaml"
    params.write_text("make:\n  n: 2\n")
    assert main(["run", f"{path}:pipe", "--params", str(params), "--set", "make.n=4",
                 "--max-workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "Running pipeline chain (3 steps, local executor)" in out
    assert "FINISHED make" in out and "chain (" in out
    store = Store.open(home)
    run = store.list_runs(kind="pipeline")[0]
    assert store.params(run.id)["make.n"] == 4
    assert store.tags(run.id)["lockgate.pipeline_ref"] == f"{path}:pipe"

    assert main(["run", f"{path}:pipe", "--set", "make.n=4"]) == 0
    assert main(["pipelines", "show", store.list_runs(kind="pipeline")[0].id]) == 0
    out = capsys.readouterr().out
    assert out.count("CACHED") >= 3 and "cached from" in out

    assert main(["pipelines", "show", run.id, "--json"]) == 0
    tree = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in tree["steps"]] == ["make", "bump", "total"]
    assert all(s["status"] == "FINISHED" and s["duration"] >= 0 for s in tree["steps"])

    assert main(["pipelines", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["steps"] == {"CACHED": 3}
    assert [r["steps"] for r in listed[1:]] == [{"FINISHED": 3}]

    assert main(["pipelines", "show", f"{path}:pipe", "--dot"]) == 0
    assert '"n:make" -> "d:xs";' in capsys.readouterr().out
    assert main(["lineage", run.id, "--dot"]) == 0
    assert capsys.readouterr().out.startswith("digraph lineage {")


def test_bad_input_is_a_message_not_a_traceback(
        home: Settings, write_module: ModuleWriter, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_module(CHAIN)
    assert main(["run", f"{path}:pipe", "--set", "make.m=4"]) == 1
    err = capsys.readouterr().err
    assert "step `make` has no parameter `m`" in err and "Traceback" not in err
    assert main(["run", f"{path}:pip"]) == 1
    assert "no attribute `pip`. Did you mean `pipe`?" in capsys.readouterr().err
    assert main(["run", f"{path}:pipe", "--executor", "dask"]) == 1
    assert "Unknown executor `dask`" in capsys.readouterr().err
    assert main(["schedule", "add", "x", "--pipeline", f"{path}:pipe", "--cron", "hourly"]) == 1
    assert "is not a valid cron expression" in capsys.readouterr().err
    assert main(["lineage", "artifact:77"]) == 1
    assert "No artifact with id 77" in capsys.readouterr().err
    assert main(["run", f"{path}:pipe", "--tag", "nokey"]) == 1
    captured = capsys.readouterr()
    assert "Tag `nokey` must look like key=value" in captured.err
    assert "Running pipeline" not in captured.out
    assert main(["scheduler", "--at", "5"]) == 1
    assert "`--at 5` only applies to one pass; add `--once`" in capsys.readouterr().err


def test_failed_run_exits_1_and_resume_finishes_it(
        home: Settings, write_module: ModuleWriter, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_module(FAILING)
    flag = tmp_path / "flag"
    flag.touch()
    assert main(["run", f"{path}:pipe", "--set", f"broken.flag={flag}"]) == 1
    captured = capsys.readouterr()
    assert "ValueError: broken on purpose" in captured.out
    assert "lockgate pipelines resume" in captured.err
    run_id = Store.open(home).list_runs(kind="pipeline")[0].id
    flag.unlink()
    assert main(["pipelines", "resume", run_id[:10]]) == 0
    out = capsys.readouterr().out
    assert "FINISHED broken" in out and "CACHED source" in out


def test_schedule_commands(home: Settings, write_module: ModuleWriter,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path = write_module(CHAIN)
    assert main(["schedule", "add", "nightly", "--pipeline", f"{path}:pipe", "--cron",
                 "0 2 * * *", "--set", "make.n=5"]) == 0
    assert "Added schedule nightly" in capsys.readouterr().out
    assert main(["schedule", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "nightly" and listed[0]["last_started"] is None
    assert main(["schedule", "add", "hourly", "--pipeline", f"{path}:pipe", "--cron",
                 "0 * * * *"]) == 0
    store = Store.open(home)
    for due_at, owner in ((100.0, "a"), (200.0, "b")):
        assert claim(store, "nightly", due_at, owner)
    assert claim(store, "hourly", 300.0, "c")
    capsys.readouterr()
    assert main(["schedule", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["last_started"], r["last_owner"]) for r in listed] == [
        ("hourly", 300.0, "c"), ("nightly", 200.0, "b")]
    assert main(["schedule", "remove", "nightly"]) == 0
    assert main(["schedule", "remove", "nightly"]) == 1
    assert "No schedule `nightly`" in capsys.readouterr().err


def test_run_prints_outputs_and_pipelines_output_reads_them(
        home: Settings, write_module: ModuleWriter, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_module(CHAIN)
    assert main(["run", f"{path}:pipe", "--max-workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "Outputs" in out
    assert "lockgate pipelines output" in out
    run = Store.open(home).list_runs(kind="pipeline")[0]
    assert main(["pipelines", "output", run.id[:8], "total", "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert list(values.values()) == [{"total": 9}]  # make(3) = [0, 2, 4], bump: [1, 3, 5]
    assert main(["pipelines", "output", run.id, "make"]) == 0
    assert "[\n  0,\n  2,\n  4\n]" in capsys.readouterr().out
    assert main(["pipelines", "output", run.id, "totl"]) == 1
    assert "Did you mean `total`" in capsys.readouterr().err
    assert main(["pipelines", "output", run.id, "make", "--out", str(tmp_path / "o")]) == 0
    assert [p.name for p in (tmp_path / "o").iterdir()]


def test_explain_cache_says_what_changed(home: Settings, write_module: ModuleWriter,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = write_module(CHAIN)
    assert main(["run", f"{path}:pipe", "--max-workers", "1"]) == 0
    assert main(["run", f"{path}:pipe", "--max-workers", "1", "--set", "make.n=5"]) == 0
    assert main(["run", f"{path}:pipe", "--max-workers", "1", "--set", "make.n=5"]) == 0
    store = Store.open(home)
    newest, changed, _ = (r.id for r in store.list_runs(kind="pipeline"))
    capsys.readouterr()
    assert main(["pipelines", "explain-cache", changed, "make"]) == 0
    out = capsys.readouterr().out
    assert "cache miss" in out and "parameter `n`: 3 -> 5" in out
    assert main(["pipelines", "explain-cache", newest, "bump", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["hit"] is True and found["reason"].startswith("hit: same key as step run")
    assert main(["pipelines", "explain-cache", newest, "bumpp"]) == 1
    assert "has no step `bumpp`. Did you mean `bump`?" in capsys.readouterr().err
