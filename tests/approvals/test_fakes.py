"""The in-memory fakes keep the promises the domain tests rely on."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from approvals.model import AuditEntry, DomainEvent
from tests.approvals.builders import review
from tests.approvals.fakes import (
    EPOCH,
    CommitFailed,
    FakeClock,
    InMemoryEventBus,
    InMemoryRepository,
    StoreError,
)


class Boom(Exception):
    pass


async def test_exception_in_transaction_writes_nothing(repo: InMemoryRepository) -> None:
    """Everything written in a transaction that raises is discarded, and nothing is published."""
    with pytest.raises(Boom):
        async with repo.transaction() as tx:
            await tx.add_review(review())
            await tx.append_audit(AuditEntry("x", None, "t", "ok", EPOCH))
            await tx.emit(DomainEvent("review.created", "k"))
            raise Boom
    assert (repo.reviews, repo.audit, repo.outbox, repo.bus.published) == ({}, [], [], [])
    assert repo.rollbacks == 1


async def test_injected_commit_failure_writes_nothing(repo: InMemoryRepository) -> None:
    """fail_commits makes the next commit fail with nothing applied."""
    repo.fail_commits = 1
    with pytest.raises(CommitFailed):
        async with repo.transaction() as tx:
            await tx.add_review(review())
    assert repo.reviews == {}
    async with repo.transaction() as tx:
        await tx.add_review(review())
    assert len(repo.reviews) == 1


async def test_events_are_published_after_commit_and_unlock(repo: InMemoryRepository) -> None:
    """A subscriber woken by an event sees the committed row and can lock it at once."""
    pending = review()
    async with repo.transaction() as tx:
        await tx.add_review(pending)
    seen: list[bool] = []
    async with repo.bus.subscribe("review.decided") as subscription:
        async with repo.transaction() as tx:
            await tx.get_review(pending.id, for_update=True)
            await tx.save_review(replace(pending, version=1))
            await tx.emit(DomainEvent("review.decided", pending.id))
            assert repo.bus.published == []
        await subscription.get()
        seen.append(repo.reviews[pending.id].version == 1)
        seen.append(not repo.lock(f"review:{pending.id}").locked())
    assert seen == [True, True]


async def test_for_update_serialises_transactions(repo: InMemoryRepository) -> None:
    """A second reader for update waits until the first transaction ends."""
    pending = review()
    async with repo.transaction() as tx:
        await tx.add_review(pending)
    order: list[str] = []

    async def worker(name: str) -> None:
        async with repo.transaction() as tx:
            await tx.get_review(pending.id, for_update=True)
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(worker("a"), worker("b"))
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])


async def test_store_refuses_unlocked_or_out_of_order_saves(repo: InMemoryRepository) -> None:
    """Saving a review not read for update, or with a version that skips, is a StoreError."""
    pending = review()
    async with repo.transaction() as tx:
        await tx.add_review(pending)
    with pytest.raises(StoreError, match="without being read for update"):
        async with repo.transaction() as tx:
            await tx.save_review(replace(pending, version=1))
    with pytest.raises(StoreError, match="does not follow"):
        async with repo.transaction() as tx:
            await tx.get_review(pending.id, for_update=True)
            await tx.save_review(replace(pending, version=2))


async def test_bus_delivers_only_to_live_subscribers_of_the_topic() -> None:
    """Published events reach current subscribers of their topic only."""
    bus = InMemoryEventBus()
    async with bus.subscribe("a") as sub_a, bus.subscribe("b") as sub_b:
        await bus.publish(DomainEvent("a", "1"))
        assert (await sub_a.get()).key == "1"
        assert sub_b.queue.empty()
    assert bus.subscribers("a") == 0


def test_clock_moves_only_when_told() -> None:
    """A frozen FakeClock stands still until advanced or set; a ticking one moves on its own."""
    clock = FakeClock()
    assert clock.now() == clock.now() == EPOCH
    clock.advance(timedelta(minutes=5))
    assert clock.now() == EPOCH + timedelta(minutes=5)
    clock.set(EPOCH)
    assert clock.now() == EPOCH
    ticking = FakeClock(ticking=True)
    ticking.advance(timedelta(hours=1))
    assert ticking.now() >= EPOCH + timedelta(hours=1)
    assert ticking.now().tzinfo is not None
