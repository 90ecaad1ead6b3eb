"""ApprovalService: access requests, break-glass, delegations, revocation and connect checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from approvals.errors import (
    AccessNotAllowed,
    GrantTooLong,
    InvalidTransition,
    NotFound,
    PolicyViolation,
    ReasonRequired,
)
from approvals.model import Actor, Delegation, IdentityKind, Outcome, ReviewKind, new_id
from approvals.service import (
    DELEGATION_GRANTED,
    DELEGATION_REVOKED,
    REVIEW_CREATED,
    REVIEW_DECIDED,
    REVIEW_UPDATED,
    ApprovalService,
)
from approvals.states import ReviewState
from tests.approvals.builders import (
    ALICE,
    ALICE_VIA_AGENTS,
    BOB,
    CAROL,
    MALLORY,
    PG_PAY,
    connections,
)
from tests.approvals.fakes import FakeClock, InMemoryRepository


async def ask(
    service: ApprovalService, connection: str = "pg-pay", hours: float = 2, role: str | None = "ro"
) -> str:
    review = await service.request_access(
        ALICE, connection, role=role, duration=timedelta(hours=hours), reason=" INC-42 "
    )
    return review.id


async def seed(
    repo: InMemoryRepository,
    clock: FakeClock,
    *,
    subject: str = ALICE.subject,
    connection: str = "pg-pay",
    role: str | None = None,
    hours: int = 1,
) -> Delegation:
    """Store a delegation for ``subject`` on ``connection``, valid for ``hours`` from now."""
    delegation = Delegation(
        id=new_id(),
        subject=subject,
        connection=connection,
        role=role,
        granted_by=BOB.subject,
        reason="INC-42",
        created_at=clock.now(),
        expires_at=clock.now() + timedelta(hours=hours),
    )
    async with repo.transaction() as tx:
        await tx.add_delegation(delegation)
    return delegation


# -- access requests -----------------------------------------------------------------------------


async def test_access_request_opens_an_access_review(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """request_access opens a pending access review carrying role, duration and trimmed reason."""
    review_id = await ask(service)
    review = await repo.get_review(review_id)
    assert review is not None and review.kind is ReviewKind.ACCESS
    assert review.access is not None
    assert (review.access.role, review.access.duration) == ("ro", timedelta(hours=2))
    assert review.access.reason == "INC-42"
    assert repo.audit[0].action == "access.requested"
    assert repo.audit[0].details == {"role": "ro", "duration_s": 7200, "reason": "INC-42"}
    assert repo.bus.topics() == [REVIEW_CREATED]


@pytest.mark.parametrize(
    ("hours", "reason", "error"),
    [(5, "INC-42", GrantTooLong), (0, "INC-42", PolicyViolation), (1, " ", ReasonRequired)],
    ids=["too-long", "zero", "no-reason"],
)
async def test_refused_access_request_opens_nothing(
    service: ApprovalService,
    repo: InMemoryRepository,
    hours: int,
    reason: str,
    error: type[Exception],
) -> None:
    """An access request the policy refuses stores no review and emits nothing."""
    with pytest.raises(error):
        await service.request_access(
            ALICE, "pg-pay", role=None, duration=timedelta(hours=hours), reason=reason
        )
    assert repo.reviews == {} and repo.audit == [] and repo.bus.published == []


async def test_approved_access_request_grants_a_delegation(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """Quorum grants a delegation: expires_at = decided_at + duration, granted_by = approver."""
    review_id = await ask(service, hours=3)
    clock.advance(timedelta(minutes=2))
    await service.decide(review_id, BOB, Outcome.APPROVE)
    assert repo.delegations == {}
    clock.advance(timedelta(minutes=5))
    review = await service.decide(review_id, CAROL, Outcome.APPROVE)
    [delegation] = repo.delegations.values()
    assert review.decided_at == clock.now()
    assert delegation.created_at == review.decided_at
    assert delegation.expires_at == review.decided_at + timedelta(hours=3)
    assert delegation.granted_by == CAROL.subject
    assert (delegation.subject, delegation.connection, delegation.role) == (
        ALICE.subject,
        "pg-pay",
        "ro",
    )
    assert (delegation.review_id, delegation.reason) == (review_id, "INC-42")
    assert delegation.break_glass is False and delegation.revoked_at is None
    assert repo.bus.topics() == [REVIEW_CREATED, REVIEW_UPDATED, REVIEW_DECIDED, DELEGATION_GRANTED]
    assert repo.bus.published[-1].key == delegation.id
    grant = repo.audit[-1]
    assert (grant.action, grant.actor, grant.target) == ("delegation.granted", CAROL, delegation.id)


async def test_denied_access_request_grants_nothing(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """A denied access request leaves no delegation behind."""
    review_id = await ask(service)
    await service.decide(review_id, BOB, Outcome.APPROVE)
    await service.decide(review_id, CAROL, Outcome.DENY, "use the replica")
    assert repo.delegations == {}
    assert DELEGATION_GRANTED not in repo.bus.topics()


async def test_approved_statement_review_grants_nothing(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """Approving a held statement lets it run once; it grants no standing delegation."""
    review = await service.hold_statement(ALICE, "pg-prod", "DROP TABLE t", risk="high", rule="r")
    await service.decide(review.id, BOB, Outcome.APPROVE)
    assert repo.delegations == {}


# -- break-glass ---------------------------------------------------------------------------------


async def test_break_glass_approves_at_once_and_flags_the_delegation(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """Break-glass by the requester approves a quorum-2 access review at once, flagged."""
    review_id = await ask(service, "pg-solo", hours=1)
    clock.advance(timedelta(seconds=30))
    review = await service.decide(
        review_id, ALICE, Outcome.APPROVE, "prod is down", break_glass=True
    )
    assert review.state is ReviewState.APPROVED
    assert review.decisions[0].break_glass is True
    [delegation] = repo.delegations.values()
    assert delegation.break_glass is True
    assert delegation.granted_by == ALICE.subject
    assert delegation.expires_at == clock.now() + timedelta(hours=1)
    decision_audit = next(e for e in repo.audit if e.action == "review.decision")
    assert decision_audit.details == {"reason": "prod is down", "break_glass": True}


async def test_break_glass_on_statement_after_partial_approval(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """Break-glass approves a statement review even when it had one of two approvals."""
    review = await service.hold_statement(
        ALICE_VIA_AGENTS, "pg-solo", "DROP TABLE t", risk="high", rule="r"
    )
    await service.decide(review.id, BOB, Outcome.APPROVE)
    final = await service.decide(review.id, ALICE, Outcome.APPROVE, "INC-7", break_glass=True)
    assert final.state is ReviewState.APPROVED
    assert final.deciding is not None and final.deciding.break_glass


async def test_break_glass_refused_where_not_enabled(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """Break-glass on a connection without it is refused and the review keeps waiting."""
    review_id = await ask(service, "pg-pay")
    with pytest.raises(PolicyViolation):
        await service.decide(review_id, ALICE, Outcome.APPROVE, "INC-42", break_glass=True)
    stored = await repo.get_review(review_id)
    assert stored is not None and stored.state is ReviewState.PENDING
    assert repo.delegations == {}


# -- revocation ----------------------------------------------------------------------------------


async def test_revoke_delegation_records_who_and_why(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """Revoking stamps revoked_at/by/reason, audits it and emits delegation.revoked."""
    delegation = await seed(repo, clock)
    clock.advance(timedelta(minutes=10))
    revoked = await service.revoke_delegation(delegation.id, BOB, "left the team")
    assert (revoked.revoked_at, revoked.revoked_by) == (clock.now(), BOB.subject)
    assert revoked.revoke_reason == "left the team"
    assert repo.delegations[delegation.id] == revoked
    assert repo.audit[-1].action == "delegation.revoked" and repo.audit[-1].actor == BOB
    event = repo.bus.published[-1]
    assert (event.topic, event.key) == (DELEGATION_REVOKED, delegation.id)
    assert event.payload == {"subject": ALICE.subject, "connection": "pg-pay"}


async def test_revoke_delegation_twice_is_invalid(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """A second revocation raises InvalidTransition and keeps the first one's record."""
    delegation = await seed(repo, clock)
    first = await service.revoke_delegation(delegation.id, BOB, "first")
    with pytest.raises(InvalidTransition, match="already revoked"):
        await service.revoke_delegation(delegation.id, CAROL, "second")
    assert repo.delegations[delegation.id] == first


