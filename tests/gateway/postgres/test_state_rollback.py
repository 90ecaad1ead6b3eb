"""Session state the server rolls back is rolled back in the gateway too, or never relaxed there.

A connection whose rules allow configuration statements lets its users set ``search_path``. The
gateway holds unqualified function calls while the path does not put pg_catalog first (a schema
the user controls could shadow a built-in). If a change that relaxes the path were applied in
the gateway but undone by the server (ROLLBACK, a failed implicit transaction), the gateway
would think ``lower('x')`` is pg_catalog's while the server runs the user's ``evil.lower``: here
it writes to t. Every scenario first tightens the path (allowed), then relaxes it in a way the
server rolls back, then calls ``lower``: the call must be held, never run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio

from gateway.postgres import wire as pg
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

EVIL = """
CREATE SCHEMA IF NOT EXISTS evil;
CREATE OR REPLACE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql
    AS $$ INSERT INTO public.t (id, name) VALUES (99, 'pwned') RETURNING 'pwned' $$;
"""
STRICT = "SET search_path = evil, pg_catalog, public"


async def _create_evil(env: Env) -> None:
    conn = await asyncpg.connect(env.dsn)
    try:
        await conn.execute(EVIL)
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    rules = [{"name": "settings", "action": "allow", "kind": "config"}]
    async with gateway_env(tmp_path_factory.mktemp("rollback"), rules=rules) as env:
        yield env


async def _lower_is_held(env: Env, conn: asyncpg.Connection) -> None:
    """``SELECT lower('x')`` waits for a review (denied here) and nothing ran upstream."""
    call = asyncio.ensure_future(conn.fetchval("SELECT lower('x')"))
    pending = asyncio.ensure_future(env.pending_review())
    await asyncio.wait([call, pending], return_when=asyncio.FIRST_COMPLETED)
    if call.done():
        pending.cancel()
        ran = call.exception() or call.result()
        pytest.fail(f"ran without a review: {ran!r}; t has {await env.count()} rows")
    review = await pending
    assert review.statement == "SELECT lower('x')"
    await env.decide(review.id, "deny", "shadowed built-in")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await call
    assert await env.count() == 3


Relax = Callable[[asyncpg.Connection], Awaitable[None]]


async def _rolled_back(conn: asyncpg.Connection) -> None:
    await conn.execute("BEGIN")
    await conn.execute("SET search_path = public")
    await conn.execute("ROLLBACK")


async def _rolled_back_in_one_query(conn: asyncpg.Connection) -> None:
    await conn.execute("BEGIN; SET search_path = public; ROLLBACK")


async def _failed_implicit_transaction(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.DivisionByZeroError):
        await conn.execute("SET search_path = public; SELECT 1/0")


async def _rolled_back_to_savepoint(conn: asyncpg.Connection) -> None:
    await conn.execute("BEGIN")
    await conn.execute("SAVEPOINT s")
    await conn.execute("RESET search_path")
    await conn.execute("ROLLBACK TO SAVEPOINT s")
    await conn.execute("COMMIT")


async def _local_then_commit(conn: asyncpg.Connection) -> None:
    await conn.execute("BEGIN")
    await conn.execute("SET LOCAL search_path = public")
    await conn.execute("COMMIT")


@pytest.mark.parametrize(
    "relax",
    [
        _rolled_back,
        _rolled_back_in_one_query,
        _failed_implicit_transaction,
        _rolled_back_to_savepoint,
        _local_then_commit,
    ],
)
async def test_a_relaxed_search_path_the_server_undid_is_not_believed(
    env: Env, relax: Relax
) -> None:
    await env.reset()
    await _create_evil(env)
    conn = await env.asyncpg()
    try:
        await conn.execute(STRICT)
        await relax(conn)
        assert await conn.fetchval("SHOW search_path") == "evil, pg_catalog, public"
        await _lower_is_held(env, conn)
    finally:
        await conn.close()


async def test_a_relaxed_search_path_in_a_failed_extended_batch_is_not_believed(env: Env) -> None:
    """Execute(SET), then a statement that fails before Sync: the server rolls both back."""
    await env.reset()
    await _create_evil(env)
    client = await RawClient.connect(env.port)
    try:
        await client.login(env.token)
        client.send(pg.Query(STRICT))
        await client.until_ready()
        client.send(
            pg.Parse("", "SET search_path = public"),
            pg.Bind("", ""),
            pg.Execute(""),
            pg.Parse("", "SELECT * FROM missing"),
            pg.Bind("", ""),
            pg.Execute(""),
            pg.Sync(),
        )
        replies = await client.until_ready()
        assert any(isinstance(m, pg.ErrorResponse) and m.sqlstate == "42P01" for m in replies)
        client.send(pg.Query("SHOW search_path"))
        shown = await client.until_ready()
        assert any(isinstance(m, pg.DataRow) for m in shown)
        client.send(pg.Query("SELECT lower('x')"))
        review = await env.pending_review()
        assert review.statement == "SELECT lower('x')"
        await env.decide(review.id, "deny", "shadowed built-in")
        answer = await client.until_ready()
        assert any(isinstance(m, pg.ErrorResponse) and m.sqlstate == "42501" for m in answer)
        assert await env.count() == 3
    finally:
        client.close()


async def test_a_relaxation_that_surely_committed_is_believed(env: Env) -> None:
    """A SET that ran alone, outside a transaction, and succeeded relaxes the gateway too."""
    await env.reset()
    await _create_evil(env)
    conn = await env.asyncpg()
    try:
        await conn.execute(STRICT)
        await conn.execute("SET search_path = public")
        assert await conn.fetchval("SELECT lower('X')") == "x"  # pg_catalog's, not held
        assert await env.count() == 3
    finally:
        await conn.close()


SMUGGLE = "SELECT 'x\\' -- ' ; DELETE FROM t; --'"  # two statements to a server with scs off
SCS = "standard_conforming_strings"


async def test_standard_conforming_strings_turned_on_then_rolled_back_is_not_believed(
    env: Env,
) -> None:
    """The server reports standard_conforming_strings on inside the transaction and off again
    after ROLLBACK, but a statement pipelined behind the ROLLBACK is classified before that
    report arrives: the gateway must still read it as the server will, with backslashes as
    escapes (GATEWAY-FACTS: one statement to libpg_query, two to the server)."""
    await env.reset()
    client = await RawClient.connect(env.port)
    try:
        await client.login(env.token)
        client.send(pg.Query("SET standard_conforming_strings = off"))
        await client.until_ready()
        client.send(pg.Query("BEGIN; SET standard_conforming_strings = on"))
        began = await client.until_ready()
        assert any(
            isinstance(m, pg.ParameterStatus) and (m.name, m.value) == (SCS, "on") for m in began
        )
        client.send(pg.Query("ROLLBACK"), pg.Query(SMUGGLE))
        await client.until_ready()
        answer = await client.until_ready()
        assert any(isinstance(m, pg.ErrorResponse) for m in answer), answer
        assert await env.count() == 3
    finally:
        client.close()
