"""Running a pipeline: the pipeline run and its step child runs, caching, retries with
exponential backoff and full jitter for transient failures, timeouts (TIMED_OUT),
SKIPPED downstream steps, fan-out and gather, declared table inputs, resume.

The runner lives in the caller's process and only orchestrates: step attempts run on
an executor (worker processes or Ray tasks), inputs and outputs travel as artifact
records, and every decision is written to the store as it is made, so a crashed run
still shows how far it got and ``resume`` can pick it up.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from lockgate.config import Settings, load_settings
from lockgate.pipelines import table_inputs
from lockgate.pipelines.cache import code_hash, key_of, key_parts, libraries
from lockgate.pipelines.errors import PipelineError
from lockgate.pipelines.executors.base import Executor
from lockgate.pipelines.executors.factory import make_executor
from lockgate.pipelines.heartbeat import Heartbeat
from lockgate.pipelines.ledger import (
    CacheLookup,
    StepRow,
    encode_outputs,
    find_cached,
    record_step,
)
from lockgate.pipelines.params import StepParams, flatten, resolve_params
from lockgate.pipelines.pipeline import Node, Pipeline
from lockgate.pipelines.reference import function_address
from lockgate.pipelines.report import last_line
from lockgate.pipelines.result import PipelineResult, StepResult
from lockgate.pipelines.task import Ref, StepOutcome, StepTask
from lockgate.store import ArtifactRecord, DatasetVersion, Store
from lockgate.tracking import Run, start_run

#: States a step run ends in when it did not succeed.
FAILED_STATES = ("FAILED", "TIMED_OUT", "KILLED")

Observer = Callable[[StepResult], None]
_POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a pipeline (everything but the pipeline, its params and inputs).

    Attributes:
        settings: where the store and artifacts live; default from env / lockgate.yaml.
        executor: ``"local"``, ``"ray"`` or an executor object (the caller closes it).
        address: Ray cluster address for ``executor="ray"``.
        max_workers: parallel worker processes of the local executor (default: cores).
        cache: False reruns every step (``--no-cache``); steps still feed the cache.
        experiment: experiment of the pipeline run; default the pipeline's name.
        ref: ``path.py:attr`` the pipeline was loaded from (recorded, used by resume).
        tags: extra tags for the pipeline run.
        observer: called with each step's result as it ends (progress display).
    """

    settings: Settings | None = None
    executor: str | Executor = "local"
    address: str | None = None
    max_workers: int | None = None
    cache: bool = True
    experiment: str | None = None
    ref: str | None = None
    tags: Mapping[str, str] | None = None
    observer: Observer | None = None


class RunOptionFields(TypedDict, total=False):
    """:class:`RunOptions`'s fields as keyword arguments (``run_pipeline(..., cache=False)``)."""

    settings: Settings | None
    executor: str | Executor
    address: str | None
    max_workers: int | None
    cache: bool
    experiment: str | None
    ref: str | None
    tags: Mapping[str, str] | None
    observer: Observer | None


def run_pipeline(
    pipeline: Pipeline,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
    **option_values: Unpack[RunOptionFields],
) -> PipelineResult:
    """Run a pipeline and record it: one pipeline run, one child run per step run.

    Args:
        pipeline: the pipeline.
        params: ``{step: {argument: value}}``, checked against the step signatures.
        inputs: values of the pipeline's free inputs (datasets no step produces).
        options: a :class:`RunOptions`; or pass its fields as keywords
            (``run_pipeline(p, executor="ray", cache=False)``).

    Returns:
        The :class:`PipelineResult`; a failed run is a result with ``status="FAILED"``,
        not an exception, so the caller sees every step.

    Raises:
        ParamsError: parameters do not match the step signatures.
        PipelineError: a free input is missing, or an unknown one is given.
    """
    opts = options or RunOptions(**option_values)
    settings = opts.settings or load_settings()
    resolved = resolve_params(pipeline, params)
    _check_inputs(pipeline, inputs or {})
    return execute_pipeline(pipeline, resolved, settings, opts, values=dict(inputs or {}))


