"""The one place lockgate starts or joins Ray: step executors and cross-validation
folds both connect through :func:`connect`, so the error for a missing Ray or an
unreachable cluster, and who shuts a cluster down, are decided once.

Ray is an optional extra (``pip install lockgate[ray]``) and is imported only here and
in :mod:`lockgate.pipelines.executors.ray`.
"""

from __future__ import annotations

from typing import Any

from lockgate.errors import ConfigError


def ray_module() -> Any:
    """The ``ray`` module, or a ConfigError saying how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "The Ray executor needs Ray: `pip install 'lockgate[ray]'`, or use "
            "`--executor local`."
        ) from exc
    return ray


def connect(address: str | None = None) -> bool:
    """Join the Ray cluster at ``address`` (``auto``, ``ray://host:10001``, ``host:port``),
    or start a local one when None, unless Ray is already initialised in this process.

    Returns:
        True when this call initialised Ray (the caller then calls :func:`disconnect`).

    Raises:
        ConfigError: Ray is missing or the cluster cannot be reached.
    """
    ray = ray_module()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"Cannot connect to the Ray cluster at {address or 'a new local cluster'}: "
            f"{exc}. Check `--address` (e.g. `auto` or `ray://host:10001`)."
        ) from exc
    return True


def disconnect(owned: bool) -> None:
    """Shut Ray down if :func:`connect` started it here (``owned``)."""
    if owned:
        ray_module().shutdown()
