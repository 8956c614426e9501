"""Plain coercion of a command's simple options, so the command line starts without
pydantic.

Why: Typer (0.29) turns every option's text into its annotated type through a pydantic
``TypeAdapter``, built on the option's first use; importing pydantic for that costs
about 0.2 s of CPU at every start of ``lockgate runs list`` (issue #18's budget for the
whole command is 0.5 s). Most options are a ``str``, an ``int``, a ``float``, a flag or a
list of them, whose conversion is one Python call.

What: :func:`plain_coercion` gives each such option of a Typer-built command a coercion
that converts the common, unambiguous forms itself (``"20"`` for an int, any text for
a str) and hands everything else (a malformed or out-of-range number, bytes, other
types) to Typer's own coercion, so the accepted values and the error messages stay
exactly Typer's. Options of other types are left alone. It relies on two internals of
Typer (``_TyperParameter._runtime_param`` and ``typer._coercion.RuntimeParam``); if a
Typer release drops them, nothing is changed and commands still work (with pydantic
imported), and ``tests/cli/test_startup.py`` fails to say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_SCALARS = (str, int, float, bool)


class _Defer(Exception):
    """The value is not one of the plain forms: Typer's coercion decides."""


def plain_coercion(command: Any) -> None:
    """Install the plain coercion on every simple option of ``command`` and of its
    sub-commands (recursively), ``--help`` included; other options keep Typer's."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:  # a Typer without these internals: keep its own coercion
        return
    for sub in getattr(command, "commands", {}).values():
        plain_coercion(sub)
    for param in getattr(command, "params", []):
        _install(param, RuntimeParam, build_runtime_param)
    help_option = getattr(command, "get_help_option", None)
    if help_option is not None:  # built per command on first use: coerce it too

        def get_help_option(ctx: Any, _original: Any = help_option) -> Any:
            option = _original(ctx)
            if option is not None:
                _install(option, RuntimeParam, build_runtime_param)
            return option

        command.get_help_option = get_help_option


def _install(param: Any, base: type, build: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", True) is not None:
        return  # not a Typer parameter, or its coercion is already built
    leaf = _leaf_type(descriptor.annotation)
    info = descriptor.parameter_info
    if leaf is None or descriptor.file_annotation is not None or info.parser is not None \
            or getattr(info, "click_type", None) is not None:
        return
    param._runtime_param = _plain_class(base)(
        parameter_info=info, annotation=descriptor.annotation, leaf=leaf,
        typer_param=lambda: build(descriptor))


def _leaf_type(annotation: Any) -> type | None:
    """``str``/``int``/``float``/``bool``, or the element type of a list of one; else None."""
    if annotation in _SCALARS:
        return annotation
    if get_origin(annotation) is list:
        args = get_args(annotation)
        if len(args) == 1 and args[0] in _SCALARS:
            return args[0]
    return None


_CLASSES: dict[type, type] = {}


def _plain_class(base: type) -> type:
    """A ``RuntimeParam`` subclass (built once, on Typer's own base class)."""
    if base not in _CLASSES:

        @dataclass(frozen=True)
        class PlainRuntimeParam(base):
            leaf: type = str
            typer_param: Any = None
            _typer: list[Any] = field(default_factory=list)

            def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
                try:
                    if isinstance(value, (list, tuple)):
                        return [self._one(item) for item in value]
                    return self._one(value)
                except _Defer:
                    if not self._typer:
                        self._typer.append(self.typer_param())
                    return self._typer[0]._coerce_value(value, param=param, ctx=ctx)

            def _one(self, value: Any) -> Any:
                return _convert(value, self.leaf, self.parameter_info)

        _CLASSES[base] = PlainRuntimeParam
    return _CLASSES[base]


def _convert(value: Any, leaf: type, info: Any) -> Any:
    if leaf is str or leaf is bool:
        if type(value) is leaf:
            return value
        raise _Defer  # bytes, "yes", ...: Typer's rules
    if isinstance(value, bool):
        raise _Defer
    if isinstance(value, leaf):
        number = value
    elif leaf is float and isinstance(value, int):
        number = float(value)
    elif isinstance(value, str) and (_INT if leaf is int else _FLOAT).fullmatch(value):
        number = leaf(value)
    else:
        raise _Defer
    low, high = info.min, info.max
    if info.clamp:
        if low is not None and number < low:
            return leaf(low)
        if high is not None and number > high:
            return leaf(high)
        return number
    if (low is not None and number < low) or (high is not None and number > high):
        raise _Defer  # out of range: Typer words the error
    return number
