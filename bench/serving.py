"""Benchmark: lockgate serving vs `mlflow models serve` on the same fitted pipeline.

Run: .venv/bin/python bench/serving.py [--seconds 15] [--concurrency 16] [--rounds 3]
       [--mlflow-venv /tmp/18-mlflow-venv] [--compare-src OTHER/src] [--quick]
MLflow runs from its own venv (``--mlflow-venv`` or ``$LOCKGATE_BENCH_MLFLOW_VENV``; its
dependencies pin versions that differ from lockgate's), or from this venv's ``mlflow``.

One fitted 20-feature HistGradientBoostingClassifier pipeline is registered in a
temporary lockgate home and saved as an MLflow model. Each server runs in its own
process with one worker on 127.0.0.1; the load comes from a second process: a minimal
keep-alive HTTP/1.1 client on asyncio streams (so the load generator's own CPU cost is
small and equal for both), `--concurrency` connections each sending single-row requests
back to back for `--seconds` after a warm-up. Servers are interleaved round by round
(A B C D, then D C B A, ...), every round counts, and each figure is the median
[min-max] over rounds: requests per second, p50 and p99 latency, and the server's own
CPU milliseconds per request (psutil, the server's process tree, over the measured
window), with the load average at the start and end of every round. Ratios pair the
rounds of one interleaving (lockgate's round k against MLflow's round k), never a best
of one side against another moment of the other. On a loaded machine the CPU per
request ratio is the steadier figure, so it is reported next to the throughput ratio.
``--compare-src`` adds ``lockgate serve`` run from another source tree (e.g. main's,
before a change) as one more interleaved server. Goals (issue #18), at concurrency 16,
one worker each:

- single-row throughput >= 10x MLflow with p99 latency <= 1/5 of MLflow's, both at
  once; reported also with micro-batching off (``micro_batch_rows=1``), so the ratio
  due to the design and the one due to the code are both known;
- cold: the first request right after the server is ready, timed on its own;
- the cost of prediction logging (<= 10% of throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # 2 shared cores: no thread oversubscription
VENV_BIN = Path(sys.executable).parent
N_FEATURES = 20
sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402

COMPARED = "lockgate (--compare-src)"
LAUNCH = """
import sys
from lockgate.config import load_settings
from lockgate.serving import ServeConfig, serve
serve(ServeConfig(ref="bench@production", port=int(sys.argv[1]), micro_batch_rows=1),
      workers=1, settings=load_settings())
"""
SAVE_MLFLOW = """
import json, sys
import mlflow.sklearn, pandas as pd, skops.io as sio
work = sys.argv[1]
trusted = json.load(open(f"{work}/trusted.json"))
pipeline = sio.load(f"{work}/pipeline.skops", trusted=trusted)
example = pd.read_json(f"{work}/example.json")
mlflow.sklearn.save_model(pipeline, f"{work}/mlflow-model", input_example=example,
                          serialization_format="skops", skops_trusted_types=trusted)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="Measured seconds per server.")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=harness.REPEATS,
                        help="Rounds (servers interleaved); every round counts (median).")
    parser.add_argument("--mlflow-venv", default=os.environ.get(
        "LOCKGATE_BENCH_MLFLOW_VENV", "/tmp/18-mlflow-venv"))
    parser.add_argument("--compare-src", help="Also serve from this source tree (its src/).")
    parser.add_argument("--quick", action="store_true",
                        help=f"5 s per server, {harness.REPEATS} rounds.")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: load spec file
    args = parser.parse_args()
    if args.load:
        spec = json.loads(Path(args.load).read_text())
        print(json.dumps(asyncio.run(_load(spec))))
        return
    seconds = 5.0 if args.quick else args.seconds
    rounds = harness.REPEATS if args.quick else max(harness.REPEATS, args.rounds)
    work = Path(tempfile.mkdtemp(prefix="lockgate-bench-"))
    try:
        _run(work, seconds, args.warmup, args.concurrency, rounds, _mlflow_bin(args),
             args.compare_src)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _mlflow_bin(args: argparse.Namespace) -> Path | None:
    for candidate in (Path(args.mlflow_venv) / "bin", VENV_BIN):
        if (candidate / "mlflow").exists():
            return candidate
    return None


