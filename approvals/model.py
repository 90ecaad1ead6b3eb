"""Domain values: identities and their actor chains, connections, reviews, decisions, delegations.

All are frozen dataclasses; a change is a new value (``dataclasses.replace``). Times are aware
UTC datetimes. Nothing here knows about storage, HTTP or chat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from approvals.states import TERMINAL, ReviewState
from approvals.subjects import canonical

__all__ = [
    "AccessMode",
    "AccessRequest",
    "Actor",
    "ApproverRule",
    "AuditEntry",
    "Connection",
    "Decision",
    "Delegation",
    "DomainEvent",
    "Escalation",
    "Identity",
    "IdentityKind",
    "Impact",
    "Outcome",
    "Owners",
    "Review",
    "ReviewKind",
    "new_id",
]


def new_id() -> str:
    """A fresh opaque identifier (UUID4 text)."""
    return str(uuid.uuid4())


class IdentityKind(StrEnum):
    PERSON = "person"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Actor:
    """One hop of a delegation chain: an agent acting on behalf of the hop before it.

    ``groups`` are the agent's own groups (from its token); ``scope``, when set, is the explicit
    set of connections a service account may act on for someone (see :mod:`approvals.chain`).
    """

    subject: str
    kind: IdentityKind = IdentityKind.SERVICE
    groups: frozenset[str] = frozenset()
    scope: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject", canonical(self.subject))  # see approvals.subjects


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling: the subject (a person or a service account) and the agents acting for it.

    ``actors`` is the chain in delegation order: for alice → ci-runner → sql-agent the subject is
    alice and the actors are (ci-runner, sql-agent); the last actor is the one on the wire.
    ``scope``, when set, is a ceiling: the connections this token may reach at most (the
    intersection along the chain made at token exchange, or a service account's own scope).
    """

    subject: str
    kind: IdentityKind = IdentityKind.PERSON
    groups: frozenset[str] = frozenset()
    email: str | None = None
    actors: tuple[Actor, ...] = ()
    scope: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # One spelling per person (approvals.subjects): every Identity is canonical, wherever
        # it was built from (a token, OIDC claims, [[people]], a stored row).
        object.__setattr__(self, "subject", canonical(self.subject))
        if self.email is not None:
            object.__setattr__(self, "email", canonical(self.email))

    @property
    def chain(self) -> tuple[str, ...]:
        """Every subject in the chain, the original subject first."""
        return (self.subject, *(actor.subject for actor in self.actors))

    def describe(self) -> str:
        """``alice@example.com → ci-runner → sql-agent``."""
        return " → ".join(self.chain)

    def in_chain(self, subject: str) -> bool:
        return canonical(subject) in self.chain


class AccessMode(StrEnum):
    STANDING = "standing"
    REQUEST = "request"


@dataclass(frozen=True, slots=True)
class ApproverRule:
    """Who may approve reviews on a connection, and how many distinct approvals it takes."""

    groups: frozenset[str] = frozenset()
    identities: frozenset[str] = frozenset()
    channel: str | None = None
    quorum: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "identities", frozenset(map(canonical, self.identities)))

    def admits(self, who: Identity) -> bool:
        return who.subject in self.identities or bool(self.groups & who.groups)


@dataclass(frozen=True, slots=True)
class Owners:
    channel: str | None = None
    identities: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "identities", frozenset(map(canonical, self.identities)))


@dataclass(frozen=True, slots=True)
class Escalation:
    """Where a review nobody answered goes after its last reminder: a channel, and the people
    of these groups (told directly; they decide only if they are approvers too)."""

    channel: str | None = None
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Connection:
    """The policy side of a configured target (the gateway adds the wire details)."""

    name: str
    type: str
    access: AccessMode = AccessMode.STANDING
    allow_groups: frozenset[str] = frozenset()
    owners: Owners = field(default_factory=Owners)
    approvers: ApproverRule = field(default_factory=ApproverRule)
    review_timeout: timedelta = timedelta(minutes=15)
    max_grant: timedelta = timedelta(hours=8)
    idle_revoke_after: timedelta | None = None
    break_glass: bool = False
    escalation: Escalation | None = None
    # Roles an access request may name: each is a credential of its own on the target (the
    # gateway connects as it); a request naming none gets the connection's own credential.
    roles: frozenset[str] = frozenset()


