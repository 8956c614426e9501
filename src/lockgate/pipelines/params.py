"""Parameters: ``params.yaml`` plus ``--set node.arg=value`` overrides, checked against
the step signatures before anything runs.

The file maps a step's name to its arguments that are not wired to datasets::

    fit:
      alpha: 0.1
    split:
      test_size: 0.25

Every problem is collected and reported at once, with close matches for misspelt
names. The resolved values (defaults included, since they are part of a step's cache
key) are recorded on the pipeline run as ``<step>.<arg>`` params.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from lockgate.errors import close_matches, numbered
from lockgate.pipelines.errors import ParamsError
from lockgate.pipelines.pipeline import Node, Pipeline

StepParams = dict[str, dict[str, Any]]


def load_params_file(path: Path | str) -> dict[str, Any]:
    """Read a params YAML file: a mapping of step name to a mapping of arguments.

    Raises:
        ParamsError: missing file, invalid YAML, or not a mapping.
    """
    source = Path(path)
    if not source.is_file():
        raise ParamsError(f"Params file {source} does not exist.")
    try:
        loaded = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"Params file {source} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ParamsError(
            f"Params file {source} must map step names to their arguments, found "
            f"{type(loaded).__name__}."
        )
    return loaded


def apply_overrides(values: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``step.arg=value`` overrides (values parsed as YAML: ``6``, ``0.1``, ``[1,2]``).

    Raises:
        ParamsError: an override is not of the form ``step.arg=value``.
    """
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for text in overrides:
        key, sep, raw = text.partition("=")
        step_name, dot, argument = key.strip().partition(".")
        if not sep or not dot or not step_name or not argument or "." in argument:
            raise ParamsError(
                f"Override `{text}` must look like `step.argument=value`, e.g. "
                "`--set fit.alpha=0.1`."
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ParamsError(f"Override `{text}`: the value is not valid YAML: {exc}") from exc
        section = merged.setdefault(step_name, {})
        if not isinstance(section, dict):
            raise ParamsError(f"Params for step `{step_name}` must be a mapping.")
        section[argument] = value
    return merged


def resolve_params(pipeline: Pipeline, values: Mapping[str, Any] | None = None) -> StepParams:
    """Check params against the step signatures and fill in defaults.

    Returns:
        ``{step: {argument: value}}`` for every step, defaults included.

    Raises:
        ParamsError: unknown steps or arguments (with close matches), missing required
            arguments, values of the wrong type or not JSON-serialisable; all at once.
    """
    values = dict(values or {})
    problems: list[str] = []
    names = [n.name for n in pipeline.nodes]
    for step_name, section in values.items():
        if step_name not in names:
            problems.append(
                f"no step `{step_name}` in pipeline `{pipeline.name}`."
                + close_matches(str(step_name), names) + f" Steps: {', '.join(names)}"
            )
        elif not isinstance(section, dict):
            problems.append(f"params of step `{step_name}` must be a mapping, got {section!r}")
    resolved: StepParams = {}
    for n in pipeline.nodes:
        section = values.get(n.name)
        given = section if isinstance(section, dict) else {}
        resolved[n.name] = _resolve_node(n, given, problems)
    if problems:
        raise ParamsError(
            f"{len(problems)} problem(s) with the parameters of pipeline `{pipeline.name}`:\n"
            + numbered(problems)
        )
    return resolved


def flatten(params: StepParams) -> dict[str, Any]:
    """``{"step.arg": value}``: the form recorded as run params."""
    return {f"{step}.{arg}": value for step, args in params.items() for arg, value in args.items()}


def unflatten(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Inverse of :func:`flatten` (used by resume to re-run with the same params)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        step, _, arg = key.partition(".")
        if arg:
            out.setdefault(step, {})[arg] = value
    return out


def _resolve_node(n: Node, given: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    parameters = n.parameters
    hints = _hints(n)
    out: dict[str, Any] = {}
    for argument, value in given.items():
        if argument in n.inputs:
            problems.append(
                f"`{n.name}.{argument}` is wired to dataset `{n.inputs[argument]}`; it cannot "
                "also be a parameter"
            )
        elif argument not in parameters:
            choices = list(parameters)
            problems.append(
                f"step `{n.name}` has no parameter `{argument}`."
                + close_matches(str(argument), choices)
                + (f" Parameters: {', '.join(choices)}" if choices else " It takes none.")
            )
        else:
            out[argument] = _checked(n.name, argument, value, hints.get(argument), problems)
    for argument, parameter in parameters.items():
        if argument in out or parameter.kind in (parameter.VAR_POSITIONAL,
                                                 parameter.VAR_KEYWORD):
            continue
        if parameter.default is inspect.Parameter.empty:
            problems.append(
                f"step `{n.name}` needs parameter `{argument}`: set it in params.yaml under "
                f"`{n.name}:` or with `--set {n.name}.{argument}=...`"
            )
        elif _is_json(parameter.default):
            # A non-JSON default stays the function's own; it is in the hashed source.
            out[argument] = parameter.default
    return out


def _hints(n: Node) -> dict[str, Any]:
    try:
        return typing.get_type_hints(n.func)
    except Exception:  # unresolvable annotations: names are still checked
        return {}


def _checked(step: str, argument: str, value: Any, hint: Any, problems: list[str]) -> Any:
    if not _is_json(value):
        problems.append(f"`{step}.{argument}` = {value!r:.60} is not a JSON value")
        return value
    expected = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}.get(hint)
    if expected is None:
        return value
    wrong_bool = isinstance(value, bool) and hint is not bool
    if wrong_bool or not isinstance(value, expected):
        problems.append(
            f"`{step}.{argument}` must be {hint.__name__} (from the signature), got "
            f"{value!r:.60} ({type(value).__name__})"
        )
    return float(value) if hint is float and isinstance(value, int) else value


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True
