"""The git state a run records: the same fields as git itself reports, from few processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lockgate.tracking import environment
from lockgate.tracking.environment import git_state

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=repo, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def _reference(repo: Path) -> tuple[str | None, str | None, bool, str, list[str]]:
    """What git's own plumbing says, one question per process."""
    commit = _git(repo, "rev-parse", "HEAD").strip() or None
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() or None
    status = _git(repo, "status", "--porcelain")
    diff = _git(repo, "diff", "HEAD") if commit else ""
    untracked = [line[3:].strip('"') for line in status.splitlines() if line.startswith("??")]
    return commit, branch, bool(status.strip()), diff, untracked


def _repo(tmp_path: Path, state: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print(1)\n")
    if state == "no commits":
        (repo / "new.py").write_text("x = 1\n")
        return repo
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "init")
    if state in ("tracked change", "both"):
        (repo / "train.py").write_text("print(2)\n")
    if state in ("untracked file", "both"):
        (repo / "notes with space.txt").write_text("n\n")
    if state == "detached":
        _git(repo, "checkout", "-q", "--detach")
    if state == "staged rename":
        _git(repo, "mv", "train.py", "fit.py")
    return repo


@pytest.mark.parametrize("state", ["clean", "tracked change", "untracked file", "both",
                                   "detached", "staged rename", "no commits"])
def test_git_state_reports_what_git_reports(tmp_path: Path, state: str) -> None:
    repo = _repo(tmp_path, state)
    commit, branch, dirty, root, diff = git_state(repo)
    ref_commit, ref_branch, ref_dirty, ref_diff, untracked = _reference(repo)
    assert (commit, branch, dirty) == (ref_commit, ref_branch, ref_dirty)
    assert root == str(repo.resolve())
    assert diff.startswith(ref_diff)
    for path in untracked:
        assert f"#   {path}" in diff
    if not ref_diff and not untracked:
        assert diff == ""


def test_outside_a_repository_every_field_is_empty(tmp_path: Path) -> None:
    assert git_state(tmp_path) == (None, None, None, None, "")


@pytest.mark.parametrize(("state", "processes"), [("clean", 2), ("untracked file", 2),
                                                  ("tracked change", 3)])
def test_git_state_starts_few_git_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            state: str, processes: int) -> None:
    """Every run pays these process starts; on a loaded machine each waits for a CPU."""
    repo = _repo(tmp_path, state)
    started: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        started.append(list(args))
        return real_run(args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(environment.subprocess, "run", counting_run)
    git_state(repo)
    assert len(started) == processes, started
