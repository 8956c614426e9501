"""Run reports as plain data: one run's summary and a comparison of several runs.

The CLI and the dashboard render these; neither computes anything of its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict
from typing import Any

from lockgate.errors import LockgateError
from lockgate.store import Store

_LOWER_IS_BETTER = re.compile(r"loss|error|rmse|mae|mse|mape|brier|latency|time", re.I)


def run_summary(store: Store, run_id: str, *, tail_lines: int = 20) -> dict[str, Any]:
    """Everything recorded about one run, as JSON-ready values."""
    run = store.get_run(run_id)
    code = store.code_version(run.id)
    env = store.environment(run.id)
    children = store.list_runs(parent_id=run.id, limit=None)
    return {
        "run": asdict(run) | {"duration": run.duration},
        "params": store.params(run.id),
        "metrics": store.last_metrics([run.id])[run.id],
        "tags": store.tags(run.id),
        "artifacts": [asdict(a) for a in store.artifacts(run.id)],
        "code": asdict(code) if code else None,
        "environment": asdict(env) if env else None,
        "notes": [asdict(n) for n in store.notes(run.id)],
        "lineage": [asdict(e) for e in store.lineage(run_id=run.id)],
        "children": [asdict(c) | {"duration": c.duration} for c in reversed(children)],
        "console_tail": store.console(run.id, tail_lines=tail_lines),
    }


def compare_runs(store: Store, run_ids: list[str],
                 lower_is_better: set[str] | None = None) -> dict[str, Any]:
    """Params that differ, final metrics side by side, and the best run per metric.

    A metric counts as lower-is-better when named in ``lower_is_better`` or when its
    name looks like a loss or an error (loss, error, rmse, mae, brier, latency...).
    """
    runs = [store.get_run(r) for r in run_ids]
    ids = [r.id for r in runs]
    if len(set(ids)) != len(ids):
        raise LockgateError("The same run was given twice; give distinct runs to compare.")
    params = {r.id: store.params(r.id) for r in runs}
    keys = sorted({k for p in params.values() for k in p})
    differ = {
        k: {i: params[i].get(k) for i in ids}
        for k in keys
        if len({repr(params[i].get(k)) for i in ids}) > 1
    }
    last = store.last_metrics(ids)
    metric_keys = sorted({k for i in ids for k in last[i]})
    metrics = {k: {i: last[i].get(k) for i in ids} for k in metric_keys}
    lower = lower_is_better or set()
    best: dict[str, str] = {}
    for key, values in metrics.items():
        finite = {i: v for i, v in values.items() if v is not None and math.isfinite(v)}
        if not finite:
            continue
        pick = min if (key in lower or _LOWER_IS_BETTER.search(key)) else max
        best[key] = pick(finite, key=finite.__getitem__)
    return {
        "runs": [asdict(r) for r in runs],
        "params_differ": differ,
        "metrics": metrics,
        "best": best,
    }