async def test_revoke_unknown_delegation_is_not_found(service: ApprovalService) -> None:
    """Revoking a delegation that does not exist raises NotFound."""
    with pytest.raises(NotFound):
        await service.revoke_delegation("nope", BOB, "why")


# -- authorize_connect ---------------------------------------------------------------------------


async def test_standing_access_for_group_members(service: ApprovalService) -> None:
    """On a standing connection a member of allow_groups connects without a delegation, and so
    does a chain whose every link is a member."""
    eng = frozenset({"eng"})
    agents = (Actor("ci-runner", groups=eng), Actor("sql-agent", groups=eng))
    assert await service.authorize_connect(ALICE, "pg-prod") is None
    assert await service.authorize_connect(replace(ALICE, actors=agents), "pg-prod") is None


async def test_standing_access_refuses_non_members(service: ApprovalService) -> None:
    """On a standing connection someone outside allow_groups, with no delegation, is refused."""
    with pytest.raises(AccessNotAllowed, match="/access request pg-prod"):
        await service.authorize_connect(BOB, "pg-prod")


async def test_request_mode_ignores_group_membership(
    repo: InMemoryRepository, clock: FakeClock
) -> None:
    """On a request-mode connection even a member of allow_groups needs a delegation."""
    eng_only = replace(PG_PAY, name="pg-eng", allow_groups=frozenset({"eng"}))
    service = ApprovalService(repo, repo.bus, clock, connections(eng_only))
    with pytest.raises(AccessNotAllowed):
        await service.authorize_connect(ALICE, "pg-eng")
    delegation = await seed(repo, clock, connection="pg-eng")
    assert await service.authorize_connect(ALICE, "pg-eng") == delegation


