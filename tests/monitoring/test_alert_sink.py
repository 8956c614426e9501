"""Sinks against the real thing: a webhook server on 127.0.0.1 that fails the first
attempt, a JSONL file, the log."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lockgate.monitoring import AlertDeliveryError, AlertEvent, JsonlSink, LogSink, WebhookSink

LOOPBACK = ("127.0.0.1",)  # the receiver runs here; webhooks are public-only by default


class _Receiver(ThreadingHTTPServer):
    """Answers the first ``fail_first`` POSTs with ``fail_status`` (or hangs ``delay``)."""

    def __init__(self, fail_first: int, fail_status: int = 503, delay: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay = delay
        self.attempts = 0
        self.accepted: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.attempts += 1
        if self.server.delay:
            time.sleep(self.server.delay)
        if self.server.attempts <= self.server.fail_first:
            self.send_response(self.server.fail_status)
            self.end_headers()
            return
        self.server.accepted.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[_Receiver]:
    server = _Receiver(*getattr(request, "param", (1,)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _event(kind: str = "alert") -> AlertEvent:
    return AlertEvent(kind=kind, incident_id=7, model_name="churn", rule="drift",
                      measure="drift.max_psi", severity="warning", value=0.41, threshold=0.25,
                      op=">", window_start=0.0, window_end=3600.0, samples=1200,
                      message="drift firing", root_cause={"summary": "amount drifted"})


def test_webhook_retries_after_a_failed_first_attempt(receiver: _Receiver) -> None:
    WebhookSink(receiver.url, allow=LOOPBACK, retries=2, backoff=0.01, timeout=2).send(_event())
    assert receiver.attempts == 2
    assert receiver.accepted[0]["rule"] == "drift"
    assert receiver.accepted[0]["root_cause"] == {"summary": "amount drifted"}


@pytest.mark.parametrize("receiver", [(10,)], indirect=True)
def test_webhook_gives_up_after_its_retries(receiver: _Receiver) -> None:
    with pytest.raises(AlertDeliveryError, match=r"after 3 attempt\(s\): attempt 1: HTTP 503"):
        WebhookSink(receiver.url, allow=LOOPBACK, retries=2, backoff=0.01).send(_event())
    assert receiver.attempts == 3


@pytest.mark.parametrize("receiver", [(10, 400)], indirect=True)
def test_webhook_does_not_retry_a_refused_payload(receiver: _Receiver) -> None:
    with pytest.raises(AlertDeliveryError, match="HTTP 400"):
        WebhookSink(receiver.url, allow=LOOPBACK, retries=3, backoff=0.01).send(_event())
    assert receiver.attempts == 1


@pytest.mark.parametrize("receiver", [(0, 503, 1.0)], indirect=True)
def test_webhook_times_out(receiver: _Receiver) -> None:
    # The receiver answers 503 after 1 s: a ReadTimeout (not "HTTP 503") proves the sink
    # gave up at its 0.2 s timeout, however loaded the machine (no clock is asserted).
    with pytest.raises(AlertDeliveryError, match="ReadTimeout") as raised:
        WebhookSink(receiver.url, allow=LOOPBACK, retries=0, timeout=0.2).send(_event())
    assert "HTTP 503" not in str(raised.value)


def test_webhook_to_a_closed_port() -> None:
    with pytest.raises(AlertDeliveryError, match="ConnectError"):
        WebhookSink("http://127.0.0.1:9/alerts", allow=LOOPBACK, retries=1,
                    backoff=0.01).send(_event())


def test_jsonl_appends_whole_lines(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "deep" / "alerts.jsonl")
    sink.send(_event())
    sink.send(_event("resolve"))
    lines = (tmp_path / "deep" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["alert", "resolve"]


def test_jsonl_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(AlertDeliveryError, match="Cannot append the alert"):
        JsonlSink(blocker / "alerts.jsonl").send(_event())


def test_log_sink(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lockgate.monitoring.alerts"):
        LogSink().send(_event())
        LogSink().send(_event("resolve"))
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "[ALERT] churn/drift" in caplog.records[0].getMessage()
