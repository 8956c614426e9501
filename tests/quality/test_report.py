"""Quality reports: JSON content, self-contained HTML, and the CLI command."""

from __future__ import annotations

import json
import re

import pytest

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.data.tables import parse_table_ref as parse_ref
from lockgate.errors import LockgateError, NotFoundError
from lockgate.quality.report import quality_report


def test_report_of_a_failed_version(orders: Settings) -> None:
    report = quality_report("orders", 1, settings=orders)
    data = report.data
    assert data["dataset"]["ref"] == "orders@v1"
    assert data["dataset"]["validation_status"] == "failed"
    assert data["gate"]["trainable"] is False
    failed = [c for c in data["checks"]["items"] if not c["ok"]]
    assert [(c["name"], c["level"], c["failed"]) for c in failed] == [
        ("scale:amount", "batch", 1)]
    assert data["checks"]["not_ok"] == 1
    drift = data["drift"]
    assert drift["compared"] and drift["drifted_features"] == ["amount"]
    assert drift["current"] == "rows added by orders@v1"
    assert {c["column"] for c in data["columns"]} == {"id", "amount", "kind", "label"}
    amount = next(c for c in data["columns"] if c["column"] == "amount")
    assert amount["distribution"]["type"] == "histogram"
    assert sum(amount["distribution"]["counts"]) == pytest.approx(amount["count"])
    json.dumps(data, allow_nan=False)


def test_report_of_the_first_version_summarises_quarantine(orders: Settings) -> None:
    data = quality_report("orders", 0, settings=orders).data
    quarantine = data["quarantine"]
    assert quarantine["rows"] > 0
    assert quarantine["reasons"] == {"allowed:kind": quarantine["rows"]}
    assert data["drift"] == {"compared": False,
                             "why": "first version: nothing to compare with"}
    kind = next(c for c in data["columns"] if c["column"] == "kind")
    assert set(kind["distribution"]["labels"]) == {"a", "b"}


def test_html_is_self_contained(orders: Settings, tmp_path) -> None:
    report = quality_report("orders", 1, settings=orders)
    html_path, json_path = report.write(tmp_path / "out")
    text = html_path.read_text()
    assert "Quality report: orders@v1" in text and "scale:amount" in text
    assert "DRIFTED" in text
    assert re.search(r"<script[^>]*\bsrc=", text) is None  # plotly.js is inlined
    assert text.count("<script") >= 2
    assert text.count("Plotly.newPlot") >= 4  # checks + one chart per column
    assert json.loads(json_path.read_text())["dataset"]["version"] == 1


def test_parse_ref() -> None:
    assert parse_ref("orders") == ("orders", None)
    assert parse_ref("orders@3") == parse_ref("orders@v3") == ("orders", 3)
    with pytest.raises(LockgateError, match="the version must be a number"):
        parse_ref("orders@latest")
    with pytest.raises(LockgateError, match="names no table"):
        parse_ref("@3")


def test_unknown_table_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="No table `nope`"):
        quality_report("nope", settings=settings)


def test_cli_report_writes_files_and_prints_json(
        orders: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(orders.home))
    out = tmp_path / "report"
    assert main(["quality", "report", "orders@1", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dataset"]["ref"] == "orders@v1"
    assert (out / "quality.html").is_file() and (out / "quality.json").is_file()
    assert main(["quality", "report", "orders"]) == 0
    text = capsys.readouterr().out
    assert "FAILED scale:amount (batch)" in text
    assert (orders.home / "reports" / "orders" / "v1" / "quality.html").is_file()


def test_cli_errors_without_traceback(orders: Settings, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(orders.home))
    assert main(["quality", "report", "orders@9"]) == 1
    err = capsys.readouterr().err
    assert "has no version 9" in err and "Traceback" not in err
    assert main(["quality", "profile", "orders@0", "--json"]) == 0
    columns = json.loads(capsys.readouterr().out)["columns"]
    assert [c["name"] for c in columns] == ["id", "amount", "kind", "label"]
    assert main(["quality", "profile", "orders@0"]) == 0
    assert "Profile of orders@0" in capsys.readouterr().out
