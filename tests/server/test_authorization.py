"""The authorization matrix: every route of the team server x every kind of user.

Users: anonymous, reader, ``other`` (a writer of another experiment and another model
only), writer, admin. The table below states what each route needs; the app's routes
are enumerated, so a route added without a row here fails
``test_every_route_is_in_the_matrix``, and one reachable by a user the row does not allow
fails the matrix. A route without an access rule is refused for everyone.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from lockgate.store import Store
from tests.server.conftest import Team, make_team

USERS = (None, "reader", "other", "writer", "admin")
SHA = "a" * 64

#: (method, path) -> who may call it:
#:   open (anyone), seen (any user; the answer holds only what it may see), read (a
#:   reader of the experiment/model, or a global reader: not `other`, which sees only its
#:   grants), write (a writer of the experiment/model: `writer`, `admin`), any-write (a
#:   writer of anything: `other` too), global-write (a global writer: shared settings
#:   such as saved views), promote (the right to move production: `admin`;
#:   `writer` lacks it), admin.
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/health"): "open",
    ("GET", "/login"): "open",
    ("POST", "/login"): "open",
    ("GET", "/audit"): "admin",
    ("GET", "/api/v1/openapi.json"): "read",
    ("GET", "/api/v1/whoami"): "seen",
    ("GET", "/api/v1/experiments"): "seen",
    ("POST", "/api/v1/runs"): "write",
    ("GET", "/api/v1/runs"): "seen",
    ("GET", "/api/v1/runs/{run_id}"): "read",
    ("GET", "/api/v1/latest-metrics"): "seen",
    ("GET", "/api/v1/runs-count"): "seen",
    ("GET", "/api/v1/search"): "seen",
    ("POST", "/api/v1/runs/{run_id}/end"): "write",
    ("POST", "/api/v1/runs/{run_id}/heartbeat"): "write",
    ("POST", "/api/v1/runs/{run_id}/params"): "write",
    ("GET", "/api/v1/runs/{run_id}/params"): "read",
    ("POST", "/api/v1/runs/{run_id}/metrics"): "write",
    ("GET", "/api/v1/runs/{run_id}/metrics"): "read",
    ("POST", "/api/v1/runs/{run_id}/tags"): "write",
    ("GET", "/api/v1/runs/{run_id}/tags"): "read",
    ("POST", "/api/v1/runs/{run_id}/notes"): "write",
    ("GET", "/api/v1/runs/{run_id}/notes"): "read",
    ("POST", "/api/v1/runs/{run_id}/console"): "write",
    ("GET", "/api/v1/runs/{run_id}/console"): "read",
    ("POST", "/api/v1/runs/{run_id}/hardware"): "write",
    ("GET", "/api/v1/runs/{run_id}/hardware"): "read",
    ("PUT", "/api/v1/runs/{run_id}/code"): "write",
    ("GET", "/api/v1/runs/{run_id}/code"): "read",
    ("PUT", "/api/v1/runs/{run_id}/environment"): "write",
    ("GET", "/api/v1/runs/{run_id}/environment"): "read",
    ("GET", "/api/v1/runs/{run_id}/artifacts"): "read",
    ("POST", "/api/v1/artifacts"): "write",
    ("GET", "/api/v1/artifacts/{artifact_id}"): "seen",
    ("HEAD", "/api/v1/blobs/{sha256}"): "seen",
    ("GET", "/api/v1/blobs/{sha256}"): "seen",
    ("PUT", "/api/v1/blobs/{sha256}"): "any-write",
    ("GET", "/api/v1/uploads/{sha256}"): "any-write",
    ("PUT", "/api/v1/uploads/{sha256}"): "any-write",
    ("POST", "/api/v1/uploads/{sha256}/complete"): "any-write",
    ("POST", "/api/v1/lineage"): "write",
    ("GET", "/api/v1/lineage"): "seen",
    ("GET", "/api/v1/datasets"): "read",
    ("GET", "/api/v1/datasets/{table}/versions"): "read",
    ("GET", "/api/v1/datasets/{table}/versions/{version}"): "read",
    ("GET", "/api/v1/dataset-versions/{dataset_version_id}"): "read",
    ("POST", "/api/v1/datasets/{table}/versions"): "any-write",
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users/{name}/tokens"): "admin",
    ("PUT", "/api/v1/users/{name}/grants"): "admin",
    ("GET", "/api/v1/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{token_id}"): "admin",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/models"): "seen",
    ("GET", "/api/v1/models/{name}/versions"): "read",
    ("GET", "/api/v1/models/{name}/versions/{version}"): "read",
    ("GET", "/api/v1/models/{name}/versions/{version}/package"): "read",
    ("GET", "/api/v1/models/{name}/aliases"): "read",
    ("GET", "/api/v1/models/{name}/transitions"): "read",
    ("POST", "/api/v1/models/{name}/versions"): "write",
    ("POST", "/api/v1/models/{name}/versions/{version}/promote"): "promote",
    ("POST", "/api/v1/models/{name}/rollback"): "promote",
    ("GET", "/api/v1/models/{name}"): "read",
    ("GET", "/api/v1/models/{name}/next-version"): "read",
    ("GET", "/api/v1/models/{name}/versions/{version}/card"): "read",
    ("GET", "/api/v1/models/{name}/aliases/{alias}"): "read",
    ("GET", "/api/v1/models/{name}/notes"): "read",
    ("POST", "/api/v1/models/{name}/notes"): "write",
    ("POST", "/api/v1/models/{name}/aliases/{alias}"): "write",
    ("POST", "/api/v1/models/{name}/versions/{version}/stage"): "write",
    ("POST", "/api/v1/models/{name}/versions/{version}/override"): "admin",
    ("GET", "/api/v1/lineage/graph"): "read",
    ("PATCH", "/api/v1/dataset-versions/{dataset_version_id}"): "any-write",
    ("POST", "/api/v1/runs/{run_id}/delete"): "write",
    ("POST", "/api/v1/runs/{run_id}/restore"): "write",
    ("POST", "/api/v1/gc"): "admin",
    ("GET", "/api/v1/views"): "seen",
    ("GET", "/api/v1/views/{name}"): "seen",
    ("PUT", "/api/v1/views/{name}"): "global-write",
    ("DELETE", "/api/v1/views/{name}"): "global-write",
    ("GET", "/api/v1/monitoring/incidents"): "seen",
    ("GET", "/api/v1/monitoring/incidents/{incident_id}"): "seen",
    ("GET", "/api/v1/monitoring/models/{name}/incidents"): "read",
    ("GET", "/api/v1/monitoring/models/{name}/windows"): "read",
    ("POST", "/api/v1/monitoring/models/{name}/passes"): "write",
    ("POST", "/api/v1/monitoring/models/{name}/incidents/{incident_id}/deliveries"): "write",
    ("PUT", "/api/v1/monitoring/models/{name}/incidents/{incident_id}/retraining"): "write",
    ("POST", "/api/v1/pipeline-steps"): "write",
    ("GET", "/api/v1/pipeline-steps"): "seen",
    ("GET", "/api/v1/pipeline-steps/history"): "seen",
    ("GET", "/api/v1/runs/{run_id}/steps"): "read",
    ("GET", "/api/v1/dataset-versions/{dataset_version_id}/profiles/{scope}"): "read",
    ("PUT", "/api/v1/dataset-versions/{dataset_version_id}/profiles/{scope}"): "any-write",
    ("GET", "/api/v1/du"): "admin",
    # The dashboard, a mounted app whose routes are enumerated too. Behind the server it
    # is read-only (no dashboard token: its forms are refused for everyone). `other`
    # opens the filtered pages, which show only its grants (test_dashboard_scoping.py;
    # here `alpha`'s run and model `churn` answer it 404), and no other page.
    ("GET", "/"): "seen",
    ("GET", "/runs/{run_id}"): "read",
    ("GET", "/compare"): "seen",
    ("GET", "/pipelines"): "seen",
    ("GET", "/pipelines/{run_id}"): "read",
    ("GET", "/models"): "seen",
    ("GET", "/models/run/{run_id}"): "read",
    ("GET", "/models/{name}/{version}"): "read",
    ("GET", "/monitoring"): "seen",
    ("GET", "/artifacts/{artifact_id}/download"): "read",
    ("GET", "/favicon.ico"): "seen",
    ("GET", "/lineage"): "read",
    ("GET", "/data"): "read",
    ("GET", "/data/{table}"): "read",
    ("GET", "/data/{table}/v/{version}"): "read",
    ("GET", "/data/{table}/drift"): "read",
    ("GET", "/blobs/{key:path}"): "read",
    ("GET", "/healthz"): "read",
    ("GET", "/static/{name}"): "open",
    ("POST", "/views"): "nobody",
    ("POST", "/runs/{run_id}/notes"): "nobody",
}
ALLOWED = {
    "open": set(USERS), "seen": {"reader", "other", "writer", "admin"},
    "read": {"reader", "writer", "admin"},
    "write": {"writer", "admin"}, "global-write": {"writer", "admin"},
    "any-write": {"other", "writer", "admin"},
    "promote": {"admin"}, "admin": {"admin"}, "nobody": set(),
}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def app_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app, the mounted dashboard's routes
    (and its included routers') included."""
    found = []
    for route in iter_route_contexts(app.routes):  # included routers expanded
        assert isinstance(route.original_route, Route | Mount), f"unexpected route {route!r}"
        if isinstance(route.original_route, Mount):
            found.extend(_dashboard_routes(route.original_route))
            continue
        methods = set(getattr(route, "methods", None) or {"GET"})
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette's automatic HEAD of a GET route
        for method in sorted(methods):
            found.append((method, route.path or "/"))
    return found


