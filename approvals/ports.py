"""The ports the domain needs from the world, as Protocols. store/ and bot/ implement them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from approvals.model import AuditEntry, Decision, Delegation, DomainEvent, Review
from approvals.states import ReviewState

__all__ = ["Clock", "EventBus", "Notifier", "Repository", "Subscription", "Transaction"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class Transaction(Protocol):
    """One unit of work: everything written through it commits together or not at all.

    The transaction that decides a review holds the review's lock from ``get_review(...,
    for_update=True)`` until it ends, so two deciders are serialised.
    """

    async def get_review(self, review_id: str, *, for_update: bool = False) -> Review | None: ...

    async def add_review(self, review: Review) -> None: ...

    async def save_review(self, review: Review) -> None: ...

    async def add_decision(self, decision: Decision, position: int) -> None:
        """Record a vote as the review's ``position``-th (from 0): the decider read the
        review's decisions under its lock, so it knows how many came before."""
        ...

    async def get_delegation(
        self, delegation_id: str, *, for_update: bool = False
    ) -> Delegation | None: ...

    async def add_delegation(self, delegation: Delegation) -> None: ...

    async def save_delegation(self, delegation: Delegation) -> None: ...

    async def append_audit(self, entry: AuditEntry) -> None: ...

    async def emit(self, event: DomainEvent) -> None:
        """Write ``event`` to the outbox; it is published once the transaction commits."""
        ...

    async def revoked(self, subjects: Collection[str]) -> str | None:
        """Why one of ``subjects`` (canonical) stands revoked or is a disabled service account,
        or None; read inside this transaction (see approvals.policy.check_actor)."""
        ...

    async def redeem_ticket(
        self, ticket: str, *, approved_since: datetime, at: datetime
    ) -> Review | None:
        """Mark redeemed (at ``at``) the oldest approved, unredeemed review bound to ``ticket``
        that was decided at or after ``approved_since``, and return it; None when there is
        none. Of two transactions redeeming one ticket at once, exactly one gets the review."""
        ...


class Repository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def get_review(self, review_id: str) -> Review | None: ...

    async def list_reviews(
        self,
        *,
        state: ReviewState | None = None,
        connection: str | None = None,
        limit: int = 100,
    ) -> Sequence[Review]: ...

    async def list_delegations(
        self,
        *,
        subject: str | None = None,
        connection: str | None = None,
        active_at: datetime | None = None,
    ) -> Sequence[Delegation]: ...


class Subscription(Protocol):
    async def get(self) -> DomainEvent:
        """Wait for the next event of the subscribed topic."""
        ...


class EventBus(Protocol):
    """Carries committed outbox events to whoever waits for them (in-process or across replicas)."""

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]: ...

    async def publish(self, event: DomainEvent) -> None: ...


class Notifier(Protocol):
    """Tells people in chat about an event (a card, a redraw, a DM); idempotent per event."""

    async def deliver(self, event: DomainEvent) -> None: ...
