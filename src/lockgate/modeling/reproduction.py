"""Reproducing a training run: re-execute its recipe from its recorded code version
(the commit, with the recorded diff applied, in a temporary git worktree), on the exact
dataset version, with the same parameters and seeds; record it as a new run linked to
the original and compare every artifact hash and metric.

Why in a separate process in a worktree: the estimator (and anything it imports from the
user's repository) must come from the code the run recorded, not from today's checkout.
What cannot be re-made is refused up front with the reason: no code version recorded,
the repository or commit gone, a diff that no longer applies, untracked files whose
content was never recorded, a recipe with no faithful JSON form.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lockgate.config import Settings, load_settings
from lockgate.errors import LockgateError
from lockgate.modeling.errors import ReproductionError
from lockgate.store import Store

Verdict = Literal["identical", "within_tolerance", "different", "missing", "not_compared"]
LINK_TAG = "lockgate.reproduction_of"
#: Metrics that measure the machine, not the model: never expected to repeat.
TIMING_PREFIXES = ("time_",)
TIMING_SUFFIXES = ("_seconds", "_s", "_ms")


@dataclass(frozen=True, slots=True)
class Comparison:
    """One recorded output of the original next to the reproduction's."""

    kind: Literal["artifact", "metric"]
    name: str
    original: Any
    reproduced: Any
    verdict: Verdict
    cause: str = ""


@dataclass(frozen=True, slots=True)
class Reproduction:
    """The outcome: the new run, every comparison, what changed around the code."""

    original_run_id: str
    run_id: str
    code: str
    comparisons: tuple[Comparison, ...]
    library_changes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        """Every compared artifact and metric is bit-for-bit the same."""
        return all(c.verdict in ("identical", "not_compared") for c in self.comparisons)

    def counts(self) -> dict[str, int]:
        """How many comparisons got each verdict."""
        found: dict[str, int] = {}
        for c in self.comparisons:
            found[c.verdict] = found.get(c.verdict, 0) + 1
        return found


def reproduce(run_id: str, *, settings: Settings | None = None, tolerance: float = 1e-9,
              timeout_s: float = 3600.0) -> Reproduction:
    """Re-execute a training run and compare it with the original.

    Args:
        run_id: the run (any unique prefix).
        tolerance: absolute difference under which a metric counts as within tolerance.

    Raises:
        ReproductionError: the run cannot be re-executed as recorded (the reason given).
    """
    settings = settings or load_settings()
    store = Store.open(settings)
    run_id = store.resolve_run_id(run_id)
    if store.get_run(run_id).kind == "pipeline":
        entry = "execute_pipeline_run"
        _pipeline_ref(store, run_id, Path("."))  # refuse early: no reference recorded
    else:
        entry = "execute_recipe"
        _check_data(store, _recipe(store, run_id))
    with _checkout(store, settings, run_id) as (folder, code):
        new_run = _execute(folder, run_id, settings, timeout_s, entry)
    comparisons = compare_runs(store, run_id, new_run, tolerance)
    return Reproduction(run_id, new_run, code, comparisons, library_changes(store, run_id,
                                                                             new_run))


def _recipe(store: Store, run_id: str) -> dict[str, Any]:
    recipe = store.params(run_id).get("recipe")
    if not isinstance(recipe, dict) or recipe.get("kind") != "train":
        raise ReproductionError(
            f"Run {run_id} records no training recipe: only runs made by "
            "`lockgate.modeling.train` on an ingested table can be reproduced (a frame in "
            "memory, or a run logged by hand, left nothing to re-read).")
    if not recipe.get("reproducible"):
        raise ReproductionError(f"Run {run_id} cannot be reproduced: {recipe.get('reason')}.")
    return recipe


def _check_data(store: Store, recipe: dict[str, Any]) -> None:
    try:
        store.dataset_version(recipe["table"], recipe["version"])
    except LockgateError as exc:
        raise ReproductionError(f"The data is no longer present: {recipe['table']}@v"
                                f"{recipe['version']} ({exc}).") from exc


