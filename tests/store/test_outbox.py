"""Outbox consumption: each consumer delivers each event exactly once, even across restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from approvals.model import DomainEvent
from store import Database, Outbox, SqlRepository


async def _emit(repository: SqlRepository, count: int, topic: str = "review.created") -> None:
    async with repository.transaction() as tx:
        for n in range(count):
            await tx.emit(DomainEvent(topic, f"R-{n}", {"n": n}))


async def test_claim_then_mark_delivers_each_event_once(
    repository: SqlRepository, database: Database
) -> None:
    """Claims hand out events oldest first, never twice while leased or once delivered."""
    await _emit(repository, 10)
    outbox = Outbox(database)
    first = await outbox.claim_undelivered("bot", limit=4)
    assert [e.key for e in first] == ["R-0", "R-1", "R-2", "R-3"]
    assert first[0].event == DomainEvent("review.created", "R-0", {"n": 0})
    second = await outbox.claim_undelivered("bot", limit=4)
    assert [e.key for e in second] == ["R-4", "R-5", "R-6", "R-7"]
    assert await outbox.mark_delivered("bot", [e.id for e in first + second]) == 8
    assert await outbox.mark_delivered("bot", [first[0].id]) == 0
    rest = await outbox.claim_undelivered("bot", limit=4)
    assert [e.key for e in rest] == ["R-8", "R-9"]
    await outbox.mark_delivered("bot", [e.id for e in rest])
    assert await outbox.claim_undelivered("bot") == []


async def test_a_claim_marks_the_previous_claims_deliveries(
    repository: SqlRepository, database: Database
) -> None:
    """Events passed as ``delivered`` to the next claim are marked in its transaction: they are
    never handed out again, even after their lease ran out."""
    await _emit(repository, 3)
    outbox = Outbox(database)
    first = await outbox.claim_undelivered("bot", limit=2, lease=timedelta(milliseconds=300))
    rest = await outbox.claim_undelivered("bot", delivered=[e.id for e in first])
    assert [e.key for e in rest] == ["R-2"]
    await asyncio.sleep(0.4)  # the first claim's lease has run out: marked events stay delivered
    assert await outbox.claim_undelivered("bot", delivered=[rest[0].id]) == []
    assert await outbox.mark_delivered("bot", [e.id for e in first + rest]) == 0


async def test_consumers_are_independent_and_topics_filter(
    repository: SqlRepository, database: Database
) -> None:
    """Each named consumer gets every event once; topics narrow what a claim returns."""
    await _emit(repository, 2, "review.created")
    await _emit(repository, 1, "delegation.revoked")
    outbox = Outbox(database)
    bot = await outbox.claim_undelivered("bot", ["review.created"])
    sink = await outbox.claim_undelivered("siem")
    assert [e.topic for e in bot] == ["review.created", "review.created"]
    assert [e.topic for e in sink] == ["review.created", "review.created", "delegation.revoked"]


async def test_expired_lease_is_claimed_again(
    repository: SqlRepository, database: Database
) -> None:
    """A consumer that died before marking gets its events again once the lease runs out."""
    await _emit(repository, 2)
    outbox = Outbox(database)
    leased = await outbox.claim_undelivered("bot", lease=timedelta(milliseconds=600))
    assert await outbox.claim_undelivered("bot") == []
    await asyncio.sleep(0.7)
    again = await outbox.claim_undelivered("bot")
    assert [e.id for e in again] == [e.id for e in leased]
    assert [e.attempts for e in again] == [2, 2]
    await outbox.release("bot", [again[0].id])
    assert [e.key for e in await outbox.claim_undelivered("bot")] == ["R-0"]


async def test_concurrent_claimers_never_share_an_event(
    repository: SqlRepository, database: Database
) -> None:
    """Ten replicas of one consumer claiming at once split the events without overlap."""
    await _emit(repository, 30)
    outbox = Outbox(database)
    batches = await asyncio.gather(*(outbox.claim_undelivered("bot", limit=5) for _ in range(10)))
    ids = [e.id for batch in batches for e in batch]
    assert len(ids) == len(set(ids)) == 30


async def test_a_bot_that_was_down_delivers_everything_once(database_url: str) -> None:
    """Events written while no consumer ran are delivered by the next one, and only once."""
    from store import InProcessBus, upgrade

    await upgrade(database_url)
    async with Database(database_url) as writer_db:
        await _emit(SqlRepository(writer_db, InProcessBus()), 3)
    async with Database(database_url) as bot_db:
        outbox = Outbox(bot_db)
        events = await outbox.claim_undelivered("bot")
        await outbox.mark_delivered("bot", [e.id for e in events])
    assert [e.key for e in events] == ["R-0", "R-1", "R-2"]
    async with Database(database_url) as restarted:
        assert await Outbox(restarted).claim_undelivered("bot") == []


async def test_prune_removes_old_events(repository: SqlRepository, database: Database) -> None:
    """Pruning deletes events written before the cutoff, with their delivery records."""
    await _emit(repository, 3)
    outbox = Outbox(database)
    claimed = await outbox.claim_undelivered("bot")
    await outbox.mark_delivered("bot", [e.id for e in claimed])
    assert await outbox.prune(datetime.now(UTC) + timedelta(seconds=1)) == 3
    assert await outbox.claim_undelivered("other") == []
