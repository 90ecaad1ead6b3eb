"""Support for the MySQL listener's end-to-end tests: a fresh MariaDB database with its own
upstream user, a gateway in front of it (tests.harness), clients as the tests drive them, and
the review and audit helpers the PostgreSQL tests use (tests.gateway.postgres.support.Env)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from gateway.cli.listeners import DIALECTS
from tests.conftest import fresh_maria_database, maria_admin
from tests.gateway.mysql.interim import INTERIM
from tests.gateway.postgres.support import Env
from tests.harness import RunningGateway, free_port, running_gateway

__all__ = ["ROWS", "MyEnv", "mariadb", "mysql_env"]

PASSWORD_ENV = "AIRLOCK_TEST_MY_PASSWORD"
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
    **overrides: Any,
) -> AsyncIterator[MyEnv]:
    """A fresh MariaDB database with table t and its own user, and a gateway whose connection
    my-test points at it (``overrides`` go to that connection)."""
    with pytest.MonkeyPatch.context() as patch, fresh_maria_database() as database:
        patch.setitem(DIALECTS, "mysql", INTERIM)
        user, password = _create_user(database)
        try:
            port = free_port()
            conns = [my_connection(database, user, **overrides)]
            conns += [{**my_connection(database, user), **c} for c in connections]
            options = {"mysql": f"127.0.0.1:{port}", **(listener_options or {})}
            async with running_gateway(
                tmp_path,
                connections=conns,
                listener_options=options,
                monkeypatch_env={PASSWORD_ENV: password},
            ) as gw:
                await wait_listening(port)
                yield MyEnv(gw, port, database, user, password, Env(gw, database, ""))
        finally:
            _drop_user(user)


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
    try:
        async with asyncio.timeout(within):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()
