"""Pipeline references (``path/to/file.py:attr`` or ``package.module:attr``) and the
import of user modules by file, shared by the CLI and the worker processes.

Worker processes import a step's module from its file, keyed by the file's content
hash, so a long-lived worker (a Ray worker) never runs a stale copy of edited code.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import linecache
import sys
import types
from pathlib import Path
from typing import Any

from lockgate.errors import close_matches
from lockgate.pipelines.errors import PipelineError
from lockgate.pipelines.pipeline import Pipeline

_LOADED: dict[str, tuple[str, types.ModuleType]] = {}


def load_pipeline(ref: str) -> tuple[Pipeline, str]:
    """Load the pipeline a reference names; returns it with the normalised reference.

    ``attr`` may be a :class:`Pipeline` or a function of no arguments returning one.

    Raises:
        PipelineError: the file, module or attribute is missing, or is no pipeline.
    """
    if ":" not in ref:
        raise PipelineError(
            f"Pipeline reference `{ref}` needs the form `path/to/pipelines.py:name` or "
            "`package.module:name`."
        )
    where, attr = ref.rsplit(":", 1)
    if where.endswith(".py") or "/" in where:
        path = Path(where).resolve()
        if not path.is_file():
            raise PipelineError(f"Pipeline file {path} does not exist (from `{ref}`).")
        module = import_file(_module_name(path), path)
        normalised = f"{path}:{attr}"
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise PipelineError(f"Cannot import module `{where}` of `{ref}`: {exc}") from exc
        normalised = ref
    pipeline = _pipeline_attr(module, attr, ref)
    pipeline.ref = normalised
    return pipeline, normalised


def import_file(name: str, path: Path, sha256: str | None = None) -> types.ModuleType:
    """Import (or re-import, when its content changed) the module at ``path`` as ``name``.

    The file's folder goes on ``sys.path`` so that it can import its sibling modules.
    """
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise PipelineError(
            f"{path} changed while the pipeline was running (hash {digest[:12]} instead of "
            f"{sha256[:12]}); run the pipeline again."
        )
    cached = _LOADED.get(name)
    if cached is not None and cached[0] == digest and sys.modules.get(name) is cached[1]:
        return cached[1]
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    linecache.cache.pop(str(path), None)  # the source hashed for caching must be this one
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PipelineError(f"Cannot import {path} as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise PipelineError(f"Importing {path} failed: {type(exc).__name__}: {exc}") from exc
    _LOADED[name] = (digest, module)
    return module


def function_address(func: Any) -> tuple[str, str, str | None, str | None]:
    """``(module, qualname, file, file sha256)`` by which a worker finds a step function."""
    module = sys.modules.get(func.__module__)
    file = getattr(module, "__file__", None) or func.__code__.co_filename
    digest = None
    if file and Path(file).is_file():
        digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
    return func.__module__, func.__qualname__, file, digest


def resolve_function(module_name: str, qualname: str, file: str | None,
                     sha256: str | None) -> Any:
    """The function at an address, importing its module the way :func:`function_address`
    described it."""
    if module_name == "__main__" and file is not None:
        # A step defined in the caller's script: import the file under another name so
        # its `if __name__ == "__main__":` block does not run again in the worker.
        module_name = "lockgate_main_" + hashlib.sha256(file.encode()).hexdigest()[:10]
    module = sys.modules.get(module_name)
    if file is not None and sha256 is not None:
        current = _LOADED.get(module_name)
        fresh_enough = module is not None and current is not None and current[0] == sha256
        if not fresh_enough:
            module = import_file(module_name, Path(file), sha256)
    elif module is None:
        module = importlib.import_module(module_name)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _module_name(path: Path) -> str:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    return f"lockgate_user_{path.stem.replace('-', '_')}_{digest}"


def _pipeline_attr(module: types.ModuleType, attr: str, ref: str) -> Pipeline:
    if not hasattr(module, attr):
        names = [n for n, v in vars(module).items() if isinstance(v, Pipeline) or callable(v)]
        raise PipelineError(f"`{ref}`: no attribute `{attr}`." + close_matches(attr, names))
    value = getattr(module, attr)
    if callable(value) and not isinstance(value, Pipeline):
        value = value()
    if not isinstance(value, Pipeline):
        raise PipelineError(
            f"`{ref}` is a {type(value).__name__}, not a lockgate Pipeline (or a function "
            "returning one)."
        )
    return value
