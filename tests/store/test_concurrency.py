"""Racing deciders: the review's lock lets exactly one decision through, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from approvals.errors import AlreadyDecided
from approvals.model import Outcome, Review
from approvals.service import ApprovalService
from approvals.states import ReviewState
from store import Database, InProcessBus, Outbox, PostgresBus, SqlRepository, verify
from tests.store.helpers import ALICE, CONNECTIONS, approvers


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def test_fifty_racing_deciders_yield_one_outcome(
    repository: SqlRepository, bus: InProcessBus | PostgresBus, database: Database
) -> None:
    """50 concurrent approve/deny calls on one review: one wins, 49 get AlreadyDecided naming it."""
    service = ApprovalService(repository, bus, _WallClock(), CONNECTIONS)
    held = await service.hold_statement(ALICE, "pg-prod", "DROP TABLE t;", risk="d", rule="r")
    people = approvers(50)

    async def decide(i: int) -> Review:
        outcome = Outcome.APPROVE if i % 2 else Outcome.DENY
        return await service.decide(held.id, people[i], outcome, f"reason {i}")

    results = await asyncio.gather(*(decide(i) for i in range(50)), return_exceptions=True)

    winners = [r for r in results if isinstance(r, Review)]
    losers = [r for r in results if isinstance(r, AlreadyDecided)]
    assert len(winners) == 1, [r for r in results if not isinstance(r, AlreadyDecided)]
    assert len(losers) == 49
    final = winners[0]
    assert final.state in (ReviewState.APPROVED, ReviewState.DENIED)
    assert final.deciding is not None
    winner = final.deciding.approver.subject
    assert {e.decided_by for e in losers} == {winner}
    assert all(winner in str(e) for e in losers)

    stored = await repository.get_review(held.id)
    assert stored == final and len(stored.decisions) == 1
    events = await Outbox(database).claim_undelivered("check", ["review.decided"], limit=100)
    assert [e.key for e in events] == [held.id]
    result = await verify(database)
    assert result.ok and result.checked == 3  # statement.held, review.decision, review.final
