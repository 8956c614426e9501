"""The HTTP/1.1 connection of every lockgate server: uvicorn's protocols with the limits
uvicorn lacks.

uvicorn has an idle timeout between requests (``timeout_keep_alive``) but no deadline
for the request head itself: a client sending one header byte every few seconds
(slowloris) would keep a connection forever. And its httptools protocol has no cap on
the head's size at all (llhttp has none; httptools gathers a header in Python bytes).
Both protocols here close a connection whose head has not arrived within
``header_timeout_s`` of the connection or of the head's first byte, and refuse a head
larger than :data:`MAX_HEAD_BYTES`. Body limits and deadlines are the middleware's
(:class:`lockgate.security.HttpGuard`).

Both also close *lingering* (:class:`LingeringClose`): a server that closes with the
client's bytes still unread makes the kernel send a reset, and a reset can destroy the
answer before the client reads it, so a client uploading a body too large saw
"connection reset" instead of its 413. A connection that ends while the client may
still be sending is half-closed instead, and what still arrives is dropped for at most
:data:`LINGER_S`. A response that completes before its request's body has arrived ends
the connection that way too: reading and dropping a body of any size to keep the
connection alive would let one client stream to the server without end.

:class:`DeadlineHttpToolsProtocol` (llhttp, in C) is what servers run:
uvicorn's pure-Python h11 parser and writer were about 30% of a prediction server's CPU
per request. :class:`DeadlineH11Protocol` stays for hosts without httptools.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import h11
import httptools
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

#: The largest request head answered (request line and headers): h11's default.
MAX_HEAD_BYTES = 16 * 1024
DEFAULT_HEADER_TIMEOUT_S = 10.0
#: How long a closing connection drops what the client still sends (Apache's lingering
#: close waits 2 s per read and 30 s in all; one bound is enough here).
LINGER_S = 5.0


def header_timeout(config: uvicorn.Config) -> float:
    """The head deadline :func:`lockgate.security.server_config` put on the config."""
    return float(getattr(config, "lockgate_header_timeout", DEFAULT_HEADER_TIMEOUT_S))


class HeadDeadline:
    """One connection's head deadline: a timer that closes the transport unless the
    protocol says the head has arrived (``waiting`` is asked when it fires)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.seconds = seconds
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, transport: asyncio.BaseTransport, waiting: Any, keep: bool = False) -> None:
        """Start the deadline (``keep``: unless one already runs)."""
        if keep and self._timer is not None:
            return
        self.disarm()
        self._timer = self.loop.call_later(self.seconds, self._expire, transport, waiting)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, transport: asyncio.BaseTransport, waiting: Any) -> None:
        self._timer = None
        if waiting() and not transport.is_closing():
            transport.close()


