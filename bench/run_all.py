"""Run every benchmark and write one table of figures against their goals.

    .venv/bin/python bench/run_all.py [--only store serving ...] [--quick]
                                      [--out bench/RESULTS.md]

Each bench runs as its own process (so one's imports and caches never warm another),
one after the other, and appends its rows (figure, wall and CPU median [min-max], goal,
met, load average at start and end) to a JSON-lines file through ``bench/harness.py``;
this script turns them into a Markdown table. A bench that fails is listed with its exit
code and the tail of its output, and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
#: name -> (arguments for a full run, arguments for --quick)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "cli": ([], ["--repeats", "3"]),
    "store": ([], ["--runs", "20000", "--points", "100"]),
    "tracking": ([], ["--points", "20000", "--mlflow-calls", "100"]),
    "serving": ([], ["--quick"]),
    "quality": ([], ["--rows", "1000000"]),  # drift stays at its full 1M rows
    # --quick: validation alone at 1M rows (ingestion at 1M+ is minutes per sample)
    "data": ([], ["--validation-only", "--rows", "1000000", "--skip-pandas"]),
    "ui": ([], []),
    "monitoring": ([], []),
    "pipelines": ([], []),
    "modeling": ([], []),
    "leakage": ([], []),
    "batch_scoring": ([], []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES))
    parser.add_argument("--quick", action="store_true", help="smaller sizes where a bench "
                        "has them (the figures then do not answer the issue's goals)")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--store-url", nargs="+", default=[], help="run the store bench on "
                        "these existing stores (e.g. 1M runs logged earlier) instead of "
                        "logging new ones")
    args = parser.parse_args()
    results = Path(tempfile.mkstemp(prefix="lockgate-bench-", suffix=".jsonl")[1])
    failures: list[str] = []
    for name in args.only or list(BENCHES):
        script = HERE / f"{name}.py"
        if not script.exists():
            continue
        extra = BENCHES[name][1 if args.quick else 0]
        if name == "store" and args.store_url:
            for url in args.store_url:
                _run_one(name, script, ["--url", url], results, failures)
            continue
        _run_one(name, script, extra, results, failures)
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    args.out.write_text(table(rows, failures), encoding="utf-8")
    print(f"\nwrote {args.out} ({len(rows)} rows, {len(failures)} failed benches)")


def _run_one(name: str, script: Path, extra: list[str], results: Path,
             failures: list[str]) -> None:
    """Run one bench as its own process; its rows land in ``results``."""
    before = _count(results)
    print(f"\n### {name} ({' '.join(extra) or 'defaults'})", flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(script), *extra],
                          env={**os.environ, "LOCKGATE_BENCH_RESULTS": str(results)},
                          capture_output=True, text=True)
    print(done.stdout[-6000:], flush=True)
    if done.returncode == 0 and _count(results) == before:
        with results.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({
                "bench": name, "case": "(not on the shared harness)", "figure":
                "see its printed output", "wall": f"{time.perf_counter() - started:.0f} s",
                "cpu": "", "goal": "", "met": None, "load_start": os.getloadavg()[0],
                "load_end": os.getloadavg()[0], "note": ""}) + "\n")
    if done.returncode != 0:
        failures.append(f"- `{name}` exited {done.returncode} after "
                        f"{time.perf_counter() - started:.0f} s: "
                        f"`{(done.stderr.strip().splitlines() or [''])[-1][:300]}`")


def _count(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def table(rows: list[dict], failures: list[str]) -> str:
    """The rows as one Markdown table (goal rows marked MET / NOT MET)."""
    lines = [
        f"# Benchmarks ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores)", "",
        "| bench | case | figure | lockgate | baseline | ratio | wall median [min-max] | "
        "CPU median [min-max] | load start/end | goal | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = {True: "MET", False: "**NOT MET**", None: ""}[r["met"]]
        figure = r["figure"] + (f" ({r['note']})" if r.get("note") else "")
        lines.append(f"| {r['bench']} | {r['case']} | {figure} | {r.get('lockgate', '')} | "
                     f"{r.get('baseline', '')} | {r.get('ratio', '')} | {r['wall']} | "
                     f"{r['cpu']} | {r['load_start']:.1f} / {r['load_end']:.1f} | "
                     f"{r['goal']} | {met} |")
    if failures:
        lines += ["", "Benches that failed:", *failures]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
