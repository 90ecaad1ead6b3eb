"""The one place where table rows and domain values are converted into each other.

Identities are stored as JSON documents (``subject``, ``kind``, ``groups`` sorted, ``email``,
``actors``) so the whole chain survives a round trip; enums are stored as their values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from approvals.model import (
    AccessRequest,
    Actor,
    Decision,
    Delegation,
    Identity,
    IdentityKind,
    Impact,
    Outcome,
    Review,
    ReviewKind,
)
from approvals.states import ReviewState
from store.records import AuditRecord, ChatMessage, OutboxEvent, SessionEvent, SessionRecord
from store.tables import (
    AuditEventRow,
    ChatMessageRow,
    DecisionRow,
    DelegationRow,
    IdentityRow,
    OutboxRow,
    ReviewRow,
    SessionEventRow,
    SessionRow,
)

__all__ = [
    "DELEGATION_FIELDS",
    "audit_from_row",
    "chat_message_from_row",
    "decision_from_row",
    "decision_to_row",
    "delegation_from_row",
    "delegation_to_row",
    "identity_from_json",
    "identity_from_row",
    "identity_to_json",
    "outbox_from_row",
    "review_from_row",
    "review_to_row",
    "session_event_from_row",
    "session_event_values",
    "session_from_row",
    "session_to_row",
]


def identity_to_json(identity: Identity) -> dict[str, Any]:
    return {
        "subject": identity.subject,
        "kind": identity.kind.value,
        "groups": sorted(identity.groups),
        "email": identity.email,
        "actors": [{"subject": a.subject, "kind": a.kind.value} for a in identity.actors],
    }


def identity_from_json(data: dict[str, Any]) -> Identity:
    return Identity(
        subject=data["subject"],
        kind=IdentityKind(data.get("kind", IdentityKind.PERSON.value)),
        groups=frozenset(data.get("groups", ())),
        email=data.get("email"),
        actors=tuple(
            Actor(a["subject"], IdentityKind(a.get("kind", IdentityKind.SERVICE.value)))
            for a in data.get("actors", ())
        ),
    )


def identity_from_row(row: IdentityRow) -> Identity:
    return Identity(
        subject=row.subject,
        kind=IdentityKind(row.kind),
        groups=frozenset(row.groups),
        email=row.email,
    )


# -- reviews and decisions ------------------------------------------------------------------


def review_to_row(review: Review) -> ReviewRow:
    access = review.access
    return ReviewRow(
        id=review.id,
        kind=review.kind.value,
        requester_subject=review.requester.subject,
        requester=identity_to_json(review.requester),
        connection=review.connection,
        state=review.state.value,
        quorum=review.quorum,
        created_at=review.created_at,
        expires_at=review.expires_at,
        decided_at=review.decided_at,
        statement=review.statement,
        access_role=access.role if access else None,
        access_duration_s=int(access.duration.total_seconds()) if access else None,
        access_reason=access.reason if access else None,
        risk=review.risk,
        rule=review.rule,
        session_id=review.session_id,
        impact_rows=review.impact.rows if review.impact else None,
        impact_note=review.impact.note if review.impact else None,
        statement_sha256=review.statement_sha256,
        version=review.version,
        cancel_reason=review.cancel_reason,
        via=review.via,
        ticket=review.ticket,
        redeemed_at=review.redeemed_at,
    )


def _impact(row: ReviewRow) -> Impact | None:
    """A review's impact: a count, or only the note saying why there is none (None: no preview)."""
    if row.impact_rows is None and row.impact_note is None:
        return None
    return Impact(rows=row.impact_rows, note=row.impact_note or "")


def review_from_row(row: ReviewRow, decisions: Iterable[DecisionRow] = ()) -> Review:
    access = None
    if row.access_duration_s is not None:
        access = AccessRequest(
            role=row.access_role,
            duration=timedelta(seconds=row.access_duration_s),
            reason=row.access_reason or "",
        )
    ordered = sorted(decisions, key=lambda d: d.position)
    return Review(
        id=row.id,
        kind=ReviewKind(row.kind),
        requester=identity_from_json(row.requester),
        connection=row.connection,
        state=ReviewState(row.state),
        quorum=row.quorum,
        created_at=row.created_at,
        expires_at=row.expires_at,
        statement=row.statement,
        access=access,
        risk=row.risk,
        rule=row.rule,
        session_id=row.session_id,
        impact=_impact(row),
        statement_sha256=row.statement_sha256,
        decisions=tuple(decision_from_row(d) for d in ordered),
        decided_at=row.decided_at,
        version=row.version,
        cancel_reason=row.cancel_reason,
        via=row.via,
        ticket=row.ticket,
        redeemed_at=row.redeemed_at,
    )


