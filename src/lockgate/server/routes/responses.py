"""Answers the routes share: Python's JSON, streamed files, ``{"ok": true}``, and the
route class every router of the server uses (:class:`PlainAnswerRoute`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute


class PlainAnswerRoute(APIRoute):
    """A route whose answer is JSON-encoded as returned, not validated against the
    handler's return annotation (``response_model`` unless one is given).

    The handlers build their answers from the store's records, never from the request,
    so validating them proves nothing; and FastAPI validates a sync handler's answer in a
    second thread-pool hop, the largest single cost of a small request such as a metric
    batch.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if isinstance(options.get("response_model", DefaultPlaceholder(None)),
                      DefaultPlaceholder):
            options["response_model"] = None
        super().__init__(path, endpoint, **options)


def ok() -> dict[str, bool]:
    """What a route that changed state and has nothing else to say answers."""
    return {"ok": True}


def then_ok(work: Callable[[], object]) -> Callable[[], dict[str, bool]]:
    """``work`` answering :func:`ok` (for :func:`~lockgate.server.idempotency.applied_once`)."""
    def done() -> dict[str, bool]:
        work()
        return ok()
    return done


def python_json(value: object) -> Response:
    """JSON as Python writes it (NaN, Infinity): a parameter may be any float."""
    return Response(json.dumps(value, default=str), media_type="application/json")


def streamed(path: Path, media_type: str, headers: dict[str, str] | None = None
             ) -> StreamingResponse:
    """The bytes of ``path`` in 1 MiB chunks."""
    return StreamingResponse(_chunks(path), media_type=media_type, headers=headers)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk
