"""Nothing runs unrecorded: while the audit trail cannot be written (its store unreachable) the
gateway refuses new statements once the writer is behind, keeps the records it could not hand
over, and carries on when the store is back, with every statement in the trail."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import asyncpg
import pytest

from gateway.cli import session_parts
from store import AuditWriter, SessionRecord, SqlRepository, Unavailable, verify
from tests.gateway.postgres.support import Env, StatementEvent, gateway_env
from tests.store.helpers import AuditOutage

pytestmark = pytest.mark.asyncio

BEHIND = asyncpg.exceptions.InsufficientResourcesError  # 53000


async def _trail(env: Env, statements: int) -> list[StatementEvent]:
    async with asyncio.timeout(15):
        while True:
            events = await env.audit()
            if len(events) >= statements:
                return events
            await asyncio.sleep(0.1)


async def test_statements_are_refused_while_the_audit_is_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage = AuditOutage(monkeypatch)
    small = functools.partial(AuditWriter, max_pending=6, refuse_at=3)
    monkeypatch.setattr(session_parts, "AuditWriter", small)
    async with gateway_env(tmp_path) as env:
        conn = await env.asyncpg()
        refused = 0
        try:
            assert await conn.fetchval("SELECT count(*) FROM t") == 3  # prepared: the lane's
            await conn.execute("SELECT 1")
            await conn.execute("SELECT 1")  # the lane knows it now
            outage.down = True
            for _ in range(3):  # each refusal is written at once: three entries wait
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute("COPY t TO PROGRAM 'x'")
            with pytest.raises(BEHIND, match="the audit trail is behind"):
                await conn.execute("SELECT 1")  # the lane knows it, and leaves it alone
            with pytest.raises(BEHIND):
                await conn.fetchval("SELECT count(*) FROM t")  # refused at Execute
            with pytest.raises(BEHIND):
                await conn.execute("DELETE FROM t")  # would be held: no review either
            refused = 3
            for _ in range(5):  # more than the writer still takes: the session's log keeps them
                with pytest.raises(BEHIND):
                    await conn.execute("SELECT 1")
                refused += 1
            assert await env.count() == 3
            assert await env.gw.runtime.repository.list_reviews() == []
            outage.down = False
            async with asyncio.timeout(15):  # the writer retries with a backoff of up to 2 s
                while True:
                    try:
                        await conn.execute("SELECT 1")
                        break
                    except BEHIND:
                        refused += 1
                        await asyncio.sleep(0.05)
            assert await conn.fetchval("SELECT count(*) FROM t") == 3
        finally:
            await conn.close()
        events = await _trail(env, 3 + 3 + refused + 2)
        shown = [(e.details["statement"], e.outcome, e.details["rule"]) for e in events]
        assert [(o, r) for _, o, r in shown[:6]] == [("ok", "default")] * 3 + [
            ("block", "default/server_escape")
        ] * 3
        assert [(o, r) for _, o, r in shown[6:-2]] == [("block", "audit/backlog")] * refused
        assert [s for s, _, _ in shown[6:9]] == [
            "SELECT 1",
            "SELECT count(*) FROM t",
            "DELETE FROM t",
        ]
        assert [o for _, o, _ in shown[-2:]] == ["ok", "ok"]
        assert all(e.details["sqlstate"] == "53000" for e in events[6:-2])
        assert len(events) == 3 + 3 + refused + 2  # each statement once
        assert (await verify(env.gw.runtime.database)).ok


async def test_a_session_the_store_cannot_record_is_refused_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No session without its row: when the store cannot take it the client gets FATAL 57P03
    saying so (it used to see the connection close without a word), and nothing is reached."""

    async def unreachable(self: SqlRepository, record: SessionRecord) -> None:
        raise Unavailable("the store cannot be reached")

    async with gateway_env(tmp_path) as env:
        monkeypatch.setattr(SqlRepository, "start_session", unreachable)
        with pytest.raises(asyncpg.CannotConnectNowError, match="cannot record this session"):
            await env.asyncpg()
        monkeypatch.undo()
        conn = await env.asyncpg()  # the gateway carries on
        try:
            assert await conn.fetchval("SELECT count(*) FROM t") == 3
        finally:
            await conn.close()
