"""bench/harness.py: every figure stated against its goal, the verdict computed from the
numbers (a fabricated sample that misses the goal shows NOT MET)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import harness
from harness import Goal, Report, Sample, values


def _samples(*walls: float, cpu: float = 0.1, units: float = 1.0) -> list[Sample]:
    return [Sample(w, cpu, units=units) for w in walls]


def test_a_ratio_goal_is_met_or_not_from_the_paired_numbers() -> None:
    report = Report("t")
    goal = Goal.at_least(10, "≥ 10× MLflow req/s", on="rate")
    fast = report.compare("fast", lockgate=_samples(1, 1, 1, units=1000),
                          baseline=_samples(1, 1, 1, units=50), goal=goal, unit="req")
    slow = report.compare("slow", lockgate=_samples(1, 1, 1, units=900),
                          baseline=_samples(1, 1, 1, units=100), goal=goal, unit="req")
    assert (fast.verdict, fast.checked) == ("MET", 20.0)
    assert (slow.verdict, slow.checked) == ("NOT MET", 9.0)
    assert "9× against ≥ 10×" in slow.note  # the measured reason: how far, and the load
    assert "load" in slow.note
    assert slow.ratio.startswith("speed ×9 wall")
    assert "req/s" in slow.lockgate and "CPU" in slow.lockgate and "CPU" in slow.baseline


def test_the_ratio_pairs_repetitions_it_does_not_take_a_best_of_one_side() -> None:
    report = Report("t")
    row = report.compare("cpu", lockgate=[Sample(1, 1.2), Sample(1, 3.0), Sample(1, 1.4)],
                         baseline=[Sample(1, 1.0), Sample(1, 2.0), Sample(1, 1.0)],
                         goal=Goal.at_most(1.3, "≤ 1.3× bare PSI CPU", on="cpu"))
    # pairs: 1.2, 1.5, 1.4 -> median 1.4 (the ratio of medians would be 1.4 / 1.0 too, but
    # the best of lockgate against the worst of the baseline would read 0.6)
    assert row.checked == pytest.approx(1.4)
    assert row.verdict == "NOT MET"
    assert "[1.2-1.5]" in row.figure


def test_an_absolute_goal_needs_no_baseline_and_can_ignore_one() -> None:
    report = Report("t")
    goal = Goal.at_most(0.2, "≤ 200 ms at 1M runs")
    assert report.compare("page", lockgate=_samples(0.1, 0.15, 0.3), goal=goal).verdict == "MET"
    late = report.compare("page", lockgate=_samples(0.25, 0.21, 0.3), goal=goal)
    assert late.verdict == "NOT MET" and "250 ms against ≤ 200 ms" in late.note
    startup = Goal.at_most(0.3, "≤ 0.3 s", absolute=True)
    row = report.compare("--help", lockgate=_samples(0.25, 0.26, 0.27),
                         baseline=_samples(0.02, 0.02, 0.02), goal=startup)
    assert row.verdict == "MET" and row.checked == pytest.approx(0.26)
    assert row.ratio.startswith("time ×13")


def test_values_that_are_not_times() -> None:
    report = Report("t")
    row = report.compare("p99", lockgate=values([4.0, 5.0, 6.0]),
                         baseline=values([20.0, 25.0, 30.0]), unit="ms",
                         goal=Goal.at_most(0.2, "p99 ≤ 1/5 of MLflow's", on="value"))
    assert row.checked == pytest.approx(0.2) and row.verdict == "MET"
    assert row.lockgate == "5 [4-6] ms"


def test_nan_never_meets_a_goal() -> None:
    assert not Goal.at_least(1, "x").holds(math.nan)
    assert Goal.above(1.0, "ahead").holds(1.01) and not Goal.above(1.0, "ahead").holds(1.0)


def test_check_skip_and_the_results_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    target = tmp_path / "rows.jsonl"
    monkeypatch.setenv("LOCKGATE_BENCH_RESULTS", str(target))
    report = Report("t")
    report.check("verdicts", found=["a"], expected=["a", "b"], goal="exactly ['a', 'b']")
    report.skip("vs MLflow", goal="≥ 10×", fix="pass --mlflow-venv PATH")
    series, _ = harness.interleave({"a": lambda: None, "b": lambda: None})
    report.compare("a vs b", lockgate=series["a"], baseline=series["b"])
    report.emit()
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["verdict"] for r in rows] == ["NOT MET", "SKIPPED", ""]
    assert rows[0]["note"] == "found ['a'], expected ['a', 'b']"
    assert rows[1]["note"] == "pass --mlflow-venv PATH"
    assert all(r["load"] for r in rows)  # the load average during each figure
    assert len(series["a"].samples) == harness.REPEATS


def test_a_wall_time_miss_says_whether_cpu_time_meets_the_goal() -> None:
    report = Report("t")
    goal = Goal.at_most(0.2, "≤ 200 ms")
    waiting = report.compare("waiting", lockgate=[Sample(0.5, 0.05)] * 3, goal=goal)
    working = report.compare("working", lockgate=[Sample(0.5, 0.45)] * 3, goal=goal)
    assert "met in CPU time (50 ms): the wall-time miss is waiting" in waiting.note
    assert "missed in CPU time too (450 ms)" in working.note


def test_a_peer_figure_sits_in_the_baseline_column() -> None:
    report = Report("t")
    row = report.peer("mlflow models serve: throughput", _samples(1, 1, 1, units=100),
                      unit="req")
    assert (row.lockgate, row.verdict) == ("", "")
    assert row.baseline.startswith("100 req/s") and row.figure == "100 req/s"
    with pytest.raises(ValueError, match="compare needs lockgate's samples"):
        report.compare("empty", [])
