"""The client matrix: each driver through Airlock, over TLS and, where the driver allows it,
in plaintext on loopback (docs/mysql.md, "Client flags")."""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomysql
import asyncmy
import mysql.connector
import pymysql
import pytest
import pytest_asyncio

from gateway.mysql import wire as my
from tests.gateway.mysql.support import CLIENT_CAPABILITIES, MyEnv, mysql_env
from tests.gateway.postgres.test_tls import self_signed

pytestmark = pytest.mark.asyncio(loop_scope="module")
SQL = "SELECT name FROM t ORDER BY id"
NAMES = ["alice", "bob", "carol"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tls_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[MyEnv, Path]]:
    directory = tmp_path_factory.mktemp("mysql-tls")
    cert, key = self_signed(directory)
    options = {"tls_cert": str(cert), "tls_key": str(key)}
    async with mysql_env(directory, listener_options=options) as env:
        yield env, cert


def _names(rows: Any) -> list[str]:
    return [row[0] for row in rows]


async def test_pymysql_over_tls(tls_env: tuple[MyEnv, Path]) -> None:
    """PyMySQL with ssl: caching_sha2_password full authentication sends the token in TLS."""
    env, cert = tls_env

    def run() -> tuple[bool, list[str]]:
        conn = env.connect(ssl={"ca": str(cert)})
        try:
            with conn.cursor() as cursor:
                cursor.execute(SQL)
                return isinstance(conn._sock, ssl.SSLSocket), _names(cursor.fetchall())  # type: ignore[attr-defined]
        finally:
            conn.close()

    assert await asyncio.to_thread(run) == (True, NAMES)


async def test_aiomysql(tls_env: tuple[MyEnv, Path]) -> None:
    """aiomysql in plaintext on loopback (switched to mysql_clear_password) and over TLS."""
    env, cert = tls_env
    context = ssl.create_default_context(cafile=str(cert))
    for tls in (None, context):
        conn = await aiomysql.connect(
            host="127.0.0.1", port=env.port, user="alice", password=env.token, db="my-test",
            ssl=tls,
        )  # fmt: skip
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(SQL)
                assert _names(await cursor.fetchall()) == NAMES
        finally:
            conn.close()


async def test_asyncmy(tls_env: tuple[MyEnv, Path]) -> None:
    """asyncmy in plaintext on loopback and over TLS."""
    env, cert = tls_env
    context = ssl.create_default_context(cafile=str(cert))
    for tls in (None, context):
        conn = await asyncmy.connect(
            host="127.0.0.1", port=env.port, user="alice", password=env.token,
            database="my-test", ssl=tls,
        )  # fmt: skip
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(SQL)
                assert _names(await cursor.fetchall()) == NAMES
        finally:
            await conn.ensure_closed()


async def test_mysql_connector_pure_over_tls(tls_env: tuple[MyEnv, Path]) -> None:
    """mysql-connector-python (pure Python) over TLS."""
    env, cert = tls_env

    def run() -> list[str]:
        conn = mysql.connector.connect(
            host="127.0.0.1", port=env.port, user="alice", password=env.token,
            database="my-test", ssl_ca=str(cert), use_pure=True,
        )  # fmt: skip
        try:
            cursor = conn.cursor()
            cursor.execute(SQL)
            return _names(cursor.fetchall())
        finally:
            conn.close()

    assert await asyncio.to_thread(run) == NAMES


async def test_mysql_connector_c_extension_over_tls(tls_env: tuple[MyEnv, Path]) -> None:
    """mysql-connector-python's C extension (libmysqlclient's protocol code) over TLS, in the
    text protocol and with a prepared statement (the binary protocol)."""
    env, cert = tls_env
    import _mysql_connector  # type: ignore[import-not-found]  # noqa: F401  (fails, never skips)

    def run() -> tuple[str, list[str], list[str]]:
        conn = mysql.connector.connect(
            host="127.0.0.1", port=env.port, user="alice", password=env.token,
            database="my-test", ssl_ca=str(cert), use_pure=False,
        )  # fmt: skip
        try:
            kind = type(conn).__name__
            cursor = conn.cursor()
            cursor.execute(SQL)
            text = _names(cursor.fetchall())
            prepared = conn.cursor(prepared=True)
            prepared.execute("SELECT name FROM t WHERE id >= ? ORDER BY id", (1,))
            binary = _names(prepared.fetchall())
            return kind, text, binary
        finally:
            conn.close()

    kind, text, binary = await asyncio.to_thread(run)
    assert kind == "CMySQLConnection"
    assert text == NAMES
    assert [str(name) for name in binary] == NAMES


