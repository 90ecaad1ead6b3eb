"""Frozen values the store returns for things the approvals domain has no type for: stored audit
events, recorded sessions and their events, outbox events, chat message references.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from approvals.model import DomainEvent, Identity

__all__ = [
    "AuditRecord",
    "ChatMessage",
    "OutboxEvent",
    "ReplicaRecord",
    "SessionEvent",
    "SessionRecord",
]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored audit event with its place in the hash chain."""

    seq: int
    at: datetime
    action: str
    actor_subject: str | None
    actor_chain: tuple[str, ...]
    connection: str | None
    target: str
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 text, the chain as a list."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "action": self.action,
            "actor_subject": self.actor_subject,
            "actor_chain": list(self.actor_chain),
            "connection": self.connection,
            "target": self.target,
            "outcome": self.outcome,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A gateway session: who (with the whole chain), on which connection, from where, when."""

    id: str
    identity: Identity
    connection: str
    started_at: datetime
    client_addr: str | None = None
    ended_at: datetime | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    replica_id: str | None = None  # the gateway process it ran on (store.replicas)


@dataclass(frozen=True, slots=True)
class ReplicaRecord:
    """A gateway process (store.replicas): where it runs, since when, its last heartbeat, and
    when it stopped (``stopped_by``: itself, or the replica that reaped it)."""

    id: str
    host: str
    pid: int
    pid_namespace: str | None
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None
    stopped_by: str | None = None


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One event of a session, usually a statement and what became of it."""

    session_id: str
    seq: int
    at: datetime
    kind: str
    statement: str | None = None
    outcome: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An outbox row as a consumer claims it; ``attempts`` counts this consumer's claims."""

    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int = 1

    @property
    def event(self) -> DomainEvent:
        """The event as stored: the store's word (sealed)."""
        return DomainEvent(self.topic, self.key, dict(self.payload), sealed=True)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """Where a review's card was posted (Slack channel + ts, Teams conversation + activity id)."""

    review_id: str
    provider: str
    channel: str
    ts: str
    created_at: datetime
