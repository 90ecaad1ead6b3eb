"""Support for the MySQL listener's end-to-end tests: a fresh MariaDB database with its own
upstream user, a gateway in front of it (tests.harness), clients as the tests drive them, and
the review and audit helpers the PostgreSQL tests use (tests.gateway.postgres.support.Env)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from gateway.mysql import wire as my
from tests.conftest import fresh_maria_database, maria_admin
from tests.gateway.postgres.support import Env
from tests.harness import RawStream, RunningGateway, finish, free_port, running_gateway

__all__ = [
    "CLIENT_CAPABILITIES",
    "ROWS",
    "MyEnv",
    "RawClient",
    "maria_target",
    "mariadb",
    "mysql_env",
    "tls_mysql_env",
]  # fmt: skip

PASSWORD_ENV = "AIRLOCK_TEST_MY_PASSWORD"
C = my.Capability
CLIENT_CAPABILITIES = (
    C.LONG_PASSWORD | C.PROTOCOL_41 | C.SECURE_CONNECTION | C.PLUGIN_AUTH | C.CONNECT_WITH_DB
    | C.MULTI_STATEMENTS | C.MULTI_RESULTS | C.DEPRECATE_EOF | C.TRANSACTIONS
    | C.PLUGIN_AUTH_LENENC_CLIENT_DATA
)  # fmt: skip
ROWS = (
    (1, "alice", "078-05-1121", "4111111111111111", "alice@example.com"),
    (2, "bob", "219-09-9998", "5500005555555559", "bob@example.com"),
    (3, "carol", None, None, "carol@example.com"),
)


def my_connection(
    database: str, user: str, name: str = "my-test", **overrides: Any
) -> dict[str, Any]:
    conn: dict[str, Any] = {
        "name": name,
        "type": "mysql",
        "upstream": "127.0.0.1:3306",
        "database": database,
        "username": user,
        "password_env": PASSWORD_ENV,
        "access": "standing",
        "allow_groups": ["eng"],
        "approvers": {"groups": ["dba"], "quorum": 1},
        "review_timeout": "30s",
    }
    conn.update(overrides)
    return conn


@dataclass
class MyEnv:
    """One gateway in front of one fresh MariaDB database; ``reviews`` decides and reads the
    audit as the PostgreSQL tests do."""

    gw: RunningGateway
    port: int
    database: str
    user: str
    password: str
    reviews: Env
    ca: str = ""  # the listener's certificate, when it has TLS

    @property
    def token(self) -> str:
        return self.gw.token("alice@example.com", ["eng"])

    def connect(self, connection: str = "my-test", **kwargs: Any) -> pymysql.Connection[Any]:
        """A PyMySQL connection through the gateway (blocking: run it in a thread)."""
        options: dict[str, Any] = {
            "host": "127.0.0.1", "port": self.port, "user": "alice", "password": self.token,
            "database": connection, "connect_timeout": 10, "read_timeout": 60, "autocommit": True,
        }  # fmt: skip
        options.update(kwargs)
        return pymysql.connect(**options)

    async def query(self, sql: str, connection: str = "my-test", **kwargs: Any) -> Any:
        """Run ``sql`` through the gateway in a fresh PyMySQL connection; its rows."""

        def run() -> Any:
            conn = self.connect(connection, **kwargs)
            try:
                with conn.cursor() as cursor:
                    cursor.execute(sql)
                    return cursor.fetchall()
            finally:
                conn.close()

        return await asyncio.to_thread(run)

    def direct(self, sql: str) -> Any:
        """Run ``sql`` on the upstream database directly (not through the gateway)."""
        conn = pymysql.connect(
            host="127.0.0.1", port=3306, user=self.user, password=self.password,
            database=self.database, autocommit=True,
        )  # fmt: skip
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            conn.close()

    def reset(self) -> None:
        """Table t holds ROWS again (directly upstream)."""
        conn = pymysql.connect(
            host="127.0.0.1", port=3306, user=self.user, password=self.password,
            database=self.database, autocommit=True,
        )  # fmt: skip
        try:
            with conn.cursor() as cursor:
                cursor.execute("DELETE FROM t")
                cursor.executemany("INSERT INTO t VALUES (%s, %s, %s, %s, %s)", ROWS)
        finally:
            conn.close()

    def count(self) -> int:
        return int(self.direct("SELECT count(*) FROM t")[0][0])

    async def mariadb(self, sql: str, **kwargs: Any) -> tuple[int, str, str]:
        return await mariadb(self.port, self.token, sql, **kwargs)


def _create_user(database: str) -> tuple[str, str]:
    user, password = f"airlock_{secrets.token_hex(4)}", f"pw-{secrets.token_hex(8)}"
    admin = maria_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password "
                f"USING PASSWORD('{password}')"
            )
            cursor.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'127.0.0.1'")
            cursor.execute(f"GRANT PROCESS ON *.* TO '{user}'@'127.0.0.1'")
            cursor.execute(
                f"CREATE TABLE `{database}`.t (id INT PRIMARY KEY, name VARCHAR(40), "
                "ssn VARCHAR(20), card_number VARCHAR(20), email VARCHAR(80))"
            )
            cursor.executemany(f"INSERT INTO `{database}`.t VALUES (%s, %s, %s, %s, %s)", ROWS)
        admin.commit()
    finally:
        admin.close()
    return user, password


def _drop_user(user: str) -> None:
    admin = maria_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
    finally:
        admin.close()


@contextlib.contextmanager
def maria_target() -> Iterator[tuple[str, str, str]]:
    """A fresh MariaDB database with table t (ROWS) and its own user: (database, user, pw)."""
    with fresh_maria_database() as database:
        user, password = _create_user(database)
        try:
            yield database, user, password
        finally:
            _drop_user(user)


async def wait_listening(port: int) -> None:
    for _ in range(250):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise RuntimeError("the MySQL listener did not start")


@contextlib.asynccontextmanager
async def mysql_env(
    tmp_path: Path,
    *,
    listener_options: Mapping[str, Any] | None = None,
    connections: Sequence[Mapping[str, Any]] = (),
    gateway_options: Mapping[str, Any] | None = None,
    store_url: str | None = None,
    **overrides: Any,
) -> AsyncIterator[MyEnv]:
    """A fresh MariaDB database with table t and its own user, and a gateway whose connection
    my-test points at it (``overrides`` go to that connection)."""
    with maria_target() as (database, user, password):
        port = free_port()
        conns = [my_connection(database, user, **overrides)]
        conns += [{**my_connection(database, user), **c} for c in connections]
        options = {"mysql": f"127.0.0.1:{port}", **(listener_options or {})}
        async with running_gateway(
            tmp_path,
            connections=conns,
            listener_options=options,
            monkeypatch_env={PASSWORD_ENV: password},
            gateway_options=gateway_options,
            store_url=store_url,
        ) as gw:
            await wait_listening(port)
            yield MyEnv(gw, port, database, user, password, Env(gw, database, ""))


@contextlib.asynccontextmanager
async def tls_mysql_env(directory: Path, **kwargs: Any) -> AsyncIterator[MyEnv]:
    """``mysql_env`` whose listener has TLS (a self-signed certificate, in ``env.ca``)."""
    from tests.gateway.postgres.test_tls import self_signed

    cert, key = self_signed(directory)
    options = {"tls_cert": str(cert), "tls_key": str(key)}
    async with mysql_env(directory, listener_options=options, **kwargs) as env:
        env.ca = str(cert)
        yield env


async def mariadb(
    port: int,
    token: str,
    sql: str,
    *,
    database: str = "my-test",
    args: Sequence[str] = (),
    within: float = 30,
) -> tuple[int, str, str]:
    """Run the mariadb CLI against the gateway: ``-e sql``; (code, stdout, stderr)."""
    command = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(port), "-u", "alice"]
    command += [f"-p{token}", "--batch", "--skip-column-names", *args, "-e", sql, database]
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=dict(os.environ),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return await finish(proc, within=within)


class RawClient(RawStream):
    """A protocol client over a plain socket that can send anything, valid or not."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.packets = my.PacketReader()
        self.greeting: my.Handshake | None = None

    async def login(self, token: str, database: str = "my-test", charset: int = 45) -> my.Packet:
        """The greeting, a HandshakeResponse41 with mysql_clear_password and the token; the
        gateway's answer (OK or ERR)."""
        self.greeting = my.Handshake.decode((await self.read()).payload)
        caps = my.Capability(CLIENT_CAPABILITIES & self.greeting.capabilities & ~my.Capability.SSL)
        response = my.HandshakeResponse(
            caps, 1 << 24, charset, b"alice", token.encode(), database.encode(),
            b"mysql_clear_password",
        )  # fmt: skip
        self.send(response.encode(), seq=1)
        return await self.read()

    def send(self, payload: bytes, seq: int = 0) -> None:
        self.writer.write(my.encode_packet(payload, seq))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self, within: float = 10) -> my.Packet:
        """The next packet; ConnectionError when the gateway closed the connection."""
        async with asyncio.timeout(within):
            while isinstance(packet := self.packets.next_packet(), my.NeedData):
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("the gateway closed the connection")
                self.packets.receive_data(data)
        return packet

    async def query(self, sql: str) -> list[my.Packet]:
        """COM_QUERY and its reply's packets."""
        self.send(b"\x03" + sql.encode())
        return await self.reply()

    async def reply(self, expect: my.Expect = my.Expect.RESULTS) -> list[my.Packet]:
        """The packets of the reply to the command sent last (every result of it)."""
        tracker = my.ReplyTracker(CLIENT_CAPABILITIES)
        tracker.begin(expect)
        out = []
        while not tracker.idle:
            packet = await self.read()
            tracker.feed(packet.payload)
            out.append(packet)
        return out