def execute_pipeline(
    pipeline: Pipeline,
    params: StepParams,
    settings: Settings,
    opts: RunOptions,
    *,
    values: Mapping[str, Any] | None = None,
    refs: Mapping[str, Ref] | None = None,
    reuse: Mapping[str, Reuse] | None = None,
    pinned_tables: Mapping[str, int] | None = None,
) -> PipelineResult:
    """Run already-resolved params; ``refs`` are stored inputs, ``reuse`` maps step
    names to earlier step runs (resume) and ``pinned_tables`` fixes what ``@latest``
    declared inputs resolve to (resume: the original run's versions)."""
    tables = table_inputs.resolve(Store.open(settings), pipeline, pinned_tables)
    tags = {"lockgate.pipeline": pipeline.name, "lockgate.executor": _executor_name(opts),
            "lockgate.cache": "on" if opts.cache else "off", **(opts.tags or {})}
    ref = opts.ref or pipeline.ref
    if ref:
        tags["lockgate.pipeline_ref"] = ref
    latest = _latest_tables(pipeline, tables)
    if latest:
        tags["lockgate.tables"] = json.dumps(latest, sort_keys=True)
    run = start_run(pipeline.name, experiment=opts.experiment or pipeline.name,
                    params=flatten(params), tags=tags, kind="pipeline", settings=settings)
    orchestrator = _Orchestrator(pipeline, params, run, opts, dict(reuse or {}), tables)
    try:
        orchestrator.add_inputs(values or {}, refs or {})
        orchestrator.execute()
    except BaseException as exc:
        orchestrator.abort(exc)
        raise
    return orchestrator.finish()


@dataclass(frozen=True, slots=True)
class Reuse:
    """A step run of an earlier pipeline run that resume may reuse: its outputs, and the
    cache key it ran with (reused only when the key is the same now)."""

    step_run_id: str
    outputs: dict[str, Ref]
    cache_key: str
    key_parts: dict[str, Any] | None


@dataclass(slots=True)
class _Active:
    node: Node
    item: int | None
    run_id: str
    key: str
    started: float
    task: StepTask
    attempts: int = 1
    parts: dict[str, Any] | None = None
    reason: str | None = None


