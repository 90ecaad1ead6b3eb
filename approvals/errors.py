"""Errors of the approvals domain.

Every error carries a stable ``code`` (the HTTP API's JSON ``code``) and the SQLSTATE a database
client sees when the error ends one of its statements::

    ApprovalError                      code            sqlstate
    ├── NotFound                       not_found       42704
    ├── PolicyViolation                forbidden       42501
    │   ├── SelfApproval               self_approval
    │   ├── NotAnApprover              not_an_approver
    │   ├── AlreadyVoted               already_voted
    │   ├── ReasonRequired             reason_required
    │   ├── GrantTooLong               grant_too_long
    │   ├── AccessNotAllowed           access_not_allowed
    │   ├── NotDelegated               forbidden   (an agent acting for someone: see Power)
    │   └── Revoked                    revoked     (a link of the acting chain is revoked)
    └── InvalidTransition              invalid_transition   55000
        ├── AlreadyDecided             already_decided  (names the decider)
        └── ReviewExpired              review_expired
"""

from __future__ import annotations

__all__ = [
    "AccessNotAllowed",
    "AlreadyDecided",
    "AlreadyVoted",
    "ApprovalError",
    "GrantTooLong",
    "InvalidTransition",
    "NotAnApprover",
    "NotDelegated",
    "NotFound",
    "PolicyViolation",
    "ReasonRequired",
    "ReviewExpired",
    "Revoked",
    "SelfApproval",
]


class ApprovalError(Exception):
    """Base of the domain's errors; ``code`` is stable and machine-readable."""

    code = "approval_error"
    sqlstate = "XX000"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ApprovalError):
    code = "not_found"
    sqlstate = "42704"


class PolicyViolation(ApprovalError):
    code = "forbidden"
    sqlstate = "42501"


class SelfApproval(PolicyViolation):
    code = "self_approval"


class NotAnApprover(PolicyViolation):
    code = "not_an_approver"


class AlreadyVoted(PolicyViolation):
    code = "already_voted"


class ReasonRequired(PolicyViolation):
    code = "reason_required"


class GrantTooLong(PolicyViolation):
    code = "grant_too_long"


class AccessNotAllowed(PolicyViolation):
    code = "access_not_allowed"


class NotDelegated(PolicyViolation):
    """A power of a person (or service account) used by an agent acting for it."""

    code = "forbidden"


class Revoked(PolicyViolation):
    """The identity acting, or a link of its chain, stands revoked (or disabled)."""

    code = "revoked"


class InvalidTransition(ApprovalError):
    code = "invalid_transition"
    sqlstate = "55000"


class AlreadyDecided(InvalidTransition):
    """The review is final; ``decided_by`` names who made it so (or ``None`` for the clock)."""

    code = "already_decided"

    def __init__(self, message: str, *, state: str, decided_by: str | None) -> None:
        super().__init__(message)
        self.state = state
        self.decided_by = decided_by


class ReviewExpired(InvalidTransition):
    code = "review_expired"
