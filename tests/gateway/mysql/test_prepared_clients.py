"""The execute decoder against a real client's encoder: mysql-connector-python's prepared
cursor talks to MariaDB through a recording relay, and the COM_STMT_EXECUTE packets it sent
must decode to the values it was given (their text forms, as the approval binds them).

(PyMySQL, aiomysql and asyncmy have no binary protocol; the C extension's prepared statements
through the gateway are in test_clients.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator
from decimal import Decimal

import mysql.connector

from gateway.mysql.wire import Reader
from gateway.mysql.wire.prepared import COM_STMT_EXECUTE, decode_execute
from tests.conftest import MARIA_ADMIN

VALUES: list[Decimal | bytes | datetime.date | datetime.timedelta | float | str | None] = [
    42,
    -7,
    2**63 - 1,
    2.5,
    Decimal("12.345"),
    "ünïcødé ' \" \\",
    b"\x00\xff\xfe",
    None,
    datetime.datetime(2024, 1, 2, 3, 4, 5, 123456),
    datetime.date(2024, 2, 29),
    datetime.timedelta(hours=-12, minutes=-34, seconds=-56),
    True,
]

TEXTS: list[bytes | None] = [
    b"42",
    b"-7",
    b"9223372036854775807",
    b"2.5",
    b"12.345",
    "ünïcødé ' \" \\".encode(),
    b"\x00\xff\xfe",
    None,
    b"2024-01-02 03:04:05.123456",
    b"2024-02-29",
    b"-35:25:04",  # the connector sends timedelta(days=-1, seconds=41104) as -(1 day 11:25:04)
    b"1",
]


@contextlib.asynccontextmanager
async def _recording_relay(sent: bytearray) -> AsyncIterator[int]:
    """A TCP relay to MariaDB on a free port that records what the client sends."""
    host, _, port = MARIA_ADMIN.rpartition("@")[2].partition(":")

    async def pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bool
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if record:
                    sent.extend(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port or 3306))
        await asyncio.gather(pump(client_r, server_w, True), pump(server_r, client_w, False))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _run_client(port: int, database: str) -> list[tuple[object, ...]]:
    """mysql-connector-python (pure Python) runs one prepared SELECT twice: the server's own
    text of every bound value (CAST AS BINARY)."""
    user = MARIA_ADMIN.rpartition("@")[0] or "root"
    conn = mysql.connector.connect(
        host="127.0.0.1",
        port=port,
        user=user,
        password="",
        database=database,
        use_pure=True,
        ssl_disabled=True,
    )
    try:
        cursor = conn.cursor(prepared=True)
        sql = "SELECT " + ", ".join(["CAST(? AS BINARY)"] * len(VALUES))
        rows: list[tuple[object, ...]] = []
        for _ in range(2):
            cursor.execute(sql, VALUES)
            for row in cursor.fetchall():
                assert isinstance(row, tuple)
                rows.append(row)
        cursor.close()
    finally:
        conn.close()
    return rows


def _payloads(stream: bytes) -> list[bytes]:
    """The packet payloads of a byte stream (3-byte length, sequence id, payload)."""
    reader, payloads = Reader(stream), []
    while not reader.at_end():
        length = reader.uint(3)
        reader.uint(1)
        payloads.append(reader.fixed(length))
    return payloads


async def test_mysql_connector_executes_decode_to_their_values(maria_database: str) -> None:
    """mysql-connector's executes decode to the text MariaDB makes of each parameter."""
    sent = bytearray()
    async with _recording_relay(sent) as port:
        rows = await asyncio.to_thread(_run_client, port, maria_database)
    assert len(rows) == 2
    server_texts = [None if v is None else bytes(v) for v in rows[0]]  # type: ignore[call-overload]
    assert server_texts == TEXTS
    executes = [p for p in _payloads(bytes(sent)) if p[:1] == bytes((COM_STMT_EXECUTE,))]
    assert len(executes) == 2
    previous = None
    for payload in executes:
        execute = decode_execute(payload, num_params=len(VALUES), previous_types=previous)
        previous = [(p.type_code, p.flag) for p in execute.params]
        assert list(execute.param_texts()) == TEXTS
