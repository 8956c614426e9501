"""A live ``lockgate server`` on 127.0.0.1 with one user per role."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from lockgate.config import Settings
from lockgate.security import accounts
from lockgate.server import TeamServer
from lockgate.store import Store


@dataclasses.dataclass
class Team:
    """The server, its settings and a token per user."""

    server: TeamServer
    settings: Settings
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, user: str | None) -> httpx.Client:
        headers = {} if user is None else {"authorization": f"Bearer {self.tokens[user]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def make_team(settings: Settings) -> Team:
    """Users: admin; writer (global); reader; other (no global role: a writer of
    experiment `other` and model `other-model` only, and sees nothing else)."""
    store = Store.open(settings)
    tokens = {"admin": accounts.init_admin(store)}
    for name, role in (("writer", "writer"), ("reader", "reader"), ("other", "none")):
        accounts.create_user(store, name, role)
        tokens[name] = accounts.issue_token(store, name)
    accounts.set_grant(store, "other", "experiment", "other", "writer")
    accounts.set_grant(store, "other", "model", "other-model", "writer", promote=True)
    return Team(TeamServer(settings), settings, tokens)


@pytest.fixture
def team(settings: Settings) -> Iterator[Team]:
    found = make_team(settings)
    with found.server:
        yield found
