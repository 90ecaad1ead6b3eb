"""The airlock through the MySQL wire: a held statement waits, runs once approved, fails with
1227 after a denial and 3024 after a timeout; blocked statements are 1227 naming the rule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pymysql
import pytest
import pytest_asyncio
from pymysql.constants import CLIENT

from approvals import ReviewState
from tests.gateway.mysql.support import MyEnv, mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    fast = {"name": "my-fast", "review_timeout": "2s"}
    async with mysql_env(tmp_path_factory.mktemp("airlock"), connections=[fast]) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: MyEnv) -> None:
    env.reset()


async def test_approved_statement_runs(env: MyEnv) -> None:
    """DELETE without WHERE waits (nothing upstream), then runs once approved."""
    running = asyncio.create_task(env.query("DELETE FROM t"))
    review = await env.reviews.pending_review("my-test")
    assert review.statement == "DELETE FROM t"
    await asyncio.sleep(0.2)
    assert env.count() == 3
    await env.reviews.decide(review.id, "approve", "ok")
    await running
    assert env.count() == 0


async def test_denied_statement_fails_with_1227(env: MyEnv) -> None:
    """A denial ends the statement with 1227 and the approver's name and reason."""
    running = asyncio.create_task(env.query("DELETE FROM t"))
    review = await env.reviews.pending_review("my-test")
    await env.reviews.decide(review.id, "deny", "not during business hours")
    with pytest.raises(pymysql.err.OperationalError) as caught:
        await running
    assert caught.value.args[0] == 1227
    assert "denied by bob@example.com: not during business hours" in caught.value.args[1]
    assert env.count() == 3


async def test_timeout_fails_with_3024(env: MyEnv) -> None:
    """Nobody decides within review_timeout (2s): 3024, the review expired, nothing ran."""
    with pytest.raises(pymysql.err.OperationalError) as caught:
        await env.query("DELETE FROM t", "my-fast")
    assert caught.value.args[0] == 3024
    assert "nobody decided within 2s" in caught.value.args[1]
    assert env.count() == 3


async def test_blocked_statement_is_1227_with_rule(env: MyEnv) -> None:
    """A server escape is refused with 1227 naming the rule; the session goes on."""

    def run() -> tuple[object, object]:
        conn = env.connect()
        try:
            with conn.cursor() as cursor:
                try:
                    cursor.execute("LOAD DATA INFILE '/etc/passwd' INTO TABLE t")
                except pymysql.err.OperationalError as exc:
                    error: object = exc.args
                cursor.execute("SELECT count(*) FROM t")
                return error, cursor.fetchone()
        finally:
            conn.close()

    error, after = await asyncio.to_thread(run)
    assert isinstance(error, tuple) and error[0] == 1227
    assert "blocked by rule default/server_escape" in error[1]
    assert after == (3,)


async def test_one_held_statement_holds_the_whole_text(env: MyEnv) -> None:
    """A multi-statement text with one held statement is held as a whole; denied, none of it
    runs, the client gets one ERR and the connection stays in step."""

    def run() -> tuple[object, object]:
        conn = env.connect(client_flag=CLIENT.MULTI_STATEMENTS)
        try:
            with conn.cursor() as cursor:
                try:
                    cursor.execute("INSERT INTO t (id) VALUES (9); DELETE FROM t")
                    error: object = None
                except pymysql.err.OperationalError as exc:
                    error = exc.args[0]
                cursor.execute("SELECT count(*) FROM t")
                return error, cursor.fetchone()
        finally:
            conn.close()

    running = asyncio.create_task(asyncio.to_thread(run))
    review = await env.reviews.pending_review("my-test")
    assert review.statement == "INSERT INTO t (id) VALUES (9); DELETE FROM t"
    await env.reviews.decide(review.id, "deny", "no")
    assert await running == (1227, (3,))


async def test_client_leaving_cancels_its_review(env: MyEnv) -> None:
    """A client that closes its connection while held cancels the review; nothing runs."""
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    writer.close()  # warm: the listener answers a bare connect and close
    running = asyncio.create_task(env.query("DELETE FROM t", read_timeout=1))
    review = await env.reviews.pending_review("my-test")
    with pytest.raises(pymysql.err.OperationalError):
        await running  # PyMySQL gives up reading after 1 s and closes the socket
    final = await env.reviews.final_review(review.id)
    assert final.state is ReviewState.CANCELLED
    assert env.count() == 3
    del reader


async def test_sql_mode_set_before_an_error_is_read_back(env: MyEnv) -> None:
    """``SET sql_mode`` that runs before a later statement of its text fails still changes how
    the next texts are read: the gateway reads the mode back from the server, so a backslash
    that NO_BACKSLASH_ESCAPES turns into a statement break is held, not run."""

    def run() -> None:
        conn = env.connect(client_flag=CLIENT.MULTI_STATEMENTS)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT * FROM nope")
                with pytest.raises(pymysql.err.ProgrammingError):
                    cursor.nextset()  # the second result is the error
                with pytest.raises(pymysql.err.OperationalError) as caught:
                    cursor.execute("SELECT 'a\\'; DROP TABLE t; -- '")
                assert caught.value.args[0] == 1227
        finally:
            conn.close()

    running = asyncio.create_task(asyncio.to_thread(run))
    review = await env.reviews.pending_review("my-test")
    assert review.statement is not None and "DROP TABLE t" in review.statement
    await env.reviews.decide(review.id, "deny", "smuggled")
    await running
    assert env.count() == 3
