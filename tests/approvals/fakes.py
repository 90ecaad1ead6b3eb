"""In-memory fakes of the approvals ports, for domain tests.

- :class:`FakeClock` tells a settable time; ``advance`` moves it without sleeping. A *ticking*
  clock also follows real monotonic time, for code (``await_decision``) whose asyncio timeouts are
  computed from clock time.
- :class:`InMemoryRepository` keeps committed rows in dicts. A transaction writes copy-on-write
  into its own staging area and applies it at commit, all at once; an exception inside the
  ``async with`` (or an injected commit failure) discards it, so nothing half-written is ever
  seen. ``get_review(..., for_update=True)`` takes a real per-row :class:`asyncio.Lock` held until
  the transaction ends, so concurrent deciders serialise. Every operation yields to the event loop
  once, like a real driver, so code that forgot a lock would actually interleave.
- :class:`InMemoryEventBus` delivers events to subscribers; the repository publishes a
  transaction's outbox events only after it committed and released its locks.

The fakes also refuse what a careful store would refuse (duplicate ids, saving a row that was not
locked, a version that does not follow the stored one), so a domain bug shows up as an error.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from approvals.model import AuditEntry, Decision, Delegation, DomainEvent, Review
from approvals.states import ReviewState

__all__ = [
    "EPOCH",
    "CommitFailed",
    "FakeClock",
    "InMemoryEventBus",
    "InMemoryRepository",
    "InMemoryTransaction",
    "StoreError",
]

EPOCH = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


class StoreError(Exception):
    """The fake store refused a write a real store would refuse (a domain bug if seen)."""


class CommitFailed(StoreError):
    """An injected failure at commit time (the database went away)."""


class FakeClock:
    """A clock that only moves when told to (or, when ``ticking``, also with real time)."""

    def __init__(self, start: datetime = EPOCH, *, ticking: bool = False) -> None:
        self._base = start
        self._ticking = ticking
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        if not self._ticking:
            return self._base
        return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def advance(self, delta: timedelta) -> None:
        self._base += delta

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (for a ticking clock: ``when`` is now, and time flows on from it)."""
        self._base = when
        self._t0 = time.monotonic()


class _Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[DomainEvent] = asyncio.Queue()

    async def get(self) -> DomainEvent:
        return await self.queue.get()


class InMemoryEventBus:
    """Publishes to every live subscription of the event's topic; remembers what it published."""

    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self._subscriptions: dict[str, set[_Subscription]] = defaultdict(set)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[_Subscription]:
        subscription = _Subscription()
        self._subscriptions[topic].add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions[topic].discard(subscription)

    async def publish(self, event: DomainEvent) -> None:
        self.published.append(event)
        for subscription in tuple(self._subscriptions[event.topic]):
            subscription.queue.put_nowait(event)

    def subscribers(self, topic: str) -> int:
        return len(self._subscriptions[topic])

    def topics(self) -> list[str]:
        return [event.topic for event in self.published]


@dataclass
class _Staged:
    reviews: dict[str, Review] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    delegations: dict[str, Delegation] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)


