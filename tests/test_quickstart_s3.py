"""The quickstart's storage-heavy sections with the artifact and data roots on a real
S3-compatible server (``moto_server``): runs, artifacts, a cached pipeline and
ingestion with quarantine land in the bucket and the sections' own checks hold.
(The whole quickstart on S3 is run by hand; see docs/storage.md.)"""

from __future__ import annotations

import io

from rich.console import Console

from lockgate.artifacts import object_store_for
from lockgate.config import Settings
from lockgate.demo.quickstart import run_quickstart
from lockgate.store import Store


def test_tracking_pipelines_and_data_sections_on_s3(s3_settings: Settings) -> None:
    out = io.StringIO()
    ctx = run_quickstart(s3_settings, Console(file=out, width=120),
                         only=["tracking", "pipelines", "data"], quiet=True)
    assert "quickstart finished" in out.getvalue()
    store = Store.open(s3_settings)
    versions = store.dataset_versions(ctx.results["data_table"])
    assert versions and all(v.rows_ingested == v.rows_accepted + v.rows_quarantined
                            for v in versions)
    artifacts = list(object_store_for(s3_settings.resolved_artifact_root).list())
    tables = [i.key for i in object_store_for(s3_settings.resolved_data_root).list()]
    assert artifacts and any("/_delta_log/" in k for k in tables)
    assert not (s3_settings.home / "artifacts").exists()
    assert not (s3_settings.home / "data").exists()
    Store.close_all()
