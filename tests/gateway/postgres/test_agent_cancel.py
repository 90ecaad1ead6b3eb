"""The MCP runner for PostgreSQL: a cancelled call's statement ends upstream, even when a
CancelRequest is lost on the way (gateway.postgres.agent._cancel)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from approvals import Identity
from gateway.config import ConnectionConfig
from gateway.postgres import agent, upstream
from gateway.postgres.agent import PostgresRunner
from gateway.postgres.dialect import POSTGRES
from gateway.postgres.upstream import CANCEL_TRIES
from gateway.sessions import Session, build_targets
from tests.conftest import PG_ADMIN_DSN
from tests.harness import pg_connection

LONG = "SELECT count(*) FROM (SELECT generate_series(1, 1000000000)) s"  # 18 s or more


@pytest_asyncio.fixture
async def runner(pg_database_url: str) -> AsyncIterator[tuple[PostgresRunner, asyncpg.Connection]]:
    """A runner for ``pg-agent`` on a fresh database, and an admin connection to watch it."""
    os.environ.setdefault("AIRLOCK_TEST_UPSTREAM_PASSWORD", "unused-with-trust-auth")
    database = make_url(pg_database_url).database
    assert database is not None
    conn = ConnectionConfig(**pg_connection(database, "pg-agent"))
    watch = await asyncpg.connect(PG_ADMIN_DSN, database=database)
    try:
        yield PostgresRunner(build_targets([conn], {"postgres": POSTGRES})), watch
    finally:
        await watch.close()


def _session() -> Session:
    return Session(
        id="s-1", identity=Identity("rita@example.com"), connection="pg-agent", delegation=None
    )


async def _backend(watch: asyncpg.Connection, pid: int) -> tuple[str, str] | None:
    row = await watch.fetchrow("SELECT state, query FROM pg_stat_activity WHERE pid = $1", pid)
    return None if row is None else (row["state"], row["query"])


async def _until(check: Callable[[], Awaitable[bool]], within: float) -> None:
    for _ in range(int(within / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s")


async def _until_gone(watch: asyncpg.Connection, pid: int) -> None:
    async def gone() -> bool:
        return await _backend(watch, pid) is None

    await _until(gone, 5)


async def _cancel_running_call(
    runner: PostgresRunner, watch: asyncpg.Connection, lost: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[int]]:
    """Run LONG, cancel the call once it runs upstream, the first ``lost`` CancelRequests
    never leaving; the backend's pid and the CancelRequests asked for."""
    asked: list[int] = []
    send = agent._send_cancel

    async def lossy(opened: agent._Opened) -> None:
        asked.append(opened.up.process_id)
        if len(asked) > lost:
            await send(opened)

    monkeypatch.setattr(agent, "_send_cancel", lossy)
    monkeypatch.setattr(upstream, "CANCEL_WAIT_S", 0.5)
    async with runner.open(_session()) as opened:
        pid = opened.up.process_id
        call = asyncio.create_task(opened.execute(LONG, (), max_rows=10, max_bytes=10_000))

        async def running() -> bool:
            return await _backend(watch, pid) == ("active", LONG)

        await _until(running, 10)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    return pid, asked


async def test_a_cancelled_statement_ends_and_its_connection_closes(
    runner: tuple[PostgresRunner, asyncpg.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, asked = await _cancel_running_call(*runner, lost=0, monkeypatch=monkeypatch)
    await _until_gone(runner[1], pid)  # the statement ended, then the canceller closed it
    # One CancelRequest, or more: the server drops one that lands while the statement is
    # still being parsed and bound (what test_a_lost_cancel_request_is_sent_again imitates).
    assert asked[0] == pid


async def test_a_lost_cancel_request_is_sent_again(
    runner: tuple[PostgresRunner, asyncpg.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, asked = await _cancel_running_call(*runner, lost=1, monkeypatch=monkeypatch)
    await _until_gone(runner[1], pid)
    assert len(asked) >= 2 and set(asked) == {pid}


async def test_a_statement_that_outlives_every_cancel_request_is_reported(
    runner: tuple[PostgresRunner, asyncpg.Connection],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "airlock.mcp")
    pid, asked = await _cancel_running_call(*runner, lost=CANCEL_TRIES, monkeypatch=monkeypatch)

    async def reported() -> bool:
        return "still ran after 3 CancelRequests" in caplog.text

    await _until(reported, 5)
    assert asked == [pid] * CANCEL_TRIES
    # Its connection is closed all the same; the server runs the statement on (it learns of
    # the gone client only when it writes the count), so the test's database is dropped WITH
    # (FORCE) after.
    assert await _backend(runner[1], pid) == ("active", LONG)
