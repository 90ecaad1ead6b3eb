"""SQLModel tables. They stay inside store/: the rest of Airlock sees the frozen domain values of
:mod:`approvals.model` and the records of :mod:`store.records`; :mod:`store.mapping` converts.

``store/migrations/versions`` creates exactly these tables (a test compares the two).

There is no ``access_request`` table: an access request is one-to-one with the review that asks
for it and has no identity or lifecycle of its own (the domain's ``AccessRequest`` is the review's
payload), so its three fields are the review's ``access_role`` / ``access_duration_s`` /
``access_reason`` columns; a separate table would only add a join to every review read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.columns import BIGID, JSON_DOC, JSON_EXACT, UTCDateTime

__all__ = [
    "PG_ONLY_INDEXES",
    "AuditEventRow",
    "ChatMessageRow",
    "DecisionRow",
    "DelegationRow",
    "DigestRow",
    "IdentityRow",
    "OutboxDeliveryRow",
    "OutboxRow",
    "ReplicaRow",
    "ReviewRow",
    "ServiceAccountRow",
    "SessionEventRow",
    "SessionRow",
    "StoredKeyRow",
    "metadata",
]

metadata = SQLModel.metadata
PG_ONLY_INDEXES = frozenset({"ix_audit_event_actor_chain"})  # GIN: PostgreSQL only


def _json(*, nullable: bool = False, exact: bool = False) -> Any:
    return Field(sa_column=Column(JSON_EXACT if exact else JSON_DOC, nullable=nullable))


def _bigid() -> Any:
    return Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))


class IdentityRow(SQLModel, table=True):
    """A person or service account seen by the gateway (for reports and chat mapping)."""

    __tablename__ = "identity"

    subject: str = Field(primary_key=True)
    kind: str
    email: str | None = Field(default=None, index=True)
    groups: list[str] = _json()
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ServiceAccountRow(SQLModel, table=True):
    """An agent's or CI job's account (see :mod:`store.identities`); the secret only hashed."""

    __tablename__ = "service_account"

    id: str = Field(primary_key=True)
    name: str = Field(unique=True)
    groups: list[str] = _json()
    secret_hash: str
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Migration 0003: explicit scope, who made it, secret rotation and expiry, why disabled.
    scope: list[str] | None = _json(nullable=True)
    created_by: str | None = None
    secret_rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    secret_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_by: str | None = None
    disable_reason: str | None = Field(default=None, sa_type=Text)


class ReviewRow(SQLModel, table=True):
    __tablename__ = "review"
    __table_args__ = (
        Index("ix_review_state_created_at", "state", "created_at"),
        Index("ix_review_state_expires_at", "state", "expires_at"),
        Index("ix_review_connection_created_at", "connection", "created_at"),
    )

    id: str = Field(primary_key=True)
    kind: str
    requester_subject: str = Field(index=True)
    requester: dict[str, Any] = _json()
    connection: str
    state: str
    quorum: int
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    statement: str | None = Field(default=None, sa_type=Text)
    access_role: str | None = None
    access_duration_s: int | None = None
    access_reason: str | None = Field(default=None, sa_type=Text)
    risk: str | None = None
    rule: str | None = None
    session_id: str | None = Field(default=None, index=True)
    impact_rows: int | None = None
    impact_note: str | None = Field(default=None, sa_type=Text)
    statement_sha256: str | None = None
    version: int = 0
    # Migration 0006: why the system cancelled it (the gateway holding it is gone); None when
    # the requester did.
    cancel_reason: str | None = Field(default=None, sa_type=Text)
    # Migration 0007: the door a statement came through (``MCP``), and a single-use approval
    # ticket (the hash of the exact request) with when it was used.
    via: str | None = None
    ticket: str | None = Field(default=None, index=True)
    redeemed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DecisionRow(SQLModel, table=True):
    """One vote; ``position`` keeps the order votes were cast in (times may tie)."""

    __tablename__ = "decision"
    __table_args__ = (
        UniqueConstraint("review_id", "approver_subject", name="uq_decision_review_approver"),
        UniqueConstraint("review_id", "position", name="uq_decision_review_position"),
    )

    id: str = Field(primary_key=True)
    review_id: str = Field(foreign_key="review.id", ondelete="CASCADE")
    position: int
    approver_subject: str = Field(index=True)
    approver: dict[str, Any] = _json()
    outcome: str
    reason: str | None = Field(default=None, sa_type=Text)
    at: datetime = Field(sa_type=UTCDateTime)
    break_glass: bool = False


class DelegationRow(SQLModel, table=True):
    __tablename__ = "delegation"
    __table_args__ = (
        Index("ix_delegation_subject_connection", "subject", "connection"),
        Index("ix_delegation_connection_expires_at", "connection", "expires_at"),
    )

    id: str = Field(primary_key=True)
    subject: str
    connection: str
    role: str | None = None
    granted_by: str
    reason: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    review_id: str | None = Field(
        default=None, foreign_key="review.id", ondelete="SET NULL", index=True
    )
    break_glass: bool = False
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    use_count: int = 0
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = None
    revoke_reason: str | None = Field(default=None, sa_type=Text)
    recertified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SessionRow(SQLModel, table=True):
    """A recorded gateway session; ``chain`` is the identity's chain as text, for display."""

    __tablename__ = "session"
    __table_args__ = (
        Index("ix_session_subject_started_at", "subject", "started_at"),
        Index("ix_session_connection_started_at", "connection", "started_at"),
    )

    id: str = Field(primary_key=True)
    subject: str
    identity: dict[str, Any] = _json()
    chain: str = Field(sa_type=Text)
    connection: str
    client_addr: str | None = None
    started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stats: dict[str, Any] = _json()
    # Migration 0006: the gateway process (replica) the session ran on; None before 0006.
    replica_id: str | None = Field(default=None, index=True)


