"""ApprovalService under concurrency: waiting for a decision, and racing deciders."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from approvals.errors import AlreadyDecided, AlreadyVoted, NotFound
from approvals.model import Outcome, Review
from approvals.service import REVIEW_DECIDED, ApprovalService
from approvals.states import ReviewState
from tests.approvals.builders import ALICE, BOB, CAROL, PG_PROD, approver, connections
from tests.approvals.fakes import FakeClock, InMemoryEventBus, InMemoryRepository

FAST = replace(PG_PROD, name="pg-fast", review_timeout=timedelta(seconds=0.2))


@pytest.fixture
def live_clock() -> FakeClock:
    return FakeClock(ticking=True)


@pytest.fixture
def live(repo: InMemoryRepository, bus: InMemoryEventBus, live_clock: FakeClock) -> ApprovalService:
    """A service whose clock follows real time, with a 0.2 s review timeout on pg-fast."""
    return ApprovalService(repo, bus, live_clock, connections(FAST))


async def hold(service: ApprovalService, connection: str = "pg-prod") -> str:
    review = await service.hold_statement(
        ALICE, connection, "DROP TABLE orders", risk="high", rule="ddl-destroy"
    )
    return review.id


async def subscribed(bus: InMemoryEventBus, count: int = 1) -> None:
    """Let waiting tasks run until ``count`` of them listen for review.decided."""
    for _ in range(100):
        if bus.subscribers(REVIEW_DECIDED) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError("the waiter never subscribed")


# -- await_decision ------------------------------------------------------------------------------


async def test_await_returns_when_another_task_decides(
    live: ApprovalService, bus: InMemoryEventBus
) -> None:
    """A waiter wakes with the final review as soon as another task decides it."""
    review_id = await hold(live)
    waiter = asyncio.create_task(live.await_decision(review_id))
    await subscribed(bus)
    assert not waiter.done()
    await live.decide(review_id, BOB, Outcome.DENY, "not now")
    review = await asyncio.wait_for(waiter, 1)
    assert review.state is ReviewState.DENIED
    assert review.deciding is not None and review.deciding.reason == "not now"
    assert bus.subscribers(REVIEW_DECIDED) == 0


async def test_await_ignores_other_reviews(live: ApprovalService, bus: InMemoryEventBus) -> None:
    """A decision on another review does not wake the waiter; its own decision does."""
    mine, other = await hold(live), await hold(live)
    waiter = asyncio.create_task(live.await_decision(mine))
    await subscribed(bus)
    await live.decide(other, BOB, Outcome.APPROVE)
    await asyncio.sleep(0.02)
    assert not waiter.done()
    await live.decide(mine, CAROL, Outcome.APPROVE)
    review = await asyncio.wait_for(waiter, 1)
    assert (review.id, review.state) == (mine, ReviewState.APPROVED)


async def test_await_does_not_miss_a_decision_made_while_it_starts(
    live: ApprovalService, repo: InMemoryRepository
) -> None:
    """A decision published between the waiter's first read and its wait still wakes it."""
    review_id = await hold(live)
    read, resume = asyncio.Event(), asyncio.Event()

    async def stall_first_read() -> None:
        repo.after_read = None
        read.set()
        await resume.wait()

    repo.after_read = stall_first_read
    waiter = asyncio.create_task(live.await_decision(review_id))
    await read.wait()  # the waiter holds a stale "pending" copy now
    await live.decide(review_id, BOB, Outcome.APPROVE)
    resume.set()
    review = await asyncio.wait_for(waiter, 1)
    assert review.state is ReviewState.APPROVED


async def test_many_waiters_all_wake(live: ApprovalService, bus: InMemoryEventBus) -> None:
    """Every task waiting on a review wakes on its one decision."""
    review_id = await hold(live)
    waiters = [asyncio.create_task(live.await_decision(review_id)) for _ in range(5)]
    await subscribed(bus, 5)
    await live.decide(review_id, BOB, Outcome.APPROVE)
    reviews = await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert {r.state for r in reviews} == {ReviewState.APPROVED}


async def test_await_expires_at_the_deadline(
    live: ApprovalService, repo: InMemoryRepository, bus: InMemoryEventBus
) -> None:
    """With nobody deciding, the waiter expires the review at its deadline, not before."""
    review_id = await hold(live, "pg-fast")
    started = time.monotonic()
    review = await asyncio.wait_for(live.await_decision(review_id), 2)
    elapsed = time.monotonic() - started
    assert review.state is ReviewState.EXPIRED
    assert 0.15 <= elapsed < 1.5
    stored = await repo.get_review(review_id)
    assert stored == review
    assert bus.topics().count(REVIEW_DECIDED) == 1


