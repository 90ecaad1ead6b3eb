"""Proxy vulnerability regressions on the client side of the wire: bad lengths, refusals inside
pipelines (the client stays in sync after Sync), and start-ups that must be refused."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from approvals import ReviewState
from gateway.postgres import wire as pg
from tests.gateway.postgres.support import Env, RawClient, gateway_env, psql, startup_packet

pytestmark = pytest.mark.asyncio(loop_scope="module")
BLOCKED = "COPY t TO PROGRAM 'x'"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("wire")) as env:
        yield env


@pytest_asyncio.fixture(loop_scope="module")
async def client(env: Env) -> AsyncIterator[RawClient]:
    client = await RawClient.connect(env.port)
    messages = await client.login(env.token)
    assert isinstance(messages[-1], pg.ReadyForQuery), messages
    yield client
    client.close()


async def _serving(env: Env) -> None:
    code, out, err = await env.psql("SELECT 'serving'")
    assert (code, out.strip()) == (0, "serving"), err


def _kinds(messages: list[pg.BackendMessage]) -> list[str]:
    return [type(m).__name__ for m in messages]


@pytest.mark.parametrize(
    ("data", "sqlstate"),
    [
        (b"Q" + struct.pack("!i", -1), "08P01"),
        (b"Q" + struct.pack("!i", 2), "08P01"),
        (b"Q" + struct.pack("!i", 0x7FFF_FFFF), "54000"),
        (b"S" + struct.pack("!i", 100_000), "54000"),
        (b"z" + struct.pack("!i", 4), "08P01"),
    ],
)
async def test_bad_length_ends_one_session(
    env: Env, client: RawClient, data: bytes, sqlstate: str
) -> None:
    """A negative, too small or oversized length (or an unknown type) ends that session with
    an ErrorResponse; the gateway keeps serving others."""
    client.send_raw(data)
    error = await client.read()
    assert isinstance(error, pg.ErrorResponse), error
    assert (error.severity, error.sqlstate) == ("FATAL", sqlstate), error.fields
    assert await client.closed()
    await _serving(env)


@pytest.mark.parametrize(
    "packet",
    [
        struct.pack("!ii", 0x7FFF_FFFF, 196608),
        struct.pack("!ii", -8, 196608),
        struct.pack("!i", 3),
    ],
)
async def test_bad_startup_length(env: Env, packet: bytes) -> None:
    """A bad startup packet length is refused before anything is buffered."""
    client = await RawClient.connect(env.port)
    client.send_raw(packet)
    error = await client.read()
    assert isinstance(error, pg.ErrorResponse) and error.severity == "FATAL", error
    assert await client.closed()
    await _serving(env)


def _statement(i: int) -> str:
    return BLOCKED if i == 2 else f"SELECT {i}"


async def test_pipeline_sync_each(env: Env, client: RawClient) -> None:
    """Five pipelined statements, a Sync after each, the 2nd refused: the others' results all
    arrive, in order, and the next query works."""
    for i in range(1, 6):
        client.send(pg.Parse("", _statement(i)), pg.Bind("", ""), pg.Execute(""), pg.Sync())
    batches = [await client.until_ready() for _ in range(5)]
    errors = [m for m in batches[1] if isinstance(m, pg.ErrorResponse)]
    assert [e.sqlstate for e in errors] == ["42501"]
    for i in (1, 3, 4, 5):
        rows = [m.values for m in batches[i - 1] if isinstance(m, pg.DataRow)]
        assert rows == [(str(i).encode(),)], batches[i - 1]
    client.send(pg.Query("SELECT 42"))
    answer = await client.until_ready()
    assert [m.values for m in answer if isinstance(m, pg.DataRow)] == [(b"42",)]


async def test_pipeline_one_sync(client: RawClient) -> None:
    """Five statements and one Sync, the 2nd refused: the 1st completes, the rest are skipped
    up to Sync as a server would, and the session is back in sync."""
    for i in range(1, 6):
        client.send(pg.Parse("", _statement(i)), pg.Bind("", ""), pg.Execute(""))
    client.send(pg.Sync())
    messages = await client.until_ready()
    assert _kinds(messages) == [
        "ParseComplete",
        "BindComplete",
        "DataRow",
        "CommandComplete",
        "ErrorResponse",
        "ReadyForQuery",
    ]
    client.send(pg.Query("SELECT 7"))
    assert (await client.until_ready())[-1] == pg.ReadyForQuery("I")


async def test_pipeline_simple_queries(client: RawClient) -> None:
    """Five simple Query messages in one write, the 2nd refused: five answers, in order."""
    client.send(*(pg.Query(_statement(i)) for i in range(1, 6)))
    batches = [await client.until_ready() for _ in range(5)]
    assert [any(isinstance(m, pg.ErrorResponse) for m in b) for b in batches] == [
        False,
        True,
        False,
        False,
        False,
    ]
    assert [m.values for m in batches[4] if isinstance(m, pg.DataRow)] == [(b"5",)]


def _raw(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


async def test_text_that_is_not_utf8_is_refused(env: Env, client: RawClient) -> None:
    """A statement whose bytes are not UTF-8 (a LATIN1 'é') is refused as the server would
    (22021), simple and extended, without a review; it is recorded with U+FFFD and the session
    carries on."""
    client.send_raw(_raw(b"Q", b"SELECT 'caf\xe9'\x00"))
    simple = await client.until_ready()
    client.send_raw(_raw(b"P", b"\x00SELECT 'na\xefve'\x00\x00\x00"))
    client.send(pg.Bind("", ""), pg.Execute(""), pg.Sync())
    extended = await client.until_ready()
    for answer, shown in ((simple, "0xe9 0x27"), (extended, "0xef 0x76")):
        assert not any(isinstance(m, pg.NoticeResponse) for m in answer), answer
        errors = [m for m in answer if isinstance(m, pg.ErrorResponse)]
        assert [(e.sqlstate, e.message) for e in errors] == [
            ("22021", f'invalid byte sequence for encoding "UTF8": {shown}')
        ]
    client.send(pg.Query("SELECT 'café'"))
    assert [m.values for m in await client.until_ready() if isinstance(m, pg.DataRow)] == [
        ("café".encode(),)
    ]
    recorded = {e.details["statement"]: e for e in await env.audit()}
    for text in ("SELECT 'caf\ufffd'", "SELECT 'na\ufffdve'"):
        event = recorded[text]
        assert (event.outcome, event.details["rule"]) == ("block", "protocol/utf8")


async def test_pipeline_held_then_denied(env: Env, client: RawClient) -> None:
    """A held 2nd statement in a pipeline: the 1st answers while it waits, the rest are
    buffered; after the denial they run, in order."""
    await env.reset()
    texts = ["SELECT 1", "DELETE FROM t", "SELECT 3", "SELECT count(*) FROM t", "SELECT 5"]
    for text in texts:
        client.send(pg.Parse("", text), pg.Bind("", ""), pg.Execute(""), pg.Sync())
    first = await client.until_ready()
    assert [m.values for m in first if isinstance(m, pg.DataRow)] == [(b"1",)]
    review = await env.pending_review()
    await env.decide(review.id, "deny", "pipelines too")
    batches = [await client.until_ready() for _ in range(4)]
    notice_and_error = [m for m in batches[0] if isinstance(m, pg.ErrorResponse)]
    assert notice_and_error[0].message == "denied by bob@example.com: pipelines too"
    assert [m.values for m in batches[2] if isinstance(m, pg.DataRow)] == [(b"3",)]
    assert (await env.review(review.id)).state is ReviewState.DENIED


async def test_wrong_token(env: Env) -> None:
    """A wrong token is refused with 28P01."""
    client = await RawClient.connect(env.port)
    messages = await client.login("not-a-token")
    assert isinstance(messages[-1], pg.ErrorResponse) and messages[-1].sqlstate == "28P01"
    code, _, err = await psql(env.port, "not-a-token", "SELECT 1")
    assert code == 2 and "password authentication failed" in err


async def test_unknown_connection(env: Env) -> None:
    """An unknown connection name is refused with 3D000 before any password is asked."""
    client = await RawClient.connect(env.port)
    [error] = await client.login(env.token, database="pg-nope")
    assert isinstance(error, pg.ErrorResponse) and error.sqlstate == "3D000"
    assert "pg-nope" in (error.message or "")


@pytest.mark.parametrize(
    "params",
    [
        {"options": "-c search_path=evil"},
        {"options": "--search_path=evil"},
        {"replication": "database"},
        {"replication": "true"},
    ],
)
async def test_startup_parameters_refused(env: Env, params: dict[str, str]) -> None:
    """Startup options and replication connections are refused (0A000)."""
    client = await RawClient.connect(env.port)
    client.send_raw(startup_packet({"user": "alice", "database": "pg-test", **params}))
    error = await client.read()
    assert isinstance(error, pg.ErrorResponse) and error.sqlstate == "0A000", error


async def test_psql_options_refused(env: Env) -> None:
    """psql with PGOPTIONS set is refused with a message saying why."""
    code, _, err = await psql(env.port, env.token, "SELECT 1", env={"PGOPTIONS": "-c role=x"})
    assert code == 2 and "startup options are not allowed" in err


async def test_cancel_with_wrong_key_is_ignored(env: Env, client: RawClient) -> None:
    """A CancelRequest with a wrong secret cancels nothing."""
    assert client.key is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    writer.write(pg.encode(pg.CancelRequest(client.key.process_id, client.key.secret_key ^ 1)))
    client.send(pg.Query("SELECT count(*) FROM generate_series(1, 2000000)"))
    await reader.read()
    writer.close()
    messages = await client.until_ready()
    assert not any(isinstance(m, pg.ErrorResponse) for m in messages)
