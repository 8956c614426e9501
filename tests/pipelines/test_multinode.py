"""A pipeline on a two-node Ray cluster whose nodes share nothing but PostgreSQL and an
S3-compatible object store (``moto_server``).

The head (``ray start --head``, no CPUs, so it runs no step) and a second node are
separate processes with different working directories, their own ``--temp-dir``-rooted
state and no ``LOCKGATE_*`` settings; the driver is a third process in a third folder.
Every step's inputs and outputs, and the table a step reads, travel through the bucket.
The same pipeline on the local executor (SQLite, local folders) leaves the same lineage:
same steps, same artifact names and content hashes, same dataset versions.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.artifacts import object_store_for
from lockgate.location import parse_root

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]

STEPS = """
import os

import lockgate as lg
from lockgate.pipelines import Pipeline, node, step


def where() -> None:
    print("ran on node:", os.environ.get("LG_TEST_NODE"), "in", os.getcwd())


@step
def load() -> dict:
    where()
    frame = lg.data.read("orders")
    return {"amounts": frame["amount"].to_list()}


@step
def double(loaded: dict) -> list:
    where()
    return [2 * a for a in loaded["amounts"]]


@step
def total(doubled: list, loaded: dict) -> dict:
    where()
    return {"total": sum(doubled), "count": len(loaded["amounts"])}


pipe = Pipeline("multinode", [
    node(load, outputs="loaded"),
    node(double, inputs="loaded", outputs="doubled"),
    node(total, inputs=["doubled", "loaded"], outputs="result"),
])
"""

DRIVER = """
import json, re, sys
from pathlib import Path

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, ingest
from lockgate.pipelines import load_pipeline, run_pipeline
from lockgate.pipelines.lineage import lineage
from lockgate.store import Store
from lockgate.artifacts import ArtifactStore

config = json.loads(sys.argv[1])
settings = Settings(**config["settings"])
contract = Contract(table="orders", version="1", primary_key=("order_id",),
                    columns=(ColumnSpec("order_id", "int", nullable=False),
                             ColumnSpec("amount", "float")))
Path("orders.csv").write_text("order_id,amount\\n1,1.5\\n2,2.5\\n3,4.0\\n")
ingest(Path("orders.csv"), "orders", contract, settings=settings)
result = run_pipeline(load_pipeline(config["pipeline"])[0], settings=settings,
                      executor=config["executor"], address=config.get("address"),
                      cache=False)
store = Store.open(settings)

def normal(node):
    label = re.sub(r"^(artifact) \\d+ ", r"\\1 ", node["label"])
    label = re.sub(r" \\([0-9a-f]{8}\\) ", " ", label)
    return [label, sorted(normal(c) for c in node["children"])]

