"""The audit writer never drops a record because its store cannot write: a full SQLite store, a
read-only PostgreSQL, an error nobody classified. It keeps the batch and retries, logs one line
when writes start failing and one when they work again (no traceback, not one per retry), and
the store's health says so meanwhile. Only an entry refused for what it is is dropped."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from approvals import AuditEntry
from store import (
    AuditWriter,
    Database,
    InProcessBus,
    SessionEnd,
    SessionEvent,
    SessionRecord,
    SqlRepository,
    StoreFull,
    Unavailable,
    iter_audit,
    migrate,
    verify,
)
from tests.conftest import fresh_pg_database, read_only
from tests.store.helpers import ALICE, EPOCH, entry

PAGES = 1500  # the SQLite store's cap in pages of 4 KiB: its "disk"


@pytest.fixture
async def capped(sqlite_url: str) -> AsyncIterator[Database]:
    """A migrated SQLite store whose every connection may grow the file to ``PAGES`` pages
    only: past that SQLite itself says "database or disk is full" (SQLITE_FULL)."""
    await migrate.upgrade(sqlite_url)
    database = Database(sqlite_url)

    @event.listens_for(database.engine.sync_engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {PAGES}")

    try:
        yield database
    finally:
        await database.close()


async def _fill(database: Database) -> None:
    """Write ballast until the store is full: no page left to take, none free."""
    async with database.write() as session:
        await session.execute(text("CREATE TABLE ballast (x BLOB)"))
    rows = (
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < :n) "
        "INSERT INTO ballast SELECT zeroblob(:size) FROM c"
    )
    for size in (3000, 300, 30):
        for n in (100, 10, 1):
            with pytest.raises(StoreFull):
                for _ in range(PAGES * 4096 // (size * n) + 1):
                    async with database.write() as session:
                        await session.execute(text(rows), {"n": n, "size": size})


def _big(n: int, **changes: Any) -> AuditEntry:
    """An entry too big to fit in what is left of a page: it needs a page of its own."""
    return replace(entry(n, details={"statement": f"SELECT {n} -- " + "x" * 5000}), **changes)


async def _free(database: Database) -> None:
    async with database.write() as session:
        await session.execute(text("DELETE FROM ballast"))


async def _until(condition: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110  (the writer's retries have no event)
            await asyncio.sleep(0.02)


def _store_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "airlock.store"]


async def test_a_full_sqlite_store_costs_no_record(
    capped: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """200 entries submitted while SQLite says "database or disk is full" all wait and are
    written once space is back; one line when writes start failing, one when they work again,
    no traceback; the health says degraded meanwhile and the chain verifies."""
    caplog.set_level(logging.INFO)
    await _fill(capped)
    writer = AuditWriter(capped, interval=0.01, batch_size=50)
    for n in range(200):
        writer.submit(_big(n))
    health = capped.health
    await _until(lambda: health.failures >= 3)  # it retried, with backoff
    assert not health.writable
    assert writer.pending == 200 and (writer.written, writer.dropped) == (0, 0)
    assert health.reason == "disk full"
    assert health.problems[0].startswith("the store cannot write (disk full) since ")
    assert health.problems[0].endswith("; 200 records wait in memory and are retried")
    await _free(capped)
    async with asyncio.timeout(10):
        await writer.flush()
    assert (writer.written, writer.dropped, writer.pending) == (200, 0, 0)
    assert health.writable and health.problems == [] and health.outages == 1
    await writer.close()
    lines = _store_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("store: writes fail (disk full: database or disk is full)")
    assert lines[1].startswith("store: writes work again after")
    assert not any(r.exc_info for r in caplog.records)
    assert "dropping" not in caplog.text
    result = await verify(capped)
    assert result.ok and result.checked == 200


async def test_the_one_by_one_fallback_drops_only_the_refused_entry(
    capped: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch with an entry the store refuses for what it is (details that are not UTF-8)
    goes one by one; while the store is full that costs none of the others: only the refused
    one is dropped, once the store can say so."""
    await _fill(capped)
    writer = AuditWriter(capped, interval=0.01, batch_size=10)
    fired: list[int] = []
    for n in range(10):
        item = entry(n, details={"text": "\ud800"}) if n == 4 else _big(n)
        writer.submit(item, on_written=functools.partial(fired.append, n))
    await _until(lambda: capped.health.failures >= 3)
    assert (writer.written, writer.dropped, writer.pending) == (0, 0, 10)
    await _free(capped)
    await writer.flush()
    assert (writer.written, writer.dropped) == (9, 1)
    assert fired == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    await writer.close()
    assert (await verify(capped)).checked == 9
    assert caplog.text.count("dropping") == 1


