"""The gateway's SQLite connections run their statements in the event loop's thread, and still
send what can wait (BEGIN IMMEDIATE, commit) to aiosqlite's thread, so a lock held by another
process never stalls the loop."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from store import Database, Unavailable, sqlite_loop


def _thread_function(database: Database) -> None:
    """``tid()`` in SQL: the id of the thread running the statement."""

    @event.listens_for(database.engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("tid", 0, threading.get_ident)


async def test_statements_run_in_the_loop_thread(tmp_path: Path) -> None:
    """A read's and a write's statements run in the loop's thread (no hop to aiosqlite's)."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    _thread_function(database)
    try:
        loop_thread = threading.get_ident()
        async with database.read() as session:
            assert await session.scalar(text("SELECT tid()")) == loop_thread
        async with database.write() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
            assert await session.scalar(text("SELECT tid()")) == loop_thread
            await session.execute(text("INSERT INTO t VALUES (1)"))
        async with database.read() as session:
            assert await session.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        await database.close()


def test_only_lock_waits_and_commits_leave_the_loop() -> None:
    """BEGIN IMMEDIATE, the connection's commit and close go to the thread; the rest does not."""
    conn = sqlite3.connect(":memory:")
    cursor = conn.cursor()
    try:
        assert sqlite_loop._may_wait(cursor.execute, ("BEGIN IMMEDIATE",), conn)
        assert sqlite_loop._may_wait(conn.commit, (), conn)
        assert sqlite_loop._may_wait(conn.close, (), conn)
        assert not sqlite_loop._may_wait(cursor.execute, ("BEGIN",), conn)
        assert not sqlite_loop._may_wait(cursor.execute, ("SELECT 1", ()), conn)
        assert not sqlite_loop._may_wait(cursor.close, (), conn)
        assert not sqlite_loop._may_wait(conn.rollback, (), conn)
    finally:
        conn.close()


async def test_another_process_lock_does_not_stall_the_loop(tmp_path: Path) -> None:
    """While another connection holds the write lock, a write waits (and gives up after its
    lock timeout) with the loop still running: a ticker keeps ticking every 10 ms."""
    path = tmp_path / "a.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    # Slices of 0.5 s: one run in the loop's thread would stop the ticker that long.
    database = Database(f"sqlite+aiosqlite:///{path}", lock_timeout=1.2, busy_timeout=0.5)
    ticks: list[float] = []

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            ticks.append(loop.time())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        with pytest.raises(Unavailable):
            async with database.write() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert len(ticks) > 20
        assert max(gaps) < 0.25, f"the loop stalled {max(gaps):.3f} s"
    finally:
        task.cancel()
        holder.execute("ROLLBACK")
        holder.close()
        await database.close()


def test_a_connection_that_cannot_open_stops_its_thread_before_its_loop_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosqlite asks the thread of a connection that failed to open to stop and goes on; the
    thread's answer then finds the loop closed when the program ends at once (a command whose
    store cannot be opened), and dies with a RuntimeError. The connection waits for it."""
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))

    async def attempt() -> sqlite_loop.LoopConnection:
        connection = sqlite_loop.connector(str(tmp_path / "gone" / "airlock.db"))()
        with pytest.raises(sqlite3.OperationalError):
            await connection
        return connection

    for _ in range(20):  # the race was lost nearly every time
        connection = asyncio.run(attempt())
        connection._thread.join(5)
        assert not connection._thread.is_alive()
    assert died == []
