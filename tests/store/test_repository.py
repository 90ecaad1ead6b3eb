"""The repository on its own: round trips, checked writes, queries, rollback, errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from approvals.model import (
    AccessRequest,
    Decision,
    Delegation,
    DomainEvent,
    Impact,
    Outcome,
    ReviewKind,
    new_id,
)
from approvals.states import ReviewState
from store import Database, InProcessBus, IntegrityError, SqlRepository, StaleWrite
from tests.store.helpers import ALICE, ALICE_VIA_AGENTS, BOB, CAROL, EPOCH, entry, review


async def test_review_round_trip_keeps_everything(repository: SqlRepository) -> None:
    """A review with the full requester chain, an access request and decisions reads back equal."""
    original = review(
        kind=ReviewKind.ACCESS,
        statement=None,
        access=AccessRequest(role="read", duration=timedelta(hours=2), reason="INC-42"),
        session_id="S-1",
    )
    vote = Decision(new_id(), original.id, BOB, Outcome.APPROVE, None, EPOCH)
    with_vote = replace(original, decisions=(vote,), quorum=2)
    async with repository.transaction() as tx:
        await tx.add_review(with_vote)
    stored = await repository.get_review(original.id)
    assert stored == with_vote
    assert stored is not None and stored.requester.actors == ALICE_VIA_AGENTS.actors
    assert stored.requester.email == "alice@example.com"
    assert stored.created_at.tzinfo is not None


@pytest.mark.parametrize(
    "impact", [Impact(rows=100), Impact(rows=None, note="condition calls random()"), None]
)
async def test_statement_review_keeps_its_impact_and_hash(
    repository: SqlRepository, impact: Impact | None
) -> None:
    """A held statement's impact preview (a count, or why there is none) and its hash read back."""
    original = review(impact=impact, statement_sha256="ab" * 32)
    async with repository.transaction() as tx:
        await tx.add_review(original)
    stored = await repository.get_review(original.id)
    assert stored == original
    assert stored is not None and stored.impact == impact


async def test_decisions_keep_their_order_when_times_tie(repository: SqlRepository) -> None:
    """Votes cast at the same instant read back in the order they were recorded."""
    held = review(quorum=3)
    async with repository.transaction() as tx:
        await tx.add_review(held)
        for position, who in enumerate((CAROL, BOB)):
            decision = Decision(new_id(), held.id, who, Outcome.APPROVE, None, EPOCH)
            await tx.add_decision(decision, position)
    stored = await repository.get_review(held.id)
    assert stored is not None
    assert [d.approver.subject for d in stored.decisions] == [CAROL.subject, BOB.subject]


async def test_save_review_refuses_a_stale_version(repository: SqlRepository) -> None:
    """Saving a review whose version does not follow the stored one raises StaleWrite."""
    held = review()
    async with repository.transaction() as tx:
        await tx.add_review(held)
    with pytest.raises(StaleWrite):
        async with repository.transaction() as tx:
            await tx.save_review(replace(held, state=ReviewState.DENIED, version=5))
    async with repository.transaction() as tx:
        await tx.save_review(replace(held, state=ReviewState.CANCELLED, version=1))
    stored = await repository.get_review(held.id)
    assert stored is not None and (stored.state, stored.version) == (ReviewState.CANCELLED, 1)


async def test_a_failed_transaction_writes_and_publishes_nothing(database: Database) -> None:
    """An exception inside transaction() rolls back the review, audit entry and event."""
    bus = InProcessBus()
    repository = SqlRepository(database, bus)
    held = review()
    async with bus.subscribe("review.created") as subscription:
        with pytest.raises(RuntimeError):
            async with repository.transaction() as tx:
                await tx.add_review(held)
                await tx.append_audit(entry())
                await tx.emit(DomainEvent("review.created", held.id))
                raise RuntimeError("boom")
        assert subscription.queue.empty()  # type: ignore[attr-defined]
    assert await repository.get_review(held.id) is None
    assert await repository.list_audit() == []


