"""Benchmark: 16 concurrent clients logging metrics and artifacts through
`lockgate server` vs MLflow's tracking server, both on the same PostgreSQL.

Run: .venv/bin/python bench/server.py [--clients 16] [--batches 10] [--points 50]
       [--artifacts 3] [--repeats 3] [--mlflow-venv /tmp/18-mlflow-venv]

Each server runs in its own process with one worker on 127.0.0.1, over its own schema
of database `test` on 127.0.0.1:5432 (the same PostgreSQL); MLflow comes from its own
venv (never this one: it pins other versions). One round: `--clients` threads each
create a run, send `--batches` batches of `--points` metric points, upload
`--artifacts` 64 KiB artifacts, and end the run. lockgate's clients are its real client
(`RemoteStore`, `RemoteBlobStore`: idempotency keys, verified uploads); MLflow's speak
its REST API directly with httpx (lighter than the `mlflow` client, so the comparison
favours MLflow). Rounds interleave A B A B; figures are median [min-max] of wall time
and of CPU (this process plus the server's process tree), with the ratio
lockgate / MLflow in points per second (> 1: lockgate faster). Issue #22 states no
number: the rows carry the ratios with no goal. Without MLflow the peer is SKIPPED.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Sample, cpu_seconds, interleave, with_units

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def schema() -> str:
    name = f"bench22b_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(PG).begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    return name


def drop(name: str) -> None:
    with sa.create_engine(PG).begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 900  # start-up (migrations) is not measured; load may be high
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not start")


def start_lockgate(home: Path, db_url: str, src: str = SRC
                   ) -> tuple[subprocess.Popen[bytes], str, str]:
    sys.path.insert(0, SRC)
    from lockgate.config import Settings
    from lockgate.security import accounts
    from lockgate.store import Store

    store = Store.open(Settings(home=home, db_url=db_url))
    accounts.init_admin(store)
    accounts.create_user(store, "bench", "writer")
    token = accounts.issue_token(store, "bench")
    store.close()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": src, "LOCKGATE_HOME": str(home),
           "LOCKGATE_DB_URL": db_url}
    proc = subprocess.Popen([sys.executable, "-m", "lockgate.cli.main", "server", "start",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return proc, url, token


def start_mlflow(venv: Path, home: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    if not (venv / "bin" / "mlflow").is_file():
        raise SystemExit(f"No MLflow in {venv}: make a venv with mlflow and psycopg2-binary "
                         "there, or pass --mlflow-venv PATH.")
    port = free_port()
    backend = (f"postgresql+psycopg2://postgres@127.0.0.1:5432/test?options=-csearch_path"
               f"%3D{name}")
    proc = subprocess.Popen([str(venv / "bin" / "mlflow"), "server", "--backend-store-uri",
                             backend, "--artifacts-destination", str(home / "mlartifacts"),
                             "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], cwd=home, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return proc, url


def tree_cpu(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def concurrently(clients: int, work: Callable[[int], None], server_pid: int) -> Sample:
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # reported after the round
            errors.append(exc)

    cpu0, server0, wall0 = cpu_seconds(), tree_cpu(server_pid), time.perf_counter()
    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall0
    cpu = cpu_seconds() - cpu0 + tree_cpu(server_pid) - server0
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]!r}")
    return Sample(wall, cpu)


def lockgate_client(url: str, token: str, args: argparse.Namespace,
                    cache: Path) -> Callable[[int], None]:
    from lockgate.artifacts.blob_store import uri_for
    from lockgate.artifacts.remote_blobs import RemoteBlobStore
    from lockgate.store.remote import RemoteStore

    store = RemoteStore(url, token)

    def work(i: int) -> None:
        blobs = RemoteBlobStore(store, cache / f"c{i}-{uuid.uuid4().hex[:6]}")
        run_id = store.create_run(f"client-{i}", experiment="bench")
        now = time.time()
        for b in range(args.batches):
            store.log_metric_tuples([(run_id, "loss", b * args.points + s, now, 1.0 / (s + 1))
                                     for s in range(args.points)], request_id=uuid.uuid4().hex)
        for a in range(args.artifacts):
            data = os.urandom(64 << 10)
            sha = blobs.put(data)
            store.add_artifact(run_id=run_id, name=f"a{a}.bin", uri=uri_for(sha), sha256=sha,
                               size=len(data), media_type="application/octet-stream")
        store.end_run(run_id, "FINISHED")

    return work


def mlflow_client(url: str, args: argparse.Namespace) -> Callable[[int], None]:
    local = threading.local()

    def client() -> httpx.Client:
        if getattr(local, "client", None) is None:
            local.client = httpx.Client(base_url=url, timeout=60)
        return local.client

    def work(i: int) -> None:
        http = client()
        run = http.post("/api/2.0/mlflow/runs/create", json={
            "experiment_id": "0", "run_name": f"client-{i}",
            "start_time": int(time.time() * 1000)})
        run.raise_for_status()
        info = run.json()["run"]["info"]
        run_id = info["run_id"]
        now = int(time.time() * 1000)
        for b in range(args.batches):
            http.post("/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, "metrics": [
                {"key": "loss", "value": 1.0 / (s + 1), "timestamp": now,
                 "step": b * args.points + s} for s in range(args.points)]}).raise_for_status()
        for a in range(args.artifacts):
            http.put(f"/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/a{a}.bin",
                     content=os.urandom(64 << 10)).raise_for_status()
        http.post("/api/2.0/mlflow/runs/update", json={
            "run_id": run_id, "status": "FINISHED",
            "end_time": int(time.time() * 1000)}).raise_for_status()

    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--points", type=int, default=50)
    parser.add_argument("--artifacts", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mlflow-venv", type=Path, default=Path(
        os.environ.get("LOCKGATE_BENCH_MLFLOW_VENV", "/tmp/18-mlflow-venv")))
    parser.add_argument("--against-src", type=Path, default=None, help=(
        "compare with a lockgate server run from another source tree (e.g. `git archive` "
        "of an older commit) instead of MLflow; the client is this tree's for both"))
    args = parser.parse_args()
    report = Report("server")
    tmp = Path(tempfile.mkdtemp(prefix="lockgate-bench-server-"))
    schemas = [schema(), schema()]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        lg_proc, lg_url, token = start_lockgate(tmp / "lg", f"{PG}?options=-csearch_path%3D"
                                                             f"{schemas[0]}")
        procs.append(lg_proc)
        lg_work = lockgate_client(lg_url, token, args, tmp / "cache")
        points = args.clients * args.batches * args.points
        work = (f"{args.clients} clients x ({args.batches} batches of {args.points} points + "
                f"{args.artifacts} x 64 KiB artifacts)")
        cases: dict[str, Callable[[], Any]] = {
            "lockgate server": lambda: concurrently(args.clients, lg_work, lg_proc.pid)}
        peer = "mlflow server" if args.against_src is None else "lockgate server (other src)"
        if args.against_src is not None:
            ml_proc, ml_url, other = start_lockgate(
                tmp / "lg-other", f"{PG}?options=-csearch_path%3D{schemas[1]}",
                str(args.against_src))
            ml_work = lockgate_client(ml_url, other, args, tmp / "cache-other")
        elif (args.mlflow_venv / "bin" / "mlflow").is_file():
            ml_proc, ml_url = start_mlflow(args.mlflow_venv, tmp, schemas[1])
            ml_work = mlflow_client(ml_url, args)
        else:
            ml_proc = None
            report.skip(f"lockgate server vs mlflow server: {work}", goal="",
                        fix=f"no MLflow in {args.mlflow_venv}: make a venv with `pip install "
                        "mlflow psycopg2-binary` and pass --mlflow-venv PATH")
        if ml_proc is not None:
            procs.append(ml_proc)
            pid = ml_proc.pid
            cases[peer] = lambda: concurrently(args.clients, ml_work, pid)
        series, _ = interleave(cases, repeats=args.repeats, warmup=1)
        lg = with_units(series["lockgate server"], points)
        report.compare(f"lockgate server: {work}", lockgate=lg, unit="points",
                       note="CPU: client process + the server's process tree")
        if peer in series:
            report.compare(f"lockgate server vs {peer}: {work}", lockgate=lg,
                           baseline=with_units(series[peer], points), unit="points",
                           note="CPU: client process + the server's process tree; "
                           "issue #22 asks for the ratios, states no number")
        report.emit()
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for name in schemas:
            drop(name)


if __name__ == "__main__":
    main()