tree = lineage(store, result.run_id)
print(json.dumps({
    "status": result.status,
    "statuses": result.statuses(),
    "result": ArtifactStore.open(settings).load(result.outputs["result"]),
    "downstream": normal(tree.downstream.to_dict()),
    "steps": {s.name: normal(lineage(store, s.run_id).upstream.to_dict())
              for s in result.steps},
    "nodes": {s.name: store.console(s.run_id).split("ran on node:")[1].split()[0]
              for s in result.steps},
}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ray_exe() -> str:
    return str(Path(sys.executable).with_name("ray"))


class Cluster:
    """A head and one worker node started with ``ray start``; stopped by their own
    session folder, never by name."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="lg21ray-", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.marker = uuid.uuid4().hex
        self.env = {**env, "LG_RAY_CLUSTER": self.marker}
        self.head_dir, self.node_dir = root / "head", root / "node"
        self.head_dir.mkdir(parents=True)
        self.node_dir.mkdir(parents=True)

    def _ports(self) -> list[str]:
        return [f"--node-manager-port={_free_port()}", f"--object-manager-port={_free_port()}",
                f"--metrics-export-port={_free_port()}",
                f"--dashboard-agent-listen-port={_free_port()}",
                f"--dashboard-agent-grpc-port={_free_port()}",
                f"--runtime-env-agent-port={_free_port()}"]

    def start(self) -> None:
        common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        self._run(self.head_dir, {"LG_TEST_NODE": "head"},
                  ["start", "--head", f"--port={self.port}", "--num-cpus=0",
                   f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
                   f"--ray-client-server-port={_free_port()}", *common, *self._ports()])
        self._run(self.node_dir, {"LG_TEST_NODE": "worker"},
                  ["start", f"--address={self.address}", "--num-cpus=2",
                   f"--temp-dir={self.temp_dir}", *common, *self._ports()])

    def stop(self) -> None:
        """Kill this cluster's processes only (raylets, GCS, agents, workers, the client
        server): those whose environment carries this cluster's own marker, which every
        process ``ray start`` spawns inherits. Never ``ray stop``, which stops every Ray
        cluster of the machine."""
        marker = f"LG_RAY_CLUSTER={self.marker}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _run(self, cwd: Path, extra: dict[str, str], args: list[str]) -> None:
        done = subprocess.run([_ray_exe(), *args], cwd=cwd, env={**self.env, **extra},
                              capture_output=True, text=True, timeout=240)
        if done.returncode != 0:
            raise AssertionError(f"ray {args[:2]} failed:\n{done.stdout}\n{done.stderr}")


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LOCKGATE_", "RAY_")) and k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO / "src")
    return {**env, **extra}


@pytest.fixture
def cluster(tmp_path: Path, s3_bucket: str) -> Iterator[Cluster]:
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    # A private HOME: Ray keeps state (an auth token) in ~/.ray, which other clusters
    # on this machine may be rewriting.
    home = tmp_path / "home"
    home.mkdir()
    running = Cluster(tmp_path / "cluster", _clean_env({**aws, "HOME": str(home)}))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _drive(folder: Path, config: dict, env: dict[str, str]) -> dict:
    folder.mkdir()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(DRIVER), json.dumps(config)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_node_ray_pipeline_shares_only_postgres_and_the_bucket(
        tmp_path: Path, cluster: Cluster, s3_bucket: str, pg_url: str) -> None:
    code = tmp_path / "code"
    code.mkdir()
    steps = code / "multinode_steps.py"
    steps.write_text(textwrap.dedent(STEPS))
    driver_home = tmp_path / "driver" / ".lockgate"
    on_ray = _drive(tmp_path / "driver", {
        "settings": {"home": str(driver_home), "db_url": pg_url,
                     "artifact_root": f"{s3_bucket}/artifacts",
                     "data_root": f"{s3_bucket}/data"},
        "pipeline": f"{steps}:pipe", "executor": "ray", "address": cluster.address,
    }, {**cluster.env, "LG_TEST_NODE": "driver"})
    assert on_ray["status"] == "FINISHED", on_ray
    # every step ran on the second node, none on the head or in the driver
    assert on_ray["nodes"] == {"load": "worker", "double": "worker", "total": "worker"}
    assert on_ray["result"] == {"total": 16.0, "count": 3}
    # inputs and outputs went through the bucket; no node or driver folder holds any
    artifacts = object_store_for(parse_root(f"{s3_bucket}/artifacts"))
    assert len(list(artifacts.list())) >= 3
    tables = [i.key for i in object_store_for(parse_root(f"{s3_bucket}/data")).list()]
    assert any(k.startswith("orders/_delta_log/") for k in tables)
    for folder in (driver_home / "artifacts", driver_home / "data",
                   cluster.node_dir / ".lockgate", cluster.head_dir / ".lockgate"):
        assert not folder.exists(), folder
    assert sorted(p.name for p in cluster.node_dir.iterdir()) == []

    local_home = tmp_path / "local" / ".lockgate"
    local = _drive(tmp_path / "local", {
        "settings": {"home": str(local_home)}, "pipeline": f"{steps}:pipe",
        "executor": "local"}, {**_clean_env({}), "LG_TEST_NODE": "local"})
    assert local["status"] == "FINISHED"
    assert local["statuses"] == on_ray["statuses"]
    assert local["nodes"] == {"load": "local", "double": "local", "total": "local"}
    assert local["result"] == on_ray["result"]
    # the same lineage: steps, artifact names and content hashes, dataset versions
    assert local["steps"] == on_ray["steps"]
    assert local["downstream"] == on_ray["downstream"]