class _Orchestrator:
    """State of one pipeline run while it executes."""

    def __init__(self, pipeline: Pipeline, params: StepParams, run: Run, opts: RunOptions,
                 reuse: dict[str, Reuse],
                 tables: Mapping[str, Mapping[str, DatasetVersion]]) -> None:
        self.pipeline, self.params, self.run, self.opts, self.reuse = (
            pipeline, params, run, opts, reuse)
        self.tables = tables
        self.changed: list[str] = []  # resume: steps re-run because their key changed
        self.store: Store = run.store
        self.started = time.time()
        self.available: dict[str, Ref] = {}
        self.state = {n.name: "waiting" for n in pipeline.nodes}
        self.items: dict[str, list[dict[str, Ref] | None]] = {}
        self.open_items: dict[str, int] = {}
        self.active: dict[str, _Active] = {}
        self.delayed: list[tuple[float, str, StepTask]] = []
        self.results: list[StepResult] = []
        self.collections = pipeline.collections()
        self._code: dict[str, str] = {}
        self._libs: dict[str, dict[str, str]] = {}
        self._address: dict[str, tuple[str, str, str | None, str | None]] = {}
        self._executor: Executor | None = None
        self._heartbeat = Heartbeat(self.store, run.settings.heartbeat_seconds)

    # -- main loop -------------------------------------------------------------

    def execute(self) -> None:
        self.run.on_kill(self._killed)
        self._heartbeat.start()
        while True:
            self._start_ready()
            if not self.active:
                break
            self._release_delayed()
            if self._executor is not None:
                for outcome in self._executor.poll(self._poll_timeout()):
                    self._handle(outcome)
            else:
                time.sleep(self._poll_timeout())

    def finish(self) -> PipelineResult:
        self._close()
        failed = [r for r in self.results if r.status in FAILED_STATES]
        skipped = [r for r in self.results if r.status == "SKIPPED"]
        error = None
        if failed:
            first = failed[0]
            error = (
                f"{len(failed)} step run(s) failed; first `{first.name}`: "
                f"{last_line(first.error) or 'unknown error'}. "
                f"{len(skipped)} downstream step run(s) skipped. "
                f"Inspect with `lockgate pipelines show {self.run.id}`; after fixing, resume "
                f"with `lockgate pipelines resume {self.run.id}`."
            )
        if self.changed:
            self.store.set_tags(self.run.id, {"lockgate.resume_changed": ",".join(self.changed)})
            self.run.note("Resume re-ran steps whose cache key changed since the original "
                          f"run: {', '.join(self.changed)}.")
        status = "FAILED" if failed else "FINISHED"
        self.run.end(status, error)
        return PipelineResult(self.run.id, self.pipeline.name, status,
                              time.time() - self.started, tuple(self.results),
                              dict(self.available), error)

    def abort(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: pipeline run interrupted ({exc})"
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        self._killed(status, reason)
        self.run.end(status, reason)

    def _killed(self, status: str, reason: str) -> None:
        """End the running step runs (a signal or an interrupt) and stop the workers."""
        for active in list(self.active.values()):
            self.store.end_run(active.run_id, status, reason)
        self.active.clear()
        self._close()

    def _close(self) -> None:
        self._heartbeat.stop()
        if self._executor is not None and not _is_object(self.opts.executor):
            self._executor.close()
        self._executor = None

    # -- inputs ----------------------------------------------------------------

    def add_inputs(self, values: Mapping[str, Any], refs: Mapping[str, Ref]) -> None:
        self.available.update(refs)
        for name, value in values.items():
            if name in self.collections:
                if not isinstance(value, list | tuple):
                    raise PipelineError(f"Input `{name}` feeds a fan-out and must be a list, "
                                        f"got {type(value).__name__}.")
                self.available[name] = tuple(
                    self.run.log_value(v, f"input.{name}[{i}]") for i, v in enumerate(value))
            else:
                self.available[name] = self.run.log_value(value, f"input.{name}")
        given = {name: self.available[name] for name in self.pipeline.free_inputs}
        if given:
            self.store.set_tags(self.run.id,
                                {"lockgate.inputs": json.dumps(encode_outputs(given))})

    # -- starting steps ----------------------------------------------------------

    def _start_ready(self) -> None:
        for n in self.pipeline.nodes:
            if self.state[n.name] == "waiting" and all(
                    d in self.available for d in n.inputs.values()):
                self._start_node(n)

    def _start_node(self, n: Node) -> None:
        self.state[n.name] = "running"
        refs = {arg: self.available[d] for arg, d in n.inputs.items()}
        if n.map_over is None:
            self.items[n.name], self.open_items[n.name] = [None], 1
            self._start_item(n, None, refs)
            return
        mapped = refs[n.map_over]
        items = [mapped] if isinstance(mapped, ArtifactRecord) else list(mapped)
        self.items[n.name], self.open_items[n.name] = [None] * len(items), len(items)
        if not items:
            self._complete(n)
        for i, item in enumerate(items):
            self._start_item(n, i, {**refs, n.map_over: item})

    def _start_item(self, n: Node, item: int | None, refs: dict[str, Ref]) -> None:
        name = step_name(n.name, item)
        tables = {table: dv.version for table, dv in self.tables.get(n.name, {}).items()}
        parts = key_parts(code=self._code_of(n), params=self.params[n.name],
                          inputs={a: _shas(r) for a, r in refs.items()}, outputs=n.outputs,
                          tables=tables, libs=self._libs_of(n))
        key = key_of(parts)
        reason = self._reuse_or_lookup(n, item, name, key, parts, refs)
        if reason is None:
            return
        executor = self._executor_for()  # started first: its start-up is not step time
        run_id = self.store.create_run(
            name, experiment=self.run.experiment, kind="step", parent_id=self.run.id,
            heartbeat_seconds=self.run.settings.heartbeat_seconds)
        self._heartbeat.add(run_id)
        self.store.log_params(run_id, self.params[n.name])
        self._lineage(run_id, "consumed", refs)
        self._table_lineage(run_id, n)
        spec = n.spec
        task = StepTask(
            key=name, step_run_id=run_id, node=n.name, function=self._address_of(n),
            params=self.params[n.name], inputs=refs, outputs=n.outputs,
            split_outputs=tuple(o for o in n.outputs
                                if o in self.collections and n.map_over is None),
            settings=self.run.settings, timeout=spec.timeout, cpus=spec.cpus, gpus=spec.gpus,
            resources=dict(spec.resources), pipeline_run_id=self.run.id, item=item,
            tables=tables,
        )
        self.active[name] = _Active(n, item, run_id, key, time.time(), task, parts=parts,
                                    reason=reason)
        executor.submit(task)

    def _reuse_or_lookup(self, n: Node, item: int | None, name: str, key: str,
                         parts: dict[str, Any], refs: dict[str, Ref]) -> str | None:
        """Record a reuse or cache hit and return None; else the reason the step runs."""
        if name in self.reuse:
            earlier = self.reuse[name]
            if earlier.cache_key == key:
                lookup = CacheLookup(earlier.step_run_id, earlier.outputs,
                                     f"reused by resume: same key as step run "
                                     f"{earlier.step_run_id}")
                self._record_cached(n, item, key, parts, refs, lookup)
                return None
            self.changed.append(name)
            return (f"miss: resume re-runs it, its key changed since step run "
                    f"{earlier.step_run_id}")
        if not self.opts.cache:
            return "miss: the cache is off for this run (--no-cache)"
        if not n.spec.cache:
            return "miss: the step is not cacheable (@step(cache=False))"
        lookup = find_cached(self.store, self.run.artifacts.blobs, key)
        if lookup.hit:
            self._record_cached(n, item, key, parts, refs, lookup)
            return None
        return lookup.reason

    def _record_cached(self, n: Node, item: int | None, key: str, parts: dict[str, Any],
                       refs: dict[str, Ref], lookup: CacheLookup) -> None:
        name = step_name(n.name, item)
        source, outputs = lookup.step_run_id, lookup.outputs or {}
        run_id = self.store.create_run(
            name, experiment=self.run.experiment, kind="step", parent_id=self.run.id,
            status="CACHED")
        self.store.log_params(run_id, self.params[n.name])
        self._lineage(run_id, "consumed", refs)
        self._table_lineage(run_id, n)
        self._read_lineage(run_id, lookup.reads)
        why = "cache hit" if lookup.reason.startswith("hit") else "reused by resume"
        self._lineage(run_id, "produced", outputs, note=f"{why}: produced by step run {source}")
        record_step(self.store, StepRow(run_id, self.run.id, n.name, item, key,
                                        n.spec.cache, "CACHED", 0, encode_outputs(outputs),
                                        source, parts, lookup.reads, lookup.reason))
        self._report(StepResult(name, n.name, item, run_id, "CACHED", 0.0, 0))
        self._item_done(n, item, outputs)

    # -- outcomes --------------------------------------------------------------

    def _handle(self, outcome: StepOutcome) -> None:
        active = self.active.get(outcome.key)
        if active is None:
            return  # ended meanwhile (killed)
        n = active.node
        if outcome.ok:
            self._lineage(active.run_id, "produced", dict(outcome.outputs))
            record_step(self.store, StepRow(
                active.run_id, self.run.id, n.name, active.item, active.key, n.spec.cache,
                "FINISHED", active.attempts, encode_outputs(dict(outcome.outputs)), None,
                active.parts, tuple(dict(r) for r in outcome.reads), active.reason))
            self._end(active, "FINISHED", None)
            self._item_done(n, active.item, dict(outcome.outputs))
            return
        retryable = _retryable(n, outcome)
        if retryable and active.attempts <= n.spec.retries:
            delay = n.spec.backoff(active.attempts)
            self._console(active, f"lockgate: attempt {active.attempts} of "
                                  f"{n.spec.retries + 1} failed ({outcome.summary}); retrying "
                                  f"in {delay:.2f} s")
            active.attempts += 1
            active.task = active.task.retry()
            heapq.heappush(self.delayed, (time.monotonic() + delay, outcome.key, active.task))
            return
        if not retryable and n.spec.retries and active.attempts <= n.spec.retries:
            self._console(active, f"lockgate: not retried: {outcome.summary or 'the failure'}"
                                  " is not transient under the step's retry policy "
                                  "(@step(retry_on=...)).")
        record_step(self.store, StepRow(
            active.run_id, self.run.id, n.name, active.item, active.key, n.spec.cache,
            outcome.state, active.attempts, None, None, active.parts,
            tuple(dict(r) for r in outcome.reads), active.reason))
        self._end(active, outcome.state, outcome.error)
        self._fail_node(n)

    def _console(self, active: _Active, text: str) -> None:
        self.store.append_console([{"run_id": active.run_id, "stream": "stderr",
                                    "timestamp": time.time(), "text": text + "\n"}])

    def _end(self, active: _Active, status: str, error: str | None) -> None:
        del self.active[active.task.key]
        self._heartbeat.discard(active.run_id)
        self.store.end_run(active.run_id, status, error)
        result = StepResult(active.task.key, active.node.name, active.item, active.run_id,
                            status, time.time() - active.started, active.attempts, error)
        self._report(result)

    def _item_done(self, n: Node, item: int | None, outputs: dict[str, Ref]) -> None:
        self.items[n.name][item or 0] = outputs
        self.open_items[n.name] -= 1
        if self.open_items[n.name] == 0 and self.state[n.name] == "running":
            self._complete(n)

    def _complete(self, n: Node) -> None:
        self.state[n.name] = "done"
        done = [o for o in self.items[n.name] if o is not None]
        for output in n.outputs:
            if n.map_over is None:
                self.available[output] = done[0][output]
            else:
                self.available[output] = tuple(_single(o[output]) for o in done)

    def _fail_node(self, n: Node) -> None:
        if self.state[n.name] == "failed":
            return
        self.state[n.name] = "failed"
        downstream = self.pipeline.downstream(n.name)
        for d in self.pipeline.nodes:
            if d.name in downstream and self.state[d.name] == "waiting":
                self.state[d.name] = "skipped"
                error = f"Skipped: upstream step `{n.name}` failed."
                run_id = self.store.create_run(
                    d.name, experiment=self.run.experiment, kind="step", parent_id=self.run.id,
                    status="SKIPPED")
                self.store.end_run(run_id, "SKIPPED", error)
                record_step(self.store, StepRow(run_id, self.run.id, d.name, None, "",
                                                d.spec.cache, "SKIPPED", 0, None, None))
                self._report(StepResult(d.name, d.name, None, run_id, "SKIPPED", 0.0, 0, error))

    # -- helpers ---------------------------------------------------------------

    def _release_delayed(self) -> None:
        now = time.monotonic()
        while self.delayed and self.delayed[0][0] <= now:
            _, _, task = heapq.heappop(self.delayed)
            self._executor_for().submit(task)

    def _poll_timeout(self) -> float:
        if not self.delayed:
            return _POLL_SECONDS
        return max(0.0, min(_POLL_SECONDS, self.delayed[0][0] - time.monotonic()))

    def _executor_for(self) -> Executor:
        if self._executor is None:
            chosen = self.opts.executor
            self._executor = chosen if not isinstance(chosen, str) else make_executor(
                chosen, address=self.opts.address, max_workers=self.opts.max_workers)
        return self._executor

    def _libs_of(self, n: Node) -> dict[str, str]:
        if n.name not in self._libs:
            self._libs[n.name] = libraries(n.func)
        return self._libs[n.name]

    def _table_lineage(self, run_id: str, n: Node) -> None:
        for table, dv in self.tables.get(n.name, {}).items():
            self.store.add_lineage(run_id, "consumed", dataset_version_id=dv.id,
                                   role=f"input {table}", note=f"declared input, pinned {dv.ref}")

    def _read_lineage(self, run_id: str, reads: tuple[dict[str, Any], ...]) -> None:
        for read in reads:
            try:
                dv = self.store.dataset_version(str(read["table"]), int(read["version"]))
            except LookupError:
                continue
            self.store.add_lineage(run_id, "consumed", dataset_version_id=dv.id,
                                   role=f"read {dv.ref}", note="read by lg.data.read (cached)")

    def _code_of(self, n: Node) -> str:
        if n.name not in self._code:
            self._code[n.name] = code_hash(n.func)
        return self._code[n.name]

    def _address_of(self, n: Node) -> tuple[str, str, str | None, str | None]:
        # Once per node and run (it hashes the step's file), like the code hash: every
        # item and retry of a step then runs the code the run started with.
        if n.name not in self._address:
            self._address[n.name] = function_address(n.func)
        return self._address[n.name]

    def _lineage(self, run_id: str, direction: str, refs: Mapping[str, Ref],
                 note: str | None = None) -> None:
        for role, ref in refs.items():
            if isinstance(ref, ArtifactRecord):
                self.store.add_lineage(run_id, direction, artifact_id=ref.id, role=role,
                                       note=note)
                continue
            for i, record in enumerate(ref):
                self.store.add_lineage(run_id, direction, artifact_id=record.id,
                                       role=f"{role}[{i}]", note=note)

    def _report(self, result: StepResult) -> None:
        self.results.append(result)
        if self.opts.observer is not None:
            self.opts.observer(result)


def _retryable(n: Node, outcome: StepOutcome) -> bool:
    """The step's retry policy applied to a failed attempt: a timeout counts as a
    ``TimeoutError``, a dead worker as a ``ConnectionError``; an exception was judged by
    the worker, which had it."""
    if outcome.state == "TIMED_OUT":
        return n.spec.retries_on(TimeoutError)
    if outcome.died:
        return n.spec.retries_on(ConnectionError)
    return outcome.retryable


def _latest_tables(pipeline: Pipeline,
                   tables: Mapping[str, Mapping[str, DatasetVersion]]) -> dict[str, int]:
    """``{table: version}`` that ``@latest`` declarations resolved to (resume pins them)."""
    found = {}
    for n in pipeline.nodes:
        for ref in n.spec.inputs:
            table, version = table_inputs.parse(ref)
            if version is None and table in tables.get(n.name, {}):
                found[table] = tables[n.name][table].version
    return found


def _check_inputs(pipeline: Pipeline, inputs: Mapping[str, Any]) -> None:
    free = pipeline.free_inputs
    missing = sorted(free - set(inputs))
    unknown = sorted(set(inputs) - free)
    problems = []
    for name in missing:
        users = [n.name for n in pipeline.nodes if name in n.inputs.values()]
        problems.append(f"input `{name}` (read by {', '.join(users)}) is produced by no step; "
                        f"pass it as `inputs={{'{name}': ...}}` or add a step that outputs it")
    for name in unknown:
        problems.append(f"`{name}` is not a free input of pipeline `{pipeline.name}`"
                        + (f" (free inputs: {', '.join(sorted(free))})" if free else ""))
    if problems:
        raise PipelineError("; ".join(problems) + ".")


def _shas(ref: Ref) -> str | list[str]:
    return ref.sha256 if isinstance(ref, ArtifactRecord) else [r.sha256 for r in ref]


def _single(ref: Ref) -> ArtifactRecord:
    if isinstance(ref, ArtifactRecord):
        return ref
    raise PipelineError("A fan-out step's output must be one value per item, not a list "
                        "feeding another fan-out; gather it in a step first.")


def step_name(node: str, item: int | None) -> str:
    return node if item is None else f"{node}[{item}]"


def _is_object(executor: str | Executor) -> bool:
    return not isinstance(executor, str)


def _executor_name(opts: RunOptions) -> str:
    executor = opts.executor
    return executor if isinstance(executor, str) else getattr(executor, "name", "custom")
