"""Shared fixtures: isolated settings on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.config import Settings

PG_ADMIN_URL = os.environ.get(
    "LOCKGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def make_settings(home: Path, db_url: str | None = None) -> Settings:
    """Settings rooted in a temp folder, with fast heartbeats for liveness tests."""
    return Settings(
        home=home, db_url=db_url, heartbeat_seconds=0.5, hardware_seconds=0.5,
        metric_flush_seconds=0.2,
    )


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder with no LOCKGATE_* settings leaking in."""
    for key in list(os.environ):
        if key.startswith("LOCKGATE_") and key != "LOCKGATE_TEST_PG_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh SQLite store in a temp folder."""
    return make_settings(tmp_path / ".lockgate")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = f"lg_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}")
    yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    # Close this test's pooled connections: a suite of PostgreSQL tests would otherwise
    # hold idle connections to every schema it made and exhaust max_connections.
    from lockgate.store import Store

    Store.close_all(schema)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings on SQLite and, in a second run of the test, on PostgreSQL."""
    if request.param == "sqlite":
        return make_settings(tmp_path / ".lockgate")
    return make_settings(tmp_path / ".lockgate", request.getfixturevalue("pg_url"))


# -- an S3-compatible server (moto's standalone server, a real HTTP process) ------------


class S3Server:
    """A ``moto_server`` subprocess on 127.0.0.1 and a client for making buckets."""

    def __init__(self, endpoint: str, process: subprocess.Popen[bytes]) -> None:
        self.endpoint = endpoint
        self.process = process

    def env(self) -> dict[str, str]:
        """The standard AWS variables a client of this server needs (test credentials)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

    def make_bucket(self) -> str:
        import boto3

        name = f"lg-{uuid.uuid4().hex[:16]}"
        env = self.env()
        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]
                     ).create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A local Ray cluster for the whole session (pipelines on the Ray executor, profiles
    of partitions on Ray workers), shut down afterwards."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto S3 server for the session, on a free port of 127.0.0.1."""
    exe = Path(sys.executable).with_name("moto_server")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", "0"], stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None and time.monotonic() < deadline and process.poll() is None:
            match = re.search(rb"Running on http://127\.0\.0\.1:(\d+)", log.read_bytes())
            port = int(match.group(1)) if match else time.sleep(0.2)
        if port is None:
            pytest.fail(f"moto_server did not start: {log.read_text(errors='replace')[-2000:]}")
        yield S3Server(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the session's S3 server; this test's environment points at it
    through the standard AWS variables only. Returns ``s3://<bucket>``."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return f"s3://{s3_server.make_bucket()}"


@pytest.fixture
def s3_settings(tmp_path: Path, s3_bucket: str) -> Settings:
    """SQLite metadata, artifacts and tables on a fresh S3 bucket."""
    return Settings(home=tmp_path / ".lockgate", heartbeat_seconds=0.5, hardware_seconds=0.5,
                    metric_flush_seconds=0.2, artifact_root=f"{s3_bucket}/artifacts",
                    data_root=f"{s3_bucket}/data")