async def test_mariadb_cli_over_tls(tls_env: tuple[MyEnv, Path]) -> None:
    """The mariadb CLI with --ssl-ca verifies the gateway's certificate and reads."""
    env, cert = tls_env
    code, out, err = await env.mariadb(SQL, args=["--ssl", f"--ssl-ca={cert}"])
    assert code == 0, err
    assert out.split() == NAMES


async def test_bytes_after_ssl_request_are_never_read(tls_env: tuple[MyEnv, Path]) -> None:
    """Bytes sent in clear behind an SSLRequest belong to the TLS handshake: a plaintext
    command smuggled there fails the handshake and is never run (the CVE-2021-23214 class)."""
    env, _ = tls_env
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    try:
        header = await reader.readexactly(4)
        await reader.readexactly(int.from_bytes(header[:3], "little"))
        ssl_request = struct.pack("<IIB", 0x000FA685 | 0x800, 1 << 24, 45) + b"\0" * 23
        smuggled = b"\x0a\x00\x00\x00\x03DELETE FROM t"
        writer.write(struct.pack("<I", len(ssl_request))[:3] + b"\x01" + ssl_request + smuggled)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(1024), 5)
        assert b"\x00\x00\x00\x02\x00" not in answer[:5]  # no OK packet
    finally:
        writer.close()
    assert env.count() == 3


async def test_pymysql_plaintext_token_needs_loopback_or_tls(tls_env: tuple[MyEnv, Path]) -> None:
    """On loopback in plaintext PyMySQL is switched to mysql_clear_password and reads."""
    env, _ = tls_env
    assert _names(await env.query(SQL)) == NAMES
    with pytest.raises(pymysql.err.OperationalError):
        await asyncio.to_thread(env.connect, password="")


async def test_bytes_in_clear_after_the_handshake_are_never_read(
    tls_env: tuple[MyEnv, Path],
) -> None:
    """After the TLS handshake the channel decrypts every byte it receives (the fast lane
    reads what it decrypted): a command written in clear on the socket of a logged-in TLS
    session fails decryption and ends the session; it is never run."""
    env, _ = tls_env
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    tls = context.wrap_bio(incoming, outgoing)

    async def tls_read() -> bytes:
        while True:
            try:
                return tls.read(65536)
            except ssl.SSLWantReadError:
                writer.write(outgoing.read())
                data = await asyncio.wait_for(reader.read(65536), 5)
                if not data:
                    return b""
                incoming.write(data)

    try:
        header = await reader.readexactly(4)
        greeting = my.Handshake.decode(
            await reader.readexactly(int.from_bytes(header[:3], "little"))
        )
        caps = my.Capability(CLIENT_CAPABILITIES & greeting.capabilities) | my.Capability.SSL
        ssl_request = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23
        writer.write(my.encode_packet(ssl_request, 1))
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                writer.write(outgoing.read())
                incoming.write(await asyncio.wait_for(reader.read(65536), 5))
        response = my.HandshakeResponse(
            caps, 1 << 24, 45, b"alice", env.token.encode(), b"my-test", b"mysql_clear_password"
        )
        tls.write(my.encode_packet(response.encode(), 2))
        ok = await tls_read()
        assert ok[4:5] == b"\x00", ok  # logged in, in TLS
        writer.write(my.encode_packet(b"\x03DELETE FROM t WHERE id = 1", 0))  # in clear
        await writer.drain()
        while await asyncio.wait_for(reader.read(65536), 5):
            pass  # an alert at most, then the gateway closes the connection
    finally:
        writer.close()
    assert env.count() == 3
