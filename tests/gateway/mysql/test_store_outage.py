"""A store that cannot write: a new MySQL session is refused in words (1105), a held statement
is refused (1105, rule audit/store) while the session lives on, allowed statements run; after
recovery all of it is in the trail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pymysql
import pytest

from store import Database
from tests.conftest import fresh_pg_database, read_only
from tests.gateway.mysql.support import mysql_env

ALLOWED = 5


async def _read_only(url: str, on: bool, database: Database) -> None:
    """The store's database refuses (or takes again) writes in every new connection; the
    gateway's pooled ones are closed so that its next transactions see it."""
    await read_only(url, on)
    await database.engine.dispose()


@pytest.fixture
async def store_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


async def test_a_read_only_store_refuses_in_words(tmp_path: Path, store_url: str) -> None:
    """1105 for a new session and for a held statement (the session lives on); allowed
    statements run and are in the trail once the store is back."""
    async with mysql_env(tmp_path, store_url=store_url) as env:
        database = env.gw.runtime.database
        conn = await asyncio.to_thread(env.connect)

        def run(sql: str) -> object:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()

        await _read_only(store_url, True, database)
        try:
            for k in range(ALLOWED):
                await asyncio.to_thread(run, f"UPDATE t SET name = 'v{k}' WHERE id = 1")
            with pytest.raises(pymysql.err.OperationalError) as held:
                await asyncio.to_thread(run, "DELETE FROM t")
            assert held.value.args[0] == 1105
            assert "the audit store is unavailable (read-only)" in held.value.args[1]
            assert await asyncio.to_thread(run, "SELECT count(*) FROM t") == ((3,),)
            with pytest.raises(pymysql.err.OperationalError) as refused:
                await asyncio.to_thread(env.connect)
            assert refused.value.args[0] == 1105 and "(read-only)" in refused.value.args[1]
        finally:
            await _read_only(store_url, False, database)
            conn.close()
        texts: list[str] = []
        async with asyncio.timeout(15):
            while texts.count(f"UPDATE t SET name = 'v{ALLOWED - 1}' WHERE id = 1") != 1:
                await asyncio.sleep(0.1)
                texts = [e.details["statement"] for e in await env.reviews.audit()]
        for k in range(ALLOWED):
            assert texts.count(f"UPDATE t SET name = 'v{k}' WHERE id = 1") == 1
