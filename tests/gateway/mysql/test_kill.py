"""The mysql client's Ctrl-C: ``KILL QUERY <id>`` on a second connection of the same identity
cancels the held statement (its review is cancelled: 1317) or kills the running one upstream;
a KILL of anything else is the rules' business (blocked by default)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pymysql
import pytest
import pytest_asyncio

from approvals import ReviewState
from tests.gateway.mysql.support import MyEnv, mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")
# A read the rules allow that runs for minutes (3^20 rows joined); SLEEP() is held.
SLOW = "SELECT count(*) FROM " + ", ".join(f"t t{i}" for i in range(20))  # minutes


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    async with mysql_env(tmp_path_factory.mktemp("mysql-kill")) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: MyEnv) -> None:
    env.reset()


def _thread_id(conn: pymysql.Connection[Any]) -> int:
    return int(conn.thread_id())  # type: ignore[no-untyped-call]


async def _run(conn: pymysql.Connection[Any], sql: str) -> Any:
    def run() -> Any:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    return await asyncio.to_thread(run)


async def test_kill_query_cancels_the_held_statement(env: MyEnv) -> None:
    """KILL QUERY of a session holding a statement cancels its review; the held client gets
    1317 and nothing ran; the killer gets OK."""
    held = await asyncio.to_thread(env.connect)
    try:
        running = asyncio.create_task(_run(held, "DELETE FROM t"))
        review = await env.reviews.pending_review("my-test")
        await env.query(f"KILL QUERY {_thread_id(held)}")  # answered OK
        with pytest.raises(pymysql.err.OperationalError) as caught:
            await running
        assert caught.value.args[0] == 1317
        final = await env.reviews.final_review(review.id)
        assert final.state is ReviewState.CANCELLED
        assert env.count() == 3
        assert await _run(held, "SELECT count(*) FROM t") == ((3,),)
    finally:
        held.close()


async def test_kill_query_stops_the_running_statement(env: MyEnv) -> None:
    """KILL QUERY of a session whose statement runs upstream kills it there by the upstream's
    id: a read of minutes ends within seconds with the server's 1317 and the session goes on."""
    busy = await asyncio.to_thread(env.connect)
    try:
        started = time.perf_counter()
        running = asyncio.create_task(_run(busy, SLOW))
        await asyncio.sleep(1)
        await env.query(f"KILL QUERY {_thread_id(busy)}")
        with pytest.raises(pymysql.err.OperationalError) as caught:
            await running
        assert caught.value.args[0] == 1317
        assert time.perf_counter() - started < 10
        assert await _run(busy, "SELECT 7") == ((7,),)
    finally:
        busy.close()


async def test_kill_of_another_identity_is_blocked(env: MyEnv) -> None:
    """A KILL naming a session of someone else (or no session of the gateway) goes to the
    rules: blocked by default, the session untouched."""
    other_token = env.gw.token("carol@example.com", ["eng"])
    theirs = await asyncio.to_thread(env.connect, password=other_token)
    try:
        with pytest.raises(pymysql.err.OperationalError) as caught:
            await env.query(f"KILL {_thread_id(theirs)}")
        assert caught.value.args[0] == 1227
        assert await _run(theirs, "SELECT 1") == ((1,),)
    finally:
        theirs.close()


async def test_kill_connection_ends_the_own_session(env: MyEnv) -> None:
    """KILL <id> of one's own session ends it: its record says killed, its client is cut off."""
    victim = await asyncio.to_thread(env.connect)
    try:
        await env.query(f"KILL {_thread_id(victim)}")
        repository = env.gw.runtime.repository
        async with asyncio.timeout(5):
            while True:
                ended = [
                    s
                    for s in await repository.list_sessions(connection="my-test", limit=20)
                    if s.ended_at is not None and s.stats.get("end") == "killed"
                ]
                if ended:
                    break
                await asyncio.sleep(0.02)
        with pytest.raises(pymysql.err.OperationalError):
            await _run(victim, "SELECT 1")
    finally:
        victim.close()
