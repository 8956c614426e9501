"""Capture of what a run executed with: the git state of the code and the environment."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

from lockgate.store import Environment


@functools.lru_cache(maxsize=1)
def installed_distributions() -> dict[str, str]:
    """Installed distributions and their versions (cached: it does not change mid-process)."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name] = dist.version
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def capture_environment(settings: dict[str, object]) -> Environment:
    """Python version, platform, installed distributions and resolved settings."""
    return Environment(
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages=installed_distributions(),
        settings=dict(settings),
    )


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def git_state(cwd: Path | None = None) -> tuple[str | None, str | None, bool | None, str | None,
                                                 str]:
    """``(commit, branch, dirty, repo_root, diff)`` of the repository holding ``cwd``.

    Outside a git repository every field is None and the diff is empty. The diff
    covers tracked changes against HEAD; untracked files are listed by name. Two git
    processes on a clean tree, three with tracked changes: every run of a script pays
    them, and on a busy machine each process start waits for a CPU.
    """
    where = (cwd or Path.cwd()).resolve()
    root = _git(["rev-parse", "--show-toplevel"], where)
    if root is None:
        return None, None, None, None, ""
    status = _git(["status", "--porcelain=v2", "--branch"], where) or ""
    commit, branch, changed, untracked = _parse_status(status)
    diff = (_git(["diff", "HEAD"], where) or "") if commit and changed else ""
    if untracked:
        diff = diff + "\n# untracked files:\n" + "\n".join(f"#   {u}" for u in untracked)
    return commit, branch, bool(changed or untracked), root.strip(), diff


def _parse_status(status: str) -> tuple[str | None, str | None, bool, list[str]]:
    """``(commit, branch, tracked changes?, untracked paths)`` from ``git status
    --porcelain=v2 --branch``. A detached HEAD is branch "HEAD" and a repository
    without commits has neither, as ``git rev-parse`` reports them."""
    commit = branch = None
    changed, untracked = False, []
    for line in status.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ").strip()
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.removeprefix("# branch.head ").strip()
            branch = "HEAD" if head == "(detached)" else head
        elif line.startswith("? "):
            untracked.append(line[2:])
        elif line[:2] in ("1 ", "2 ", "u "):
            changed = True
    return commit, branch if commit else None, changed, untracked
