"""Run every benchmark and print one table of figures against their goals.

    .venv/bin/python bench/run_all.py [--only store serving ...] [--quick]
        [--mlflow-venv /tmp/18-mlflow-venv] [--evidently-python PATH]
        [--out bench/RESULTS.md] [--json bench/RESULTS.json] [--timeout SECONDS]

Each bench runs as its own process (so one's imports and caches never warm another),
one after the other, and appends its rows to a JSON-lines file through
``bench/harness.py``: the figure, lockgate's and the baseline's median [min-max] wall and
CPU time, the paired ratio, the goal as the issue states it, MET / NOT MET computed from
the numbers, the load average during the figure, and for a goal not met the measured
reason. This script prints them as one table and writes it as Markdown (``--out``) and
JSON (``--json``). A peer that is not installed is a SKIPPED row with its one-line fix
(the bench says so itself, or this script when the bench stops on a missing module); a
bench that fails is a FAILED row with its exit code and last line of output, and the
others still run.

``--quick`` runs every bench at small sizes so the whole command can be checked end to
end in minutes; its figures do not answer the issues' goals (the table says so), and it
writes to ``bench/out/`` unless ``--out`` / ``--json`` say otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
MLFLOW_VENV = os.environ.get("LOCKGATE_BENCH_MLFLOW_VENV", "/tmp/18-mlflow-venv")


@dataclass(frozen=True, slots=True)
class Bench:
    """How to run one bench: its argument lists (one process each) at full and at quick
    sizes, and which peer options it takes."""

    full: tuple[tuple[str, ...], ...]
    quick: tuple[tuple[str, ...], ...]
    mlflow: bool = False
    evidently: bool = False


BENCHES: dict[str, Bench] = {
    "cli": Bench(((),), (("--repeats", "3"),)),
    "store": Bench(((),), (("--runs", "2000", "--points", "10"),)),
    "tracking": Bench(((),), (("--points", "2000", "--mlflow-calls", "30",
                               "--mlflow-batch-points", "2000"),), mlflow=True),
    "server": Bench(((),), (("--clients", "4", "--batches", "2", "--points", "10",
                             "--artifacts", "1"),), mlflow=True),
    "serving": Bench(((),), (("--seconds", "2", "--warmup", "1"),), mlflow=True),
    "quality": Bench(((),), (("--rows", "200000", "--drift-rows", "50000"),),
                     evidently=True),
    "data": Bench(((),), (("--rows", "50000", "--stream-rows", "20000", "--skip-s3",
                           "--skip-pandas"),)),
    "ui": Bench(((),), (("--runs", "2000", "--points", "10"),)),
    "monitoring": Bench(((),), (("--rows", "20000", "--reference-rows", "5000"),),
                        evidently=True),
    "batch_scoring": Bench(((),), (("--rows", "5000", "--chunk-rows", "2000"),)),
    "pipelines": Bench(((),), (("--steps", "5", "--cached-steps", "3"),)),
    "modeling": Bench(((), ("--budgets",)), (("--rows", "3000"),)),
    "leakage": Bench(((), ("--wide",)), (("--fast",),)),
    "retention": Bench(((),), (("--commits", "20"),)),
    "flavors": Bench(((),), (("--repeats", "3", "--calls", "20"),)),
    "infra_latency": Bench(((),), (("--repeats", "3", "--hogs", "1"),)),
}
#: a module a bench stops on -> the one line that installs it
FIXES = {"kedro": "pip install -e '.[bench]'", "pandera": "pip install -e '.[bench]'",
         "lightgbm": "pip install lightgbm (and -e '.[flavors]')",
         "xgboost": "pip install -e '.[flavors]'", "onnxruntime": "pip install -e '.[flavors]'",
         "skl2onnx": "pip install -e '.[flavors]'", "moto": "pip install -e '.[dev]'",
         "mlflow": f"make a venv with `pip install mlflow` at {MLFLOW_VENV}",
         "evidently": "python -m venv /tmp/evidently-venv && /tmp/evidently-venv/bin/pip "
                      "install evidently 'pandas<3' pyarrow"}
COLUMNS = ("bench", "case", "figure", "lockgate", "baseline", "ratio", "goal", "verdict",
           "load", "note")
HEADERS = ("bench", "case", "figure", "lockgate median [min-max]",
           "baseline median [min-max]", "ratio (wall / CPU)", "goal", "verdict",
           "load avg during", "note / measured reason")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    results = Path(tempfile.mkstemp(prefix="lockgate-bench-", suffix=".jsonl")[1])
    started = time.time()
    for name in args.only or list(BENCHES):
        for extra in _arguments(name, args):
            _run_one(name, extra, results, args.timeout)
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    results.unlink()
    text = table(rows, quick=args.quick, started=started)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "started": started, "seconds": time.time() - started, "cores": os.cpu_count(),
        "quick": args.quick, "command": [sys.executable, *sys.argv], "rows": rows},
        indent=1), encoding="utf-8")
    counts = summary(rows)
    print(f"wrote {args.out} and {args.json}: {len(rows)} rows, {counts}")
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES))
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the whole "
                        "command end to end; the figures then do not answer the goals")
    parser.add_argument("--out", type=Path, default=None,
                        help="Markdown table (default bench/RESULTS.md; quick: bench/out/)")
    parser.add_argument("--json", type=Path, default=None,
                        help="the same rows as JSON (default beside --out)")
    parser.add_argument("--mlflow-venv", default=MLFLOW_VENV,
                        help="a venv with MLflow (tracking, serving, server)")
    parser.add_argument("--evidently-python", default=None,
                        help="an interpreter with Evidently (quality, monitoring)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per bench process (default: none; quick: 900)")
    parser.add_argument("--store-url", nargs="+", default=[], help="run the store bench on "
                        "these existing stores (e.g. 1M runs logged earlier) instead of "
                        "logging new ones")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = HERE / "out" / "RESULTS-quick.md" if args.quick else HERE / "RESULTS.md"
    if args.json is None:
        args.json = args.out.with_suffix(".json")
    if args.timeout is None and args.quick:
        args.timeout = 900.0
    return args


def _arguments(name: str, args: argparse.Namespace) -> list[list[str]]:
    """The argument lists of one bench's processes, peer options included."""
    bench = BENCHES[name]
    if name == "store" and args.store_url:
        return [["--url", url] for url in args.store_url]
    peers = [*(["--mlflow-venv", args.mlflow_venv] if bench.mlflow else []),
             *(["--evidently-python", args.evidently_python]
               if bench.evidently and args.evidently_python else [])]
    return [[*extra, *peers] for extra in (bench.quick if args.quick else bench.full)]


