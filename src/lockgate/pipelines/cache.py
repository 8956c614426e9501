"""Cache keys: what must be unchanged for a step's earlier outputs to be reused.

A key hashes the step's code, its parameters and the content hashes of its inputs.
The code part is the source of the step function plus, recursively, the source of
functions and classes it reaches by global name (``helper(...)``, ``utils.helper``)
that are defined in the user's own modules, and the values of simple module-level
constants it reads. Libraries (anything installed in site-packages or the standard
library) are not hashed; their versions are recorded in the run's environment.

Limits, documented in docs/pipelines.md: methods reached through objects
(``obj.method()``), functions passed in as values, closures' captured values, data
read from files or databases inside a step, and environment variables are invisible
to the key. Mark such steps ``@step(cache=False)`` or make the changing thing a
parameter or an input.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import site
import sys
import sysconfig
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

KEY_VERSION = "lockgate-step-cache-1"
_CONSTANT_TYPES = (int, float, str, bool, bytes, type(None))


def code_hash(func: Callable[..., Any]) -> str:
    """Hash of a step's source and the user code it reaches by global name."""
    parts: list[str] = []
    seen: set[int] = set()
    _collect(func, parts, seen)
    return hashlib.sha256("\n\x00".join(parts).encode("utf-8")).hexdigest()


def cache_key(
    *,
    code: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, str | Sequence[str]],
    outputs: Sequence[str],
) -> str:
    """The cache key of one step run.

    Args:
        code: :func:`code_hash` of the step function.
        params: the step's resolved parameters (JSON values).
        inputs: ``{argument: sha256}``, or a list of sha256 for a list input.
        outputs: the output names (renaming an output is a different step).
    """
    payload = {
        "v": KEY_VERSION, "code": code, "params": params, "inputs": dict(inputs),
        "outputs": list(outputs),
    }
    text = json.dumps(payload, sort_keys=True, default=repr, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_user_module(module: types.ModuleType | None) -> bool:
    """Whether a module is the user's own code (not stdlib, not installed, not lockgate's
    framework; lockgate's demo pipelines count as user code)."""
    if module is None:
        return False
    name = module.__name__
    if name.startswith("lockgate.") and not name.startswith("lockgate.demo"):
        return False
    file = getattr(module, "__file__", None)
    if not file:
        return False
    resolved = str(Path(file).resolve())
    return not any(resolved.startswith(root) for root in _library_roots())


def _collect(obj: Any, parts: list[str], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        source = repr(getattr(obj, "__code__", obj))
    parts.append(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}")
    parts.append(source)
    if inspect.isclass(obj):
        members = [m for m in vars(obj).values() if inspect.isfunction(m)]
        for member in members:
            _collect_globals(member, parts, seen)
        return
    if inspect.isfunction(obj):
        _collect_globals(obj, parts, seen)


def _collect_globals(func: types.FunctionType, parts: list[str], seen: set[int]) -> None:
    namespace = func.__globals__
    for name in sorted(_names(func.__code__)):
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(value, types.ModuleType):
            if is_user_module(value):
                _collect_module_attributes(value, func.__code__, parts, seen)
        elif isinstance(value, _CONSTANT_TYPES):
            parts.append(f"const {name}={value!r}")
        elif isinstance(value, tuple | frozenset) and all(
            isinstance(v, _CONSTANT_TYPES) for v in value
        ):
            parts.append(f"const {name}={sorted(map(repr, value))!r}")
        elif (inspect.isfunction(value) or inspect.isclass(value)) and is_user_module(
            sys.modules.get(getattr(value, "__module__", ""))
        ):
            _collect(value, parts, seen)


def _collect_module_attributes(module: types.ModuleType, code: types.CodeType,
                               parts: list[str], seen: set[int]) -> None:
    for attribute in sorted(_names(code)):
        value = getattr(module, attribute, None)
        if inspect.isfunction(value) or inspect.isclass(value):
            _collect(value, parts, seen)


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


_ROOTS: list[str] = []


def _library_roots() -> list[str]:
    if not _ROOTS:
        paths = sysconfig.get_paths()
        roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
        roots |= set(site.getsitepackages())
        lockgate_root = Path(__file__).resolve().parents[1]
        _ROOTS.extend(sorted(str(Path(r).resolve()) for r in roots if r))
        # An editable install keeps lockgate outside site-packages; its framework code is
        # a library too, except the demo (treated as user code by name above).
        _ROOTS.append(str(lockgate_root / "pipelines"))
    return _ROOTS
