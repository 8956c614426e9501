"""Cache keys: what must be unchanged for a step's earlier outputs to be reused.

A key hashes the step's code, its parameters, the content hashes of its inputs, the
table versions its run pinned for its declared table inputs, and the versions of the
third-party distributions its code reaches. The code part is the source of the step
function plus, recursively, the source of functions and classes it reaches by global
name (``helper(...)``, ``utils.helper``) that are defined in the user's own modules,
and the values of simple module-level constants it reads. Libraries (anything
installed in site-packages) are not hashed: the version of each distribution the step
or its helpers reference (``np.mean``, ``SGDClassifier``, ``import polars`` in the
body) is in the key instead, so an upgrade of scikit-learn is a miss. The standard
library is neither (it changes with Python, which the run's environment records).

Tables read with ``lg.data.read`` inside a step are not in the key (they are known
only after the step ran): the ledger records the versions read, and a cached result
whose "latest" read now resolves to a newer version is a miss (see ``ledger``).

Limits, documented in docs/pipelines.md: methods reached through objects
(``obj.method()``), functions passed in as values, closures' captured values, files
or databases read inside a step other than through ``lg.data.read``, and environment
variables are invisible to the key. Mark such steps ``@step(cache=False)`` or make the
changing thing a parameter or an input.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import site
import sys
import sysconfig
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack

KEY_VERSION = "lockgate-step-cache-2"
_CONSTANT_TYPES = (int, float, str, bool, bytes, type(None))


def code_hash(func: Callable[..., Any]) -> str:
    """Hash of a step's source and the user code it reaches by global name."""
    parts: list[str] = []
    _collect(func, parts, set(), set())
    return hashlib.sha256("\n\x00".join(parts).encode("utf-8")).hexdigest()


def libraries(func: Callable[..., Any]) -> dict[str, str]:
    """``{distribution: version}`` of the third-party code a step (and the user helpers
    it reaches) references: the part of the environment its result depends on."""
    tops: set[str] = set()
    _collect(func, [], set(), tops)
    found: dict[str, str] = {}
    for top in sorted(tops):
        try:  # the usual case, and cheap: the distribution is named like its package
            dist = importlib.metadata.distribution(top)
            found[dist.metadata["Name"]] = dist.version
            continue
        except importlib.metadata.PackageNotFoundError:
            pass
        for name in _owners(top):
            try:  # sklearn -> scikit-learn, yaml -> PyYAML: scanned once per folder
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
    return found


def key_parts(
    *,
    code: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, str | Sequence[str]],
    outputs: Sequence[str],
    tables: Mapping[str, int] | None = None,
    libs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What a step run's cache key is made of, kept in the ledger so that
    ``lockgate pipelines explain-cache`` can say which part changed.

    Args:
        code: :func:`code_hash` of the step function.
        params: the step's resolved parameters (JSON values).
        inputs: ``{argument: sha256}``, or a list of sha256 for a list input.
        outputs: the output names (renaming an output is a different step).
        tables: ``{table: version}`` pinned for the step's declared table inputs.
        libs: :func:`libraries` of the step function.
    """
    return {"v": KEY_VERSION, "code": code, "params": dict(params), "inputs": dict(inputs),
            "outputs": list(outputs), "tables": dict(tables or {}), "libraries": dict(libs or {})}


class KeyInputs(TypedDict):
    """The keywords of :func:`key_parts` and :func:`cache_key`, written once."""

    code: str
    params: Mapping[str, Any]
    inputs: Mapping[str, str | Sequence[str]]
    outputs: Sequence[str]
    tables: NotRequired[Mapping[str, int] | None]
    libs: NotRequired[Mapping[str, str] | None]


def cache_key(**parts: Unpack[KeyInputs]) -> str:
    """The cache key of one step run: the hash of :func:`key_parts` of the same
    keywords."""
    return key_of(key_parts(**parts))


def key_of(parts: Mapping[str, Any]) -> str:
    """The sha256 of key parts."""
    text = json.dumps(parts, sort_keys=True, default=repr, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def explain_difference(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What changed between two key parts, one line per change (empty: same key)."""
    changes = []
    if before.get("v") != now.get("v"):
        changes.append(f"the cache key format changed ({before.get('v')} -> {now.get('v')})")
    if before.get("code") != now.get("code"):
        changes.append("the step's code (or a helper or constant it uses) changed")
    for section, what in (("params", "parameter"), ("inputs", "input"),
                          ("tables", "table"), ("libraries", "library")):
        old, new = dict(before.get(section) or {}), dict(now.get(section) or {})
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                changes.append(f"{what} `{name}`: {_short(old.get(name))} -> "
                               f"{_short(new.get(name))}")
    if list(before.get("outputs") or []) != list(now.get("outputs") or []):
        changes.append(f"outputs {before.get('outputs')} -> {now.get('outputs')}")
    return changes


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str) and len(value) == 64:
        return value[:12]  # a sha256
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(v[:12] for v in value) + "]"
    return json.dumps(value, default=repr)


