"""Operator output of every server: `port N is in use` before anything else; `lockgate
serve` prints a startup line (model, version, digest, address, auth), an access log and
a shutdown line; with several workers /metrics counts every worker's requests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from lockgate.config import PortInUseError, Settings, ensure_port_free
from lockgate.registry import Registry
from lockgate.serving import free_port

GOOD = {"age": 40, "income": 52000.0, "tenure": 3.5}


@pytest.fixture
def taken() -> Iterator[int]:
    """A port something is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _lockgate(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LOCKGATE_HOME": str(settings.home),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-m", "lockgate.cli.main", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_up(url: str, process: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{url}/health", timeout=2)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(process.communicate(timeout=10)) from None
            time.sleep(0.2)


def test_ensure_port_free_names_the_port(taken: int) -> None:
    with pytest.raises(PortInUseError, match=f"^port {taken} is in use on 127.0.0.1"):
        ensure_port_free("127.0.0.1", taken)
    ensure_port_free("127.0.0.1", 0)


@pytest.mark.parametrize("command", [["serve", "churn@production"], ["ui"],
                                     ["ingest", "serve"]])
def test_every_server_says_the_port_is_in_use_before_anything_else(
        world: tuple[Settings, Registry], taken: int, command: list[str]) -> None:
    settings, _ = world
    process = _lockgate(settings, *command, "--port", str(taken))
    out, err = process.communicate(timeout=180)
    assert process.returncode == 1
    assert out.strip() == ""  # no URL announced
    assert err.splitlines()[0] == (f"error: port {taken} is in use on 127.0.0.1: another "
                                   "process is listening there. Stop it, or pass another "
                                   f"port (e.g. `--port {taken + 1}`).")


def test_serve_prints_startup_access_and_shutdown_lines(world: tuple[Settings, Registry]
                                                        ) -> None:
    settings, registry = world
    port = free_port()
    process = _lockgate(settings, "serve", "churn@production", "--port", str(port),
                        "--access-log")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, process)
        assert httpx.post(f"{url}/predict", json=GOOD).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=180)
    digest = registry.get("churn", 1).package_sha256[:12]
    lines = err.splitlines()
    startup = next(line for line in lines if line.startswith("lockgate serve: churn"))
    assert f"churn@production v1 (package sha256 {digest}) on {url}" in startup
    assert "auth: none (loopback only); prediction log: on" in startup
    assert any(line.startswith("POST /predict 200 ") for line in lines)
    shutdown = lines[-1] if lines[-1].startswith("lockgate serve: stopped") else next(
        line for line in lines if line.startswith("lockgate serve: stopped"))
    assert "stopped churn v1" in shutdown and "after 1 predictions" in shutdown
    assert "0 pending" in shutdown


def test_metrics_count_every_worker(world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    port = free_port()
    process = _lockgate(settings, "serve", "churn@1", "--port", str(port), "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, process, timeout=240)  # two workers each load the model: slow when loaded
        for _ in range(30):  # new connections: the kernel spreads them over the workers
            with httpx.Client() as client:
                assert client.post(f"{url}/predict", json=GOOD).status_code == 200
        time.sleep(2.5)  # one publishing period and a margin
        totals = set()
        for _ in range(6):
            with httpx.Client() as client:
                text = client.get(f"{url}/metrics").text
            totals.add(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith("lockgate_predictions_total{")))
        assert totals == {30.0}
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=180)
    assert err.count("lockgate serve: churn v1") >= 2  # a startup line per worker (started)
