"""Benchmark: pipeline framework overhead of lockgate vs Kedro, measured in one run.

    .venv/bin/python bench/pipelines.py [--steps 20] [--cached-steps 10] [--repeat 3]

lockgate (local executor, SQLite store, artifacts on disk):
  * per-step overhead on a chain of ``--steps`` no-op steps run with ``cache=False``:
    the wall time divided by the number of steps (the steps do nothing, so all of it is
    framework: child runs, lineage, artifacts, worker round trips). Measured warm (the
    worker pool's forkserver already up, as in any process that ran a pipeline before)
    and cold (first run in the process, forkserver start included). Goal <= 20 ms.
  * a fully cached rerun of a ``--cached-steps`` chain: wall time. Goal <= 1 s.
Kedro (bench extra only): the same chains with its SequentialRunner and in-memory
datasets. Kedro records nothing and has no step cache, so its "rerun" runs every node;
the ratios show what lockgate's recording costs, and what its cache saves. Cases run
interleaved (bench/harness.py); the goals are lockgate's own figures (absolute).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from lockgate.config import Settings
from lockgate.pipelines import Pipeline, node, run_pipeline, step
from lockgate.pipelines.executors import LocalExecutor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPEATS, Goal, Report, Sample, interleave


@step
def start() -> int:
    """The first no-op step."""
    return 0


@step
def noop(x: int) -> int:
    """A no-op step: what is measured is everything around it."""
    return x + 1


def lockgate_chain(steps: int) -> Pipeline:
    """A chain of ``steps`` no-op steps."""
    nodes = [node(start, outputs="d0", name="s0")]
    nodes += [node(noop, inputs=f"d{i - 1}", outputs=f"d{i}", name=f"s{i}")
              for i in range(1, steps)]
    return Pipeline(f"chain{steps}", nodes)


def lockgate_chain_run(settings: Settings, chain: Pipeline, steps: int) -> Sample:
    """One uncached run of ``chain`` on a fresh local executor: wall, and CPU of this
    process and the executor's workers."""
    executor = LocalExecutor()
    workers = [psutil.Process(pid) for pid in executor.pids()]
    worker_cpu = sum(_cpu(w) for w in workers)
    runner_cpu = time.process_time()
    started = time.perf_counter()
    result = run_pipeline(chain, settings=settings, cache=False, executor=executor)
    wall = time.perf_counter() - started
    spent = time.process_time() - runner_cpu + sum(_cpu(w) for w in workers) - worker_cpu
    executor.close()
    assert result.ok, result.error
    return Sample(wall, spent, units=steps)


def lockgate_cached_run(settings: Settings, chain: Pipeline) -> Sample:
    """One rerun of ``chain`` with every step cached."""
    cpu, started = time.process_time(), time.perf_counter()
    result = run_pipeline(chain, settings=settings)
    sample = Sample(time.perf_counter() - started, time.process_time() - cpu)
    assert set(result.statuses().values()) == {"CACHED"}
    return sample


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def kedro_case(steps: int) -> Callable[[], Sample] | None:
    """One Kedro run of a ``steps``-node chain, or None when Kedro is absent."""
    logging.disable(logging.INFO)  # Kedro logs every node at INFO; that is not measured
    try:
        from kedro.io import DataCatalog
        from kedro.pipeline import Pipeline as KedroPipeline
        from kedro.pipeline import node as kedro_node
        from kedro.runner import SequentialRunner
    except ImportError:
        return None
    nodes = [kedro_node(start, inputs=None, outputs="d0", name="s0")]
    nodes += [kedro_node(noop, inputs=f"d{i - 1}", outputs=f"d{i}", name=f"s{i}")
              for i in range(1, steps)]
    pipeline = KedroPipeline(nodes)

    def work() -> Sample:
        cpu, started = time.process_time(), time.perf_counter()
        SequentialRunner().run(pipeline, DataCatalog())
        return Sample(time.perf_counter() - started, time.process_time() - cpu, units=steps)

    return work


def main() -> None:
    """Measure both frameworks, interleaved, and state each figure against its goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cached-steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=REPEATS)
    args = parser.parse_args()
    report = Report("pipelines")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / ".lockgate")
        chain, short = lockgate_chain(args.steps), lockgate_chain(args.cached_steps)
        cold = lockgate_chain_run(settings, chain, args.steps)  # forkserver start included
        run_pipeline(short, settings=settings)  # fills the cache of the rerun case
        cases: dict[str, Callable[[], Sample]] = {
            "lockgate chain": lambda: lockgate_chain_run(settings, chain, args.steps),
            "lockgate cached rerun": lambda: lockgate_cached_run(settings, short)}
        kedro, kedro_short = kedro_case(args.steps), kedro_case(args.cached_steps)
        if kedro is not None and kedro_short is not None:
            cases["kedro chain"], cases["kedro rerun"] = kedro, kedro_short
        series, _ = interleave(cases, repeats=max(REPEATS, args.repeat), warmup=1)
    per_step = Goal.at_most(0.020, "≤ 20 ms per step", absolute=True)
    chain_case = f"{args.steps}-step no-op chain, cache off: per-step overhead"
    report.compare(f"{chain_case} (cold: first run, forkserver start)", lockgate=cold,
                   on="wall", unit="steps")
    if "kedro chain" not in series:
        report.compare(f"{chain_case} (warm)", lockgate=series["lockgate chain"],
                       goal=per_step, unit="steps")
        report.skip("per-step overhead vs Kedro SequentialRunner", goal="",
                    fix="pip install -e '.[bench]' (kedro)")
    else:
        report.compare(f"{chain_case} (warm), vs Kedro SequentialRunner (in memory, "
                       "records nothing)", lockgate=series["lockgate chain"],
                       baseline=series["kedro chain"], goal=per_step, unit="steps")
    rerun = f"{args.cached_steps}-step chain, every step cached: rerun"
    goal = Goal.at_most(1.0, "≤ 1 s", absolute=True)
    if "kedro rerun" in series:
        report.compare(f"{rerun}, vs Kedro (no cache: it runs every node)",
                       lockgate=series["lockgate cached rerun"],
                       baseline=series["kedro rerun"], goal=goal)
    else:
        report.compare(rerun, lockgate=series["lockgate cached rerun"], goal=goal)
    report.emit()


if __name__ == "__main__":
    main()
