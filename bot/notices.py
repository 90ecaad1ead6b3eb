"""The scheduler's events in chat, provider-neutral (a :class:`bot.delivery.Notices` for the
delivery loop). The rules live here; a provider's :class:`NoticeSink` only renders and sends.

    review.reminder      one reply in the card's thread per reminder step
    review.escalated     the card posted to the escalation channel and sent to each person of
                         the escalation groups (redrawn with the others), and a thread note
    delegation.revoked   cause "idle": the owners are told (the holder's DM is the card loop's)
    delegation.expiring  the holder's DM with a one-click "request more"
    digest.ready|updated the digest's pages posted to its recipient, or redrawn in place

Every message is recorded before the next is sent (review-bound ones as ``chat_message`` rows
of kind ``<provider>:reminder:<step>``, ``<provider>:escalated:<target>``,
``<provider>:escalation-note``; the rest as ``chat_notice`` rows of the provider); what was
recorded is never said again, so redelivered events and restarts are harmless. A review already
decided or past its deadline is not reminded of.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from approvals import Clock, Delegation, Review
from approvals.lifecycle import DELEGATION_EXPIRING, DIGEST_READY, DIGEST_UPDATED
from bot.cards import Card, card_from_review
from bot.cards.digest import DigestCard, digest_card
from bot.config import ChatConfig
from bot.delivery import NUDGE_TOPICS, MessageLog
from store import ChatMessage, ChatNotice, DigestStore, OutboxEvent

__all__ = ["ChatNotices", "NoticeSink", "Page"]

log = logging.getLogger(__name__)

Page = dict[str, Any]  # one rendered digest page (a provider's message payload)


class NoticeSink(Protocol):
    """One provider's rendering and transport of notices. Each method makes one visible change
    and returns the reference of what it posted ((channel, message id) or the message id)."""

    provider: str

    async def address_of(self, email: str) -> str | None:
        """Where a person is reached directly (a DM address); None when they cannot be."""
        ...

    async def post_card(self, channel: str, card: Card) -> tuple[str, str]: ...

    async def remind(
        self, thread: ChatMessage, card: Card, step: int, of: int, now: datetime
    ) -> str: ...

    async def escalation_note(self, thread: ChatMessage, card: Card, where: list[str]) -> str: ...

    async def idle_owner_notice(self, address: str, delegation: Delegation) -> tuple[str, str]: ...

    async def expiring(
        self, address: str, delegation: Delegation, extension: timedelta
    ) -> tuple[str, str]:
        """The holder's "ends soon" message offering ``extension`` more."""
        ...

    def digest_pages(self, card: DigestCard) -> Sequence[Page]:
        """The digest cut into as many messages as the provider's limits need."""
        ...

    async def post_page(self, address: str, page: Page) -> tuple[str, str]: ...

    async def update_page(self, ref: ChatNotice, page: Page) -> None: ...


