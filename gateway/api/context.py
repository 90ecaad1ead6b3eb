"""What the HTTP API's handlers need, built by the composition root and passed in explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from approvals import ApprovalService, Clock, Connection, Identity, IdentityKind, Review
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

    def is_admin(self, who: Identity) -> bool:
        return bool(set(self.settings.api.admin_groups) & who.groups) and not who.actors

    def is_bot(self, who: Identity) -> bool:
        """A service account in ``[api] bot_groups`` acting directly. People never are, even
        when an IdP puts them in a group of that name (they could then act for anyone)."""
        return (
            who.kind is IdentityKind.SERVICE
            and bool(set(self.settings.api.bot_groups) & who.groups)
            and not who.actors
        )

    def person(self, email: str) -> Identity | None:
        """A configured person as an identity (their groups come from ``[[people]]``)."""
        entry = self.settings.person(email)
        if entry is None:
            return None
        return Identity(subject=entry.email, groups=frozenset(entry.groups), email=entry.email)

    def is_auditor(self, who: Identity) -> bool:
        return self.is_admin(who) or bool(set(self.settings.api.auditor_groups) & who.groups)

    def policy(self, connection: str) -> Connection | None:
        return self.service.connections.get(connection)

    def owns(self, who: Identity, connection: str) -> bool:
        conn = self.policy(connection)
        return conn is not None and who.subject in conn.owners.identities

    def may_see(self, who: Identity, review: Review) -> bool:
        """Admins, auditors, the connection's approvers and owners, and the requester's chain.

        "The requester's chain" is judged by the caller's subject: alice (directly or through her
        agents) and ci-runner's own account see a review of alice → ci-runner, but mallory acting
        through the same shared ci-runner does not (a chain is never wider than any link).
        """
        if self.is_auditor(who) or review.requester.in_chain(who.subject):
            return True
        conn = self.policy(review.connection)
        return conn is not None and (
            conn.approvers.admits(who) or who.subject in conn.owners.identities
        )
