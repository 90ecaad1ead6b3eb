"""Replicas on a real store (SQLite and PostgreSQL): a gone replica's sessions are ended and its
held statements' reviews cancelled with the reason, exactly once however many reap it; access
requests are left alone; a reaped review cannot be approved; the audit chain verifies."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from approvals import (
    AlreadyDecided,
    ApprovalService,
    ApproverRule,
    Connection,
    Identity,
    Outcome,
    ReviewState,
    SystemClock,
    new_id,
)
from gateway.config import GatewaySettings
from gateway.errors import ReplicaReaped
from gateway.sessions.replicas import (
    GONE,
    RESTARTED,
    SESSION_END,
    Place,
    Replica,
    here,
    running_replica,
)
from store import REPLICA_REAPED, Database, SessionRecord, SqlRepository, verify

ALICE = Identity("alice@example.com", groups=frozenset({"eng"}))
BOB = Identity("bob@example.com", groups=frozenset({"dba"}))
PG = Connection(
    "pg-prod",
    "postgres",
    allow_groups=frozenset({"eng"}),
    approvers=ApproverRule(frozenset({"dba"})),
)
ELSEWHERE = Place("gateway-b.example", 4242, None)
SHORT = timedelta(milliseconds=200)


@pytest.fixture
def service(repository: SqlRepository) -> ApprovalService:
    return ApprovalService(repository, repository.bus, SystemClock(), {"pg-prod": PG})


def replica(
    repository: SqlRepository,
    service: ApprovalService,
    place: Place = ELSEWHERE,
    dead_after: timedelta = SHORT,
) -> Replica:
    return Replica(repository, service, dead_after=dead_after, place=place, say=lambda _: None)


async def registered(replica: Replica) -> Replica:
    """Its row, without the reaping a start does."""
    place = replica.place
    await replica.repository.register_replica(
        replica.id, host=place.host, pid=place.pid, pid_namespace=place.pid_namespace
    )
    return replica


async def holding(repository: SqlRepository, service: ApprovalService, replica_id: str) -> str:
    """A live session of ``replica_id`` with a statement held for review; the review's id."""
    session_id = new_id()
    await repository.start_session(
        SessionRecord(session_id, ALICE, "pg-prod", datetime.now(UTC), replica_id=replica_id)
    )
    review = await service.hold_statement(
        ALICE, "pg-prod", "DROP TABLE orders", risk="high", rule="ddl", session_id=session_id
    )
    return review.id


async def reaped_events(repository: SqlRepository) -> list[str]:
    return [e.target for e in await repository.list_audit(limit=1000) if e.action == REPLICA_REAPED]


async def test_a_gone_replica_is_reaped_once_and_its_review_cannot_be_approved(
    repository: SqlRepository, service: ApprovalService, database: Database
) -> None:
    """A replica whose heartbeat is older than dead_after: its held review is cancelled with
    the reason, its session ended ("gateway gone"), an access request left pending, one
    replica.reaped event; an approval after is refused; the chain verifies."""
    gone = replica(repository, service)
    await gone.start()
    review_id = await holding(repository, service, gone.id)
    access = await service.request_access(
        ALICE, "pg-prod", role=None, duration=timedelta(hours=1), reason="INC-42"
    )
    replayed, finished = new_id(), new_id()  # ended by the journal's replay / by the core
    earlier = datetime.now(UTC) - timedelta(seconds=5)
    for session_id, stats in ((replayed, {}), (finished, {"end": "client closed"})):
        await repository.start_session(
            SessionRecord(session_id, ALICE, "pg-prod", earlier, replica_id=gone.id)
        )
        await repository.end_session(session_id, ended_at=earlier, stats=stats)
    await asyncio.sleep(SHORT.total_seconds() * 1.5)
    reaper = replica(repository, service, Place("gateway-a.example", 7, None))
    reaped = await reaper.start()
    assert [(r.replica.id, r.reason, r.reviews) for r in reaped] == [(gone.id, GONE, (review_id,))]
    assert replayed in reaped[0].sessions and finished not in reaped[0].sessions
    kept = await repository.get_session(replayed)
    assert kept is not None and (kept.ended_at, kept.stats["end"]) == (earlier, SESSION_END)
    untouched = await repository.get_session(finished)
    assert untouched is not None and untouched.stats["end"] == "client closed"

    review = await repository.get_review(review_id)
    assert review is not None
    assert (review.state, review.cancel_reason) == (ReviewState.CANCELLED, GONE)
    [session_id] = set(reaped[0].sessions) - {replayed}
    session = await repository.get_session(session_id)
    assert session is not None and session.ended_at is not None
    assert session.stats["end"] == SESSION_END
    still = await repository.get_review(access.id)
    assert still is not None and still.state is ReviewState.PENDING
    with pytest.raises(AlreadyDecided, match="already cancelled: the gateway holding it is gone"):
        await service.decide(review_id, BOB, Outcome.APPROVE)
    stopped = await repository.get_replica(gone.id)
    assert stopped is not None and stopped.stopped_by == reaper.id
    assert await reaped_events(repository) == [gone.id]
    assert await reaper.reap_gone() == []  # nothing left: the reaper's own row is fresh
    assert (await verify(database)).ok