def _run_one(name: str, extra: list[str], results: Path, timeout: float | None) -> None:
    """Run one bench process; its rows land in ``results``, or a row says why not."""
    before = _count(results)
    print(f"\n### {name} {' '.join(extra)}".rstrip(), flush=True)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    try:
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *extra],
                              env={**os.environ, "LOCKGATE_BENCH_RESULTS": str(results)},
                              capture_output=True, text=True, timeout=timeout)
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, out = -1, _text(exc.stdout)
        err = _text(exc.stderr) + f"\ntimed out after {timeout:.0f} s (--timeout)"
    seconds = time.perf_counter() - started
    print(out[-4000:] + f"\n({name}: {seconds:.0f} s, exit {code})", flush=True)
    base = {"bench": name, "baseline": "", "ratio": "", "goal": "", "load_low": load,
            "load_high": os.getloadavg()[0], "checked": None, "op": None, "limit": None,
            "lockgate": f"wall {seconds:.0f} s (the whole process)"}
    if code == 0 and _count(results) == before:
        _append(results, base | {"case": " ".join(extra) or "defaults", "figure":
                                 "not on the shared harness: see its printed output",
                                 "verdict": "", "note": ""})
    if code != 0:
        last = (err.strip().splitlines() or ["(no output)"])[-1][:300]
        missing = re.search(r"No module named '([\w.]+)'", err)
        module = missing.group(1).split(".")[0] if missing else ""
        if module:
            _append(results, base | {"case": " ".join(extra) or "defaults",
                                     "figure": f"not measured: {module} is not installed",
                                     "verdict": "SKIPPED",
                                     "note": FIXES.get(module, f"pip install {module}")})
        else:
            _append(results, base | {"case": " ".join(extra) or "defaults", "figure":
                                     f"exited {code}", "verdict": "FAILED", "note": last})
        print(f"{name} exited {code} after {seconds:.0f} s: {last}", flush=True)


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _append(path: Path, row: dict[str, Any]) -> None:
    low, high = row["load_low"], row["load_high"]
    row["load"] = f"{min(low, high):.1f}-{max(low, high):.1f}"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _count(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def summary(rows: list[dict[str, Any]]) -> str:
    """How many rows of each verdict ("12 MET, 3 NOT MET, ...")."""
    order = ("MET", "NOT MET", "SKIPPED", "FAILED")
    counts = {v: sum(1 for r in rows if r.get("verdict") == v) for v in order}
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict[str, Any]], quick: bool = False, started: float | None = None
          ) -> str:
    """The rows as one Markdown table, then the goals not met with their reasons."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    lines = [f"# Benchmarks ({when}, {os.cpu_count()} cores{', --quick' if quick else ''})",
             ""]
    if quick:
        lines += ["**--quick**: small sizes, to check the command end to end; these figures "
                  "do not answer the issues' goals.", ""]
    lines += [f"{summary(rows)}. Ratios are lockgate / baseline, paired repetition by "
              "repetition (\"speed\": rates, > 1 is lockgate faster; \"time\": seconds, "
              "< 1 is lockgate faster); verdicts are computed from the numbers.", "",
              "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        verdict = row.get("verdict", "")
        shown = {"NOT MET": "**NOT MET**", "FAILED": "**FAILED**"}.get(verdict, verdict)
        lines.append("| " + " | ".join(_cell(shown if c == "verdict" else row.get(c))
                                       for c in COLUMNS) + " |")
    unmet = [r for r in rows if r.get("verdict") in ("NOT MET", "FAILED")]
    if unmet:
        lines += ["", "## Goals not met, and the measured reason", ""]
        lines += [f"- {r['bench']}: {r['case']} ({r.get('goal') or 'no goal'}): "
                  f"{r['verdict']}: {r.get('note') or 'no reason recorded'}" for r in unmet]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