def _run(work: Path, seconds: float, warmup: float, concurrency: int, rounds: int,
         mlflow_bin: Path | None, compare_src: str | None = None) -> None:
    report = harness.Report("serving")
    rows = _fit_and_register(work, mlflow_bin)
    results: dict[str, list[dict[str, Any]]] = {}
    env = {**os.environ, "LOCKGATE_HOME": str(work / ".lockgate"), "OMP_NUM_THREADS": "1",
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    targets = {
        "lockgate": ([str(VENV_BIN / "lockgate"), "serve", "bench@production"], "/predict",
                     "/health", lambda row: row),
        "lockgate (no prediction log)": (
            [str(VENV_BIN / "lockgate"), "serve", "bench@production", "--no-prediction-log"],
            "/predict", "/health", lambda row: row),
        "lockgate (micro-batching off)": (
            [sys.executable, "-c", LAUNCH], "/predict", "/health", lambda row: row),
    }
    if compare_src:
        targets[COMPARED] = ([str(VENV_BIN / "lockgate"), "serve", "bench@production"],
                             "/predict", "/health", lambda row: row)
    if mlflow_bin is not None:
        targets["mlflow models serve"] = (
            [str(mlflow_bin / "mlflow"), "models", "serve", "-m", str(work / "mlflow-model"),
             "--env-manager", "local", "-h", "127.0.0.1", "-w", "1"],
            "/invocations", "/ping", lambda row: {"dataframe_records": [row]})
    plan = [(r, name) for r in range(rounds) for name in
            (targets if r % 2 == 0 else reversed(list(targets)))]
    for round_no, name in plan:
        command, path, health, wrap = targets[name]
        port = _free_port()
        flag = (["--port", str(port)] if name in ("lockgate", "lockgate (no prediction log)",
                                                  COMPARED)
                else [str(port)] if "micro-batching off" in name else ["-p", str(port)])
        # MLflow starts `uvicorn` from PATH: its own venv's, not this one's.
        server_env = env if "lockgate" in name else {
            **env, "PATH": f"{command[0].rsplit('/', 1)[0]}{os.pathsep}{env['PATH']}"}
        if name == COMPARED:
            server_env = {**env, "PYTHONPATH": str(Path(compare_src or "") / "src")}
        load_before = harness.load_average()
        server = subprocess.Popen([*command, *flag], env=server_env, cwd=work,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        try:
            _wait_ready(f"http://127.0.0.1:{port}{health}", server)
            bodies = [json.dumps(wrap(row)).encode() for row in rows]
            first = _first_request(f"http://127.0.0.1:{port}{path}", bodies[0])
            spec = {"port": port, "path": path, "bodies": bodies_as_text(bodies),
                    "seconds": seconds, "warmup": warmup, "concurrency": concurrency}
            spec_path = work / "load.json"
            spec_path.write_text(json.dumps(spec))
            cpu_before = _tree_cpu(server.pid)
            done = subprocess.run([sys.executable, __file__, "--load", str(spec_path)],
                                  capture_output=True, text=True, check=True)
            measured = json.loads(done.stdout)
            measured["server_cpu_s"] = _tree_cpu(server.pid) - cpu_before
            measured["first_ms"] = first * 1000
            measured["cpu_ms"] = 1000 * measured["server_cpu_s"] / max(1, measured["requests"])
            measured["mean_batch_rows"] = _mean_batch(port) if "lockgate" in name else None
            measured["load"] = (load_before, harness.load_average())
            print(f"round {round_no + 1} {name:30s} {measured['rps']:8.1f} req/s  p50 "
                  f"{measured['p50_ms']:7.1f} ms  p99 {measured['p99_ms']:7.1f} ms  server "
                  f"CPU {measured['cpu_ms']:6.2f} ms/req  first {measured['first_ms']:6.0f} ms"
                  f"  errors {measured['errors']}  load {load_before:.1f}->"
                  f"{measured['load'][1]:.1f}"
                  + (f"  rows per model call {measured['mean_batch_rows']:.1f}"
                     if measured["mean_batch_rows"] else ""), flush=True)
            results.setdefault(name, []).append(measured)
        finally:
            _stop(server)
    _report(report, results, seconds, concurrency)


def _mean_batch(port: int) -> float | None:
    """Mean rows per model call from lockgate's own metrics (adaptive micro-batching)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {line.split("{")[0]: float(line.split()[-1]) for line in text.splitlines()
              if line.startswith(("lockgate_batch_rows_sum", "lockgate_batch_rows_count"))}
    count = values.get("lockgate_batch_rows_count", 0.0)
    return values.get("lockgate_batch_rows_sum", 0.0) / count if count else None


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def bodies_as_text(bodies: list[bytes]) -> list[str]:
    return [b.decode() for b in bodies]


def _first_request(url: str, body: bytes) -> float:
    """Seconds of the first prediction right after the server reports ready (cold)."""
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a server process and its children (uvicorn / gunicorn workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


def _fit_and_register(work: Path, mlflow_bin: Path | None) -> list[dict[str, float]]:
    """Fit the pipeline once, register it in lockgate and save it as an MLflow model."""
    import numpy as np
    import pandas as pd
    import polars as pl
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lockgate.config import Settings
    from lockgate.registry import Registry
    from lockgate.store import Store
    from lockgate.tracking import start_run

    rng = np.random.default_rng(0)
    names = [f"f{i:02d}" for i in range(N_FEATURES)]
    x = pd.DataFrame(rng.normal(size=(5000, N_FEATURES)), columns=names)
    y = (x["f00"] + 0.5 * x["f01"] - x["f02"] + rng.normal(size=5000) > 0).astype(int)
    pipeline = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(
        max_iter=100, random_state=0)).fit(x, y)
    settings = Settings(home=work / ".lockgate")
    contract = {"table": "bench", "version": "1", "target": "y",
                "columns": [{"name": n, "type": "float", "nullable": False} for n in names]
                + [{"name": "y", "type": "int", "nullable": False}]}
    evaluation = {"problem_type": "binary", "primary_metric": "roc_auc", "metrics": {},
                  "leak_free": True, "findings": [], "dataset": {}, "holdout": {}}
    with start_run("bench", settings=settings, capture_code=False,
                   sample_hardware=False, capture_console=False) as run:
        run.log_value(pipeline, "model")
        run.log_dict(evaluation, "evaluation")
    registry = Registry(Store.open(settings), settings)
    registry.register("bench", run.id, contract=contract, reference_profile={},
                      holdout=pl.from_pandas(x.assign(y=y).head(200)))
    registry.transition("bench", 1, "production", action="promote", reason="benchmark")
    import skops.io as sio

    if mlflow_bin is not None:  # saved by MLflow's own venv, from the same fitted pipeline
        (work / "pipeline.skops").write_bytes(sio.dumps(pipeline))
        (work / "trusted.json").write_text(json.dumps(sio.get_untrusted_types(
            data=sio.dumps(pipeline))))
        x.head(2).to_json(work / "example.json")
        subprocess.run([str(mlflow_bin / "python"), "-c", SAVE_MLFLOW, str(work)], check=True)
    one = x.iloc[:1]
    started = time.perf_counter()
    for _ in range(50):
        pipeline.predict_proba(one)
    print(f"in-process single-row predict_proba: {(time.perf_counter() - started) / 50 * 1000:.2f}"
          " ms", flush=True)
    sample = x.sample(1000, random_state=1)
    return [{k: float(v) for k, v in row.items()} for row in sample.to_dict("records")]


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    bodies = [b.encode() for b in spec["bodies"]]
    head = (f"POST {spec['path']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nConnection: keep-alive\r\n")
    latencies: list[float] = []
    errors = [0]
    start = time.monotonic() + spec["warmup"]
    stop = start + spec["seconds"]

    async def connection(seed: int) -> None:
        rnd = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
        while True:
            now = time.monotonic()
            if now >= stop:
                break
            body = bodies[rnd.randrange(len(bodies))]
            request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            sent = time.perf_counter()
            writer.write(request)
            status = await _response(reader)
            elapsed = time.perf_counter() - sent
            if now >= start:
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1
        writer.close()

    await asyncio.gather(*(connection(i) for i in range(spec["concurrency"])))
    latencies.sort()
    n = len(latencies)
    pick = lambda q: latencies[min(n - 1, int(q * n))] * 1000 if n else float("nan")  # noqa: E731
    return {"requests": n, "errors": errors[0], "rps": n / spec["seconds"],
            "p50_ms": pick(0.50), "p99_ms": pick(0.99)}


async def _response(reader: asyncio.StreamReader) -> int:
    header = await reader.readuntil(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        key, _, value = line.partition(":")
        if key.lower() == "content-length":
            length = int(value.strip())
        elif key.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return status


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not become ready in {timeout:.0f} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _samples(rounds: list[dict[str, Any]], seconds: float) -> list[harness.Sample]:
    """Each round as a Sample: its measured seconds, the server's own CPU seconds, and
    the requests it answered (so the rate is req/s and the CPU rate req per CPU s)."""
    return [harness.Sample(seconds, r["server_cpu_s"], units=max(1, r["requests"]),
                           load=r["load"][1]) for r in rounds]


def _report(report: harness.Report, results: dict[str, list[dict[str, Any]]],
            seconds: float, concurrency: int) -> None:
    """Each server's rounds, then every goal of issue #18 against MLflow's paired rounds."""
    def spread(name: str, key: str) -> harness.Spread:
        return harness.Spread.of([r[key] for r in results[name]])

    for name, rounds in results.items():
        record = report.compare if name.startswith("lockgate") else report.peer
        record(f"{name}: single-row throughput, concurrency {concurrency}",
               _samples(rounds, seconds), unit="req",
               note=f"p50 {spread(name, 'p50_ms').show(1, 'ms')}; p99 "
               f"{spread(name, 'p99_ms').show(1, 'ms')}; errors "
               f"{sum(r['errors'] for r in rounds)}; CPU is the server's own")
        record(f"{name}: first request after ready (cold)",
               harness.values([r["first_ms"] for r in rounds]), unit="ms")
    peer = results.get("mlflow models serve")
    for ours in ("lockgate", "lockgate (micro-batching off)", COMPARED):
        if ours not in results:
            continue
        if peer is None:
            report.skip(f"{ours} / mlflow throughput, concurrency {concurrency}",
                        goal="≥ 10× MLflow req/s with p99 ≤ 1/5 of MLflow's",
                        fix="pass --mlflow-venv /tmp/18-mlflow-venv (a venv with "
                        "`pip install mlflow`)")
            continue
        judged = ours != "lockgate (micro-batching off)"  # a variant shown for its cost,
        # not the configuration the goal is about
        rps = report.compare(
            f"{ours} vs mlflow models serve: throughput, concurrency {concurrency}",
            lockgate=_samples(results[ours], seconds), baseline=_samples(peer, seconds),
            unit="req", goal=harness.Goal.at_least(10, "≥ 10× MLflow req/s", on="rate")
            if judged else None)
        p99 = report.compare(
            f"{ours} vs mlflow models serve: p99 latency, concurrency {concurrency}",
            lockgate=harness.values([r["p99_ms"] for r in results[ours]]),
            baseline=harness.values([r["p99_ms"] for r in peer]), unit="ms",
            goal=harness.Goal.at_most(0.2, "p99 ≤ 1/5 of MLflow's", on="value")
            if judged else None)
        if not judged:
            continue
        report.check(f"{ours}: the goal of issue #18 (both at once)",
                     found=(rps.verdict, p99.verdict), expected=("MET", "MET"),
                     goal="≥ 10× MLflow req/s with p99 ≤ 1/5 of MLflow's")
    if COMPARED in results:
        report.compare("this src vs --compare-src: server CPU per request",
                       lockgate=_samples(results["lockgate"], seconds),
                       baseline=_samples(results[COMPARED], seconds), unit="req",
                       goal=None, note="speed ratio > 1: this src is cheaper")
    bare = results.get("lockgate (no prediction log)")
    if bare:
        report.compare("prediction log on vs off: throughput",
                       lockgate=_samples(results["lockgate"], seconds),
                       baseline=_samples(bare, seconds), unit="req",
                       goal=harness.Goal.at_least(0.9, "prediction log costs ≤ 10% of "
                                                  "throughput", on="rate"))
    report.emit()


if __name__ == "__main__":
    main()