@contextmanager
def _checkout(store: Store, settings: Settings, run_id: str) -> Iterator[tuple[Path, str]]:
    """A temporary worktree at the run's commit with its recorded diff applied."""
    code = store.code_version(run_id)
    if code is None or not code.commit or not code.repo_root:
        raise ReproductionError(
            f"Run {run_id} records no code version (it ran outside a git repository), so "
            "the code it ran cannot be checked out; run training inside a git repository.")
    root = Path(code.repo_root)
    if not (root / ".git").exists():
        raise ReproductionError(f"The run's repository {root} is gone.")
    diff = _diff(settings, code.diff_artifact_id)
    folder = Path(tempfile.mkdtemp(prefix="lockgate-reproduce-"))
    worktree = folder / "code"
    try:
        _git(root, ["worktree", "add", "--detach", str(worktree), code.commit],
             f"commit {code.commit[:12]} is not in {root} any more")
        if diff.strip():
            patch = folder / "recorded.diff"
            patch.write_text(diff, encoding="utf-8")
            _git(worktree, ["apply", "--whitespace=nowarn", str(patch)],
                 "the recorded diff no longer applies to the commit")
        described = f"{code.commit[:12]}" + (" + recorded diff" if diff.strip() else "")
        yield worktree, described
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force",  # noqa: S603, S607
                        str(worktree)], capture_output=True, check=False, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _diff(settings: Settings, artifact_id: int | None) -> str:
    if artifact_id is None:
        return ""
    from lockgate.artifacts import ArtifactStore

    text = ArtifactStore.open(settings).load(artifact_id)
    text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
    body, _, untracked = text.partition("\n# untracked files:\n")
    names = [line.strip("# ").strip() for line in untracked.splitlines() if line.strip()]
    if names:
        raise ReproductionError(
            f"The run had untracked files whose content was never recorded: {names}. "
            "Commit (or ignore) them before training so the run can be reproduced.")
    return body


def _git(cwd: Path, args: list[str], meaning: str) -> None:
    done = subprocess.run(["git", "-C", str(cwd), *args],  # noqa: S603, S607 (git from PATH, fixed args)
                          capture_output=True, text=True,
                          check=False, timeout=120)
    if done.returncode != 0:
        raise ReproductionError(f"Cannot reproduce: {meaning} ({done.stderr.strip()[-300:]}).")


