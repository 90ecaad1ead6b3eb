"""Issue #17 classes 1 and 2 through the wire: writes without positive evidence of a row filter
are held with the count of what they would touch, nothing of them runs before the decision,
bounded writes still run, and max_rows_unreviewed holds filtered writes the database counts
above it. psql (simple protocol), psycopg and asyncpg (extended) against the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import psycopg
import pytest
import pytest_asyncio

from approvals import Impact, Review
from gateway.postgres import wire as pg
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCHEMA = """
DROP TABLE IF EXISTS orders, customers, side_effects;
DROP FUNCTION IF EXISTS side_effect();
CREATE TABLE customers (id int PRIMARY KEY, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, status text, note text);
CREATE TABLE side_effects (at timestamptz DEFAULT now());
CREATE FUNCTION side_effect() RETURNS boolean LANGUAGE sql
    AS 'INSERT INTO side_effects DEFAULT VALUES RETURNING true';
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 10) g;
-- 100 orders: 50 with status x, 3 with status y, the rest z
INSERT INTO orders SELECT g, 1 + g % 10,
    CASE WHEN g <= 50 THEN 'x' WHEN g <= 53 THEN 'y' ELSE 'z' END, NULL
    FROM generate_series(1, 100) g;
"""

ISSUE_EXAMPLES = [
    "DELETE FROM orders USING customers WHERE customers.id = 1",
    "DELETE FROM orders WHERE id = +id",
    "MERGE INTO orders o USING (SELECT 1 AS one) s ON s.one = 1 WHEN MATCHED THEN DELETE",
    "DELETE FROM orders WHERE EXISTS (SELECT 1 FROM orders WHERE orders.id = 1)",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    limited = {"name": "pg-limit", "max_rows_unreviewed": 10}
    fast = {"name": "pg-fast", "review_timeout": "1s"}
    async with gateway_env(tmp_path_factory.mktemp("bounds"), connections=[limited, fast]) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_tables(env: Env) -> None:
    conn = await asyncpg.connect(env.dsn)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


async def orders(env: Env, where: str = "true") -> int:
    """Rows of orders matching ``where``, read directly upstream."""
    rows = await env.upstream(f"SELECT count(*) AS n FROM orders WHERE {where}")
    return int(rows[0]["n"])


async def reviews(env: Env, connection: str) -> int:
    """Reviews ever opened on ``connection``."""
    return len(await env.gw.runtime.repository.list_reviews(connection=connection, limit=1000))


async def held_then_denied(env: Env, running: asyncio.Task[Any], connection: str) -> Review:
    """The statement of ``running`` is held: nothing ran; denied, it fails."""
    review = await env.pending_review(connection)
    await asyncio.sleep(0.1)
    assert await orders(env) == 100
    await env.decide(review.id, "deny", "no")
    with pytest.raises(Exception, match=r"denied by bob@example\.com"):
        result = await running
        if isinstance(result, tuple):  # psql: (code, out, err)
            code, _, err = result
            assert code != 0
            raise RuntimeError(err)
    return review


@pytest.mark.parametrize("sql", ISSUE_EXAMPLES)
async def test_issue_examples_are_held_with_their_count(env: Env, sql: str) -> None:
    """Each example of the issue is held, shows it would touch all 100 rows, and ran nowhere."""
    running = asyncio.create_task(env.psql(sql))
    review = await held_then_denied(env, running, "pg-test")
    assert review.rule == "default/write_unbounded"
    assert review.impact is not None and review.impact.rows == 100
    assert await orders(env) == 100


async def test_coalesce_bound_to_null_is_held(env: Env) -> None:
    """psycopg's extended protocol: id = coalesce($1, id) bound NULL is held, counted with the
    same NULL (all 100 rows), and nothing is deleted."""

    async def delete() -> None:
        async with await psycopg.AsyncConnection.connect(env.dsn_via()) as conn:
            await conn.execute("DELETE FROM orders WHERE id = coalesce(%s, id)", (None,))

    review = await held_then_denied(env, asyncio.create_task(delete()), "pg-test")
    assert review.impact == Impact(100, "")
    assert "-- parameters: NULL" in (review.statement or "")


async def test_a_parameter_pins_whatever_it_is_bound_to(env: Env) -> None:
    """asyncpg: DELETE ... WHERE id = $1 runs at once bound 5 or NULL (NULL matches no row);
    only IS NOT DISTINCT FROM $1 needs a value, and bound NULL it is held and nothing ran."""
    conn = await env.asyncpg()
    try:
        assert await conn.execute("DELETE FROM orders WHERE id = $1", 5) == "DELETE 1"
        assert await conn.execute("DELETE FROM orders WHERE id = $1", None) == "DELETE 0"
        assert await orders(env) == 99
        sql = "UPDATE orders SET note = 'x' WHERE note IS NOT DISTINCT FROM $1"
        running = asyncio.create_task(conn.execute(sql, None))
        review = await env.pending_review()
        assert review.impact is not None and review.impact.rows == await orders(env, "note IS NULL")
        await env.decide(review.id, "deny", "no")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await running
    finally:
        await conn.close()
    assert await orders(env, "note = 'x'") == 0


@pytest.mark.parametrize(
    ("sql", "gone"),
    [
        ("DELETE FROM orders WHERE id = 5", "id = 5"),
        ("DELETE FROM orders WHERE id IN (1, 2)", "id IN (1, 2)"),
        ("DELETE FROM orders o WHERE o.id BETWEEN 1 AND 3", "id BETWEEN 1 AND 3"),
        ("DELETE FROM orders WHERE id >= 10 AND id < 20", "id >= 10 AND id < 20"),
        (
            "UPDATE orders o SET note = c.name FROM customers c "
            "WHERE c.id = o.customer_id AND o.id = 7",
            "id = 7 AND note IS NULL",
        ),
    ],
)
async def test_bounded_writes_still_run(env: Env, sql: str, gone: str) -> None:
    """Writes pinned to constants run at once, with no review, and did what they say."""
    before = await reviews(env, "pg-test")
    code, _, err = await env.psql(sql)
    assert code == 0, err
    assert await orders(env, gone) == 0
    assert await reviews(env, "pg-test") == before


async def test_row_limit_holds_a_large_filtered_write(env: Env) -> None:
    """max_rows_unreviewed = 10: a pinned DELETE matching 50 rows is held with its count."""
    running = asyncio.create_task(
        env.psql("DELETE FROM orders WHERE status = 'x'", database="pg-limit")
    )
    review = await held_then_denied(env, running, "pg-limit")
    assert review.rule == "limit/max_rows_unreviewed"
    assert review.impact == Impact(50, "")
    assert await orders(env, "status = 'x'") == 50


async def test_row_limit_counts_every_time(env: Env) -> None:
    """One session, the same text (simple protocol): matching 3 rows it runs unreviewed, again
    and again; once 50 rows match (changed upstream), the same text is held: no verdict or
    count is remembered, and the fast lane never takes it."""
    before = await reviews(env, "pg-limit")
    sql = "UPDATE orders SET note = 'seen' WHERE status = 'y'"
    conn = await env.asyncpg("pg-limit")
    try:
        for _ in range(3):
            assert await conn.execute(sql) == "UPDATE 3"
        assert await reviews(env, "pg-limit") == before
        await env.upstream("UPDATE orders SET status = 'y' WHERE status = 'x'")
        running = asyncio.create_task(conn.execute(sql))
        review = await env.pending_review("pg-limit")
        assert review.impact == Impact(53, "")
        await env.decide(review.id, "deny", "no")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await running
    finally:
        await conn.close()
    assert await orders(env, "note = 'seen'") == 3


async def test_row_limit_counts_with_the_bound_values(env: Env) -> None:
    """asyncpg, one prepared statement: bound 'y' (3 rows) it runs; bound 'x' (50) it is held."""
    conn = await env.asyncpg("pg-limit")
    try:
        statement = await conn.prepare("DELETE FROM orders WHERE status = $1")
        await statement.fetch("y")
        assert await orders(env, "status = 'y'") == 0
        running = asyncio.create_task(statement.fetch("x"))
        review = await env.pending_review("pg-limit")
        assert review.impact == Impact(50, "")
        await env.decide(review.id, "deny", "no")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await running
    finally:
        await conn.close()
    assert await orders(env, "status = 'x'") == 50


async def test_volatile_condition_is_held_uncounted(env: Env) -> None:
    """Under the limit, a pinned write whose condition calls random() is held, not counted."""
    sql = "DELETE FROM orders WHERE status = 'y' AND random() < 2"
    running = asyncio.create_task(env.psql(sql, database="pg-limit"))
    review = await held_then_denied(env, running, "pg-limit")
    assert review.impact == Impact(None, "not counted: calls random()")
    assert await orders(env, "status = 'y'") == 3


async def test_side_effect_function_is_never_run_by_the_count(env: Env) -> None:
    """A user function with side effects in the condition: held uncounted; it never ran."""
    running = asyncio.create_task(env.psql("DELETE FROM orders WHERE id = 1 AND side_effect()"))
    review = await held_then_denied(env, running, "pg-test")
    assert review.impact == Impact(None, "not counted: calls side_effect()")
    assert (await env.upstream("SELECT count(*) AS n FROM side_effects"))[0]["n"] == 0


async def test_count_sees_the_sessions_own_transaction(env: Env) -> None:
    """The count runs in the session: it counts the session's uncommitted rows (105, not 100);
    approved, the write runs in the same transaction, which is read-write again with the
    session's own statement_timeout (the count's SET LOCALs were rolled back)."""
    conn = await env.asyncpg()
    try:
        await conn.execute("SET statement_timeout = '7s'")
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO orders SELECT g, 1, 'new' FROM generate_series(101, 105) g")
        running = asyncio.create_task(conn.execute("DELETE FROM orders WHERE id = +id"))
        review = await env.pending_review()
        assert review.impact == Impact(105, "")
        await env.decide(review.id, "approve", "ok")
        assert await running == "DELETE 105"
        assert await conn.fetchval("SHOW transaction_read_only") == "off"
        assert await conn.fetchval("SHOW statement_timeout") == "7s"
        assert conn.is_in_transaction()
        await conn.execute("ROLLBACK")
    finally:
        await conn.close()
    assert await orders(env) == 100


async def test_count_sees_the_sessions_temporary_table(env: Env) -> None:
    """Outside a transaction: a temporary table only this session sees is counted (2 rows),
    and the session is idle and read-write again afterwards."""
    conn = await env.asyncpg()
    try:
        await conn.execute("CREATE TEMP TABLE mine (id int); INSERT INTO mine VALUES (1), (2)")
        running = asyncio.create_task(conn.execute("DELETE FROM mine WHERE id = +id"))
        review = await env.pending_review()
        assert review.impact == Impact(2, "")
        await env.decide(review.id, "approve", "ok")
        assert await running == "DELETE 2"
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SHOW transaction_read_only") == "off"
        assert await conn.fetchval("SELECT count(*) FROM mine") == 0
    finally:
        await conn.close()


async def test_failed_transaction_is_not_counted(env: Env) -> None:
    """In a failed transaction nothing is sent for the count: held as not counted."""
    conn = await env.asyncpg()
    try:
        await conn.execute("BEGIN")
        with pytest.raises(asyncpg.DivisionByZeroError):
            await conn.execute("SELECT 1/0")
        running = asyncio.create_task(conn.execute("DELETE FROM orders WHERE id = +id"))
        review = await env.pending_review()
        assert review.impact == Impact(None, "not counted: the session's transaction has failed")
        await env.decide(review.id, "deny", "no")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await running
        await conn.execute("ROLLBACK")
        assert await conn.fetchval("SELECT count(*) FROM orders") == 100
    finally:
        await conn.close()


async def test_impact_in_the_api_and_the_audit(env: Env) -> None:
    """The review in the API and the statement.held audit event carry the count."""
    running = asyncio.create_task(env.psql("UPDATE orders SET note = 'all'"))
    review = await env.pending_review()
    async with env.gw.client(env.approver) as http:
        answer = await http.get(f"/v1/reviews/{review.id}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["impact"] == {"rows": 100, "note": ""}
    records = await env.gw.runtime.repository.list_audit(connection="pg-test", limit=100)
    [held] = [r for r in records if r.action == "statement.held" and r.target == review.id]
    assert held.details["impact"] == {"rows": 100, "note": ""}
    await env.decide(review.id, "approve", "ok")
    code, _, err = await running
    assert code == 0, err
    assert await orders(env, "note = 'all'") == 100


NEW_SHAPES = [
    "DELETE FROM orders WHERE id = id - 0",
    "DELETE FROM orders WHERE id::bigint = id",
    'DELETE FROM orders WHERE status = status COLLATE "C"',
    "DELETE FROM orders WHERE (id, status) = (id, status)",
    "DELETE FROM orders WHERE ROW(id) = ROW(id)",
    "DELETE FROM orders WHERE id = greatest(id, 0)",
    "DELETE FROM orders WHERE id = nullif(id, -1)",
    "DELETE FROM orders WHERE id = CASE WHEN true THEN id END",
    "DELETE FROM orders WHERE NOT NOT (id = 1 OR true)",
    "DELETE FROM orders WHERE (id = 5) IS NOT FALSE OR id > 0",
    "DELETE FROM orders WHERE id > 0",
    "DELETE FROM orders WHERE id <> -1",
    "DELETE FROM orders WHERE id NOT IN (-1)",
    "DELETE FROM orders WHERE id IN (SELECT id FROM orders)",
    "DELETE FROM orders WHERE id = ANY(SELECT id FROM orders)",
    "DELETE FROM orders USING LATERAL (SELECT 1 AS id) l WHERE l.id = 1",
    "DELETE FROM orders USING customers c WHERE c.id = 1 AND id = id",
    "UPDATE orders SET note = 'x' FROM customers WHERE customers.id = 1",
    "UPDATE orders o SET note = 'x' FROM customers c WHERE c.id = o.customer_id",
    "WITH ids AS (SELECT id FROM orders) DELETE FROM orders WHERE id IN (SELECT id FROM ids)",
    "WITH one AS (SELECT 1 AS id) DELETE FROM orders USING one WHERE one.id = 1",
    "WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d",
    "DELETE FROM orders WHERE lower(status) = lower(status)",
    "DELETE FROM orders WHERE length(status) >= 0 AND length(status) <= 1000",
    "DELETE FROM ONLY orders WHERE id = id",
    "MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED THEN DELETE",
    "MERGE INTO orders o USING (VALUES (1)) v(id) ON v.id = 1 WHEN MATCHED THEN DELETE",
    "MERGE INTO orders o USING customers s ON o.id = o.id WHEN MATCHED THEN UPDATE SET note = 'x'",
    "MERGE INTO orders o USING customers s ON o.id = -1 WHEN NOT MATCHED BY SOURCE THEN DELETE",
    "DELETE FROM orders WHERE status IS DISTINCT FROM 'nothing'",
]


async def test_thirty_new_shapes_never_run_unreviewed(env: Env) -> None:
    """30 unbounded writes of shapes the rule was not written against, each on its own asyncpg
    session of a connection whose reviews expire in 1 s: every one expires, all rows stay."""

    async def attempt(sql: str) -> str:
        conn = await env.asyncpg("pg-fast")
        try:
            await conn.execute(sql)
        except asyncpg.PostgresError as exc:
            return str(exc.sqlstate)
        finally:
            await conn.close()
        return "ran"

    assert len(NEW_SHAPES) == 30
    outcomes = await asyncio.gather(*(attempt(sql) for sql in NEW_SHAPES))
    assert dict(zip(NEW_SHAPES, outcomes, strict=True)) == dict.fromkeys(NEW_SHAPES, "57014")
    assert await orders(env) == 100
    assert await orders(env, "note IS NOT NULL") == 0


@pytest.mark.parametrize(
    ("sql", "note"),
    [
        ("SELECT 1; DELETE FROM orders WHERE id = 5", "the write is one of several statements"),
        (
            "WITH d AS (DELETE FROM orders WHERE id = 5 RETURNING *) SELECT count(*) FROM d",
            "the write is inside another statement",
        ),
    ],
)
async def test_row_limit_holds_what_it_cannot_count(env: Env, sql: str, note: str) -> None:
    """Under max_rows_unreviewed, a pinned write the gateway cannot count on its own (one of
    several statements, or inside a CTE) is held as not counted, and did not run."""
    running = asyncio.create_task(env.psql(sql, database="pg-limit"))
    review = await held_then_denied(env, running, "pg-limit")
    assert review.rule == "limit/max_rows_unreviewed"
    assert review.impact == Impact(None, f"not counted: {note}")
    assert await orders(env, "id = 5") == 1


async def test_slow_count_times_out_and_the_next_one_counts(env: Env) -> None:
    """A count slower than its statement timeout is "not counted: timed out" (held); the same
    session's counting connection then counts the next held write."""
    slow = (
        "DELETE FROM orders USING orders a, orders b, orders c, orders d "
        "WHERE a.id + b.id + c.id + d.id = -1"
    )
    conn = await env.asyncpg()
    try:
        running = asyncio.create_task(conn.execute(slow))
        review = await env.pending_review()
        assert review.impact == Impact(None, "not counted: timed out")
        await env.decide(review.id, "deny", "no")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await running
        running = asyncio.create_task(conn.execute("DELETE FROM orders WHERE id > 90"))
        review = await env.pending_review()
        assert review.impact == Impact(10, "")
        await env.decide(review.id, "deny", "no")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await running
    finally:
        await conn.close()
    assert await orders(env) == 100


async def test_pipelined_queries_are_answered_before_the_count(env: Env) -> None:
    """A slow Query pipelined before the held write: its answer reaches the client whole and
    first; the count waits for it, runs in the session, and the client sees nothing of it."""
    client = await RawClient.connect(env.port)
    try:
        await client.login(env.token)
        slow = "SELECT count(*) FROM generate_series(1, 2000000)"
        client.send(pg.Query(slow), pg.Query("DELETE FROM orders WHERE id = +id"))
        first = await client.until_ready()
        assert [type(m).__name__ for m in first] == [
            "RowDescription",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery",
        ]
        assert first[1] == pg.DataRow((b"2000000",))
        review = await env.pending_review()
        assert review.impact == Impact(100, "")
        notice = await client.read()
        assert isinstance(notice, pg.NoticeResponse) and "it would touch 100 rows" in (
            notice.message or ""
        )
        await env.decide(review.id, "deny", "no")
        second = await client.until_ready()
        assert [type(m).__name__ for m in second] == ["ErrorResponse", "ReadyForQuery"]
        assert second[-1] == pg.ReadyForQuery("I")
    finally:
        client.close()
    assert await orders(env) == 100