async def test_racing_reapers_reap_once(
    repository: SqlRepository, service: ApprovalService
) -> None:
    """Four replicas reaping the same gone one at once: one of them does it; the review ends
    once (one review.final) and one replica.reaped event is written."""
    gone = replica(repository, service)
    await gone.start()
    review_id = await holding(repository, service, gone.id)
    # The reapers register after the gone one's heartbeat is a second old: they take it for
    # gone, not each other.
    await asyncio.sleep(1.3)
    reapers = [
        replica(repository, service, Place(f"g{k}", k + 10, None), timedelta(seconds=1))
        for k in range(4)
    ]
    for r in reapers:
        await registered(r)
    found = await asyncio.gather(*(r.reap_gone() for r in reapers))
    assert sum(len(f) for f in found) == 1
    assert await reaped_events(repository) == [gone.id]
    finals = [
        e for e in await repository.list_audit(limit=1000, target=review_id)
        if e.action == "review.final"
    ]  # fmt: skip
    assert [e.outcome for e in finals] == ["cancelled"]


async def test_a_restart_on_the_same_host_reaps_its_predecessor_at_once(
    repository: SqlRepository, service: ApprovalService
) -> None:
    """At start, a replica of this host and PID namespace whose pid is gone is reaped at once
    ("the gateway restarted"), long before dead_after; one whose pid lives, or of another PID
    namespace, is not."""
    me = here()
    if me.pid_namespace is None:
        pytest.fail("this test needs Linux's /proc (boot id and PID namespace)")
    exited = await asyncio.create_subprocess_exec("true")
    await exited.wait()  # reaped: its pid is free
    long = timedelta(minutes=5)
    dead = Place(me.host, exited.pid, me.pid_namespace)
    predecessor = await registered(replica(repository, service, dead, long))
    review_id = await holding(repository, service, predecessor.id)
    living = Place(me.host, os.getppid(), me.pid_namespace)
    alive = await registered(replica(repository, service, living, long))
    elsewhere = Place(me.host, exited.pid, "other-boot/1:2")
    other_ns = await registered(replica(repository, service, elsewhere, long))

    restarted = replica(repository, service, me, long)
    reaped = await restarted.start()
    assert [(r.replica.id, r.reason) for r in reaped] == [(predecessor.id, RESTARTED)]
    review = await repository.get_review(review_id)
    assert review is not None and review.cancel_reason == RESTARTED
    for kept in (alive, other_ns):
        row = await repository.get_replica(kept.id)
        assert row is not None and row.stopped_at is None


async def test_a_reaped_replica_stops_at_its_next_heartbeat(
    repository: SqlRepository, service: ApprovalService
) -> None:
    """A replica taken for gone (a pause past dead_after) learns it at its next heartbeat."""
    paused = replica(repository, service)
    await paused.start()
    await asyncio.sleep(SHORT.total_seconds() * 1.5)
    await replica(repository, service, Place("g", 1, None)).start()
    with pytest.raises(ReplicaReaped, match="was reaped by another replica"):
        await paused.beat()


