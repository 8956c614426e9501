"""Access rules: bind policy, tokens, Host and Origin checks, note editing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lockgate.config import Settings
from lockgate.errors import ConfigError
from lockgate.store import Store
from lockgate.ui import AccessError, AccessPolicy, create_dashboard_app
from lockgate.ui.access import is_loopback

TOKEN = "a-long-enough-test-token-42"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org", "::"])
def test_refuses_non_loopback_without_token(host: str) -> None:
    with pytest.raises(ConfigError, match=f"Refusing to start lockgate ui on {host}.*"
                       "LOCKGATE_UI_TOKEN.*--insecure"):
        AccessPolicy(host=host).check_start()
    AccessPolicy(host=host, insecure=True).check_start()
    AccessPolicy(host=host, token=TOKEN).check_start()


def test_short_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="5 characters long; use at least 16"):
        AccessPolicy(token="short").check_start()


@pytest.mark.parametrize(("host", "loop"), [("127.0.0.1", True), ("127.8.0.1", True),
                                             ("::1", True), ("localhost", True),
                                             ("0.0.0.0", False), ("10.0.0.1", False)])
def test_loopback_detection(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_foreign_host_and_origin_are_refused() -> None:
    policy = AccessPolicy(token=TOKEN)
    policy.check_request("GET", "127.0.0.1:5000", None, None)
    policy.check_request("GET", "localhost:5000", None, None)
    policy.check_request("POST", "127.0.0.1:5000", "http://127.0.0.1:5000", None)
    with pytest.raises(AccessError, match=r"Host `evil.example:5000` is not an address of"):
        policy.check_request("GET", "evil.example:5000", None, None)
    with pytest.raises(AccessError, match=r"Origin `http://evil.example` is not this server"):
        policy.check_request("POST", "127.0.0.1:5000", "http://evil.example", None)
    with pytest.raises(AccessError, match=r"Origin `http://localhost:5000`"):
        policy.check_request("POST", "127.0.0.1:5000", "http://localhost:5000", None)
    with pytest.raises(AccessError, match=r"Origin `https://evil.example`"):
        policy.check_request("POST", "127.0.0.1:5000", None, "https://evil.example/x")
    with pytest.raises(AccessError, match="opaque"):
        policy.check_request("POST", "127.0.0.1:5000", "null", None)
    exposed = AccessPolicy(host="10.1.2.3", token=TOKEN)
    with pytest.raises(AccessError, match=r"Host `attacker.example` is not an"):
        exposed.check_request("POST", "attacker.example", "http://attacker.example", None)


def _run(settings: Settings) -> str:
    store = Store.open(settings)
    run_id = store.create_run("noted")
    store.end_run(run_id, "FINISHED")
    return run_id


def test_notes_need_the_token(settings: Settings) -> None:
    run_id = _run(settings)
    client = TestClient(create_dashboard_app(settings, AccessPolicy(token=TOKEN)),
                        base_url="http://127.0.0.1:5000")
    origin = {"Origin": "http://127.0.0.1:5000"}
    denied = client.post(f"/runs/{run_id}/notes", data={"text": "hi", "token": "wrong"},
                         headers=origin)
    assert denied.status_code == 403
    assert "Wrong or missing token" in denied.text
    foreign = client.post(f"/runs/{run_id}/notes", data={"text": "hi", "token": TOKEN},
                          headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    rebound = client.post(f"/runs/{run_id}/notes", data={"text": "hi", "token": TOKEN},
                          headers={"Host": "evil.example", **origin})
    assert rebound.status_code == 403
    assert Store.open(settings).notes(run_id) == []
    ok = client.post(f"/runs/{run_id}/notes", data={"text": "looks <b>good</b>",
                                                     "token": TOKEN, "author": "ana"},
                     headers=origin, follow_redirects=False)
    assert ok.status_code == 303
    page = client.get(ok.headers["location"])
    assert "Note added." in page.text
    assert "looks &lt;b&gt;good&lt;/b&gt;" in page.text
    bearer = client.post(f"/runs/{run_id}/notes", data={"text": "from a script"},
                         headers={"Authorization": f"Bearer {TOKEN}"}, follow_redirects=False)
    assert bearer.status_code == 303
    assert [n.text for n in Store.open(settings).notes(run_id)] == [
        "looks <b>good</b>", "from a script"]


def test_read_only_without_token_says_how(settings: Settings) -> None:
    run_id = _run(settings)
    client = TestClient(create_dashboard_app(settings), base_url="http://127.0.0.1:5000")
    page = client.get(f"/runs/{run_id}")
    assert "note-form" not in page.text
    assert "export LOCKGATE_UI_TOKEN=" in page.text
    refused = client.post(f"/runs/{run_id}/notes", data={"text": "x", "token": "y" * 20})
    assert refused.status_code == 403
    assert "read-only" in refused.text


def test_exposed_server_requires_login(settings: Settings) -> None:
    run_id = _run(settings)
    app = create_dashboard_app(settings, AccessPolicy(host="10.1.2.3", token=TOKEN))
    client = TestClient(app, base_url="http://10.1.2.3:5000")
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login")
    assert client.get("/static/app.js").status_code == 200
    bad = client.post("/login", data={"token": "nope", "next": "/"},
                      headers={"Origin": "http://10.1.2.3:5000"})
    assert bad.status_code == 403
    good = client.post("/login", data={"token": TOKEN, "next": "//evil.example/"},
                       headers={"Origin": "http://10.1.2.3:5000"}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/"  # no open redirect
    assert "samesite=strict" in good.headers["set-cookie"].lower()
    assert "httponly" in good.headers["set-cookie"].lower()
    assert client.get(f"/runs/{run_id}").status_code == 200


def test_security_headers(settings: Settings) -> None:
    client = TestClient(create_dashboard_app(settings), base_url="http://127.0.0.1:5000")
    response = client.get("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_saving_a_view_needs_the_token_and_is_shared(settings: Settings) -> None:
    """#19: a view saved on the dashboard is a store record (everyone using the store
    sees it), written only with the token, like notes."""
    from lockgate.tracking import get_view, list_views

    _run(settings)
    form = {"name": "mine", "columns": "status,metrics.auc", "sort": "metrics.auc",
            "order": "asc", "q": "status = FINISHED", "experiment": ""}
    read_only = TestClient(create_dashboard_app(settings), base_url="http://127.0.0.1:5000")
    page = read_only.get("/")
    assert "save-view" not in page.text and "lockgate runs view save NAME" in page.text
    refused = read_only.post("/views", data=form | {"token": "y" * 20})
    assert refused.status_code == 403 and "read-only" in refused.text
    client = TestClient(create_dashboard_app(settings, AccessPolicy(token=TOKEN)),
                        base_url="http://127.0.0.1:5000")
    origin = {"Origin": "http://127.0.0.1:5000"}
    denied = client.post("/views", data=form | {"token": "wrong"}, headers=origin)
    assert denied.status_code == 403 and "Wrong or missing token" in denied.text
    bad = client.post("/views", data=form | {"token": TOKEN, "columns": "nme"}, headers=origin)
    assert bad.status_code == 400 and "Did you mean `name`" in bad.text
    assert list_views(settings=settings) == []
    ok = client.post("/views", data=form | {"token": TOKEN}, headers=origin,
                     follow_redirects=False)
    assert ok.status_code == 303
    assert get_view("mine", settings=settings).columns == ("status", "metrics.auc")
    shown = read_only.get(ok.headers["location"])  # another dashboard on the same store
    assert "View `mine` saved" in shown.text
    assert "data-column=\"status\"" in shown.text and "data-column=\"started\"" not in shown.text
    missing = read_only.get("/?view=nope")
    assert missing.status_code == 400 and "No saved view `nope`" in missing.text
