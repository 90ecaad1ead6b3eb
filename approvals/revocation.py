"""Revoking identities and tokens: what is recorded and what every replica is told.

Three things can be revoked besides a delegation (``delegation.revoked``, see the service):

- a *subject* (a person, or any identity by its subject): every token naming it anywhere in its
  chain is refused until the revocation is lifted;
- a *service account* (disabled): the same, for the account's name;
- a *token* by its ``jti``: that token and every token exchanged from it.

Each is one transaction writing the record, an audit entry and an outbox event on the topic
``identity.revoked`` (key: the subject, account name or jti; payload: ``what`` is ``subject``,
``service_account`` or ``token``, plus the reason and who revoked it). Every replica's listeners
end the live sessions that rest on it when the event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from approvals.model import AuditEntry, DomainEvent, Identity

__all__ = ["IDENTITY_RESTORED", "IDENTITY_REVOKED", "Revocation", "RevokedWhat"]

IDENTITY_REVOKED = "identity.revoked"
IDENTITY_RESTORED = "identity.restored"


class RevokedWhat(StrEnum):
    SUBJECT = "subject"
    SERVICE_ACCOUNT = "service_account"
    TOKEN = "token"  # noqa: S105  (what is revoked, not a secret)


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revocation: of what, which one (subject, account name or jti), why, by whom, when."""

    what: RevokedWhat
    key: str
    reason: str
    by: Identity
    at: datetime

    def audit(self) -> AuditEntry:
        return AuditEntry(
            action=f"{self.what.value}.revoked",
            actor=self.by,
            target=self.key,
            outcome="revoked",
            at=self.at,
            details={"reason": self.reason},
        )

    def event(self) -> DomainEvent:
        return DomainEvent(
            IDENTITY_REVOKED,
            self.key,
            {"what": self.what.value, "reason": self.reason, "by": self.by.subject},
        )
