"""A read-only lane through the real gateway (issue #17, class 5): the upstream database defaults
to read-only transactions, and every statement that would undo that default is held like the
SET of the default itself; denied, the lane still refuses writes and the rows are all there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import psycopg
import pytest
import pytest_asyncio

from approvals import ReviewState
from tests.gateway.postgres.support import ROWS, SCHEMA, Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

WRITABLE = {"default_transaction_read_only": "off"}
DELETE_ONE = "DELETE FROM t WHERE id = 1"

# (statements run first, the statement that would undo the lane)
UNDO: list[tuple[tuple[str, ...], str]] = [
    ((), "BEGIN READ WRITE"),
    ((), "begin transaction isolation level serializable, read write"),
    ((), "START TRANSACTION READ WRITE"),
    ((), "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"),
    ((), "SET default_transaction_read_only = off"),
    ((), "SELECT set_config('default_transaction_read_only', 'off', false)"),
    (("BEGIN",), "SET TRANSACTION READ WRITE"),
    (("BEGIN",), "SET transaction_read_only = off"),
    (("BEGIN",), "SET LOCAL transaction_read_only TO 0"),
    (("BEGIN",), "RESET transaction_read_only"),
]
# Held as the configuration changes they are, though on this server they do not undo a lane
# set for the database (RESET goes back to it; set_config comes after the transaction's first
# query).
ALSO_HELD: list[tuple[tuple[str, ...], str]] = [
    ((), "SET default_transaction_read_only TO DEFAULT"),
    ((), "RESET default_transaction_read_only"),
    (("BEGIN",), "SELECT set_config('transaction_read_only', 'off', true)"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("lane"), review_timeout="5s") as env:
        await _direct(
            env, f'ALTER DATABASE "{env.database}" SET default_transaction_read_only = on'
        )
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await _direct(env, "DROP TABLE IF EXISTS t")
    await _direct(env, SCHEMA)
    conn = await asyncpg.connect(env.dsn, server_settings=WRITABLE)
    try:
        await conn.executemany("INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6)", ROWS)
    finally:
        await conn.close()


async def _direct(env: Env, sql: str) -> None:
    """Run directly upstream on a writable session (the fixtures' own set-up)."""
    conn = await asyncpg.connect(env.dsn, server_settings=WRITABLE)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _deny_until_done(env: Env, run: asyncio.Future[Any]) -> None:
    repository = env.gw.runtime.repository
    async with asyncio.timeout(15):
        while not run.done():
            for review in await repository.list_reviews(state=ReviewState.PENDING, limit=5):
                await env.decide(review.id, "deny", "lane test")
            await asyncio.sleep(0.02)


async def test_the_lane_refuses_writes(env: Env) -> None:
    """Through the gateway a bounded DELETE (allowed by the rules) fails with 25006."""
    conn = await env.asyncpg()
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute(DELETE_ONE)
    finally:
        await conn.close()
    assert await env.count() == 3


@pytest.mark.parametrize(("before", "undo"), UNDO, ids=[u[1] for u in UNDO])
async def test_undo_is_real_when_direct(env: Env, before: tuple[str, ...], undo: str) -> None:
    """The vector is real: directly upstream, on a session that defaults to read-only, each
    statement makes the DELETE possible (rolled back here)."""
    conn = await asyncpg.connect(env.dsn)
    try:
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        for sql in before:
            await conn.execute(sql)
        await conn.execute(undo)
        if not before and not undo.lower().startswith(("begin", "start")):
            await conn.execute("BEGIN")
        assert await conn.execute(DELETE_ONE) == "DELETE 1"
        await conn.execute("ROLLBACK")
    finally:
        await conn.close()
    assert await env.count() == 3


@pytest.mark.parametrize(("before", "undo"), UNDO + ALSO_HELD, ids=[u[1] for u in UNDO + ALSO_HELD])
async def test_undo_is_held(env: Env, before: tuple[str, ...], undo: str) -> None:
    """Through the gateway each is held; denied (42501), the session is still read-only: the
    DELETE that follows fails (25P02 in the failed transaction, then 25006) and every row is
    still there upstream."""
    conn = await env.asyncpg()
    try:
        for sql in before:
            await conn.execute(sql)
        run = asyncio.ensure_future(conn.execute(undo))
        await _deny_until_done(env, run)
        error = run.exception()
        assert isinstance(error, asyncpg.InsufficientPrivilegeError), error
        assert "denied by bob@example.com: lane test" in str(error)
        if before:  # the denial failed the transaction it came in, as an error would
            with pytest.raises(asyncpg.InFailedSQLTransactionError):
                await conn.execute(DELETE_ONE)
            await conn.execute("ROLLBACK")
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute(DELETE_ONE)
    finally:
        await conn.close()
    assert await env.count() == 3


async def test_tightening_runs_and_approval_opens(env: Env) -> None:
    """BEGIN READ ONLY and SET TRANSACTION READ ONLY run at once; an approved BEGIN READ WRITE
    opens the lane for its transaction only (a hold, not a block)."""
    conn = await env.asyncpg()
    try:
        async with asyncio.timeout(4):  # a hold would wait for its 5s review timeout
            await conn.execute("BEGIN READ ONLY")
            await conn.execute("SET TRANSACTION READ ONLY")
            await conn.execute("ROLLBACK")
        run = asyncio.ensure_future(conn.execute("BEGIN READ WRITE"))
        review = await env.pending_review()
        await env.decide(review.id, "approve", "maintenance window")
        assert await run == "BEGIN"
        assert await conn.execute(DELETE_ONE) == "DELETE 1"
        await conn.execute("COMMIT")
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("DELETE FROM t WHERE id = 2")
    finally:
        await conn.close()
    assert await env.count() == 2


async def test_startup_parameters_cannot_undo_the_lane(env: Env) -> None:
    """A read-write default asked for at start-up is not passed on: asyncpg's server_settings
    are dropped (the DELETE still fails with 25006) and libpq's options are refused."""
    conn = await env.asyncpg(server_settings={"default_transaction_read_only": "off"})
    try:
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute(DELETE_ONE)
    finally:
        await conn.close()
    options = "-c default_transaction_read_only=off"
    with pytest.raises(psycopg.OperationalError, match="startup options are not allowed"):
        await psycopg.AsyncConnection.connect(env.dsn_via(options=options))
    assert await env.count() == 3
