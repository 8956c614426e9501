"""SSRF: alert webhooks aimed at loopback, private, link-local and metadata addresses, in
every spelling, directly and through a redirect, against a real receiver on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lockgate.monitoring import AlertDeliveryError, AlertEvent, WebhookSink
from lockgate.monitoring.alert_sink import parse_sinks
from lockgate.security import OutboundPolicy, OutboundURLError


class _Receiver(ThreadingHTTPServer):
    """Counts every request; ``/redirect`` answers 307 to the metadata service."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        self.server.hits.append(self.path)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/redirect":
            self.send_response(307)
            self.send_header("location", "http://169.254.169.254/latest/meta-data/")
        else:
            self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _event() -> AlertEvent:
    return AlertEvent(kind="alert", incident_id=1, model_name="churn", rule="drift",
                      measure="drift.max_psi", severity="warning", value=0.4, threshold=0.25,
                      op=">", window_start=0.0, window_end=1.0, samples=10, message="x")


SPELLINGS = ["127.0.0.1", "localhost", "0x7f000001", "2130706433", "127.1", "0177.0.0.1",
             "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"]


@pytest.mark.parametrize("host", SPELLINGS)
def test_loopback_in_every_spelling_is_never_called(receiver: _Receiver, host: str) -> None:
    sink = WebhookSink(f"http://{host}:{receiver.port}/hook", retries=0)
    with pytest.raises(AlertDeliveryError, match="Refusing to call"):
        sink.send(_event())
    assert receiver.hits == []


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
    "http://10.0.0.1/hook", "http://192.168.1.1/hook", "http://172.16.0.1/hook",
    "http://100.64.0.1/hook", "http://[fe80::1]/hook", "http://224.0.0.1/hook",
    "file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL"])
def test_private_and_metadata_targets_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(OutboundURLError, match="Refusing to call"):
        OutboundPolicy().check(url)


def test_the_metadata_service_is_named_in_the_refusal() -> None:
    with pytest.raises(OutboundURLError, match="cloud metadata endpoint"):
        OutboundPolicy().check("http://169.254.169.254/latest/meta-data/iam")


def test_a_redirect_to_the_metadata_service_is_not_followed(receiver: _Receiver) -> None:
    sink = WebhookSink(f"http://127.0.0.1:{receiver.port}/redirect", retries=0,
                       allow=("127.0.0.1",))
    with pytest.raises(AlertDeliveryError, match=r"redirects are not followed"):
        sink.send(_event())
    assert receiver.hits == ["/redirect"]


def test_the_operator_opens_a_receiver_explicitly(receiver: _Receiver,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hook"
    WebhookSink(url, retries=0, allow=("127.0.0.0/8",)).send(_event())
    monkeypatch.setenv("LOCKGATE_OUTBOUND_ALLOW", "127.0.0.1")
    WebhookSink(url, retries=0).send(_event())
    assert receiver.hits == ["/hook", "/hook"]


def test_sink_config_takes_an_allow_list(receiver: _Receiver) -> None:
    sinks, problems = parse_sinks([{"type": "webhook", "retries": 0, "allow": ["127.0.0.1"],
                                    "url": f"http://127.0.0.1:{receiver.port}/hook"}])
    assert problems == []
    sinks[0].send(_event())
    _, problems = parse_sinks([{"type": "webhook", "url": "http://x", "allow": "10.0.0.1"}])
    assert problems and "`allow` must be a list" in problems[0]
