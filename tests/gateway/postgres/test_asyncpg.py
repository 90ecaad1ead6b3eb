"""asyncpg through the gateway: prepared statements, fetch, executemany, binary codecs,
transactions and cursors (asyncpg speaks only the extended protocol, binary by default)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.gateway.postgres.support import Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("asyncpg"), review_timeout="3s") as env:
        yield env


@pytest_asyncio.fixture(loop_scope="module")
async def conn(env: Env) -> AsyncIterator[Any]:
    await env.reset()
    conn = await env.asyncpg()
    try:
        yield conn
    finally:
        await conn.close()


async def test_fetch(conn: Any) -> None:
    """fetch returns the upstream's rows as records."""
    rows = await conn.fetch("SELECT id, name FROM t ORDER BY id")
    assert [(r["id"], r["name"]) for r in rows] == [(1, "alice"), (2, "bob"), (3, "carol")]


async def test_prepared_statement_reused(conn: Any) -> None:
    """A prepared statement is described once and executed many times with new arguments."""
    stmt = await conn.prepare("SELECT name FROM t WHERE id = $1")
    assert [await stmt.fetchval(i) for i in (1, 2, 3, 2)] == ["alice", "bob", "carol", "bob"]
    assert [a.name for a in stmt.get_attributes()] == ["name"]


async def test_executemany(conn: Any) -> None:
    """executemany pipelines Bind/Execute per row; every row lands upstream."""
    await conn.executemany(
        "INSERT INTO t (id, name) VALUES ($1, $2)", [(i, f"n{i}") for i in range(10, 60)]
    )
    assert await conn.fetchval("SELECT count(*) FROM t") == 53


async def test_binary_codecs(conn: Any) -> None:
    """Binary values of many types round-trip unchanged through the gateway."""
    when = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    ident = uuid.uuid4()
    values = (Decimal("12345.6789"), when, ident, '{"a": [1, 2]}', b"\x00\xff", 1.5, True, "ï ☃")
    row = await conn.fetchrow(
        "SELECT $1::numeric, $2::timestamptz, $3::uuid, $4::jsonb, $5::bytea, $6::float8, "
        "$7::bool, $8::text",
        *values,
    )
    assert tuple(row) == values


async def test_type_introspection(conn: Any) -> None:
    """Array and enum codecs: asyncpg's first use runs its type introspection (with
    set_config('jit', ...)) through the gateway without a review."""
    await conn.execute("CREATE TYPE mood AS ENUM ('ok', 'sad')")
    assert await conn.fetchval("SELECT $1::int[]", [1, 2, 3]) == [1, 2, 3]
    assert await conn.fetchval("SELECT 'sad'::mood") == "sad"


async def test_transaction(conn: Any, env: Env) -> None:
    """A transaction commits; a failing one rolls back and the connection goes on."""
    async with conn.transaction():
        await conn.execute("INSERT INTO t (id, name) VALUES (70, 'kept')")
    with pytest.raises(ZeroDivisionError):
        async with conn.transaction():
            await conn.execute("INSERT INTO t (id, name) VALUES (71, 'gone')")
            raise ZeroDivisionError
    ids = [r["id"] for r in await env.upstream("SELECT id FROM t WHERE id >= 70")]
    assert ids == [70]
    assert await conn.fetchval("SELECT 1") == 1


async def test_cursor_in_transaction(conn: Any) -> None:
    """A cursor fetches with Execute row limits (PortalSuspended) inside a transaction."""
    await conn.executemany(
        "INSERT INTO t (id, name) VALUES ($1, $2)", [(i, "c") for i in range(100, 130)]
    )
    async with conn.transaction():
        ids = [r["id"] async for r in conn.cursor("SELECT id FROM t ORDER BY id", prefetch=7)]
    assert len(ids) == 33 and ids == sorted(ids)


async def test_error_then_next_query(conn: Any) -> None:
    """A server error surfaces with its SQLSTATE; the connection stays usable."""
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO t (id) VALUES ($1)", 1)
    assert await conn.fetchval("SELECT 'still here'") == "still here"


async def test_pool_release(env: Env) -> None:
    """An asyncpg pool resets a released connection (pg_advisory_unlock_all, CLOSE ALL,
    UNLISTEN *, RESET ALL) without a review, so pooled connections are reused."""
    pool = await asyncpg.create_pool(
        host="127.0.0.1",
        port=env.port,
        user="alice",
        database="pg-test",
        password=env.token,
        ssl=False,
        min_size=1,
        max_size=1,
    )
    try:
        async with asyncio.timeout(2.5):
            for i in range(3):
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT $1::int", i) == i
    finally:
        pool.terminate()
    assert await env.gw.runtime.repository.list_reviews(connection="pg-test") == []
