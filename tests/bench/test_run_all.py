"""bench/run_all.py --quick: the whole command end to end on a few benches, one table
with every column, verdicts that follow from the numbers."""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import run_all  # noqa: E402
from harness import Goal, Report, Sample  # noqa: E402

OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


@pytest.mark.timeout(900)
def test_quick_run_prints_one_table_with_computed_verdicts(tmp_path: Path) -> None:
    out, js = tmp_path / "RESULTS.md", tmp_path / "RESULTS.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--only", "cli",
         "retention", "--out", str(out), "--json", str(js)],
        env=env, capture_output=True, text=True, timeout=880)
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    header = next(line for line in text.splitlines() if line.startswith("| bench |"))
    for column in ("lockgate", "baseline", "ratio (wall / CPU)", "goal", "verdict",
                   "load avg during"):
        assert column in header
    assert "--quick" in text and header in done.stdout
    rows = json.loads(js.read_text())["rows"]
    assert {r["bench"] for r in rows} == {"cli", "retention"}
    judged = [r for r in rows if r["goal"] and r["verdict"] in ("MET", "NOT MET")]
    assert judged, rows
    for row in judged:
        assert row["verdict"] == ("MET" if OPS[row["op"]](row["checked"], row["limit"])
                                  else "NOT MET"), row
        assert row["load"]
        if row["verdict"] == "NOT MET":
            assert "of the limit" in row["note"]


def test_a_fabricated_sample_that_misses_its_goal_shows_not_met() -> None:
    report = Report("fake")
    report.compare("fabricated drift", lockgate=[Sample(1, 2.0)] * 3,
                   baseline=[Sample(1, 1.0)] * 3,
                   goal=Goal.at_most(1.3, "≤ 1.3× bare PSI CPU", on="cpu"))
    report.compare("fabricated page", lockgate=[Sample(0.1, 0.01)] * 3,
                   goal=Goal.at_most(0.2, "≤ 200 ms at 1M runs"))
    text = run_all.table([r.to_dict() for r in report.rows])
    lines = [line for line in text.splitlines() if line.startswith("| fake |")]
    assert "**NOT MET**" in lines[0] and "≤ 1.3× bare PSI CPU" in lines[0]
    assert "| MET |" in lines[1]
    assert "## Goals not met, and the measured reason" in text
    assert "2× against ≤ 1.3×" in text


def test_a_bench_stopping_on_a_missing_module_is_skipped_with_its_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = tmp_path / "fake_peer.py"
    bench.write_text("import kedro_that_is_not_installed\n")
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    results = tmp_path / "rows.jsonl"
    results.write_text("")
    run_all._run_one("fake_peer", [], results, timeout=120)
    row = json.loads(results.read_text())
    assert row["verdict"] == "SKIPPED"
    assert "pip install kedro_that_is_not_installed" in row["note"]


def test_every_bench_in_bench_is_run() -> None:
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"harness", "run_all"}
    assert set(run_all.BENCHES) == scripts
    for name in ("tracking", "serving", "server"):
        assert run_all.BENCHES[name].mlflow
    args = run_all._parse(["--quick", "--mlflow-venv", "/opt/mlflow"])
    assert run_all._arguments("server", args)[0][-2:] == ["--mlflow-venv", "/opt/mlflow"]