def decision_to_row(decision: Decision, position: int) -> DecisionRow:
    return DecisionRow(
        id=decision.id,
        review_id=decision.review_id,
        position=position,
        approver_subject=decision.approver.subject,
        approver=identity_to_json(decision.approver),
        outcome=decision.outcome.value,
        reason=decision.reason,
        at=decision.at,
        break_glass=decision.break_glass,
    )


def decision_from_row(row: DecisionRow) -> Decision:
    return Decision(
        id=row.id,
        review_id=row.review_id,
        approver=identity_from_json(row.approver),
        outcome=Outcome(row.outcome),
        reason=row.reason,
        at=row.at,
        break_glass=row.break_glass,
    )


# -- delegations ----------------------------------------------------------------------------

DELEGATION_FIELDS = (
    "subject",
    "connection",
    "role",
    "granted_by",
    "reason",
    "created_at",
    "expires_at",
    "review_id",
    "break_glass",
    "last_used_at",
    "use_count",
    "revoked_at",
    "revoked_by",
    "revoke_reason",
    "recertified_at",
)


def delegation_to_row(delegation: Delegation) -> DelegationRow:
    values = {name: getattr(delegation, name) for name in DELEGATION_FIELDS}
    return DelegationRow(id=delegation.id, **values)


def delegation_from_row(row: DelegationRow) -> Delegation:
    values = {name: getattr(row, name) for name in DELEGATION_FIELDS}
    return Delegation(id=row.id, **values)


# -- audit, sessions, outbox, chat ----------------------------------------------------------


def audit_from_row(row: AuditEventRow) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        at=row.at,
        action=row.action,
        actor_subject=row.actor_subject,
        actor_chain=tuple(row.actor_chain),
        connection=row.connection,
        target=row.target,
        outcome=row.outcome,
        details=dict(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def session_to_row(record: SessionRecord) -> SessionRow:
    return SessionRow(
        id=record.id,
        subject=record.identity.subject,
        identity=identity_to_json(record.identity),
        chain=record.identity.describe(),
        connection=record.connection,
        client_addr=record.client_addr,
        started_at=record.started_at,
        ended_at=record.ended_at,
        stats=dict(record.stats),
        replica_id=record.replica_id,
    )


def session_from_row(row: SessionRow) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        identity=identity_from_json(row.identity),
        connection=row.connection,
        started_at=row.started_at,
        client_addr=row.client_addr,
        ended_at=row.ended_at,
        stats=dict(row.stats),
        replica_id=row.replica_id,
    )


def session_event_values(event: SessionEvent) -> dict[str, Any]:
    """The column values of a session_event row (for multi-row Core INSERTs)."""
    return {
        "session_id": event.session_id,
        "seq": event.seq,
        "at": event.at,
        "kind": event.kind,
        "statement": event.statement,
        "outcome": event.outcome,
        "details": dict(event.details),
    }


def session_event_from_row(row: SessionEventRow) -> SessionEvent:
    return SessionEvent(
        session_id=row.session_id,
        seq=row.seq,
        at=row.at,
        kind=row.kind,
        statement=row.statement,
        outcome=row.outcome,
        details=dict(row.details),
    )


def outbox_from_row(row: OutboxRow, attempts: int = 1) -> OutboxEvent:
    assert row.id is not None
    return OutboxEvent(
        id=row.id,
        topic=row.topic,
        key=row.key,
        payload=dict(row.payload),
        created_at=row.created_at,
        attempts=attempts,
    )


def chat_message_from_row(row: ChatMessageRow) -> ChatMessage:
    return ChatMessage(
        review_id=row.review_id,
        provider=row.provider,
        channel=row.channel,
        ts=row.ts,
        created_at=row.created_at,
    )
