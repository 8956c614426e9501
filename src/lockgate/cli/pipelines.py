"""``lockgate pipelines``: list pipeline runs, show one as a tree of steps (or draw a
pipeline's graph without running it), resume a failed run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from lockgate.cli.app import console, print_json, settings
from lockgate.cli.runs import _status as status
from lockgate.cli.runs import _when as when
from lockgate.pipelines import RunOptions, StepResult, load_pipeline, resume_pipeline
from lockgate.pipelines.errors import PipelineFailedError
from lockgate.pipelines.report import pipeline_runs, pipeline_tree
from lockgate.store import Store

app = typer.Typer(help="Pipeline runs: list, show, explain-cache, resume.",
                  no_args_is_help=True)

@app.command("list")
def list_command(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many runs."),
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Only this one."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List pipeline runs, newest first, with their steps counted by status."""
    runs = pipeline_runs(Store.open(settings()), limit=limit, experiment=experiment)
    if as_json:
        print_json(runs)
        return
    if not runs:
        console.print("No pipeline runs yet. Start one with `lockgate run path.py:pipeline`.")
        return
    from rich.table import Table

    table = Table(title="Pipeline runs")
    for column in ("id", "pipeline", "status", "started", "duration", "steps"):
        table.add_column(column)
    for run in runs:
        steps = ", ".join(f"{n} {s.lower()}" for s, n in sorted(run["steps"].items()))
        table.add_row(run["id"], run["name"], status(run["status"]), when(run["start_time"]),
                      seconds(run["duration"]), steps)
    console.print(table)


