"""A monitor pass run by ``lockgate server`` for one of its clients.

The prediction log and feedback tables a pass reads live under the server's data root,
so a client (``LOCKGATE_TRACKING_URI`` set) cannot measure them itself: it asks the
server to (``POST /api/v1/monitoring/models/{name}/passes``, a writer of the model),
and gets the same :class:`~lockgate.monitoring.monitor.MonitorRun` back. The server
measures with its own rules and sinks (the defaults, at the caller's window): alert
sinks and retraining pipelines run with the server's rights, so they are the
operator's configuration, never the caller's, as promotion gates are.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from lockgate.errors import LockgateError
from lockgate.monitoring.alert_sink import LogSink
from lockgate.monitoring.config import MonitorConfig, load_config
from lockgate.monitoring.duration import format_duration
from lockgate.monitoring.monitor import MonitorRun
from lockgate.store import Store

#: How long the server may take for one pass (profiling every bucket of a cold log on a
#: loaded machine) before the client gives up.
PASS_SECONDS = 900.0


def run_on_server(store: Store, ref: str, *, window: str | None = None) -> MonitorRun:
    """Ask the server behind ``store`` (a client's :class:`RemoteStore`) for one pass over
    the model ``ref`` (``churn``, ``churn@production``, ``churn@3``).

    Raises:
        AccessDenied: the token's user is not a writer of the model.
        NotFoundError: no such model (or one the user may not see).
    """
    name = ref.partition("@")[0]
    body = {"ref": ref, "window": window}
    answer = store.request(  # type: ignore[attr-defined]
        "POST", f"/monitoring/models/{name}/passes", json_body=body, idempotent=True,
        timeout=PASS_SECONDS, deadline=time.monotonic() + PASS_SECONDS)
    return MonitorRun.from_dict(answer.json())


def server_window(config: MonitorConfig, **refused: Any) -> str:
    """The window to ask the server for, when ``config`` is the default one (the rules and
    sinks a server pass uses); anything else the caller chose is refused, not dropped.

    Raises:
        LockgateError: a configuration of the caller's own, or options (``refused``: the
            name and value of each) only a pass beside the data can honour.
    """
    window = format_duration(config.window_seconds)
    given = sorted(name for name, value in refused.items() if value is not None)
    if given or not _is_default(config, window):
        what = ", ".join(given) if given else "your monitoring config (rules, sinks)"
        raise LockgateError(
            f"A monitor pass through lockgate server uses the server's rules and sinks (the "
            f"defaults, at the window you give), so it cannot take {what}. Leave it out, "
            "or run the pass where the server runs (unset LOCKGATE_TRACKING_URI there).")
    return window


def _is_default(config: MonitorConfig, window: str) -> bool:
    default = load_config(None, window=window)
    sinks = len(config.sinks) == 1 and isinstance(config.sinks[0], LogSink)
    return sinks and dataclasses.replace(config, sinks=()) == dataclasses.replace(default,
                                                                                  sinks=())
