"""Every page against a populated store and an empty one; downloads and their limits."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lockgate.config import Settings
from lockgate.store import Store
from lockgate.ui import create_dashboard_app
from lockgate.ui.routes.files import PLOTLY_JS
from tests.ui.conftest import LiveServer
from tests.ui.ui_populate import Populated, populate


def test_runs_page_lists_filters_and_sorts(client: TestClient, populated: Populated) -> None:
    page = client.get("/").text
    for name in ("train-0", "train-1", "train-2", "broken", "nightly", "ingest-orders"):
        assert name in page
    assert "load" not in page.split("runs-table")[1]  # steps hidden by default
    filtered = client.get("/", params={"q": "params.lr > 0.005 and metrics.auc >= 0.8"}).text
    assert "train-0" in filtered and "train-1" in filtered
    assert "train-2" not in filtered and "broken" not in filtered
    by_auc = client.get("/", params={"sort": "metrics.auc", "order": "desc",
                                     "experiment": "churn"}).text
    assert by_auc.index("train-2") < by_auc.index("train-1") < by_auc.index("train-0")
    tagged = client.get("/", params={"tag": "team=growth"}).text
    assert "train-2" in tagged and "train-0" not in tagged
    failed = client.get("/", params={"status": "FAILED"}).text
    assert "broken" in failed and "train-0" not in failed


def test_runs_page_explains_bad_input(client: TestClient) -> None:
    bad = client.get("/", params={"q": "params.lr >> 1"})
    assert bad.status_code == 400
    assert "Cannot read the filter" in bad.text
    assert client.get("/", params={"page": "x"}).status_code == 400
    nothing = client.get("/", params={"q": "metrics.auc > 5"})
    assert nothing.status_code == 200 and "No runs match these filters" in nothing.text


def test_pagination_links(client: TestClient) -> None:
    first = client.get("/", params={"per_page": 2}).text
    assert "page 1 of" in first and "next-page" in first
    second = client.get("/", params={"per_page": 2, "page": 2}).text
    assert "page 2 of" in second and "prev-page" in second


def test_pager_links_carry_where_their_page_starts(client: TestClient) -> None:
    """next / previous links hold a cursor (`after` / `before`): the page they open is
    the page of that number, read from the cursor instead of skipping the pages before."""
    import html
    import re

    def shown(text: str) -> list[str]:
        return re.findall(r"href=\"/runs/(\w+)\"", text.split("runs-table")[1])

    def follow(text: str, ident: str) -> str:
        href = re.search(rf'<a href="([^"]+)" id="{ident}"', text)
        assert href, ident
        return client.get(html.unescape(href.group(1))).text

    pages = [client.get("/", params={"per_page": 2, "sort": "name", "order": "asc"}).text]
    for number in (2, 3):
        pages.append(follow(pages[-1], "next-page"))
        assert f"page {number} of" in pages[-1]
        previous = re.search(r'<a href="([^"]+)" id="prev-page"', pages[-1])[0]
        # page 2's previous is page 1, which needs no cursor
        assert ("before=" in previous) == (number > 2), previous
    for number, text in enumerate(pages, 1):
        by_number = client.get("/", params={"per_page": 2, "sort": "name", "order": "asc",
                                            "page": number}).text
        assert shown(text) == shown(by_number) and shown(text), number
    back = follow(pages[2], "prev-page")
    assert "page 2 of" in back and shown(back) == shown(pages[1])
    assert "after=" in re.search(r'<a href="([^"]+)" id="next-page"', pages[1])[0]
    forged = client.get("/", params={"per_page": 2, "page": 2, "after": "e30"})
    assert forged.status_code == 400 and "not one this page handed out" in forged.text


def test_run_page_shows_everything(client: TestClient, populated: Populated) -> None:
    page = client.get(f"/runs/{populated.runs['train-0']}").text
    for expected in ("lr", "0.1", "optimizer", "sgd", "auc", "loss", "curve-0",
                     "figure-0", "importance", "report.txt", "/artifacts/", "first baseline",
                     "hardware-chart", "python", "orders@v0", "lineage-link", "team"):
        assert expected in page, expected
    assert "<script>alert(1)</script>" not in page
    assert "training train-0 done &lt;script&gt;alert(1)&lt;/script&gt;" in page
    broken = client.get(f"/runs/{populated.runs['broken'][:8]}").text
    assert "diverged: loss is nan" in broken and "FAILED" in broken
    assert client.get("/runs/ffffffffffff").status_code == 404


def test_compare_page(client: TestClient, populated: Populated) -> None:
    ids = [populated.runs[f"train-{i}"] for i in range(3)]
    page = client.get("/compare", params=[("run", i) for i in ids]).text
    assert "params-differ" in page and "optimizer" in page and "depth" in page
    assert "metrics-compare" in page and "★" in page
    assert "compare-curve-0" in page and "parallel" in page
    one = client.get("/compare", params={"run": ids[0]})
    assert one.status_code == 400 and "2 to 10 distinct runs; 1 were given" in one.text
    assert "Pick 2 to 10 runs" in client.get("/compare").text
    assert client.get("/compare", params={"ids": ",".join(ids[:2])}).status_code == 200


def test_pipeline_pages(client: TestClient, populated: Populated) -> None:
    listing = client.get("/pipelines").text
    assert "nightly" in listing
    page = client.get(f"/pipelines/{populated.runs['pipeline']}").text
    assert "step-tree" in page and "cache hit" in page and "ValueError: bad fold" in page
    assert "step-durations" in page


def test_lineage_page(client: TestClient, populated: Populated) -> None:
    page = client.get("/lineage", params={"run": populated.runs["train-0"]}).text
    assert "lineage-graph" in page
    for node in ("orders@v0", "ingest-orders", "model", "score-batch"):
        assert node in page, node
    if populated.registered:
        assert "churn@1" in page
    by_data = client.get("/lineage", params={"dataset": populated.dataset_versions["v0"]}).text
    assert "train-0" in by_data


def test_data_pages(client: TestClient, populated: Populated) -> None:
    assert "orders" in client.get("/data").text
    table = client.get("/data/orders").text
    assert "orders@v1" in table and "scale_change" in table and "quarantine-chart" in table
    version = client.get("/data/orders/v/0").text
    assert "amount_out_of_range" in version and "duplicate_key" in version
    assert "train-0" in version  # used by
    assert client.get("/data/ordrs").status_code == 404
    assert "Did you mean `orders`" in client.get("/data/ordrs").text
    drift = client.get("/data/orders/drift", params={"base": 0, "current": 1})
    assert drift.status_code == 200


def test_model_pages(client: TestClient, populated: Populated) -> None:
    listing = client.get("/models").text
    assert "train-0" in listing
    trained = client.get(f"/models/run/{populated.runs['train-0']}").text
    assert "evaluation-chart" in trained and "class_imbalance" in trained
    assert "/data/orders/v/0" in trained
    if populated.registered:
        version = client.get("/models/churn/1").text
        assert "production" in version and "beats_baseline: pass (0.91 &gt; 0.5)" in version
        assert "Model card: churn v1" in version and "evaluation-chart" in version
        assert "/data/orders/v/0" in version
    assert client.get("/models/churn/99").status_code == 404


def test_monitoring_page(client: TestClient, populated: Populated) -> None:
    page = client.get("/monitoring").text
    if not populated.monitored:
        assert "No monitored model yet" in page
        return
    for expected in ("window-volume", "live-performance", "drift-table", "amount",
                     "accuracy_drop", "amount drifted (psi 0.40)"):
        assert expected in page, expected


def test_download_serves_verified_bytes(client: TestClient, populated: Populated) -> None:
    response = client.get(f"/artifacts/{populated.artifacts['file']}/download")
    assert response.status_code == 200
    assert response.content == b"hello from an artifact\n"
    assert response.headers["content-disposition"].startswith("attachment")
    sha = hashlib.sha256(response.content).hexdigest()
    assert client.get(f"/blobs/{sha}").content == response.content
    assert client.get("/artifacts/99999/download").status_code == 404


def test_plotly_is_served_from_the_installed_package(client: TestClient) -> None:
    response = client.get("/static/plotly.min.js")
    assert response.status_code == 200
    assert response.content == PLOTLY_JS.read_bytes()
    assert client.get("/static/..%2Fapp.py").status_code == 404


def _raw_get(server: LiveServer, path: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.mark.parametrize("path", [
    "/blobs/../../../../etc/passwd",
    "/blobs/..%2F..%2F..%2Fetc%2Fpasswd",
    "/blobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/blobs/%252e%252e%252fetc%252fpasswd",
    "/blobs//etc/passwd",
    "/blobs/%2Fetc%2Fpasswd",
    "/artifacts/../../etc/passwd/download",
    "/artifacts/1%2F..%2F..%2Fetc%2Fpasswd/download",
    "/static/../../../../etc/passwd",
    "/static/%2e%2e%2fapp.py",
])
def test_downloads_never_leave_the_artifact_root(live: LiveServer, path: str) -> None:
    status, data = _raw_get(live, path)
    assert status in (400, 404, 422), (status, data[:200])
    assert b"root:" not in data


def test_every_page_has_an_empty_state(settings: Settings) -> None:
    Store.open(settings)
    client = TestClient(create_dashboard_app(settings), base_url="http://127.0.0.1:5000")
    expected = {
        "/": "No runs recorded yet", "/compare": "Pick 2 to 10 runs",
        "/pipelines": "No pipeline runs yet", "/lineage": "No lineage recorded yet",
        "/data": "No dataset versions yet", "/models": "No models yet",
        "/monitoring": "No monitored model yet",
    }
    for path, text in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert text in response.text, path


def test_data_pages_over_real_ingestion(settings: Settings) -> None:
    """Versions written by the data stage's ingest; drift computed by the quality stage."""
    data = pytest.importorskip("lockgate.data")
    pytest.importorskip("lockgate.quality.stored_profile")
    import numpy as np
    import polars as pl

    contract = data.Contract.from_dict({
        "table": "orders", "version": "1", "primary_key": ["id"], "columns": [
            {"name": "id", "type": "int", "nullable": False, "unique": True},
            {"name": "amount", "type": "float", "min": 0, "max": 1000},
            {"name": "region", "type": "category", "allowed": ["n", "s"]}]})
    rng = np.random.default_rng(0)
    first = pl.DataFrame({"id": list(range(200)), "amount": rng.uniform(0, 100, 200),
                          "region": ["n", "s"] * 100})
    second = pl.DataFrame({"id": list(range(200, 400)),
                           "amount": [*rng.uniform(50, 900, 199), 5000.0],
                           "region": ["n"] * 150 + ["s"] * 50})
    data.ingest(data.FrameSource(first), "orders", contract, settings=settings)
    result = data.ingest(data.FrameSource(second), "orders", contract, settings=settings)
    client = TestClient(create_dashboard_app(settings), base_url="http://127.0.0.1:5000")
    version = client.get(f"/data/orders/v/{result.dataset_version.version}").text
    assert "range:amount" in version and "reasons-chart" in version
    drift = client.get("/data/orders/drift", params={"base": 0, "current": 1}).text
    assert "drift-table" in drift and "amount" in drift and "region" in drift
    assert "drifted" in drift


@pytest.mark.postgres
def test_pages_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    populated = populate(tmp_path / ".lockgate", pg_url)
    client = TestClient(create_dashboard_app(populated.settings), base_url="http://127.0.0.1:5000")
    run_id = populated.runs["train-0"]
    for path in ("/", f"/runs/{run_id}", f"/lineage?run={run_id}", "/pipelines",
                 f"/pipelines/{populated.runs['pipeline']}", "/data", "/data/orders",
                 "/data/orders/v/0", "/models", f"/models/run/{run_id}", "/monitoring",
                 f"/compare?run={run_id}&run={populated.runs['train-1']}"):
        assert client.get(path).status_code == 200, path
    filtered = client.get("/", params={"q": "params.lr > 0.005 and metrics.auc >= 0.8",
                                       "sort": "metrics.auc"}).text
    assert filtered.index("train-1") < filtered.index("train-0")
    assert "train-2" not in filtered
