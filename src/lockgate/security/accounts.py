"""Users, API tokens and grants of ``lockgate server``.

No passwords and no default account: ``lockgate server init`` creates the first admin
and prints its token once (or takes one the operator chose). A token is 256 random bits
(``lg_...``); the store keeps only its SHA-256, looked up by the first 16 hex digits of
that hash and compared in full in constant time. Nothing about a token is cached: a
revoked or expired token is refused on the very next request.

Roles, weakest first: ``reader`` (read everything it may see), ``writer`` (create runs,
log, register models), ``admin`` (users, tokens, grants, every right). A user's global
role applies everywhere; a grant raises it on one experiment or one model (``*`` for
all of a kind). Moving the ``production`` alias is a separate right: admins, or a grant
with ``promote`` on that model. A user whose global role is ``none`` sees only the
experiments and models its grants name: the server answers 404 for everything else, as
for something that does not exist, and leaves it out of every listing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from lockgate.errors import ConfigError, NotFoundError
from lockgate.store import Store, audit
from lockgate.store.tables_auth import GRANT_KINDS, ROLES, auth_grants, auth_tokens, auth_users

TOKEN_PREFIX = "lg_"  # noqa: S105 (a prefix, not a secret)
MIN_OPERATOR_TOKEN = 32
#: The global role of a user who sees only what its grants name (``none``: no experiment
#: or model is readable without a grant, and the dashboard, which shows everything, is
#: refused).
SCOPED = "none"
#: Where ``lockgate server`` keeps the request's :class:`Principal` (ASGI ``scope["state"]``),
#: for the apps it mounts (the dashboard) to read.
PRINCIPAL_KEY = "lockgate.principal"
GLOBAL_ROLES = (SCOPED, *ROLES)
_RANK = {role: rank for rank, role in enumerate(GLOBAL_ROLES)}


class AccountError(ConfigError):
    """A user, token or grant request that cannot be applied (unknown role, existing
    user, a short operator token...)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A role on one experiment or model (``name`` ``*``: all of that kind)."""

    kind: str
    name: str
    role: str
    promote: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of one request."""

    user: str
    role: str
    token_id: str
    grants: tuple[Grant, ...] = ()

    def role_on(self, kind: str | None = None, name: str | None = None) -> str:
        """The strongest role this user holds on one experiment/model (or globally)."""
        best = _RANK[self.role]
        for grant in self.grants:
            if kind is not None and grant.kind == kind and grant.name in (name, "*"):
                best = max(best, _RANK[grant.role])
        return GLOBAL_ROLES[best]

    def can(self, need: str, kind: str | None = None, name: str | None = None) -> bool:
        """Whether this user holds at least role ``need`` on the named resource."""
        return _RANK[self.role_on(kind, name)] >= _RANK[need]

    def visible(self, kind: str) -> frozenset[str] | None:
        """The experiments (``kind`` experiment) or models this user may read: None for
        all of them (a global reader or better, or a ``*`` grant), else the names its
        grants give."""
        if self.can("reader") or any(g.kind == kind and g.name == "*" for g in self.grants):
            return None
        return frozenset(g.name for g in self.grants if g.kind == kind)

    def sees(self, kind: str, name: str) -> bool:
        """Whether this user may read one experiment or model."""
        return self.can("reader", kind, name)

    def can_promote(self, model: str) -> bool:
        """Whether this user may move ``model``'s production alias."""
        return self.role == "admin" or any(
            g.kind == "model" and g.name in (model, "*") and g.promote for g in self.grants)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed (never its secret)."""

    id: str
    user: str
    label: str | None
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        now = time.time()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def new_token() -> str:
    """A fresh high-entropy API token (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_id(token: str) -> str:
    """The public id of a token: the first 16 hex digits of its SHA-256."""
    return _digest(token)[:16]


def create_user(store: Store, name: str, role: str = "reader") -> None:
    """Add a user with a global role (``none``: only what grants give it).

    Raises:
        AccountError: unknown role, empty name, or the user exists.
    """
    _check_role(role, GLOBAL_ROLES)
    name = name.strip()
    if not name or len(name) > 255:
        raise AccountError("A user name must be 1-255 characters.")
    if _remote(store):  # a client of `lockgate server`: an admin's request to it
        store.request("POST", "/users", json_body={  # type: ignore[attr-defined]
            "name": name, "role": role}, idempotent=True)
        return
    if _user_id(store, name) is not None:
        raise AccountError(f"User `{name}` already exists; issue another token with "
                           f"`lockgate server token create {name}`.")
    store.execute_write(sa.insert(auth_users).values(
        name=name, role=role, created_at=time.time(), created_by=audit.current_actor()))
    audit.record(store, "user.created", f"user:{name}", after={"role": role})


def issue_token(store: Store, user: str, *, label: str | None = None,
                expires_in_s: float | None = None, token: str | None = None) -> str:
    """A new token for ``user``, returned once (only its hash is kept).

    ``token`` lets the operator choose it (at least 32 characters).
    """
    _check_token(token)
    if _remote(store):
        if token is not None:
            raise AccountError("Only the operator chooses a token, where the server runs "
                               "(`lockgate server token create NAME --token ...`).")
        return str(store.request(  # type: ignore[attr-defined]
            "POST", f"/users/{user}/tokens", idempotent=True,
            json_body={"label": label, "expires_in_s": expires_in_s}).json()["token"])
    user_id = _require_user(store, user)
    token = token or new_token()
    now = time.time()
    store.execute_write(sa.insert(auth_tokens).values(
        id=token_id(token), user_id=user_id, secret_sha256=_digest(token), label=label,
        created_at=now, expires_at=None if expires_in_s is None else now + expires_in_s))
    audit.record(store, "token.created", f"token:{token_id(token)}",
                 after={"user": user, "label": label, "expires_in_s": expires_in_s})
    return token


def authenticate(store: Store, token: str | None) -> Principal | None:
    """The user a presented token belongs to, or None (unknown, revoked, expired,
    disabled user). Read from the store on every call, so revocation is immediate; one
    query (token, user and grants joined), because it runs before every request."""
    if not token or len(token) > 512:
        return None
    query = (sa.select(auth_tokens.c.id, auth_tokens.c.secret_sha256,
                       auth_tokens.c.expires_at, auth_tokens.c.revoked_at,
                       auth_users.c.name, auth_users.c.role, auth_users.c.disabled_at,
                       auth_grants.c.kind, auth_grants.c.name.label("grant_name"),
                       auth_grants.c.role.label("grant_role"), auth_grants.c.promote)
             .join(auth_users, auth_users.c.id == auth_tokens.c.user_id)
             .outerjoin(auth_grants, auth_grants.c.user_id == auth_users.c.id)
             .where(auth_tokens.c.id == token_id(token)))
    with store.read() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return None
    row = rows[0]
    if not hmac.compare_digest(row.secret_sha256, _digest(token)):
        return None
    if row.revoked_at is not None or row.disabled_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= time.time():
        return None
    return Principal(row.name, row.role, row.id, tuple(
        Grant(g.kind, g.grant_name, g.grant_role, bool(g.promote)) for g in rows
        if g.kind is not None))


def revoke_token(store: Store, token: str) -> None:
    """Revoke a token by its id (or the token itself); refused from the next request on."""
    ident = token if len(token) == 16 and not token.startswith(TOKEN_PREFIX) else token_id(token)
    with store.write() as conn:
        done = conn.execute(sa.update(auth_tokens).where(
            auth_tokens.c.id == ident, auth_tokens.c.revoked_at.is_(None)).values(
            revoked_at=time.time())).rowcount
        if not done:
            raise NotFoundError(f"No active token `{ident}`; list them with "
                                "`lockgate server token list`.")
        audit.record(store, "token.revoked", f"token:{ident}", conn=conn)


def list_tokens(store: Store, user: str | None = None) -> list[TokenInfo]:
    """Every token (of one user), newest first."""
    query = (sa.select(auth_tokens, auth_users.c.name)
             .join(auth_users, auth_users.c.id == auth_tokens.c.user_id)
             .order_by(auth_tokens.c.created_at.desc()))
    if user is not None:
        query = query.where(auth_users.c.name == user)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [TokenInfo(r.id, r.name, r.label, r.created_at, r.expires_at, r.revoked_at)
            for r in rows]


def set_grant(store: Store, user: str, kind: str, name: str, role: str, *,
              promote: bool = False) -> None:
    """Give ``user`` ``role`` on one experiment or model (replacing an earlier grant)."""
    _check_role(role)
    if kind not in GRANT_KINDS:
        raise AccountError(f"Unknown grant kind `{kind}`; use one of {', '.join(GRANT_KINDS)}.")
    if _remote(store):
        store.request("PUT", f"/users/{user}/grants", idempotent=True,  # type: ignore[attr-defined]
                      json_body={"kind": kind, "name": name, "role": role,
                                 "promote": promote})
        return
    user_id = _require_user(store, user)
    with store.write() as conn:
        conn.execute(sa.delete(auth_grants).where(
            auth_grants.c.user_id == user_id, auth_grants.c.kind == kind,
            auth_grants.c.name == name))
        conn.execute(sa.insert(auth_grants).values(user_id=user_id, kind=kind, name=name,
                                                   role=role, promote=promote))
        audit.record(store, "grant.set", f"user:{user}", conn=conn,
                     after={"kind": kind, "name": name, "role": role, "promote": promote})


def init_admin(store: Store, name: str = "admin", token: str | None = None) -> str:
    """Create the first admin and return its token (printed once by ``server init``).

    Raises:
        AccountError: an admin exists already (there is no second "first admin").
    """
    with store.read() as conn:
        admins = conn.execute(sa.select(sa.func.count()).select_from(auth_users).where(
            auth_users.c.role == "admin")).scalar_one()
    if admins:
        raise AccountError("This server has an admin already; an admin issues more tokens "
                           "with `lockgate server token create NAME`.")
    _check_token(token)  # before anything is written
    create_user(store, name, "admin")
    return issue_token(store, name, label="server init", token=token)


def users(store: Store) -> list[tuple[str, str]]:
    """``(name, role)`` of every user."""
    with store.read() as conn:
        return [(r.name, r.role) for r in conn.execute(
            sa.select(auth_users.c.name, auth_users.c.role).order_by(auth_users.c.name))]


def _remote(store: Store) -> bool:
    """A client of ``lockgate server``: users, tokens and grants are an admin's requests
    to it (the server checks the role and audits)."""
    return bool(getattr(store, "remote", False))


def _check_token(token: str | None) -> None:
    if token is not None and len(token) < MIN_OPERATOR_TOKEN:
        raise AccountError(f"The chosen token is {len(token)} characters long; use at least "
                           f"{MIN_OPERATOR_TOKEN} random characters.")


def _check_role(role: str, allowed: tuple[str, ...] = ROLES) -> None:
    if role not in allowed:
        raise AccountError(f"Unknown role `{role}`; use one of {', '.join(allowed)}.")


def _user_id(store: Store, name: str) -> int | None:
    with store.read() as conn:
        found = conn.execute(sa.select(auth_users.c.id).where(auth_users.c.name == name)).scalar()
    return None if found is None else int(found)


def _require_user(store: Store, name: str) -> int:
    found = _user_id(store, name)
    if found is None:
        raise NotFoundError(f"No user `{name}`; add one with `lockgate server user add "
                            f"{name} --role reader`.")
    return found


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
