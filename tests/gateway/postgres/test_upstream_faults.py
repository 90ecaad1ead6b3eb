"""A misbehaving upstream ends one session cleanly and the gateway keeps serving: malformed
SCRAM, a SCRAM iteration count meant to stall the gateway, ErrorResponses missing fields."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.postgres import wire as pg
from tests.gateway.postgres.fakeupstream import (
    Peer,
    fake_upstream,
    login_ok,
    scram_garbage,
    scram_iterations,
)
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Query text -> the ErrorResponse fields the fake upstream answers it with.
ERRORS: dict[str, dict[str, str]] = {
    "SELECT 1": {},
    "SELECT 2": {"M": "a message and nothing else"},
    "SELECT 3": {"C": "XX000"},
    "SELECT 4": {"S": "ERROR", "V": "ERROR"},
    "SELECT 6": {"S": "ERROR", "C": "\udcff\udcfe000", "M": "not UTF-8: \udce9"},
}


async def missing_fields(peer: Peer) -> None:
    """Log in, then answer queries with ErrorResponses that lack the usual fields."""
    await login_ok(peer)
    while (message := await peer.read()) is not None:
        if isinstance(message, pg.Terminate):
            return
        if isinstance(message, pg.Query):
            fields = ERRORS.get(message.text)
            if fields is None:
                peer.send(pg.EmptyQueryResponse())
            else:
                peer.send(pg.ErrorResponse(fields))
            peer.send(pg.ReadyForQuery("I"))


async def refuse_empty(peer: Peer) -> None:
    """Refuse the login with an ErrorResponse that has no fields at all."""
    peer.send_raw(b"E\x00\x00\x00\x05\x00")
    await peer.until_closed()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    scripts = {
        "pg-scram-garbage": scram_garbage,
        "pg-scram-slow": scram_iterations,
        "pg-fields": missing_fields,
        "pg-refuse": refuse_empty,
    }
    async with contextlib.AsyncExitStack() as stack:
        connections = []
        for name, script in scripts.items():
            port = await stack.enter_async_context(fake_upstream(script))
            connections.append({"name": name, "upstream": f"127.0.0.1:{port}"})
        directory = tmp_path_factory.mktemp("faults")
        env = await stack.enter_async_context(gateway_env(directory, connections=connections))
        yield env


async def _login_error(env: Env, connection: str) -> pg.ErrorResponse:
    client = await RawClient.connect(env.port)
    messages = await client.login(env.token, database=connection)
    assert await client.closed()
    error = messages[-1]
    assert isinstance(error, pg.ErrorResponse), messages
    return error


async def _serving(env: Env) -> None:
    code, out, err = await env.psql("SELECT 'serving'")
    assert (code, out.strip()) == (0, "serving"), err


async def test_malformed_scram(env: Env) -> None:
    """A server-first-message that is not SCRAM ends that session with FATAL; others go on."""
    error = await _login_error(env, "pg-scram-garbage")
    assert error.severity == "FATAL" and error.sqlstate == "08004"
    await _serving(env)


async def test_scram_iteration_bomb(env: Env) -> None:
    """Nine million PBKDF2 iterations are refused at once; the gateway never stalls."""
    started = time.perf_counter()
    waiting = asyncio.create_task(_login_error(env, "pg-scram-slow"))
    await asyncio.sleep(0.05)
    await _serving(env)  # runs while the bad login is being handled
    assert time.perf_counter() - started < 1.5
    error = await waiting
    assert error.sqlstate == "08004" and "SCRAM iterations" in (error.message or "")


async def test_login_error_without_fields(env: Env) -> None:
    """An upstream ErrorResponse with no fields during login: a FATAL with our SQLSTATE."""
    error = await _login_error(env, "pg-refuse")
    assert error.severity == "FATAL" and error.sqlstate == "08004"
    await _serving(env)


async def test_error_without_fields_is_relayed(env: Env) -> None:
    """ErrorResponses missing SQLSTATE, message or severity are relayed as they came, and the
    session goes on."""
    client = await RawClient.connect(env.port)
    await client.login(env.token, database="pg-fields")
    for text, fields in ERRORS.items():
        client.send(pg.Query(text))
        messages = await client.until_ready()
        errors = [m for m in messages if isinstance(m, pg.ErrorResponse)]
        assert [e.fields for e in errors] == [fields], messages
    client.send(pg.Query("SELECT 5"))
    assert _names(await client.until_ready()) == ["EmptyQueryResponse", "ReadyForQuery"]
    client.send(pg.Terminate())
    assert await client.closed()
    await _serving(env)


def _names(messages: list[pg.BackendMessage]) -> list[str]:
    return [type(m).__name__ for m in messages]


async def test_an_error_that_is_not_utf8_is_audited_readable(env: Env) -> None:
    """An upstream SQLSTATE that is not UTF-8 reaches the audit trail with U+FFFD, and the
    statements recorded with it are kept: the store would refuse the whole batch as it came."""
    client = await RawClient.connect(env.port)
    await client.login(env.token, database="pg-fields")
    for text in ("SELECT 6", "SELECT 5"):
        client.send(pg.Query(text))
        await client.until_ready()
    client.send(pg.Terminate())
    assert await client.closed()
    async with asyncio.timeout(10):
        while True:
            found = [e.details for e in await env.audit() if e.connection == "pg-fields"]
            if any(d["statement"] == "SELECT 5" for d in found):
                break
    by_text = {d["statement"]: d for d in found}
    assert by_text["SELECT 6"]["sqlstate"] == "\ufffd\ufffd000"
    assert by_text["SELECT 6"]["outcome"] == "error"
    assert by_text["SELECT 5"]["outcome"] == "ok"
