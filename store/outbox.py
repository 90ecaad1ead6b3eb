"""The transactional outbox and its consumers.

A transaction writes its events to ``outbox`` together with the change they announce
(:func:`write_events`); on PostgreSQL it also queues ``pg_notify(channel, ...)`` in the same
transaction, so every replica's :class:`~store.bus.PostgresBus` hears of them at commit and never
before. A NOTIFY payload must stay under 8000 bytes: it carries the topic, the key, the outbox id
and the (small) event payload; when that does not fit, the payload is left out and receivers read
it back from the outbox by id.

Any role that can connect to the store's database may NOTIFY on any channel, so a notification
is only a hint unless it is sealed: with the store's notification key (``keys`` row
``notify_key``, which the bus loads at start into ``Database.notify_key``) the payload carries
``seal``, an HMAC-SHA256 of the rest; the receiving bus marks an event whose seal verifies as
``DomainEvent.sealed`` (the store's word: a held command acts on its decision without reading
the review). An unsealed or badly sealed one is delivered unsealed, and its subscribers read
the store as before. Replicas that do not know ``seal`` ignore it.

Consumers that must act on every event exactly once (the chat bot posting cards) use
:class:`Outbox`: ``claim_undelivered`` leases a batch of events this consumer has not delivered,
``mark_delivered`` records the delivery. A consumer that was down finds everything it missed; a
claim whose consumer died before marking it is claimed again once its lease runs out, so the
consumer's side effect must be idempotent per event id (the ``Notifier`` port promises that).
Claims of one consumer are serialised (an advisory lock per consumer name on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite): two replicas of one consumer never lease the same event, and
consumers with different names never wait on or skip each other's rows, which keeps each
consumer's claims in outbox order (``FOR UPDATE SKIP LOCKED`` on the shared outbox rows would make
one consumer skip, and later deliver out of order, the rows another consumer is claiming).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from approvals.model import DomainEvent
from store.engine import Database
from store.mapping import outbox_from_row
from store.records import OutboxEvent
from store.tables import OutboxDeliveryRow, OutboxRow

__all__ = [
    "CHANNEL",
    "NOTIFY_KEY_NAME",
    "NOTIFY_LIMIT",
    "Outbox",
    "decode_notification",
    "encode_notification",
    "write_events",
]

CHANNEL = "airlock_events"
NOTIFY_LIMIT = 7900  # bytes; PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
NOTIFY_KEY_NAME = "notify_key"  # the ``keys`` row whose value seals notifications
_CLAIM_LOCK_SPACE = 0x41524C4B  # "ARLK": first key of the per-consumer claim advisory lock


def encode_notification(event: DomainEvent, outbox_id: int | None, key: bytes | None = None) -> str:
    """The NOTIFY payload for ``event`` (sealed with ``key`` when given); drops the event
    payload if the whole would not fit."""
    body: dict[str, Any] = {"topic": event.topic, "key": event.key, "payload": event.payload}
    if outbox_id is not None:
        body["outbox_id"] = outbox_id
    encoded = _sealed(body, key)
    if len(encoded.encode("utf-8")) < NOTIFY_LIMIT:
        return encoded
    body["payload"], body["truncated"] = {}, True
    encoded = _sealed(body, key)
    if len(encoded.encode("utf-8")) >= NOTIFY_LIMIT:
        raise ValueError(f"event key too long for NOTIFY: {event.key[:80]!r}...")
    return encoded


def decode_notification(
    payload: str, key: bytes | None = None
) -> tuple[DomainEvent, int | None, bool]:
    """(event, outbox id, whether its payload was left out) from a NOTIFY payload; the event is
    ``sealed`` only when ``key`` is given and its seal verifies."""
    body = json.loads(payload)
    seal = body.pop("seal", None)
    sealed = (
        key is not None
        and isinstance(seal, str)
        and hmac.compare_digest(seal, _seal(_canonical(body), key))
    )
    event = DomainEvent(
        str(body["topic"]), str(body["key"]), dict(body.get("payload") or {}), sealed=sealed
    )
    outbox_id = body.get("outbox_id")
    return event, int(outbox_id) if outbox_id is not None else None, bool(body.get("truncated"))


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)


def _seal(text: str, key: bytes) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _sealed(body: dict[str, Any], key: bytes | None) -> str:
    """``body`` as JSON, with ``seal`` (of its canonical form) when there is a key. The seal is
    checked against the decoded body re-encoded canonically, so it survives key order."""
    if key is None:
        return json.dumps(body, separators=(",", ":"), default=str)
    canonical = _canonical(body)
    return json.dumps(
        {**json.loads(canonical), "seal": _seal(canonical, key)}, separators=(",", ":")
    )


async def write_events(
    session: AsyncSession,
    events: Sequence[DomainEvent],
    *,
    notify_channel: str | None,
    notify_key: bytes | None = None,
) -> list[int]:
    """Insert ``events`` into the outbox (and NOTIFY them on PostgreSQL); returns their ids."""
    ids: list[int] = []
    # On PostgreSQL the server's clock, the one every replica's bus replays by (see bus.py).
    now: Any = func.clock_timestamp() if notify_channel is not None else datetime.now(UTC)
    for event in events:
        statement = (
            insert(OutboxRow)
            .values(topic=event.topic, key=event.key, payload=event.payload, created_at=now)
            .returning(col(OutboxRow.id))
        )
        outbox_id = (await session.execute(statement)).scalar_one()
        assert outbox_id is not None
        ids.append(outbox_id)
        if notify_channel is not None:
            await session.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {
                    "channel": notify_channel,
                    "payload": encode_notification(event, outbox_id, notify_key),
                },
            )
    return ids


class Outbox:
    """Exactly-once-effective consumption of outbox events, per named consumer."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def claim_undelivered(
        self,
        consumer: str,
        topics: Sequence[str] | None = None,
        limit: int = 100,
        *,
        lease: timedelta = timedelta(seconds=60),
        delivered: Sequence[int] = (),
    ) -> list[OutboxEvent]:
        """Lease up to ``limit`` events (oldest first) that ``consumer`` has not delivered.

        An event leased by this consumer is not handed out again until its lease runs out;
        ``topics`` (None: all) narrows which events are wanted. ``delivered``: events of an
        earlier claim to mark delivered first, in the same transaction (one transaction where
        ``mark_delivered`` and the next claim took two).
        """
        now = datetime.now(UTC)
        async with self.database.write() as session:
            if self.database.is_postgres:
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:space, hashtext(:consumer))"),
                    {"space": _CLAIM_LOCK_SPACE, "consumer": consumer},
                )
            if delivered:
                await _mark(session, consumer, delivered, now)
            rows = list((await session.scalars(_candidates(consumer, topics, limit, now))).all())
            if not rows:
                return []
            attempts = await self._lease(session, consumer, [r.id or 0 for r in rows], now + lease)
        return [outbox_from_row(row, attempts[row.id]) for row in rows if row.id in attempts]

    async def _lease(
        self, session: AsyncSession, consumer: str, ids: list[int], until: datetime
    ) -> dict[int, int]:
        dialect_insert = postgresql.insert if self.database.is_postgres else sqlite.insert
        values = dialect_insert(OutboxDeliveryRow).values(
            [{"outbox_id": i, "consumer": consumer, "lease_until": until} for i in ids]
        )
        statement = values.on_conflict_do_update(
            index_elements=["outbox_id", "consumer"],
            set_={
                "lease_until": values.excluded.lease_until,
                "attempts": col(OutboxDeliveryRow.attempts) + 1,
            },
            where=col(OutboxDeliveryRow.delivered_at).is_(None),  # delivered meanwhile: skip
        ).returning(col(OutboxDeliveryRow.outbox_id), col(OutboxDeliveryRow.attempts))
        result = await session.execute(statement)
        return {int(row[0]): int(row[1]) for row in result}

    async def mark_delivered(self, consumer: str, ids: Sequence[int]) -> int:
        """Record that ``consumer`` delivered these events; returns how many were newly marked."""
        if not ids:
            return 0
        async with self.database.write() as session:
            return await _mark(session, consumer, ids, datetime.now(UTC))

    async def release(self, consumer: str, ids: Sequence[int]) -> None:
        """Give leased, undelivered events back at once (the consumer failed to deliver them)."""
        if not ids:
            return
        async with self.database.write() as session:
            await session.execute(
                update(OutboxDeliveryRow)
                .where(
                    col(OutboxDeliveryRow.consumer) == consumer,
                    col(OutboxDeliveryRow.outbox_id).in_(list(ids)),
                    col(OutboxDeliveryRow.delivered_at).is_(None),
                )
                .values(lease_until=datetime(1970, 1, 1, tzinfo=UTC))
                .execution_options(synchronize_session=False)
            )

    async def get(self, outbox_id: int) -> OutboxEvent | None:
        async with self.database.read() as session:
            row = await session.get(OutboxRow, outbox_id)
        return outbox_from_row(row) if row is not None else None

    async def since(
        self, created_at: datetime, *, after_id: int = 0, limit: int = 1000
    ) -> list[OutboxEvent]:
        """Events written at or after ``created_at`` with an id above ``after_id``, oldest
        first (for replay after a gap; page on with the last id)."""
        async with self.database.read() as session:
            rows = await session.scalars(
                select(OutboxRow)
                .where(col(OutboxRow.created_at) >= created_at, col(OutboxRow.id) > after_id)
                .order_by(col(OutboxRow.id))
                .limit(limit)
            )
            return [outbox_from_row(row) for row in rows]

    async def prune(self, before: datetime) -> int:
        """Delete events written before ``before`` (and their delivery records)."""
        async with self.database.write() as session:
            result = await session.execute(
                delete(OutboxRow)
                .where(col(OutboxRow.created_at) < before)
                .execution_options(synchronize_session=False)
            )
        return int(getattr(result, "rowcount", 0) or 0)


async def _mark(session: AsyncSession, consumer: str, ids: Sequence[int], now: datetime) -> int:
    result = await session.execute(
        update(OutboxDeliveryRow)
        .where(
            col(OutboxDeliveryRow.consumer) == consumer,
            col(OutboxDeliveryRow.outbox_id).in_(list(ids)),
            col(OutboxDeliveryRow.delivered_at).is_(None),
        )
        .values(delivered_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _candidates(consumer: str, topics: Sequence[str] | None, limit: int, now: datetime) -> Any:
    taken = exists().where(
        col(OutboxDeliveryRow.outbox_id) == col(OutboxRow.id),
        col(OutboxDeliveryRow.consumer) == consumer,
        or_(
            col(OutboxDeliveryRow.delivered_at).is_not(None),
            col(OutboxDeliveryRow.lease_until) > now,
        ),
    )
    conditions = [~taken]
    if topics is not None:
        conditions.append(col(OutboxRow.topic).in_(list(topics)))
    return select(OutboxRow).where(and_(*conditions)).order_by(col(OutboxRow.id)).limit(limit)
