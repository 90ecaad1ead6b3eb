"""Prepared statements through the MySQL listener (mysql-connector's prepared cursor): ids
mapped, classified at prepare (blocked there), decided at execute with the values bound, held
with them, binary rows masked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import mysql.connector
import pytest
import pytest_asyncio

from gateway.mysql import masking as masking_module
from gateway.mysql.wire.binary import encode_row
from tests.gateway.mysql.support import MyEnv, tls_mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")
MASKING = {"columns": ["ssn", "card_number"], "detectors": ["credit_card", "email"]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    masked = {"name": "my-masked", "masking": MASKING}
    directory = tmp_path_factory.mktemp("mysql-statements")
    async with tls_mysql_env(directory, connections=[masked]) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: MyEnv) -> None:
    env.reset()


def _prepared(
    env: MyEnv, sql: str, params: tuple[Any, ...] = (), connection: str = "my-test"
) -> Any:
    """Run ``sql`` as a server-side prepared statement (COM_STMT_PREPARE / EXECUTE)."""
    conn = mysql.connector.connect(
        host="127.0.0.1", port=env.port, user="alice", password=env.token, database=connection,
        use_pure=True, autocommit=True, ssl_ca=env.ca,
    )  # fmt: skip
    try:
        cursor = conn.cursor(prepared=True)
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else None
        cursor.close()
        return rows
    finally:
        conn.close()


async def test_prepared_select_runs(env: MyEnv) -> None:
    """A prepared SELECT with a bound value answers binary rows."""
    rows = await asyncio.to_thread(_prepared, env, "SELECT id, name FROM t WHERE id = %s", (2,))
    assert [tuple(r) for r in rows] == [(2, "bob")]


async def test_bound_row_filter_allows_the_write(env: MyEnv) -> None:
    """A DELETE whose only filter is a parameter runs once it is bound to a value."""
    await asyncio.to_thread(_prepared, env, "DELETE FROM t WHERE id = %s", (3,))
    assert env.count() == 2


async def test_held_statement_binds_its_values(env: MyEnv) -> None:
    """An unbounded prepared UPDATE is held at execute with its values on the review; denied,
    it fails with 1227 and nothing changed."""
    running = asyncio.create_task(
        asyncio.to_thread(_prepared, env, "UPDATE t SET name = %s", ("zed",))
    )
    review = await env.reviews.pending_review("my-test")
    assert review.statement is not None and "zed" in review.statement
    await env.reviews.decide(review.id, "deny", "no")
    with pytest.raises(mysql.connector.Error) as caught:
        await running
    assert caught.value.errno == 1227
    assert env.direct("SELECT count(*) FROM t WHERE name = 'zed'") == ((0,),)


async def test_approved_prepared_statement_runs(env: MyEnv) -> None:
    """A held prepared DELETE runs once approved."""
    running = asyncio.create_task(asyncio.to_thread(_prepared, env, "DELETE FROM t"))
    review = await env.reviews.pending_review("my-test")
    await env.reviews.decide(review.id, "approve", "ok")
    await running
    assert env.count() == 0


async def test_blocked_at_prepare(env: MyEnv) -> None:
    """A statement the rules block is refused at COM_STMT_PREPARE, never prepared upstream."""
    with pytest.raises(mysql.connector.Error) as caught:
        await asyncio.to_thread(_prepared, env, "SELECT LOAD_FILE(%s)", ("/etc/passwd",))
    assert caught.value.errno == 1227


async def test_binary_rows_are_masked(env: MyEnv) -> None:
    """Binary rows are masked like text rows; a masked number column comes back as text."""
    env.direct("CREATE TABLE IF NOT EXISTS cards (id INT PRIMARY KEY, card_number BIGINT)")
    env.direct("REPLACE INTO cards VALUES (1, 4111111111111111)")
    rows = await asyncio.to_thread(
        _prepared, env, "SELECT t.ssn, c.card_number, t.email FROM t, cards c WHERE t.id = %s",
        (1,), "my-masked",
    )  # fmt: skip
    shown = repr(rows)
    assert "078-05-1121" not in shown and "4111111111111111" not in shown
    assert "alice@example.com" not in shown


async def test_a_binary_row_nothing_masks_goes_as_it_came(
    env: MyEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A binary row whose scanned values hold nothing to mask, in columns the client is told
    are what the server said, is relayed as the server sent it, not encoded again; a row with
    something masked still is."""
    encoded: list[object] = []

    def counting(*args: Any) -> bytes:
        encoded.append(args)
        return encode_row(*args)

    monkeypatch.setattr(masking_module, "encode_row", counting)
    sql = "SELECT name FROM t WHERE id = %s"
    rows = await asyncio.to_thread(_prepared, env, sql, (2,), "my-masked")
    assert [tuple(r) for r in rows] == [("bob",)]
    assert encoded == []
    sql = "SELECT name, email FROM t WHERE id = %s"
    rows = await asyncio.to_thread(_prepared, env, sql, (2,), "my-masked")
    assert "bob@example.com" not in repr(rows) and len(encoded) == 1


async def test_prepared_sql_mode_is_read_back(env: MyEnv) -> None:
    """A prepared ``SET sql_mode = ?`` (held, then approved) changes how the session's next
    texts are read: the gateway reads the mode back from the server after it ran."""

    def run() -> None:
        conn = mysql.connector.connect(
            host="127.0.0.1", port=env.port, user="alice", password=env.token,
            database="my-test", use_pure=True, autocommit=True, ssl_ca=env.ca,
        )  # fmt: skip
        try:
            cursor = conn.cursor(prepared=True)
            cursor.execute("SET sql_mode = ?", ("NO_BACKSLASH_ESCAPES",))
            cursor.close()
            plain = conn.cursor()
            with pytest.raises(mysql.connector.Error) as caught:
                plain.execute("SELECT 'a\\'; DROP TABLE t; -- '")
            assert caught.value.errno == 1227
        finally:
            conn.close()

    running = asyncio.create_task(asyncio.to_thread(run))
    review = await env.reviews.pending_review("my-test")
    assert review.statement is not None and review.statement.startswith("SET sql_mode")
    await env.reviews.decide(review.id, "approve", "ok")
    second = None
    async with asyncio.timeout(10):
        while second is None or second.id == review.id:
            second = await env.reviews.pending_review("my-test")
    assert second.statement is not None and "DROP TABLE t" in second.statement
    await env.reviews.decide(second.id, "deny", "smuggled")
    await running
    assert env.count() == 3
