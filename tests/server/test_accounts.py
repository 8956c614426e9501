"""Users and tokens: hashed, expiring, revocable at once, no default account."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.security import accounts
from lockgate.server import TeamServer
from lockgate.store import Store, audit
from lockgate.store.tables_auth import auth_tokens
from tests.server.conftest import Team


def test_only_a_hash_of_a_token_is_stored(settings: Settings) -> None:
    store = Store.open(settings)
    token = accounts.init_admin(store)
    assert token.startswith("lg_") and len(token) > 40
    with store.read() as conn:
        rows = [tuple(str(v) for v in row) for row in conn.execute(sa.select(auth_tokens))]
    assert rows and not any(token in value or token[3:] in value for row in rows for value in row)
    assert accounts.authenticate(store, token).role == "admin"
    assert accounts.authenticate(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert accounts.authenticate(store, "") is None
    assert accounts.authenticate(store, "x" * 10_000) is None


def test_there_is_no_default_account(settings: Settings) -> None:
    """A fresh server answers nothing but /health, whatever credentials are tried."""
    with TeamServer(settings) as server:
        assert httpx.get(server.url + "/health").status_code == 200
        for header in ({}, {"authorization": "Bearer admin"},
                       {"authorization": "Bearer password1234"},
                       {"authorization": "Basic YWRtaW46cGFzc3dvcmQxMjM0"}):
            response = httpx.get(server.url + "/api/v1/runs", headers=header)
            assert response.status_code == 401, response.text
    assert accounts.users(Store.open(settings)) == []


def test_the_first_admin_is_made_once(settings: Settings) -> None:
    store = Store.open(settings)
    accounts.init_admin(store)
    with pytest.raises(accounts.AccountError, match="has an admin already"):
        accounts.init_admin(store, "mallory")


def test_an_operator_chosen_token_must_be_long(settings: Settings) -> None:
    store = Store.open(settings)
    with pytest.raises(accounts.AccountError, match="at least 32"):
        accounts.init_admin(store, token="short-but-chosen")
    chosen = "operator-chosen-" + "k" * 30
    assert accounts.init_admin(store, "ops", token=chosen) == chosen
    assert accounts.authenticate(store, chosen).user == "ops"


def test_revocation_takes_effect_at_once(team: Team) -> None:
    with team.client("writer") as writer:
        assert writer.get("/api/v1/whoami").status_code == 200
        accounts.revoke_token(Store.open(team.settings), team.tokens["writer"])
        refused = writer.get("/api/v1/whoami")  # the same keep-alive connection
        assert refused.status_code == 401, refused.text
        assert writer.post("/api/v1/runs", json={"name": "late"}).status_code == 401


def test_revocation_ends_a_dashboard_session_at_once(team: Team) -> None:
    """The dashboard's login cookie holds the token, checked on every page like a bearer
    token: the next page after a revocation goes back to the login form."""
    with team.client(None) as browser:
        login = browser.post("/login", data={"token": team.tokens["reader"], "next": "/"})
        assert login.status_code == 303 and browser.get("/").status_code == 200
        accounts.revoke_token(Store.open(team.settings), team.tokens["reader"])
        after = browser.get("/models", follow_redirects=False)
        assert after.status_code == 303 and after.headers["location"].startswith("/login")


def test_revocation_through_the_api_by_an_admin(team: Team) -> None:
    with team.client("admin") as admin, team.client("reader") as reader:
        ident = accounts.token_id(team.tokens["reader"])
        listed = {t["id"]: t for t in admin.get("/api/v1/tokens").json()}
        assert listed[ident]["active"] and "secret" not in str(listed[ident])
        assert reader.delete(f"/api/v1/tokens/{ident}").status_code == 403
        assert admin.delete(f"/api/v1/tokens/{ident}").status_code == 200
        assert reader.get("/api/v1/runs").status_code == 401
        listed = {t["id"]: t for t in admin.get("/api/v1/tokens").json()}
        assert not listed[ident]["active"]


def test_an_expired_token_is_refused(team: Team) -> None:
    store = Store.open(team.settings)
    token = accounts.issue_token(store, "reader", expires_in_s=3600)
    headers = {"authorization": f"Bearer {token}"}
    assert httpx.get(team.url + "/api/v1/whoami", headers=headers).status_code == 200
    with store.write() as conn:  # its hour is over (no sleeping: the machine may be slow)
        conn.execute(sa.update(auth_tokens).where(
            auth_tokens.c.id == accounts.token_id(token)).values(expires_at=time.time() - 1))
    assert httpx.get(team.url + "/api/v1/whoami", headers=headers).status_code == 401
    assert not {t.id: t for t in accounts.list_tokens(store)}[accounts.token_id(token)].active


def test_failed_token_checks_are_rate_limited(team: Team) -> None:
    bad = {"authorization": "Bearer lg_" + "x" * 43}
    with httpx.Client(base_url=team.url, timeout=30) as client:
        codes = [client.get("/api/v1/whoami", headers=bad).status_code for _ in range(25)]
        assert codes[0] == 401 and codes[-1] == 429, codes
        # while limited, even a good token from that address waits: guessing stops
        limited = client.get("/api/v1/whoami", headers={
            "authorization": f"Bearer {team.tokens['admin']}"})
        assert limited.status_code == 429 and "retry-after" in limited.headers


def test_state_changes_are_audited_with_the_user(team: Team) -> None:
    with team.client("writer") as writer:
        run_id = writer.post("/api/v1/runs", json={"name": "r", "experiment": "alpha"}
                             ).json()["id"]
        assert writer.post(f"/api/v1/runs/{run_id}/end",
                           json={"status": "FINISHED"}).status_code == 200
    found = audit.entries(Store.open(team.settings), target=f"run:{run_id}")
    assert [(e.action, e.actor) for e in found] == [("run.ended", "writer"),
                                                    ("run.created", "writer")]
    assert found[0].before == {"status": "RUNNING"} and found[0].after == {"status": "FINISHED"}
    with team.client("admin") as admin:
        listed = admin.get("/api/v1/audit", params={"target": f"run:{run_id}"}).json()
        assert [e["action"] for e in listed] == ["run.ended", "run.created"]
        page = admin.get("/audit")
        assert page.status_code == 200 and run_id in page.text
    with team.client("writer") as writer:
        assert writer.get("/api/v1/audit").status_code == 403
        assert writer.get("/audit").status_code == 403


def test_embedded_use_records_the_os_user(settings: Settings) -> None:
    import lockgate as lg

    with lg.start_run("local", settings=settings, capture_code=False) as run:
        pass
    found = audit.entries(Store.open(settings), target=f"run:{run.id}")
    assert found and found[0].actor.startswith("os:")


def test_the_dashboard_is_behind_the_same_users(team: Team) -> None:
    with httpx.Client(base_url=team.url, timeout=30) as anonymous:
        first = anonymous.get("/", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"].startswith("/login")
        refused = anonymous.post("/login", content=b"token=wrong-token-xxxxxxxxxxxxxxxx",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        assert refused.status_code == 401
        logged = anonymous.post("/login", content=f"token={team.tokens['reader']}&next=/",
                                headers={"content-type": "application/x-www-form-urlencoded"},
                                follow_redirects=False)
        assert logged.status_code == 303
        cookie = logged.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert anonymous.get("/").status_code == 200  # the cookie now