def _execute(folder: Path, run_id: str, settings: Settings, timeout_s: float,
             entry: str) -> str:
    """Run the recipe in a fresh interpreter whose cwd and import path are the worktree."""
    env = {**os.environ, **_settings_env(settings)}
    if not settings.tracking_uri:  # embedded chosen explicitly: the child too
        env.pop("LOCKGATE_TRACKING_URI", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)
    code = (f"import sys; from lockgate.modeling.reproduction import {entry}; "
            f"print('LOCKGATE_RUN=' + {entry}(sys.argv[1], sys.argv[2]))")
    try:
        done = subprocess.run([sys.executable, "-c", code, run_id, str(folder)],  # noqa: S603
                              cwd=folder,
                              env=env,
                              capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ReproductionError(f"The reproduction did not finish within {timeout_s:.0f} s."
                                ) from exc
    for line in done.stdout.splitlines():
        if line.startswith("LOCKGATE_RUN="):
            return line.split("=", 1)[1]
    raise ReproductionError("The reproduction failed: "
                            f"{(done.stderr or done.stdout).strip()[-800:]}")


def _settings_env(settings: Settings) -> dict[str, str]:
    values = {"LOCKGATE_HOME": str(Path(settings.home).resolve())}
    if settings.db_url:
        values["LOCKGATE_DB_URL"] = settings.db_url
    for name in ("artifact_root", "data_root"):
        value = getattr(settings, name)
        if value is not None:
            values[f"LOCKGATE_{name.upper()}"] = str(value.resolve())  # a Path or s3://
    if getattr(settings, "trusted_types", ()):  # the operator's allowlist additions
        values["LOCKGATE_TRUSTED_TYPES"] = ",".join(settings.trusted_types)
    if settings.tracking_uri:  # behind `lockgate server`: the child records through it
        values["LOCKGATE_TRACKING_URI"] = settings.tracking_uri
    return values


def execute_recipe(original_run_id: str, worktree: str = ".",
                   settings: Settings | None = None) -> str:
    """Re-run a recorded ``train`` call in this process; returns the new run's id."""
    from lockgate.modeling.recipe import build_config, build_estimator
    from lockgate.modeling.training import train

    settings = settings or load_settings()
    store = Store.open(settings)
    recipe = _recipe(store, original_run_id)
    result = train(recipe["table"], build_estimator(recipe["estimator"]),
                   version=recipe["version"], settings=settings,
                   experiment=recipe["experiment"], param_grid=recipe["param_grid"],
                   config=build_config(recipe["config"]),
                   allow_unvalidated=recipe["allow_unvalidated"],
                   name=f"{recipe['name']} (reproduction)")
    store.set_tags(result.run_id, {LINK_TAG: original_run_id})
    return result.run_id


def _pipeline_ref(store: Store, run_id: str, worktree: Path) -> str:
    """The pipeline reference, its file moved from the repository into the worktree."""
    ref = store.tags(run_id).get("lockgate.pipeline_ref")
    code = store.code_version(run_id)
    if not ref:
        raise ReproductionError(f"Pipeline run {run_id} was started from Python without a "
                                "pipeline reference (`lockgate run path.py:name` records one).")
    where, _, attr = ref.rpartition(":")
    if not where.endswith(".py"):
        return ref  # a module path: imported from the worktree (first on sys.path)
    root = Path(code.repo_root) if code and code.repo_root else None
    try:
        relative = Path(where).resolve().relative_to(root.resolve()) if root else None
    except ValueError:
        relative = None
    if relative is None:
        raise ReproductionError(f"The pipeline file {where} is outside the run's repository "
                                f"{root}, so its recorded version cannot be checked out.")
    return f"{worktree / relative}:{attr}"


def execute_pipeline_run(original_run_id: str, worktree: str = ".",
                         settings: Settings | None = None) -> str:
    """Re-run a recorded pipeline run (its params and stored inputs), every step afresh."""
    from lockgate.pipelines.ledger import decode_outputs
    from lockgate.pipelines.params import resolve_params, unflatten
    from lockgate.pipelines.reference import load_pipeline
    from lockgate.pipelines.runner import RunOptions, execute_pipeline

    settings = settings or load_settings()
    store = Store.open(settings)
    original = store.get_run(original_run_id)
    tags = store.tags(original.id)
    pipeline, ref = load_pipeline(_pipeline_ref(store, original.id, Path(worktree)))
    refs = decode_outputs(store, json.loads(tags.get("lockgate.inputs", "{}")))
    params = resolve_params(pipeline, unflatten(store.params(original.id)))
    options = RunOptions(settings, cache=False, experiment=original.experiment, ref=ref,
                         tags={LINK_TAG: original.id})
    return execute_pipeline(pipeline, params, settings, options, refs=refs).run_id


def compare_runs(store: Store, original: str, reproduced: str,
                 tolerance: float = 1e-9, cause: str | None = None) -> tuple[Comparison, ...]:
    """Every artifact (by sha256) and metric (last value) of two runs, side by side."""
    cause = cause or _cause(library_changes(store, original, reproduced))
    rows: list[Comparison] = []
    old, new = _outputs(store, original), _outputs(store, reproduced)
    for name in sorted(old | new):
        a, b = old.get(name), new.get(name)
        verdict: Verdict = ("missing" if a is None or b is None
                            else "identical" if a == b else "different")
        rows.append(Comparison("artifact", name, a, b, verdict,
                               "" if verdict == "identical" else cause))
    last = store.last_metrics([original, reproduced])
    before, after = last.get(original, {}), last.get(reproduced, {})
    for name in sorted(before | after):
        rows.append(_metric(name, before.get(name), after.get(name), tolerance, cause))
    if store.get_run(original).kind == "pipeline":
        rows += _step_rows(store, original, reproduced, tolerance, cause)
    return tuple(rows)


def _step_rows(store: Store, original: str, reproduced: str, tolerance: float,
               cause: str) -> list[Comparison]:
    """Each step's outputs and metrics, steps matched by name (``fit`` / ``fit[3]``)."""
    from lockgate.pipelines.ledger import steps_of
    from lockgate.pipelines.runner import step_name

    def steps(run_id: str) -> dict[str, str]:
        return {step_name(r.node, r.item): r.step_run_id for r in steps_of(store, run_id)}

    old, new = steps(original), steps(reproduced)
    rows: list[Comparison] = []
    for name in sorted(old | new):
        if name not in old or name not in new:
            rows.append(Comparison("artifact", name, old.get(name), new.get(name), "missing",
                                   "the step ran in only one of the two runs"))
            continue
        rows += [Comparison(c.kind, f"{name}/{c.name}", c.original, c.reproduced, c.verdict,
                            c.cause) for c in compare_runs(store, old[name], new[name],
                                                           tolerance, cause)]
    return rows


def _outputs(store: Store, run_id: str) -> dict[str, str]:
    """Artifacts the run itself produced: not the code diff (an input), not what was
    attached after it ended (a registry package built from it later)."""
    ended = store.get_run(run_id).end_time or float("inf")
    return {a.name: a.sha256 for a in store.artifacts(run_id)
            if a.name != "code.diff" and a.created_at <= ended}


def _metric(name: str, a: float | None, b: float | None, tolerance: float,
            cause: str) -> Comparison:
    if name.startswith(TIMING_PREFIXES) or name.endswith(TIMING_SUFFIXES):
        return Comparison("metric", name, a, b, "not_compared", "a timing, not a result")
    if a is None or b is None:
        return Comparison("metric", name, a, b, "missing", cause)
    if a == b or (math.isnan(a) and math.isnan(b)):
        return Comparison("metric", name, a, b, "identical")
    if abs(a - b) <= tolerance:
        return Comparison("metric", name, a, b, "within_tolerance", cause)
    return Comparison("metric", name, a, b, "different", cause)


def library_changes(store: Store, original: str, reproduced: str
                    ) -> dict[str, tuple[str | None, str | None]]:
    """Distributions whose version differs between the two runs' environments."""
    a, b = store.environment(original), store.environment(reproduced)
    if a is None or b is None:
        return {}
    names = set(a.packages) | set(b.packages)
    return {n: (a.packages.get(n), b.packages.get(n)) for n in sorted(names)
            if a.packages.get(n) != b.packages.get(n) and n.lower() != "lockgate"}


def _cause(changes: dict[str, tuple[str | None, str | None]]) -> str:
    if changes:
        shown = ", ".join(f"{n} {a}→{b}" for n, (a, b) in list(changes.items())[:5])
        return f"library versions changed: {shown}"
    return "nondeterministic step: same code, data, parameters, seeds and libraries"


def as_json(result: Reproduction) -> str:
    """The result as JSON (for ``--json``)."""
    return json.dumps({
        "original_run_id": result.original_run_id, "run_id": result.run_id,
        "code": result.code, "identical": result.identical, "counts": result.counts(),
        "library_changes": result.library_changes,
        "comparisons": [{"kind": c.kind, "name": c.name, "original": _finite(c.original),
                         "reproduced": _finite(c.reproduced), "verdict": c.verdict,
                         "cause": c.cause} for c in result.comparisons],
    }, allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value