async def test_request_mode_without_delegation_says_how_to_ask(service: ApprovalService) -> None:
    """Request mode without a delegation raises AccessNotAllowed (42501) telling how to ask."""
    with pytest.raises(AccessNotAllowed) as caught:
        await service.authorize_connect(ALICE, "pg-pay")
    assert "alice@example.com has no access to pg-pay" in caught.value.message
    assert "`/access request pg-pay for 1h because <reason>`" in caught.value.message
    assert (caught.value.code, caught.value.sqlstate) == ("access_not_allowed", "42501")


async def test_request_mode_with_live_delegation(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """A live delegation lets its subject (and agents scoped to the connection acting for them)
    connect; it is returned."""
    review_id = await ask(service)
    await service.decide(review_id, BOB, Outcome.APPROVE)
    await service.decide(review_id, CAROL, Outcome.APPROVE)
    [delegation] = repo.delegations.values()
    clock.advance(timedelta(hours=1))
    assert await service.authorize_connect(ALICE, "pg-pay") == delegation
    pay = frozenset({"pg-pay"})
    agents = (Actor("ci-runner", scope=pay), Actor("sql-agent", scope=pay))
    assert await service.authorize_connect(replace(ALICE, actors=agents), "pg-pay") == delegation
    with pytest.raises(AccessNotAllowed):
        await service.authorize_connect(MALLORY, "pg-pay")


async def test_expired_delegation_is_refused(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """At and after expires_at the delegation no longer lets its subject connect."""
    delegation = await seed(repo, clock)
    clock.set(delegation.expires_at - timedelta(microseconds=1))
    assert await service.authorize_connect(ALICE, "pg-pay") == delegation
    clock.set(delegation.expires_at)
    with pytest.raises(AccessNotAllowed):
        await service.authorize_connect(ALICE, "pg-pay")


async def test_revoked_delegation_is_refused(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """A revoked delegation no longer lets its subject connect."""
    delegation = await seed(repo, clock)
    await service.revoke_delegation(delegation.id, BOB, "done")
    with pytest.raises(AccessNotAllowed):
        await service.authorize_connect(ALICE, "pg-pay")


async def test_delegation_is_per_connection(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """A delegation on one connection does not open another."""
    await seed(repo, clock, connection="pg-solo")
    with pytest.raises(AccessNotAllowed):
        await service.authorize_connect(ALICE, "pg-pay")


async def test_delegation_lets_non_member_onto_standing_connection(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """On a standing connection someone outside allow_groups connects with a delegation."""
    delegation = await seed(repo, clock, subject=BOB.subject, connection="pg-prod")
    assert await service.authorize_connect(BOB, "pg-prod") == delegation


async def test_authorize_unknown_connection_is_not_found(service: ApprovalService) -> None:
    """Connecting to a connection that is not configured raises NotFound."""
    with pytest.raises(NotFound):
        await service.authorize_connect(ALICE, "pg-nowhere")


# -- roles ---------------------------------------------------------------------------------------


async def test_a_session_uses_the_role_its_chain_was_granted(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    """Alice's own delegation names no role, the agent acting for her was granted ``readonly``:
    the session rests on the delegation that expires first and uses ``readonly`` (a role
    narrows the connection's own credential, never widens it)."""
    mine = await seed(repo, clock, hours=1)
    await seed(repo, clock, subject="sql-agent", role="readonly", hours=2)
    agent = replace(ALICE, actors=(Actor("sql-agent", kind=IdentityKind.SERVICE),))
    rests_on = await service.authorize_connect(agent, "pg-pay")
    assert rests_on is not None
    assert (rests_on.id, rests_on.role) == (mine.id, "readonly")
    assert await service.authorize_connect(ALICE, "pg-pay") == mine  # alone: her own, no role


async def test_a_chain_granted_different_roles_is_refused(
    service: ApprovalService, repo: InMemoryRepository, clock: FakeClock
) -> None:
    await seed(repo, clock, role="readonly")
    await seed(repo, clock, subject="sql-agent", role="writer")
    agent = replace(ALICE, actors=(Actor("sql-agent", kind=IdentityKind.SERVICE),))
    with pytest.raises(AccessNotAllowed, match=r"different roles on pg-pay \(readonly, writer\)"):
        await service.authorize_connect(agent, "pg-pay")


async def test_an_access_request_names_a_role_the_connection_defines(
    repo: InMemoryRepository, clock: FakeClock
) -> None:
    with_roles = replace(PG_PAY, roles=frozenset({"readonly", "writer"}))
    service = ApprovalService(repo, repo.bus, clock, connections(with_roles))
    hour = timedelta(hours=1)
    review = await service.request_access(
        ALICE, "pg-pay", role="readonly", duration=hour, reason="INC-42"
    )
    assert review.access is not None and review.access.role == "readonly"
    with pytest.raises(
        PolicyViolation, match=r"pg-pay has no role 'admin' \(its roles: readonly, writer\)"
    ):
        await service.request_access(ALICE, "pg-pay", role="admin", duration=hour, reason="INC-42")
    no_roles = replace(PG_PAY, roles=frozenset())
    plain = ApprovalService(repo, repo.bus, clock, connections(no_roles))
    with pytest.raises(PolicyViolation, match="has no role 'readonly'; ask without a role"):
        await plain.request_access(ALICE, "pg-pay", role="readonly", duration=hour, reason="INC-42")
