"""The MySQL fast lane (gateway.mysql.lane): what it takes, what it leaves to the general path,
and that either way the client and the audit trail see the same thing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import mysql.connector
import pytest
import pytest_asyncio

from gateway.mysql import lane as lane_module
from gateway.mysql import wire as my
from gateway.mysql.dialect import general_shape
from gateway.mysql.relay import Relay
from tests.gateway.mysql.support import MyEnv, RawClient, tls_mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")
MASKING = {"columns": ["ssn"], "detectors": ["credit_card", "email"]}
# Long enough to act while it runs (~0.3 s for 1,000 rows here; SLEEP is held by default).
SLOW = "SELECT SUM(a.seq * b.seq) FROM seq_1_to_3000 a, seq_1_to_{rows} b"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    masked = {"name": "my-masked", "masking": MASKING}
    directory = tmp_path_factory.mktemp("mysql-lane")
    async with tls_mysql_env(directory, connections=[masked]) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: MyEnv) -> None:
    env.reset()


@pytest.fixture
def relays(monkeypatch: pytest.MonkeyPatch) -> list[Relay]:
    """The relays of the sessions started from now on."""
    seen: list[Relay] = []
    init = Relay.__init__

    def spy(self: Relay, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        seen.append(self)

    monkeypatch.setattr(Relay, "__init__", spy)
    return seen


def taken(relays: list[Relay]) -> int:
    return sum(r.lane.taken for r in relays if r.lane is not None)


async def _client(env: MyEnv, connection: str = "my-test") -> RawClient:
    client = await RawClient.connect(env.port)
    answer = await client.login(env.token, connection)
    assert answer.payload[0] == 0x00, answer
    return client


def _rows(packets: list[my.Packet]) -> list[list[bytes | None]]:
    """The text rows of a one-column-set reply (column count, definitions, rows, end)."""
    count = packets[0].payload[0]
    return [my.decode_text_row(p.payload, count) for p in packets[1 + count : -1]]


async def _audited(env: MyEnv, needle: str, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        while True:
            found = [
                e.details for e in await env.reviews.audit() if needle in e.details["statement"]
            ]
            if len(found) >= count:
                return found


async def test_repeated_selects_take_the_lane_and_are_audited(
    env: MyEnv, relays: list[Relay]
) -> None:
    client = await _client(env)
    try:
        for ident, name in ((1, b"alice"), (2, b"bob"), (3, b"carol")):
            reply = await client.query(f"SELECT name FROM t WHERE id = {ident} /* lane-1 */")
            assert _rows(reply) == [[name]]
        assert taken(relays) == 3
    finally:
        client.close()
    records = await _audited(env, "lane-1", 3)
    assert [(r["outcome"], r["verdict"], r["rows"]) for r in records] == [("ok", "allow", 1)] * 3


async def test_a_text_without_literals_is_judged_once(
    env: MyEnv, relays: list[Relay], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text with no general shape (here: no literal) is kept by text, and the lane finds it
    there before it computes a shape, which for such a text means lexing it whole."""
    shaped: list[str] = []

    def counting(text: str, *args: Any) -> str | None:
        shaped.append(text)
        return general_shape(text, *args)

    monkeypatch.setattr(lane_module, "general_shape", counting)
    client = await _client(env)
    try:
        for _ in range(3):
            reply = await client.query("SELECT name FROM t ORDER BY id /* lane-plain */")
            assert _rows(reply) == [[b"alice"], [b"bob"], [b"carol"]]
        assert taken(relays) == 3
        assert len([t for t in shaped if "lane-plain" in t]) == 1
    finally:
        client.close()


async def test_a_refused_or_held_statement_never_takes_the_lane(
    env: MyEnv, relays: list[Relay]
) -> None:
    """A blocked text is refused by the general path (1227), a held one waits for its review;
    neither is the lane's, also after an allowed text of another shape was."""
    client = await _client(env)
    try:
        await client.query("SELECT name FROM t WHERE id = 1")
        reply = await client.query("SELECT LOAD_FILE('/etc/passwd')")
        assert reply[0].payload[0] == 0xFF
        assert int.from_bytes(reply[0].payload[1:3], "little") == 1227
        client.send(b"\x03DELETE FROM t")
        review = await env.reviews.pending_review("my-test")
        await env.reviews.decide(review.id, "deny", "not today")
        denied = await client.read()
        assert denied.payload[0] == 0xFF
        assert taken(relays) == 1
        assert env.count() == 3
    finally:
        client.close()


