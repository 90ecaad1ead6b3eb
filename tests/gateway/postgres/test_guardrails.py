"""Guardrails through the wire, simple and extended protocol: risky statements never run
without a review (held, then denied here, or blocked), and harmless look-alikes run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import psycopg
import pytest
import pytest_asyncio

from approvals import ReviewState
from gateway.postgres import wire as pg
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

HELD = [
    "DROP/**/TABLE t",
    "SELECT 1; DROP TABLE t",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT 1",
    "DELETE FROM t WHERE 1=1",
    "EXPLAIN ANALYZE DELETE FROM t",
    'drop table if exists "t"',
    "/* hello */ TRUNCATE ONLY t",
    "DELETE FROM t WHERE true",
    "DELETE FROM t WHERE id = id",
    "UPDATE t SET name = 'x'",
    "UPDATE t SET name = 'x' WHERE 1 = 1 OR id = 1",
    "WITH x AS (UPDATE t SET name = 'x' RETURNING 1) SELECT * FROM x",
    "EXPLAIN (ANALYZE true, FORMAT JSON) DELETE FROM t",
    "SELECT 1;;DELETE FROM t",
    "SELECT $$;$$; DROP TABLE t",
    "SELECT 'a'';'; TRUNCATE t",
    "DO $$ BEGIN DELETE FROM t; END $$",
    "MERGE INTO t USING (SELECT 1 AS id) s ON true WHEN MATCHED THEN DELETE",
    "ALTER TABLE t DROP COLUMN name",
    "GRANT ALL ON t TO PUBLIC",
]
BLOCKED = [
    "COPY t TO PROGRAM 'x'",
    "COPY (SELECT 1) TO PROGRAM 'id'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT 1; COPY t TO PROGRAM 'x'",
]
ALLOWED = [
    ("SELECT 'DROP TABLE t'", "DROP TABLE t"),
    ("SELECT 1 /* ; DROP TABLE t */", 1),
    ("SELECT 1 -- ; DROP TABLE t", 1),
    ("SELECT $$DELETE FROM t$$", "DELETE FROM t"),
    ("SELECT count(*) FROM t WHERE name <> 'TRUNCATE t'", 3),
]
# Run through the extended protocol too (one statement each: Parse takes only one).
EXTENDED_HELD = [s for s in HELD if ";" not in s.replace("$$;$$", "")]
EXTENDED_BLOCKED = [s for s in BLOCKED if ";" not in s]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("guardrails"), review_timeout="5s") as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()


async def _refused(env: Env, run: Awaitable[Any]) -> BaseException:
    """Run a statement that must not run: deny any review it opens; return its error."""
    task = asyncio.ensure_future(run)
    repository = env.gw.runtime.repository
    async with asyncio.timeout(10):
        while not task.done():
            pending = await repository.list_reviews(state=ReviewState.PENDING, limit=5)
            for review in pending:
                await env.decide(review.id, "deny", "guardrail test")
            await asyncio.sleep(0.02)
    error = task.exception()
    assert error is not None, f"ran without a review: {task.result()!r}"
    assert await env.count() == 3, "the statement changed the table"
    return error


async def _simple(env: Env, sql: str) -> Any:
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        cur = psycopg.AsyncClientCursor(conn)
        await cur.execute(sql)
        return await cur.fetchone() if cur.description else cur.statusmessage


async def _extended(env: Env, sql: str) -> Any:
    conn = await env.asyncpg()
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@pytest.mark.parametrize("sql", HELD)
async def test_held_simple(env: Env, sql: str) -> None:
    """Simple protocol: held, denied, 42501; nothing ran."""
    error = await _refused(env, _simple(env, sql))
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), error
    assert "denied by bob@example.com: guardrail test" in str(error)


@pytest.mark.parametrize("sql", EXTENDED_HELD)
async def test_held_extended(env: Env, sql: str) -> None:
    """Extended protocol (asyncpg): held at Execute, denied, 42501; nothing ran."""
    error = await _refused(env, _extended(env, sql))
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error


@pytest.mark.parametrize("sql", BLOCKED)
async def test_blocked_simple(env: Env, sql: str) -> None:
    """Simple protocol: blocked at once with 42501 naming the rule; no review."""
    error = await _refused(env, _simple(env, sql))
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), error
    assert "blocked by rule default/server_escape" in str(error)


@pytest.mark.parametrize("sql", EXTENDED_BLOCKED)
async def test_blocked_extended(env: Env, sql: str) -> None:
    """Extended protocol: blocked at Parse with 42501 naming the rule."""
    error = await _refused(env, _extended(env, sql))
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
    assert "blocked by rule default/server_escape" in str(error)


async def test_blocked_through_psql(env: Env) -> None:
    """psql shows the rule's name and SQLSTATE 42501 for a blocked statement."""
    code, _, err = await env.psql("COPY t TO PROGRAM 'x'", args=("-v", "VERBOSITY=verbose"))
    assert code == 1
    assert "ERROR:  42501: blocked by rule default/server_escape" in err