class ChatNotices:
    """The notice rules for one provider (see the module docstring)."""

    topics: tuple[str, ...] = (DELEGATION_EXPIRING, DIGEST_READY, DIGEST_UPDATED)

    def __init__(
        self,
        sink: NoticeSink,
        store: MessageLog,
        digests: DigestStore,
        config: ChatConfig,
        clock: Clock,
    ) -> None:
        self.sink, self.store, self.digests = sink, store, digests
        self.config, self.clock = config, clock
        self.provider = sink.provider

    async def handle(self, topic: str, key: str, events: Sequence[OutboxEvent]) -> None:
        if topic == "review":
            await self._review(key, events)
        elif topic == "delegation.revoked":
            if any(e.payload.get("cause") == "idle" for e in events):
                await self._idle_owners(key)
        elif topic == DELEGATION_EXPIRING:
            await self._expiring(key)
        elif topic in (DIGEST_READY, DIGEST_UPDATED):
            await self.digest(key)

    # -- reminders and escalation ---------------------------------------------------------

    async def _review(self, review_id: str, events: Sequence[OutboxEvent]) -> None:
        review = await self.store.get_review(review_id)
        now: datetime = self.clock.now()
        if review is None or review.is_final or now >= review.expires_at:
            return
        said = await self.store.list_chat_messages(review_id)
        reminders = [e for e in events if e.topic == NUDGE_TOPICS[0]]
        if reminders:
            step = max(int(e.payload.get("step", 1)) for e in reminders)
            of = max(int(e.payload.get("of", step)) for e in reminders)
            await self._remind(review, said, step, of, now)
        if any(e.topic == NUDGE_TOPICS[1] for e in events):
            await self._escalate(review, said, now)

    async def _remind(
        self, review: Review, said: list[ChatMessage], step: int, of: int, now: datetime
    ) -> None:
        cards = self._kind(said, self.provider)
        prefix = f"{self.provider}:reminder:"
        sent = [int(m.provider.rsplit(":", 1)[1]) for m in said if m.provider.startswith(prefix)]
        if not cards or max(sent, default=0) >= step:
            return
        thread = cards[0]
        card = card_from_review(review, now=now, channel=thread.channel)
        ts = await self.sink.remind(thread, card, step, of, now)
        await self.store.add_chat_message(review.id, f"{prefix}{step}", thread.channel, ts)

    async def _escalate(self, review: Review, said: list[ChatMessage], now: datetime) -> None:
        conn = self.config.connections.get(review.connection)
        escalation = conn.escalation if conn is not None else None
        if escalation is None:
            return
        done = {m.provider for m in said}
        card = card_from_review(review, now=now, channel=escalation.channel)
        where: list[str] = []
        targets = [("channel", escalation.channel)] if escalation.channel else []
        targets += [
            ("person", p.email)
            for p in self.config.people
            if p.groups & escalation.groups and p.email != review.requester.subject
        ]
        for kind, target in targets:
            where.append(target)
            marker = f"{self.provider}:escalated:{target}"
            if marker in done:
                continue
            address = target if kind == "channel" else await self.sink.address_of(target)
            if address is None:
                continue
            channel, ts = await self.sink.post_card(address, card)
            await self.store.add_chat_message(review.id, self.provider, channel, ts)
            await self.store.add_chat_message(review.id, marker, channel, ts)
        cards = self._kind(said, self.provider)
        note = f"{self.provider}:escalation-note"
        if cards and note not in done:
            ts = await self.sink.escalation_note(cards[0], card, where)
            await self.store.add_chat_message(review.id, note, cards[0].channel, ts)

    # -- grants ---------------------------------------------------------------------------

    async def _idle_owners(self, delegation_id: str) -> None:
        delegation = await self.store.get_delegation(delegation_id)
        conn = self.config.connections.get(delegation.connection) if delegation else None
        if delegation is None or delegation.revoked_at is None or conn is None:
            return
        done = {n.kind for n in await self.digests.notices(delegation_id, self.provider)}
        targets = [conn.owners.channel] if conn.owners.channel else sorted(conn.owners.identities)
        for target in targets:
            kind = f"idle-owner:{target}"
            if kind in done:
                continue
            address = target if conn.owners.channel else await self.sink.address_of(target)
            if address is None:
                continue
            posted = await self.sink.idle_owner_notice(address, delegation)
            await self._note(delegation_id, kind, posted)

    async def _expiring(self, delegation_id: str) -> None:
        delegation = await self.store.get_delegation(delegation_id)
        if (
            delegation is None
            or not delegation.active(self.clock.now())
            or "@" not in delegation.subject
        ):
            return
        if await self.digests.notices(delegation_id, self.provider):
            return
        address = await self.sink.address_of(delegation.subject)
        if address is None:
            return
        posted = await self.sink.expiring(address, delegation, self._extension(delegation))
        await self._note(delegation_id, "expiring", posted)

    def _extension(self, delegation: Delegation) -> timedelta:
        """How much more "extend" asks for: the grant's own length, within max_grant."""
        length = delegation.expires_at - delegation.created_at
        conn = self.config.connections.get(delegation.connection)
        return min(length, conn.max_grant) if conn is not None else length

    # -- digests --------------------------------------------------------------------------

    async def digest(self, digest_id: str) -> None:
        """Post the digest's pages (those not posted yet), or redraw them in place."""
        digest = await self.digests.get(digest_id)
        if digest is None:
            return
        statuses = await self.digests.statuses(digest, self.clock.now())
        pages = self.sink.digest_pages(digest_card(digest, statuses))
        posted = {n.kind: n for n in await self.digests.notices(digest_id, self.provider)}
        address: str | None = digest.recipient.address
        if digest.recipient.kind == "person":
            address = await self.sink.address_of(digest.recipient.address)
        for number, page in enumerate(pages):
            ref = posted.get(f"digest:{number}")
            if ref is not None:
                await self.sink.update_page(ref, page)
            elif address is None:
                log.warning("digest %s: nobody to send it to", digest_id)
                return
            else:
                posted_page = await self.sink.post_page(address, page)
                await self._note(digest_id, f"digest:{number}", posted_page)

    async def _note(self, key: str, kind: str, posted: tuple[str, str]) -> None:
        channel, ts = posted
        await self.digests.add_notice(key, kind, self.provider, channel, ts)

    @staticmethod
    def _kind(said: list[ChatMessage], provider: str) -> list[ChatMessage]:
        return [m for m in said if m.provider == provider]