class InMemoryTransaction:
    """One unit of work over an :class:`InMemoryRepository` (see the module docstring)."""

    def __init__(self, repository: InMemoryRepository) -> None:
        self._repo = repository
        self._staged = _Staged()
        self._held: dict[str, asyncio.Lock] = {}

    # -- locking ------------------------------------------------------------------------------

    async def _lock(self, key: str) -> None:
        if key in self._held:
            return
        lock = self._repo.lock(key)
        await lock.acquire()
        self._held[key] = lock

    def release(self) -> None:
        for lock in self._held.values():
            lock.release()
        self._held.clear()

    def _require_lock(self, key: str) -> None:
        if key not in self._held:
            raise StoreError(f"{key} written without being read for update in this transaction")

    # -- reviews ------------------------------------------------------------------------------

    async def get_review(self, review_id: str, *, for_update: bool = False) -> Review | None:
        await asyncio.sleep(0)
        if for_update:
            await self._lock(f"review:{review_id}")
        if review_id in self._staged.reviews:
            return self._staged.reviews[review_id]
        return self._repo.reviews.get(review_id)

    async def add_review(self, review: Review) -> None:
        await asyncio.sleep(0)
        if review.id in self._repo.reviews or review.id in self._staged.reviews:
            raise StoreError(f"duplicate review {review.id}")
        self._staged.reviews[review.id] = review

    async def save_review(self, review: Review) -> None:
        await asyncio.sleep(0)
        self._require_lock(f"review:{review.id}")
        current = self._staged.reviews.get(review.id) or self._repo.reviews.get(review.id)
        if current is None:
            raise StoreError(f"no review {review.id} to save")
        if review.version != current.version + 1:
            raise StoreError(
                f"review {review.id}: version {review.version} does not follow {current.version}"
            )
        self._staged.reviews[review.id] = review

    async def add_decision(self, decision: Decision, position: int) -> None:
        await asyncio.sleep(0)
        if decision.id in self._repo.decisions or decision.id in self._staged.decisions:
            raise StoreError(f"duplicate decision {decision.id}")
        if await self.get_review(decision.review_id) is None:
            raise StoreError(f"decision {decision.id} for unknown review {decision.review_id}")
        before = [
            d
            for d in (*self._repo.decisions.values(), *self._staged.decisions.values())
            if d.review_id == decision.review_id
        ]
        if position != len(before):  # the store's unique (review_id, position)
            raise StoreError(f"decision {decision.id}: position {position}, not {len(before)}")
        self._staged.decisions[decision.id] = decision

    # -- delegations --------------------------------------------------------------------------

    async def get_delegation(
        self, delegation_id: str, *, for_update: bool = False
    ) -> Delegation | None:
        await asyncio.sleep(0)
        if for_update:
            await self._lock(f"delegation:{delegation_id}")
        if delegation_id in self._staged.delegations:
            return self._staged.delegations[delegation_id]
        return self._repo.delegations.get(delegation_id)

    async def add_delegation(self, delegation: Delegation) -> None:
        await asyncio.sleep(0)
        known = self._repo.delegations.keys() | self._staged.delegations.keys()
        if delegation.id in known:
            raise StoreError(f"duplicate delegation {delegation.id}")
        self._staged.delegations[delegation.id] = delegation

    async def save_delegation(self, delegation: Delegation) -> None:
        await asyncio.sleep(0)
        self._require_lock(f"delegation:{delegation.id}")
        if await self.get_delegation(delegation.id) is None:
            raise StoreError(f"no delegation {delegation.id} to save")
        self._staged.delegations[delegation.id] = delegation

    # -- audit and outbox ---------------------------------------------------------------------

    async def append_audit(self, entry: AuditEntry) -> None:
        await asyncio.sleep(0)
        self._staged.audit.append(entry)

    async def emit(self, event: DomainEvent) -> None:
        await asyncio.sleep(0)
        self._staged.events.append(event)

    async def revoked(self, subjects: Collection[str]) -> str | None:
        await asyncio.sleep(0)
        found = sorted(set(subjects) & self._repo.revoked_subjects.keys())
        return f"{found[0]} was revoked: {self._repo.revoked_subjects[found[0]]}" if found else None

    async def redeem_ticket(
        self, ticket: str, *, approved_since: datetime, at: datetime
    ) -> Review | None:
        await asyncio.sleep(0)
        await self._lock(f"ticket:{ticket}")
        reviews = {**self._repo.reviews, **self._staged.reviews}
        found = sorted(
            (
                r
                for r in reviews.values()
                if r.ticket == ticket
                and r.state is ReviewState.APPROVED
                and r.redeemed_at is None
                and r.decided_at is not None
                and r.decided_at >= approved_since
            ),
            key=lambda r: r.decided_at or at,
        )
        if not found:
            return None
        redeemed = replace(found[0], redeemed_at=at)
        self._staged.reviews[redeemed.id] = redeemed
        return redeemed

    # -- ending -------------------------------------------------------------------------------

    async def commit(self) -> list[DomainEvent]:
        """Apply everything staged at once; return the events to publish."""
        await asyncio.sleep(0)
        repo = self._repo
        if repo.fail_commits > 0:
            repo.fail_commits -= 1
            raise CommitFailed("injected commit failure")
        repo.reviews.update(self._staged.reviews)
        repo.decisions.update(self._staged.decisions)
        repo.delegations.update(self._staged.delegations)
        repo.audit.extend(self._staged.audit)
        repo.outbox.extend(self._staged.events)
        repo.commits += 1
        return list(self._staged.events)


class InMemoryRepository:
    """Committed state in dicts; see the module docstring for the transaction semantics."""

    def __init__(self, bus: InMemoryEventBus | None = None) -> None:
        self.bus = bus if bus is not None else InMemoryEventBus()
        self.reviews: dict[str, Review] = {}
        self.decisions: dict[str, Decision] = {}
        self.delegations: dict[str, Delegation] = {}
        self.audit: list[AuditEntry] = []
        self.outbox: list[DomainEvent] = []
        self.revoked_subjects: dict[str, str] = {}  # subject -> reason
        self.commits = 0
        self.rollbacks = 0
        self.fail_commits = 0
        # Awaited by get_review() after it read a row and before it returns it: a test can stall a
        # reader there and change the store under it.
        self.after_read: Callable[[], Awaitable[None]] | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemoryTransaction]:
        tx = InMemoryTransaction(self)
        try:
            yield tx
            events = await tx.commit()
        except BaseException:
            self.rollbacks += 1
            raise
        finally:
            tx.release()
        for event in events:
            await self.bus.publish(event)

    async def get_review(self, review_id: str) -> Review | None:
        await asyncio.sleep(0)
        review = self.reviews.get(review_id)
        if self.after_read is not None:
            await self.after_read()
        return review

    async def list_reviews(
        self,
        *,
        state: ReviewState | None = None,
        connection: str | None = None,
        limit: int = 100,
    ) -> Sequence[Review]:
        await asyncio.sleep(0)
        found = [
            review
            for review in sorted(self.reviews.values(), key=lambda r: r.created_at)
            if (state is None or review.state is state)
            and (connection is None or review.connection == connection)
        ]
        return found[:limit]

    async def list_delegations(
        self,
        *,
        subject: str | None = None,
        connection: str | None = None,
        active_at: datetime | None = None,
    ) -> Sequence[Delegation]:
        await asyncio.sleep(0)
        return [
            delegation
            for delegation in sorted(self.delegations.values(), key=lambda d: d.created_at)
            if (subject is None or delegation.subject == subject)
            and (connection is None or delegation.connection == connection)
            and (active_at is None or delegation.active(active_at))
        ]

    def audit_actions(self) -> list[str]:
        return [entry.action for entry in self.audit]
