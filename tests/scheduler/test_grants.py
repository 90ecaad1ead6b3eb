"""Grants end on time, unused grants end sooner, holders hear before a grant ends: the expire,
idle-revoke and expiry-notice jobs with a moved clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from store import SqlRepository
from tests.scheduler.kit import event_log, grant, record_session, subjects, world


async def test_a_one_hour_grant_ends_at_one_hour(repository: SqlRepository) -> None:
    """At 59m the grant stands; at 1h `expire` records it ended (reason "expired", at its
    expiry), audits it and emits delegation.revoked, which ends its sessions everywhere."""
    w = world(repository)
    held = await grant(w, lasts=timedelta(hours=1))
    async with event_log(repository) as log:
        w.clock.advance(timedelta(minutes=59))
        assert await w.run("expire") == "0 grants ended"
        w.clock.advance(timedelta(minutes=1))
        assert await w.run("expire") == "1 grants ended"
        assert await w.run("expire") == "0 grants ended"
        revoked = await log.wait("delegation.revoked")
    ended = await repository.get_delegation(held.id)
    assert ended is not None and ended.revoke_reason == "expired"
    assert ended.revoked_at == held.expires_at and ended.revoked_by == "airlock-scheduler"
    assert [e.key for e in revoked] == [held.id]
    assert revoked[0].payload["cause"] == "expired"
    audit = await repository.list_audit(connection="pg-req")
    assert [a.action for a in audit] == ["delegation.expired"]
    assert not await w.service.repository.list_delegations(
        subject=held.subject, active_at=w.clock.now()
    )


async def test_unused_grant_is_revoked_and_one_used_yesterday_is_not(
    repository: SqlRepository,
) -> None:
    """With idle_revoke_after 14d: a grant unused for 15 days is revoked ("unused for 14 days",
    holder and owners told via the event's cause); grants used the day before (by a session or
    by the recorded last use), or granted 3 days ago, stay."""
    w = world(repository)
    day = timedelta(days=1)
    idle = await grant(w, "idle@example.com", age=15 * day, lasts=30 * day)
    by_session = await grant(w, "session@example.com", age=15 * day, lasts=30 * day)
    await record_session(w, by_session, at=w.clock.now() - day)
    by_use = await grant(
        w, "use@example.com", age=15 * day, lasts=30 * day, last_used_at=w.clock.now() - day
    )
    young = await grant(w, "young@example.com", age=3 * day, lasts=30 * day)
    async with event_log(repository) as log:
        assert await w.run("idle-revoke") == "1 unused grants revoked"
        assert await w.run("idle-revoke") == "0 unused grants revoked"
        revoked = await log.wait("delegation.revoked")
    assert [e.key for e in revoked] == [idle.id] and revoked[0].payload["cause"] == "idle"
    gone = await repository.get_delegation(idle.id)
    assert gone is not None and gone.revoke_reason == "unused for 14 days"
    live = await repository.list_delegations(active_at=w.clock.now())
    assert subjects(live) == subjects([by_session, by_use, young])


async def test_holder_is_told_a_day_before_a_long_grant_ends_once(
    repository: SqlRepository,
) -> None:
    """A 3-day grant gets one delegation.expiring event when a day is left; an 8-hour grant (no
    longer than the notice period) gets none."""
    w = world(repository)
    long = await grant(w, lasts=timedelta(days=3))
    await grant(w, "short@example.com", lasts=timedelta(hours=8))
    async with event_log(repository) as log:
        w.clock.advance(timedelta(hours=47))
        assert await w.run("expiry-notice") == "0 holders told their grant ends soon"
        w.clock.advance(timedelta(hours=1))
        assert await w.run("expiry-notice") == "1 holders told their grant ends soon"
        assert await w.run("expiry-notice") == "0 holders told their grant ends soon"
        told = await log.wait("delegation.expiring")
    assert [e.key for e in told] == [long.id]
