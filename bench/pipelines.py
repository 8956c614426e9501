"""Benchmark: pipeline framework overhead of lockgate vs Kedro, measured in one run.

    .venv/bin/python bench/pipelines.py [--steps 20] [--cached-steps 10] [--repeat 3]

lockgate (local executor, SQLite store, artifacts on disk):
  * per-step overhead on a chain of ``--steps`` no-op steps run with ``cache=False``:
    the wall time divided by the number of steps (the steps do nothing, so all of it is
    framework: child runs, lineage, artifacts, worker round trips). Measured warm (the
    worker pool's forkserver already up, as in any process that ran a pipeline before)
    and cold (first run in the process, forkserver start included). Target <= 20 ms.
  * a fully cached rerun of a ``--cached-steps`` chain: wall time. Target <= 1 s.
Kedro (bench extra only): the same chains with its SequentialRunner and in-memory
datasets. Kedro records nothing and has no step cache, so its "rerun" runs every node;
the ratios show what lockgate's recording costs, and what its cache saves.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from lockgate.config import Settings
from lockgate.pipelines import Pipeline, node, run_pipeline, step
from lockgate.pipelines.executors import LocalExecutor


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


def lockgate_runs(settings: Settings, steps: int, cached_steps: int, repeat: int
                  ) -> dict[str, float]:
    """Cold and warm per-step overhead (wall and CPU), cached rerun wall time (medians)."""
    chain = lockgate_chain(steps)
    started = time.perf_counter()
    run_pipeline(chain, settings=settings, cache=False)
    cold = (time.perf_counter() - started) / steps
    warm, cpu = [], []
    for _ in range(repeat):
        executor = LocalExecutor()
        workers = [psutil.Process(pid) for pid in executor.pids()]
        worker_cpu = sum(_cpu(w) for w in workers)
        runner_cpu = time.process_time()
        started = time.perf_counter()
        result = run_pipeline(chain, settings=settings, cache=False, executor=executor)
        warm.append((time.perf_counter() - started) / steps)
        spent = time.process_time() - runner_cpu + sum(_cpu(w) for w in workers) - worker_cpu
        cpu.append(spent / steps)
        executor.close()
        assert result.ok, result.error
    short = lockgate_chain(cached_steps)
    run_pipeline(short, settings=settings)
    cached = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run_pipeline(short, settings=settings)
        cached.append(time.perf_counter() - started)
        assert set(result.statuses().values()) == {"CACHED"}
    return {"cold_ms": cold * 1000, "warm_ms": statistics.median(warm) * 1000,
            "cpu_ms": statistics.median(cpu) * 1000, "cached_s": statistics.median(cached)}


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def kedro_runs(steps: int, cached_steps: int, repeat: int) -> dict[str, float] | None:
    """Kedro's per-node wall time and its 10-node rerun, or None when Kedro is absent."""
    logging.disable(logging.INFO)  # Kedro logs every node at INFO; that is not measured
    try:
        from kedro.io import DataCatalog
        from kedro.pipeline import Pipeline as KedroPipeline
        from kedro.pipeline import node as kedro_node
        from kedro.runner import SequentialRunner
    except ImportError:
        return None

    def chain(n: int) -> KedroPipeline:
        nodes = [kedro_node(start, inputs=None, outputs="d0", name="s0")]
        nodes += [kedro_node(noop, inputs=f"d{i - 1}", outputs=f"d{i}", name=f"s{i}")
                  for i in range(1, n)]
        return KedroPipeline(nodes)

    def wall(n: int) -> float:
        pipeline = chain(n)
        started = time.perf_counter()
        SequentialRunner().run(pipeline, DataCatalog())
        return time.perf_counter() - started

    wall(steps)  # warm-up
    per_step = statistics.median(wall(steps) for _ in range(repeat)) / steps
    rerun = statistics.median(wall(cached_steps) for _ in range(repeat))
    return {"per_step_ms": per_step * 1000, "rerun_s": rerun}


def main() -> None:
    """Measure both frameworks and print figures, targets and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cached-steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / ".lockgate")
        ours = lockgate_runs(settings, args.steps, args.cached_steps, args.repeat)
    peer = kedro_runs(args.steps, args.cached_steps, args.repeat)
    print(f"pipelines benchmark: {args.steps}-step no-op chain, {args.cached_steps}-step "
          f"cached rerun, median of {args.repeat}")
    print(f"  lockgate per-step overhead (warm): {ours['warm_ms']:8.1f} ms/step  "
          f"target <= 20 ms  {'OK' if ours['warm_ms'] <= 20 else 'MISSED'}")
    print(f"  lockgate per-step CPU (runner+workers): {ours['cpu_ms']:5.1f} ms/step  "
          "(independent of how loaded the machine is)")
    print(f"  lockgate per-step overhead (cold): {ours['cold_ms']:8.1f} ms/step  "
          "(first run in a process: forkserver and worker start included)")
    print(f"  lockgate fully cached rerun:       {ours['cached_s']:8.3f} s        "
          f"target <= 1 s   {'OK' if ours['cached_s'] <= 1 else 'MISSED'}")
    if peer is None:
        print("  Kedro not installed (pip install -e '.[bench]'): no baseline measured")
        return
    print(f"  Kedro per-node wall (in-memory):   {peer['per_step_ms']:8.2f} ms/node "
          "(single process, nothing recorded)")
    print(f"  Kedro {args.cached_steps}-node rerun (no cache):   {peer['rerun_s']:8.3f} s")
    print(f"  ratio per step lockgate/Kedro:     {ours['warm_ms'] / peer['per_step_ms']:8.1f}x "
          "(lockgate records child runs, lineage and artifacts for every step; Kedro "
          "keeps values in memory and records nothing)")
    print(f"  ratio rerun lockgate/Kedro:        {ours['cached_s'] / peer['rerun_s']:8.1f}x "
          "(no-op steps: Kedro's rerun costs nothing to recompute; with real steps the "
          "cache saves their whole compute time)")


if __name__ == "__main__":
    main()