async def test_masked_results_are_the_same_through_the_lane(
    env: MyEnv, relays: list[Relay], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lane masks with the general path's own code: the same rows, the same tally."""
    sql = "SELECT id, ssn, email, CONCAT('x', ssn) FROM t ORDER BY id"
    answers = []
    for enabled in (True, False):
        monkeypatch.setattr(lane_module, "ENABLED", enabled)
        answer = await env.query(f"{sql} /* masked-{enabled} */", "my-masked", ssl_disabled=True)
        answers.append(answer)
    assert answers[0] == answers[1]
    assert "078-05-1121" not in repr(answers[0]) and "alice@example.com" not in repr(answers[0])
    assert taken(relays) == 1
    lane = await _audited(env, "masked-True", 1)
    general = await _audited(env, "masked-False", 1)
    assert lane[0]["masked"] == general[0]["masked"] and lane[0]["masked"]


async def test_clients_see_the_same_answers_either_way(
    env: MyEnv, relays: list[Relay], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows, an error, several results, prepared statements with binary rows: with the lane
    and without, the same answers byte for byte and the same records."""
    answers, records = [], []
    for enabled in (True, False):
        monkeypatch.setattr(lane_module, "ENABLED", enabled)
        before = taken(relays)
        answers.append(await _session(env, f"same-{enabled}"))
        if enabled:
            assert taken(relays) - before == 6  # 3 texts, 3 executes (not the prepare)
        else:
            assert taken(relays) == before
        found = await _audited(env, f"same-{enabled}", 6)  # the prepare is not a run
        records.append([(r["outcome"], r["verdict"], r["rows"], r.get("sqlstate")) for r in found])
    assert answers[0] == answers[1]
    assert records[0] == records[1]
    assert ("error", "allow", 0, "42S22") in records[0]


async def _session(env: MyEnv, tag: str) -> list[list[bytes]]:
    """A raw session's replies (payloads) to texts and to a prepared statement's executes."""
    client = await _client(env)
    out: list[list[bytes]] = []
    try:
        for sql in (
            f"SELECT id, name FROM t ORDER BY id /* {tag} */",
            f"SELECT nope FROM t /* {tag} */",
            f"SELECT 1 /* {tag} */; SELECT name FROM t WHERE id = 2",
        ):
            out.append([p.payload for p in await client.query(sql)])  # every result
        client.send(f"\x16SELECT id, name, ssn FROM t WHERE id = ? /* {tag} */".encode())
        prepared = await client.reply(my.Expect.PREPARE)
        statement = prepared[0].payload[1:5]
        for ident in (1, 2, 3):
            # EXECUTE: no cursor, 1 iteration, NULL bitmap, new types (LONG), the value
            value = ident.to_bytes(4, "little")
            client.send(b"\x17" + statement + b"\x00\x01\x00\x00\x00\x00\x01\x03\x00" + value)
            out.append([p.payload for p in await client.reply()])
    finally:
        client.close()
    return out


async def test_a_command_sent_behind_one_in_flight_waits_its_turn(
    env: MyEnv, relays: list[Relay]
) -> None:
    """A client that sends its next command before the answer: the lane holds it for the
    session's task, which answers it after the first, in order."""
    client = await _client(env)
    try:
        client.send(b"\x03" + SLOW.format(rows=1000).encode() + b" /* first */")
        await asyncio.sleep(0.05)
        client.send(b"\x03SELECT 'second'")
        first = await client.reply()
        second = await client.reply()
        assert _rows(first) == [[b"2253000750000"]] and _rows(second) == [[b"second"]]
        assert taken(relays) == 1  # the first; the second waited, then went the general way
    finally:
        client.close()


async def test_a_long_reply_waits_for_a_slow_client(env: MyEnv, relays: list[Relay]) -> None:
    """Megabytes through the lane to a client that does not read yet: the lane stops reading
    the server until the client takes what was sent, and every row arrives."""
    client = await _client(env)
    try:
        client.send(b"\x03SELECT seq, REPEAT('x', 100000) FROM seq_1_to_200")
        await asyncio.sleep(0.5)
        reply = await client.reply()
        rows = _rows(reply)
        assert len(rows) == 200 and all(len(r[1] or b"") == 100000 for r in rows)
        assert taken(relays) == 1
    finally:
        client.close()


async def test_the_upstream_gone_mid_reply_ends_that_session_only(
    env: MyEnv, relays: list[Relay]
) -> None:
    client = await _client(env)
    other = await _client(env)
    try:
        client.send(b"\x03" + SLOW.format(rows=30000).encode())
        await asyncio.sleep(0.3)
        relay = relays[0]
        assert relay.lane is not None and relay.lane.taken == 0  # in flight
        env.direct(f"KILL {relay.s.upstream_id}")
        answer = await client.read()
        assert answer.payload[0] == 0xFF
        assert int.from_bytes(answer.payload[1:3], "little") == 2013
        assert _rows(await other.query("SELECT 'still here'")) == [[b"still here"]]
    finally:
        client.close()
        other.close()


async def test_tls_sessions_take_the_lane_too(env: MyEnv, relays: list[Relay]) -> None:
    """The channel decrypts before the lane reads: a client in TLS (mysql-connector, which
    sends the token only inside TLS) is answered by the lane as one in clear."""

    def run() -> Any:
        conn = mysql.connector.connect(
            host="127.0.0.1", port=env.port, user="alice", password=env.token,
            database="my-test", use_pure=True, autocommit=True, ssl_ca=env.ca,
        )  # fmt: skip
        try:
            cursor = conn.cursor()
            found: list[Any] = []
            for ident in (1, 2):
                cursor.execute(f"SELECT name FROM t WHERE id = {ident}")
                found += cursor.fetchall()
            return found
        finally:
            conn.close()

    assert await asyncio.to_thread(run) == [("alice",), ("bob",)]
    assert [r.client.encrypted for r in relays] == [True]
    assert taken(relays) >= 2