@app.command("show")
def show(
    target: str = typer.Argument(..., help="A pipeline run id (or prefix), or a pipeline "
                                 "reference path.py:name to draw its graph without running."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    dot: bool = typer.Option(False, "--dot", help="For a reference: print Graphviz."),
) -> None:
    """Show a pipeline run as a tree of steps (status, duration, cached, error)."""
    if _is_reference(target):
        pipeline, _ = load_pipeline(target)
        if dot:
            print(pipeline.to_dot())
        elif as_json:
            print_json(pipeline.describe())
        else:
            render_graph(pipeline.name, pipeline.describe())
        return
    tree = pipeline_tree(Store.open(settings()), target)
    if as_json:
        print_json(tree)
        return
    render_tree(tree)


@app.command("explain-cache")
def explain_cache_command(
    run_id: str = typer.Argument(..., help="A pipeline run id (or prefix)."),
    step: str = typer.Argument(..., help="The step's name: `fit`, or `fit[3]` in a fan-out."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Say why a step hit or missed the cache, and what changed since its last run."""
    from lockgate.pipelines.cache_explanation import explain_cache

    found = explain_cache(Store.open(settings()), run_id, step)
    if as_json:
        print_json(found.to_dict())
        return
    verdict = "[green]hit[/]" if found.hit else "[yellow]miss[/]"
    console.print(f"Step [bold]{escape(found.step)}[/] ({found.step_run_id}, "
                  f"{status(found.status)}): cache {verdict}")
    console.print(f"  why: {escape(found.reason)}")
    console.print(f"  key: {found.key[:16]}…")
    for read in found.reads:
        kind = "latest" if read.get("latest") else "pinned"
        console.print(f"  read {escape(str(read['table']))}@v{read['version']} ({kind})")
    if found.parts:
        libs = ", ".join(f"{k} {v}" for k, v in sorted(found.parts["libraries"].items()))
        tables = ", ".join(f"{k}@v{v}" for k, v in sorted(found.parts["tables"].items()))
        console.print(f"  code {found.parts['code'][:12]}; libraries: {escape(libs) or 'none'}"
                      f"; declared tables: {escape(tables) or 'none'}")
    if found.compared_with:
        console.print(f"  compared with step run {found.compared_with}:")
        for change in found.changes or ("nothing in the key changed",):
            console.print(f"    - {escape(change)}")


@app.command("resume")
def resume(
    run_id: str = typer.Argument(..., help="The failed pipeline run (id or prefix)."),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address."),
    max_workers: int | None = typer.Option(None, "--max-workers", min=1,
                                           help="Parallel local workers (default: cores)."),
) -> None:
    """Rerun a failed pipeline run, reusing every step that succeeded."""
    result = resume_pipeline(run_id, options=RunOptions(
        settings=settings(), executor=executor, address=address, max_workers=max_workers,
        observer=print_step))
    finish(result.run_id, result.ok)


@app.command("output")
def output_command(
    run_id: str = typer.Argument(..., help="A pipeline run (id or prefix)."),
    step_name: str = typer.Argument(..., help="The step whose outputs to show."),
    name: str | None = typer.Argument(None, help="One output (default: all of them)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the outputs as files "
                                    "into this folder instead of printing them."),
    as_json: bool = typer.Option(False, "--json", help="JSON values (frames as records)."),
) -> None:
    """Show (or write) what one step of a pipeline run produced."""
    from lockgate.cli.artifacts import write
    from lockgate.tracking.output_preview import preview, step_outputs

    outputs = step_outputs(settings(), run_id, step_name)
    chosen = outputs.select(name)
    if out is not None:
        write(outputs.artifacts, chosen, out)
        return
    values = {key: outputs.load(key) for key in chosen}
    if as_json:
        print_json({key: preview(value, as_json=True) for key, value in values.items()})
        return
    for key, value in values.items():
        console.rule(f"{step_name}.{key}")
        console.print(preview(value), highlight=False)


def finish(run_id: str, ok: bool) -> None:
    """Print the run's tree and its outputs; a failed run ends the command with its
    error (exit 1)."""
    tree = pipeline_tree(Store.open(settings()), run_id)
    render_tree(tree, with_error=False)
    _print_outputs(tree)
    if not ok:
        raise PipelineFailedError(tree["run"]["error"] or "The pipeline run failed.", run_id,
                                  tuple(s["name"] for s in tree["steps"]
                                        if s["status"] in ("FAILED", "TIMED_OUT", "KILLED")))


def _print_outputs(tree: dict[str, Any]) -> None:
    """One line per step output, and how to read it (`lockgate pipelines output`)."""
    from lockgate.tracking.output_preview import outputs_by_step

    rows = outputs_by_step(Store.open(settings()), tree["run"]["id"])
    if not rows:
        return
    console.print("[bold]Outputs[/]")
    for step_name, role, record in rows:
        console.print(f"  {step_name}.{role}: {record.media_type}, {record.size:,} bytes",
                      highlight=False)
    first = rows[0][0]
    console.print(f"Read one: lockgate pipelines output {tree['run']['id'][:8]} {first}",
                  highlight=False)


def print_step(result: StepResult) -> None:
    """Progress line for a step that just ended."""
    extra = f" ({result.attempts} attempts)" if result.attempts > 1 else ""
    console.print(f"  {status(result.status)} {result.name} {seconds(result.duration)}{extra}",
                  highlight=False)


def render_tree(tree: dict[str, Any], *, with_error: bool = True,
                out: Console | None = None) -> None:
    """A pipeline run and its steps as a Rich tree."""
    out = out or console
    run = tree["run"]
    root = Tree(f"[bold]{run['name']}[/] ({run['id']}) {status(run['status'])} "
                f"{seconds(run['duration'])}")
    for step in tree["steps"]:
        label = f"{step['name']} {status(step['status'])} {seconds(step['duration'])}"
        if step["cached"]:
            source = step["reused_from"]
            label += f" [blue]cached[/] from {source[:8]}" if source else " [blue]cached[/]"
        if step["attempts"] and step["attempts"] > 1:
            label += f" ({step['attempts']} attempts)"
        node = root.add(label)
        if step["error_summary"]:
            node.add(f"[red]{escape(step['error_summary'])}[/]")
    out.print(root, highlight=False)
    if with_error and run["error_summary"]:
        out.print(f"[red]{escape(run['error_summary'])}[/]", highlight=False)


def render_graph(name: str, nodes: list[dict[str, Any]]) -> None:
    """A pipeline's steps with their inputs and outputs, without running it."""
    root = Tree(f"[bold]{name}[/] ({len(nodes)} steps)")
    for n in nodes:
        mapped = f" map over {n['map_over']}" if n["map_over"] else ""
        branch = root.add(f"[bold]{n['name']}[/]{mapped} ({n['function']})")
        for arg, dataset in n["inputs"].items():
            branch.add(f"in  {arg} <- {dataset}")
        for dataset in n["outputs"]:
            branch.add(f"out {dataset}")
        if n["params"]:
            branch.add("params " + ", ".join(
                f"{k}={v if v is not None else '(required)'}" for k, v in n["params"].items()))
    console.print(root, highlight=False)


def seconds(value: float | None) -> str:
    """Seconds, human-sized."""
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _is_reference(target: str) -> bool:
    where = target.rpartition(":")[0]
    return bool(where) and (where.endswith(".py") or Path(where).exists() or "." in where)
