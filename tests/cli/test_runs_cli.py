"""The ``lockgate`` command: version, help, runs list/show/compare, and clean errors."""

from __future__ import annotations

import json

import pytest

import lockgate as lg
from lockgate.cli.main import main
from lockgate.config import Settings


@pytest.fixture
def two_runs(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    ids = []
    for depth, auc, loss in [(3, 0.81, 0.40), (6, 0.86, 0.35)]:
        with lg.start_run(f"depth-{depth}", experiment="churn",
                          params={"max_depth": depth, "lr": 0.1}, tags={"team": "ml"},
                          settings=settings) as run:
            run.log_metric("auc", auc)
            run.log_metric("loss", loss)
            print(f"trained depth {depth}")
        ids.append(run.id)
    return ids


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lockgate {lg.__version__}"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for group in ("runs", "db", "quickstart"):
        assert group in out


def test_runs_list_json_filters_and_sorts(two_runs: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--experiment", "churn", "--sort", "auc", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [two_runs[1], two_runs[0]]
    assert listed[0]["metrics"]["auc"] == pytest.approx(0.86)
    assert main(["runs", "list", "--tag", "team=other", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_runs_show_human_and_json(two_runs: list[str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "show", two_runs[0][:8]]) == 0
    out = capsys.readouterr().out
    assert "depth-3" in out and "max_depth" in out and "trained depth 3" in out
    assert main(["runs", "show", two_runs[0], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["params"] == {"max_depth": 3, "lr": 0.1}
    assert shown["environment"]["python"]


def test_runs_compare_marks_the_best(two_runs: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "compare", *two_runs, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["params_differ"]) == ["max_depth"]
    assert result["best"] == {"auc": two_runs[1], "loss": two_runs[1]}


def test_errors_are_one_line_without_traceback(two_runs: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "show", "ffffffff"]) == 1
    err = capsys.readouterr().err
    assert "No run with id `ffffffff`" in err and "Traceback" not in err
    assert main(["runs", "list", "--experiment", "chrun"]) == 1
    assert "Did you mean `churn`" in capsys.readouterr().err
    assert main(["runs", "compare", two_runs[0]]) == 1
    assert "at least two" in capsys.readouterr().err


def test_bad_database_url_is_reported_clearly(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x")
    assert main(["runs", "list"]) == 1
    err = capsys.readouterr().err
    assert "Is PostgreSQL running" in err and "Traceback" not in err


def test_db_upgrade(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    assert main(["db", "upgrade"]) == 0
    assert "Migrated" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "Already current" in capsys.readouterr().out


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not valid JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_json_even_with_nan(settings: Settings,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    with lg.start_run("diverged", settings=settings) as run:
        run.log_metric("loss", float("nan"))
        run.log_metric("grad", float("-inf"))
    capsys.readouterr()
    assert main(["runs", "show", run.id, "--json"]) == 0
    shown = _strict(capsys.readouterr().out)
    assert shown["metrics"] == {"loss": "nan", "grad": "-inf"}  # type: ignore[index]
    assert main(["runs", "list", "--json"]) == 0
    assert _strict(capsys.readouterr().out)[0]["metrics"]["loss"] == "nan"  # type: ignore[index]


@pytest.fixture
def wide_runs(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Runs with many metrics (alphabetically before the one sorted by) and big params."""
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    ids = []
    for i, lr in enumerate([0.01, 0.1, 0.3]):
        params = {"lr": lr, "same": "x", "grid": {"max_depth": [3, 5, 8], "l2": [0.0, 1.0]}}
        with lg.start_run(f"trial-{i}", experiment="churn", params=params, settings=settings,
                          capture_console=False, sample_hardware=False) as run:
            for name in ("accuracy", "brier", "cv_auc_0", "cv_auc_1", "f1", "log_loss"):
                run.log_metric(name, 0.5 + i / 10)
            run.log_metric("roc_auc", [0.8, 0.9, 0.7][i])
        ids.append(run.id)
    return ids


def test_runs_list_puts_the_sort_metric_first_and_params_that_differ(
        wide_runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--sort", "roc_auc"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "metrics." in line)
    assert header.index("metrics.roc_auc") < header.index("metrics.accuracy")
    assert "params.lr" in header and "params.same" not in header  # identical: collapsed
    # Piped output is wide: one line per run, never wrapped at 80 columns.
    rows = [line for line in out.splitlines() if "trial-" in line]
    assert len(rows) == 3 and rows[0].index(wide_runs[1]) >= 0
    assert max(len(line) for line in out.splitlines()) > 80


def test_runs_list_filter_and_columns(wide_runs: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--filter", "params.lr >= 0.1 and metrics.roc_auc > 0.75",
                 "--columns", "id,metrics.roc_auc,params.lr", "--asc", "--sort", "params.lr"]) == 0
    out = capsys.readouterr().out
    assert wide_runs[1] in out and wide_runs[0] not in out and wide_runs[2] not in out
    header = next(line for line in out.splitlines() if "metrics.roc_auc" in line)
    assert "name" not in header
    assert main(["runs", "list", "--filter", "params.lr >= 0.1", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in listed} == {wide_runs[1], wide_runs[2]}
    assert listed[0]["params"]["same"] == "x"
    assert main(["runs", "list", "--columns", "nme"]) == 1
    assert "Did you mean `name`" in capsys.readouterr().err
    assert main(["runs", "list", "--filter", "metrics.auc >"]) == 1
    assert "The filter `metrics.auc >` ends early" in capsys.readouterr().err


def test_runs_list_view_uses_the_saved_view(two_runs: list[str], settings: Settings,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """#19: a view saved once (here from the CLI; the dashboard saves the same record) is
    what `runs list --view` shows: its columns, its sort and its filter."""
    assert main(["runs", "view", "save", "low-loss", "--columns", "name,metrics.loss",
                 "--sort", "loss", "--asc", "--filter", "metrics.auc > 0.5"]) == 0
    capsys.readouterr()
    assert main(["runs", "list", "--view", "low-loss"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "metrics.loss" in line)
    assert "metrics.auc" not in header and "params.max_depth" not in header
    assert out.index("depth-6") < out.index("depth-3")  # loss ascending: 0.35 first
    assert main(["runs", "list", "--view", "low-loss", "--filter", "params.max_depth = 3"]) == 0
    out = capsys.readouterr().out
    assert "depth-3" in out and "depth-6" not in out  # --filter narrows the view's filter
    assert main(["runs", "view", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["sort"] == "metrics.loss"
    assert main(["runs", "list", "--view", "low-los"]) == 1
    assert "Did you mean `low-loss`" in capsys.readouterr().err
