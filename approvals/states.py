"""The review lifecycle: one Enum of states, one Enum of inputs, one transition table.

Rules:

- A review starts ``PENDING``.
- An approval that does not yet reach the quorum (k of N) keeps it ``PENDING``
  (``APPROVE_PARTIAL``); the approval that reaches it makes it ``APPROVED`` (``APPROVE_FINAL``).
  Which of the two an approval is, the service decides by counting distinct approvers.
- One deny denies, whatever approvals came before.
- ``EXPIRE`` (the clock) and ``CANCEL`` (the requester or their client) end a pending review.
- ``ABANDON`` (the system: the gateway process holding the statement is gone, so nothing could
  ever run it) ends a pending review as ``CANCELLED`` too, with the reason on the review.
- ``APPROVED``, ``DENIED``, ``EXPIRED`` and ``CANCELLED`` are terminal: no input leaves them.

A (state, input) pair with no entry in ``TRANSITIONS`` raises :class:`InvalidTransition`.
"""

from __future__ import annotations

from enum import StrEnum

from approvals.errors import InvalidTransition

__all__ = ["TERMINAL", "TRANSITIONS", "ReviewInput", "ReviewState", "transition"]


class ReviewState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ReviewInput(StrEnum):
    APPROVE_PARTIAL = "approve_partial"
    APPROVE_FINAL = "approve_final"
    DENY = "deny"
    EXPIRE = "expire"
    CANCEL = "cancel"
    ABANDON = "abandon"


TRANSITIONS: dict[tuple[ReviewState, ReviewInput], ReviewState] = {
    (ReviewState.PENDING, ReviewInput.APPROVE_PARTIAL): ReviewState.PENDING,
    (ReviewState.PENDING, ReviewInput.APPROVE_FINAL): ReviewState.APPROVED,
    (ReviewState.PENDING, ReviewInput.DENY): ReviewState.DENIED,
    (ReviewState.PENDING, ReviewInput.EXPIRE): ReviewState.EXPIRED,
    (ReviewState.PENDING, ReviewInput.CANCEL): ReviewState.CANCELLED,
    (ReviewState.PENDING, ReviewInput.ABANDON): ReviewState.CANCELLED,
}

TERMINAL = frozenset(
    {ReviewState.APPROVED, ReviewState.DENIED, ReviewState.EXPIRED, ReviewState.CANCELLED}
)


def transition(state: ReviewState, event: ReviewInput) -> ReviewState:
    """Return the state that ``event`` leads to from ``state``, or raise InvalidTransition."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"a {state} review does not accept {event}") from None
