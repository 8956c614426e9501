"""The routes a dashboard that needs its token leaves open (``OPEN_PATHS``): logging in,
with the form and the cookie it sets, and the liveness check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lockgate.ui.access import COOKIE, AccessError
from lockgate.ui.dashboard import DashboardDep
from lockgate.ui.html import esc, page
from lockgate.ui.routes.form import local_path, read_form

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(next: str = "/") -> str:
    """The token form; ``next`` is where to go after (same site only)."""
    return page("Log in", (
        "<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{esc(local_path(next))}'>"
        "<label>token <input type='password' name='token' autocomplete='off'></label> "
        "<button type='submit'>Log in</button></form>"
        "<p class='muted'>The token is the value of LOCKGATE_UI_TOKEN where "
        "<code>lockgate ui</code> runs.</p>"))


@router.post("/login")
async def login(request: Request, dash: DashboardDep) -> Response:
    """Check the token and keep it in an http-only, same-site cookie."""
    form = await read_form(request)
    if not dash.policy.token_matches(form.get("token")):
        raise AccessError("Wrong token. It is the value of LOCKGATE_UI_TOKEN where "
                          "`lockgate ui` runs.")
    response = RedirectResponse(local_path(form.get("next") or "/"), status_code=303)
    response.set_cookie(COOKIE, form["token"], httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.get("/healthz")
def health() -> dict[str, str]:
    """Liveness, open without the token (for load balancers)."""
    return {"status": "ok"}
