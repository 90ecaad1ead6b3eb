"""Sessions while a PostgreSQL store refuses writes (it turned read-only: 25006, as a standby
does after a failover), through the real listener and asyncpg: a new session is refused with
FATAL 57P03, a statement needing review with ERROR 53000 and its session goes on, allowed
statements run; once the store takes writes again every one of them, both refusals and the
session's end are recorded and the chain verifies. (The full-disk case, 53100, runs as real
processes in tests/gateway/cli/test_store_outage.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from gateway.sessions import expand
from store import Database, verify
from tests.conftest import fresh_pg_database, read_only
from tests.gateway.postgres.support import reset_table
from tests.harness import pg_connection, running_gateway

pytestmark = pytest.mark.asyncio

ALLOWED = 20


async def _read_only(url: str, on: bool, database: Database) -> None:
    """Make the store's database refuse (or take again) writes, for every new connection; the
    gateway's pooled ones are closed so that its next transactions see it."""
    await read_only(url, on)
    await database.engine.dispose()


@pytest.fixture
async def store_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


async def _health(http: httpx.AsyncClient, status: str) -> dict[str, object]:
    async with asyncio.timeout(15):
        while True:
            body = (await http.get("/healthz")).json()
            if body["status"] == status:
                return dict(body)
            await asyncio.sleep(0.05)


async def test_a_read_only_store_refuses_in_words_and_loses_nothing(
    tmp_path: Path, store_url: str
) -> None:
    """57P03 for a new session, 53000 for a held statement (the session lives on), allowed
    statements run; after recovery all of it is in the trail, which verifies."""
    async with fresh_pg_database() as upstream_url:
        name = make_url(upstream_url).database
        assert name is not None
        dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
        await reset_table(dsn)
        async with (
            running_gateway(tmp_path, connections=[pg_connection(name)], store_url=store_url) as gw,
            httpx.AsyncClient(base_url=gw.api_url, timeout=10) as http,
        ):
            database = gw.runtime.database
            token = gw.token("alice@example.com", ["eng"])

            async def connect() -> asyncpg.Connection:
                return await asyncpg.connect(
                    host="127.0.0.1", port=gw.pg_port, user="alice", database="pg-test",
                    password=token, ssl=False,
                )  # fmt: skip

            conn = await connect()
            await _read_only(store_url, True, database)
            try:
                for k in range(ALLOWED):
                    await conn.execute(f"UPDATE t SET balance = {k} WHERE id = 1")
                with pytest.raises(asyncpg.InsufficientResourcesError) as held:
                    await conn.execute("DELETE FROM t")
                assert held.value.sqlstate == "53000"
                assert "the audit store is unavailable (read-only)" in str(held.value)
                assert await conn.fetchval("SELECT count(*) FROM t") == 3  # it lives on
                with pytest.raises(asyncpg.CannotConnectNowError, match=r"\(read-only\)"):
                    await connect()
                degraded = await _health(http, "degraded")
                assert "the store cannot write (read-only)" in str(degraded["problems"])
                assert (await http.get("/readyz")).status_code == 503
            finally:
                await _read_only(store_url, False, database)
            await _health(http, "ok")
            assert (await http.get("/readyz")).status_code == 200
            await conn.close()

            records = await gw.runtime.repository.list_audit(connection=None, limit=10_000)
            async with asyncio.timeout(10):
                while not any(r.action == "session.refused" for r in records):
                    await asyncio.sleep(0.05)
                    records = await gw.runtime.repository.list_audit(connection=None, limit=10_000)
            sessions = await gw.runtime.repository.list_sessions(limit=10)
            assert len(sessions) == 1
            session = sessions[0]
            async with asyncio.timeout(10):
                while session.ended_at is None:
                    await asyncio.sleep(0.05)
                    found = await gw.runtime.repository.get_session(session.id)
                    assert found is not None
                    session = found
            events = [
                item
                for r in records
                if r.action == "statements" and r.target == session.id
                for item in expand(r.details, r.at)
            ]
            texts = [e["statement"] for e in events]
            for k in range(ALLOWED):
                assert texts.count(f"UPDATE t SET balance = {k} WHERE id = 1") == 1
            (delete,) = [e for e in events if e["statement"] == "DELETE FROM t"]
            assert (delete["outcome"], delete["rule"], delete["sqlstate"]) == (
                "block",
                "audit/store",
                "53000",
            )
            (refused,) = [r for r in records if r.action == "session.refused"]
            assert refused.details["reason"] == "the audit store is unavailable (read-only)"
            assert (await verify(database)).ok
            assert database.health.outages == 1
