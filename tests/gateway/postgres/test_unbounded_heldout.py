"""A held-out check of the positive-evidence rule (issue #17, written apart from the rule's own
corpus): 30 unbounded writes of shapes the rule was not tuned on never run unreviewed, through
the simple and the extended protocol, while ordinary bounded writes still run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import asyncpg
import psycopg
import pytest
import pytest_asyncio

from approvals import ReviewState
from tests.gateway.postgres.support import ROWS, Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

UNBOUNDED = [
    "DELETE FROM t WHERE id = id + 0",
    "DELETE FROM t WHERE id >= 0",
    "DELETE FROM t WHERE id <> 999",
    "DELETE FROM t WHERE name IS NOT NULL OR name IS NULL",
    "DELETE FROM t WHERE id = ANY (SELECT id FROM t)",
    "DELETE FROM t WHERE id IN (SELECT id FROM t)",
    "DELETE FROM t x WHERE x.id = (SELECT max(id) FROM t) OR true",
    "DELETE FROM t WHERE NOT (id = 999)",
    "DELETE FROM t WHERE coalesce(name, 'x') = coalesce(name, 'x')",
    "DELETE FROM t WHERE (id, name) = (id, name)",
    "DELETE FROM t WHERE id::text = id::text",
    "DELETE FROM t WHERE lower(name) = lower(name)",
    "DELETE FROM t WHERE id = 1 OR id <> 1",
    "UPDATE t SET name = 'x' FROM (SELECT 1 AS one) s WHERE s.one = 1",
    "UPDATE t SET name = 'x' WHERE EXISTS (SELECT 1)",
    "UPDATE t SET name = name || '!' WHERE id IS NOT NULL",
    "UPDATE t SET balance = 0 WHERE balance = balance",
    "UPDATE t AS u SET name = 'x' WHERE u.id = u.id",
    "WITH ids AS (SELECT id FROM t) DELETE FROM t WHERE id IN (SELECT id FROM ids)",
    "DELETE FROM t WHERE id = (SELECT id)",
    "DELETE FROM ONLY t WHERE id = abs(id)",
    "DELETE FROM t WHERE id = greatest(id, 0)",
    "DELETE FROM t WHERE id = nullif(id, -5)",
    "DELETE FROM t WHERE id = CASE WHEN true THEN id END",
    "DELETE FROM t USING t AS t2 WHERE t2.id = 1",
    "MERGE INTO t USING t AS s ON s.id = t.id WHEN MATCHED THEN DELETE",
    "MERGE INTO t USING (VALUES (1)) v(x) ON v.x = 1 WHEN MATCHED THEN UPDATE SET name = 'm'",
    "DELETE FROM t WHERE id IN (id)",
    "DELETE FROM t WHERE id = ANY (ARRAY[id])",
    "UPDATE t SET name = 'x' WHERE name = name COLLATE \"C\"",
]
EXTENDED_UNBOUNDED = [
    ("UPDATE t SET name = 'x' WHERE id = coalesce($1::int, id)", (None,)),
    ("DELETE FROM t WHERE id = $1 OR $1 IS NULL", (None,)),
    ("DELETE FROM t WHERE id IN ($1::int, id)", (1,)),
    ("UPDATE t SET name = 'x' WHERE ssn IS NOT DISTINCT FROM $1", (None,)),
]
BOUNDED = [
    ("DELETE FROM t WHERE id = 2", "DELETE 1"),
    ("UPDATE t SET name = 'z' WHERE id IN (1, 3)", "UPDATE 2"),
    ("UPDATE t SET name = 'q' WHERE t.id = 1 AND name = 'alice'", "UPDATE 1"),
    ("UPDATE t SET balance = 5 WHERE id BETWEEN 1 AND 2", "UPDATE 2"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("heldout"), review_timeout="5s") as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()


async def _unchanged(env: Env) -> bool:
    rows = await env.upstream("SELECT id, name, balance FROM t ORDER BY id")
    return [tuple(r) for r in rows] == [(r[0], r[1], r[5]) for r in ROWS]


async def _refused(env: Env, run: Awaitable[Any]) -> BaseException:
    """Run a write that must not run unreviewed: deny every review it opens."""
    task = asyncio.ensure_future(run)
    repository = env.gw.runtime.repository
    async with asyncio.timeout(10):
        while not task.done():
            for review in await repository.list_reviews(state=ReviewState.PENDING, limit=5):
                await env.decide(review.id, "deny", "held-out check")
            await asyncio.sleep(0.02)
    error = task.exception()
    assert error is not None, f"ran without a review: {task.result()!r}"
    assert await _unchanged(env), "the write changed the table"
    return error


async def _simple(env: Env, sql: str) -> str:
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        cur = psycopg.AsyncClientCursor(conn)
        await cur.execute(sql)
        return cur.statusmessage or ""


async def _extended(env: Env, sql: str, args: tuple[Any, ...]) -> str:
    conn = await env.asyncpg()
    try:
        return str(await conn.execute(sql, *args))
    finally:
        await conn.close()


@pytest.mark.parametrize("sql", UNBOUNDED)
async def test_unbounded_write_is_refused_simple(env: Env, sql: str) -> None:
    """Simple protocol: an unbounded write of a new shape is held; denied, no row changed."""
    error = await _refused(env, _simple(env, sql))
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), error


@pytest.mark.parametrize("sql", [s for s in UNBOUNDED if "$" not in s])
async def test_unbounded_write_is_refused_extended(env: Env, sql: str) -> None:
    """Extended protocol (asyncpg): the same writes wait for a review too."""
    error = await _refused(env, _extended(env, sql, ()))
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error


@pytest.mark.parametrize(("sql", "args"), EXTENDED_UNBOUNDED)
async def test_bound_values_decide(env: Env, sql: str, args: tuple[Any, ...]) -> None:
    """A parameter beside a column, under OR or inside a NULL-tolerant function or comparison,
    is no evidence: held."""
    error = await _refused(env, _extended(env, sql, args))
    assert isinstance(error, asyncpg.InsufficientPrivilegeError), error


@pytest.mark.parametrize(("sql", "status"), BOUNDED)
async def test_bounded_write_runs(env: Env, sql: str, status: str) -> None:
    """A write pinned to constants runs at once, without a review."""
    assert await _simple(env, sql) == status
    assert not await env.gw.runtime.repository.list_reviews(state=ReviewState.PENDING, limit=1)


async def test_a_parameter_in_a_strict_comparison_runs(env: Env) -> None:
    """`WHERE id = $1` runs at once through the extended protocol, bound to a value (one row)
    or to NULL (no row: a NULL compared is never true)."""
    assert await _extended(env, "DELETE FROM t WHERE id = $1", (None,)) == "DELETE 0"
    assert await _extended(env, "DELETE FROM t WHERE id = $1", (3,)) == "DELETE 1"
    assert await env.count() == len(ROWS) - 1
