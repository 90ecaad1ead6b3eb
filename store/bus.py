"""Event buses implementing :class:`approvals.ports.EventBus`.

- :class:`InProcessBus`: one asyncio queue per subscriber, in this process only. With SQLite the
  repository publishes a transaction's outbox events to it right after the commit.
- :class:`PostgresBus`: a dedicated asyncpg connection LISTENs on a channel (``airlock_events``);
  every replica's transactions ``pg_notify`` their outbox events at commit, so a subscriber on any
  replica hears of a decision made on any other. When the LISTEN connection is lost the bus
  reconnects (with backoff) and replays the outbox events written since it last knew it was
  listening (by the server's clock, minus a margin), so a subscriber may see an event twice but
  does not miss one. A keepalive query notices a silently dead connection.

Subscribing to :data:`ALL_TOPICS` (``"*"``) receives every topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Self

import asyncpg
from sqlalchemy import text

from approvals.model import DomainEvent
from approvals.ports import Subscription
from store import keys
from store.engine import Database
from store.errors import StoreError, Unavailable
from store.outbox import (
    CHANNEL,
    NOTIFY_KEY_NAME,
    Outbox,
    decode_notification,
    encode_notification,
)

__all__ = ["ALL_TOPICS", "InProcessBus", "PostgresBus", "bus_for", "create_bus"]

ALL_TOPICS = "*"
_log = logging.getLogger(__name__)
_REPLAY_BATCH = 1000


class _Queue:
    """A subscription: the events of one topic, in the order this process received them."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.queue: asyncio.Queue[DomainEvent] = asyncio.Queue()

    async def get(self) -> DomainEvent:
        return await self.queue.get()


