"""Approval policy: who may decide a review, when a reason is needed, how long a grant may run.

Rules (each violation is a typed :mod:`approvals.errors` error, never a silent no-op):

- Nobody in the requester's chain (the subject or any agent acting for it) may decide, and an
  approver whose own chain touches the requester's is refused too.
- Decisions are made by people or service accounts directly, never by an agent acting for them.
- The decider must be in the connection's approver groups or identities.
- One vote per approver; a deny needs a reason (the requester sees it).
- Break-glass: only the requester, only where the connection allows it, only with a reason; the
  decision is flagged and approves at once whatever the quorum.
- An access grant lasts more than nothing and at most the connection's ``max_grant``; it needs a
  reason; where ``allow_groups`` is set, only its members may ask.

Powers (:class:`Power`) are what a person or service account may do beyond using its own access:
administer, audit, own a connection, approve, speak for others as the chat bot. **None of them
passes to an agent**: a delegated token (one with an ``act`` chain) holds none, whoever it acts
for. :data:`NOT_DELEGATED` is the one list and :func:`may_use` / :func:`check_actor` the one
check; the HTTP API (``gateway.api.context.ApiContext.holds``), the console chat and the service
all ask them. :func:`check_actor` also refuses an identity any link of whose chain stands
revoked; every door that records a decision (reviews, access reviews, revoking a grant) passes
it inside the decision's own transaction, whatever route the request came by.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from approvals.errors import (
    AlreadyVoted,
    GrantTooLong,
    NotAnApprover,
    NotDelegated,
    PolicyViolation,
    ReasonRequired,
    Revoked,
    SelfApproval,
)
from approvals.model import Connection, Identity, Outcome, Review

__all__ = [
    "NOT_DELEGATED",
    "Power",
    "RevocationReader",
    "check_access_request",
    "check_actor",
    "check_decision",
    "check_not_delegated",
    "human_duration",
    "may_see",
    "may_use",
]


class Power(StrEnum):
    """What an identity may do beyond using its own access (see the module docstring)."""

    ADMIN = "admin"  # [api] admin_groups: service accounts, revocations, anyone's grants
    AUDITOR = "auditor"  # [api] auditor_groups: the whole audit trail, every review and session
    OWNER = "owner"  # a connection's owners: its sessions, grants and access review
    APPROVER = "approver"  # decide reviews (approver groups / identities), see them
    BOT = "bot"  # [api] bot_groups: name the person a chat click is for


# The powers a delegated token never holds, whoever it acts for: all of them. An agent acting
# for alice uses alice's *access* (narrowed along its chain, approvals.chain), never her powers.
NOT_DELEGATED: frozenset[Power] = frozenset(Power)


def may_use(who: Identity, power: Power) -> bool:
    """False when ``who`` is an agent acting for someone and ``power`` does not pass to it."""
    return not (who.actors and power in NOT_DELEGATED)


def check_not_delegated(who: Identity, power: Power) -> None:
    """Raise NotDelegated when :func:`may_use` says no."""
    if not may_use(who, power):
        raise NotDelegated(
            f"{who.describe()}: an agent acting for someone does not hold the {power} power"
        )


class RevocationReader(Protocol):
    """The revocation read the check needs (a store transaction implements it)."""

    async def revoked(self, subjects: Collection[str]) -> str | None:
        """Why one of ``subjects`` stands revoked (or disabled), or None."""
        ...


async def check_actor(revocations: RevocationReader, who: Identity, power: Power | None) -> None:
    """The check every door that records a decision passes, in the decision's transaction:
    no agent acting for someone when ``power`` is needed, and no link of the chain revoked."""
    if power is not None:
        check_not_delegated(who, power)
    reason = await revocations.revoked(who.chain)
    if reason is not None:
        raise Revoked(f"{who.describe()} cannot act: {reason}")


def may_see(who: Identity, review: Review, connection: Connection | None, *, auditor: bool) -> bool:
    """Who sees a review: auditors (``auditor``: the caller checked :data:`Power.AUDITOR`),
    the requester's chain judged by the viewer's own subject (alice directly or through her
    agents, and ci-runner's own account, see alice → ci-runner; mallory acting through the
    same shared ci-runner does not), and, acting directly, its approvers and owners."""
    if auditor and may_use(who, Power.AUDITOR):
        return True
    if review.requester.in_chain(who.subject):
        return True
    if who.actors or connection is None:
        return False
    return connection.approvers.admits(who) or who.subject in connection.owners.identities


def check_decision(
    review: Review,
    connection: Connection,
    approver: Identity,
    outcome: Outcome,
    reason: str | None,
    *,
    break_glass: bool = False,
) -> None:
    """Raise the PolicyViolation that forbids ``approver`` deciding ``review``, if any.

    Subjects are canonical (approvals.subjects), so every comparison here is caseless."""
    if approver.actors:
        raise NotDelegated(
            f"{approver.describe()}: a decision cannot be made by an agent acting for someone"
        )
    own = set(review.requester.chain) & set(approver.chain)
    if break_glass:
        _check_break_glass(review, connection, approver, outcome, reason)
        return
    if own:
        raise SelfApproval(
            f"{approver.subject} is in the requester's chain ({review.requester.describe()}) "
            "and cannot decide this review"
        )
    if not connection.approvers.admits(approver):
        raise NotAnApprover(f"{approver.subject} is not an approver for {connection.name}")
    if any(d.approver.subject == approver.subject for d in review.decisions):
        raise AlreadyVoted(f"{approver.subject} has already voted on review {review.id}")
    if outcome is Outcome.DENY and not (reason and reason.strip()):
        raise ReasonRequired("a deny needs a reason: the requester sees it")


def _check_break_glass(
    review: Review,
    connection: Connection,
    approver: Identity,
    outcome: Outcome,
    reason: str | None,
) -> None:
    if approver.subject != review.requester.subject:
        raise PolicyViolation("break-glass is the requester's own approval; approvers decide")
    if outcome is not Outcome.APPROVE:
        raise PolicyViolation("break-glass approves; to withdraw a request, cancel it")
    if not connection.break_glass:
        raise SelfApproval(f"break-glass is not enabled on {connection.name}")
    if not (reason and reason.strip()):
        raise ReasonRequired("break-glass needs a reason: every approver is told it")


def check_access_request(
    connection: Connection,
    requester: Identity,
    duration: timedelta,
    reason: str,
    role: str | None = None,
) -> None:
    """Raise the PolicyViolation that forbids this access request, if any."""
    if not reason.strip():
        raise ReasonRequired("an access request needs a reason")
    if role is not None and role not in connection.roles:
        known = ", ".join(sorted(connection.roles))
        raise PolicyViolation(
            f"{connection.name} has no role {role!r}"
            + (f" (its roles: {known})" if known else "; ask without a role")
        )
    if duration <= timedelta(0):
        raise PolicyViolation("an access request needs a positive duration")
    if duration > connection.max_grant:
        raise GrantTooLong(
            f"{human_duration(duration)} is longer than {connection.name}'s maximum grant of "
            f"{human_duration(connection.max_grant)}"
        )
    if connection.allow_groups and not (connection.allow_groups & requester.groups):
        raise PolicyViolation(
            f"{requester.subject} is in none of the groups that may ask for {connection.name}"
        )


def human_duration(delta: timedelta) -> str:
    """``15m``, ``8h``, ``14d``, ``90s``: the largest unit that divides it."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
