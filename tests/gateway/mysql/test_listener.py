"""The MySQL listener end to end: real clients through Airlock to the real MariaDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pymysql
import pytest
import pytest_asyncio
from pymysql.constants import CLIENT

from tests.gateway.mysql.support import ROWS, MyEnv, mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    async with mysql_env(tmp_path_factory.mktemp("mysql")) as env:
        yield env


async def test_pymysql_reads_through_the_gateway(env: MyEnv) -> None:
    """A PyMySQL client with its token reads the upstream rows, recorded under its identity."""
    rows = await env.query("SELECT id, name FROM t ORDER BY id")
    assert rows == tuple((r[0], r[1]) for r in ROWS)
    events = await env.reviews.audit()
    found = [e for e in events if e.details["statement"] == "SELECT id, name FROM t ORDER BY id"]
    assert found and found[-1].outcome == "ok"
    assert found[-1].actor_subject == "alice@example.com"
    assert found[-1].details["rows"] == 3


async def test_mariadb_cli_reads(env: MyEnv) -> None:
    """The mariadb CLI connects with the token as its password and prints the rows."""
    code, out, err = await env.mariadb("SELECT name FROM t ORDER BY id")
    assert code == 0, err
    assert out.split() == ["alice", "bob", "carol"]


async def test_bad_token_is_1045(env: MyEnv) -> None:
    """A password that is no token is refused with 1045 before anything opens upstream."""
    with pytest.raises(pymysql.err.OperationalError) as caught:
        await asyncio.to_thread(env.connect, password="not-a-token")
    assert caught.value.args[0] == 1045


async def test_unknown_connection_is_1049(env: MyEnv) -> None:
    """A database that names no connection is refused with 1049."""
    with pytest.raises(pymysql.err.OperationalError) as caught:
        await asyncio.to_thread(env.connect, "nope")
    assert caught.value.args[0] == 1049


async def test_gateway_thread_id_is_its_own(env: MyEnv) -> None:
    """The handshake's connection id is the gateway's, not the upstream's."""

    def ids() -> tuple[int, int]:
        conn = env.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT CONNECTION_ID()")
                ours = conn.thread_id()  # type: ignore[no-untyped-call]
                return int(ours), int(cursor.fetchone()[0])
        finally:
            conn.close()

    ours, upstream = await asyncio.to_thread(ids)
    assert ours != upstream


async def test_multi_results_and_errors_stay_in_step(env: MyEnv) -> None:
    """Two allowed statements in one text give two results; an upstream error mid-way ends the
    reply and the next query on the connection still works."""

    def run() -> tuple[list[object], int, object]:
        conn = env.connect(client_flag=CLIENT.MULTI_STATEMENTS)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1; SELECT name FROM t WHERE id = 2")
                results = [cursor.fetchall()]
                while cursor.nextset():
                    results.append(cursor.fetchall())
                try:
                    cursor.execute("SELECT 1; SELECT * FROM missing_table; SELECT 3")
                    while cursor.nextset():
                        pass
                    code = 0
                except pymysql.err.ProgrammingError as exc:
                    code = exc.args[0]
                cursor.execute("SELECT 42")
                return results, code, cursor.fetchone()
        finally:
            conn.close()

    results, code, after = await asyncio.to_thread(run)
    assert results == [((1,),), (("bob",),)]
    assert code == 1146
    assert after == (42,)


async def test_init_db_and_ping(env: MyEnv) -> None:
    """COM_INIT_DB to the connection's database and COM_PING are relayed."""

    def run() -> object:
        conn = env.connect()
        try:
            conn.select_db(env.database)
            conn.ping(reconnect=False)
            with conn.cursor() as cursor:
                cursor.execute("SELECT DATABASE()")
                return cursor.fetchone()
        finally:
            conn.close()

    assert await asyncio.to_thread(run) == (env.database,)


async def test_upstream_gone_ends_the_session_in_words(env: MyEnv) -> None:
    """The server ending the session's connection (an operator's KILL) ends that session
    with an error the client can read, at its next command (the fast lane forwards nothing to
    a connection that is gone: the client would wait out its read timeout); the listener goes
    on serving."""

    def run() -> tuple[int, str]:
        conn = env.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT CONNECTION_ID()")
                upstream_id = int(cursor.fetchone()[0])
                env.direct(f"KILL {upstream_id}")
                try:
                    cursor.execute("SELECT 1")
                    cursor.execute("SELECT 1")
                except pymysql.err.OperationalError as exc:
                    return int(exc.args[0]), str(exc.args[1])
                return 0, ""
        finally:
            conn.close()

    code, message = await asyncio.to_thread(run)
    assert code in (1927, 2013) and "timed out" not in message, message
    assert await env.query("SELECT 2") == ((2,),)


async def test_connection_slash_database(env: MyEnv) -> None:
    """``CONN/db`` names another database on the connection's server."""
    rows = await env.query("SELECT DATABASE()", f"my-test/{env.database}")
    assert rows == ((env.database,),)