class _Fanout:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[_Queue]] = {}

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        subscription = _Queue(topic)
        self._subscribers.setdefault(topic, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(topic, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscribers.pop(topic, None)

    def dispatch(self, event: DomainEvent) -> None:
        for topic in (event.topic, ALL_TOPICS):
            for subscription in tuple(self._subscribers.get(topic, ())):
                subscription.queue.put_nowait(event)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)


class InProcessBus:
    """Delivers published events to this process's subscribers."""

    def __init__(self) -> None:
        self._fanout = _Fanout()

    def subscribe(self, topic: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscribe(topic)

    async def publish(self, event: DomainEvent) -> None:
        """``event`` to this process's subscribers; sealed: only this process publishes here
        (the repository, after its transaction committed)."""
        self._fanout.dispatch(dataclasses.replace(event, sealed=True))

    async def start(self) -> None:
        """Nothing to start (same shape as PostgresBus)."""

    async def close(self) -> None:
        """Nothing to close (same shape as PostgresBus)."""


class PostgresBus:
    """LISTEN/NOTIFY across replicas. ``await start()`` (or ``async with``) before relying on it."""

    def __init__(
        self,
        database: Database,
        *,
        channel: str = CHANNEL,
        keepalive: float = 5.0,
        max_backoff: float = 5.0,
        replay_margin: timedelta = timedelta(seconds=2),
    ) -> None:
        if not database.is_postgres:
            raise StoreError("PostgresBus needs a PostgreSQL database; use InProcessBus")
        self.database = database
        self.channel = channel
        self._keepalive = keepalive
        self._max_backoff = max_backoff
        self._replay_margin = replay_margin
        self._fanout = _Fanout()
        self._outbox = Outbox(database)
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fetches: set[asyncio.Task[None]] = set()
        self._alive_at: datetime | None = None
        self._conn: Any = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    @property
    def backend_pid(self) -> int | None:
        """The server process id of the LISTEN connection (while listening)."""
        return int(self._conn.get_server_pid()) if self._conn is not None else None

    async def start(self, wait: float = 10.0) -> None:
        """Load the notification key (made once per store), then start listening; raises
        Unavailable if the first LISTEN does not succeed in time."""
        if self.database.notify_key is None:
            await self._load_key()
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="airlock-pg-bus")
        try:
            async with asyncio.timeout(wait):
                await self._listening.wait()
        except TimeoutError as exc:
            await self.close()
            raise Unavailable(f"could not LISTEN on {self.channel} within {wait}s") from exc

    async def _load_key(self) -> None:
        """The store's notification key (made once). Without it (a store that cannot answer
        yet) notifications go unsealed and subscribers read the store: slower, as safe."""
        try:
            made = await keys.get_or_create(
                self.database, lambda: secrets.token_hex(32), NOTIFY_KEY_NAME
            )
        except StoreError as exc:
            _log.warning("event bus: no notification key (%s); notifications go unsealed", exc)
            return
        self.database.notify_key = made.encode("ascii")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        fetches = tuple(self._fetches)
        for fetch in fetches:
            fetch.cancel()
        await asyncio.gather(*fetches, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def subscribe(self, topic: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscribe(topic)

    async def publish(self, event: DomainEvent) -> None:
        """NOTIFY ``event`` outside any outbox transaction (every replica receives it).

        Nothing is stored, so keep the payload small: one that does not fit in a NOTIFY
        arrives empty (with ``truncated``); events that matter go through the outbox.
        """
        async with self.database.write() as session:
            await session.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {
                    "channel": self.channel,
                    "payload": encode_notification(event, None, self.database.notify_key),
                },
            )

    # -- the LISTEN connection ------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = 0.1
        while True:
            try:
                conn = await self._connect()
            except Exception as exc:  # keep trying whatever went wrong; never go deaf for good
                _log.warning("event bus: cannot connect (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = 0.1
            try:
                await self._listen(conn)
            except Exception as exc:
                _log.warning("event bus: LISTEN connection lost (%s); reconnecting", exc)
            finally:
                self._listening.clear()
                self._conn = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)

    async def _connect(self) -> Any:
        return await asyncpg.connect(self.database.asyncpg_dsn(), timeout=10)

    async def _listen(self, conn: Any) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self.channel, self._on_notify)
        replay_from = self._alive_at
        self._alive_at = await self._server_time(conn)
        self._conn = conn
        self._listening.set()
        if replay_from is not None:
            await self._replay(replay_from - self._replay_margin)
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._keepalive)
                return
            self._alive_at = await self._server_time(conn)

    async def _server_time(self, conn: Any) -> datetime:
        """The server's clock: the clock outbox rows are stamped with, whichever replica wrote
        them, so a replay window is right even when the replicas' clocks disagree."""
        now: datetime = await asyncio.wait_for(
            conn.fetchval("SELECT clock_timestamp()"), self._keepalive
        )
        return now

    async def _replay(self, since: datetime) -> None:
        if not self._fanout.has_subscribers:
            return
        after_id = 0
        while True:
            try:
                missed = await self._outbox.since(since, after_id=after_id)
            except StoreError as exc:
                _log.warning("event bus: cannot replay the outbox after a reconnect: %s", exc)
                return
            for record in missed:
                self._fanout.dispatch(record.event)
            if len(missed) < _REPLAY_BATCH:
                return
            after_id = missed[-1].id

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            event, outbox_id, truncated = decode_notification(payload, self.database.notify_key)
        except (ValueError, KeyError, TypeError) as exc:
            _log.warning("event bus: ignoring a malformed notification: %s", exc)
            return
        if truncated and outbox_id is not None:
            fetch = asyncio.create_task(self._dispatch_stored(outbox_id, event))
            self._fetches.add(fetch)
            fetch.add_done_callback(self._fetches.discard)
            return
        self._fanout.dispatch(event)

    async def _dispatch_stored(self, outbox_id: int, fallback: DomainEvent) -> None:
        try:
            record = await self._outbox.get(outbox_id)
        except StoreError as exc:
            _log.warning("event bus: cannot read outbox event %s: %s", outbox_id, exc)
            record = None
        self._fanout.dispatch(record.event if record is not None else fallback)


def bus_for(database: Database) -> InProcessBus | PostgresBus:
    """The bus a deployment on ``database`` uses (a PostgresBus still needs ``await start()``)."""
    return PostgresBus(database) if database.is_postgres else InProcessBus()


async def create_bus(database: Database) -> InProcessBus | PostgresBus:
    """The bus for ``database``, started; ``await bus.close()`` when done."""
    bus = bus_for(database)
    await bus.start()
    return bus