@pytest.mark.parametrize(("sql", "expected"), ALLOWED)
async def test_allowed_simple(env: Env, sql: str, expected: object) -> None:
    """Simple protocol: harmless look-alikes run without a review."""
    assert await _simple(env, sql) == (expected,)


@pytest.mark.parametrize(("sql", "expected"), ALLOWED)
async def test_allowed_extended(env: Env, sql: str, expected: object) -> None:
    """Extended protocol: harmless look-alikes run without a review."""
    assert await _extended(env, sql) == expected


async def test_delete_with_where_runs(env: Env) -> None:
    """DELETE ... WHERE id = 1 runs at once, in both protocols."""
    assert await _simple(env, "DELETE FROM t WHERE id = 1") == "DELETE 1"
    conn = await env.asyncpg()
    try:
        assert await conn.execute("DELETE FROM t WHERE id = $1", 2) == "DELETE 1"
    finally:
        await conn.close()
    assert await env.count() == 1


async def test_psycopg_prepared_held(env: Env) -> None:
    """psycopg prepare=True (a named statement): held at Execute, denied, nothing ran."""

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as c:
            await c.execute("DELETE FROM t WHERE %s", (True,), prepare=True)

    error = await _refused(env, run())
    assert isinstance(error, psycopg.errors.InsufficientPrivilege)


Sender = Callable[[RawClient], None]


def _rebind_unnamed(client: RawClient) -> None:
    client.send(
        pg.Parse("", "DELETE FROM t"),
        pg.Bind("", ""),
        pg.Parse("", "SELECT 1"),
        pg.Execute(""),
        pg.Sync(),
    )


def _rebind_named(client: RawClient) -> None:
    client.send(
        pg.Parse("s", "DELETE FROM t"),
        pg.Bind("p", "s"),
        pg.Close("S", "s"),
        pg.Parse("s", "SELECT 1"),
        pg.Execute("p"),
        pg.Sync(),
    )


# Each is a list of batches (each ends with Sync); the gateway's answers to each are read
# before the next is sent, except where a batch is None: then the next ones go at once.
Batches = list[list[pg.FrontendMessage] | None]
DELETE_ALL: Batches = [[pg.Parse("s", "DELETE FROM t"), pg.Sync()]]
EXECUTE_S: list[pg.FrontendMessage] = [pg.Bind("", "s"), pg.Execute(""), pg.Sync()]
REDEFINE: dict[str, Batches] = {
    "named Parse over an existing name fails": [
        *DELETE_ALL,
        [pg.Parse("s", "SELECT 1"), pg.Sync()],
        EXECUTE_S,
    ],
    "SQL PREPARE over a protocol statement fails": [
        *DELETE_ALL,
        [pg.Query("PREPARE s AS SELECT 1")],
        [pg.Query("EXECUTE s")],
    ],
    "a skipped unnamed Parse keeps the old one": [
        [pg.Parse("", "DELETE FROM t"), pg.Sync()],
        [pg.Parse("x", "SELEC nonsense"), pg.Parse("", "SELECT 1"), pg.Sync()],
        [pg.Bind("", ""), pg.Execute(""), pg.Sync()],
    ],
    "a skipped Close, then a failing Parse, pipelined": [
        *DELETE_ALL,
        None,
        [pg.Parse("x", "SELEC nonsense"), pg.Close("S", "s"), pg.Sync()],
        [pg.Parse("s", "SELECT 1"), pg.Sync()],
        EXECUTE_S,
    ],
}