async def test_a_clean_stop_marks_the_replica_stopped_quietly(
    repository: SqlRepository, service: ApprovalService
) -> None:
    """A clean stop with nothing left marks the row stopped by itself and audits nothing; one
    that left a held review cancels it ("the gateway stopped") and audits replica.stopped."""
    clean = replica(repository, service)
    await clean.start()
    before = len(await repository.list_audit(limit=1000))
    await clean.stop()
    row = await repository.get_replica(clean.id)
    assert row is not None and row.stopped_by == clean.id and row.stopped_at is not None
    assert len(await repository.list_audit(limit=1000)) == before

    left = replica(repository, service)
    await left.start()
    review_id = await holding(repository, service, left.id)
    await left.stop()
    review = await repository.get_review(review_id)
    assert review is not None and review.state is ReviewState.CANCELLED
    actions = [e.action for e in await repository.list_audit(limit=1000)]
    assert actions[-1] == "replica.stopped"


async def test_two_replicas_of_one_process_do_not_reap_each_other(
    repository: SqlRepository, service: ApprovalService
) -> None:
    """Two gateways in one process (as tests run them) share its pid: neither takes the other
    for a dead predecessor at its start."""
    first = replica(repository, service, here(), timedelta(minutes=5))
    await first.start()
    second = replica(repository, service, here(), timedelta(minutes=5))
    assert await second.start() == []
    assert await first.beat() == []
    await second.stop()
    await first.stop()


async def test_a_running_replica_that_was_reaped_ends_its_service(
    repository: SqlRepository, service: ApprovalService
) -> None:
    """While it runs, a replica another one reaped learns it at its next heartbeat: the body
    (the listeners) is cancelled and ReplicaReaped raised in its place."""
    started = time.monotonic()
    with pytest.raises(ReplicaReaped, match="was reaped by another replica"):
        async with running_replica(
            repository,
            service,
            asyncio.Event(),
            interval=timedelta(milliseconds=100),
            dead_after=timedelta(seconds=30),
        ) as me:
            done = await repository.reap_replica(
                me.id, by="another", end=SESSION_END, action=REPLICA_REAPED, details={}
            )
            assert done == []
            await asyncio.sleep(30)
    assert time.monotonic() - started < 10


def test_heartbeat_settings_default_parse_and_refuse_a_dead_after_too_short() -> None:
    """[gateway] heartbeat_interval 5s and replica_dead_after 30s by default; durations parse;
    a dead_after under three heartbeats, or a heartbeat under 100ms, is refused."""
    default = GatewaySettings()
    assert (default.heartbeat_interval, default.replica_dead_after) == (
        timedelta(seconds=5),
        timedelta(seconds=30),
    )
    fast = GatewaySettings.model_validate(
        {"heartbeat_interval": "500ms", "replica_dead_after": "2s"}
    )
    assert (fast.heartbeat_interval, fast.replica_dead_after) == (
        timedelta(milliseconds=500),
        timedelta(seconds=2),
    )
    with pytest.raises(ValidationError, match="three heartbeat_intervals"):
        GatewaySettings.model_validate({"heartbeat_interval": "5s", "replica_dead_after": "10s"})
    with pytest.raises(ValidationError, match="between 100ms and 5m"):
        GatewaySettings.model_validate({"heartbeat_interval": "10ms"})


async def test_after_its_own_heartbeat_gap_a_replica_waits_a_beat_before_reaping(
    repository: SqlRepository, service: ApprovalService
) -> None:
    """Back from a store outage longer than dead_after (its own heartbeats stopped too), a
    replica does not reap at its first beat, only at the next one if the other stayed silent."""
    other = await registered(replica(repository, service))
    back = replica(repository, service, Place("g", 1, None))
    await back.start()
    await asyncio.sleep(SHORT.total_seconds() * 1.5)  # nobody could heartbeat meanwhile
    assert await back.beat() == []
    reaped = await back.beat()
    assert [r.replica.id for r in reaped] == [other.id]
