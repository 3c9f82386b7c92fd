"""The web app in process (Starlette's TestClient over httpx, on ``https://testserver`` so
that the Secure session cookie is sent), on a vault whose clock the test moves."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from custodes.bootstrap import Vault
from custodes.services import users
from custodes.services.audit import list_events
from custodes.web.app import create_app

PASSWORD = "correct horse battery staple"
ORIGIN = "https://testserver"


class MovableClock:
    """The vault's clock, moved by the test (idle lock, lockout, token expiry)."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC)

    def now(self) -> datetime:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += timedelta(**delta)


@dataclasses.dataclass
class Web:
    vault: Vault
    clock: MovableClock
    client: TestClient
    secrets: dict[str, str] = dataclasses.field(default_factory=dict)

    def new_client(self) -> TestClient:
        return TestClient(create_app(self.vault), base_url=ORIGIN)

    def user(self, role: str, name: str | None = None) -> str:
        username = name or f"{role.replace('-', '')[:8]}{len(self.secrets) + 1}"
        users.add_user(self.vault, "admin", username, role, PASSWORD)
        self.secrets[username] = ""
        return username

    def code(self, username: str) -> str:
        return pyotp.TOTP(self.secrets[username]).at(self.clock.now())

    def sign_in(self, username: str, client: TestClient | None = None) -> TestClient:
        """Sign ``username`` in with a password and TOTP (enrolling the first time); a
        new step of 30 s is taken first, so that no code is used twice."""
        c = client or self.new_client()
        self.clock.advance(seconds=31)
        r = post(c, "/api/v1/auth/sign-in", {"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        step = r.json()
        if step["status"] == "enrol-required":
            self.secrets[username] = step["secret"]
            r = post(c, "/api/v1/auth/enrol", {"code": self.code(username)})
        else:
            assert step["status"] == "second-factor-required"
            r = post(c, "/api/v1/auth/second-factor", {"code": self.code(username)})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "signed-in"
        return c

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        with self.vault.uow(readonly=True) as uow:
            found = list_events(uow)
        return [e for e in found if action is None or e["action"] == action]


def post(client: TestClient, path: str, body: Any = None, **kw: Any) -> Any:
    """A same-origin POST, as a browser page of this server sends it."""
    headers = {"Origin": ORIGIN, **kw.pop("headers", {})}
    return client.post(path, json=body, headers=headers, **kw)


def _web(opened: Vault) -> Iterator[Web]:
    clock = MovableClock()
    vault = dataclasses.replace(opened, clock=clock)
    with TestClient(create_app(vault), base_url=ORIGIN) as client:
        yield Web(vault, clock, client)


@pytest.fixture
def web(vault: Vault) -> Iterator[Web]:
    """On SQLite, and on PostgreSQL when one is reachable."""
    yield from _web(vault)


@pytest.fixture
def sqlite_web(sqlite_vault: Vault) -> Iterator[Web]:
    yield from _web(sqlite_vault)