async def test_await_past_deadline_expires_at_once(
    service: ApprovalService, clock: FakeClock, repo: InMemoryRepository
) -> None:
    """If the clock is already past the deadline, the waiter expires the review without waiting."""
    review_id = await hold(service)
    clock.advance(timedelta(hours=1))
    review = await asyncio.wait_for(service.await_decision(review_id), 0.5)
    assert review.state is ReviewState.EXPIRED
    assert repo.reviews[review_id].state is ReviewState.EXPIRED


async def test_await_wakes_on_expiry_by_someone_else(
    service: ApprovalService, clock: FakeClock, bus: InMemoryEventBus
) -> None:
    """A waiter wakes when another task (the scheduler) expires the review."""
    review_id = await hold(service)
    waiter = asyncio.create_task(service.await_decision(review_id))
    await subscribed(bus)
    clock.advance(timedelta(minutes=16))
    await service.expire(review_id)
    review = await asyncio.wait_for(waiter, 1)
    assert review.state is ReviewState.EXPIRED


async def test_await_on_final_review_returns_it(service: ApprovalService) -> None:
    """Waiting on a review that is already final returns it at once."""
    review_id = await hold(service)
    decided = await service.decide(review_id, BOB, Outcome.APPROVE)
    assert await asyncio.wait_for(service.await_decision(review_id), 0.5) == decided


async def test_await_unknown_review_is_not_found(service: ApprovalService) -> None:
    """Waiting on a review that does not exist raises NotFound."""
    with pytest.raises(NotFound):
        await service.await_decision("no-such-review")


# -- racing deciders -----------------------------------------------------------------------------


def split(results: Sequence[Review | BaseException]) -> tuple[list[Review], list[BaseException]]:
    reviews = [r for r in results if isinstance(r, Review)]
    errors = [r for r in results if not isinstance(r, Review)]
    return reviews, errors


async def test_fifty_concurrent_deciders_one_outcome(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """50 approvers and deniers racing on a quorum-1 review: one wins, 49 get AlreadyDecided."""
    review_id = await hold(service)

    async def vote(n: int) -> Review:
        outcome = Outcome.APPROVE if n % 2 else Outcome.DENY
        return await service.decide(review_id, approver(n), outcome, f"reason {n}")

    results = await asyncio.gather(*(vote(n) for n in range(50)), return_exceptions=True)
    [winner], errors = split(results)
    assert winner.state in {ReviewState.APPROVED, ReviewState.DENIED}
    assert winner.deciding is not None
    assert len(errors) == 49 and all(isinstance(e, AlreadyDecided) for e in errors)
    decider = winner.deciding.approver.subject
    assert {e.decided_by for e in errors if isinstance(e, AlreadyDecided)} == {decider}
    assert {e.state for e in errors if isinstance(e, AlreadyDecided)} == {winner.state.value}
    assert repo.reviews[review_id] == winner
    assert len(repo.decisions) == 1
    assert repo.bus.topics().count(REVIEW_DECIDED) == 1
    assert repo.audit_actions().count("review.final") == 1


async def test_fifty_concurrent_approvers_quorum_two(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """50 approvers racing on a quorum-2 review: two succeed (pending, then approved), 48 lose."""
    review_id = await hold(service, "pg-pay")
    results = await asyncio.gather(
        *(service.decide(review_id, approver(n), Outcome.APPROVE) for n in range(50)),
        return_exceptions=True,
    )
    reviews, errors = split(results)
    assert sorted(r.state for r in reviews) == [ReviewState.APPROVED, ReviewState.PENDING]
    assert len(errors) == 48 and all(isinstance(e, AlreadyDecided) for e in errors)
    final = repo.reviews[review_id]
    assert final.state is ReviewState.APPROVED
    assert len(final.approvals) == len(repo.decisions) == 2


async def test_same_approver_racing_twice_counts_once(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """One approver clicking twice at once on a quorum-2 review: one vote, one AlreadyVoted."""
    review_id = await hold(service, "pg-pay")
    results = await asyncio.gather(
        *(service.decide(review_id, BOB, Outcome.APPROVE) for _ in range(2)),
        return_exceptions=True,
    )
    [review], [error] = split(results)
    assert review.state is ReviewState.PENDING
    assert isinstance(error, AlreadyVoted)
    assert len(repo.reviews[review_id].decisions) == 1


async def test_decide_races_cancel(service: ApprovalService, repo: InMemoryRepository) -> None:
    """An approval racing the requester's cancel: exactly one of them ends the review."""
    review_id = await hold(service)
    results = await asyncio.gather(
        service.decide(review_id, BOB, Outcome.APPROVE),
        service.cancel(review_id, ALICE),
        return_exceptions=True,
    )
    [review], [error] = split(results)
    assert isinstance(error, AlreadyDecided)
    assert repo.reviews[review_id] == review
    assert review.state in {ReviewState.APPROVED, ReviewState.CANCELLED}
    assert repo.bus.topics().count(REVIEW_DECIDED) == 1
