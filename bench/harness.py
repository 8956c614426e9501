"""The shared benchmark harness: fair comparisons, every figure next to its goal.

Rules every bench follows through this module (see the README's bench paragraph):

- lockgate and its baseline run interleaved, A B A B ..., in the same process tree, so
  a change of machine load hits both sides alike; never "best of" one side against a
  single run of the other.
- At least three repeats; a figure is the median with its [min-max] range, of wall time
  AND of CPU time (this process and its waited-for children, or a server's own CPU
  when the work happens in another process).
- The load average is read at the start and the end of each bench: on a shared
  machine a ratio means little without it.
- Each row carries the goal as the issue states it and whether it was met.
- Cold paths (first call, right after bulk writes, empty caches) are separate cases
  from warm ones, never averaged together.

Results print as a table and, when ``LOCKGATE_BENCH_RESULTS`` names a file, append to
it as JSON lines, which ``bench/run_all.py`` turns into one table.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

REPEATS = 3


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed repetition: wall seconds and CPU seconds."""

    wall: float
    cpu: float


@dataclass(frozen=True, slots=True)
class Spread:
    """Median [min-max] of a list of values."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def show(self, scale: float = 1.0, unit: str = "s", digits: int = 3) -> str:
        f = f"{{:.{digits}g}}"
        return (f"{f.format(self.median * scale)} [{f.format(self.low * scale)}-"
                f"{f.format(self.high * scale)}] {unit}")


@dataclass(slots=True)
class Series:
    """Every sample of one case."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def wall(self) -> Spread:
        return Spread.of([s.wall for s in self.samples])

    @property
    def cpu(self) -> Spread:
        return Spread.of([s.cpu for s in self.samples])


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have been waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def timed(work: Callable[[], Any]) -> tuple[Sample, Any]:
    """Run ``work`` once; its Sample and result. A ``work`` returning a Sample (e.g. a
    server's own CPU measured from outside) is taken as is."""
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    result = work()
    sample = Sample(time.perf_counter() - wall0, cpu_seconds() - cpu0)
    if isinstance(result, Sample):
        return result, result
    if isinstance(result, tuple) and result and isinstance(result[0], Sample):
        return result[0], result[1]
    return sample, result


def interleave(cases: dict[str, Callable[[], Any]], repeats: int = REPEATS,
               warmup: int = 0) -> tuple[dict[str, Series], dict[str, list[Any]]]:
    """Run the cases A B A B ... ``repeats`` times (after ``warmup`` untimed rounds).

    Returns each case's samples and each repetition's result (for figures that are
    not times, e.g. requests per second).
    """
    for _ in range(warmup):
        for work in cases.values():
            work()
    series = {name: Series(name) for name in cases}
    results: dict[str, list[Any]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, work in cases.items():
            sample, result = timed(work)
            series[name].samples.append(sample)
            results[name].append(result)
    return series, results


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a figure against its goal."""

    bench: str
    case: str
    figure: str
    wall: str
    cpu: str
    goal: str
    met: bool | None
    load_start: float
    load_end: float
    note: str = ""
    #: for a comparison: lockgate's figure, the baseline's, and lockgate / baseline
    lockgate: str = ""
    baseline: str = ""
    ratio: str = ""


class Report:
    """The rows of one bench, printed and (optionally) appended to the results file."""

    def __init__(self, bench: str) -> None:
        self.bench = bench
        self.rows: list[Row] = []
        self.load_start = load_average()
        self.emitted = 0

    def add(self, case: str, figure: str, *, series: Series | None = None, goal: str = "",
            met: bool | None = None, note: str = "", wall: str = "", cpu: str = "",
            lockgate: str = "", baseline: str = "", ratio: str = "") -> None:
        """Record a figure; ``series`` supplies the wall and CPU columns."""
        if series is not None:
            wall, cpu = series.wall.show(), series.cpu.show()
        self.rows.append(Row(self.bench, case, figure, wall, cpu, goal, met,
                             self.load_start, load_average(), note, lockgate, baseline,
                             ratio))

    def emit(self) -> None:
        """Print the rows not printed yet and append them to ``$LOCKGATE_BENCH_RESULTS``
        (a long bench emits after each part, so a later failure loses nothing)."""
        end = load_average()
        fresh, self.emitted = self.rows[self.emitted:], len(self.rows)
        print(f"\n== {self.bench}: load average {self.load_start:.2f} at start, "
              f"{end:.2f} at end ({os.cpu_count()} cores) ==")
        for row in fresh:
            verdict = {True: "MET", False: "NOT MET", None: "-"}[row.met]
            print(f"- {row.case}: {row.figure}  | wall {row.wall or '-'} | cpu "
                  f"{row.cpu or '-'} | goal {row.goal or '-'}: {verdict}"
                  + (f"  ({row.note})" if row.note else ""))
        target = os.environ.get("LOCKGATE_BENCH_RESULTS")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                for row in fresh:
                    handle.write(json.dumps(asdict(row) | {"load_end": end}) + "\n")


def ratio(a: float, b: float) -> float:
    """a / b, inf when b is 0."""
    return a / b if b else float("inf")