async def test_constraint_violations_are_integrity_errors(repository: SqlRepository) -> None:
    """A duplicate id or a decision for an unknown review raises the store's IntegrityError."""
    held = review()
    async with repository.transaction() as tx:
        await tx.add_review(held)
    with pytest.raises(IntegrityError):
        async with repository.transaction() as tx:
            await tx.add_review(held)
    with pytest.raises(IntegrityError):
        async with repository.transaction() as tx:
            await tx.add_decision(Decision(new_id(), "nope", BOB, Outcome.APPROVE, None, EPOCH), 0)


async def test_list_reviews_filters_and_orders(repository: SqlRepository) -> None:
    """list_reviews filters by state and connection, newest first, up to the limit."""
    reviews = [
        review(created_at=EPOCH + timedelta(minutes=i), connection=c, state=s)
        for i, (c, s) in enumerate(
            [
                ("pg-prod", ReviewState.PENDING),
                ("pg-prod", ReviewState.APPROVED),
                ("mysql", ReviewState.PENDING),
                ("pg-prod", ReviewState.PENDING),
            ]
        )
    ]
    async with repository.transaction() as tx:
        for r in reviews:
            await tx.add_review(r)
    pending = await repository.list_reviews(state=ReviewState.PENDING)
    assert [r.id for r in pending] == [reviews[3].id, reviews[2].id, reviews[0].id]
    prod = await repository.list_reviews(state=ReviewState.PENDING, connection="pg-prod", limit=1)
    assert [r.id for r in prod] == [reviews[3].id]
    assert len(await repository.list_reviews(requester=ALICE.subject)) == 4


def _delegation(**changes: object) -> Delegation:
    base = Delegation(
        id=new_id(),
        subject=ALICE.subject,
        connection="pg-prod",
        role="read",
        granted_by=BOB.subject,
        reason="INC-42",
        created_at=EPOCH,
        expires_at=EPOCH + timedelta(hours=2),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_delegations_query_and_update(repository: SqlRepository) -> None:
    """list_delegations filters by subject, connection and activity; saves and uses persist."""
    live = _delegation()
    expired = _delegation(expires_at=EPOCH + timedelta(minutes=1))
    revoked = _delegation(revoked_at=EPOCH, revoked_by=CAROL.subject)
    other = _delegation(subject=CAROL.subject, connection="mysql")
    async with repository.transaction() as tx:
        for d in (live, expired, revoked, other):
            await tx.add_delegation(d)
    now = EPOCH + timedelta(minutes=5)
    assert await repository.list_delegations(subject=ALICE.subject, active_at=now) == [live]
    assert len(await repository.list_delegations(connection="pg-prod")) == 3
    assert await repository.list_delegations(subject=CAROL.subject) == [other]
    await repository.record_delegation_use(live.id, now)
    used = await repository.get_delegation(live.id)
    assert used is not None and (used.last_used_at, used.use_count) == (now, 1)
    async with repository.transaction() as tx:
        locked = await tx.get_delegation(live.id, for_update=True)
        assert locked == used
        await tx.save_delegation(replace(used, recertified_at=now))
    assert (await repository.get_delegation(live.id)) == replace(used, recertified_at=now)
    with pytest.raises(StaleWrite):
        async with repository.transaction() as tx:
            await tx.save_delegation(_delegation())


async def test_chat_messages_and_identities(repository: SqlRepository) -> None:
    """Card references are stored per review; identities are upserted and read back."""
    held = review()
    async with repository.transaction() as tx:
        await tx.add_review(held)
    await repository.add_chat_message(held.id, "slack", "C042", "1700000000.000100", EPOCH)
    await repository.add_chat_message(held.id, "slack", "D007", "1700000000.000200", EPOCH)
    refs = await repository.list_chat_messages(held.id)
    assert [(m.channel, m.ts) for m in refs] == [
        ("C042", "1700000000.000100"),
        ("D007", "1700000000.000200"),
    ]
    await repository.upsert_identity(ALICE, EPOCH)
    await repository.upsert_identity(replace(ALICE, groups=frozenset({"eng", "sre"})), EPOCH)
    assert await repository.list_identities([ALICE.subject]) == [
        replace(ALICE, groups=frozenset({"eng", "sre"}))
    ]
