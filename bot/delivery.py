"""Card delivery through the outbox: the store is the truth, a chat message is a view of it.

One loop per chat provider consumes ``review.created`` / ``review.updated`` / ``review.decided``
and ``delegation.revoked`` as the outbox consumer ``chat:<provider>`` (plus the topics of its
:class:`Notices`: the scheduler's reminders, escalations, expiry notices and digests, handled in
the same loop so that a review's redraw and its reminder never race). It wakes when the bus says
events committed, and polls as a fallback. For each review touched by a claimed batch it
*reconciles* the chat with the store, never with the event or the posted message:

1. no card yet: render the review as it stands and post it to the connection's channel, then
   record the message reference (``add_chat_message``); else redraw every card in place;
2. one thread reply per decision not yet announced;
3. once final: a thread reply for an ending nobody decided (expired, cancelled), and one direct
   message to the requester.

What was said is recorded in the ``chat_message`` table (kind ``<provider>`` for cards,
``<provider>:reply`` / ``:end`` / ``:dm`` / ``:revoked`` for the rest), so a restart, a redelivered
event or a second event for the same review never says anything twice; the only window is a
crash between a post and its record. Events are marked delivered only after the chat has them,
by the next claim's transaction (:meth:`Delivery.drain`).
A rate limit (HTTP 429) releases the rest of the batch and waits ``Retry-After``; any other
failure releases the events to be retried after a growing pause, except an answer no retry can
change (an archived channel, a deleted card, ...; each provider's client marks such errors
``permanent``) and a review that failed ``MAX_ATTEMPTS`` claims: those are logged and given up,
so one broken review never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from approvals import Clock, Decision, Delegation, EventBus, Identity, Review, Subscription
from bot.cards import Card, card_from_review
from bot.config import ChatConfig
from bot.errors import BotError, ChatError, RateLimited
from store import ALL_TOPICS, ChatMessage, Outbox, OutboxEvent

__all__ = [
    "MAX_ATTEMPTS",
    "NUDGE_TOPICS",
    "REVIEW_TOPICS",
    "TOPICS",
    "ChatSink",
    "Delivery",
    "MessageLog",
    "Notices",
]

log = logging.getLogger(__name__)

REVIEW_TOPICS = ("review.created", "review.updated", "review.decided")
NUDGE_TOPICS = ("review.reminder", "review.escalated")  # the scheduler's, about a review
TOPICS = (*REVIEW_TOPICS, *NUDGE_TOPICS, "delegation.revoked")
MAX_ATTEMPTS = 8  # a review the chat keeps refusing is given up on, so it cannot block the rest


class ChatSink(Protocol):
    """One chat provider's side of delivery. Each method makes one visible change."""

    provider: str

    async def post_card(self, channel: str, card: Card) -> tuple[str, str]:
        """Post the card; returns the message reference (channel id, message id)."""
        ...

    async def update_card(self, ref: ChatMessage, card: Card) -> None: ...

    async def reply(self, ref: ChatMessage, card: Card, decision: Decision | None) -> str:
        """Reply in the card's thread about ``decision`` (None: how it ended); returns its id."""
        ...

    async def direct(self, person: Identity, card: Card) -> tuple[str, str] | None:
        """Tell the requester how their review ended; None when they cannot be reached."""
        ...

    async def revoked(self, delegation: Delegation) -> tuple[str, str] | None:
        """Tell the holder their grant was revoked; None when they cannot be reached."""
        ...


class Notices(Protocol):
    """What a provider says besides cards: reminders and escalations of a review (``topic``
    ``"review"``, after the review was reconciled), owners' notices of a revocation, expiry
    notices, digests. ``topics`` are the extra topics it wants."""

    topics: tuple[str, ...]

    async def handle(self, topic: str, key: str, events: Sequence[OutboxEvent]) -> None: ...


