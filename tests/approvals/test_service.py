"""ApprovalService: opening, deciding, expiring and cancelling reviews, on in-memory fakes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approvals.errors import (
    AlreadyDecided,
    AlreadyVoted,
    NotAnApprover,
    NotFound,
    PolicyViolation,
    ReasonRequired,
    ReviewExpired,
    SelfApproval,
)
from approvals.model import Actor, Identity, Outcome, ReviewKind
from approvals.service import REVIEW_CREATED, REVIEW_DECIDED, REVIEW_UPDATED, ApprovalService
from approvals.states import ReviewState
from tests.approvals.builders import (
    ALICE,
    ALICE_VIA_AGENTS,
    ALICE_VIA_CI,
    BOB,
    CAROL,
    DAVE,
    MALLORY,
    PG_PAY,
    approver,
    connections,
)
from tests.approvals.fakes import CommitFailed, FakeClock, InMemoryRepository


async def hold(service: ApprovalService, connection: str = "pg-prod", who: Identity = ALICE) -> str:
    review = await service.hold_statement(
        who, connection, "DROP TABLE orders", risk="high", rule="ddl-destroy", session_id="S-1"
    )
    return review.id


# -- opening -------------------------------------------------------------------------------------


async def test_hold_opens_a_pending_review(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """hold_statement stores a pending review with the connection's quorum and deadline."""
    review = await service.hold_statement(
        ALICE_VIA_AGENTS, "pg-pay", "DELETE FROM t", risk="high", rule="no-where", session_id="S"
    )
    assert review.state is ReviewState.PENDING
    assert review.kind is ReviewKind.STATEMENT
    assert (review.quorum, review.created_at) == (2, clock.now())
    assert review.expires_at == clock.now() + timedelta(minutes=15)
    assert (review.statement, review.rule, review.session_id) == ("DELETE FROM t", "no-where", "S")
    assert await repo.get_review(review.id) == review


