"""The scheduler's jobs: thin, idempotent functions over the store and the approvals services.

Each reads what is due, makes one service call (or one transaction) per item, and returns a
one-line summary. Running a job twice does nothing the first run did not: an ended grant is
skipped, an expired review stays expired, a reminder step or an expiry notice is marked in the
transaction that emits it, a week's digest has one id per recipient. What people are told in
chat follows from the outbox events these writes emit (the bot delivers them).

    expire           delegations past expires_at end (delegation.revoked, reason "expired")
    idle-revoke      delegations unused for the connection's idle_revoke_after are revoked
    review-timeouts  pending reviews past their deadline become expired (held statement: 57014)
    reminders        unanswered reviews are re-announced with backoff, then escalated
    expiry-notice    holders are told ``expiry_notice`` before a grant ends (with "extend")
    digest           the week's access-review digest for every owners' recipient
    prune            outbox events older than ``outbox_retention`` and token revocations a
                     week past their token's expiry are deleted (the tables stop growing)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from approvals import ApprovalService, AuditEntry, Connection, DomainEvent, ReviewState
from approvals.access_review import build_digests, period_of
from approvals.lifecycle import (
    DELEGATION_EXPIRING,
    REVIEW_ESCALATED,
    REVIEW_REMINDER,
    SCHEDULER,
    GrantLifecycle,
    reminder_steps,
)
from scheduler.config import SchedulerConfig
from store import (
    AccessReviews,
    DigestStore,
    IdentityStore,
    Outbox,
    PendingReview,
    SchedulerStore,
    SqlRepository,
)

__all__ = ["JOBS", "Jobs"]

log = logging.getLogger("scheduler")

JOBS = (
    "expire", "idle-revoke", "review-timeouts", "reminders", "expiry-notice", "digest", "prune",
)  # fmt: skip
# A revoked token is forgotten this long after its own expiry (far beyond any clock leeway).
REVOCATION_AFTERLIFE = timedelta(days=7)


@dataclass
class Jobs:
    service: ApprovalService
    repository: SqlRepository
    store: SchedulerStore
    config: SchedulerConfig

    def __post_init__(self) -> None:
        self.reviews = AccessReviews(self.repository.database)
        self.digests = DigestStore(self.repository)

    @property
    def lifecycle(self) -> GrantLifecycle:
        """Grant lifecycle on the service's clock (whatever clock the service has now)."""
        return GrantLifecycle(self.repository, self.service.clock, self.connections)

    @property
    def connections(self) -> Mapping[str, Connection]:
        return self.service.connections

    def now(self) -> datetime:
        return self.service.clock.now()

    def named(self, name: str) -> Callable[[], Awaitable[str]]:
        """The job called ``name`` (one of :data:`JOBS`)."""
        if name not in JOBS:
            raise KeyError(f"no job {name!r}; jobs: {', '.join(JOBS)}")
        job: Callable[[], Awaitable[str]] = getattr(self, name.replace("-", "_"))
        return job

    async def expire(self) -> str:
        ended = 0
        for grant in await self.store.ended_grants(self.now()):
            if await self.lifecycle.expire(grant) is not None:
                ended += 1
        return f"{ended} grants ended"

    async def idle_revoke(self) -> str:
        now, revoked = self.now(), 0
        for conn in self.connections.values():
            window = conn.idle_revoke_after
            if window is None:
                continue
            cutoff = now - window
            used = await self.store.last_session_use(conn.name, cutoff)
            for grant in await self.store.live_grants(now, connection=conn.name):
                idle = grant.created_at <= cutoff and (
                    grant.last_used_at is None or grant.last_used_at <= cutoff
                )
                if idle and grant.id not in used:
                    revoked += (
                        await self.lifecycle.revoke_unused(grant.id, window, None) is not None
                    )
        return f"{revoked} unused grants revoked"

    async def review_timeouts(self) -> str:
        expired = 0
        for review_id in await self.store.due_reviews(self.now()):
            review = await self.service.expire(review_id)
            expired += review.state is ReviewState.EXPIRED
        return f"{expired} reviews expired"

    async def reminders(self) -> str:
        now, steps = self.now(), 0
        backoff = self.config.reminder_backoff
        for review in await self.store.waiting_reviews(now):
            due = reminder_steps(review.created_at, now, backoff)
            if due and await self._remind(review, due, now):
                steps += 1
        return f"{steps} reminders"

    async def _remind(self, review: PendingReview, due: int, now: datetime) -> bool:
        """Announce step ``due`` unless it (or a later one) was; the last step escalates."""
        conn = self.connections.get(review.connection)
        escalate = due >= len(self.config.reminder_backoff) and bool(conn and conn.escalation)
        async with self.repository.transaction() as tx:
            if await self.store.mark(tx, "reminders", review.id) >= due:
                return False
            current = await tx.get_review(review.id, for_update=True)
            if current is None or current.state is not ReviewState.PENDING:
                return False
            payload = {"step": due, "of": len(self.config.reminder_backoff)}
            await tx.emit(DomainEvent(REVIEW_REMINDER, review.id, payload))
            if escalate:
                await tx.emit(DomainEvent(REVIEW_ESCALATED, review.id, payload))
                await tx.append_audit(
                    AuditEntry(
                        action="review.escalated",
                        actor=SCHEDULER,
                        target=review.id,
                        outcome="escalated",
                        at=now,
                        connection=review.connection,
                        details={"after_reminders": due},
                    )
                )
            await self.store.set_mark(tx, "reminders", review.id, due, now)
        return True

    async def expiry_notice(self) -> str:
        now, notice, told = self.now(), self.config.expiry_notice, 0
        for grant in await self.store.live_grants(now, until=now + notice):
            if grant.expires_at - grant.created_at <= notice:
                continue  # a grant shorter than the notice period was asked for knowingly
            async with self.repository.transaction() as tx:
                if await self.store.mark(tx, "expiry-notice", grant.id):
                    continue
                payload = {
                    "subject": grant.subject,
                    "connection": grant.connection,
                    "expires_at": grant.expires_at.isoformat(),
                }
                await tx.emit(DomainEvent(DELEGATION_EXPIRING, grant.id, payload))
                await self.store.set_mark(tx, "expiry-notice", grant.id, 1, now)
            told += 1
        return f"{told} holders told their grant ends soon"

    async def digest(self) -> str:
        now = self.now()
        period = period_of(now.astimezone(ZoneInfo(self.config.digest_timezone)))
        owned = {name: c for name, c in self.connections.items() if _has_owners(c)}
        entries = await self.reviews.entries(owned, now, lookback=self.config.lookback)
        digests = build_digests(
            entries, owned, now=now, period=period, unused_after=self.config.unused_after
        )
        stored = await self.digests.save(digests)
        lines = sum(len(d.entries) for d in digests)
        return f"{len(stored)} digests for {period} ({lines} lines; {len(digests)} recipients)"

    async def prune(self) -> str:
        now = self.now()
        events = await Outbox(self.repository.database).prune(now - self.config.outbox_retention)
        tokens = await IdentityStore(self.repository).prune_revoked_tokens(
            now - REVOCATION_AFTERLIFE
        )
        return f"{events} old outbox events, {tokens} expired token revocations pruned"


def _has_owners(conn: Connection) -> bool:
    return bool(conn.owners.channel or conn.owners.identities)
