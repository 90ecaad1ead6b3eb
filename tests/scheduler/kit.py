"""What the scheduler tests share: a movable clock, connections, a world of store + service +
jobs on one backend, builders for grants, sessions and reviews, and an event recorder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from approvals import (
    AccessMode,
    ApprovalService,
    ApproverRule,
    Connection,
    Delegation,
    DomainEvent,
    Escalation,
    Identity,
    Owners,
    Review,
    SystemClock,
    new_id,
)
from scheduler import Jobs, Scheduler, SchedulerConfig
from store import ALL_TOPICS, SchedulerStore, SessionRecord, SqlRepository

__all__ = [
    "ALICE",
    "CONNECTIONS",
    "START",
    "EventLog",
    "MovableClock",
    "World",
    "event_log",
    "grant",
    "hold",
    "record_session",
    "request_connection",
    "subjects",
    "world",
]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = Identity("alice@example.com", groups=frozenset({"eng"}), email="alice@example.com")


class MovableClock(SystemClock):
    """Real time plus an offset the test moves (or, with ``frozen``, a time that only moves
    when told to)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.frozen = start
        self.offset = timedelta(0)

    def now(self) -> datetime:
        base = self.frozen if self.frozen is not None else datetime.now(UTC)
        return base + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def request_connection(name: str = "pg-req", **changes: object) -> Connection:
    base = Connection(
        name=name,
        type="postgres",
        access=AccessMode.REQUEST,
        owners=Owners("#db-owners", frozenset({"carol@example.com"})),
        approvers=ApproverRule(frozenset({"dba"}), channel="#dba-oncall"),
        review_timeout=timedelta(hours=2),
        max_grant=timedelta(days=30),
        idle_revoke_after=timedelta(days=14),
        escalation=Escalation("#dba-leads", frozenset({"dba-leads"})),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


CONNECTIONS = {
    "pg-req": request_connection(),
    "pg-std": Connection(
        "pg-std",
        "postgres",
        allow_groups=frozenset({"eng"}),
        owners=Owners(None, frozenset({"carol@example.com"})),
        approvers=ApproverRule(frozenset({"dba"}), channel="#dba-oncall"),
    ),
}


@dataclass
class World:
    repository: SqlRepository
    service: ApprovalService
    clock: MovableClock
    scheduler: Scheduler
    config: SchedulerConfig = field(default_factory=SchedulerConfig)

    @property
    def jobs(self) -> Jobs:
        return self.scheduler.jobs

    async def run(self, job: str) -> str:
        done = await self.scheduler.run_job(job)
        assert done.ran, done
        return done.summary


def world(
    repository: SqlRepository,
    connections: Mapping[str, Connection] = CONNECTIONS,
    config: SchedulerConfig | None = None,
    clock: MovableClock | None = None,
) -> World:
    clock = clock or MovableClock(START)
    config = config or SchedulerConfig()
    service = ApprovalService(repository, repository.bus, clock, connections)
    store = SchedulerStore(repository.database)
    scheduler = Scheduler(Jobs(service, repository, store, config), store, say=lambda _: None)
    return World(repository, service, clock, scheduler, config)


async def grant(
    w: World,
    subject: str = "alice@example.com",
    connection: str = "pg-req",
    *,
    age: timedelta = timedelta(0),
    lasts: timedelta = timedelta(hours=1),
    **changes: object,
) -> Delegation:
    """A delegation granted ``age`` ago that lasts ``lasts`` from then."""
    created = w.clock.now() - age
    delegation = Delegation(
        id=new_id(),
        subject=subject,
        connection=connection,
        role=None,
        granted_by="bob@example.com",
        reason="INC-42",
        created_at=created,
        expires_at=created + lasts,
    )
    delegation = replace(delegation, **changes)  # type: ignore[arg-type]
    async with w.repository.transaction() as tx:
        await tx.add_delegation(delegation)
    return delegation


async def record_session(
    w: World,
    delegation: Delegation | None,
    *,
    at: datetime,
    who: Identity = ALICE,
    connection: str | None = None,
) -> None:
    """A finished session that rested on ``delegation`` (None: standing access)."""
    await w.repository.start_session(
        SessionRecord(
            id=new_id(),
            identity=who,
            connection=connection or (delegation.connection if delegation else "pg-std"),
            started_at=at,
            ended_at=at + timedelta(minutes=1),
            stats={"delegation": delegation.id if delegation else None},
        )
    )


async def hold(w: World, connection: str = "pg-req") -> Review:
    return await w.service.hold_statement(
        ALICE, connection, "TRUNCATE t", risk="destructive", rule="truncate"
    )


class EventLog:
    """Every event the bus carries while it is open."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.arrived = asyncio.Event()

    def topics(self, topic: str) -> list[DomainEvent]:
        return [e for e in self.events if e.topic == topic]

    async def wait(self, topic: str, count: int = 1, within: float = 5.0) -> list[DomainEvent]:
        async with asyncio.timeout(within):
            while len(self.topics(topic)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.topics(topic)


@contextlib.asynccontextmanager
async def event_log(repository: SqlRepository) -> AsyncIterator[EventLog]:
    log = EventLog()
    async with repository.bus.subscribe(ALL_TOPICS) as subscription:

        async def pump() -> None:
            while True:
                log.events.append(await subscription.get())
                log.arrived.set()

        task = asyncio.create_task(pump())
        try:
            yield log
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def subjects(delegations: Iterable[Delegation]) -> list[str]:
    return sorted(d.subject for d in delegations)
