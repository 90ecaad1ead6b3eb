"""Sealed notifications: a decision reaches a holder without a read only when the store said
it (an HMAC with the store's notification key); a NOTIFY anyone could send is only a hint."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from approvals import ApprovalService, DomainEvent, Outcome, ReviewEnding, ReviewState
from approvals.service import REVIEW_DECIDED
from store import Database, PostgresBus, SqlRepository, upgrade
from store.outbox import CHANNEL, NOTIFY_LIMIT, decode_notification, encode_notification
from tests.store.helpers import ALICE, BOB, CONNECTIONS, Clock

KEY = b"0123456789abcdef" * 4
DECIDED = DomainEvent(REVIEW_DECIDED, "R-1", {"state": "approved", "decided_by": "bob@x.com"})


def test_a_sealed_notification_verifies_with_the_key_only() -> None:
    """Encoded with the key it decodes sealed; without the key or with another it does not."""
    payload = encode_notification(DECIDED, 7, KEY)
    event, outbox_id, truncated = decode_notification(payload, KEY)
    assert (event.sealed, event.payload, outbox_id, truncated) == (True, DECIDED.payload, 7, False)
    assert not decode_notification(payload, None)[0].sealed
    assert not decode_notification(payload, b"another key")[0].sealed


def test_a_changed_or_unsealed_notification_is_not_sealed() -> None:
    """Changing a sealed payload (denied → approved) or sending none breaks the seal."""
    denied = DomainEvent(REVIEW_DECIDED, "R-1", {"state": "denied", "decided_by": "bob@x.com"})
    body = json.loads(encode_notification(denied, 7, KEY))
    body["payload"]["state"] = "approved"
    assert not decode_notification(json.dumps(body), KEY)[0].sealed
    assert not decode_notification(encode_notification(DECIDED, 7, None), KEY)[0].sealed


def test_a_sealed_notification_too_long_drops_its_payload_and_stays_sealed() -> None:
    """A payload over the NOTIFY limit is left out (receivers read it back) under a valid seal."""
    big = DomainEvent(REVIEW_DECIDED, "R-1", {"reason": "x" * NOTIFY_LIMIT})
    payload = encode_notification(big, 9, KEY)
    assert len(payload.encode()) < NOTIFY_LIMIT
    event, _, truncated = decode_notification(payload, KEY)
    assert truncated and event.sealed and event.payload == {}


def test_an_ending_is_told_only_by_a_sealed_final_event() -> None:
    """ReviewEnding.told: None for an unsealed event or a non-final state; else its fields."""
    assert ReviewEnding.told(DECIDED) is None
    pending = DomainEvent(REVIEW_DECIDED, "R-1", {"state": "pending"}, sealed=True)
    assert ReviewEnding.told(pending) is None
    sealed = DomainEvent(REVIEW_DECIDED, "R-1", DECIDED.payload, sealed=True)
    assert ReviewEnding.told(sealed) == ReviewEnding("R-1", ReviewState.APPROVED, "bob@x.com")


async def test_a_forged_notify_does_not_approve_a_held_statement(pg_database_url: str) -> None:
    """A role that can only connect NOTIFYs "approved" for a pending review: the holder reads
    the store, still waits, and ends with the real decision (denied), which arrives sealed."""
    await upgrade(pg_database_url)
    database = Database(pg_database_url)
    try:
        async with PostgresBus(database) as bus:
            assert database.notify_key is not None
            service = ApprovalService(SqlRepository(database, bus), bus, Clock(), CONNECTIONS)
            held = await service.hold_statement(
                ALICE, "pg-prod", "DROP TABLE t", risk="d", rule="r"
            )
            waiting = asyncio.create_task(service.await_ending(held.id))
            await asyncio.sleep(0.2)
            forged = {"topic": REVIEW_DECIDED, "key": held.id, "payload": {"state": "approved"}}
            other = await asyncpg.connect(database.asyncpg_dsn())
            try:
                await other.execute("SELECT pg_notify($1, $2)", CHANNEL, json.dumps(forged))
            finally:
                await other.close()
            await asyncio.sleep(0.3)
            assert not waiting.done()
            async with bus.subscribe(REVIEW_DECIDED) as heard:
                await service.decide(held.id, BOB, Outcome.DENY, "not now")
                event = await asyncio.wait_for(heard.get(), 10)
            assert event.sealed
            ending = await asyncio.wait_for(waiting, 10)
            assert ending == ReviewEnding(held.id, ReviewState.DENIED, BOB.subject, "not now")
    finally:
        await database.close()


async def test_the_holder_takes_a_sealed_decision_without_reading(
    pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the first read, a sealed review.decided ends the wait with no second read."""
    await upgrade(pg_database_url)
    database = Database(pg_database_url)
    try:
        async with PostgresBus(database) as bus:
            repository = SqlRepository(database, bus)
            service = ApprovalService(repository, bus, Clock(), CONNECTIONS)
            held = await service.hold_statement(
                ALICE, "pg-prod", "DROP TABLE t", risk="d", rule="r"
            )
            reads: list[str] = []
            real = repository.get_review

            async def counted(review_id: str) -> object:
                reads.append(review_id)
                return await real(review_id)

            monkeypatch.setattr(repository, "get_review", counted)
            waiting = asyncio.create_task(service.await_ending(held.id))
            await asyncio.sleep(0.2)
            await service.decide(held.id, BOB, Outcome.APPROVE)
            ending = await asyncio.wait_for(waiting, 10)
            assert ending == ReviewEnding(held.id, ReviewState.APPROVED, BOB.subject)
            assert reads == [held.id]
    finally:
        await database.close()
