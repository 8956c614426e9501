"""``lockgate lineage RUN_OR_ARTIFACT``: upstream and downstream as trees, or Graphviz."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.tree import Tree

from lockgate.cli.app import console, print_json, settings
from lockgate.pipelines.lineage import LineageNode, lineage
from lockgate.store import Store


def lineage_command(
    target: str = typer.Argument(..., help="A run id (or prefix), or artifact:ID."),
    dot: bool = typer.Option(False, "--dot", help="Print Graphviz instead of trees."),
    depth: int = typer.Option(8, "--depth", min=1, help="Levels to follow each way."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show what a run or artifact came from and what was made from it."""
    found = lineage(Store.open(settings()), target, depth=depth)
    if dot:
        print(found.to_dot())
        return
    if as_json:
        print_json({"root": found.root.to_dict(), "upstream": found.upstream.to_dict(),
                    "downstream": found.downstream.to_dict()})
        return
    console.print(_tree("upstream (came from)", found.upstream), highlight=False)
    console.print(_tree("downstream (made from it)", found.downstream), highlight=False)


def _tree(title: str, node: LineageNode) -> Tree:
    root = Tree(f"[bold]{title}[/]: {escape(node.label)}")
    _add(root, node)
    return root


def _add(branch: Tree, node: LineageNode) -> None:
    for child in node.children:
        suffix = " [dim](shown above)[/]" if child.repeated else ""
        if child.note:
            suffix += f" [yellow]note: {escape(child.note)}[/]"
        _add(branch.add(f"{escape(child.label)}{suffix}"), child)
