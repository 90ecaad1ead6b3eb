"""A small Airlock world for the HTTP API tests: two connections, a few people, the app served
in-process through httpx's ASGI transport (no socket) on a fresh SQLite store.

    async with api_world(tmp_path) as world:
        review = await world.hold(ALICE)
        async with world.client(world.token("bob@example.com", ["dba"])) as http:
            await http.post(f"/v1/reviews/{review.id}/decisions", json={"outcome": "approve"})
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from approvals import Actor, Identity, IdentityKind, Review
from gateway.api import create_app
from gateway.config import load_settings
from gateway.runtime import Runtime, open_runtime

__all__ = [
    "ALICE",
    "ALICE_VIA_AGENTS",
    "WORLD_TOML",
    "ApiWorld",
    "api_world",
    "error_code",
]

ALICE = Identity("alice@example.com", groups=frozenset({"eng"}), email="alice@example.com")
ALICE_VIA_AGENTS = Identity(
    "alice@example.com",
    groups=frozenset({"eng"}),
    actors=(Actor("ci-runner"), Actor("sql-agent")),
)

WORLD_TOML = """
[api]
listen = "127.0.0.1:0"

[[connections]]
name = "pg-test"
type = "postgres"
upstream = "127.0.0.1:5432"
database = "postgres"
username = "postgres"
access = "standing"
allow_groups = ["eng"]
owners = { channel = "#owners", identities = ["carol@example.com"] }
approvers = { groups = ["dba"], channel = "#dba", quorum = 1 }
review_timeout = "15m"
max_grant = "8h"

[[connections]]
name = "pg-req"
type = "postgres"
upstream = "127.0.0.1:5432"
database = "postgres"
username = "postgres"
access = "request"
allow_groups = ["eng"]
owners = { identities = ["dave@example.com"] }
approvers = { groups = ["dba"], quorum = 1 }
max_grant = "2h"

[[connections]]
name = "pg-quorum"
type = "postgres"
upstream = "127.0.0.1:5432"
approvers = { groups = ["dba"], identities = ["lead@example.com"], quorum = 2 }

[[people]]
email = "bob@example.com"
groups = ["dba"]

[[people]]
email = "Erin@Example.com"
groups = ["dba"]

[[people]]
email = "mallory@example.com"
groups = ["eng"]

[[people]]
email = "alice@example.com"
groups = ["eng", "dba"]
"""


@dataclass
class ApiWorld:
    runtime: Runtime
    app: FastAPI

    def token(
        self,
        subject: str,
        groups: Iterable[str] = (),
        *,
        actors: tuple[Actor, ...] = (),
        kind: IdentityKind = IdentityKind.PERSON,
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        return self.runtime.tokens.mint(subject, groups=groups, kind=kind, ttl=ttl, actors=actors)

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://airlock.test",
            headers=headers,
        )

    async def hold(
        self,
        requester: Identity = ALICE,
        statement: str = "DROP TABLE orders",
        connection: str = "pg-test",
    ) -> Review:
        return await self.runtime.service.hold_statement(
            requester, connection, statement, risk="high", rule="ddl-destroy"
        )


@contextlib.asynccontextmanager
async def api_world(tmp_path: Path, store_url: str | None = None) -> AsyncIterator[ApiWorld]:
    """The world's settings on a fresh store (SQLite unless given), migrated, with the app."""
    path = tmp_path / "airlock.toml"
    url = store_url or f"sqlite+aiosqlite:///{tmp_path / 'airlock.db'}"
    path.write_text(f"[store]\nurl = {json.dumps(url)}\n" + WORLD_TOML, encoding="utf-8")
    async with open_runtime(load_settings(path), upgrade=True) as runtime:
        yield ApiWorld(runtime, create_app(runtime.api_context()))


def error_code(response: httpx.Response) -> str:
    """The stable ``code`` of a JSON error answer (fails when the body is not one)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str), body
    code: str = body["error"]["code"]
    return code
