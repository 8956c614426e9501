"""Reproducing a training run: the recorded commit (and diff) checked out in a temporary
worktree, the exact dataset version, params and seeds; every hash and metric compared;
what cannot be re-made refused with the reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from lightgbm import LGBMClassifier

from lockgate.config import Settings
from lockgate.data import ingest
from lockgate.modeling import TrainConfig, train
from lockgate.modeling.reproduction import (
    LINK_TAG,
    ReproductionError,
    compare_runs,
    reproduce,
)
from lockgate.store import Store
from tests.modeling.datasets import churn, churn_contract

FAST = TrainConfig(n_splits=2, inner_splits=2, charts=False, naive=(), bootstrap=20)


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cwd is a git repository with one commit (as a project's training code is)."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "train.py").write_text("# training code\n")
    (root / ".gitignore").write_text(".lockgate/\n")
    _git("-C", str(root), "init", "-q")
    _git("-C", str(root), "add", ".")
    _git("-C", str(root), "commit", "-qm", "first")
    monkeypatch.chdir(root)
    return root


def _settings(root: Path) -> Settings:
    return Settings(home=root / ".lockgate")


def _trained(settings: Settings) -> str:
    ingest(churn(300), "churn", churn_contract(), settings=settings)
    model = LGBMClassifier(n_estimators=15, num_leaves=7, random_state=3, deterministic=True,
                           force_row_wise=True, n_jobs=1, verbose=-1)
    return train("churn", model, settings=settings, experiment="repro", config=FAST).run_id


def test_training_run_reproduces_with_every_hash_equal(repo: Path) -> None:
    settings = _settings(repo)
    original = _trained(settings)
    (repo / "train.py").write_text("# changed after the run\n")  # today's code differs
    result = reproduce(original, settings=settings)
    assert result.identical, [c for c in result.comparisons if c.verdict != "identical"]
    names = {c.name for c in result.comparisons if c.kind == "artifact"}
    assert {"model", "evaluation", "split_plan"} <= names
    assert result.counts()["identical"] >= 10
    store = Store.open(settings)
    assert store.tags(result.run_id)[LINK_TAG] == original
    code = store.code_version(result.run_id)
    assert code is not None and code.commit == store.code_version(original).commit
    assert not result.library_changes


def test_recorded_diff_is_applied_in_the_worktree(repo: Path) -> None:
    (repo / "train.py").write_text("# uncommitted edit the run used\n")
    settings = _settings(repo)
    original = _trained(settings)
    result = reproduce(original, settings=settings)
    assert result.code.endswith("+ recorded diff")
    assert result.identical


def test_changed_outputs_are_reported_with_a_cause(repo: Path) -> None:
    settings = _settings(repo)
    first = _trained(settings)
    other = train("churn", LGBMClassifier(n_estimators=5, random_state=1, verbose=-1),
                  settings=settings, experiment="repro", config=FAST).run_id
    rows = {c.name: c for c in compare_runs(Store.open(settings), first, other)}
    assert rows["model"].verdict == "different"
    assert rows["model"].cause.startswith("nondeterministic step")
    assert rows["time_fit_final_s"].verdict == "not_compared"


def test_what_cannot_be_reproduced_is_refused_with_the_reason(repo: Path,
                                                              tmp_path: Path) -> None:
    settings = _settings(repo)
    original = _trained(settings)
    store = Store.open(settings)
    # untracked files: their content was never recorded
    (repo / "helper.py").write_text("x = 1\n")
    untracked = train("churn", LGBMClassifier(n_estimators=5, verbose=-1), settings=settings,
                      config=FAST).run_id
    with pytest.raises(ReproductionError, match=r"untracked files .* \['helper.py'\]"):
        reproduce(untracked, settings=settings)
    # a run logged by hand has no recipe
    from lockgate.tracking import start_run

    with start_run("by-hand", settings=settings, capture_console=False,
                   sample_hardware=False) as run:
        run.log_metric("auc", 0.7)
    with pytest.raises(ReproductionError, match="records no training recipe"):
        reproduce(run.id, settings=settings)
    # the commit is gone from the repository
    _git("-C", str(repo), "checkout", "-q", "--orphan", "fresh")
    _git("-C", str(repo), "rm", "-rq", "--cached", ".")
    _git("-C", str(repo), "commit", "-q", "--allow-empty", "-m", "fresh")
    _git("-C", str(repo), "branch", "-D", "master", "main", check=False) if False else None
    subprocess.run(["git", "-C", str(repo), "branch", "-D", "master"], capture_output=True)
    subprocess.run(["git", "-C", str(repo), "branch", "-D", "main"], capture_output=True)
    subprocess.run(["git", "-C", str(repo), "reflog", "expire", "--expire=now", "--all"],
                   capture_output=True)
    subprocess.run(["git", "-C", str(repo), "gc", "-q", "--prune=now"], capture_output=True)
    with pytest.raises(ReproductionError, match=r"commit [0-9a-f]{12} is not in"):
        reproduce(original, settings=settings)
    assert store  # opened once for the whole test


PIPELINE = '''
import numpy as np
from lockgate import Pipeline, node, step


@step
def sample(n: int = 50, seed: int = 0) -> list:
    return np.random.default_rng(seed).normal(size=n).round(6).tolist()


@step
def summary(values: list) -> dict:
    return {"mean": float(np.mean(values)), "n": len(values)}


pipe = Pipeline("stats", [node(sample, outputs="values"),
                          node(summary, inputs={"values": "values"}, outputs="stats")])
'''


def test_pipeline_run_reproduces_step_by_step(repo: Path) -> None:
    from lockgate.pipelines import load_pipeline, run_pipeline

    (repo / "pipe.py").write_text(PIPELINE)
    _git("-C", str(repo), "add", "pipe.py")
    _git("-C", str(repo), "commit", "-qm", "pipeline")
    settings = _settings(repo)
    pipeline, ref = load_pipeline(f"{repo / 'pipe.py'}:pipe")
    original = run_pipeline(pipeline, {"sample": {"seed": 7}}, settings=settings, ref=ref,
                            max_workers=1)
    assert original.ok
    (repo / "pipe.py").write_text(PIPELINE.replace("round(6)", "round(2)"))  # today's code
    result = reproduce(original.run_id, settings=settings)
    steps = {c.name for c in result.comparisons if "/" in c.name}
    assert {"sample/sample.values", "summary/summary.stats"} <= steps, steps
    assert result.identical, [c for c in result.comparisons if c.verdict != "identical"]
    assert Store.open(settings).tags(result.run_id)[LINK_TAG] == original.run_id


def test_the_reproduction_process_records_where_its_parent_does(settings: Settings) -> None:
    """A client of lockgate server reproduces through it (the child would otherwise write
    beside the server, to a shared home); embedded stays embedded."""
    import dataclasses

    from lockgate.modeling.reproduction import _settings_env

    served = dataclasses.replace(settings, tracking_uri="http://127.0.0.1:8700")
    assert _settings_env(served)["LOCKGATE_TRACKING_URI"] == "http://127.0.0.1:8700"
    assert "LOCKGATE_TRACKING_URI" not in _settings_env(settings)
