"""The cast and the connections the approvals tests share, and a review builder."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from approvals.model import (
    AccessMode,
    AccessRequest,
    Actor,
    ApproverRule,
    Connection,
    Decision,
    Identity,
    IdentityKind,
    Outcome,
    Review,
    ReviewKind,
    new_id,
)
from approvals.states import ReviewState
from tests.approvals.fakes import EPOCH

__all__ = [
    "ALICE",
    "ALICE_VIA_AGENTS",
    "ALICE_VIA_CI",
    "BOB",
    "BOB_VIA_SLACKBOT",
    "CAROL",
    "CI_RUNNER",
    "DAVE",
    "MALLORY",
    "PG_PAY",
    "PG_PROD",
    "PG_SOLO",
    "SQL_AGENT",
    "approver",
    "connections",
    "decision",
    "review",
]

ALICE = Identity("alice@example.com", groups=frozenset({"eng"}))
ALICE_VIA_CI = replace(ALICE, actors=(Actor("ci-runner"),))
ALICE_VIA_AGENTS = replace(ALICE, actors=(Actor("ci-runner"), Actor("sql-agent")))
BOB = Identity("bob@example.com", groups=frozenset({"dba-oncall"}))
BOB_VIA_SLACKBOT = replace(BOB, actors=(Actor("slack-bot"),))
CAROL = Identity("carol@example.com", groups=frozenset({"dba-oncall"}))
DAVE = Identity("dave@example.com", groups=frozenset({"dba-oncall", "eng"}))
MALLORY = Identity("mallory@example.com", groups=frozenset({"eng"}))
CI_RUNNER = Identity("ci-runner", kind=IdentityKind.SERVICE, groups=frozenset({"dba-oncall"}))
SQL_AGENT = Identity("sql-agent", kind=IdentityKind.SERVICE, groups=frozenset({"dba-oncall"}))

# Standing access for eng, one approval, break-glass allowed.
PG_PROD = Connection(
    name="pg-prod",
    type="postgres",
    access=AccessMode.STANDING,
    allow_groups=frozenset({"eng"}),
    approvers=ApproverRule(groups=frozenset({"dba-oncall"}), channel="#dba-oncall", quorum=1),
    review_timeout=timedelta(minutes=15),
    max_grant=timedelta(hours=8),
    break_glass=True,
)
# Access on request only, two of the on-call approvers, no break-glass.
PG_PAY = Connection(
    name="pg-pay",
    type="postgres",
    access=AccessMode.REQUEST,
    approvers=ApproverRule(groups=frozenset({"dba-oncall"}), quorum=2),
    review_timeout=timedelta(minutes=15),
    max_grant=timedelta(hours=4),
    roles=frozenset({"ro"}),
)
# Access on request, two approvals, but break-glass allowed.
PG_SOLO = replace(PG_PAY, name="pg-solo", break_glass=True)


def connections(*extra: Connection) -> dict[str, Connection]:
    return {conn.name: conn for conn in (PG_PROD, PG_PAY, PG_SOLO, *extra)}


def approver(n: int) -> Identity:
    """The n-th of many distinct on-call approvers."""
    return Identity(f"oncall-{n}@example.com", groups=frozenset({"dba-oncall"}))


def review(
    requester: Identity = ALICE,
    *,
    connection: Connection = PG_PROD,
    decisions: tuple[Decision, ...] = (),
    access: AccessRequest | None = None,
) -> Review:
    """A pending review as ``hold_statement`` (or ``request_access``) would open it."""
    return Review(
        id=new_id(),
        kind=ReviewKind.ACCESS if access else ReviewKind.STATEMENT,
        requester=requester,
        connection=connection.name,
        state=ReviewState.PENDING,
        quorum=connection.approvers.quorum,
        created_at=EPOCH,
        expires_at=EPOCH + connection.review_timeout,
        statement=None if access else "DROP TABLE orders",
        access=access,
        decisions=decisions,
    )


def decision(
    of: Review, who: Identity, outcome: Outcome = Outcome.APPROVE, reason: str | None = None
) -> Decision:
    return Decision(
        id=new_id(), review_id=of.id, approver=who, outcome=outcome, reason=reason, at=EPOCH
    )
