"""The modeling stage's errors live in one module, lockgate.modeling.errors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import lockgate.modeling
from lockgate.errors import LockgateError


def test_every_modeling_error_is_defined_in_modeling_errors() -> None:
    defined = {}
    for info in pkgutil.iter_modules(lockgate.modeling.__path__):
        module = importlib.import_module(f"lockgate.modeling.{info.name}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, LockgateError) \
                    and value.__module__.startswith("lockgate.modeling"):
                defined[name] = value.__module__
    assert len(defined) >= 10
    assert {name for name, where in defined.items()
            if where != "lockgate.modeling.errors"} == set()
