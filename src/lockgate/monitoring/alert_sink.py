"""Where alerts go: the log, a JSONL file, a webhook (with retries and a timeout).

A sink is anything with ``send(event) -> None`` that raises :class:`AlertDeliveryError`
when the event could not be delivered. Deduplication is not a sink's business: the
incident logic (``incident.py``) decides what is sent, once per incident and once on
resolve.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from lockgate.config import load_settings
from lockgate.errors import LockgateError, close_matches
from lockgate.security import OutboundPolicy, OutboundURLError, post_json

LOG = logging.getLogger("lockgate.monitoring.alerts")


class AlertDeliveryError(LockgateError, RuntimeError):
    """A sink could not deliver an alert (after its retries)."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One message about an incident: ``kind`` is ``alert`` when it opens, ``resolve``
    when it ends."""

    kind: str
    incident_id: int
    model_name: str
    rule: str
    measure: str
    severity: str
    value: float | None
    threshold: float
    op: str
    window_start: float
    window_end: float
    samples: int
    message: str
    root_cause: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as posted to webhooks and written to JSONL."""
        return asdict(self)


class AlertSink(Protocol):
    """Delivers alert events somewhere."""

    name: str

    def send(self, event: AlertEvent) -> None:
        """Deliver one event or raise :class:`AlertDeliveryError`."""


class LogSink:
    """Writes each event to the ``lockgate.monitoring.alerts`` logger."""

    name = "log"

    def send(self, event: AlertEvent) -> None:
        level = logging.INFO if event.kind == "resolve" else _LEVELS.get(event.severity,
                                                                          logging.WARNING)
        LOG.log(level, "[%s] %s/%s: %s", event.kind.upper(), event.model_name, event.rule,
                event.message)


_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


class JsonlSink:
    """Appends each event as one JSON line; a lock keeps lines whole across threads."""

    name = "jsonl"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, event: AlertEvent) -> None:
        line = json.dumps(event.to_dict(), sort_keys=True, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
        except OSError as exc:
            raise AlertDeliveryError(
                f"Cannot append the alert to {self.path}: {exc.strerror}. Make the folder "
                "writable or change `path` of the jsonl sink."
            ) from exc


class WebhookSink:
    """POSTs each event as JSON; retries with exponential backoff on errors and 5xx.

    A 4xx answer (other than 408 / 429) is not retried: the receiver refused the
    payload, and sending it again would not change its mind. The URL must resolve to a
    public address unless ``allow`` (or the ``outbound_allow`` setting) opens it; a
    redirect is not followed (see :mod:`lockgate.security.outbound`).
    """

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 3,
                 backoff: float = 0.5, headers: dict[str, str] | None = None,
                 allow: tuple[str, ...] = ()) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.headers = dict(headers or {})
        self.outbound = OutboundPolicy.of(allow, load_settings().outbound_allow)

    def send(self, event: AlertEvent) -> None:
        errors: list[str] = []
        payload = event.to_dict()
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = post_json(self.url, payload, policy=self.outbound,
                                     headers=self.headers, timeout=self.timeout)
            except OutboundURLError as exc:
                raise AlertDeliveryError(f"Webhook not called: {exc}") from exc
            except httpx.HTTPError as exc:
                errors.append(f"attempt {attempt + 1}: {type(exc).__name__}: {exc}")
                continue
            if response.status_code < 300:
                return
            if response.is_redirect:
                raise AlertDeliveryError(
                    f"Webhook {self.url} answered {response.status_code} redirecting to "
                    f"`{response.headers.get('location', '')[:200]}`; redirects are not "
                    "followed (they could lead to an internal address). Configure the final "
                    "URL.")
            errors.append(f"attempt {attempt + 1}: HTTP {response.status_code}")
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                break
        raise AlertDeliveryError(
            f"Webhook {self.url} did not accept the {event.kind} for rule `{event.rule}` "
            f"after {len(errors)} attempt(s): {'; '.join(errors)}. Check the receiver, or "
            "raise `retries` / `timeout` of the webhook sink."
        )


class MemorySink:
    """Keeps events in a list: for tests and for callers that render alerts themselves."""

    name = "memory"

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    def send(self, event: AlertEvent) -> None:
        self.events.append(event)


SINK_TYPES = ("log", "jsonl", "webhook")


def parse_sinks(raw: Any, *, source: str = "config", base_dir: Path | None = None
                ) -> tuple[list[AlertSink], list[str]]:
    """Build sinks from the ``sinks:`` list, collecting every problem.

    Relative JSONL paths are resolved against ``base_dir`` (the config file's folder).
    """
    if raw is None:
        return [LogSink()], []
    if not isinstance(raw, list):
        return [], [f"{source}: `sinks` must be a list of mappings, found {type(raw).__name__}."]
    sinks: list[AlertSink] = []
    problems: list[str] = []
    for index, item in enumerate(raw):
        where = f"{source}: sinks[{index}]"
        if isinstance(item, str):
            item = {"type": item}
        if not isinstance(item, dict):
            problems.append(f"{where} must be a mapping with `type`.")
            continue
        kind = item.get("type")
        if kind not in SINK_TYPES:
            hint = close_matches(str(kind), SINK_TYPES)
            problems.append(f"{where}: unknown sink type `{kind}`.{hint} Valid types: "
                            f"{', '.join(SINK_TYPES)}.")
            continue
        sink, found = _build_sink(kind, item, where, base_dir)
        problems.extend(found)
        if sink is not None:
            sinks.append(sink)
    return sinks, problems


def _build_sink(kind: str, item: dict[str, Any], where: str, base_dir: Path | None
                ) -> tuple[AlertSink | None, list[str]]:
    if kind == "log":
        return LogSink(), []
    if kind == "jsonl":
        path = item.get("path")
        if not isinstance(path, str) or not path:
            return None, [f"{where}: a jsonl sink needs `path`, e.g. `path: alerts.jsonl`."]
        resolved = Path(path) if Path(path).is_absolute() or base_dir is None else base_dir / path
        return JsonlSink(resolved), []
    problems = []
    url = item.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        problems.append(f"{where}: a webhook sink needs `url` starting with http:// or "
                        f"https://, found {url!r}.")
    timeout = item.get("timeout", 5.0)
    retries = item.get("retries", 3)
    backoff = item.get("backoff", 0.5)
    headers = item.get("headers", {})
    allow = item.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        problems.append(f"{where}: `allow` must be a list of hosts or CIDR ranges the "
                        "webhook may reach although they are not public, e.g. [10.0.0.0/8].")
    if not _positive_number(timeout):
        problems.append(f"{where}: `timeout` must be a positive number of seconds.")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        problems.append(f"{where}: `retries` must be a whole number >= 0.")
    if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff < 0:
        problems.append(f"{where}: `backoff` must be a number of seconds >= 0.")
    if not isinstance(headers, dict):
        problems.append(f"{where}: `headers` must be a mapping.")
    if problems:
        return None, problems
    return WebhookSink(str(url), timeout=float(timeout), retries=int(retries),
                       backoff=float(backoff),
                       headers={str(k): str(v) for k, v in headers.items()},
                       allow=tuple(allow)), []


def _positive_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value > 0
