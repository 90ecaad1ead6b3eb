"""Upstream TLS and caching_sha2_password, MySQL 8's default method, against a stand-in for
MySQL 8's connection phase (tests/gateway/mysql/fake_mysql8.py; only MariaDB runs here, and
without TLS): the fast path, full authentication through the server's RSA key, and inside TLS
with the password in clear; ``upstream_tls = "require"`` refuses a server without TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import pymysql
import pytest

from tests.gateway.mysql.fake_mysql8 import fake_mysql8
from tests.gateway.mysql.support import mysql_env
from tests.gateway.postgres.test_tls import self_signed

PASSWORD_ENV = "AIRLOCK_TEST_FAKE8_PASSWORD"


def _connection(port: int, **overrides: str) -> dict[str, str]:
    return {
        "name": "my8", "upstream": f"127.0.0.1:{port}", "password_env": PASSWORD_ENV,
        **overrides,
    }  # fmt: skip


def _server_tls(directory: Path) -> ssl.SSLContext:
    cert, key = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


@pytest.mark.parametrize(("full", "login"), [(False, "fast"), (True, "rsa")])
async def test_caching_sha2_upstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: bool, login: str
) -> None:
    """The gateway logs in to a caching_sha2 server with the held password and relays."""
    monkeypatch.setenv(PASSWORD_ENV, "held-secret")
    async with fake_mysql8(b"held-secret", full=full) as fake:
        async with mysql_env(tmp_path, connections=[_connection(fake.port)]) as env:
            assert await env.query("SELECT 1", "my8") == (("fake8",),)
        assert fake.logins == [login]


async def test_full_authentication_inside_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With upstream_tls = "prefer" and a server offering TLS, the session is encrypted and
    caching_sha2's full authentication sends the password inside it."""
    monkeypatch.setenv(PASSWORD_ENV, "held-secret")
    async with fake_mysql8(b"held-secret", full=True, tls=_server_tls(tmp_path)) as fake:
        async with mysql_env(tmp_path, connections=[_connection(fake.port)]) as env:
            assert await env.query("SELECT 1", "my8") == (("fake8",),)
        assert fake.logins == ["clear-in-tls"]


async def test_require_refuses_a_server_without_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """upstream_tls = "require" and a server without TLS: refused (2026), nothing sent."""
    monkeypatch.setenv(PASSWORD_ENV, "held-secret")
    async with fake_mysql8(b"held-secret", full=True) as fake:
        conn = _connection(fake.port, upstream_tls="require")
        async with mysql_env(tmp_path, connections=[conn]) as env:
            with pytest.raises(pymysql.err.OperationalError) as caught:
                await env.query("SELECT 1", "my8")
            assert caught.value.args[0] == 2026
        assert fake.logins == []


async def test_wrong_held_password_is_the_servers_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held password the server refuses ends the start-up with the server's 1045."""
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    async with fake_mysql8(b"held-secret", full=True) as fake:
        async with mysql_env(tmp_path, connections=[_connection(fake.port)]) as env:
            with pytest.raises(pymysql.err.OperationalError) as caught:
                await env.query("SELECT 1", "my8")
            assert caught.value.args[0] == 1045
        assert fake.logins == ["refused"]
