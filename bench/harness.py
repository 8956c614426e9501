"""The shared benchmark harness: fair comparisons, every figure next to its goal.

Rules every bench follows through this module (see the README's bench paragraph):

- lockgate and its baseline run interleaved, A B A B ..., in the same process tree, so
  a change of machine load hits both sides alike; never "best of" one side against a
  single run of the other.
- At least three repeats; a figure is the median with its [min-max] range, of wall time
  AND of CPU time (this process and its waited-for children, or a server's own CPU
  when the work happens in another process).
- The load average is read with every sample and at the start and end of each bench;
  each row shows its range during that figure: on a shared machine a ratio means
  little without it.
- Each row carries the goal as the issue states it, and MET / NOT MET is computed from
  the numbers by ``Goal.holds`` (``Report.compare``), never typed by hand. A goal that
  is not met carries a measured reason: by how much, whether the range straddles the
  limit, the load average during the figure, whether the same goal holds in CPU time
  (a wall-time miss that CPU time meets is waiting, not work), and what the bench
  measured about why (``why=``).
- Cold paths (first call, right after bulk writes, empty caches) are separate cases
  from warm ones, never averaged together.

One way to state every figure: ``Report.compare(case, lockgate=..., baseline=...,
goal=Goal.at_least(10, "≥ 10× MLflow req/s", on="rate"))`` for a comparison (the
baseline left out for an absolute goal: latency, RSS, start-up seconds);
``Report.check`` for a verdict that is not a number (the same drifted columns found);
``Report.skip`` for a peer that is not installed (with the one-line fix);
``Report.peer`` for a baseline's own figure; ``Report.add`` for context with no goal. Results print
as a table and, when ``LOCKGATE_BENCH_RESULTS`` names a file, append to it as JSON
lines, which ``bench/run_all.py`` turns into one table.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

REPEATS = 3


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed repetition: wall seconds and CPU seconds.

    ``units`` is the work the repetition did (points, requests, rows) so rates are
    ``units / wall``; ``value`` holds a figure that is not a time (a p99 in ms, an RSS in
    MB: see ``values``); ``load`` is the 1-minute load average when it was taken.
    """

    wall: float
    cpu: float
    units: float = 1.0
    value: float = math.nan
    load: float = math.nan


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
        """``median [min-max] unit``; one number when all values are equal."""
        median, low, high = (_number(v * scale, digits) for v in
                             (self.median, self.low, self.high))
        shown = median if low == high else f"{median} [{low}-{high}]"
        return f"{shown} {unit}".rstrip()


