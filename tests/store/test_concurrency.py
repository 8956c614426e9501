"""Sixteen processes logging to one store at once: no lock error reaches them, and
every row lands."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.store import Store
from lockgate.store import schema as t

PROCESSES = 16
METRICS_EACH = 1000


def _log_metrics(settings_json: str, index: int) -> str:
    settings = Settings.model_validate_json(settings_json)
    import lockgate as lg

    with lg.start_run(f"worker-{index}", experiment="concurrency", settings=settings,
                      sample_hardware=False, capture_code=False) as run:
        for step in range(METRICS_EACH):
            run.log_metric("value", float(step), step=step)
            if step % 250 == 0:
                run.flush()  # many small transactions, to collide on purpose
    return run.id


def _in_workers(processes: int, calls: list[tuple[str, int]]) -> list[str]:
    """``_log_metrics`` in spawned workers, which then exit on their own (close, join).
    ``with Pool`` would terminate them with SIGTERM: a worker whose run installed
    lockgate's Python SIGTERM handler, waiting on its queue's semaphore in native code
    while another of its threads took the signal, never ran that handler and never
    exited, and the test hung in the pool's join (2 runs in 6 on a loaded machine)."""
    pool = mp.get_context("spawn").Pool(processes)
    try:
        return pool.starmap(_log_metrics, calls)
    finally:
        pool.close()
        pool.join()


def test_sixteen_processes_log_to_one_store(any_settings: Settings) -> None:
    Store.open(any_settings)  # migrate once up front, as any first user would
    payload = any_settings.model_dump_json()
    run_ids = _in_workers(PROCESSES, [(payload, i) for i in range(PROCESSES)])
    store = Store.open(any_settings)
    with store.read() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(t.metrics)
            .join(t.metric_series, t.metric_series.c.id == t.metrics.c.series_id)
            .where(t.metric_series.c.run_id.in_(run_ids))
        ).scalar_one()
    assert total == PROCESSES * METRICS_EACH
    assert {store.get_run(r).status for r in run_ids} == {"FINISHED"}


@pytest.mark.parametrize("processes", [PROCESSES])
def test_sixteen_processes_migrate_a_fresh_store_together(settings: Settings,
                                                          processes: int) -> None:
    """First use from many processes at once: the migration lock serialises upgrades."""
    run_ids = _in_workers(processes, [(settings.model_dump_json(), i)
                                      for i in range(processes)])
    assert len(set(run_ids)) == processes
