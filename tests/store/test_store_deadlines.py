"""Store calls a deadline can interrupt: a write waiting for a lock another process holds waits
at most ``lock_timeout`` (then Unavailable), and an ``asyncio.timeout`` around it (the gateway's
shutdown deadline) ends it promptly: on SQLite, whose lock waits run in the driver's thread, and
on PostgreSQL (asyncpg's ``command_timeout``)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from store import Database, Unavailable
from store.engine import BUSY_SLICE_S

# How late a cancelled or timed-out wait may end: one driver slice, plus a busy machine's lag.
LATE_S = BUSY_SLICE_S + 0.5


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x INTEGER)")
    return path


@asynccontextmanager
async def sqlite_locked(path: Path) -> AsyncIterator[Callable[[], None]]:
    """Another connection holds the write lock (``BEGIN EXCLUSIVE``) until the block ends or
    the yielded function releases it."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")

    def release() -> None:
        if other.in_transaction:
            other.execute("ROLLBACK")

    try:
        yield release
    finally:
        release()
        other.close()


@asynccontextmanager
async def pg_locked(url: str) -> AsyncIterator[Callable[[], None]]:
    """Another PostgreSQL session holds an ACCESS EXCLUSIVE lock on ``t`` (every write to it
    waits) until the block ends or the yielded function releases it."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute("CREATE TABLE IF NOT EXISTS t (x integer)")
    finally:
        await setup.close()
    other = await asyncpg.connect(dsn)
    transaction = other.transaction()
    await transaction.start()
    await other.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    released: list[asyncio.Task[None]] = []

    def release() -> None:
        released.append(asyncio.ensure_future(transaction.rollback()))

    try:
        yield release
    finally:
        if released:
            await asyncio.gather(*released)
        else:
            await transaction.rollback()
        await other.close()


async def insert(db: Database, value: int) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO t (x) VALUES (:x)"), {"x": value})


async def count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one())


async def test_sqlite_write_waits_for_the_lock_and_then_runs(sqlite_path: Path) -> None:
    """A write that finds the store locked by another process waits, and runs once the lock
    is released (well before ``lock_timeout``)."""
    async with Database(f"sqlite+aiosqlite:///{sqlite_path}", lock_timeout=10) as db:
        async with sqlite_locked(sqlite_path) as release:
            asyncio.get_running_loop().call_later(0.5, release)
            started = time.monotonic()
            await insert(db, 1)
            waited = time.monotonic() - started
        assert 0.4 < waited < 0.5 + LATE_S
        assert await count(db) == 1


async def test_sqlite_write_gives_up_after_lock_timeout(sqlite_path: Path) -> None:
    """A lock held past ``lock_timeout`` ends the write with Unavailable, saying so; reads go
    on meanwhile (WAL), and the write that follows the release runs."""
    async with Database(f"sqlite+aiosqlite:///{sqlite_path}", lock_timeout=1.0) as db:
        async with sqlite_locked(sqlite_path):
            started = time.monotonic()
            with pytest.raises(Unavailable, match="locked by another writer for 1s"):
                await insert(db, 1)
            waited = time.monotonic() - started
            assert await count(db) == 0
        assert 0.9 < waited < 1.0 + LATE_S
        await insert(db, 2)
        assert await count(db) == 1


async def test_sqlite_wait_is_cancelled_by_a_deadline(sqlite_path: Path) -> None:
    """``asyncio.timeout`` around a write stuck on another process's lock ends it within one
    driver slice of the deadline, not after the driver's busy timeout; nothing is written and
    the store closes at once."""
    db = Database(f"sqlite+aiosqlite:///{sqlite_path}")  # lock_timeout 30 s
    try:
        async with sqlite_locked(sqlite_path):
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await insert(db, 1)
            waited = time.monotonic() - started
        assert 0.45 < waited < 0.5 + LATE_S
        assert await count(db) == 0
    finally:
        started = time.monotonic()
        await db.close()
        assert time.monotonic() - started < LATE_S


async def test_postgres_statement_gives_up_after_lock_timeout(pg_database_url: str) -> None:
    """On PostgreSQL a write blocked by another session's lock ends after ``lock_timeout``
    (asyncpg's command_timeout) with Unavailable; after the release the next write runs."""
    async with pg_locked(pg_database_url), Database(pg_database_url, lock_timeout=1.0) as db:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await insert(db, 1)
        waited = time.monotonic() - started
    assert 0.9 < waited < 1.0 + LATE_S
    async with Database(pg_database_url) as db:
        await insert(db, 2)
        assert await count(db) == 1


async def test_postgres_wait_is_cancelled_by_a_deadline(pg_database_url: str) -> None:
    """``asyncio.timeout`` around a PostgreSQL write stuck on a lock ends it at the deadline,
    the server-side statement is cancelled (the lock holder's release lets the next write run
    at once) and the store closes promptly."""
    async with pg_locked(pg_database_url) as release:
        db = Database(pg_database_url)  # lock_timeout 30 s
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await insert(db, 1)
            waited = time.monotonic() - started
            assert 0.45 < waited < 0.5 + LATE_S
            release()
            async with asyncio.timeout(5):
                await insert(db, 2)
            assert await count(db) == 1
        finally:
            started = time.monotonic()
            await db.close()
            assert time.monotonic() - started < LATE_S
