"""The approvals service running on the real repository, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from approvals.errors import AlreadyDecided, NotAnApprover, ReviewExpired
from approvals.model import Identity, Outcome
from approvals.service import REVIEW_DECIDED, ApprovalService
from approvals.states import ReviewState
from store import Database, InProcessBus, Outbox, PostgresBus, SqlRepository, verify
from tests.store.helpers import ALICE, ALICE_VIA_AGENTS, BOB, CAROL, CONNECTIONS, Clock

Bus = InProcessBus | PostgresBus


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(repository: SqlRepository, bus: Bus, clock: Clock) -> ApprovalService:
    return ApprovalService(repository, bus, clock, CONNECTIONS)


async def _actions(repository: SqlRepository) -> list[str]:
    return [record.action for record in await repository.list_audit(limit=1000)]


async def test_hold_then_approve(
    service: ApprovalService, repository: SqlRepository, database: Database
) -> None:
    """A held statement approved by an on-call approver is stored approved, audited, announced."""
    held = await service.hold_statement(
        ALICE_VIA_AGENTS, "pg-prod", "DROP TABLE orders;", risk="destructive", rule="ddl-drop"
    )
    assert await repository.get_review(held.id) == held
    decided = await service.decide(held.id, BOB, Outcome.APPROVE)
    stored = await repository.get_review(held.id)
    assert stored == decided
    assert stored is not None and stored.state is ReviewState.APPROVED
    assert stored.deciding is not None and stored.deciding.approver == BOB
    assert stored.requester == ALICE_VIA_AGENTS
    assert await _actions(repository) == ["statement.held", "review.decision", "review.final"]
    topics = [e.topic for e in await Outbox(database).claim_undelivered("t", limit=10)]
    assert topics == ["review.created", "review.decided"]
    assert (await verify(database)).ok


async def test_deny_wakes_the_waiting_session(
    service: ApprovalService, repository: SqlRepository
) -> None:
    """A session waiting in await_decision wakes up with the deny and the approver's reason."""
    held = await service.hold_statement(
        ALICE, "pg-prod", "TRUNCATE orders;", risk="destructive", rule="truncate"
    )
    waiter = asyncio.create_task(service.await_decision(held.id))
    await asyncio.sleep(0.05)
    await service.decide(held.id, CAROL, Outcome.DENY, "not during business hours")
    final = await asyncio.wait_for(waiter, 10)
    assert final.state is ReviewState.DENIED
    assert final.deciding is not None and final.deciding.reason == "not during business hours"
    with pytest.raises(AlreadyDecided) as caught:
        await service.decide(held.id, BOB, Outcome.APPROVE)
    assert caught.value.decided_by == CAROL.subject


async def test_expire(service: ApprovalService, repository: SqlRepository, clock: Clock) -> None:
    """A decision after the deadline records the expiry and raises ReviewExpired."""
    held = await service.hold_statement(ALICE, "pg-prod", "DROP TABLE t;", risk="d", rule="r")
    clock.advance(timedelta(minutes=16))
    with pytest.raises(ReviewExpired):
        await service.decide(held.id, BOB, Outcome.APPROVE)
    stored = await repository.get_review(held.id)
    assert stored is not None and stored.state is ReviewState.EXPIRED
    assert stored.decisions == ()
    assert await service.expire(held.id) == stored
    assert (await _actions(repository))[-1] == "review.final"


async def test_access_request_grants_a_delegation(
    service: ApprovalService, repository: SqlRepository, clock: Clock, database: Database
) -> None:
    """An approved access request becomes a live delegation; revoking it ends it."""
    asked = await service.request_access(
        ALICE, "pg-request", role="read", duration=timedelta(hours=2), reason="INC-42"
    )
    await service.decide(asked.id, BOB, Outcome.APPROVE)
    granted = await service.authorize_connect(ALICE, "pg-request")
    assert granted is not None
    assert (granted.subject, granted.role, granted.granted_by) == (
        ALICE.subject,
        "read",
        BOB.subject,
    )
    assert granted.expires_at == clock.now() + timedelta(hours=2)
    assert granted.review_id == asked.id
    assert await repository.get_delegation(granted.id) == granted
    revoked = await service.revoke_delegation(granted.id, CAROL, "left the team")
    assert revoked.revoked_by == CAROL.subject
    active = await repository.list_delegations(subject=ALICE.subject, active_at=clock.now())
    assert active == []
    assert "delegation.revoked" in await _actions(repository)
    assert (await verify(database)).ok


async def test_quorum_of_two_needs_two_approvers(
    service: ApprovalService, repository: SqlRepository
) -> None:
    """With quorum 2 the first approval keeps the review pending; the second approves it."""
    held = await service.hold_statement(ALICE, "pg-pair", "DROP TABLE t;", risk="d", rule="r")
    partial = await service.decide(held.id, BOB, Outcome.APPROVE)
    assert partial.state is ReviewState.PENDING
    final = await service.decide(held.id, CAROL, Outcome.APPROVE)
    assert final.state is ReviewState.APPROVED
    stored = await repository.get_review(held.id)
    assert stored is not None
    assert [d.approver.subject for d in stored.decisions] == [BOB.subject, CAROL.subject]
    assert stored.deciding is not None and stored.deciding.approver == CAROL


async def test_refused_decision_leaves_no_trace(
    service: ApprovalService, repository: SqlRepository, bus: Bus
) -> None:
    """A decision the policy refuses rolls back: no decision, no audit entry, no event."""
    held = await service.hold_statement(ALICE, "pg-prod", "DROP TABLE t;", risk="d", rule="r")
    async with bus.subscribe(REVIEW_DECIDED) as subscription:
        with pytest.raises(NotAnApprover):
            await service.decide(held.id, Identity("eve@example.com"), Outcome.APPROVE)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(subscription.get(), 0.3)
    assert await repository.get_review(held.id) == held
    assert await _actions(repository) == ["statement.held"]