class MessageLog(Protocol):
    """Where chat message references are kept (``store.SqlRepository`` implements it)."""

    async def get_review(self, review_id: str) -> Review | None: ...

    async def get_delegation(self, delegation_id: str) -> Delegation | None: ...

    async def add_chat_message(
        self, review_id: str, provider: str, channel: str, ts: str, at: datetime | None = None
    ) -> ChatMessage: ...

    async def list_chat_messages(self, review_id: str) -> list[ChatMessage]: ...

    async def review_and_messages(self, review_id: str) -> tuple[Review | None, list[ChatMessage]]:
        """``get_review`` and ``list_chat_messages`` in one read."""
        ...


class Delivery:
    """The delivery loop for one provider (see the module docstring)."""

    def __init__(
        self,
        sink: ChatSink,
        outbox: Outbox,
        store: MessageLog,
        bus: EventBus,
        clock: Clock,
        config: ChatConfig,
        *,
        poll_interval: float = 5.0,
        batch: int = 50,
        lease: timedelta = timedelta(seconds=60),
        notices: Notices | None = None,
    ) -> None:
        self.sink, self.outbox, self.store, self.bus = sink, outbox, store, bus
        self.clock, self.config, self.notices = clock, config, notices
        self.topics = TOPICS + (notices.topics if notices is not None else ())
        self.consumer = f"chat:{sink.provider}"
        self.poll_interval, self.batch, self.lease = poll_interval, batch, lease
        self._backoff = 0.0
        self._delivered: list[int] = []  # delivered events the next claim marks (see drain)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; what was missed while down is delivered first."""
        wakeup = asyncio.Event()
        async with self.bus.subscribe(ALL_TOPICS) as subscription:
            relay = asyncio.create_task(_relay(subscription, wakeup, self.topics))
            try:
                while not stop.is_set():
                    wakeup.clear()
                    pause = await self._drain_safely()
                    if pause is not None:  # a rate limit or a failure: only `stop` cuts it short
                        await _first(stop.wait(), limit=pause)
                    else:
                        await _first(stop.wait(), wakeup.wait(), limit=self.poll_interval)
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
                await self._mark_now()

    async def _mark_now(self) -> None:
        """Mark what was delivered and not marked yet (at a stop, or before a give-back)."""
        marks, self._delivered = self._delivered, []
        try:
            await self.outbox.mark_delivered(self.consumer, marks)
        except Exception:  # the store is down: those events are delivered again (idempotent)
            log.exception("chat delivery (%s) could not mark %d events", self.consumer, len(marks))

    async def _drain_safely(self) -> float | None:
        try:
            return await self.drain()
        except Exception:  # the store or the network failed: keep the loop alive, try again
            log.exception("chat delivery (%s) failed; retrying", self.consumer)
            return self._grow_backoff()

    def _grow_backoff(self) -> float:
        self._backoff = min(max(self._backoff * 2, 1.0), 60.0)
        return self._backoff

    async def drain(self) -> float | None:
        """Deliver everything claimable now; returns how long to pause if something failed.

        Delivered events are marked by the next claim, in its transaction (the next wake-up,
        or the poll at most ``poll_interval`` later; at a stop, at once). Until then they stay
        leased; if the lease runs out first, or the process dies, they are delivered again,
        which only redraws: what was said is recorded right after it was said (reconcile).
        A batch shorter than ``batch`` took every event claimable when it was claimed, so no
        empty claim follows it: an event committed since then set the wake-up flag, and
        :meth:`run` drains again at once."""
        while True:
            events = await self.outbox.claim_undelivered(
                self.consumer, self.topics, self.batch, lease=self.lease, delivered=self._delivered
            )
            self._delivered = []
            if not events:
                return None
            pause = await self._deliver(events)
            if pause is not None or len(events) < self.batch:
                return pause

    async def _deliver(self, events: Sequence[OutboxEvent]) -> float | None:
        groups: dict[tuple[str, str], list[OutboxEvent]] = {}
        for event in events:
            review = event.topic in REVIEW_TOPICS or event.topic in NUDGE_TOPICS
            groups.setdefault(("review" if review else event.topic, event.key), []).append(event)
        done: list[int] = []
        for (kind, key), group in groups.items():
            try:
                await self._handle(kind, key, group)
            except RateLimited as exc:
                return await self._give_back(events, done, exc.retry_after)
            except Exception as exc:
                log.warning(
                    "chat delivery of %s %s failed: %s", kind, key, exc,
                    exc_info=not isinstance(exc, BotError),
                )  # fmt: skip
                # the provider's client classified its own answer (bot.errors.ChatError)
                permanent = isinstance(exc, ChatError) and exc.permanent
                if not permanent and max(e.attempts for e in group) < MAX_ATTEMPTS:
                    return await self._give_back(events, done, self._grow_backoff())
                log.error("giving up on %s %s (attempt %d)", kind, key, group[-1].attempts)
            done += [e.id for e in group]
        self._delivered += done  # marked by the next claim (drain's docstring)
        self._backoff = 0.0
        return None

    async def _handle(self, kind: str, key: str, group: Sequence[OutboxEvent]) -> None:
        if kind == "review":
            await self.reconcile(key)
            if not any(e.topic in NUDGE_TOPICS for e in group):
                return
        elif kind == "delegation.revoked":
            await self._revoked(key)
        if self.notices is not None:
            await self.notices.handle(kind, key, group)

    async def _give_back(
        self, events: Sequence[OutboxEvent], done: list[int], pause: float
    ) -> float:
        self._delivered += done
        await self._mark_now()
        await self.outbox.release(self.consumer, [e.id for e in events if e.id not in done])
        return pause

    async def reconcile(self, review_id: str) -> None:
        """Make the chat show ``review_id`` as the store has it (idempotent)."""
        review, said = await self.store.review_and_messages(review_id)
        if review is None:
            return
        provider = self.sink.provider
        channel = self.config.channel_for(review.connection)
        card = card_from_review(review, now=self.clock.now(), channel=channel)
        cards = [m for m in said if m.provider == provider]
        if not cards:
            if channel is None:
                log.warning(
                    "no chat channel for %s; review %s not posted", review.connection, review.id
                )
                return
            posted, ts = await self.sink.post_card(channel, card)
            cards = [await self.store.add_chat_message(review.id, provider, posted, ts)]
        else:
            for ref in cards:
                await self.sink.update_card(ref, card)
        await self._replies(review, card, cards[0], said)
        if review.is_final and not _kinds(said, f"{provider}:dm"):
            sent = await self.sink.direct(review.requester, card)
            if sent is not None:
                await self.store.add_chat_message(review.id, f"{provider}:dm", *sent)

    async def _replies(
        self, review: Review, card: Card, thread: ChatMessage, said: list[ChatMessage]
    ) -> None:
        provider = self.sink.provider
        announced = len(_kinds(said, f"{provider}:reply"))
        for decision in review.decisions[announced:]:
            ts = await self.sink.reply(thread, card, decision)
            await self.store.add_chat_message(review.id, f"{provider}:reply", thread.channel, ts)
        if review.is_final and review.deciding is None and not _kinds(said, f"{provider}:end"):
            ts = await self.sink.reply(thread, card, None)
            await self.store.add_chat_message(review.id, f"{provider}:end", thread.channel, ts)

    async def _revoked(self, delegation_id: str) -> None:
        delegation = await self.store.get_delegation(delegation_id)
        if delegation is None or delegation.revoked_at is None:
            return
        kind = f"{self.sink.provider}:revoked"
        if delegation.review_id is not None:
            said = await self.store.list_chat_messages(delegation.review_id)
            if _kinds(said, kind):
                return
        sent = await self.sink.revoked(delegation)
        if sent is not None and delegation.review_id is not None:
            await self.store.add_chat_message(delegation.review_id, kind, *sent)


def _kinds(said: list[ChatMessage], provider: str) -> list[ChatMessage]:
    return [m for m in said if m.provider == provider]


async def _relay(
    subscription: Subscription, wakeup: asyncio.Event, topics: tuple[str, ...]
) -> None:
    """Turn bus events into one wake-up flag, so a burst of events costs one drain."""
    while True:
        event = await subscription.get()
        if event.topic in topics:
            wakeup.set()


async def _first(*waits: Coroutine[Any, Any, Any], limit: float) -> None:
    """Wait until the first of ``waits`` finishes, or ``limit`` seconds; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
