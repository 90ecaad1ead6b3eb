"""The airlock through the wire: held statements run after approval, fail after a denial, a
timeout, a cancel or a disconnect, and nothing runs upstream before the decision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio

from approvals import ReviewState
from tests.gateway.postgres.support import Env, gateway_env, psql

pytestmark = pytest.mark.asyncio(loop_scope="module")
VERBOSE = ("-v", "VERBOSITY=verbose")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    fast = {"name": "pg-fast", "review_timeout": "2s"}
    async with gateway_env(tmp_path_factory.mktemp("airlock"), connections=[fast]) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()


async def test_approved_statement_runs(env: Env) -> None:
    """psql's TRUNCATE waits (nothing upstream), then runs once approved through the API."""
    running = asyncio.create_task(env.psql("TRUNCATE t"))
    review = await env.pending_review()
    assert review.statement == "TRUNCATE t" and review.rule == "default/destroy"
    await asyncio.sleep(0.2)
    assert await env.count() == 3  # held: nothing ran upstream
    await env.decide(review.id, "approve", "ok")
    code, _, err = await running
    assert code == 0, err
    assert f"held for approval: review {review.id}" in err
    assert await env.count() == 0


async def test_denied_statement_fails_with_reason(env: Env) -> None:
    """A denial ends the statement with 42501 and the approver's name and reason."""
    running = asyncio.create_task(env.psql("DELETE FROM t", args=VERBOSE))
    review = await env.pending_review()
    await env.decide(review.id, "deny", "not during business hours")
    code, _, err = await running
    assert code == 1
    assert "ERROR:  42501: denied by bob@example.com: not during business hours" in err
    assert await env.count() == 3


async def test_timeout_fails_with_57014(env: Env) -> None:
    """Nobody decides within review_timeout (2s): 57014, the review expired, nothing ran."""
    code, _, err = await psql(
        env.port, env.token, "DELETE FROM t", database="pg-fast", args=VERBOSE
    )
    assert code == 1
    assert "ERROR:  57014: review" in err and "nobody decided within 2s" in err
    [review] = await env.gw.runtime.repository.list_reviews(connection="pg-fast", limit=1)
    assert review.state is ReviewState.EXPIRED
    assert await env.count() == 3


async def test_hold_in_transaction_then_commit(env: Env) -> None:
    """Inside BEGIN the hold happens in place; after approval the rest and COMMIT run."""
    script = "BEGIN;\nDELETE FROM t;\nINSERT INTO t (id, name) VALUES (9, 'new');\nCOMMIT;\n"
    running = asyncio.create_task(env.psql(script=script))
    review = await env.pending_review()
    assert await env.count() == 3
    await env.decide(review.id, "approve", None)
    code, _, err = await running
    assert code == 0, err
    assert [r["id"] for r in await env.upstream("SELECT id FROM t")] == [9]


async def test_denial_in_transaction_aborts_it(env: Env) -> None:
    """After a denial inside a transaction it is aborted like after a real error."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via()) as conn:
        await conn.execute("INSERT INTO t (id, name) VALUES (9, 'new')")
        running = asyncio.create_task(conn.execute("DELETE FROM t"))
        review = await env.pending_review()
        await env.decide(review.id, "deny", "no")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="denied by"):
            await running
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            await conn.execute("SELECT 1")
        await conn.rollback()
        cur = await conn.execute("SELECT count(*) FROM t")
        assert await cur.fetchone() == (3,)


async def test_cancel_during_hold_cancels_review(env: Env) -> None:
    """A CancelRequest (psycopg conn.cancel) while held cancels the review: 57014."""
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        running = asyncio.create_task(conn.execute("DELETE FROM t"))
        review = await env.pending_review()
        await conn.cancel_safe()
        with pytest.raises(psycopg.errors.QueryCanceled):
            await running
        assert (await env.final_review(review.id)).state is ReviewState.CANCELLED
        cur = await conn.execute("SELECT count(*) FROM t")
        assert await cur.fetchone() == (3,)


async def test_asyncpg_timeout_cancels_review(env: Env) -> None:
    """asyncpg's own timeout sends a CancelRequest: the review is cancelled, nothing ran."""
    conn = await env.asyncpg()
    try:
        with pytest.raises(TimeoutError):
            await conn.execute("DELETE FROM t", timeout=1)
        [review] = await env.gw.runtime.repository.list_reviews(connection="pg-test", limit=1)
        assert (await env.final_review(review.id)).state is ReviewState.CANCELLED
        assert await conn.fetchval("SELECT count(*) FROM t") == 3
    finally:
        await conn.close()


async def test_disconnect_during_hold_cancels_review(env: Env) -> None:
    """A client that goes away while held cancels its review; nothing runs afterwards."""
    conn = await env.asyncpg()
    running = asyncio.create_task(conn.execute("DELETE FROM t"))
    review = await env.pending_review()
    conn.terminate()
    with pytest.raises(Exception):  # noqa: B017  (asyncpg reports the lost connection its way)
        await running
    assert (await env.final_review(review.id)).state is ReviewState.CANCELLED
    assert await env.count() == 3


async def test_extended_hold_shows_parameters(env: Env) -> None:
    """An extended-protocol hold puts the Bind values in the review; approved, it runs."""
    conn: Any = await env.asyncpg()
    try:
        running = asyncio.create_task(conn.execute("UPDATE t SET name = $1", "zed"))
        review = await env.pending_review()
        assert review.statement == "UPDATE t SET name = $1\n-- parameters: 'zed'"
        await env.decide(review.id, "approve", None)
        assert await running == "UPDATE 3"
    finally:
        await conn.close()
    assert {r["name"] for r in await env.upstream("SELECT name FROM t")} == {"zed"}


async def test_other_sessions_carry_on(env: Env) -> None:
    """While one session waits for a review, others run their statements."""
    running = asyncio.create_task(env.psql("TRUNCATE t"))
    review = await env.pending_review()
    code, out, err = await env.psql("SELECT count(*) FROM t")
    assert (code, out.strip()) == (0, "3"), err
    await env.decide(review.id, "deny", "later")
    assert (await running)[0] == 1
