"""A minimal, test-only MySQL client over a raw asyncio socket: packets, a HandshakeV10 login
(mysql_native_password, or any plugin through an ``auth`` callback), COM_QUERY text rows and
the prepared-statement round trips. It exists so that the binary codec and the ed25519 signer
are checked against the real MariaDB byte for byte; the gateway's own handshake codec is
colleague A's (gateway/mysql/wire), not this."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from gateway.mysql.wire import Reader, write_int
from tests.conftest import MARIA_ADMIN

__all__ = ["Column", "RawMySQL", "ServerError", "native_password"]

# Capability flags (MySQL "Capabilities Flags").
LONG_PASSWORD = 0x1
CONNECT_WITH_DB = 0x8
PROTOCOL_41 = 0x200
TRANSACTIONS = 0x2000
SECURE_CONNECTION = 0x8000
MULTI_RESULTS = 0x20000
PLUGIN_AUTH = 0x80000
PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000
CLIENT_CAPS = (
    LONG_PASSWORD
    | PROTOCOL_41
    | TRANSACTIONS
    | SECURE_CONNECTION
    | MULTI_RESULTS
    | PLUGIN_AUTH
    | PLUGIN_AUTH_LENENC_CLIENT_DATA
)
UTF8MB4_GENERAL_CI = 45


class ServerError(Exception):
    """An ERR packet: the server's error number and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Column:
    """The parts of a ColumnDefinition41 the tests use."""

    name: bytes
    type_code: int
    flags: int
    decimals: int


