"""Server-side cursors (MySQL "COM_STMT_EXECUTE" with CURSOR_TYPE_READ_ONLY, "COM_STMT_FETCH")
through the gateway to the real MariaDB, by a raw client built on the codec (PyMySQL, aiomysql
and asyncmy have no binary protocol; mysql-connector-python's prepared cursors execute without
a cursor type): rows come in batches, masked by the cursor's plan; a held statement with a
cursor is held; and the reply state table fed MariaDB's own bytes one byte at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.mysql import wire as my
from gateway.mysql.wire.binary import decode_row
from gateway.mysql.wire.prepared import StmtFetch, encode
from tests.gateway.mysql.support import CLIENT_CAPABILITIES, ROWS, MyEnv, RawClient, mysql_env

ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the async tests share env
MASKING = {"columns": ["ssn", "card_number"], "detectors": ["credit_card", "ssn", "email"]}
SECRETS = [value.encode() for row in ROWS for value in row[2:4] if value]
SELECT = "SELECT id, name, ssn, card_number FROM t ORDER BY id"
C = my.Capability
DEPRECATE = int(C.PROTOCOL_41 | C.DEPRECATE_EOF)
CLASSIC = int(C.PROTOCOL_41)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    plain = {"name": "my-plain"}
    tmp = tmp_path_factory.mktemp("mysql-cursors")
    async with mysql_env(tmp, masking=MASKING, connections=[plain]) as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: MyEnv) -> None:
    env.reset()


class Client:
    """A RawClient that prepares, executes with a cursor and fetches."""

    def __init__(self, raw: RawClient) -> None:
        self.raw = raw

    async def reply(self, expect: my.Expect) -> list[bytes]:
        tracker = my.ReplyTracker(CLIENT_CAPABILITIES)
        tracker.begin(expect)
        out = []
        while not tracker.idle:
            payload = (await self.raw.read(within=20)).payload
            tracker.feed(payload)
            out.append(payload)
        return out

    async def prepare(self, sql: str) -> bytes:
        """The statement id (its four bytes) the gateway handed out."""
        self.raw.send(b"\x16" + sql.encode())
        reply = await self.reply(my.Expect.PREPARE)
        assert reply[0][:1] == b"\x00", reply[0]
        return reply[0][1:5]

    async def execute(self, statement: bytes, flags: int = 1) -> list[bytes]:
        self.raw.send(b"\x17" + statement + bytes((flags,)) + b"\x01\x00\x00\x00")
        return await self.reply(my.Expect.CURSOR)

    async def fetch(self, statement: bytes, rows: int) -> list[bytes]:
        self.raw.send(encode(StmtFetch(int.from_bytes(statement, "little"), rows)))
        return await self.reply(my.Expect.FETCH)


@pytest_asyncio.fixture(loop_scope="module")
async def client(env: MyEnv) -> AsyncIterator[Client]:
    raw = await RawClient.connect(env.port)
    try:
        assert (await raw.login(env.token)).payload[:1] == b"\x00"
        yield Client(raw)
    finally:
        raw.close()


def _status(terminator: bytes) -> int:
    """The status of an EOF or of an OK with header 0xFE (both short here)."""
    return terminator[3] | terminator[4] << 8


def _specs(reply: list[bytes]) -> list[tuple[int, int]]:
    columns = [my.ColumnDefinition.decode(p) for p in reply[1:-1]]
    return [(c.column_type, c.flags) for c in columns]


@ON_MODULE_LOOP
async def test_fetches_come_in_batches_masked(env: MyEnv, client: Client) -> None:
    """EXECUTE opens a cursor (definitions, CURSOR_EXISTS, no rows); FETCH 2 gives two masked
    rows, the next gives the last with LAST_ROW_SENT; one more is 1421."""
    statement = await client.prepare(SELECT)
    reply = await client.execute(statement)
    assert len(reply) == 6 and _status(reply[-1]) & my.Status.CURSOR_EXISTS
    specs = _specs(reply)
    first = await client.fetch(statement, 2)
    assert len(first) == 3 and not _status(first[-1]) & my.Status.LAST_ROW_SENT
    second = await client.fetch(statement, 2)
    assert len(second) == 2 and _status(second[-1]) & my.Status.LAST_ROW_SENT
    rows = [decode_row(p, specs) for p in first[:-1] + second[:-1]]
    assert [(r[1]) for r in rows] == [row[1].encode() for row in ROWS]
    assert not [s for s in SECRETS if any(s in p for p in first + second)]
    assert rows[0][2] is not None and rows[2][2] is None  # masked, NULL stays NULL
    after = await client.fetch(statement, 2)
    assert after[0][:1] == b"\xff" and my.Err.decode(after[0]).code == 1421
    await asyncio.sleep(0.3)  # the refusal flushed the batch: the writer catches up
    ran = [e.details for e in await env.reviews.audit() if e.details["statement"] == SELECT]
    assert [(d["outcome"], d["rows"]) for d in ran[-4:]] == [
        ("ok", 0), ("ok", 2), ("ok", 1), ("block", 0)
    ]  # fmt: skip
    assert ran[-3]["masked"] and sum(ran[-3]["masked"].values()) == 4


@ON_MODULE_LOOP
async def test_unmasked_connection_relays_fetches(env: MyEnv) -> None:
    """On a connection without masking the cursor's rows come as the server sent them."""
    raw = await RawClient.connect(env.port)
    try:
        assert (await raw.login(env.token, database="my-plain")).payload[:1] == b"\x00"
        client = Client(raw)
        statement = await client.prepare(SELECT)
        specs = _specs(await client.execute(statement))
        rows = await client.fetch(statement, 10)
        assert _status(rows[-1]) & my.Status.LAST_ROW_SENT
        values = [decode_row(p, specs) for p in rows[:-1]]
        assert [v[2] for v in values] == [None if r[2] is None else r[2].encode() for r in ROWS]
    finally:
        raw.close()


