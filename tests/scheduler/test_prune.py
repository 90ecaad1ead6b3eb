"""The prune job: the outbox and the token revocations stop growing without bound, and nothing
still needed goes (recent events; revocations of tokens that are still valid or of unknown
expiry). On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import col

from approvals import DomainEvent
from approvals.revocation import Revocation, RevokedWhat
from store import IdentityStore, Outbox, SqlRepository
from store.tables import OutboxRow
from tests.scheduler.kit import ALICE, MovableClock, world

DAY = timedelta(days=1)


async def test_old_outbox_events_go_and_recent_ones_stay(repository: SqlRepository) -> None:
    w = world(repository, clock=MovableClock())  # the outbox is stamped with the real time
    async with repository.transaction() as tx:
        await tx.emit(DomainEvent("review.created", "R-old", {}))
        await tx.emit(DomainEvent("review.created", "R-new", {}))
    async with repository.database.write() as session:  # R-old was written 31 days ago
        await session.execute(
            update(OutboxRow)
            .where(col(OutboxRow.key) == "R-old")
            .values(created_at=datetime.now(UTC) - 31 * DAY)
        )
    assert await w.run("prune") == "1 old outbox events, 0 expired token revocations pruned"
    assert await w.run("prune") == "0 old outbox events, 0 expired token revocations pruned"
    assert [e.key for e in await Outbox(repository.database).claim_undelivered("bot")] == ["R-new"]


async def test_revocations_are_forgotten_a_week_after_their_token_expired(
    repository: SqlRepository,
) -> None:
    w = world(repository)
    now = w.clock.now()
    identities = IdentityStore(repository)

    async def revoke(jti: str, expires_at: datetime | None) -> None:
        revocation = Revocation(RevokedWhat.TOKEN, jti, "leaked", ALICE, now)
        await identities.revoke_token(revocation, expires_at)

    await revoke("long-gone", now - 8 * DAY)
    await revoke("just-expired", now - DAY)
    await revoke("still-valid", now + DAY)
    await revoke("unknown-expiry", None)
    assert await w.run("prune") == "0 old outbox events, 1 expired token revocations pruned"
    assert await identities.revoked([], ["long-gone"]) is None
    for jti in ("just-expired", "still-valid", "unknown-expiry"):
        assert await identities.revoked([], [jti]) == f"token {jti} was revoked: leaked"
    audit = await repository.list_audit(limit=10)
    assert sum(a.action == "token.revoked" for a in audit) == 4  # the trail keeps them all
