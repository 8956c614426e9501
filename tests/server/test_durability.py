"""The client when the server goes away: a bounded buffer, ``flush(timeout)`` that
returns and says what was not sent, no hang at exit, and retried batches stored once.
The server is a real ``lockgate server start`` process, killed with SIGKILL and
restarted on the same port."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import lockgate as lg
from lockgate.config import Settings
from lockgate.security import accounts
from lockgate.serving.server import free_port
from lockgate.store import Store
from lockgate.store.remote import RemoteStore
from lockgate.tracking.recorder import MetricBuffer
from tests.conftest import make_settings

SRC = str(Path(lg.__file__).parents[1])


class ServerProcess:
    """``lockgate server start`` on a fixed free port, restartable."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port, self.proc = home, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": SRC, "LOCKGATE_HOME": str(self.home)}
        env.pop("LOCKGATE_TRACKING_URI", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lockgate.cli.main", "server", "start", "--port",
             str(self.port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("lockgate server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ServerProcess,
                                                                            Settings]]:
    home = tmp_path / "server-home"
    store = Store.open(make_settings(home))
    accounts.init_admin(store)
    accounts.create_user(store, "job", "writer")
    monkeypatch.setenv("LOCKGATE_TOKEN", accounts.issue_token(store, "job"))
    store.close()
    server = ServerProcess(home, free_port())
    server.start()
    client = dataclasses.replace(make_settings(tmp_path / ".lockgate"), tracking_uri=server.url,
                                 metric_flush_seconds=60.0)  # flushes happen when we say
    try:
        yield server, client
    finally:
        Store.close_all(server.url)
        if server.proc is not None and server.proc.poll() is None:
            server.kill()


def _stored(server: ServerProcess, run_id: str) -> int:
    return len(Store.open(make_settings(server.home)).metrics(run_id, "loss"))


def test_flush_reports_what_a_dead_server_did_not_take_and_sends_it_once_later(
        live: tuple[ServerProcess, Settings]) -> None:
    server, settings = live
    run = lg.start_run("outage", settings=settings, capture_code=False, sample_hardware=False)
    for step in range(100):
        run.log_metric("loss", 1.0 / (step + 1))
    assert run.flush(timeout=30).sent == 100
    server.kill()
    for step in range(100, 150):
        run.log_metric("loss", 1.0 / (step + 1))
    down = run.flush(timeout=1.0)  # returns, does not raise or hang
    assert (down.sent, down.pending, down.dropped) == (0, 50, 0)
    assert down.error and "did not answer" in down.error
    server.start()
    up = run.flush(timeout=60)  # (or the run's own background flush got there first)
    assert up.complete and up.error is None
    run.end()
    assert _stored(server, run.id) == 150  # nothing twice, nothing lost
    assert Store.open(settings).get_run(run.id).status == "FINISHED"


def test_a_retried_batch_is_stored_once(live: tuple[ServerProcess, Settings]) -> None:
    """The answer to a stored batch is lost; the client sends it again with the same
    request id: the server answers from its record and stores nothing more."""
    server, settings = live
    store = Store.open(settings)
    assert isinstance(store, RemoteStore)
    run_id = store.create_run("retry")
    rows = [(run_id, "loss", step, time.time(), 0.5) for step in range(10)]
    for _ in range(3):
        store.log_metric_tuples(rows, request_id="batch-1")
    assert _stored(server, run_id) == 10
    store.log_metric_tuples(rows, request_id="batch-2")  # another batch is another batch
    assert _stored(server, run_id) == 20


def test_the_process_does_not_hang_at_exit_when_the_server_is_down(
        live: tuple[ServerProcess, Settings], tmp_path: Path) -> None:
    server, settings = live
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, lockgate as lg
        from lockgate.config import Settings
        settings = Settings.model_validate_json({settings.model_dump_json()!r})
        run = lg.start_run("orphan", settings=settings, capture_code=False,
                           sample_hardware=False)
        run.log_metric("loss", 1.0)
        run.flush(timeout=30)
        os.kill({server.proc.pid}, signal.SIGKILL)
        for step in range(1, 20):
            run.log_metric("loss", 1.0 / step)
        print(run.id, flush=True)
        # the script ends with the run open and the server gone
    """))
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": SRC})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not stored" in done.stderr or "could not close run" in done.stderr, done.stderr
    assert time.monotonic() - started < 300  # it ended by itself (the timeout would raise)


def test_the_buffer_is_bounded_and_counts_what_it_drops() -> None:
    buffer = MetricBuffer(max_rows=5)
    for step in range(8):
        buffer.append("loss", step, 0.0, float(step))
    assert len(buffer) == 5 and buffer.dropped == 3
    rows = buffer.drain()
    assert [r[1] for r in rows] == [3, 4, 5, 6, 7]  # the newest are kept
    buffer.append("loss", 8, 0.0, 8.0)
    buffer.restore(rows)  # a failed write puts them back, still bounded
    assert len(buffer) == 5 and buffer.dropped == 4
