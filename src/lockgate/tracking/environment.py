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
    covers tracked changes against HEAD; untracked files are listed by name.
    """
    where = (cwd or Path.cwd()).resolve()
    root = _git(["rev-parse", "--show-toplevel"], where)
    if root is None:
        return None, None, None, None, ""
    repo_root = root.strip()
    commit = (_git(["rev-parse", "HEAD"], where) or "").strip() or None
    branch = (_git(["rev-parse", "--abbrev-ref", "HEAD"], where) or "").strip() or None
    status = _git(["status", "--porcelain"], where) or ""
    diff = _git(["diff", "HEAD"], where) if commit else ""
    untracked = [line[3:] for line in status.splitlines() if line.startswith("??")]
    if untracked:
        diff = (diff or "") + "\n# untracked files:\n" + "\n".join(f"#   {u}" for u in untracked)
    return commit, branch, bool(status.strip()), repo_root, diff or ""