class ReplicaRow(SQLModel, table=True):
    """One gateway process (a random id per process start) and its heartbeat (see
    :mod:`store.replicas`). ``pid_namespace`` tells whether two rows' pids can be compared (the
    same boot and PID namespace); ``stopped_by`` is the replica that reaped it, or its own id
    for a clean stop."""

    __tablename__ = "replica"
    __table_args__ = (Index("ix_replica_stopped_at_heartbeat_at", "stopped_at", "heartbeat_at"),)

    id: str = Field(primary_key=True)
    host: str
    pid: int
    pid_namespace: str | None = None
    started_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stopped_by: str | None = None


class SessionEventRow(SQLModel, table=True):
    """One statement (or other event) of a session, in order."""

    __tablename__ = "session_event"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_session_event_seq"),)

    id: int | None = _bigid()
    session_id: str = Field(foreign_key="session.id", ondelete="CASCADE")
    seq: int
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str
    statement: str | None = Field(default=None, sa_type=Text)
    outcome: str | None = None
    details: dict[str, Any] = _json()


class AuditEventRow(SQLModel, table=True):
    """The hash-chained audit log (see :mod:`store.audit`); rows are only ever appended."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_actor_chain", "actor_chain", postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    seq: int = Field(sa_column=Column(BIGID, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    action: str = Field(index=True)
    actor_subject: str | None = Field(default=None, index=True)
    actor_chain: list[str] = _json()
    connection: str | None = Field(default=None, index=True)
    target: str = Field(index=True)
    outcome: str
    details: dict[str, Any] = _json(exact=True)
    prev_hash: str
    hash: str


class OutboxRow(SQLModel, table=True):
    """An event committed together with the change it announces (the transactional outbox)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_topic_id", "topic", "id"),)

    id: int | None = _bigid()
    topic: str
    key: str
    payload: dict[str, Any] = _json()
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class OutboxDeliveryRow(SQLModel, table=True):
    """Per consumer: who has leased an outbox event until when, and whether it was delivered."""

    __tablename__ = "outbox_delivery"
    __table_args__ = (Index("ix_outbox_delivery_consumer", "consumer", "delivered_at"),)

    outbox_id: int = Field(
        sa_column=Column(BIGID, ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    )
    consumer: str = Field(primary_key=True)
    lease_until: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 1
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChatMessageRow(SQLModel, table=True):
    """Where a review's card was posted, so it can be redrawn in place."""

    __tablename__ = "chat_message"
    __table_args__ = (UniqueConstraint("provider", "channel", "ts", name="uq_chat_message_ref"),)

    id: int | None = _bigid()
    review_id: str = Field(foreign_key="review.id", ondelete="CASCADE", index=True)
    provider: str
    channel: str
    ts: str
    created_at: datetime = Field(sa_type=UTCDateTime)


class DigestRow(SQLModel, table=True):
    """A weekly access-review digest sent to a resource owner."""

    __tablename__ = "digest"

    id: str = Field(primary_key=True)
    owner: str = Field(index=True)
    sent_at: datetime = Field(sa_type=UTCDateTime, index=True)
    payload: dict[str, Any] = _json()


class StoredKeyRow(SQLModel, table=True):
    """A key the deployment generated once and shares across replicas (e.g. the token signing
    key when none is configured). Stored as given: configure keys in the environment where
    the database is not trusted with them."""

    __tablename__ = "stored_key"

    name: str = Field(primary_key=True)
    value: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
