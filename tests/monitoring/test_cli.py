"""``lockgate monitor``: one pass with --json, the report, and clear errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.monitoring import watch
from tests.monitoring.monitoring_cases import register_served


@pytest.fixture
def home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    return settings


def test_monitor_once_and_report(home: Settings, log_predictions, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from tests.monitoring.monitoring_cases import make_frame

    register_served(home)
    model = watch("churn@production", home)
    log_predictions(model, make_frame(200, seed=60), start=time.time() - 1200, seconds=600)
    assert main(["monitor", "churn", "--window", "1h", "--once", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "churn"
    assert out["windows"]["3600.0"]["n_predictions"] == 200
    assert {r["rule"] for r in out["rules"]} >= {"input-drift", "latency"}
    assert main(["monitor", "churn"]) == 0
    text = capsys.readouterr().out
    assert "Measures" in text and "drift.share_drifted" in text
    assert main(["monitor", "churn", "--every", "1s", "--passes", "2", "--json"]) == 0
    assert capsys.readouterr().out.count('"model": "churn"') == 2
    assert main(["monitor", "report", "churn", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "monitoring-churn.html").is_file()
    assert "Monitoring report of churn" in capsys.readouterr().out
    assert main(["monitor", "report", "churn", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["windows"]) == 4


def test_errors_are_messages(home: Settings, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "a", "b"]) == 1
    assert "Unexpected arguments 'b'" in capsys.readouterr().err
    assert main(["monitor", "churn", "--once", "--every", "5m"]) == 1
    assert "either --once or --every" in capsys.readouterr().err
    bad = tmp_path / "m.yaml"
    bad.write_text("rules: [{measure: drift.psi, threshold: 1}]\n")
    assert main(["monitor", "churn", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "unknown measure `drift.psi`" in err and "Traceback" not in err
    assert main(["monitor", "nosuchmodel"]) == 1
    assert "Traceback" not in capsys.readouterr().err
