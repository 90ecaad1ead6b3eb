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
"""

from __future__ import annotations

from datetime import timedelta

from approvals.errors import (
    AlreadyVoted,
    GrantTooLong,
    NotAnApprover,
    PolicyViolation,
    ReasonRequired,
    SelfApproval,
)
from approvals.model import Connection, Identity, Outcome, Review

__all__ = ["check_access_request", "check_decision", "human_duration"]


def check_decision(
    review: Review,
    connection: Connection,
    approver: Identity,
    outcome: Outcome,
    reason: str | None,
    *,
    break_glass: bool = False,
) -> None:
    """Raise the PolicyViolation that forbids ``approver`` deciding ``review``, if any."""
    if approver.actors:
        raise PolicyViolation(
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