@ON_MODULE_LOOP
async def test_reset_closes_the_cursor(client: Client) -> None:
    """COM_STMT_RESET closes the cursor: a FETCH after it is answered 1421."""
    statement = await client.prepare(SELECT)
    await client.execute(statement)
    assert len(await client.fetch(statement, 1)) == 2
    client.raw.send(b"\x1a" + statement)
    assert (await client.reply(my.Expect.SIMPLE))[0][:1] == b"\x00"
    after = await client.fetch(statement, 1)
    assert my.Err.decode(after[0]).code == 1421


@ON_MODULE_LOOP
async def test_other_cursor_types_and_unknown_ids_are_refused(client: Client) -> None:
    """A FOR_UPDATE cursor is 1235; a FETCH of an id the gateway never gave is 1243."""
    statement = await client.prepare(SELECT)
    refused = await client.execute(statement, flags=2)
    assert my.Err.decode(refused[0]).code == 1235
    unknown = await client.fetch(b"\x63\x00\x00\x00", 1)
    assert my.Err.decode(unknown[0]).code == 1243


@ON_MODULE_LOOP
async def test_held_statement_with_a_cursor_is_held(env: MyEnv, client: Client) -> None:
    """DELETE without WHERE executed with a cursor type waits for its review, then runs (an
    OK: the server opens no cursor for it)."""
    statement = await client.prepare("DELETE FROM t")
    running = asyncio.create_task(client.execute(statement))
    review = await env.reviews.pending_review("my-test")
    assert review.statement == "DELETE FROM t"
    assert env.count() == 3
    await env.reviews.decide(review.id, "approve", "ok")
    reply = await running
    assert reply[0][:1] == b"\x00" and env.count() == 0


