"""Access that rests on a delegation: needed to connect, and its revocation or expiry ends the
live sessions that rest on it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from gateway.config import ConnectionConfig
from gateway.postgres import upstream as upstream_module
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
    await _revoked_while_running(env, protocol, within=2)


async def test_a_cancel_request_the_server_dropped_is_sent_again(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL drops a CancelRequest that finds the backend between two messages (a
    statement still being parsed and bound): here the first request never leaves, and the
    gateway, hearing nothing from the server on the statement's connection, sends another."""
    asked: list[tuple[int, int]] = []
    send = upstream_module.send_cancel

    async def lossy(config: ConnectionConfig, key: tuple[int, int], *, within: float) -> None:
        asked.append(key)
        if len(asked) > 1:
            await send(config, key, within=within)

    monkeypatch.setattr(upstream_module, "send_cancel", lossy)
    monkeypatch.setattr(upstream_module, "CANCEL_WAIT_S", 0.5)
    await _revoked_while_running(env, "simple", within=3)
    assert len(asked) == 2 and asked[0] == asked[1]


async def test_a_statement_that_outlives_every_cancel_request_is_logged(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every CancelRequest lost: the session still ends (its upstream connection closed) and
    the operator is told the statement may still run."""

    async def lost(config: ConnectionConfig, key: tuple[int, int], *, within: float) -> None:
        return None

    monkeypatch.setattr(upstream_module, "send_cancel", lost)
    monkeypatch.setattr(upstream_module, "CANCEL_WAIT_S", 0.2)
    with caplog.at_level(logging.WARNING, logger="airlock.postgres"):
        await _revoked_while_running(env, "simple", within=None)
        for _ in range(250):  # the session ends after the requests: 0.6 s
            if "still ran upstream after 3 CancelRequests" in caplog.text:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("no warning about the statement still running")


async def _revoked_while_running(env: Env, protocol: str, *, within: float | None) -> None:
    """Revoke alice's delegation while her statement waits upstream for a lock; the statement
    must be gone from the server within ``within`` seconds of her session's FATAL (None: it is
    not waited for; the lock is released at the end either way)."""
    delegation = await _granted(env, "1h")
    upstream = await asyncpg.connect(env.dsn)
    try:
        await upstream.execute("CREATE TABLE IF NOT EXISTS locked_up (id int)")
        locker = upstream.transaction()
        await locker.start()
        await upstream.execute("LOCK TABLE locked_up IN ACCESS EXCLUSIVE MODE")
        client = await _connect(env)
        marker = f"revoked-reader-{protocol}-{delegation}"
        text = f"SELECT count(*) FROM locked_up /* {marker} */"
        if protocol == "simple":
            client.send(pg.Query(text))
        else:  # Parse, Bind, Execute, Sync: the fast lane's path for a prepared statement
            client.send(pg.Parse("", text, ()), pg.Bind("", "", (), (), ()), pg.Execute("", 0))
            client.send(pg.Sync())
        watcher = await asyncpg.connect(env.dsn)
        try:
            started = time.perf_counter()
            while not await _running(watcher, marker):
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
            while within is not None and await _running(watcher, marker):
                assert time.perf_counter() - started < within, "the statement still runs upstream"
                await asyncio.sleep(0.02)
            # In the trail from the session's end, not from the next start's journal replay.
            [record] = [e.details for e in await env.audit() if marker in e.details["statement"]]
            assert (record["outcome"], record["verdict"]) == ("unknown", "allow")
            assert record["error"] == "forwarded; the session ended before the server answered"
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
