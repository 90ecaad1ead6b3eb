"""Request and response bodies of the HTTP API (pydantic models, apart from the domain values)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from approvals import Decision, Delegation, Identity, Review

__all__ = [
    "AccessRequestIn",
    "DecisionIn",
    "DecisionOut",
    "DelegationOut",
    "ErrorOut",
    "IdentityOut",
    "ImpactOut",
    "ReviewOut",
    "RevokeIn",
]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorOut(BaseModel):
    error: ErrorBody


class IdentityOut(BaseModel):
    subject: str
    kind: str
    groups: list[str]
    chain: list[str]

    @classmethod
    def of(cls, who: Identity) -> IdentityOut:
        return cls(
            subject=who.subject,
            kind=who.kind.value,
            groups=sorted(who.groups),
            chain=list(who.chain),
        )


class DecisionOut(BaseModel):
    id: str
    approver: str
    outcome: str
    reason: str | None
    at: datetime
    break_glass: bool

    @classmethod
    def of(cls, d: Decision) -> DecisionOut:
        return cls(
            id=d.id,
            approver=d.approver.subject,
            outcome=d.outcome.value,
            reason=d.reason,
            at=d.at,
            break_glass=d.break_glass,
        )


class AccessOut(BaseModel):
    role: str | None
    duration_s: int
    reason: str


class ImpactOut(BaseModel):
    """What a held write would touch, counted when it was held: ``rows`` (None: not counted,
    ``note`` says why)."""

    rows: int | None
    note: str


class ReviewOut(BaseModel):
    id: str
    kind: str
    state: str
    connection: str
    requester: IdentityOut
    statement: str | None  # as stored: secrets redacted
    statement_sha256: str | None  # of the exact bytes (and bound values) held
    access: AccessOut | None
    risk: str | None
    rule: str | None
    impact: ImpactOut | None
    quorum: int
    approvals: int
    decisions: list[DecisionOut]
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    via: str | None = None  # the door other than a database listener: "MCP"
    redeemed_at: datetime | None = None  # an MCP approval's single use, once made

    @classmethod
    def of(cls, r: Review) -> ReviewOut:
        deciding = r.deciding
        access = (
            AccessOut(
                role=r.access.role,
                duration_s=int(r.access.duration.total_seconds()),
                reason=r.access.reason,
            )
            if r.access
            else None
        )
        return cls(
            id=r.id,
            kind=r.kind.value,
            state=r.state.value,
            connection=r.connection,
            requester=IdentityOut.of(r.requester),
            statement=r.statement,
            statement_sha256=r.statement_sha256,
            access=access,
            risk=r.risk,
            rule=r.rule,
            impact=ImpactOut(rows=r.impact.rows, note=r.impact.note) if r.impact else None,
            quorum=r.quorum,
            approvals=len({d.approver.subject for d in r.approvals}),
            decisions=[DecisionOut.of(d) for d in r.decisions],
            created_at=r.created_at,
            expires_at=r.expires_at,
            decided_at=r.decided_at,
            decided_by=deciding.approver.subject if deciding else None,
            via=r.via,
            redeemed_at=r.redeemed_at,
            reason=deciding.reason if deciding else None,
        )


class DecisionIn(BaseModel):
    outcome: Literal["approve", "deny"]
    reason: str | None = Field(default=None, max_length=2000)
    break_glass: bool = False
    approver: str | None = Field(
        default=None,
        description="for the chat bot only: the e-mail of the person who clicked "
        "(a [[people]] entry); the caller must be in one of [api] bot_groups",
    )


class AccessRequestIn(BaseModel):
    connection: str
    role: str | None = None
    duration: str = Field(description="e.g. 30m, 2h, 1d")
    reason: str = Field(min_length=1, max_length=2000)
    requester: str | None = Field(
        default=None,
        description="for the chat bot only: the e-mail of the person asking (a [[people]] "
        "entry); the caller must be in one of [api] bot_groups",
    )


class DelegationOut(BaseModel):
    id: str
    subject: str
    connection: str
    role: str | None
    granted_by: str
    reason: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    use_count: int
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    break_glass: bool
    active: bool

    @classmethod
    def of(cls, d: Delegation, now: datetime) -> DelegationOut:
        return cls(
            id=d.id,
            subject=d.subject,
            connection=d.connection,
            role=d.role,
            granted_by=d.granted_by,
            reason=d.reason,
            created_at=d.created_at,
            expires_at=d.expires_at,
            last_used_at=d.last_used_at,
            use_count=d.use_count,
            revoked_at=d.revoked_at,
            revoked_by=d.revoked_by,
            revoke_reason=d.revoke_reason,
            break_glass=d.break_glass,
            active=d.active(now),
        )


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    revoker: str | None = Field(
        default=None,
        description="for the chat bot only: the e-mail of the person revoking (a [[people]] "
        "entry); the caller must be in one of [api] bot_groups",
    )
