"""Recorded sessions and their per-statement events."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from approvals.model import new_id
from store import (
    AuditWriter,
    Database,
    SessionEvent,
    SessionRecord,
    SqlRepository,
    StaleWrite,
    Unavailable,
)
from store import verify as verify_audit
from tests.store.helpers import ALICE, ALICE_VIA_AGENTS, EPOCH, AuditOutage, entry


def _session(**changes: object) -> SessionRecord:
    base = SessionRecord(
        id=new_id(),
        identity=ALICE_VIA_AGENTS,
        connection="pg-prod",
        started_at=EPOCH,
        client_addr="10.0.0.7:51234",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_session_lifecycle(repository: SqlRepository) -> None:
    """A session is started, its stats updated, ended; it reads back with the whole chain."""
    record = _session()
    await repository.start_session(record)
    assert await repository.get_session(record.id) == record
    await repository.update_session(record.id, stats={"statements": 3})
    assert await repository.list_sessions(active=True) == [replace(record, stats={"statements": 3})]
    ended_at = EPOCH + timedelta(minutes=3)
    await repository.end_session(record.id, ended_at=ended_at, stats={"statements": 4})
    stored = await repository.get_session(record.id)
    assert stored is not None and stored.ended_at == ended_at
    assert stored.stats == {"statements": 4}
    assert stored.identity == ALICE_VIA_AGENTS
    assert await repository.list_sessions(active=True) == []
    with pytest.raises(StaleWrite):
        await repository.end_session("nope", ended_at=ended_at)


async def test_list_sessions_filters(repository: SqlRepository) -> None:
    """Sessions list newest first, by subject and by connection."""
    first = _session(identity=ALICE, started_at=EPOCH)
    second = _session(connection="mysql", started_at=EPOCH + timedelta(seconds=5))
    for record in (first, second):
        await repository.start_session(record)
    assert [s.id for s in await repository.list_sessions()] == [second.id, first.id]
    assert [s.id for s in await repository.list_sessions(connection="mysql")] == [second.id]
    assert len(await repository.list_sessions(subject=ALICE.subject)) == 2


async def test_session_events_in_order(repository: SqlRepository) -> None:
    """Per-statement events are appended and listed in seq order, page by page."""
    record = _session()
    await repository.start_session(record)
    await repository.add_session_events(
        [
            SessionEvent(record.id, seq, EPOCH + timedelta(seconds=seq), "query", f"SELECT {seq}")
            for seq in range(1, 6)
        ]
    )
    await repository.add_session_event(
        SessionEvent(record.id, 6, EPOCH, "query", "DROP TABLE t", "held", {"review": "R-1"})
    )
    events = await repository.list_session_events(record.id)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[-1].details == {"review": "R-1"} and events[-1].outcome == "held"
    page = await repository.list_session_events(record.id, after_seq=2, limit=2)
    assert [e.statement for e in page] == ["SELECT 3", "SELECT 4"]


async def test_audit_writer_records_session_events_too(
    repository: SqlRepository, database: Database
) -> None:
    """The batched writer stores session events with the audit entries; a duplicate is dropped."""
    record = _session()
    await repository.start_session(record)
    async with AuditWriter(database, interval=0.01) as writer:
        for seq in range(1, 51):
            writer.submit_session_event(SessionEvent(record.id, seq, EPOCH, "query", "SELECT 1"))
            writer.submit(entry(seq))
        writer.submit_session_event(SessionEvent(record.id, 1, EPOCH, "query", "again"))
        await writer.flush()
        assert (writer.written, writer.dropped) == (100, 1)
    assert len(await repository.list_session_events(record.id)) == 50
    assert (await verify_audit(database)).checked == 50


async def test_audit_writer_drops_only_the_entry_that_cannot_be_stored(
    database: Database,
) -> None:
    """An entry whose details are not JSON (NaN, text that is not UTF-8) is dropped; the rest of
    its batch is written, and the writer carries on."""
    async with AuditWriter(database, interval=0.01) as writer:
        writer.submit(entry(1))
        writer.submit(entry(2, details={"bad": float("nan")}))
        writer.submit(entry(3, details={"statement": "SELECT 'caf\udce9'"}))
        writer.submit(entry(4))
        await writer.flush()
        assert (writer.written, writer.dropped) == (2, 2)
    result = await verify_audit(database)
    assert (result.ok, result.checked) == (True, 2)


async def test_audit_writer_writes_an_urgent_entry_at_once(database: Database) -> None:
    """Entries wait up to ``interval`` to share a transaction; an urgent one is written at once,
    with those waiting before it."""
    async with AuditWriter(database, interval=30) as writer:
        writer.submit(entry(1))
        await asyncio.sleep(0.2)
        assert writer.written == 0
        writer.submit(entry(2), urgent=True)
        for _ in range(500):  # well before the 30 s interval
            if writer.written == 2:
                break
            await asyncio.sleep(0.01)
        assert (writer.written, writer.batches) == (2, 1)
    assert (await verify_audit(database)).checked == 2


async def test_audit_writer_is_behind_from_refuse_at_until_it_has_caught_up(
    database: Database, repository: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the store cannot be written, entries pile up: from ``refuse_at`` on the writer is
    ``behind`` (the gateway refuses new statements), at ``max_pending`` it refuses entries; once
    the store is back every queued entry is written, in order, and it is no longer behind."""
    outage = AuditOutage(monkeypatch, down=True)
    async with AuditWriter(database, interval=0.01, max_pending=4, refuse_at=2) as writer:
        writer.submit(entry(1), urgent=True)
        await asyncio.sleep(0.1)  # the writer tried, and keeps it
        assert (writer.pending, writer.behind) == (1, False)
        writer.submit(entry(2))
        assert writer.behind
        writer.submit(entry(3))
        writer.submit(entry(4))
        with pytest.raises(Unavailable, match="backlog is full"):
            writer.submit(entry(5))
        outage.down = False
        await writer.flush()
        assert (writer.written, writer.pending, writer.behind) == (4, 0, False)
    records = await repository.list_audit(limit=10)
    assert sorted(r.target for r in records) == [f"session-{n}" for n in (1, 2, 3, 4)]
    assert (await verify_audit(database)).checked == 4


async def test_audit_writer_refuse_at_lies_within_the_backlog(database: Database) -> None:
    for refuse_at in (0, 5):
        with pytest.raises(ValueError, match="refuse_at"):
            AuditWriter(database, max_pending=4, refuse_at=refuse_at)
    assert AuditWriter(database, max_pending=100).refuse_at == 90
