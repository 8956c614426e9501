"""``lockgate artifacts list|get``: a run's artifacts as hash-verified files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import lockgate as lg
from lockgate.artifacts import ArtifactStore
from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.errors import ArtifactError


@pytest.fixture
def run_id(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    with lg.start_run("fit", settings=settings, sample_hardware=False) as run:
        run.log_frame(pl.DataFrame({"x": [1, 2]}), "scores")
        run.log_dict({"a": 1}, "config.json")
        run.log_text("hello", "notes")
    return run.id


def test_list_and_get_write_named_files(run_id: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["artifacts", "list", run_id[:8], "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in listed] == ["scores", "config.json", "notes"]
    assert main(["artifacts", "list", run_id[:8]]) == 0
    assert "lockgate artifacts get" in capsys.readouterr().out
    out = tmp_path / "fetched"
    assert main(["artifacts", "get", run_id, "scores", "--out", str(out)]) == 0
    assert pl.read_parquet(out / "scores.parquet")["x"].to_list() == [1, 2]
    assert main(["artifacts", "get", run_id, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text()) == {"a": 1}  # no second extension
    assert (out / "notes.txt").read_text() == "hello"


def test_unknown_name_and_unsafe_names_are_refused(run_id: str, settings: Settings,
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["artifacts", "get", run_id, "score"]) == 1
    assert "Did you mean `scores`" in capsys.readouterr().err
    # A name stored by someone else is data: it never writes outside the chosen folder.
    store = ArtifactStore.open(settings)
    record = store.save({"evil": True}, "../../escaped", run_id=run_id)
    with pytest.raises(ArtifactError, match="not allowed"):
        store.export(record, tmp_path / "safe")
    assert main(["artifacts", "get", run_id, "../../escaped", "--out", str(tmp_path / "s")]) == 1
    assert not (tmp_path / "escaped.json").exists()
    assert not list(tmp_path.parent.glob("escaped*"))
