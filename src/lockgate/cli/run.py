"""``lockgate run path.py:pipeline``: run a pipeline with params, overrides and an executor."""

from __future__ import annotations

import typer

from lockgate.cli.app import console, settings
from lockgate.cli.pipelines import finish, print_step
from lockgate.pipelines import RunOptions, load_pipeline, run_pipeline
from lockgate.pipelines.params import apply_overrides, load_params_file
from lockgate.tracking.tag import parse_tag


def run(
    ref: str = typer.Argument(..., help="path/to/pipelines.py:name or package.module:name."),
    params: str | None = typer.Option(None, "--params", "-p", help="params.yaml: step -> args."),
    overrides: list[str] = typer.Option([], "--set", help="step.arg=value; repeatable."),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rerun every step."),
    max_workers: int | None = typer.Option(None, "--max-workers", min=1,
                                           help="Parallel local workers (default: cores)."),
    experiment: str | None = typer.Option(None, "--experiment", "-e",
                                          help="Experiment (default: the pipeline's name)."),
    tag: list[str] = typer.Option([], "--tag", help="key=value tag of the run; repeatable."),
) -> None:
    """Run a pipeline: every step a recorded child run, unchanged steps cached."""
    pipeline, normalised = load_pipeline(ref)
    values = load_params_file(params) if params else {}
    values = apply_overrides(values, overrides)
    tags = dict(parse_tag(t) for t in tag)
    console.print(f"Running pipeline [bold]{pipeline.name}[/] ({len(pipeline.nodes)} steps, "
                  f"{executor} executor)")
    result = run_pipeline(pipeline, values, options=RunOptions(
        settings=settings(), executor=executor, address=address, max_workers=max_workers,
        cache=not no_cache, experiment=experiment, ref=normalised,
        tags=tags, observer=print_step))
    finish(result.run_id, result.ok)


