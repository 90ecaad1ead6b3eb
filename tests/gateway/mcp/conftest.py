"""One real ``airlock up`` for the MCP tests of a module: a fresh PostgreSQL database with a
customers table, a SQLite store, a signing key the tests mint tokens with, and helpers for the
SDK's own MCP client and for the HTTP API (approvals go through it as an approver)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import httpx2
import pytest
import pytest_asyncio
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from approvals import Actor, IdentityKind
from gateway.identity import TokenService, generate_key, load_key
from tests.harness import free_port, pg_connection
from tests.support.processes import (
    AIRLOCK,
    AirlockProcess,
    child_env,
    run_airlock,
    write_config,
)

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROWS = [
    (1, "Ann", "ann@example.com", "123-45-6789"),
    (2, "Bob", "bob@example.com", "987-65-4321"),
    (3, "Cy", "cy@example.com", "555-12-3456"),
]


@dataclass
class Airlock:
    """The running gateway: its API and MCP URLs, its PostgreSQL listener, a token minter and
    the database behind ``pg-prod`` (and ``pg-req``, which needs an access request, and
    ``pg-limit``, whose writes are counted against max_rows_unreviewed = 1)."""

    process: AirlockProcess
    api_url: str
    pg_port: int
    database: str
    tokens: TokenService

    @property
    def mcp_url(self) -> str:
        return f"{self.api_url}/mcp"

    def token(
        self,
        subject: str,
        groups: tuple[str, ...] = ("eng",),
        *,
        agents: tuple[str, ...] = (),
        ttl: timedelta = timedelta(hours=1),
        kind: IdentityKind = IdentityKind.PERSON,
    ) -> str:
        """A gateway token; ``agents``: the chain acting for ``subject``, in order."""
        actors = tuple(Actor(a) for a in agents)
        return self.tokens.mint(subject, groups=groups, actors=actors, ttl=ttl, kind=kind)

    def api(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    async def sql(self, query: str) -> list[asyncpg.Record]:
        """Read the upstream database directly (not through the gateway)."""
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.database}")
        try:
            return list(await conn.fetch(query))
        finally:
            await conn.close()

    async def decide(self, approver: str, review_id: str, outcome: str, reason: str = "") -> int:
        """An approver's decision through the API; its HTTP status."""
        async with self.api(self.token(approver, ("dba",))) as api:
            body = {"outcome": outcome, "reason": reason or None}
            response = await api.post(f"/v1/reviews/{review_id}/decisions", json=body)
            return response.status_code

    async def audit(self, action: str = "mcp.call") -> list[dict[str, Any]]:
        async with self.api(self.token("auditor@example.com", ("auditors",))) as api:
            response = await api.get("/v1/audit", params={"limit": 1000})
            response.raise_for_status()
            return [e for e in response.json() if e["action"] == action]

    async def eventually(self, check: Callable[[], Awaitable[bool]], within: float = 10) -> None:
        """Wait until ``check`` holds (the audit writer batches its writes)."""
        async with asyncio.timeout(within):
            while not await check():  # noqa: ASYNC110  (another process writes what it reads)
                await asyncio.sleep(0.1)


@asynccontextmanager
async def mcp(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """The SDK's own client, initialized, with ``token`` as its bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = httpx2.Timeout(30, read=330)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured answer; an error result as ``{"is_error": True, "text": ...}``."""
    result = await session.call_tool(tool, arguments)
    if result.is_error:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        return {"is_error": True, "text": text}
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def _database() -> str:
    name = f"airlock_mcp_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        await conn.execute(
            "CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text)"
        )
        await conn.executemany("INSERT INTO customers VALUES ($1, $2, $3, $4)", ROWS)
        await conn.execute("CREATE TABLE big AS SELECT g AS n FROM generate_series(1, 2000) g")
    finally:
        await conn.close()
    return name


async def _drop(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def airlock_config(path: Path, store_url: str, database: str, api_port: int, pg_port: int) -> Path:
    masking = {"columns": ["ssn"], "detectors": ["email"]}
    approvers = {"groups": ["dba"], "channel": "#dba-oncall", "quorum": 1}
    prod = pg_connection(database, "pg-prod", masking=masking, approvers=approvers,
                         review_timeout="5m")  # fmt: skip
    req = pg_connection(database, "pg-req", access="request", approvers=approvers)
    limit = pg_connection(database, "pg-limit", approvers=approvers, max_rows_unreviewed=1)
    return write_config(
        path, store_url, api_port=api_port,
        pg_port=pg_port, connections=[prod, req, limit],
        sections={"scheduler": {"enabled": False},
                  "gateway": {"journal_dir": str(path.parent / "journal"),
                              "approval_ttl": "10m"}},
    )  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def airlock(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Airlock]:
    """``airlock up`` over a fresh database, for the whole module: its store on SQLite, then
    on PostgreSQL (migrated first with ``airlock db upgrade``)."""
    database = await _database()
    store = await _database() if request.param == "postgres" else None
    tmp = tmp_path_factory.mktemp("mcp")
    store_url = (
        f"postgresql+asyncpg://postgres@127.0.0.1:5432/{store}"
        if store is not None
        else f"sqlite+aiosqlite:///{tmp / 'airlock.db'}"
    )
    pem = generate_key().private_pem()
    api_port, pg_port = free_port(), free_port()
    config = airlock_config(tmp / "airlock.toml", store_url, database, api_port, pg_port)
    env = {"AIRLOCK_SIGNING_KEY": pem, "AIRLOCK_TEST_UPSTREAM_PASSWORD": "unused"}
    process = AirlockProcess(
        "up", (AIRLOCK, "up", "--config", str(config)), child_env(env),
        ("HTTP API on", "MCP server on", f"listener on 127.0.0.1:{pg_port}"),
    )  # fmt: skip
    try:
        if store is not None:
            migrated = await run_airlock("db", "upgrade", "--config", str(config), env=env)
            assert migrated.code == 0, migrated.err
        await process.start()
        yield Airlock(
            process, f"http://127.0.0.1:{api_port}", pg_port, database,
            TokenService(load_key(pem)),
        )  # fmt: skip
    finally:
        if process.proc is not None:
            await process.stop()
        for name in (database, store):
            if name is not None:
                await _drop(name)
