"""Resuming a failed (or crashed) pipeline run: a new run that reuses the outputs of
every step that succeeded in the original."""

from __future__ import annotations

import json
from typing import Unpack

from lockgate.config import load_settings
from lockgate.pipelines.errors import PipelineError
from lockgate.pipelines.ledger import decode_outputs, steps_of
from lockgate.pipelines.params import resolve_params, unflatten
from lockgate.pipelines.pipeline import Pipeline
from lockgate.pipelines.reference import load_pipeline
from lockgate.pipelines.result import PipelineResult
from lockgate.pipelines.runner import (
    Reuse,
    RunOptionFields,
    RunOptions,
    execute_pipeline,
    step_name,
)
from lockgate.store import Store


def resume_pipeline(run_id: str, pipeline: Pipeline | None = None,
                    options: RunOptions | None = None,
                    **option_values: Unpack[RunOptionFields]) -> PipelineResult:
    """Run a failed pipeline run again, reusing the outputs of every step that succeeded.

    The new run records the same params, pins the table versions the original run's
    ``@latest`` inputs resolved to, points at the original with the tag
    ``lockgate.resumed_from``, and shows reused steps as CACHED. A step is reused only
    when its cache key is the same now: a step whose code (or a helper, a constant, a
    library version, an input) changed since is run again, and so, through their inputs,
    are the steps downstream of it; the tag ``lockgate.resume_changed`` lists them.

    Args:
        run_id: the pipeline run (or a unique prefix).
        pipeline: the pipeline; default loaded from the run's recorded reference.

    Raises:
        NotFoundError: no such run.
        PipelineError: the run is not a pipeline run, or its pipeline cannot be found.
    """
    opts = options or RunOptions(**option_values)
    settings = opts.settings or load_settings()
    store = Store.open(settings)
    original = store.get_run(run_id)
    if original.kind != "pipeline":
        raise PipelineError(f"Run {original.id} is a {original.kind!r} run, not a pipeline run; "
                            "resume the pipeline run (its parent).")
    tags = store.tags(original.id)
    ref = opts.ref or tags.get("lockgate.pipeline_ref")
    if pipeline is None:
        if not ref:
            raise PipelineError(
                f"Run {original.id} was started from Python without a pipeline reference; "
                "call `resume_pipeline(run_id, pipeline=...)` with the pipeline object."
            )
        pipeline, ref = load_pipeline(ref)
    reuse = {
        step_name(row.node, row.item): Reuse(row.step_run_id,
                                             decode_outputs(store, row.outputs),
                                             row.cache_key, row.key_parts)
        for row in steps_of(store, original.id)
        if row.outputs is not None and row.status in ("FINISHED", "CACHED")
    }
    input_refs = decode_outputs(store, json.loads(tags.get("lockgate.inputs", "{}")))
    params = resolve_params(pipeline, unflatten(store.params(original.id)))
    pinned = {k: int(v) for k, v in json.loads(tags.get("lockgate.tables", "{}")).items()}
    extra = {**(opts.tags or {}), "lockgate.resumed_from": original.id}
    opts = RunOptions(settings, opts.executor, opts.address, opts.max_workers, opts.cache,
                      opts.experiment or original.experiment, ref, extra, opts.observer)
    return execute_pipeline(pipeline, params, settings, opts, refs=input_refs, reuse=reuse,
                            pinned_tables=pinned)
