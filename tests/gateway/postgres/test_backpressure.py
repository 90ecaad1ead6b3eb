"""Back-pressure: a client that does not read its results makes the gateway stop reading the
upstream once the client's unsent output passes the relay's high-water mark, so a session's
buffers stay bounded whatever the result's size; once the client reads, every byte arrives."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import AsyncIterator
from typing import cast

import pytest
import pytest_asyncio

from gateway.postgres import wire as pg
from gateway.postgres.lifecycle import SessionPhase
from gateway.postgres.relay import HIGH_WATER, MAX_IN_FLIGHT, Relay
from tests.gateway.postgres.support import Env, RawClient, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROWS, WIDTH = 40_000, 1000  # a 40 MB result, ten times the high-water mark


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("backpressure")) as env:
        yield env


def the_relay() -> Relay:
    """The one session relaying now (ended ones of earlier tests may not be collected yet)."""
    gc.collect()
    [relay] = [
        o for o in gc.get_objects() if type(o) is Relay and o.s.phase is not SessionPhase.CLOSED
    ]
    return relay


async def test_a_client_that_does_not_read_stops_the_upstream(env: Env) -> None:
    """While the client reads nothing, the gateway holds at most about the high-water mark for
    it and stops reading the server; then the whole result arrives."""
    client = await RawClient.connect(env.port)
    sock = cast(socket.socket, client.writer.get_extra_info("socket"))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    assert isinstance((await client.login(env.token))[-1], pg.ReadyForQuery)
    client.send(pg.Query(f"SELECT repeat('x', {WIDTH}) FROM generate_series(1, {ROWS})"))
    # Stop reading: the StreamReader's own buffer fills, then it pauses the socket.
    client.reader._limit = 64 * 1024  # type: ignore[attr-defined]
    await asyncio.sleep(1.5)
    relay = the_relay()
    to_client = relay._to_client
    to_server = relay._to_server
    buffered = to_client.get_write_buffer_size()
    assert HIGH_WATER <= buffered <= HIGH_WATER + 1024 * 1024, buffered
    assert not relay.upstream.writer.transport.is_reading()  # type: ignore[attr-defined]
    await asyncio.sleep(0.5)
    assert to_client.get_write_buffer_size() == buffered  # nothing more was taken upstream
    assert to_server.get_write_buffer_size() == 0
    rows = 0
    async with asyncio.timeout(60):
        while True:
            message = await client.read()
            if isinstance(message, pg.DataRow):
                rows += 1
            elif isinstance(message, pg.ReadyForQuery):
                break
            else:
                assert isinstance(message, pg.RowDescription | pg.CommandComplete), message
    assert rows == ROWS
    client.send(pg.Terminate())
    assert await client.closed()


async def test_a_client_that_sends_without_reading_is_stopped(env: Env) -> None:
    """A client pipelining statements from its login on without reading any answer is
    stopped: the gateway stops reading it with at most MAX_IN_FLIGHT requests awaiting their
    answers and about the high-water mark unsent each way; once it reads, every answer arrives,
    in order."""
    client = await RawClient.connect(env.port)
    client.reader._limit = 64 * 1024  # type: ignore[attr-defined]
    # The statements follow the password at once: they reach the gateway before the relay
    # starts (its stream pauses reading past 128 KiB, which the relay must take over).
    client.send(pg.StartupMessage({"user": "alice", "database": "pg-test"}))
    assert isinstance(await client.read(), pg.AuthenticationCleartextPassword)
    client.send(pg.PasswordMessage(env.token))
    sent = 3 * MAX_IN_FLIGHT  # their answers (2 kB each) are 15 times the high-water mark
    query = pg.encode(pg.Query("SELECT repeat('y', 2000)"))
    client.send_raw(query * sent)
    await asyncio.sleep(1.5)
    relay = the_relay()
    assert not relay.writer.transport.is_reading()  # type: ignore[attr-defined]
    assert relay.not_reading, relay.not_reading
    # The check follows each read: one read (256 KiB at most) may pass the mark.
    assert MAX_IN_FLIGHT <= len(relay.s.tracker.queue) <= MAX_IN_FLIGHT + 256 * 1024 // len(query)
    assert relay._to_client.get_write_buffer_size() <= HIGH_WATER + 1024 * 1024
    assert relay._to_server.get_write_buffer_size() <= HIGH_WATER + 1024 * 1024
    answers = 0
    async with asyncio.timeout(120):
        while answers < sent:
            message = await client.read()
            if isinstance(message, pg.ReadyForQuery):
                answers += 1
            elif isinstance(message, pg.ErrorResponse):
                raise AssertionError(message)
    assert not relay.not_reading
    client.send(pg.Terminate())
    assert await client.closed()
