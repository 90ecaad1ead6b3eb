"""Upstream caching_sha2_password, MySQL 8's default method, against a stand-in for MySQL 8's
connection phase (tests/gateway/mysql/fake_mysql8.py; only MariaDB runs here): the fast path,
and full authentication through the server's RSA key (the gateway has no TLS upstream)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gateway.mysql.fake_mysql8 import fake_mysql8
from tests.gateway.mysql.support import mysql_env


@pytest.mark.parametrize(("full", "login"), [(False, "fast"), (True, "rsa")])
async def test_caching_sha2_upstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: bool, login: str
) -> None:
    """The gateway logs in to a caching_sha2 server with the held password and relays."""
    monkeypatch.setenv("AIRLOCK_TEST_FAKE8_PASSWORD", "held-secret")
    async with fake_mysql8(b"held-secret", full=full) as fake:
        conn = {
            "name": "my8", "upstream": f"127.0.0.1:{fake.port}",
            "password_env": "AIRLOCK_TEST_FAKE8_PASSWORD",
        }  # fmt: skip
        async with mysql_env(tmp_path, connections=[conn]) as env:
            assert await env.query("SELECT 1", "my8") == (("fake8",),)
        assert fake.logins == [login]


async def test_wrong_held_password_is_the_servers_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A held password the server refuses ends the start-up with the server's 1045."""
    import pymysql

    monkeypatch.setenv("AIRLOCK_TEST_FAKE8_PASSWORD", "wrong")
    async with fake_mysql8(b"held-secret", full=True) as fake:
        conn = {
            "name": "my8", "upstream": f"127.0.0.1:{fake.port}",
            "password_env": "AIRLOCK_TEST_FAKE8_PASSWORD",
        }  # fmt: skip
        async with mysql_env(tmp_path, connections=[conn]) as env:
            with pytest.raises(pymysql.err.OperationalError) as caught:
                await env.query("SELECT 1", "my8")
            assert caught.value.args[0] == 1045
        assert fake.logins == ["refused"]
