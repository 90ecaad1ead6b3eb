"""The approvals domain: identities, reviews, decisions, delegations, policy and the service.

Pure Python (stdlib only): no framework, no storage, no network.

The names below load on first use (PEP 562), and the first use of any of them loads them all,
as ``import approvals`` always did. Importing one module of the package directly
(``from approvals.model import Connection``) loads that module and what it imports, no more:
the configuration needs the model alone, so ``airlock audit verify`` and the other commands
that read it do not load the service (and asyncio with it), as ``store`` does for the chain.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

__all__ = [
    "REVIEW_CREATED",
    "REVIEW_DECIDED",
    "REVIEW_UPDATED",
    "TERMINAL",
    "AccessMode",
    "AccessNotAllowed",
    "AccessRequest",
    "Actor",
    "AlreadyDecided",
    "AlreadyVoted",
    "ApprovalError",
    "ApprovalService",
    "ApproverRule",
    "AuditEntry",
    "Clock",
    "Connection",
    "Decision",
    "Delegation",
    "DomainEvent",
    "Escalation",
    "EventBus",
    "GrantTooLong",
    "Identity",
    "IdentityKind",
    "Impact",
    "InvalidTransition",
    "NotAnApprover",
    "NotDelegated",
    "NotFound",
    "Notifier",
    "Outcome",
    "Owners",
    "PolicyViolation",
    "ReasonRequired",
    "Repository",
    "Review",
    "ReviewEnding",
    "ReviewExpired",
    "ReviewInput",
    "ReviewKind",
    "ReviewState",
    "Revoked",
    "SelfApproval",
    "Subscription",
    "SystemClock",
    "Transaction",
    "new_id",
    "transition",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    everything = importlib.import_module(f"{__name__}._everything")
    globals().update({key: getattr(everything, key) for key in __all__})
    return globals()[name]
