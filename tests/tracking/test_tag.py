"""One ``key=value`` tag parser: the pipeline runner's ``--tag``, ``runs list --tag`` and
the dashboard's ``?tag=`` accept and refuse the same text (``runs list`` used to accept
an empty key, the others refused it)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.tracking import start_run
from lockgate.tracking.tag import TagError, parse_tag
from lockgate.ui import create_dashboard_app

REFUSED = ["=ml", "nokey", " =ml", ""]


@pytest.mark.parametrize("text", REFUSED)
def test_a_tag_needs_a_key_and_an_equals_sign(text: str) -> None:
    with pytest.raises(TagError, match="must look like key=value: a non-empty key"):
        parse_tag(text)


def test_the_value_may_be_empty_or_hold_equals_signs() -> None:
    assert parse_tag("team=ml") == ("team", "ml")
    assert parse_tag("note=") == ("note", "")
    assert parse_tag("expr=a=b") == ("expr", "a=b")


@pytest.mark.embedded_only  # the CLI reads LOCKGATE_HOME's store here
@pytest.mark.parametrize("text", ["=ml", "nokey"])
def test_runs_list_refuses_what_the_parser_refuses(
        text: str, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    assert main(["runs", "list", "--tag", text]) == 1
    err = capsys.readouterr().err
    assert f"Tag `{text}` must look like key=value" in err and "Traceback" not in err


@pytest.mark.embedded_only  # the CLI and the dashboard read LOCKGATE_HOME's store here
def test_runs_list_and_the_dashboard_filter_by_the_same_tag(
        settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with start_run("tagged", tags={"expr": "a=b"}, settings=settings):
        pass
    with start_run("other", tags={"expr": "c"}, settings=settings):
        pass
    monkeypatch.setenv("LOCKGATE_HOME", str(settings.home))
    assert main(["runs", "list", "--tag", "expr=a=b", "-c", "name"]) == 0
    listed = capsys.readouterr().out
    assert "tagged" in listed and "other" not in listed
    client = TestClient(create_dashboard_app(settings), base_url="http://127.0.0.1:5000")
    page = client.get("/", params={"tag": "expr=a=b"})
    assert page.status_code == 200 and "tagged" in page.text and ">other<" not in page.text
    refused = client.get("/", params={"tag": "=ml"})
    assert refused.status_code == 400 and "must look like key=value" in refused.text
