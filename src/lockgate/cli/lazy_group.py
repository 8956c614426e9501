"""A click group whose sub-commands are imported only when used.

Why: every stage pulls in heavy libraries (scikit-learn, Polars, deltalake, Ray), and a
command line that imports them all to print ``--help`` or run ``lockgate runs list``
takes seconds. The root group keeps each command's module path and one-line help;
the module is imported when the command runs (or when its own ``--help`` is shown).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click

from lockgate.errors import close_matches


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a command lives: ``module:attribute`` (a Typer app or a plain function)."""

    target: str
    help: str


class LazyGroup(click.Group):
    """A click group resolving ``LazyCommand`` entries on first use."""

    def __init__(self, *args, lazy: dict[str, LazyCommand], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy
        self._loaded: dict[str, click.Command] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *self._lazy]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            if cmd_name not in self._loaded:
                self._loaded[cmd_name] = _load(cmd_name, self._lazy[cmd_name])
            return self._loaded[cmd_name]
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            hint = close_matches(name, self.list_commands(ctx))
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, entry.help) for name, entry in self._lazy.items()]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _group() -> None:
    pass


def _load(name: str, entry: LazyCommand) -> click.Command:
    import typer  # here, not at the top: ``lockgate --help`` lists commands without it

    from lockgate.cli.plain_params import plain_coercion

    module_name, attribute = entry.target.split(":")
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        target._add_completion = False  # completion belongs to the root, not each group
        if target.registered_callback is None:
            # Typer turns a one-command app into that command; a callback keeps the group
            # (`lockgate db upgrade`, not `lockgate db`).
            target.callback()(_group)
        command = typer.main.get_command(target)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name=name, help=entry.help)(target)
        command = typer.main.get_command(single)
    plain_coercion(command)  # simple options coerced without importing pydantic
    command.name = name
    if not command.help:
        command.help = entry.help
    # typer >= 0.29 types its commands with the click it vendors (typer._click); they
    # are duck-compatible with click's at run time, which the CLI tests exercise
    return command  # type: ignore[return-value]
