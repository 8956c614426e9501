"""Posted forms and the one edit check every state change of the dashboard goes through."""

from __future__ import annotations

import urllib.parse

from fastapi import Request

from lockgate.store.run_filter import FilterError
from lockgate.ui.access import COOKIE, AccessError, AccessPolicy

#: The longest note a run accepts (characters); a form may be four times that in bytes.
MAX_NOTE = 20_000


async def read_form(request: Request) -> dict[str, str]:
    """An url-encoded form, first value per field; a form over its size is refused."""
    body = await request.body()
    if len(body) > 4 * MAX_NOTE:
        raise FilterError("The form is too large.")
    parsed = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def require_edit(policy: AccessPolicy, request: Request, form: dict[str, str],
                 to_do: str, doing: str) -> None:
    """Every state change of the dashboard is allowed the same way: an editable
    dashboard and its token (form field, bearer header or login cookie).

    Raises:
        AccessError: the dashboard is read-only, or the token is wrong or missing.
    """
    if not policy.can_edit:
        raise AccessError("This dashboard is read-only: start it with LOCKGATE_UI_TOKEN set "
                          f"to {to_do}.")
    given = form.get("token") or _bearer(request) or request.cookies.get(COOKIE)
    if not policy.token_matches(given):
        raise AccessError(f"Wrong or missing token: {doing} needs the dashboard token "
                          "(the value of LOCKGATE_UI_TOKEN where `lockgate ui` runs).")


def local_path(target: str) -> str:
    """Only same-site paths after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None