async def test_hold_writes_audit_and_emits_created(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """Opening a review audits statement.held with the full chain and emits review.created."""
    review = await service.hold_statement(
        ALICE_VIA_AGENTS, "pg-prod", "DROP TABLE orders", risk="high", rule="ddl-destroy"
    )
    [entry] = repo.audit
    assert (entry.action, entry.target, entry.outcome) == ("statement.held", review.id, "pending")
    assert entry.actor == ALICE_VIA_AGENTS
    assert entry.details == {"statement": "DROP TABLE orders", "rule": "ddl-destroy"}
    assert [(e.topic, e.key) for e in repo.bus.published] == [(REVIEW_CREATED, review.id)]
    assert repo.outbox == repo.bus.published


async def test_hold_on_unknown_connection_is_not_found(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """A review for a connection that is not configured raises NotFound and stores nothing."""
    with pytest.raises(NotFound, match="pg-nowhere"):
        await hold(service, "pg-nowhere")
    assert repo.reviews == {} and repo.bus.published == []


async def test_decide_on_unknown_review_is_not_found(service: ApprovalService) -> None:
    """Deciding a review id that does not exist raises NotFound."""
    with pytest.raises(NotFound):
        await service.decide("no-such-review", BOB, Outcome.APPROVE)


# -- quorum 1 ------------------------------------------------------------------------------------


async def test_approve_with_quorum_one_decides(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """One approval on a quorum-1 review approves it, emits review.decided and audits both steps."""
    review_id = await hold(service)
    clock.advance(timedelta(minutes=3))
    review = await service.decide(review_id, BOB, Outcome.APPROVE, "  ok  ")
    assert review.state is ReviewState.APPROVED
    assert review.decided_at == clock.now()
    assert [d.approver for d in review.decisions] == [BOB]
    assert review.decisions[0].reason == "ok"
    assert await repo.get_review(review_id) == review
    assert list(repo.decisions.values()) == list(review.decisions)
    assert repo.bus.topics() == [REVIEW_CREATED, REVIEW_DECIDED]
    decided = repo.bus.published[-1]
    assert decided.key == review_id
    assert decided.payload == {
        "state": "approved",
        "connection": "pg-prod",
        "decided_by": BOB.subject,
        "reason": "ok",
    }
    assert repo.audit_actions() == ["statement.held", "review.decision", "review.final"]
    final = repo.audit[-1]
    assert (final.actor, final.outcome, final.at) == (BOB, "approved", clock.now())


async def test_deny_denies_with_reason(service: ApprovalService, repo: InMemoryRepository) -> None:
    """A deny ends the review denied; the event carries the denier and their reason."""
    review_id = await hold(service)
    review = await service.decide(review_id, BOB, Outcome.DENY, "not during business hours")
    assert review.state is ReviewState.DENIED
    assert review.deciding is not None and review.deciding.approver == BOB
    assert repo.bus.published[-1].payload["reason"] == "not during business hours"
    assert repo.audit[-1].outcome == "denied"


# -- k of N --------------------------------------------------------------------------------------


async def test_first_of_two_approvals_keeps_pending_and_emits_updated(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """With quorum 2, the first approval keeps the review pending and emits review.updated."""
    review_id = await hold(service, "pg-pay")
    review = await service.decide(review_id, BOB, Outcome.APPROVE)
    assert review.state is ReviewState.PENDING
    assert review.decided_at is None
    assert len(review.approvals) == 1
    assert repo.bus.topics() == [REVIEW_CREATED, REVIEW_UPDATED]
    assert repo.bus.published[-1].payload["state"] == "pending"
    assert "review.final" not in repo.audit_actions()


async def test_second_distinct_approval_reaches_quorum(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """With quorum 2, a second approval by someone else approves the review."""
    review_id = await hold(service, "pg-pay")
    await service.decide(review_id, BOB, Outcome.APPROVE)
    review = await service.decide(review_id, CAROL, Outcome.APPROVE)
    assert review.state is ReviewState.APPROVED
    assert [d.approver for d in review.approvals] == [BOB, CAROL]
    assert repo.bus.topics() == [REVIEW_CREATED, REVIEW_UPDATED, REVIEW_DECIDED]
    assert repo.bus.published[-1].payload["decided_by"] == CAROL.subject


async def test_same_approver_twice_does_not_count_twice(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """The same approver approving again is refused (AlreadyVoted) and the review stays pending."""
    review_id = await hold(service, "pg-pay")
    await service.decide(review_id, BOB, Outcome.APPROVE)
    with pytest.raises(AlreadyVoted):
        await service.decide(review_id, BOB, Outcome.APPROVE)
    stored = await repo.get_review(review_id)
    assert stored is not None and stored.state is ReviewState.PENDING
    assert len(stored.decisions) == len(repo.decisions) == 1


async def test_one_deny_denies_after_an_approval(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """With quorum 2, an approval then a deny ends the review denied, decided by the denier."""
    review_id = await hold(service, "pg-pay")
    await service.decide(review_id, BOB, Outcome.APPROVE)
    review = await service.decide(review_id, CAROL, Outcome.DENY, "wrong database")
    assert review.state is ReviewState.DENIED
    assert review.deciding is not None and review.deciding.approver == CAROL
    assert repo.bus.published[-1].payload["decided_by"] == CAROL.subject


# -- refusals leave no trace ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "outcome", "reason", "error"),
    [
        (ALICE, Outcome.APPROVE, None, SelfApproval),
        (
            Identity("ci-runner", groups=frozenset({"dba-oncall"})),
            Outcome.APPROVE,
            None,
            SelfApproval,
        ),
        (MALLORY, Outcome.APPROVE, None, NotAnApprover),
        (BOB, Outcome.DENY, " ", ReasonRequired),
        (
            Identity(BOB.subject, groups=BOB.groups, actors=(Actor("bot"),)),
            Outcome.APPROVE,
            None,
            PolicyViolation,
        ),
    ],
    ids=["requester", "agent-in-chain", "non-approver", "deny-no-reason", "agent-acting"],
)
async def test_refused_decision_leaves_no_trace(
    service: ApprovalService,
    repo: InMemoryRepository,
    *,
    who: Identity,
    outcome: Outcome,
    reason: str | None,
    error: type[Exception],
) -> None:
    """A decision the policy refuses writes no decision, audit entry or event; the review waits."""
    review_id = await hold(service, who=ALICE_VIA_CI)
    before = (dict(repo.reviews), list(repo.audit), list(repo.bus.published))
    with pytest.raises(error):
        await service.decide(review_id, who, outcome, reason)
    assert (repo.reviews, repo.audit, repo.bus.published) == before
    assert repo.decisions == {}


async def test_failed_commit_loses_the_whole_decision(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """If the store fails at commit, nothing of the decision is kept or published; a retry works."""
    review_id = await hold(service)
    before = (dict(repo.reviews), list(repo.audit), list(repo.bus.published))
    repo.fail_commits = 1
    with pytest.raises(CommitFailed):
        await service.decide(review_id, BOB, Outcome.APPROVE)
    assert (repo.reviews, repo.audit, repo.bus.published) == before
    review = await service.decide(review_id, BOB, Outcome.APPROVE)
    assert review.state is ReviewState.APPROVED


# -- expiry --------------------------------------------------------------------------------------


async def test_decide_after_expiry_records_expired(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """Deciding at or after the deadline raises ReviewExpired and the review is stored expired."""
    review_id = await hold(service)
    clock.advance(timedelta(minutes=15))
    with pytest.raises(ReviewExpired):
        await service.decide(review_id, BOB, Outcome.APPROVE)
    stored = await repo.get_review(review_id)
    assert stored is not None and stored.state is ReviewState.EXPIRED
    assert stored.decisions == () and repo.decisions == {}
    assert stored.decided_at == clock.now()
    assert repo.bus.topics() == [REVIEW_CREATED, REVIEW_DECIDED]
    assert repo.bus.published[-1].payload["state"] == "expired"
    final = repo.audit[-1]
    assert (final.action, final.actor, final.outcome) == ("review.final", None, "expired")


async def test_decide_just_before_deadline_counts(
    service: ApprovalService, clock: FakeClock
) -> None:
    """A decision one microsecond before the deadline is still accepted."""
    review_id = await hold(service)
    clock.advance(timedelta(minutes=15) - timedelta(microseconds=1))
    review = await service.decide(review_id, BOB, Outcome.APPROVE)
    assert review.state is ReviewState.APPROVED


async def test_expire_ends_a_pending_review_and_keeps_a_final_one(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """expire() ends a pending review once; on a final review it changes nothing."""
    review_id = await hold(service)
    clock.advance(timedelta(minutes=20))
    expired = await service.expire(review_id)
    assert expired.state is ReviewState.EXPIRED
    published = len(repo.bus.published)
    assert await service.expire(review_id) == expired
    assert len(repo.bus.published) == published


# -- already decided -----------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", list(Outcome))
async def test_decide_on_final_review_names_the_decider(
    service: ApprovalService, outcome: Outcome
) -> None:
    """A late decider gets AlreadyDecided naming who decided and the state."""
    review_id = await hold(service)
    await service.decide(review_id, BOB, outcome, "reason")
    with pytest.raises(AlreadyDecided) as caught:
        await service.decide(review_id, CAROL, Outcome.APPROVE)
    state = "approved" if outcome is Outcome.APPROVE else "denied"
    assert (caught.value.decided_by, caught.value.state) == (BOB.subject, state)
    assert f"already {state} by {BOB.subject}" in caught.value.message
    assert caught.value.code == "already_decided"


async def test_decide_on_expired_review_is_already_decided_by_nobody(
    service: ApprovalService, clock: FakeClock
) -> None:
    """Once expired, a further decision is AlreadyDecided with state expired and no decider."""
    review_id = await hold(service)
    clock.advance(timedelta(hours=1))
    with pytest.raises(ReviewExpired):
        await service.decide(review_id, BOB, Outcome.APPROVE)
    with pytest.raises(AlreadyDecided) as caught:
        await service.decide(review_id, CAROL, Outcome.APPROVE)
    assert (caught.value.state, caught.value.decided_by) == ("expired", None)


# -- cancel --------------------------------------------------------------------------------------


async def test_requester_cancels(service: ApprovalService, repo: InMemoryRepository) -> None:
    """The requester cancels: review.decided says cancelled and the audit names the requester."""
    review_id = await hold(service)
    review = await service.cancel(review_id, ALICE)
    assert review.state is ReviewState.CANCELLED
    assert repo.bus.topics() == [REVIEW_CREATED, REVIEW_DECIDED]
    assert repo.bus.published[-1].payload["state"] == "cancelled"
    assert (repo.audit[-1].actor, repo.audit[-1].outcome) == (ALICE, "cancelled")
    with pytest.raises(AlreadyDecided) as caught:
        await service.decide(review_id, BOB, Outcome.APPROVE)
    assert caught.value.state == "cancelled"


async def test_requesters_client_cancels_through_its_agents(service: ApprovalService) -> None:
    """The session that held it (alice → ci-runner → sql-agent) may cancel alice's review."""
    review_id = await hold(service, who=ALICE_VIA_AGENTS)
    review = await service.cancel(review_id, ALICE_VIA_AGENTS)
    assert review.state is ReviewState.CANCELLED


@pytest.mark.parametrize(
    "who",
    [
        BOB,
        DAVE,
        Identity("ci-runner"),
        Identity(MALLORY.subject, actors=(Actor("ci-runner"),)),
    ],
    ids=["approver", "other-engineer", "shared-agent-alone", "other-person-via-shared-agent"],
)
async def test_someone_else_cannot_cancel(
    service: ApprovalService, repo: InMemoryRepository, who: Identity
) -> None:
    """Only the requester may cancel, not an approver, not a shared agent, not another's agent."""
    review_id = await hold(service, who=ALICE_VIA_CI)
    with pytest.raises(PolicyViolation, match="only the requester"):
        await service.cancel(review_id, who)
    stored = await repo.get_review(review_id)
    assert stored is not None and stored.state is ReviewState.PENDING


async def test_cancel_a_final_review_is_already_decided(service: ApprovalService) -> None:
    """Cancelling an approved review raises AlreadyDecided naming the approver."""
    review_id = await hold(service)
    await service.decide(review_id, BOB, Outcome.APPROVE)
    with pytest.raises(AlreadyDecided, match=BOB.subject):
        await service.cancel(review_id, ALICE)


# -- abandon: the system's cancel (the gateway holding the statement is gone) ---------------------

GONE = "the gateway holding it is gone; the statement never ran"


async def test_abandon_cancels_with_the_reason_and_nobody_can_approve_after(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """abandon: cancelled with its reason (review, event, audit, no actor); an approval after
    it is refused as already cancelled, saying why."""
    review_id = await hold(service)
    review = await service.abandon(review_id, GONE)
    assert (review.state, review.cancel_reason) == (ReviewState.CANCELLED, GONE)
    assert repo.bus.topics() == [REVIEW_CREATED, REVIEW_DECIDED]
    assert repo.bus.published[-1].payload["reason"] == GONE
    final = repo.audit[-1]
    assert (final.action, final.actor, final.outcome) == ("review.final", None, "cancelled")
    assert final.details["reason"] == GONE
    with pytest.raises(AlreadyDecided, match="already cancelled: the gateway holding it is gone"):
        await service.decide(review_id, BOB, Outcome.APPROVE)
    stored = await repo.get_review(review_id)
    assert stored is not None and stored.state is ReviewState.CANCELLED


async def test_abandon_is_once_and_leaves_a_decided_review_alone(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """A second abandon (a racing reaper) and an abandon of an approved review change nothing."""
    review_id = await hold(service)
    await service.abandon(review_id, GONE)
    audited = len(repo.audit)
    again = await service.abandon(review_id, "another reaper")
    assert (again.cancel_reason, len(repo.audit)) == (GONE, audited)
    approved_id = await hold(service)
    await service.decide(approved_id, BOB, Outcome.APPROVE)
    left = await service.abandon(approved_id, GONE)
    assert (left.state, left.cancel_reason) == (ReviewState.APPROVED, None)


async def test_abandon_refuses_an_access_request(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """An access request belongs to no gateway session: abandon refuses it, it stays pending."""
    review = await service.request_access(
        ALICE, "pg-prod", role=None, duration=timedelta(hours=1), reason="INC-42"
    )
    with pytest.raises(PolicyViolation, match="access request"):
        await service.abandon(review.id, GONE)
    stored = await repo.get_review(review.id)
    assert stored is not None and stored.state is ReviewState.PENDING


# -- quorum model, over random vote sequences ----------------------------------------------------

votes = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(Outcome), st.booleans()), max_size=8)


@settings(max_examples=60, deadline=None)
@given(quorum=st.integers(1, 3), run=votes)
def test_random_votes_follow_the_quorum_model(
    quorum: int, run: list[tuple[int, Outcome, bool]]
) -> None:
    """Any sequence of votes ends as a simple k-of-N model says, with one review.decided at most."""
    conns = connections(
        replace(PG_PAY, name="pg-k", approvers=replace(PG_PAY.approvers, quorum=quorum))
    )

    async def scenario() -> None:
        repo = InMemoryRepository()
        service = ApprovalService(repo, repo.bus, FakeClock(), conns)
        review_id = await hold(service, "pg-k")
        state, voters, approvals = ReviewState.PENDING, set[int](), set[int]()
        for who, outcome, with_reason in run:
            reason = "because" if with_reason else None
            expected: type[Exception] | None = None
            if state is not ReviewState.PENDING:
                expected = AlreadyDecided
            elif who in voters:
                expected = AlreadyVoted
            elif outcome is Outcome.DENY and reason is None:
                expected = ReasonRequired
            if expected is not None:
                with pytest.raises(expected):
                    await service.decide(review_id, approver(who), outcome, reason)
                continue
            review = await service.decide(review_id, approver(who), outcome, reason)
            voters.add(who)
            if outcome is Outcome.DENY:
                state = ReviewState.DENIED
            else:
                approvals.add(who)
                if len(approvals) >= quorum:
                    state = ReviewState.APPROVED
            assert review.state is state
        stored = await repo.get_review(review_id)
        assert stored is not None and stored.state is state
        assert repo.bus.topics().count(REVIEW_DECIDED) == (state is not ReviewState.PENDING)

    asyncio.run(scenario())
