"""Runs: the tracking API. ``start_run`` opens a run that records params, metrics,
artifacts, notes, console output, hardware, code version and environment.

    import lockgate as lg
    with lg.start_run("baseline", experiment="churn", params={"lr": 0.1}) as run:
        run.log_metric("loss", 0.3, step=1)

Metrics are buffered and written in batches (every second, at the end, on exception
and at interpreter exit). NaN and ±inf are stored faithfully, not refused: a diverging
loss is exactly what a person wants to see recorded.

How a run ends decides its state (the table is in docs/tracking.md): FINISHED only when
its ``with`` block ends normally (or by ``sys.exit(0)``) or on ``run.end("FINISHED")``;
an exception or a non-zero ``SystemExit`` is FAILED with the traceback or the code;
Ctrl-C and SIGTERM are KILLED; a run still open when the interpreter exits is FAILED
(it never said it finished); a process that dies without running Python (SIGKILL, out
of memory) is CRASHED on read once its heartbeat is older than two intervals.
"""

from __future__ import annotations

import atexit
import contextlib
import numbers
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from lockgate.artifacts import ArtifactStore, allowlist, blob_store_for
from lockgate.config import Settings, load_settings
from lockgate.errors import TrackingError
from lockgate.store import ArtifactRecord, CodeVersion, DatasetVersion, Store
from lockgate.store.repository import encode_param
from lockgate.tracking.console import ConsoleBuffer, ConsoleCapture
from lockgate.tracking.environment import capture_environment, git_state
from lockgate.tracking.recorder import FlushReport, MetricBuffer, Recorder
from lockgate.user_types import FrameLike

_ACTIVE: list[Run] = []
_ACTIVE_LOCK = threading.RLock()  # re-entrant: a signal handler may need it
_UNCAUGHT: list[BaseException] = []
_SIGNAL_LOCK = threading.Lock()
_PREVIOUS_HANDLERS: dict[int, Any] = {}
_HANDLER_PID: list[int] = []  # the process that installed the SIGTERM handler

#: At interpreter exit or on a signal, the most a run's last flush and close may take
#: (a `lockgate server` that is down must not hang the process).
EXIT_SECONDS = 10.0

#: The states a run can end in (``Run.end``); CRASHED is decided on read, never written.
EndStatus = Literal["FINISHED", "FAILED", "KILLED", "TIMED_OUT", "SKIPPED", "CACHED"]