def _number(value: float, digits: int = 3) -> str:
    """``digits`` significant digits; 1000 and above as a separated integer."""
    if math.isfinite(value) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


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
    """CPU time of this process and of its children that have been waited for
    (getrusage: microseconds, where ``os.times`` counts 10 ms ticks, too coarse for a
    ratio of two 30 ms figures)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def timed(work: Callable[[], Any]) -> tuple[Sample, Any]:
    """Run ``work`` once; its Sample and result. A ``work`` returning a Sample (e.g. a
    server's own CPU measured from outside) is taken as is."""
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    result = work()
    sample = Sample(time.perf_counter() - wall0, cpu_seconds() - cpu0, load=load_average())
    if isinstance(result, Sample):
        return _loaded(result), result
    if isinstance(result, tuple) and result and isinstance(result[0], Sample):
        return _loaded(result[0]), result[1]
    return sample, result


def _loaded(sample: Sample) -> Sample:
    if math.isnan(sample.load):
        return Sample(sample.wall, sample.cpu, sample.units, sample.value, load_average())
    return sample


def values(numbers: Sequence[float], load: float = math.nan) -> list[Sample]:
    """Figures that are not times (p99 ms, RSS MB, a count) as samples for ``compare``."""
    return [Sample(math.nan, math.nan, value=float(n), load=load) for n in numbers]


def with_units(samples: Sequence[Sample] | Series, units: Sequence[float] | float
               ) -> list[Sample]:
    """The same samples, each credited with the work it did (for rates)."""
    items = samples.samples if isinstance(samples, Series) else list(samples)
    counts = [float(units)] * len(items) if isinstance(units, int | float) else list(units)
    return [Sample(s.wall, s.cpu, u, s.value, s.load)
            for s, u in zip(items, counts, strict=True)]


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


Quantity = Literal["wall", "cpu", "rate", "cpu_rate", "value"]
"""What a goal is checked on: seconds per unit of work (wall or CPU), units per second
(of wall time, or of CPU time: ``cpu_rate``), or a sample's ``value``."""
Direction = Literal["<=", "<", ">=", ">"]
Verdict = Literal["MET", "NOT MET", "SKIPPED", "FAILED", ""]

_UNIT_WORDS = {"wall": "wall s", "cpu": "CPU s", "rate": "/s", "cpu_rate": "/CPU s",
               "value": ""}


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal as the issue states it (``text``) and the number that decides it.

    With a baseline, the number is lockgate's quantity divided by the baseline's
    (paired repetition by repetition); without one, lockgate's own median quantity.
    ``Goal.at_least(10, "≥ 10× MLflow req/s", on="rate")``,
    ``Goal.at_most(1.3, "≤ 1.3× bare PSI CPU", on="cpu")``,
    ``Goal.at_most(0.2, "≤ 200 ms at 1M runs")`` (seconds of wall time).
    ``absolute=True`` checks lockgate's own number even when a baseline is shown beside
    it for context (start-up seconds next to the bare interpreter's).
    """

    text: str
    limit: float
    op: Direction
    on: Quantity = "wall"
    absolute: bool = False

    @classmethod
    def at_most(cls, limit: float, text: str, on: Quantity = "wall",
                absolute: bool = False) -> Goal:
        return cls(text, limit, "<=", on, absolute)

    @classmethod
    def at_least(cls, limit: float, text: str, on: Quantity = "rate",
                 absolute: bool = False) -> Goal:
        return cls(text, limit, ">=", on, absolute)

    @classmethod
    def above(cls, limit: float, text: str, on: Quantity = "rate",
              absolute: bool = False) -> Goal:
        return cls(text, limit, ">", on, absolute)

    def holds(self, number: float) -> bool:
        """Whether ``number`` meets the goal (NaN never does)."""
        if math.isnan(number):
            return False
        return {"<=": number <= self.limit, "<": number < self.limit,
                ">=": number >= self.limit, ">": number > self.limit}[self.op]


def quantity(sample: Sample, on: Quantity) -> float:
    """The number a goal on ``on`` reads from one sample."""
    if on == "wall":
        return sample.wall / sample.units
    if on == "cpu":
        return sample.cpu / sample.units
    if on == "rate":
        return sample.units / sample.wall if sample.wall else math.inf
    if on == "cpu_rate":
        return sample.units / sample.cpu if sample.cpu else math.inf
    return sample.value


Measured = Series | Sequence[Sample] | Sample


def _samples(measured: Measured) -> list[Sample]:
    if isinstance(measured, Series):
        return list(measured.samples)
    if isinstance(measured, Sample):
        return [measured]
    return list(measured)


def _spread(samples: list[Sample], on: Quantity) -> Spread | None:
    numbers = [quantity(s, on) for s in samples]
    numbers = [n for n in numbers if not math.isnan(n)]
    return Spread.of(numbers) if numbers else None


def _seconds(spread: Spread) -> str:
    if spread.median < 1:
        return spread.show(1000, "ms")
    return spread.show()


def _cell(samples: list[Sample], unit: str) -> str:
    """One side's figure: its value or rate, then median [min-max] of wall and CPU."""
    parts = []
    value = _spread(samples, "value")
    if value is not None:
        parts.append(value.show(1, unit, 4))
    if any(s.units != 1 for s in samples):
        rate = _spread(samples, "rate")
        if rate is not None:
            parts.append(rate.show(1, f"{unit or 'units'}/s", 4))
    for label, numbers in (("wall", [s.wall for s in samples]),
                           ("CPU", [s.cpu for s in samples])):
        numbers = [n for n in numbers if not math.isnan(n)]
        if numbers:
            parts.append(f"{label} {_seconds(Spread.of(numbers))}")
    return ", ".join(parts) or "-"


def _paired(ours: list[Sample], theirs: list[Sample], on: Quantity) -> Spread | None:
    """lockgate / baseline of ``on``, repetition by repetition when both sides have the
    same number of interleaved repetitions; else the ratio of medians."""
    mine, peer = _spread(ours, on), _spread(theirs, on)
    if mine is None or peer is None:
        return None
    if len(ours) == len(theirs) and len(ours) > 1:
        ratios = [ratio(quantity(a, on), quantity(b, on)) for a, b in zip(ours, theirs,
                                                                         strict=True)]
        ratios = [r for r in ratios if not math.isnan(r)]
        if ratios:
            return Spread.of(ratios)
    r = ratio(mine.median, peer.median)
    return Spread(r, r, r)


def _ratio_cell(ours: list[Sample], theirs: list[Sample], on: Quantity) -> str:
    if on == "value":
        spread = _paired(ours, theirs, "value")
        return f"value ×{spread.show(1, '', 3).strip()}" if spread else "-"
    kinds: tuple[Quantity, Quantity] = (("rate", "cpu_rate") if on in ("rate", "cpu_rate")
                                        else ("wall", "cpu"))
    word = "speed" if kinds[0] == "rate" else "time"
    shown = [f"×{s.show(1, '', 3).strip()} {label}"
             for s, label in ((_paired(ours, theirs, kinds[0]), "wall"),
                              (_paired(ours, theirs, kinds[1]), "CPU")) if s is not None]
    return f"{word} " + " / ".join(shown) if shown else "-"


def _load(samples: list[Sample], fallback: tuple[float, float]) -> tuple[float, float]:
    loads = [s.load for s in samples if not math.isnan(s.load)]
    return (min(loads), max(loads)) if loads else fallback


def _in_cpu(goal: Goal, ours: list[Sample], theirs: list[Sample], unit: str = "") -> str:
    """For a goal on wall time or on a rate, missed: the same goal read in CPU time. Met
    in CPU means the miss is waiting (load, I/O, locks), not work; missed in CPU too
    means the work itself costs more."""
    twin: dict[Quantity, Quantity] = {"wall": "cpu", "rate": "cpu_rate"}
    if goal.on not in twin:
        return ""
    on = twin[goal.on]
    spread = _paired(ours, theirs, on) if theirs else _spread(ours, on)
    if spread is None or math.isinf(spread.median):
        return ""
    shown = (f"{_number(spread.median)}×" if theirs else
             f"{_number(spread.median * 1000)} ms" if on == "cpu" else
             f"{_number(spread.median)} {unit or 'units'} per CPU s")
    if goal.holds(spread.median):
        return f"met in CPU time ({shown}): the wall-time miss is waiting, not work"
    return f"missed in CPU time too ({shown}): the work itself costs more"


def _short(number: float, goal: Goal, relative: bool, unit: str = "") -> str:
    """How far a figure is from its goal, in words."""
    if not relative and goal.on in ("wall", "cpu"):
        shown, limit = f"{_number(number * 1000)} ms", f"{_number(goal.limit * 1000)} ms"
    else:
        after = "×" if relative else f" {unit}/s" if goal.on == "rate" and unit else (
            f" {unit}" if goal.on == "value" and unit else "")
        shown, limit = _number(number) + after, _number(goal.limit) + after
    op = {"<=": "≤", ">=": "≥"}.get(goal.op, goal.op)
    if goal.limit == 0 or math.isinf(number):
        return f"{shown} against {op} {limit}"
    return f"{shown} against {op} {limit} ({number / goal.limit:.2f} of the limit)"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a figure against its goal."""

    bench: str
    case: str
    figure: str
    lockgate: str = ""
    baseline: str = ""
    #: lockgate / baseline, paired: "speed ×12 wall / ×8 CPU" or "time ×0.4 wall / ..."
    ratio: str = ""
    goal: str = ""
    verdict: Verdict = ""
    load_low: float = math.nan
    load_high: float = math.nan
    #: for a goal not met: the measured reason; otherwise anything the reader needs
    note: str = ""
    #: the number the goal was checked on, the comparison and the limit (so a reader of
    #: the JSON can recompute the verdict)
    checked: float | None = None
    op: Direction | None = None
    limit: float | None = None

    @property
    def load(self) -> str:
        if math.isnan(self.load_low):
            return ""
        if f"{self.load_low:.1f}" == f"{self.load_high:.1f}":
            return f"{self.load_low:.1f}"
        return f"{self.load_low:.1f}-{self.load_high:.1f}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"load": self.load}


class Report:
    """The rows of one bench, printed and (optionally) appended to the results file."""

    def __init__(self, bench: str) -> None:
        self.bench = bench
        self.rows: list[Row] = []
        self.load_start = load_average()
        self.emitted = 0

    def _window(self) -> tuple[float, float]:
        now = load_average()
        return min(self.load_start, now), max(self.load_start, now)

    def add(self, case: str, figure: str, *, series: Series | None = None, note: str = "",
            wall: str = "", cpu: str = "") -> Row:
        """Record a figure with no goal (context for the rows that have one)."""
        cell = wall and f"wall {wall}" + (f", CPU {cpu}" if cpu else "")
        samples = _samples(series) if series is not None else []
        if samples:
            cell = _cell(samples, "")
        low, high = _load(samples, self._window())
        row = Row(self.bench, case, figure, lockgate=cell, load_low=low, load_high=high,
                  note=note)
        self.rows.append(row)
        return row

    def peer(self, case: str, baseline: Measured, *, unit: str = "", note: str = "",
             on: Quantity | None = None) -> Row:
        """A baseline's own figure (no goal), in the baseline column: context for the
        comparisons after it."""
        mirror = self.compare(case, lockgate=baseline, unit=unit, note=note, on=on)
        row = Row(mirror.bench, mirror.case, mirror.figure, baseline=mirror.lockgate,
                  load_low=mirror.load_low, load_high=mirror.load_high, note=mirror.note,
                  checked=mirror.checked)
        self.rows[-1] = row
        return row

    def compare(self, case: str, lockgate: Measured, *, baseline: Measured | None = None,
                goal: Goal | None = None, unit: str = "", why: str = "",
                note: str = "", on: Quantity | None = None) -> Row:
        """Record lockgate against a baseline (or alone, for an absolute goal).

        Args:
            case: what is measured, with its size ("validate 1,000,000 rows").
            lockgate: lockgate's samples (interleaved with the baseline's).
            baseline: the baseline's samples; None for an absolute goal.
            goal: the goal as the issue states it; MET / NOT MET is computed from it:
                on the paired ratio lockgate / baseline, or on lockgate's own median
                when there is no baseline or the goal is ``absolute``.
            unit: the unit of work (rates: "points" gives points/s) or of ``value``.
            why: the measured reason, shown when the goal is not met.
            note: shown whatever the verdict.
            on: for a row with no goal, the quantity shown (default: the rate when
                ``unit`` names the work, else wall seconds per unit).

        Returns:
            The row (also kept for ``emit``).
        """
        if not _samples(lockgate):
            raise ValueError(f"{self.bench}: {case}: compare needs lockgate's samples; "
                             "a peer's own figure goes through Report.peer")
        ours = _samples(lockgate)
        theirs = _samples(baseline) if baseline is not None else []
        on_default: Quantity = ("value" if all(math.isnan(s.wall) for s in ours) else
                                "rate" if unit and any(s.units != 1 for s in ours) else "wall")
        on = goal.on if goal else on or on_default
        relative = bool(theirs) and not (goal is not None and goal.absolute)
        checked_spread = _paired(ours, theirs, on) if relative else _spread(ours, on)
        ratio_cell = _ratio_cell(ours, theirs, on) if theirs else ""
        checked = checked_spread.median if checked_spread else math.nan
        figure = self._figure(checked_spread, on, relative, unit)
        verdict: Verdict = ""
        notes = [note] if note else []
        if goal is not None:
            verdict = "MET" if goal.holds(checked) else "NOT MET"
            if checked_spread and goal.holds(checked_spread.low) != goal.holds(
                    checked_spread.high):
                notes.append("the range straddles the goal")
        low, high = _load(ours + theirs, self._window())
        if verdict == "NOT MET" and goal is not None:
            reason = [_short(checked, goal, relative, unit), f"load {high:.1f} on "
                      f"{os.cpu_count()} cores", _in_cpu(goal, ours, theirs if relative
                                                         else [], unit), why]
            notes.insert(0, "; ".join(r for r in reason if r))
        row = Row(self.bench, case, figure, lockgate=_cell(ours, unit),
                  baseline=_cell(theirs, unit) if theirs else "", ratio=ratio_cell,
                  goal=goal.text if goal else "", verdict=verdict, load_low=low,
                  load_high=high, note="; ".join(notes), checked=checked,
                  op=goal.op if goal else None, limit=goal.limit if goal else None)
        self.rows.append(row)
        return row

    @staticmethod
    def _figure(spread: Spread | None, on: Quantity, relative: bool, unit: str) -> str:
        if spread is None:
            return "-"
        if relative:
            return "×" + spread.show(1, "", 3)
        if on in ("wall", "cpu"):
            return f"{_seconds(spread)}" + (" CPU" if on == "cpu" else "")
        if on == "value":
            return spread.show(1, unit, 4)
        return spread.show(1, f"{unit or 'units'}{_UNIT_WORDS[on]}", 4)

    def check(self, case: str, *, found: Any, expected: Any, goal: str,
              why: str = "") -> Row:
        """A verdict that is not a number: MET when ``found == expected``."""
        verdict: Verdict = "MET" if found == expected else "NOT MET"
        low, high = self._window()
        row = Row(self.bench, case, f"{found}", goal=goal, verdict=verdict, load_low=low,
                  load_high=high, note="" if verdict == "MET" else
                  f"found {found}, expected {expected}" + (f"; {why}" if why else ""))
        self.rows.append(row)
        return row

    def skip(self, case: str, *, goal: str, fix: str) -> Row:
        """A figure not measured because a peer or service is missing; ``fix`` is the
        one line that makes it measurable."""
        low, high = self._window()
        row = Row(self.bench, case, "not measured", goal=goal, verdict="SKIPPED",
                  load_low=low, load_high=high, note=fix)
        self.rows.append(row)
        return row

    def emit(self) -> None:
        """Print the rows not printed yet and append them to ``$LOCKGATE_BENCH_RESULTS``
        (a long bench emits after each part, so a later failure loses nothing)."""
        end = load_average()
        fresh, self.emitted = self.rows[self.emitted:], len(self.rows)
        print(f"\n== {self.bench}: load average {self.load_start:.2f} at start, "
              f"{end:.2f} at end ({os.cpu_count()} cores) ==")
        for row in fresh:
            sides = " | ".join(part for part in (
                f"lockgate {row.lockgate}" if row.lockgate else "",
                f"baseline {row.baseline}" if row.baseline else "",
                row.ratio) if part)
            print(f"- {row.case}: {row.figure}" + (f"  | {sides}" if sides else "")
                  + f" | goal {row.goal or '-'}: {row.verdict or '-'} | load {row.load}"
                  + (f"  ({row.note})" if row.note else ""))
        target = os.environ.get("LOCKGATE_BENCH_RESULTS")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                for row in fresh:
                    handle.write(json.dumps(row.to_dict()) + "\n")


def ratio(a: float, b: float) -> float:
    """a / b, inf when b is 0."""
    return a / b if b else float("inf")