async def _batches(env: Env, batches: Batches) -> None:
    """Send the batches; raise the last answer's error as (sqlstate, message)."""
    client = await RawClient.connect(env.port)
    await client.login(env.token)
    waiting = 0
    errors: list[pg.ErrorResponse] = []
    for batch in batches:
        if batch is None:
            continue
        client.send(*batch)
        waiting += 1
        if batches[-1] is batch or None not in batches:
            for _ in range(waiting):
                errors = [m for m in await client.until_ready() if isinstance(m, pg.ErrorResponse)]
            waiting = 0
    client.close()
    if errors:
        raise RuntimeError(errors[0].sqlstate, errors[0].message)


@pytest.mark.parametrize("send", [_rebind_unnamed, _rebind_named])
async def test_portal_keeps_its_statement(env: Env, send: Sender) -> None:
    """A portal runs what was bound: re-Parsing its statement's name before Execute cannot
    turn a held DELETE into an allowed SELECT."""

    async def run() -> list[pg.BackendMessage]:
        client = await RawClient.connect(env.port)
        await client.login(env.token)
        send(client)
        messages = await client.until_ready()
        client.close()
        errors = [m for m in messages if isinstance(m, pg.ErrorResponse)]
        if errors:
            raise RuntimeError(errors[0].sqlstate, errors[0].message)
        return messages

    error = await _refused(env, run())
    assert error.args[0] == "42501", error


@pytest.mark.parametrize("case", list(REDEFINE))
async def test_statement_redefinition(env: Env, case: str) -> None:
    """What a statement name means is what the server holds: a redefinition the server
    refused or skipped cannot turn a held DELETE into an allowed SELECT."""
    error = await _refused(env, _batches(env, REDEFINE[case]))
    assert error.args[0] in ("42501", "26000", "42P05"), error


async def test_prepared_namespace_is_shared(env: Env) -> None:
    """Protocol and SQL prepared statements share one namespace, judged by their text: SQL
    EXECUTE of a protocol statement and protocol Bind of a SQL PREPARE run when harmless."""
    client = await RawClient.connect(env.port)
    await client.login(env.token)
    client.send(pg.Parse("s", "SELECT 42"), pg.Sync())
    await client.until_ready()
    client.send(pg.Query("EXECUTE s"))
    rows = [m.values for m in await client.until_ready() if isinstance(m, pg.DataRow)]
    assert rows == [(b"42",)]
    client.send(pg.Query("PREPARE p AS SELECT 7"))
    await client.until_ready()
    client.send(pg.Bind("", "p"), pg.Execute(""), pg.Sync())
    rows = [m.values for m in await client.until_ready() if isinstance(m, pg.DataRow)]
    assert rows == [(b"7",)]
    client.close()


async def test_sql_execute_of_held_protocol_statement(env: Env) -> None:
    """SQL EXECUTE of a protocol-prepared DELETE is judged as the DELETE: held, denied."""

    async def run() -> None:
        client = await RawClient.connect(env.port)
        await client.login(env.token)
        client.send(pg.Parse("s", "DELETE FROM t"), pg.Sync())
        await client.until_ready()
        client.send(pg.Query("EXECUTE s"))
        errors = [m for m in await client.until_ready() if isinstance(m, pg.ErrorResponse)]
        client.close()
        if errors:
            raise RuntimeError(errors[0].sqlstate, errors[0].message)

    error = await _refused(env, run())
    assert error.args[0] == "42501", error