class Run:
    """A live run. Create it with :func:`start_run`; use it as a context manager."""

    def __init__(
        self,
        run_id: str,
        *,
        name: str,
        experiment: str,
        settings: Settings,
        store: Store,
        capture_console: bool = True,
        sample_hardware: bool = True,
    ) -> None:
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self.settings = settings
        self.store = store
        blobs = blob_store_for(settings.resolved_artifact_root, store=store)
        self.artifacts = ArtifactStore(store, blobs, allowlist(settings))
        self.status = "RUNNING"
        self._steps: dict[str, int] = {}
        self._kill_hooks: list[Callable[[str, str], None]] = []
        self._metrics = MetricBuffer()
        self._console_buffer = ConsoleBuffer(run_id) if capture_console else None
        self._capture = ConsoleCapture(self._console_buffer) if self._console_buffer else None
        self._recorder = Recorder(
            store, run_id, metrics=self._metrics, console=self._console_buffer,
            flush_seconds=settings.metric_flush_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
            hardware_seconds=settings.hardware_seconds if sample_hardware else None,
        )

    # -- lifecycle ---------------------------------------------------------------

    def _begin(self) -> None:
        if self._capture is not None:
            self._capture.start()
        self._recorder.start()
        with _ACTIVE_LOCK:
            _ACTIVE.append(self)
        _install_signal_handlers()

    def on_kill(self, hook: Callable[[str, str], None]) -> None:
        """Call ``hook(status, reason)`` when a signal kills this run (before the run
        itself is closed), e.g. to close child runs and stop workers."""
        self._kill_hooks.append(hook)

    def end(self, status: EndStatus | str = "FINISHED", error: str | None = None, *,
            timeout: float | None = None) -> FlushReport | None:
        """Flush everything buffered and close the run with ``status``.

        ``timeout`` bounds the whole end (used at interpreter exit and on signals, so a
        `lockgate server` that is down cannot hang the process): what was not written
        is reported on stderr and returned, not raised.
        """
        if self.status != "RUNNING":
            return None
        self.status = status
        if self._capture is not None:
            self._capture.stop()
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
        if timeout is None:
            try:
                return self._recorder.stop()
            finally:
                self.store.end_run(self.id, status, error)
        started = time.monotonic()
        report = self._recorder.stop(timeout=timeout)
        if not report.complete:
            print(f"lockgate: {report.pending + report.dropped} metric point(s) of run "
                  f"{self.id} were not stored ({report.error or 'buffer full'}).",
                  file=sys.__stderr__)
        remaining = max(0.5, timeout - (time.monotonic() - started))
        deadline = getattr(self.store, "deadline", None)
        with deadline(remaining) if deadline else contextlib.nullcontext():
            self.store.end_run(self.id, status, error)
        return report

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        status, error = exit_state(exc)
        self.end(status, error=error)

    # -- params, metrics, tags, notes ----------------------------------------

    def log_console_line(self, text: str) -> None:
        """Add a line to the run's console log without printing it (progress events:
        the screen shows bars, the log keeps what a reader needs)."""
        if self._console_buffer is not None:
            self._console_buffer.append("stdout", text if text.endswith("\n") else text + "\n")

    def log_param(self, key: str, value: object) -> None:
        """Record one parameter (any JSON-serialisable value)."""
        self.store.log_params(self.id, {key: value})

    def log_params(self, values: Mapping[str, object]) -> None:
        """Record several parameters."""
        self.store.log_params(self.id, dict(values))

    def log_metric(self, key: str, value: float, step: int | None = None,
                   timestamp: float | None = None) -> None:
        """Buffer one metric point; ``step`` defaults to one more than the key's last step.

        Raises:
            TrackingError: the value is not a real number (str, None, complex...).
        """
        if type(value) is not float:
            value = _as_float(key, value)
        if step is None:
            step = self._steps.get(key, -1) + 1
        self._steps[key] = step
        self._metrics.append(key, step, time.time() if timestamp is None else timestamp, value)

    def log_metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Buffer several metric points at the same step."""
        for key, value in values.items():
            self.log_metric(key, value, step=step)

    def set_tag(self, key: str, value: object) -> None:
        """Set a tag (stored as text; filterable in ``lockgate runs list --tag k=v``)."""
        self.store.set_tags(self.id, {key: value})

    def set_tags(self, values: Mapping[str, object]) -> None:
        """Set several tags."""
        self.store.set_tags(self.id, dict(values))

    def note(self, text: str, author: str | None = None) -> None:
        """Attach a free-text note, e.g. an observation about the run."""
        self.store.add_note(self.id, text, author)

    def flush(self, timeout: float | None = None) -> FlushReport:
        """Write buffered metrics and console output now (done every second anyway).

        Without ``timeout`` a failure raises. With it, the flush gives up after
        ``timeout`` seconds and returns what it could not send (``pending``; ``dropped``
        counts points the bounded buffer let go during a long outage); the points stay
        buffered and are sent by a later flush, once, under the same request id.
        """
        return self._recorder.flush(raise_errors=timeout is None, timeout=timeout)

    # -- artifacts and lineage -------------------------------------------------

    def log_artifact(self, path: str | Path, name: str | None = None) -> ArtifactRecord:
        """Store a file as an artifact of this run."""
        record = self.artifacts.save_file(path, name=name, run_id=self.id)
        self.store.add_lineage(self.id, "produced", artifact_id=record.id, role=record.name)
        return record

    def log_value(self, value: object, name: str) -> ArtifactRecord:
        """Store any value a materializer handles (frame, array, estimator, dict...)."""
        record = self.artifacts.save(value, name, run_id=self.id)
        self.store.add_lineage(self.id, "produced", artifact_id=record.id, role=name)
        return record

    def log_frame(self, frame: FrameLike, name: str) -> ArtifactRecord:
        """Store a Polars or pandas frame as Parquet."""
        return self.log_value(frame, name)

    def log_figure(self, figure: object, name: str) -> ArtifactRecord:
        """Store a Plotly figure as Plotly JSON (the dashboard renders it)."""
        return self.log_value(figure, name)

    def log_text(self, text: str, name: str) -> ArtifactRecord:
        """Store a text artifact."""
        if not isinstance(text, str):
            raise TrackingError(f"log_text(`{name}`) needs a str, got {type(text).__name__}.")
        return self.log_value(text, name)

    def log_dict(self, values: Mapping[str, object], name: str) -> ArtifactRecord:
        """Store a dict as JSON."""
        return self.log_value(dict(values), name)

    def consumed(self, item: ArtifactRecord | DatasetVersion, role: str | None = None,
                 note: str | None = None) -> None:
        """Record that this run read an artifact or a dataset version."""
        self._lineage("consumed", item, role, note)

    def produced(self, item: ArtifactRecord | DatasetVersion, role: str | None = None,
                 note: str | None = None) -> None:
        """Record that this run wrote an artifact or a dataset version."""
        self._lineage("produced", item, role, note)

    def _lineage(self, direction: str, item: ArtifactRecord | DatasetVersion,
                 role: str | None, note: str | None) -> None:
        if isinstance(item, DatasetVersion):
            self.store.add_lineage(self.id, direction, dataset_version_id=item.id,
                                   role=role or item.ref, note=note)
        else:
            self.store.add_lineage(self.id, direction, artifact_id=item.id,
                                   role=role or item.name, note=note)


def start_run(
    name: str,
    *,
    experiment: str = "default",
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    parent: Run | str | None = None,
    kind: str = "run",
    settings: Settings | None = None,
    capture_console: bool = True,
    sample_hardware: bool = True,
    capture_code: bool = True,
) -> Run:
    """Start a tracked run.

    Args:
        name: human name of the run ("baseline").
        experiment: experiment the run belongs to; created on first use.
        params: parameters recorded before any work starts.
        tags: tags to set.
        parent: parent run (pipeline steps are children of their pipeline run).
        kind: "run", "pipeline" or "step".
        settings: explicit settings; default reads env / lockgate.yaml.
        capture_console: copy stdout/stderr into the run's console log.
        sample_hardware: sample CPU / memory / GPU in the background.
        capture_code: record git state (diff as an artifact) and the environment.

    Returns:
        The started :class:`Run`; use it in a ``with`` block or call ``end()``.

    Raises:
        TrackingError: a parameter is not JSON-serialisable (nothing is recorded).
        StoreError: the metadata store cannot be used.
    """
    settings = settings or load_settings()
    store = Store.open(settings)
    if params:
        for key, value in params.items():  # refuse before creating anything
            encode_param(key, value)
    parent_id = parent.id if isinstance(parent, Run) else parent
    run_id = store.create_run(
        name, experiment=experiment, kind=kind, parent_id=parent_id,
        heartbeat_seconds=settings.heartbeat_seconds,
    )
    run = Run(run_id, name=name, experiment=experiment, settings=settings, store=store,
              capture_console=capture_console, sample_hardware=sample_hardware)
    try:
        if params:
            run.log_params(params)
        if tags:
            run.set_tags(tags)
        if capture_code:
            _record_code_and_environment(run)
    except BaseException as exc:
        store.end_run(run_id, "FAILED", error=f"{type(exc).__name__}: {exc}")
        raise
    run._begin()
    return run


def active_run() -> Run | None:
    """The innermost run started in this process and not yet ended."""
    with _ACTIVE_LOCK:
        return _ACTIVE[-1] if _ACTIVE else None


def _record_code_and_environment(run: Run) -> None:
    commit, branch, dirty, root, diff = git_state()
    diff_id = None
    if diff:
        diff_id = run.artifacts.save(diff, "code.diff", run_id=run.id).id
    run.store.set_code_version(run.id, CodeVersion(commit, branch, dirty, root, diff_id))
    run.store.set_environment(run.id, capture_environment(run.settings.public_dict()))


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TrackingError(
            f"Metric `{key}` got {value!r:.60} of type {type(value).__name__}; metrics must "
            "be real numbers (int, float, numpy scalar). Log text with `run.note` or "
            "`run.set_tag` instead."
        )
    return float(value)  # NaN and ±inf included: they are stored faithfully


def exit_state(exc: BaseException | None) -> tuple[str, str | None]:
    """The state a run ends in when its block is left with ``exc`` (None: normally).

    ``sys.exit(0)`` / ``sys.exit()`` is the program saying it succeeded: FINISHED. Any
    other ``SystemExit`` is FAILED with its code; Ctrl-C (KeyboardInterrupt) is KILLED;
    every other exception is FAILED with its traceback.
    """
    if exc is None:
        return "FINISHED", None
    if isinstance(exc, SystemExit):
        if exc.code in (None, 0):
            return "FINISHED", None
        return "FAILED", f"SystemExit: the program exited with code {exc.code!r}."
    if isinstance(exc, KeyboardInterrupt):
        return "KILLED", "KeyboardInterrupt: interrupted (SIGINT / Ctrl-C)."
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "FAILED", text


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    _UNCAUGHT.append(exc)
    _previous_excepthook(exc_type, exc, tb)


def _end_active_runs_at_exit() -> None:
    """Runs left open at interpreter exit are flushed and closed, never left RUNNING and
    never FINISHED: nothing said they finished (``sys.exit`` and the end of a script look
    the same from here)."""
    with _ACTIVE_LOCK:
        runs = list(reversed(_ACTIVE))
    for run in runs:
        if _UNCAUGHT:
            status, error = exit_state(_UNCAUGHT[-1])
            if status == "FINISHED":  # an uncaught SystemExit(0) never reaches the hook
                status, error = "FAILED", None
        else:
            status, error = "FAILED", (
                "The process exited with the run still open (sys.exit or the end of the "
                "script) before `run.end()` was called; end runs with `run.end()` or a "
                "`with lg.start_run(...)` block so they can be recorded FINISHED.")
        try:
            run.end(status, error, timeout=EXIT_SECONDS)
        except Exception as exc:  # the store may be gone at exit; say so, do not hide it
            print(f"lockgate: could not close run {run.id} at exit: {exc}", file=sys.__stderr__)


def _install_signal_handlers() -> None:
    """SIGTERM ends every open run KILLED, then is delivered again as before (default:
    the process dies of it). Installed once, from the main thread only, over the default
    handler or a Python one (which is then called after the runs are closed)."""
    if threading.current_thread() is not threading.main_thread():
        return
    with _SIGNAL_LOCK:
        if signal.SIGTERM in _PREVIOUS_HANDLERS:
            return
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN or previous is None:
            return
        _PREVIOUS_HANDLERS[signal.SIGTERM] = previous
        _HANDLER_PID[:] = [os.getpid()]
        signal.signal(signal.SIGTERM, _on_terminate)


def _on_terminate(signum: int, frame: Any) -> None:
    if [os.getpid()] == _HANDLER_PID:  # a forked child owns none of the parent's runs
        name = signal.Signals(signum).name
        kill_active_runs(f"{name}: the process was asked to stop (signal {signum}).")
    previous = _PREVIOUS_HANDLERS.pop(signum, signal.SIG_DFL)
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
        return
    os.kill(os.getpid(), signum)  # die of the signal, as without lockgate


def kill_active_runs(reason: str) -> None:
    """End every open run of this process KILLED (its kill hooks first)."""
    with _ACTIVE_LOCK:
        runs = list(reversed(_ACTIVE))
    for run in runs:
        for hook in run._kill_hooks:
            with contextlib.suppress(Exception):
                hook("KILLED", reason)
        try:
            run.end("KILLED", reason, timeout=EXIT_SECONDS)
        except Exception as exc:  # say so, do not hide it
            print(f"lockgate: could not close run {run.id}: {exc}", file=sys.__stderr__)


def _forget_runs_in_child() -> None:
    """A forked child (a multiprocessing worker) did not start its parent's runs: it must
    not end them, at exit or on SIGTERM (its locks may be copies held by other threads)."""
    global _ACTIVE_LOCK
    _ACTIVE_LOCK = threading.RLock()
    _ACTIVE.clear()
    _UNCAUGHT.clear()


_previous_excepthook = sys.excepthook
os.register_at_fork(after_in_child=_forget_runs_in_child)
sys.excepthook = _excepthook
atexit.register(_end_active_runs_at_exit)
