"""The connection protocols on their own, over real sockets: framing, head limits, and
the head deadline, for the httptools protocol servers run and the h11 one it replaced.

Each case is raw bytes on a socket, so what is tested is the bytes a client can send:
pipelined requests, chunked bodies, bodies and heads split across many reads,
malformed heads (a 400 and a closed connection, never a crash or a hung socket), and
heads too large or too slow.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from lockgate.security import (
    DeadlineH11Protocol,
    DeadlineHttpToolsProtocol,
    GuardPolicy,
    HttpGuard,
    ServerThread,
    server_config,
)
from lockgate.security.http_protocol import MAX_HEAD_BYTES

PROTOCOLS = {"httptools": DeadlineHttpToolsProtocol, "h11": DeadlineH11Protocol}
POLICY = GuardPolicy(server="echo", header_timeout_s=1.0, body_timeout_s=5.0)


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every request with its method, path and body, as JSON."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps({"method": scope["method"], "path": scope["path"],
                         "body": body.decode()}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module", params=list(PROTOCOLS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, ServerThread]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = server_config(HttpGuard(echo, policy=POLICY), POLICY, port=port,
                           protocol=PROTOCOLS[request.param])
    with ServerThread(config) as thread:
        yield request.param, thread


def _connect(thread: ServerThread) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", thread.config.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def _responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """Read ``count`` Content-Length responses: (status, body) each."""
    data, found = b"", []
    while len(found) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode("latin-1").split("\r\n")
            length = next(int(line.split(":", 1)[1]) for line in head
                          if line.lower().startswith("content-length:"))
            if len(data) >= end + 4 + length:
                found.append((int(head[0].split()[1]), data[end + 4:end + 4 + length]))
                data = data[end + 4 + length:]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed after {len(found)} of {count} responses")
        data += chunk
    return found


def _refusal(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _echoed(answer: tuple[int, bytes]) -> dict[str, Any]:
    status, body = answer
    assert status == 200, body
    return json.loads(body)


def test_pipelined_requests_are_answered_in_order(server: tuple[str, ServerThread]) -> None:
    _, thread = server
    burst = _post("/a", b'{"n": 1}') + _get("/b") + _post("/c", b'{"n": 3}') + _get("/d")
    with _connect(thread) as sock:
        sock.sendall(burst)
        answers = [_echoed(a) for a in _responses(sock, 4)]
    assert [(a["method"], a["path"], a["body"]) for a in answers] == [
        ("POST", "/a", '{"n": 1}'), ("GET", "/b", ""), ("POST", "/c", '{"n": 3}'),
        ("GET", "/d", "")]


def test_heads_and_bodies_split_anywhere_are_read_alike(server: tuple[str, ServerThread]
                                                        ) -> None:
    """Byte by byte, and cut so that a body's tail and the next head share one read."""
    _, thread = server
    first, second = _post("/one", b'{"x": "' + b"y" * 300 + b'"}'), _get("/two")
    with _connect(thread) as sock:
        for i in range(len(first) - 5):
            sock.sendall(first[i:i + 1])
        sock.sendall(first[-5:] + second[:7])
        sock.sendall(second[7:])
        one, two = (_echoed(a) for a in _responses(sock, 2))
    assert one["path"] == "/one" and len(one["body"]) == 309
    assert two["path"] == "/two"


def test_chunked_bodies_and_the_request_after_them(server: tuple[str, ServerThread]) -> None:
    _, thread = server
    chunked = (b"POST /chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
               b"\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\n{\"a\"\r\n3\r\n: 1\r\n1;ext=1\r\n}\r\n0\r\n\r\n")
    with _connect(thread) as sock:
        sock.sendall(chunked + _post("/after", b"[1]") + _get("/last"))
        answers = [_echoed(a) for a in _responses(sock, 3)]
    assert [(a["path"], a["body"]) for a in answers] == [
        ("/chunked", '{"a": 1}'), ("/after", "[1]"), ("/last", "")]


def test_blank_lines_between_requests_are_ignored(server: tuple[str, ServerThread]) -> None:
    name, thread = server
    if name == "h11":
        pytest.skip("h11 refuses them (RFC 9112 2.2 lets a server ignore them)")
    with _connect(thread) as sock:
        sock.sendall(_post("/a", b"[]") + b"\r\n" + _get("/b"))
        assert [_echoed(a)["path"] for a in _responses(sock, 2)] == ["/a", "/b"]


def test_endless_blank_lines_are_not_buffered_without_bound(
        server: tuple[str, ServerThread]) -> None:
    _, thread = server
    with _connect(thread) as sock:
        try:
            sock.sendall(b"\r\n" * (MAX_HEAD_BYTES + 1024))
        except OSError:  # closed while sending: refused
            return
        answer = _refusal(sock)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:200]


