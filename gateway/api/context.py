"""What the HTTP API's handlers need, built by the composition root and passed in explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from approvals import ApprovalService, Clock, Connection, Identity, IdentityKind, Review
from approvals.policy import Power, may_see, may_use
from gateway.config import Settings
from gateway.identity import IdentityKit, TokenService
from gateway.metrics import Metrics

if TYPE_CHECKING:
    from store import Database, SqlRepository

__all__ = ["ApiContext"]


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    service: ApprovalService
    repository: SqlRepository
    database: Database
    tokens: TokenService
    metrics: Metrics
    clock: Clock
    identity: IdentityKit

    # -- who may do what ------------------------------------------------------------------

    def holds(self, who: Identity, power: Power, connection: str | None = None) -> bool:
        """Does ``who`` hold ``power`` (on ``connection``, for OWNER and APPROVER)? The one
        place every route asks; a delegated token holds none (approvals.policy.NOT_DELEGATED)."""
        if not may_use(who, power):
            return False
        api = self.settings.api
        if power is Power.ADMIN:
            return bool(set(api.admin_groups) & who.groups)
        if power is Power.AUDITOR:
            return bool(set(api.admin_groups + api.auditor_groups) & who.groups)
        if power is Power.BOT:
            # A service account acting directly. People never are, even when an IdP puts them
            # in a group of that name (they could then act for anyone).
            return who.kind is IdentityKind.SERVICE and bool(set(api.bot_groups) & who.groups)
        conn = self.policy(connection) if connection is not None else None
        if conn is None:
            return False
        if power is Power.OWNER:
            return who.subject in conn.owners.identities
        return conn.approvers.admits(who)

    def is_admin(self, who: Identity) -> bool:
        return self.holds(who, Power.ADMIN)

    def is_bot(self, who: Identity) -> bool:
        return self.holds(who, Power.BOT)

    def is_auditor(self, who: Identity) -> bool:
        return self.holds(who, Power.AUDITOR)

    def owns(self, who: Identity, connection: str) -> bool:
        return self.holds(who, Power.OWNER, connection)

    def person(self, email: str) -> Identity | None:
        """A configured person as an identity (their groups come from ``[[people]]``)."""
        entry = self.settings.person(email)
        if entry is None:
            return None
        return Identity(subject=entry.email, groups=frozenset(entry.groups), email=entry.email)

    def policy(self, connection: str) -> Connection | None:
        return self.service.connections.get(connection)

    def may_see(self, who: Identity, review: Review) -> bool:
        """Admins, auditors, the requester's chain, and (acting directly) the connection's
        approvers and owners: :func:`approvals.policy.may_see`."""
        conn = self.policy(review.connection)
        return may_see(who, review, conn, auditor=self.is_auditor(who))
