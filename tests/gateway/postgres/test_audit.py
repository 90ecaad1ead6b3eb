"""Session recording and audit: one session row per connection, one audit record per statement
(verdict, rule, review id, rows), all on a hash chain that verifies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from store import SessionRecord, verify
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("audit")) as env:
        yield env


async def _ended_session(env: Env) -> SessionRecord:
    repository = env.gw.runtime.repository
    async with asyncio.timeout(5):
        while True:
            [session] = await repository.list_sessions(connection="pg-test", limit=1)
            if session.ended_at is not None:
                return session
            await asyncio.sleep(0.02)


async def test_session_and_statement_events(env: Env) -> None:
    """A psql session leaves one session row and one audit event per statement."""
    await env.reset()
    script = (
        "\\set ON_ERROR_STOP 0\n"
        "SELECT id FROM t ORDER BY id;\n"
        "DELETE FROM t WHERE id = 1;\n"
        "COPY t TO PROGRAM 'x';\n"
        "SELECT 1/0;\n"
        "TRUNCATE t;\n"
    )
    running = asyncio.create_task(env.psql(script=script))
    review = await env.pending_review()
    await env.decide(review.id, "deny", "audit test")
    await running
    session = await _ended_session(env)
    assert session.identity.subject == "alice@example.com"
    assert session.connection == "pg-test"
    assert session.client_addr is not None and session.client_addr.startswith("127.0.0.1:")
    assert session.ended_at is not None and session.ended_at >= session.started_at
    stats = session.stats
    assert (stats["statements"], stats["held"], stats["refused"]) == (5, 1, 2), stats
    assert stats["rows"] == 4 and stats["bytes_out"] > 0, stats

    events = await env.audit(session.id)
    shown = [(e.details["statement"], e.outcome, e.details["rule"]) for e in events]
    assert shown == [
        ("SELECT id FROM t ORDER BY id;", "ok", "default"),
        ("DELETE FROM t WHERE id = 1;", "ok", "default"),
        ("COPY t TO PROGRAM 'x';", "block", "default/server_escape"),
        ("SELECT 1/0;", "error", "default"),
        ("TRUNCATE t;", "denied", "default/destroy"),
    ]
    assert [e.details["rows"] for e in events] == [3, 1, 0, 0, 0]
    assert events[0].details["bytes"] > 0 and events[1].details["bytes"] == 0
    assert events[4].details["review_id"] == review.id
    assert events[3].details["sqlstate"] == "22012"
    assert all(e.actor_subject == "alice@example.com" for e in events)
    assert all(e.connection == "pg-test" for e in events)
    assert (await verify(env.gw.runtime.database)).ok


async def test_extended_protocol_events(env: Env) -> None:
    """Extended-protocol statements are audited once per Execute, with their rows."""
    await env.reset()
    conn = await env.asyncpg()
    stmt = await conn.prepare("SELECT id FROM t WHERE id >= $1")
    for start in (1, 2, 3):
        await stmt.fetch(start)
    await conn.close()
    session = await _ended_session(env)
    events = await env.audit(session.id)
    runs = [e for e in events if e.details["statement"] == "SELECT id FROM t WHERE id >= $1"]
    assert [e.details["rows"] for e in runs] == [3, 2, 1]
    assert all(e.outcome == "ok" for e in runs)
    assert (await verify(env.gw.runtime.database)).ok


async def test_protocol_error_session_is_recorded(env: Env) -> None:
    """A session ended by a protocol violation is still closed in the store, with why."""
    client = await RawClient.connect(env.port)
    await client.login(env.token)
    client.send_raw(b"Q\xff\xff\xff\xff")
    assert await client.closed()
    session = await _ended_session(env)
    assert session.stats["end"] == "protocol_error"
