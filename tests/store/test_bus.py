"""Event buses: in-process fan-out, and LISTEN/NOTIFY across replicas on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from approvals.model import DomainEvent, Outcome
from approvals.ports import Subscription
from approvals.service import REVIEW_DECIDED, ApprovalService
from store import (
    ALL_TOPICS,
    Database,
    InProcessBus,
    PostgresBus,
    SqlRepository,
    StoreError,
    upgrade,
)
from tests.conftest import PG_ADMIN_DSN
from tests.store.helpers import ALICE, BOB, CONNECTIONS, Clock

Bus = InProcessBus | PostgresBus


async def _next(subscription: Subscription, key: str, wait: float = 10.0) -> DomainEvent:
    async with asyncio.timeout(wait):
        while True:
            event = await subscription.get()
            if event.key == key:
                return event


async def _until(condition: Callable[[], bool], wait: float = 5.0) -> None:
    for _ in range(int(wait / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def test_in_process_bus_fans_out_by_topic() -> None:
    """Every subscriber of a topic gets each event; "*" gets all; other topics get none."""
    bus = InProcessBus()
    async with (
        bus.subscribe("review.decided") as first,
        bus.subscribe("review.decided") as second,
        bus.subscribe(ALL_TOPICS) as everything,
        bus.subscribe("review.created") as other,
    ):
        await bus.publish(DomainEvent("review.decided", "R-1", {"state": "approved"}))
        await bus.publish(DomainEvent("delegation.revoked", "D-1"))
        assert (await first.get()).key == "R-1"
        assert (await second.get()).payload == {"state": "approved"}
        assert [(await everything.get()).key for _ in range(2)] == ["R-1", "D-1"]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other.get(), 0.05)


async def test_decided_event_reaches_a_subscriber(repository: SqlRepository, bus: Bus) -> None:
    """A committed decision's review.decided event reaches a subscriber on either backend."""
    service = ApprovalService(repository, bus, Clock(), CONNECTIONS)
    held = await service.hold_statement(ALICE, "pg-prod", "DROP TABLE t;", risk="d", rule="r")
    async with bus.subscribe(REVIEW_DECIDED) as subscription:
        await service.decide(held.id, BOB, Outcome.APPROVE)
        event = await _next(subscription, held.id)
    assert event.payload["state"] == "approved"
    assert event.payload["decided_by"] == BOB.subject


@asynccontextmanager
async def _replica(url: str) -> AsyncIterator[tuple[Database, PostgresBus, ApprovalService]]:
    """One gateway replica: its own engine, its own LISTEN connection, its own service."""
    async with Database(url, pool_size=5) as db, PostgresBus(db, keepalive=0.5) as bus:
        yield db, bus, ApprovalService(SqlRepository(db, bus), bus, Clock(), CONNECTIONS)


async def test_decided_event_crosses_replicas(pg_database_url: str) -> None:
    """A decision made on replica A wakes the session waiting on replica B (LISTEN/NOTIFY)."""
    await upgrade(pg_database_url)
    async with _replica(pg_database_url) as (_, _, on_a), _replica(pg_database_url) as b:
        _, _, on_b = b
        held = await on_b.hold_statement(ALICE, "pg-prod", "DROP TABLE t;", risk="d", rule="r")
        waiter = asyncio.create_task(on_b.await_decision(held.id))
        await asyncio.sleep(0.1)
        await on_a.decide(held.id, BOB, Outcome.DENY, "not now")
        final = await asyncio.wait_for(waiter, 10)
    assert final.deciding is not None and final.deciding.reason == "not now"


class _SlowToReconnect(PostgresBus):
    """A bus whose reconnects take 0.5 s, so events can be committed while it is deaf."""

    connects = 0

    async def _connect(self) -> Any:
        self.connects += 1
        if self.connects > 1:
            await asyncio.sleep(0.5)
        return await super()._connect()


async def test_bus_reconnects_and_replays_what_it_missed(pg_database_url: str) -> None:
    """Killing the LISTEN connection loses nothing: the bus reconnects and replays the gap."""
    await upgrade(pg_database_url)
    async with (
        _replica(pg_database_url) as (_, _, on_a),
        Database(pg_database_url) as db_b,
        _SlowToReconnect(db_b, keepalive=0.5) as bus_b,
    ):
        on_b = ApprovalService(SqlRepository(db_b, bus_b), bus_b, Clock(), CONNECTIONS)
        held = await on_b.hold_statement(ALICE, "pg-prod", "DROP TABLE t;", risk="d", rule="r")
        old_pid = bus_b.backend_pid
        async with bus_b.subscribe(REVIEW_DECIDED) as subscription:
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", old_pid)
            finally:
                await admin.close()
            await _until(lambda: not bus_b.listening)
            await on_a.decide(held.id, BOB, Outcome.APPROVE)  # committed while B is deaf
            event = await _next(subscription, held.id)
        assert event.payload["state"] == "approved"
        assert bus_b.listening and bus_b.backend_pid != old_pid
        assert bus_b.connects == 2


async def test_large_payload_is_read_back_from_the_outbox(pg_database_url: str) -> None:
    """An event too big for NOTIFY arrives whole: the bus fetches its payload from the outbox."""
    await upgrade(pg_database_url)
    big = {"reason": "x" * 9000}
    async with _replica(pg_database_url) as (db_a, bus_a, _), _replica(pg_database_url) as b:
        _, bus_b, _ = b
        repository = SqlRepository(db_a, bus_a)
        async with bus_b.subscribe("custom.big") as subscription:
            async with repository.transaction() as tx:
                await tx.emit(DomainEvent("custom.big", "K-1", big))
            event = await _next(subscription, "K-1")
    assert event.payload == big


async def test_direct_publish_reaches_other_replicas(pg_database_url: str) -> None:
    """PostgresBus.publish (no outbox) is heard by every replica's subscribers."""
    await upgrade(pg_database_url)
    async with _replica(pg_database_url) as (_, bus_a, _), _replica(pg_database_url) as b:
        _, bus_b, _ = b
        async with bus_b.subscribe("session.kill") as subscription:
            await bus_a.publish(DomainEvent("session.kill", "S-9", {"subject": "alice"}))
            event = await _next(subscription, "S-9")
    assert event.payload == {"subject": "alice"}


async def test_postgres_bus_needs_postgres(sqlite_url: str) -> None:
    """A PostgresBus on a SQLite database is refused with a StoreError."""
    async with Database(sqlite_url) as db:
        with pytest.raises(StoreError):
            PostgresBus(db)