@functools.lru_cache(maxsize=256)
def _owners(top: str) -> tuple[str, ...]:
    """Distributions providing the top-level package ``top`` (``sklearn`` ->
    ``scikit-learn``), looked up in the folder it was imported from, once per process."""
    file = getattr(sys.modules.get(top), "__file__", None)
    if not file:
        return ()
    path = Path(file).resolve()
    folder = path.parent.parent if path.name == "__init__.py" else path.parent
    markers = (f"\n{top}/__init__.py,", f"\n{top}.py,")
    found = []
    for dist in importlib.metadata.distributions(path=[str(folder)]):
        tops = (dist.read_text("top_level.txt") or "").split()
        record = "" if tops else "\n" + (dist.read_text("RECORD") or "")
        if top in tops or any(m in record for m in markers):
            found.append(dist.metadata["Name"])
    return tuple(sorted(set(found)))


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


def _collect(obj: Any, parts: list[str], seen: set[int], libs: set[str]) -> None:
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
            _collect_globals(member, parts, seen, libs)
        return
    if inspect.isfunction(obj):
        _collect_globals(obj, parts, seen, libs)


def _collect_globals(func: types.FunctionType, parts: list[str], seen: set[int],
                     libs: set[str]) -> None:
    namespace = func.__globals__
    names = _names(func.__code__)
    libs.update(_imported_in_body(names))
    for name in sorted(names):
        if name not in namespace:
            continue
        value = namespace[name]
        _note_library(value, libs)
        if isinstance(value, types.ModuleType):
            if is_user_module(value):
                _collect_module_attributes(value, func.__code__, parts, seen, libs)
        elif isinstance(value, _CONSTANT_TYPES):
            parts.append(f"const {name}={value!r}")
        elif isinstance(value, tuple | frozenset) and all(
            isinstance(v, _CONSTANT_TYPES) for v in value
        ):
            parts.append(f"const {name}={sorted(map(repr, value))!r}")
        elif (inspect.isfunction(value) or inspect.isclass(value)) and is_user_module(
            sys.modules.get(getattr(value, "__module__", ""))
        ):
            _collect(value, parts, seen, libs)


def _collect_module_attributes(module: types.ModuleType, code: types.CodeType,
                               parts: list[str], seen: set[int], libs: set[str]) -> None:
    for attribute in sorted(_names(code)):
        value = getattr(module, attribute, None)
        if inspect.isfunction(value) or inspect.isclass(value):
            _collect(value, parts, seen, libs)


def _note_library(value: Any, libs: set[str]) -> None:
    """Remember the top-level package of a third-party module, function or class."""
    if isinstance(value, types.ModuleType):
        module_name = value.__name__
    elif inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value):
        module_name = getattr(value, "__module__", None) or ""
    else:
        return
    top = module_name.split(".", 1)[0]
    if top and top not in sys.stdlib_module_names and top != "builtins":
        module = sys.modules.get(module_name)
        if module is None or not is_user_module(module) or top == "lockgate":
            libs.add(top)


def _imported_in_body(names: set[str]) -> set[str]:
    """Top-level packages a function imports in its own body (``import polars``)."""
    found = set()
    for name in names:
        top = name.split(".", 1)[0]
        module = sys.modules.get(top)
        if (module is not None and top not in sys.stdlib_module_names
                and not is_user_module(module)):
            found.add(top)
    return found


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