def _dashboard_routes(mount: Mount) -> list[tuple[str, str]]:
    """(method, path template) of the mounted dashboard's routes, its routers expanded."""
    return [(method, mount.path + (route.path or "/")) for route in iter_route_contexts(
        mount.routes) for method in sorted(set(route.methods or {"GET"}) - {"HEAD"})]


@pytest.fixture(scope="module")
def matrix_team(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import make_settings

    team = make_team(make_settings(tmp_path_factory.mktemp("authz") / ".lockgate"))
    with team.server:
        store = Store.open(team.settings)
        team.run_id = store.create_run("target", experiment="alpha")  # type: ignore[attr-defined]
        yield team


def test_every_route_is_in_the_matrix(matrix_team: Team) -> None:
    routes = set(app_routes(matrix_team.server.app))
    assert routes - set(MATRIX) == set(), (
        "routes without a row in MATRIX: say who may call them")
    assert set(MATRIX) - routes == set(), "MATRIX rows for routes that no longer exist"


def test_every_api_route_declares_an_access_rule(matrix_team: Team) -> None:
    for route in iter_route_contexts(matrix_team.server.app.routes):
        if isinstance(route.original_route, APIRoute):
            assert "x-lockgate-access" in (route.openapi_extra or {}), route.path


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_the_matrix(matrix_team: Team, method: str, path: str) -> None:
    allowed = ALLOWED[MATRIX[(method, path)]]
    url = _concrete(path, matrix_team.run_id)  # type: ignore[attr-defined]
    for user in USERS:
        with matrix_team.client(user) as client:
            response = client.request(method, url, follow_redirects=False,
                                      **_body(method, path, matrix_team))
        hidden = user == "other" and _about_what_other_cannot_see(method, path)
        refused = response.status_code in (401, 403, 303) or (
            user is None and response.status_code == 429) or (
            hidden and response.status_code == 404)
        if MATRIX[(method, path)] == "open":  # the login form may answer 401 itself
            assert response.status_code < 500 and response.status_code not in (403, 429)
        elif user in allowed:
            assert not refused, (user, method, path, response.status_code, response.text[:300])
            assert response.status_code < 500, (user, method, path, response.text[:300])
        else:
            assert refused, (user, method, path, response.status_code, response.text[:300])
            expected = 401 if user is None and path.startswith("/api/") else \
                303 if user is None and method == "GET" else 403
            if user is None and method != "GET" and not path.startswith("/api/"):
                expected = 401
            if hidden:  # as if it did not exist: its id or name is not confirmed
                expected = 404
            assert response.status_code == expected, (user, method, path, response.text)
            assert "Traceback" not in response.text


def test_a_route_without_a_rule_is_refused_for_everyone(settings: Any) -> None:
    """Deny by default: a route someone adds without an access rule is unreachable."""
    team = make_team(settings)
    team.server.app.router.routes.insert(0, APIRoute(
        "/api/v1/forgotten", lambda: {"oops": True}, methods=["POST"]))
    with team.server:
        for user in USERS:
            with team.client(user) as client:
                answer = client.post("/api/v1/forgotten", json={})
                assert answer.status_code in (401, 403), (user, answer.text)
                assert "oops" not in answer.text


def test_promotion_to_staging_needs_no_promote_right(matrix_team: Team) -> None:
    with matrix_team.client("writer") as writer:
        staging = writer.post("/api/v1/models/churn/versions/1/promote",
                              json={"to": "staging"})
        production = writer.post("/api/v1/models/churn/versions/1/promote",
                                 json={"to": "production"})
    assert staging.status_code == 404, staging.text  # passed authorization; no such model
    assert production.status_code == 403 and "promote right" in production.text
    with matrix_team.client("other") as other:
        own = other.post("/api/v1/models/other-model/versions/1/promote",
                         json={"to": "production"})
    assert own.status_code == 404, own.text  # its own model, with the right: authorized


def _about_what_other_cannot_see(method: str, path: str) -> bool:
    """Rows about experiment `alpha`'s run or model `churn`, which `other` (global role
    none) may not see: answered 404, not 403 (on the dashboard: its filtered pages)."""
    if not path.startswith("/api/"):
        return method == "GET" and ("{run_id}" in path or path.startswith(
            ("/models/{name}", "/artifacts/")))
    return "{run_id}" in path or path.startswith(("/api/v1/models/{name}",
                                                 "/api/v1/monitoring/models/{name}")) or (
        method == "POST" and path in ("/api/v1/artifacts", "/api/v1/lineage",
                                      "/api/v1/pipeline-steps"))


def _concrete(path: str, run_id: str) -> str:
    values = {"run_id": run_id, "artifact_id": "1", "sha256": SHA, "table": "orders",
              "version": "1", "dataset_version_id": "1", "name": "churn",
              "token_id": "0" * 16, "alias": "shadow", "incident_id": "1",
              "scope": "snapshot"}
    for key, value in values.items():
        path = path.replace(f"{{{key}}}", value)
    path = path.replace("{key:path}", SHA)
    return path


def _body(method: str, path: str, team: Team) -> dict[str, Any]:
    if method not in STATE_CHANGING:
        return {}
    if path == "/login":
        return {"content": b"token=nope", "headers": {
            "content-type": "application/x-www-form-urlencoded"}}
    if "/blobs/" in path or ("/uploads/" in path and method == "PUT"):
        return {"content": b"x", "headers": {"content-type": "application/octet-stream"}}
    run_id = team.run_id  # type: ignore[attr-defined]
    return {"json": {"name": "n", "experiment": "alpha", "run_id": run_id, "to": "production",
                     "status": "FINISHED", "values": {}, "text": "t", "sha256": SHA,
                     "size": 1, "media_type": "text/plain", "direction": "produced",
                     "kind": "experiment", "role": "reader"}}


def test_users_cannot_read_what_they_may_not_see_through_the_openapi(matrix_team: Team
                                                                       ) -> None:
    """The OpenAPI document states every route's rule (x-lockgate-access)."""
    with matrix_team.client("reader") as reader:
        spec = reader.get("/api/v1/openapi.json").json()
    rules = [op.get("x-lockgate-access") for item in spec["paths"].values()
             for op in item.values()]
    assert rules and all(rules)
    assert httpx.get(matrix_team.url + "/api/v1/openapi.json").status_code == 401
