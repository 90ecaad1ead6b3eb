"""A gateway's own SQLite writers take turns on a lock of their loop (FIFO) instead of meeting
SQLite's lock as SQLITE_BUSY and waiting in slices; other processes still meet the slices."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from store import Database, upgrade
from store import engine as engine_module


async def _burst(database: Database, writers: int) -> list[int]:
    order: list[int] = []

    async def write(n: int) -> None:
        async with database.write() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)  # holding SQLite's write lock
            order.append(n)

    await asyncio.gather(*(write(n) for n in range(writers)))
    return order


async def test_in_process_writers_never_meet_sqlite_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty writers at once all commit, in the order they asked, with no SQLITE_BUSY met."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    await upgrade(url)
    busy: list[OperationalError] = []
    real = engine_module._busy

    def counted(exc: OperationalError) -> bool:
        busy.append(exc)
        return real(exc)

    monkeypatch.setattr(engine_module, "_busy", counted)
    database = Database(url)
    try:
        assert await _burst(database, 20) == list(range(20))
    finally:
        await database.close()
    assert busy == []


def test_a_database_serves_writers_from_a_second_loop(tmp_path: Path) -> None:
    """The turn-taking lock belongs to the running loop: a Database used under one asyncio.run
    and then another (with writers waiting each time) works in both."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    asyncio.run(upgrade(url))
    database = Database(url)
    try:
        assert asyncio.run(_burst(database, 3)) == [0, 1, 2]
        assert asyncio.run(_burst(database, 3)) == [0, 1, 2]
    finally:
        asyncio.run(database.close())
