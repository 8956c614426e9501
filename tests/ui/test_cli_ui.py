"""``lockgate ui``: refuses unsafe binds, and serves the dashboard when started."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lockgate.cli.main import main


def test_refuses_public_bind_without_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "Refusing to start lockgate ui on 0.0.0.0" in err
    assert "LOCKGATE_UI_TOKEN" in err and "Traceback" not in err


def test_refuses_short_token(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_UI_TOKEN", "abc")
    assert main(["ui", "--port", "0"]) == 1
    assert "use at least 16 random characters" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serves_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "LOCKGATE_HOME": str(tmp_path / ".lockgate")}
    process = subprocess.Popen(
        [sys.executable, "-m", "lockgate.cli.main", "ui", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 180  # a hang guard: a loaded machine starts slowly
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
                break
            except httpx.TransportError:
                if time.time() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        assert response.status_code == 200
        assert "No runs recorded yet" in response.text
        rebound = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "evil.example"},
                            timeout=30)
        assert rebound.status_code == 403
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0]
    assert f"http://127.0.0.1:{port}/" in output
    assert "read-only; to edit notes set LOCKGATE_UI_TOKEN" in output
