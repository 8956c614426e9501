"""Benchmark: command-line start-up, against the bare interpreter.

    .venv/bin/python bench/cli.py [--repeats 5]

Cases, interleaved (harness), each a fresh process: ``python -c pass`` (the floor no
command can beat), ``lockgate --help``, and ``lockgate runs list`` on an empty store
(created and migrated once beforehand, so the figure is start-up plus one query, not
the first migration). For ``runs list`` the time to its first byte of output is the
figure. CPU is the child's own (user + system). The heaviest imports of each command,
from ``python -X importtime``, are listed so a regression names its cause.

Goals (issue #18): ``--help`` <= 0.3 s, first output of ``runs list`` <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness  # bench/ is on sys.path when this file runs as a script

LOCKGATE = str(Path(sys.executable).parent / "lockgate")


def first_output(command: list[str], env: dict[str, str]) -> harness.Sample:
    """Wall seconds to the first byte on stdout, and the child's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    assert child.stdout is not None
    child.stdout.read(1)
    first = time.perf_counter() - started
    child.stdout.read()
    child.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return harness.Sample(first, cpu)


def heaviest_imports(command: list[str], env: dict[str, str], top: int = 5) -> str:
    """The top-level imports of a command that took longest (cumulative, ms)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import sys; from lockgate.cli.main import main; "
                           f"sys.argv = {['lockgate', *command[1:]]!r}; main()"],
                          env=env, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].startswith(" ") and not parts[2].startswith("  "):
            try:
                rows.append((int(parts[1]), parts[2].strip()))
            except ValueError:
                continue
    rows.sort(reverse=True)
    return ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in rows[:top])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    report = harness.Report("cli")
    home = Path(tempfile.mkdtemp(prefix="lockgate-bench-cli-"))
    env = {**os.environ, "LOCKGATE_HOME": str(home / ".lockgate")}
    env.pop("LOCKGATE_DB_URL", None)
    subprocess.run([LOCKGATE, "runs", "list"], env=env, check=True, capture_output=True)
    commands = {"python -c pass (floor)": [sys.executable, "-c", "pass"],
                "lockgate --help": [LOCKGATE, "--help"],
                "lockgate runs list (empty store)": [LOCKGATE, "runs", "list"]}
    cases = {name: (lambda c=command: first_output(c, env)) for name, command in
             commands.items()}
    series, _ = harness.interleave(cases, repeats=args.repeats)
    floor = series["python -c pass (floor)"]
    goals = {"lockgate --help": harness.Goal.at_most(0.3, "≤ 0.3 s", absolute=True),
             "lockgate runs list (empty store)": harness.Goal.at_most(
                 0.5, "≤ 0.5 s to first output", absolute=True)}
    for name, goal in goals.items():
        report.compare(f"{name}: to first output, vs python -c pass", lockgate=series[name],
                       baseline=floor, goal=goal,
                       why="heaviest imports: " + heaviest_imports(commands[name], env))
    report.emit()


if __name__ == "__main__":
    main()