class Outcome(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


class ReviewKind(StrEnum):
    STATEMENT = "statement"
    ACCESS = "access"


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """What a requester asks for with ``/access request``: a role on a connection for a while."""

    role: str | None
    duration: timedelta
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    review_id: str
    approver: Identity
    outcome: Outcome
    reason: str | None
    at: datetime
    break_glass: bool = False


@dataclass(frozen=True, slots=True)
class Impact:
    """What a held write would touch, as the database counted it before anything ran.

    ``rows`` is the count, or None when the gateway did not count (``note`` says why: the
    condition calls a volatile function, the count timed out, ...). A count is evidence for the
    approver, never a guarantee: rows can change between the count and the approval.
    """

    rows: int | None
    note: str = ""

    @property
    def counted(self) -> bool:
        return self.rows is not None


@dataclass(frozen=True, slots=True)
class Review:
    """A request held for approval: a statement on a connection, or an access request."""

    id: str
    kind: ReviewKind
    requester: Identity
    connection: str
    state: ReviewState
    quorum: int
    created_at: datetime
    expires_at: datetime
    statement: str | None = None
    access: AccessRequest | None = None
    risk: str | None = None
    rule: str | None = None
    session_id: str | None = None
    impact: Impact | None = None
    statement_sha256: str | None = None  # of the exact command bytes (and parameters) held
    decisions: tuple[Decision, ...] = ()
    decided_at: datetime | None = None
    version: int = 0
    # Why the system cancelled it (``ApprovalService.abandon``); None when the requester did.
    cancel_reason: str | None = None
    # The door the statement came through when it is not a database listener ("MCP"): the
    # card says so. None: a listener's session.
    via: str | None = None
    # A single-use approval ticket (``ApprovalService.redeem_approval``): the SHA-256 of the
    # exact request it runs (the MCP server's: text, parameters, connection, caller chain).
    # None: the session that held the statement waits for the decision and runs it itself.
    ticket: str | None = None
    redeemed_at: datetime | None = None  # when the ticket was used (it runs once)

    @property
    def is_final(self) -> bool:
        return self.state in TERMINAL

    @property
    def approvals(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.outcome is Outcome.APPROVE)

    @property
    def deciding(self) -> Decision | None:
        """The decision that made the review final, if a person made it so."""
        if self.state is ReviewState.DENIED:
            return next((d for d in self.decisions if d.outcome is Outcome.DENY), None)
        if self.state is ReviewState.APPROVED and self.decisions:
            return self.approvals[-1]
        return None


@dataclass(frozen=True, slots=True)
class Delegation:
    """Who may use which connection, as which role, until when, and why."""

    id: str
    subject: str
    connection: str
    role: str | None
    granted_by: str
    reason: str
    created_at: datetime
    expires_at: datetime
    review_id: str | None = None
    break_glass: bool = False
    last_used_at: datetime | None = None
    use_count: int = 0
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
    recertified_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing that happened, by whom (with the whole chain), to what, with what outcome."""

    action: str
    actor: Identity | None
    target: str
    outcome: str
    at: datetime
    connection: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """An event for the outbox: ``review.created``, ``review.decided``, ``delegation.revoked``.

    ``sealed``: a bus says its payload is the store's own word (published in this process after
    its transaction committed, read back from the outbox, or a notification whose seal verified:
    :mod:`store.outbox`), so a subscriber may act on it without reading the store again. A
    notification anyone could have sent is not sealed."""

    topic: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    sealed: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class ReviewEnding:
    """How a review ended, as a held command needs it: its final state, who decided (the
    deciding approver's subject) and why (their reason, or the system's cancel reason)."""

    review_id: str
    state: ReviewState
    decided_by: str | None = None
    reason: str | None = None

    @classmethod
    def of(cls, review: Review) -> ReviewEnding:
        deciding = review.deciding
        return cls(
            review.id,
            review.state,
            deciding.approver.subject if deciding else None,
            deciding.reason if deciding else review.cancel_reason,
        )

    @classmethod
    def told(cls, event: DomainEvent) -> ReviewEnding | None:
        """The ending a sealed ``review.decided`` event states; None when it is not sealed or
        does not state a final one (then read the review)."""
        payload = event.payload
        if not event.sealed or payload.get("state") not in _FINAL_STATES:
            return None
        decided_by, reason = payload.get("decided_by"), payload.get("reason")
        return cls(
            event.key,
            ReviewState(payload["state"]),
            str(decided_by) if decided_by is not None else None,
            str(reason) if reason is not None else None,
        )


_FINAL_STATES = frozenset(state.value for state in TERMINAL)
