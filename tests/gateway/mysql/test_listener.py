"""The MySQL listener end to end: real clients through Airlock to the real MariaDB."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pymysql
import pytest

from tests.gateway.mysql.support import ROWS, mysql_env


async def test_pymysql_reads_through_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PyMySQL client with its token reads the upstream rows, recorded under its identity."""
    async with mysql_env(tmp_path, monkeypatch) as env:
        rows = await env.query("SELECT id, name FROM t ORDER BY id")
        assert rows == tuple((r[0], r[1]) for r in ROWS)
        events = await env.reviews.audit()
        texts = {e.details["statement"]: e for e in events}
        event = texts["SELECT id, name FROM t ORDER BY id"]
        assert event.outcome == "ok"
        assert event.actor_subject == "alice@example.com"
        assert event.details["rows"] == 3


async def test_mariadb_cli_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mariadb CLI connects with the token as its password and prints the rows."""
    async with mysql_env(tmp_path, monkeypatch) as env:
        code, out, err = await env.mariadb("SELECT name FROM t ORDER BY id")
        assert code == 0, err
        assert out.split() == ["alice", "bob", "carol"]


async def test_bad_token_is_1045(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password that is no token is refused with 1045 before anything opens upstream."""
    async with mysql_env(tmp_path, monkeypatch) as env:
        with pytest.raises(pymysql.err.OperationalError) as caught:
            await asyncio.to_thread(env.connect, password="not-a-token")
        assert caught.value.args[0] == 1045


async def test_unknown_connection_is_1049(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that names no connection is refused with 1049."""
    async with mysql_env(tmp_path, monkeypatch) as env:
        with pytest.raises(pymysql.err.OperationalError) as caught:
            await asyncio.to_thread(env.connect, "nope")
        assert caught.value.args[0] == 1049
