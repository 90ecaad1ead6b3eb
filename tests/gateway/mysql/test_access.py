"""Access through the MySQL listener: a connection on request needs a delegation; revoking it
ends the live session (ERR 1927, then the connection closes) and records why."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pymysql
import pytest
import pytest_asyncio

from gateway.mysql import wire as my
from tests.gateway.mysql.support import MyEnv, RawClient, mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    directory = tmp_path_factory.mktemp("mysql-access")
    async with mysql_env(directory, name="my-req", access="request") as env:
        yield env


async def _granted(env: MyEnv) -> str:
    """Ask for access as alice, approve as bob; the delegation id."""
    async with env.gw.client(env.token) as http:
        asked = await http.post(
            "/v1/access-requests",
            json={"connection": "my-req", "duration": "1h", "reason": "INC-42"},
        )
    assert asked.status_code == 201, asked.text
    await env.reviews.decide(asked.json()["id"], "approve", "ok")
    async with env.gw.client(env.token) as http:
        listed = await http.get("/v1/delegations")
    return str(listed.json()[0]["id"])


async def test_connect_needs_a_delegation(env: MyEnv) -> None:
    """Without a delegation the connection is refused with 1044 saying how to ask."""
    with pytest.raises(pymysql.err.OperationalError) as caught:
        await asyncio.to_thread(env.connect, "my-req")
    assert caught.value.args[0] == 1044
    assert "/access request my-req" in caught.value.args[1]


async def test_revocation_ends_live_session(env: MyEnv) -> None:
    """Revoking the delegation ends the session within a second: the client's next read is
    ERR 1927 naming the delegation; the session's record says revoked."""
    delegation = await _granted(env)
    client = await RawClient.connect(env.port)
    try:
        assert (await client.login(env.token, "my-req")).payload[:1] == b"\x00"
        async with env.gw.client(env.token) as http:
            revoked = await http.post(
                f"/v1/delegations/{delegation}/revoke", json={"reason": "done"}
            )
        assert revoked.status_code == 200, revoked.text
        started = time.perf_counter()
        error = my.Err.decode((await client.read(within=5)).payload)
        assert time.perf_counter() - started < 1
        assert error.code == 1927 and f"delegation {delegation}" in error.message
        assert await client.closed()
    finally:
        client.close()
    repository = env.gw.runtime.repository
    async with asyncio.timeout(5):
        while True:
            [session] = await repository.list_sessions(connection="my-req", limit=1)
            if session.ended_at is not None:
                break
            await asyncio.sleep(0.02)
    assert session.stats["end"] == "revoked"


SLOW = "SELECT count(*) FROM " + ", ".join(f"t t{i}" for i in range(20))  # minutes


async def _until(check: Callable[[], bool], within: float) -> None:
    for _ in range(int(within / 0.05)):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s")


def _running(env: MyEnv, marker: str) -> int:
    [(count,)] = env.direct(
        "SELECT count(*) FROM information_schema.processlist "
        f"WHERE command = 'Query' AND id <> CONNECTION_ID() AND info LIKE '%{marker}%'"
    )
    return int(count)


async def test_revocation_kills_the_statement_running_upstream(env: MyEnv) -> None:
    """A revoked session's running statement does not run on to its end upstream (the server
    notices a closed client only when it next writes to it): the gateway kills its upstream
    thread, with the session's own credential."""
    delegation = await _granted(env)
    marker = "revoked-reader"
    busy = await asyncio.to_thread(env.connect, "my-req")
    try:

        def run() -> Any:
            with busy.cursor() as cursor:
                cursor.execute(f"{SLOW} /* {marker} */")

        running = asyncio.create_task(asyncio.to_thread(run))
        await _until(lambda: _running(env, marker) == 1, within=10)
        async with env.gw.client(env.token) as http:
            revoked = await http.post(
                f"/v1/delegations/{delegation}/revoke", json={"reason": "done"}
            )
        assert revoked.status_code == 200, revoked.text
        with pytest.raises(pymysql.err.OperationalError) as caught:
            await running
        assert caught.value.args[0] in (1927, 2013), caught.value.args
        await _until(lambda: _running(env, marker) == 0, within=5)  # minutes, left alone
        # In the trail from the session's end, not from the next start's journal replay.
        audited = await env.reviews.audit()
        [record] = [e.details for e in audited if marker in e.details["statement"]]
        assert (record["outcome"], record["verdict"]) == ("unknown", "allow")
    finally:
        busy.close()