def native_password(password: bytes, scramble: bytes) -> bytes:
    """mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(hashlib.sha1(stage1).digest()).digest()
    mix = hashlib.sha1(scramble[:20] + stage2).digest()
    return bytes(a ^ b for a, b in zip(stage1, mix, strict=True))


def _parse_column(payload: bytes) -> Column:
    reader = Reader(payload)
    for _ in range(4):  # catalog, schema, table, org_table
        reader.lenenc_bytes()
    name = reader.lenenc_bytes() or b""
    reader.lenenc_bytes()  # org_name
    reader.lenenc_int()  # length of the fixed fields (0x0c)
    reader.uint(2)  # character set
    reader.uint(4)  # column length
    type_code, flags, decimals = reader.uint(1), reader.uint(2), reader.uint(1)
    return Column(name, type_code, flags, decimals)


def _is_eof(payload: bytes) -> bool:
    return payload[:1] == b"\xfe" and len(payload) < 9


def _raise_err(payload: bytes) -> None:
    if payload[:1] == b"\xff":
        code = int.from_bytes(payload[1:3], "little")
        raise ServerError(code, payload[9:].decode(errors="replace"))


class RawMySQL:
    """One connection; every command starts a new sequence at 0."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.seq = reader, writer, 0

    @classmethod
    async def connect(
        cls,
        user: str,
        password: bytes,
        database: str | None = None,
        auth: Callable[[str, bytes], bytes] | None = None,
        mariadb_caps: int = 0,
    ) -> RawMySQL:
        """Log in to the test MariaDB as ``user``; ``auth(plugin, scramble)`` answers a plugin
        (default: mysql_native_password with ``password``); ``mariadb_caps`` are MariaDB's
        extended capabilities (bit 2: MARIADB_CLIENT_STMT_BULK_OPERATIONS)."""
        host, _, port = MARIA_ADMIN.rpartition("@")[2].partition(":")
        reader, writer = await asyncio.open_connection(host, int(port or 3306))
        conn = cls(reader, writer)
        await conn._login(user, password, database, auth, mariadb_caps)
        return conn

    async def _login(
        self,
        user: str,
        password: bytes,
        database: str | None,
        auth: Callable[[str, bytes], bytes] | None,
        mariadb_caps: int,
    ) -> None:
        def answer(plugin: str, scramble: bytes) -> bytes:
            if auth is not None:
                return auth(plugin, scramble)
            assert plugin == "mysql_native_password", plugin
            return native_password(password, scramble)

        hello = Reader(await self.read())
        assert hello.uint(1) == 10
        hello.nul_bytes()  # server version
        hello.uint(4)  # connection id
        scramble = hello.fixed(8)
        hello.fixed(1)
        hello.uint(2 + 1 + 2 + 2)  # capabilities, charset, status, capabilities (upper)
        length = hello.uint(1)
        hello.fixed(10)
        scramble += hello.fixed(max(13, length - 8))[:-1]
        plugin = hello.nul_bytes().decode()
        caps = CLIENT_CAPS | (CONNECT_WITH_DB if database else 0)
        if mariadb_caps:  # bit 0 clear says "a MariaDB client": the filler's last 4 bytes count
            caps &= ~LONG_PASSWORD
        response = answer(plugin, scramble)
        payload = write_int(caps, 4) + write_int(1 << 24, 4) + bytes((UTF8MB4_GENERAL_CI,))
        payload += (
            bytes(19)
            + write_int(mariadb_caps, 4)
            + user.encode()
            + b"\0"
            + bytes((len(response),))
            + response
        )
        if database:
            payload += database.encode() + b"\0"
        payload += plugin.encode() + b"\0"
        await self.write(payload)
        reply = await self.read()
        while reply[:1] == b"\xfe":  # AuthSwitchRequest: plugin name, then its data
            switch = Reader(reply[1:])
            name = switch.nul_bytes().decode()
            await self.write(answer(name, switch.rest()))
            reply = await self.read()
        _raise_err(reply)
        assert reply[:1] == b"\x00", reply

    async def read(self) -> bytes:
        """One packet's payload (no 16 MB continuation: the tests stay far below)."""
        header = await self.reader.readexactly(4)
        self.seq = header[3] + 1
        return await self.reader.readexactly(int.from_bytes(header[:3], "little"))

    async def write(self, payload: bytes) -> None:
        """One packet with the next sequence id."""
        self.writer.write(len(payload).to_bytes(3, "little") + bytes((self.seq & 0xFF,)) + payload)
        self.seq += 1
        await self.writer.drain()

    async def command(self, payload: bytes) -> None:
        """Start a command (sequence id 0)."""
        self.seq = 0
        await self.write(payload)

    async def columns(self, count: int) -> list[Column]:
        """``count`` column definitions and their EOF."""
        columns = [_parse_column(await self.read()) for _ in range(count)]
        assert _is_eof(await self.read())
        return columns

    async def result(self) -> tuple[list[Column], list[bytes]]:
        """A command's reply: its columns and row payloads ([], [] for an OK)."""
        first = await self.read()
        _raise_err(first)
        if first[:1] == b"\x00":
            return [], []
        count = Reader(first).lenenc_int()
        assert count is not None
        columns = await self.columns(count)
        rows = []
        while not _is_eof(row := await self.read()):
            _raise_err(row)
            rows.append(row)
        return columns, rows

    async def query(self, sql: str) -> tuple[list[Column], list[list[bytes | None]]]:
        """COM_QUERY: the columns and the text rows (None for NULL)."""
        await self.command(b"\x03" + sql.encode())
        columns, payloads = await self.result()
        rows = []
        for payload in payloads:
            reader = Reader(payload)
            rows.append([reader.lenenc_bytes() for _ in columns])
        return columns, rows

    async def prepare(self, sql: str) -> tuple[bytes, list[Column]]:
        """COM_STMT_PREPARE: the PREPARE_OK payload and the result columns."""
        await self.command(b"\x16" + sql.encode())
        ok = await self.read()
        _raise_err(ok)
        params, columns = int.from_bytes(ok[7:9], "little"), int.from_bytes(ok[5:7], "little")
        if params:
            await self.columns(params)
        return ok, (await self.columns(columns) if columns else [])

    async def close(self) -> None:
        """COM_QUIT and close the socket."""
        await self.command(b"\x01")
        self.writer.close()
        await self.writer.wait_closed()
