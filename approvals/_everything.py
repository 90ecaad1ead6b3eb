"""Every name :mod:`approvals` exports, imported at once: what ``import approvals`` did before
the package loaded its names on first use (see ``approvals/__init__.py``, whose ``__all__``
lists them)."""

# ruff: noqa: F401

from approvals.clock import SystemClock
from approvals.errors import (
    AccessNotAllowed,
    AlreadyDecided,
    AlreadyVoted,
    ApprovalError,
    GrantTooLong,
    InvalidTransition,
    NotAnApprover,
    NotDelegated,
    NotFound,
    PolicyViolation,
    ReasonRequired,
    ReviewExpired,
    Revoked,
    SelfApproval,
)
from approvals.model import (
    AccessMode,
    AccessRequest,
    Actor,
    ApproverRule,
    AuditEntry,
    Connection,
    Decision,
    Delegation,
    DomainEvent,
    Escalation,
    Identity,
    IdentityKind,
    Impact,
    Outcome,
    Owners,
    Review,
    ReviewEnding,
    ReviewKind,
    new_id,
)
from approvals.ports import Clock, EventBus, Notifier, Repository, Subscription, Transaction
from approvals.service import REVIEW_CREATED, REVIEW_DECIDED, REVIEW_UPDATED, ApprovalService
from approvals.states import TERMINAL, ReviewInput, ReviewState, transition
