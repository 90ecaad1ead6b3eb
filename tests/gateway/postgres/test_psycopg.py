"""psycopg 3 through the gateway: simple and extended protocol, binary, pipeline, COPY, cursors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import psycopg
import pytest
import pytest_asyncio

from tests.gateway.postgres.support import Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("psycopg"), review_timeout="3s") as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()


@pytest_asyncio.fixture(loop_scope="module")
async def conn(env: Env) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        yield conn


Conn = psycopg.AsyncConnection[tuple[object, ...]]


async def test_simple_protocol(conn: Conn) -> None:
    """A client-side-bound cursor sends simple Query messages, several statements in one."""
    cur = psycopg.AsyncClientCursor(conn)
    await cur.execute("SELECT name FROM t WHERE id = %s; SELECT 2", (2,))
    assert await cur.fetchall() == [("bob",)]
    assert cur.nextset() and await cur.fetchall() == [(2,)]


async def test_extended_protocol_with_params(conn: Conn) -> None:
    """Parameters go through Parse/Bind/Execute; the result matches the upstream's."""
    cur = await conn.execute("SELECT id, name, balance FROM t WHERE id >= %s ORDER BY id", (2,))
    assert await cur.fetchall() == [(2, "bob", Decimal(20)), (3, "carol", Decimal(30))]


async def test_binary_results(conn: Conn) -> None:
    """Binary-format results decode to the right Python values."""
    cur = conn.cursor(binary=True)
    await cur.execute("SELECT id, name, balance, now() > '2000-01-01' FROM t WHERE id = %s", (1,))
    assert await cur.fetchone() == (1, "alice", Decimal(10), True)


async def test_prepared_statement(conn: Conn) -> None:
    """prepare=True makes a named server-side statement, executed again and again."""
    for i in (1, 2, 3, 1):
        cur = await conn.execute("SELECT name FROM t WHERE id = %s", (i,), prepare=True)
        assert await cur.fetchone() == ({1: "alice", 2: "bob", 3: "carol"}[i],)


async def test_pipeline_mode(conn: Conn) -> None:
    """Several statements in pipeline mode each get their own results, in order."""
    async with conn.pipeline():
        c1 = await conn.execute("INSERT INTO t (id, name) VALUES (%s, %s)", (4, "dave"))
        c2 = await conn.execute("SELECT count(*) FROM t")
        c3 = await conn.execute("UPDATE t SET name = 'x' WHERE id = %s", (4,))
        c4 = await conn.execute("SELECT name FROM t WHERE id = %s", (4,))
    assert c1.rowcount == 1 and c3.rowcount == 1
    assert await c2.fetchone() == (4,)
    assert await c4.fetchone() == ("x",)


async def test_copy_in_and_out(conn: Conn) -> None:
    """cursor.copy loads rows with COPY FROM STDIN and reads them back with COPY TO STDOUT."""
    cur = conn.cursor()
    async with cur.copy("COPY t (id, name) FROM STDIN") as copy:
        for i in range(10, 20):
            await copy.write_row((i, f"n{i}"))
    rows = []
    async with cur.copy("COPY (SELECT id FROM t WHERE id >= 10 ORDER BY id) TO STDOUT") as copy:
        async for row in copy.rows():
            rows.append(int(row[0]))
    assert rows == list(range(10, 20))


async def test_server_side_cursor(env: Env) -> None:
    """A named cursor (DECLARE / FETCH in a transaction) fetches in batches."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via()) as conn:
        cur = conn.cursor(name="walk")
        cur.itersize = 2
        await cur.execute("SELECT id FROM t ORDER BY id")
        assert [row[0] async for row in cur] == [1, 2, 3]
        await cur.close()
        await conn.commit()


async def test_transaction_commit_and_rollback(env: Env) -> None:
    """conn.transaction() commits; an exception inside rolls back."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via()) as conn:
        async with conn.transaction():
            await conn.execute("INSERT INTO t (id, name) VALUES (50, 'kept')")
        with pytest.raises(ZeroDivisionError):
            async with conn.transaction():
                await conn.execute("INSERT INTO t (id, name) VALUES (51, 'gone')")
                raise ZeroDivisionError
    ids = [r["id"] for r in await env.upstream("SELECT id FROM t WHERE id >= 50")]
    assert ids == [50]


async def test_error_then_next_query(conn: Conn) -> None:
    """A server error surfaces as the right exception; the connection stays usable."""
    with pytest.raises(psycopg.errors.UniqueViolation):
        await conn.execute("INSERT INTO t (id) VALUES (%s)", (1,))
    cur = await conn.execute("SELECT 1")
    assert await cur.fetchone() == (1,)


async def test_cancel_running_query(conn: Conn) -> None:
    """conn.cancel() reaches the upstream through the gateway's own key: 57014."""

    async def cancel_soon() -> None:
        await asyncio.sleep(0.3)
        await conn.cancel_safe()

    task = asyncio.create_task(cancel_soon())
    with pytest.raises(psycopg.errors.QueryCanceled):
        await conn.execute("SELECT count(*) FROM generate_series(1, 10000000000)")
    await task
    cur = await conn.execute("SELECT 'alive'")
    assert await cur.fetchone() == ("alive",)


async def test_sql_prepare_through_extended_protocol(conn: Conn) -> None:
    """SQL PREPARE sent with the extended protocol takes effect before what follows (the
    gateway waits for it): EXECUTE then runs without a review, in and out of a pipeline."""
    await conn.execute("PREPARE five AS SELECT 5")
    cur = await conn.execute("EXECUTE five")
    assert await cur.fetchone() == (5,)
    async with conn.pipeline():
        await conn.execute("PREPARE six AS SELECT 6")
        cur = await conn.execute("EXECUTE six")
    assert await cur.fetchone() == (6,)