MALFORMED = {
    "not http": b"GARBAGE\r\n\r\n",
    "bad request line": b"GET  HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n",
    "no colon in a header": b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
    "NUL in a header": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n\r\n",
    "space before the colon": b"GET / HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
    "both framings": (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "two lengths": (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
                    b"Content-Length: 4\r\n\r\n[1]"),
    "signed length": b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: +3\r\n\r\n[1]",
    "bad chunk size": (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                       b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n[1]\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_are_a_400_and_the_server_goes_on(
        server: tuple[str, ServerThread], case: str) -> None:
    name, thread = server
    if name == "h11" and case == "both framings":
        pytest.skip("h11 reads the chunked body and ignores the length (RFC 9112 6.3)")
    with _connect(thread) as sock:
        sock.sendall(MALFORMED[case])
        answer = _refusal(sock)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    with _connect(thread) as sock:  # the server survived it
        sock.sendall(_get("/alive"))
        assert _echoed(_responses(sock, 1)[0])["path"] == "/alive"


def test_a_head_over_the_cap_is_refused_before_it_ends(server: tuple[str, ServerThread]
                                                       ) -> None:
    _, thread = server
    with _connect(thread) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        sock.sendall(b"a" * (MAX_HEAD_BYTES + 1024))  # no blank line yet, and never
        answer = _refusal(sock)
    assert answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:200]


@pytest.mark.parametrize("where", ["one read", "after a request", "after a chunked body"])
def test_httptools_refuses_a_whole_head_over_the_cap(server: tuple[str, ServerThread],
                                                     where: str) -> None:
    """h11 answers a large head that arrives in one read; this protocol caps every head."""
    name, thread = server
    if name != "httptools":
        pytest.skip("h11 caps only a head still incomplete")
    big = (b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * MAX_HEAD_BYTES
           + b"\r\n\r\n")
    before = {"one read": b"", "after a request": _post("/a", b"[1]"),
              "after a chunked body": b"POST /c HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
              b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n"}
    with _connect(thread) as sock:
        sock.sendall(before[where] + big[:-4])  # in the chunked case, split before the end
        sock.sendall(big[-4:])
        answer = _refusal(sock)
    assert b"HTTP/1.1 431" in answer, answer[:300]
    assert b"/big" not in answer


def test_a_head_just_under_the_cap_is_answered(server: tuple[str, ServerThread]) -> None:
    _, thread = server
    start = b"GET /fits HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    head = start + b"a" * (MAX_HEAD_BYTES - len(start) - 200) + b"\r\n\r\n"
    with _connect(thread) as sock:
        sock.sendall(head)
        assert _echoed(_responses(sock, 1)[0])["path"] == "/fits"


def test_a_head_sent_byte_by_byte_past_the_deadline_is_cut_off(
        server: tuple[str, ServerThread]) -> None:
    """One byte every 0.1 s of a valid request: the 1 s head deadline closes it first."""
    _, thread = server
    head = _get("/" + "p" * 200)
    with _connect(thread) as sock:
        sock.settimeout(0.1)
        for i in range(len(head)):
            try:
                sock.sendall(head[i:i + 1])
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:  # reset: closed while the client was still sending
                return
            assert answer == b"", answer[:200]  # closed, not answered
            return
    raise AssertionError("the whole head went through: no deadline")


def test_a_pipelined_head_left_unfinished_meets_the_deadline(
        server: tuple[str, ServerThread]) -> None:
    _, thread = server
    with _connect(thread) as sock:
        sock.sendall(_get("/done") + b"GET /never HTTP/1.1\r\nHost: 1")
        assert _echoed(_responses(sock, 1)[0])["path"] == "/done"
        sock.settimeout(8)
        assert _refusal(sock) == b""  # closed (within the deadline, or at the idle timeout)


def test_a_silent_connection_is_closed(server: tuple[str, ServerThread]) -> None:
    _, thread = server
    with _connect(thread) as sock:
        sock.settimeout(8)  # a hung connection fails here (TimeoutError)
        assert _refusal(sock) == b""


#: Requests refused while the client still has bytes to send: what follows the refusal
#: is sent at once, as a client uploading a body or pipelining does.
STILL_SENDING = {
    "body over the limit": (
        b"POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {4 * POLICY.max_body_bytes}\r\n\r\n".encode(),
        b"1" * (4 * POLICY.max_body_bytes), (b"HTTP/1.1 413",)),
    "head over the cap": (
        b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 8),
        b"a" * (1 << 20), (b"HTTP/1.1 431", b"HTTP/1.1 400")),
    "malformed head": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n",
                       _post("/next", b"[1]") * 20000, (b"HTTP/1.1 400",)),
}


@pytest.mark.parametrize("case", list(STILL_SENDING))
def test_a_client_still_sending_reads_its_refusal(server: tuple[str, ServerThread],
                                                  case: str) -> None:
    """A server that closes with the client's bytes unread makes the kernel send a reset,
    and a reset can destroy the refusal before the client reads it: the client sees
    "connection reset" instead of 413. The server half-closes and drops what still
    comes (a lingering close), so the answer always arrives."""
    _, thread = server
    first, rest, expected = STILL_SENDING[case]
    for _ in range(5):  # the reset raced the answer: once in five tries was enough
        with _connect(thread) as sock:
            sock.sendall(first)
            sock.sendall(rest)
            answer = _refusal(sock)
        assert answer.startswith(expected), answer[:200]
