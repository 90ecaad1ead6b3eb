"""Access that rests on a delegation: needed to connect, and its revocation or expiry ends the
live sessions that rest on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from gateway.postgres import wire as pg
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    directory = tmp_path_factory.mktemp("access")
    async with gateway_env(directory, name="pg-req", access="request") as env:
        yield env


async def _granted(env: Env, duration: str) -> str:
    """Ask for access as alice, approve as bob; the delegation id."""
    async with env.gw.client(env.token) as http:
        asked = await http.post(
            "/v1/access-requests",
            json={"connection": "pg-req", "duration": duration, "reason": "INC-42"},
        )
    assert asked.status_code == 201, asked.text
    await env.decide(asked.json()["id"], "approve", "ok")
    async with env.gw.client(env.token) as http:
        listed = await http.get("/v1/delegations")
    return str(listed.json()[0]["id"])


async def _connect(env: Env) -> RawClient:
    client = await RawClient.connect(env.port)
    messages = await client.login(env.token, database="pg-req")
    assert isinstance(messages[-1], pg.ReadyForQuery), messages
    return client


async def _ended(client: RawClient) -> pg.ErrorResponse:
    """The FATAL the gateway sends when it ends the session on its own (within 5 s)."""
    error = await client.read(within=5)
    assert isinstance(error, pg.ErrorResponse) and error.severity == "FATAL", error
    assert await client.closed()
    return error


async def test_connect_needs_a_delegation(env: Env) -> None:
    """Without a delegation the start-up is refused (42501) with how to ask."""
    client = await RawClient.connect(env.port)
    [error] = await client.login(env.token, database="pg-req")
    assert isinstance(error, pg.ErrorResponse) and error.sqlstate == "42501"
    assert "/access request pg-req" in (error.message or "")


async def test_revocation_ends_live_session(env: Env) -> None:
    """Revoking the delegation ends the session resting on it within a second: 57P01."""
    delegation = await _granted(env, "1h")
    client = await _connect(env)
    async with env.gw.client(env.token) as http:
        revoked = await http.post(f"/v1/delegations/{delegation}/revoke", json={"reason": "done"})
    assert revoked.status_code == 200, revoked.text
    started = time.perf_counter()
    error = await _ended(client)
    assert time.perf_counter() - started < 1
    assert error.sqlstate == "57P01" and f"delegation {delegation}" in (error.message or "")
    assert "revoked" in (error.message or "")
    repository = env.gw.runtime.repository
    async with asyncio.timeout(5):
        while True:
            [session] = await repository.list_sessions(connection="pg-req", limit=1)
            if session.ended_at is not None:
                break
            await asyncio.sleep(0.02)
    assert session.stats["end"] == "revoked"


@pytest.mark.parametrize("protocol", ["simple", "extended"])
async def test_revocation_cancels_the_statement_running_upstream(env: Env, protocol: str) -> None:
    """A revoked session's running statement does not run on to its end upstream: the server
    would notice the closed connection only when it next writes, so the gateway cancels it.
    (The statement waits for a lock another connection holds: a read the rules allow.)"""
    delegation = await _granted(env, "1h")
    upstream = await asyncpg.connect(env.dsn)
    try:
        await upstream.execute("CREATE TABLE IF NOT EXISTS locked_up (id int)")
        locker = upstream.transaction()
        await locker.start()
        await upstream.execute("LOCK TABLE locked_up IN ACCESS EXCLUSIVE MODE")
        client = await _connect(env)
        text = f"SELECT count(*) FROM locked_up /* revoked-reader-{protocol} */"
        if protocol == "simple":
            client.send(pg.Query(text))
        else:  # Parse, Bind, Execute, Sync: the fast lane's path for a prepared statement
            client.send(pg.Parse("", text, ()), pg.Bind("", "", (), (), ()), pg.Execute("", 0))
            client.send(pg.Sync())
        watcher = await asyncpg.connect(env.dsn)
        try:
            started = time.perf_counter()
            while not await _running(watcher, f"revoked-reader-{protocol}"):
                assert time.perf_counter() - started < 5, "the statement never started"
                await asyncio.sleep(0.02)
            async with env.gw.client(env.token) as http:
                revoked = await http.post(
                    f"/v1/delegations/{delegation}/revoke", json={"reason": "done"}
                )
            assert revoked.status_code == 200, revoked.text
            error = await _ended(client)
            assert error.sqlstate == "57P01"
            started = time.perf_counter()
            while await _running(watcher, f"revoked-reader-{protocol}"):
                assert time.perf_counter() - started < 2, "the statement still runs upstream"
                await asyncio.sleep(0.02)
        finally:
            await watcher.close()
        await locker.rollback()
    finally:
        await upstream.close()


async def _running(upstream: asyncpg.Connection, marker: str) -> bool:
    count = await upstream.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1"
        " AND pid <> pg_backend_pid()",
        f"%{marker}%",
    )
    return bool(count)


async def test_expiry_ends_live_session(env: Env) -> None:
    """A delegation that expires ends its live session: 57P01."""
    await _granted(env, "2s")
    client = await _connect(env)
    error = await _ended(client)
    assert error.sqlstate == "57P01" and "expired" in (error.message or "")
