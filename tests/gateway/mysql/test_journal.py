"""Nothing is forwarded unrecorded on the MySQL wire either: a statement the journal cannot
record is refused (rule audit/journal) and does not run upstream; statements run again once
the journal can write."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pymysql

from gateway.sessions.journal import RETRY_S
from tests.gateway.mysql.support import mysql_env


async def test_statements_are_refused_while_the_journal_cannot_write(tmp_path: Path) -> None:
    """With its directory gone, the journal fills its segment and cannot open the next: the
    UPDATE that finds it full is refused with a clear error and leaves the row as it was; once
    the directory is back, statements run and are journaled again."""
    options = {"journal_segment_bytes": 64 << 10}
    async with mysql_env(tmp_path, gateway_options=options) as env:
        directory, moved = tmp_path / "airlock-journal", tmp_path / "moved"
        conn = await asyncio.to_thread(env.connect)

        def update(value: int) -> Any:
            with conn.cursor() as cursor:
                return cursor.execute(f"UPDATE t SET name = 'n{value}' WHERE id = 1")

        try:
            await asyncio.to_thread(update, 0)
            os.rename(directory, moved)
            directory.write_text("in the way")  # no segment can be made there now
            ran, refused = 1, None
            for k in range(1, 10_000):
                try:
                    await asyncio.to_thread(update, k)
                except pymysql.err.OperationalError as exc:
                    refused = exc
                    break
                ran += 1
            assert refused is not None, "the journal never filled up"
            assert "rule audit/journal" in refused.args[1]
            assert env.direct("SELECT name FROM t WHERE id = 1") == ((f"n{ran - 1}",),)

            directory.unlink()
            os.rename(moved, directory)
            await asyncio.sleep(RETRY_S + 0.2)
            await asyncio.to_thread(update, -5)
            assert env.direct("SELECT name FROM t WHERE id = 1") == (("n-5",),)
        finally:
            conn.close()
        refusals = [
            e for e in await env.reviews.audit() if e.details.get("rule") == "audit/journal"
        ]
        assert [e.outcome for e in refusals] == ["block"]