async def test_an_unclassified_store_error_keeps_the_entry(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """An error that is neither an outage nor a refused entry (here: its table is gone) is
    treated as the store's: the batch, and each of its entries one by one, is kept and retried
    until the store takes it (the table is back)."""
    repository = SqlRepository(database, InProcessBus())
    record = SessionRecord(id="s-1", identity=ALICE, connection="pg-prod", started_at=EPOCH)
    await repository.start_session(record)
    async with database.write() as session:
        await session.execute(text("ALTER TABLE session_event RENAME TO session_event_gone"))
    writer = AuditWriter(database, interval=0.01)
    for seq in range(1, 4):
        writer.submit_session_event(
            SessionEvent("s-1", seq, EPOCH + timedelta(seconds=seq), "statement", f"SELECT {seq}")
        )
    await _until(lambda: database.health.failures >= 3)
    assert (writer.written, writer.dropped, writer.pending) == (0, 0, 3)
    assert database.health.reason == "error"
    async with database.write() as session:
        await session.execute(text("ALTER TABLE session_event_gone RENAME TO session_event"))
    async with asyncio.timeout(10):
        await writer.flush()
    await writer.close()
    assert (writer.written, writer.dropped) == (3, 0)
    events = await repository.list_session_events("s-1")
    assert [e.statement for e in events] == ["SELECT 1", "SELECT 2", "SELECT 3"]
    assert "dropping" not in caplog.text


async def test_a_session_end_waits_for_the_store(capped: Database) -> None:
    """The end of a session the store could not record when it ended is written by the writer
    once the store can; the end of a session that has no row is dropped (a constraint)."""
    repository = SqlRepository(capped, InProcessBus())
    record = SessionRecord(id="s-2", identity=ALICE, connection="pg-prod", started_at=EPOCH)
    await repository.start_session(record)
    await _fill(capped)
    ended = EPOCH + timedelta(minutes=5)
    stats = {"statements": 7, "client": "x" * 5000}  # more than fits where the row is
    with pytest.raises(StoreFull):
        await repository.end_session("s-2", ended_at=ended, stats=stats)
    writer = AuditWriter(capped, interval=0.01)
    writer.submit_session_end(SessionEnd("s-2", ended, stats))
    writer.submit_session_end(SessionEnd("no-such-session", ended, {}))
    await _until(lambda: capped.health.failures >= 2)
    await _free(capped)
    await writer.flush()
    await writer.close()
    assert (writer.written, writer.dropped) == (1, 1)
    stored = await repository.get_session("s-2")
    assert stored is not None
    assert (stored.ended_at, stored.stats) == (ended, stats)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        await migrate.upgrade(url)
        yield url


async def test_a_read_only_postgres_store_costs_no_record(pg_url: str) -> None:
    """A PostgreSQL store that turned read-only (a failover to a standby, say: 25006) keeps
    the writer's entries until it takes writes again."""
    await read_only(pg_url, True)
    async with Database(pg_url) as database:
        writer = AuditWriter(database, interval=0.01)
        for n in range(20):
            writer.submit(entry(n))
        await _until(lambda: database.health.failures >= 2)
        assert database.health.reason == "read-only"
        assert (writer.written, writer.pending) == (0, 20)
        await read_only(pg_url, False)
        await database.engine.dispose()  # pooled connections keep the setting they began with
        async with asyncio.timeout(10):
            await writer.flush()
        await writer.close()
        assert (writer.written, writer.dropped) == (20, 0)
        assert database.health.writable
        stored = [record async for record in iter_audit(database)]
        assert len(stored) == 20
        assert (await verify(database)).ok


async def test_the_backlog_shows_in_the_health(capped: Database) -> None:
    """While the writer is behind (new work refused) the health names it as a problem."""
    await _fill(capped)
    writer = AuditWriter(capped, interval=0.01, max_pending=10, refuse_at=5)
    for n in range(5):
        writer.submit(_big(n))
    assert writer.behind
    assert any("the audit trail is behind: 5 entries wait" in p for p in capped.health.problems)
    with pytest.raises(Unavailable):
        for n in range(5, 11):
            writer.submit(_big(n))
    await _free(capped)
    await writer.flush()
    await writer.close()
    assert not writer.behind and capped.health.backlog is None