# MariaDB's replies (captured from 10.x): SELECT seq, CONCAT(seq, 'x') FROM seq_1_to_5.
COLUMNS = [
    my.ColumnDefinition(b"db", b"s", b"s", b"seq", b"seq", 63, 20, 8).encode(),
    my.ColumnDefinition(b"db", b"", b"", b"c", b"", 45, 80, 253).encode(),
]
CURSOR_EOF = bytes.fromhex("fe00006200")  # CURSOR_EXISTS | AUTOCOMMIT | NO_INDEX_USED
CURSOR_OK = bytes.fromhex("fe000062000000")  # the same under DEPRECATE_EOF
ROW = bytes.fromhex("00000100000000000000023178")
MORE = {CLASSIC: bytes.fromhex("fe00004200"), DEPRECATE: bytes.fromhex("fe000042000000")}
LAST = {CLASSIC: bytes.fromhex("fe00008200"), DEPRECATE: bytes.fromhex("fe000082000000")}
In = my.Input
CASES = [
    (CLASSIC, my.Expect.CURSOR, [b"\x02", *COLUMNS, CURSOR_EOF], In.CURSOR_OPEN),
    (DEPRECATE, my.Expect.CURSOR, [b"\x02", *COLUMNS, CURSOR_OK], In.CURSOR_OPEN),
    (CLASSIC, my.Expect.CURSOR, [b"\x02", *COLUMNS, MORE[CLASSIC][:3] + b"\x02\x00", ROW,
                                 bytes.fromhex("fe00000200")], In.END),  # no cursor: rows
    (DEPRECATE, my.Expect.CURSOR, [b"\x02", *COLUMNS, ROW, bytes.fromhex("fe000002000000")],
     In.END),
    (CLASSIC, my.Expect.CURSOR, [bytes.fromhex("00010000020000")], In.OK),
    (CLASSIC, my.Expect.FETCH, [ROW, ROW, MORE[CLASSIC]], In.END),
    (DEPRECATE, my.Expect.FETCH, [ROW, ROW, MORE[DEPRECATE]], In.END),
    (CLASSIC, my.Expect.FETCH, [ROW, LAST[CLASSIC]], In.LAST_ROW),
    (DEPRECATE, my.Expect.FETCH, [LAST[DEPRECATE]], In.LAST_ROW),
    (DEPRECATE, my.Expect.FETCH, [my.Err(1421, "HY000", "no open cursor").encode()], In.ERR),
]  # fmt: skip


@pytest.mark.parametrize(("caps", "expect", "packets", "last"), CASES)
def test_cursor_replies_byte_at_a_time(
    caps: int, expect: my.Expect, packets: list[bytes], last: my.Input
) -> None:
    """Each reply, framed and fed one byte at a time, ends exactly at its last packet with
    the input it names (CURSOR_OPEN, END, LAST_ROW, OK, ERR)."""
    stream = b"".join(my.encode_packet(p, i + 1) for i, p in enumerate(packets))
    reader, tracker = my.PacketReader(), my.ReplyTracker(caps)
    tracker.begin(expect)
    events = []
    for byte in stream:
        assert not tracker.idle
        reader.receive_data(bytes((byte,)))
        while not isinstance(packet := reader.next_packet(), my.NeedData):
            events.append(tracker.feed(packet.payload))
    assert tracker.idle and events[-1] is last and len(events) == len(packets)


def test_a_row_where_the_cursor_eof_belongs_is_unexpected() -> None:
    """Without DEPRECATE_EOF a row straight after the definitions ends the session."""
    tracker = my.ReplyTracker(CLASSIC)
    tracker.begin(my.Expect.CURSOR)
    for packet in [b"\x02", *COLUMNS]:
        tracker.feed(packet)
    with pytest.raises(my.UnexpectedPacket):
        tracker.feed(ROW)


@ON_MODULE_LOOP
async def test_held_select_opens_its_cursor_once_approved(env: MyEnv, client: Client) -> None:
    """A held SELECT (SLEEP: review) with a cursor opens it once approved; its fetch is masked
    and recorded under the same review."""
    sql = "SELECT id, ssn, SLEEP(0) AS z FROM t ORDER BY id"
    statement = await client.prepare(sql)
    running = asyncio.create_task(client.execute(statement))
    review = await env.reviews.pending_review("my-test")
    assert review.statement == sql
    await env.reviews.decide(review.id, "approve", "ok")
    reply = await running
    assert _status(reply[-1]) & my.Status.CURSOR_EXISTS
    rows = await client.fetch(statement, 10)
    assert len(rows) == 4 and not [s for s in SECRETS if any(s in p for p in rows)]
    assert my.Err.decode((await client.fetch(statement, 1))[0]).code == 1421  # flushes
    await asyncio.sleep(0.3)
    ran = [e.details for e in await env.reviews.audit() if e.details["statement"] == sql]
    assert [(d["outcome"], d["rows"], d["review_id"]) for d in ran[-3:-1]] == [
        ("ok", 0, review.id), ("ok", 3, review.id)
    ]  # fmt: skip