class LingeringTransport:
    """The transport as the protocol's code (and uvicorn's cycle) sees it: the same in
    all but ``close``, which lingers when the client may still be sending, and
    ``is_closing``, true from then on, so no pipelined request starts on a connection
    that is ending."""

    def __init__(self, transport: asyncio.Transport, protocol: LingeringClose) -> None:
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        self._protocol.close_connection()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class LingeringClose(asyncio.Protocol):
    """A close while the client may still be sending (a refusal, an answer before the
    body) is a lingering one: the answer is sent, then the write side is shut (the
    client reads the answer and an end of file), and the read side drops what comes
    until the client closes or :data:`LINGER_S` has passed. An idle connection (the
    keep-alive timeout, a shutdown, a head deadline that has passed) closes at once."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    lingering = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.socket_transport = cast(asyncio.Transport, transport)
        self.transport = cast(asyncio.Transport, LingeringTransport(
            self.socket_transport, self))

    def may_still_send(self) -> bool:
        """Whether the client may have bytes in flight that nobody will read."""
        return True

    def close_connection(self) -> None:
        transport = self.socket_transport
        if self.lingering or transport.is_closing():
            return
        if not self.may_still_send() or not transport.can_write_eof():
            transport.close()
            return
        self.lingering = True
        transport.write_eof()  # sent once the answer before it has been
        if not transport.is_reading():
            transport.resume_reading()  # flow control may have paused it
        self.loop.call_later(LINGER_S, transport.close)  # uvicorn's eof_received
        # returns None, so the transport also closes as soon as the client has closed


class DeadlineH11Protocol(LingeringClose, H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head (its size is capped
    by h11's ``max_incomplete_event_size``, which :func:`server_config` sets)."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._deadline = HeadDeadline(self.loop, header_timeout(config))

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline.arm(self.socket_transport, self._waiting_for_head)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        if self._waiting_for_head():
            self._deadline.arm(self.socket_transport, self._waiting_for_head, keep=True)
        super().data_received(data)
        if not self._waiting_for_head():
            self._deadline.disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._deadline.disarm()  # idle now: uvicorn's keep-alive timeout takes over

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.disarm()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def may_still_send(self) -> bool:
        return self.conn.their_state in (h11.SEND_BODY, h11.ERROR)  # a body, or a refusal


class DeadlineHttpToolsProtocol(LingeringClose, HttpToolsProtocol):
    """uvicorn's httptools (llhttp) protocol with a head deadline and a head size cap.

    How the cap is exact: between messages the bytes are kept here, not in the parser,
    until the head's blank line has arrived; a head that grows past
    :data:`MAX_HEAD_BYTES` without one is answered 431 and the connection closed. Then
    the parser gets the head alone, and a ``Content-Length`` body exactly (never the
    next request's bytes with it), so every head is measured from its first byte. The
    parser must agree at each boundary (head complete after the blank line, message
    complete after the body), else it is a 400 and the connection is closed: the two
    can never read different requests from the same bytes.

    Only after a chunked body can the parser read on into the next pipelined request
    itself. That head is counted from the whole read that started it while incomplete
    (an upper bound: the cap holds, and can only refuse early), and by its parts once
    complete.
    """

    IDLE, HEAD, BODY = 0, 1, 2

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._deadline = HeadDeadline(self.loop, header_timeout(config))
        self._phase = self.IDLE  # the parser's: between messages, in a head, in a body
        self._pending = b""  # bytes of the next head the parser has not been given
        self._body_left: int | None = None  # Content-Length bytes still due; None: chunked
        self._parser_head_bytes = 0  # a head the parser began on its own (after chunked)
        self._done = False  # refused or upgraded: nothing more is parsed
        self._measuring = True  # the parser found a head itself: measure it when complete
        self._measure_head = False

    # -- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline.arm(self.socket_transport, self._head_due)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.disarm()
        self._done = True
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._done or self.lingering:
            return
        self._unset_keepalive_if_required()
        view = memoryview(data)
        while view and not self._done:
            if self._phase == self.IDLE:
                view = self._take_head(view)
            elif self._phase == self.BODY and self._body_left is not None:
                view = self._take_body(view, self._body_left)
            else:  # a chunked body, or a head the parser began reading after one
                self._feed_rest(view)
                view = view[:0]
        if self._done:
            return
        if self._pending or self._phase == self.HEAD:  # a head has begun: its deadline runs
            self._deadline.arm(self.socket_transport, self._head_due, keep=True)
        else:
            self._deadline.disarm()

    def may_still_send(self) -> bool:
        return self._done or self._phase != self.IDLE or bool(self._pending)

    def _head_due(self) -> bool:
        """Whether a head is still due when the deadline fires (a silent new connection,
        or a head begun and not finished)."""
        return bool(self._pending) or self._phase == self.HEAD or (
            self._phase == self.IDLE and self.cycle is None)

    # -- framing -------------------------------------------------------------------------
    def _take_head(self, view: memoryview) -> memoryview:
        """Keep bytes until the head's blank line; give the parser the head alone."""
        seen = len(self._pending)
        buffered = self._pending + bytes(view) if seen else bytes(view)
        start = len(buffered) - len(buffered.lstrip(b"\r\n"))  # blank lines between requests
        end = _head_end(buffered, max(start, seen - 2))
        if end < 0:
            self._pending = buffered
            if len(buffered) - start > MAX_HEAD_BYTES or start > MAX_HEAD_BYTES:
                self._refuse(431, f"Request head larger than {MAX_HEAD_BYTES} bytes.")
            return view[:0]
        self._pending = b""
        if end - start > MAX_HEAD_BYTES:
            self._refuse(431, f"Request head larger than {MAX_HEAD_BYTES} bytes.")
            return view[:0]
        self._measuring = False  # this head was measured here, exactly
        try:
            fed = self._feed(buffered[start:end])
        finally:
            self._measuring = True
        if not fed:
            return view[:0]
        if self._phase == self.HEAD:  # the parser saw no end where the blank line is
            self._refuse(400, "Invalid HTTP request received.")
            return view[:0]
        rest = len(buffered) - end
        return view[len(view) - rest:] if rest else view[:0]

    def _take_body(self, view: memoryview, left: int) -> memoryview:
        """Give the parser the rest of a Content-Length body and nothing after it."""
        size = min(left, len(view))
        due = left - size
        if not self._feed(view[:size]):
            return view[:0]
        complete = self._phase == self.IDLE
        if complete != (due == 0) or (not complete and self._body_left != due):
            self._refuse(400, "Invalid HTTP request received.")  # the parser disagrees
            return view[:0]
        return view[size:]

    def _feed_rest(self, view: memoryview) -> None:
        began_here = self._phase != self.HEAD
        if not self._feed(view):
            return
        if self._phase != self.HEAD:
            self._parser_head_bytes = 0
            return
        self._parser_head_bytes = len(view) if began_here else \
            self._parser_head_bytes + len(view)
        if self._parser_head_bytes > MAX_HEAD_BYTES:
            self._refuse(431, f"Request head larger than {MAX_HEAD_BYTES} bytes.")

    def _feed(self, data: bytes | memoryview) -> bool:
        """Parse ``data``; False when the connection is finished (refused or upgraded)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                self._refuse(431, f"Request head larger than {MAX_HEAD_BYTES} bytes.")
            else:
                self._refuse(400, "Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade:
            self._done = True  # the bytes after the head are not HTTP/1.1 any more
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
                if self.cycle is not None:
                    self.cycle.keep_alive = False
            return False
        return True

    def _refuse(self, status: int, message: str) -> None:
        """A one-line refusal, then close (the request's framing cannot be trusted)."""
        self._done = True
        self._deadline.disarm()
        if self.transport.is_closing():
            return
        body = message.encode("ascii")
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n", body]))
        self.transport.close()

    # -- parser callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = self.HEAD
        self._measure_head = self._measuring

    def on_headers_complete(self) -> None:
        if self._measure_head and _head_size(self.parser.get_method(), self.url,
                                             self.headers) > MAX_HEAD_BYTES:
            raise HeadTooLarge  # stops the parser before the request reaches the app
        self._phase = self.BODY
        self._body_left = _content_length(self.headers)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._body_left is not None:
            self._body_left -= len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._phase = self.IDLE
        self._body_left = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._phase == self.BODY:  # answered before its body arrived: the connection ends
            self.transport.close()
        super().on_response_complete()


class HeadTooLarge(Exception):
    """Raised in a parser callback to stop at a head over :data:`MAX_HEAD_BYTES`."""


def _head_size(method: bytes, url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The fewest bytes a head with these parts can have (single spaces, CRLF lines)."""
    line = len(method) + len(url) + len(b"  HTTP/1.1\r\n")
    return line + sum(len(name) + len(value) + 4 for name, value in headers) + 2


def _head_end(data: bytes, start: int) -> int:
    """The offset just past a head's blank line (CRLF or, for the parser to refuse, a
    bare LF), or -1 while it has not arrived."""
    crlf = data.find(b"\n\r\n", start)
    bare = data.find(b"\n\n", start)
    ends = [i + 3 for i in (crlf,) if i >= 0] + [i + 2 for i in (bare,) if i >= 0]
    return min(ends) if ends else -1


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's length as the parser accepted it; None when it is chunked.

    llhttp refuses a request with both framings or with repeated or malformed lengths,
    so what reaches here is one of the two, or neither (no body).
    """
    length = 0
    for name, value in headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length
