"""Reviews nobody answers: they expire at their deadline, and before that they are re-announced
with backoff and then escalated (review-timeouts and reminders with a moved clock)."""

from __future__ import annotations

from datetime import timedelta

from approvals import Identity, Outcome, ReviewState
from scheduler import SchedulerConfig
from store import SqlRepository
from tests.scheduler.kit import CONNECTIONS, event_log, hold, request_connection, world

BOB = Identity("bob@example.com", groups=frozenset({"dba"}))
MINUTE = timedelta(minutes=1)


async def test_a_review_past_its_deadline_expires_and_says_so(repository: SqlRepository) -> None:
    """Before its deadline `review-timeouts` leaves a review alone; after it, the review is
    expired through the service and review.decided tells the holding session (57014)."""
    w = world(repository)
    review = await hold(w)
    async with event_log(repository) as log:
        w.clock.advance(timedelta(hours=2) - MINUTE)
        assert await w.run("review-timeouts") == "0 reviews expired"
        w.clock.advance(MINUTE)
        assert await w.run("review-timeouts") == "1 reviews expired"
        decided = await log.wait("review.decided")
    assert [(e.key, e.payload["state"]) for e in decided] == [(review.id, "expired")]
    stored = await repository.get_review(review.id)
    assert stored is not None and stored.state is ReviewState.EXPIRED


async def test_reminders_follow_the_backoff_then_escalate(repository: SqlRepository) -> None:
    """Backoff 5, 15, 45 minutes: reminders at 5m, 20m and 65m after the review opened, nothing
    in between, the last one escalating (the connection has an escalation channel)."""
    w = world(repository)
    review = await hold(w)
    reminded: list[int] = []
    async with event_log(repository) as log:
        for minutes in (4, 5, 6, 19, 20, 21, 64, 65, 66, 110):
            w.clock.offset = timedelta(minutes=minutes)
            if await w.run("reminders") == "1 reminders":
                reminded.append(minutes)
        await log.wait("review.reminder", 3)
        await log.wait("review.escalated")
    assert reminded == [5, 20, 65]
    steps = [e.payload["step"] for e in log.topics("review.reminder")]
    assert steps == [1, 2, 3]
    assert [e.key for e in log.topics("review.escalated")] == [review.id]
    audit = [a.action for a in await repository.list_audit(connection="pg-req")]
    assert audit.count("review.escalated") == 1


async def test_backoff_is_configurable_and_decided_reviews_are_left_alone(
    repository: SqlRepository,
) -> None:
    """With a 1-minute backoff and no escalation configured, a review decided after its first
    reminder hears nothing more; the last step is a plain reminder."""
    conns = {**CONNECTIONS, "pg-req": request_connection(escalation=None)}
    config = SchedulerConfig(reminder_backoff=(MINUTE, MINUTE))
    w = world(repository, conns, config)
    first, second = await hold(w), await hold(w)
    async with event_log(repository) as log:
        w.clock.advance(MINUTE)
        assert await w.run("reminders") == "2 reminders"
        await w.service.decide(first.id, BOB, Outcome.APPROVE)
        w.clock.advance(MINUTE)
        assert await w.run("reminders") == "1 reminders"
        await log.wait("review.reminder", 3)
    assert [e.key for e in log.topics("review.reminder")][-1] == second.id
    assert not log.topics("review.escalated")
