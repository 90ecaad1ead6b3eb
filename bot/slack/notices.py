"""The scheduler's events in Slack (a :class:`bot.delivery.Notices` for the delivery loop).

    review.reminder      one reply in the card's thread per reminder step
    review.escalated     the card posted to the escalation channel and sent to each person of
                         the escalation groups (redrawn with the others), and a thread note
    delegation.revoked   cause "idle": the owners are told (the holder's DM is the card loop's)
    delegation.expiring  the holder's DM with a one-click "request more"
    digest.ready|updated the digest's pages posted to its recipient, or redrawn in place

Every message is recorded before the next is sent (review-bound ones as ``chat_message`` rows,
the rest as ``chat_notice`` rows); what was recorded is never said again, so redelivered events
and restarts are harmless. A review already decided or past its deadline is not reminded of.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from approvals import Clock, Delegation, Review
from approvals.lifecycle import DELEGATION_EXPIRING, DIGEST_READY, DIGEST_UPDATED
from bot.cards import card_from_review, render_slack
from bot.cards.digest import digest_card, render_slack_digest
from bot.cards.notices import (
    render_escalation_note,
    render_expiring_dm,
    render_idle_owner_notice,
    render_reminder,
)
from bot.cards.text import format_duration
from bot.config import ChatConfig
from bot.delivery import NUDGE_TOPICS, MessageLog
from bot.slack.client import SlackApi
from bot.slack.sink import SlackDirectory
from store import ChatMessage, DigestStore, OutboxEvent

__all__ = ["SlackNotices"]

log = logging.getLogger("bot.slack")
PROVIDER = "slack"


class SlackNotices:
    topics: tuple[str, ...] = (DELEGATION_EXPIRING, DIGEST_READY, DIGEST_UPDATED)

    def __init__(
        self,
        api: SlackApi,
        directory: SlackDirectory,
        store: MessageLog,
        digests: DigestStore,
        config: ChatConfig,
        clock: Clock,
    ) -> None:
        self.api, self.directory, self.store, self.digests = api, directory, store, digests
        self.config, self.clock = config, clock

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
        cards = _kind(said, PROVIDER)
        sent = [int(m.provider.rsplit(":", 1)[1]) for m in said if _is_reminder(m)]
        if not cards or max(sent, default=0) >= step:
            return
        card = card_from_review(review, now=now, channel=cards[0].channel)
        thread = cards[0]
        posted = await self.api.post(
            thread.channel, render_reminder(card, step, of, now), thread_ts=thread.ts
        )
        await self.store.add_chat_message(
            review.id, f"{PROVIDER}:reminder:{step}", thread.channel, str(posted["ts"])
        )

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
            marker = f"{PROVIDER}:escalated:{target}"
            if marker in done:
                continue
            address = target if kind == "channel" else await self.directory.user_for(target)
            if address is None:
                continue
            posted = await self.api.post(address, render_slack(card))
            channel, ts = str(posted["channel"]), str(posted["ts"])
            await self.store.add_chat_message(review.id, PROVIDER, channel, ts)
            await self.store.add_chat_message(review.id, marker, channel, ts)
        cards = _kind(said, PROVIDER)
        if cards and f"{PROVIDER}:escalation-note" not in done:
            note = render_escalation_note(card, where)
            posted = await self.api.post(cards[0].channel, note, thread_ts=cards[0].ts)
            await self.store.add_chat_message(
                review.id, f"{PROVIDER}:escalation-note", cards[0].channel, str(posted["ts"])
            )

    # -- grants ---------------------------------------------------------------------------

    async def _idle_owners(self, delegation_id: str) -> None:
        delegation = await self.store.get_delegation(delegation_id)
        conn = self.config.connections.get(delegation.connection) if delegation else None
        if delegation is None or delegation.revoked_at is None or conn is None:
            return
        done = {n.kind for n in await self.digests.notices(delegation_id, PROVIDER)}
        targets = [conn.owners.channel] if conn.owners.channel else sorted(conn.owners.identities)
        for target in targets:
            kind = f"idle-owner:{target}"
            if kind in done:
                continue
            address = target if conn.owners.channel else await self.directory.user_for(target)
            if address is None:
                continue
            posted = await self.api.post(address, render_idle_owner_notice(delegation))
            await self._note(delegation_id, kind, posted)

    async def _expiring(self, delegation_id: str) -> None:
        delegation = await self.store.get_delegation(delegation_id)
        if (
            delegation is None
            or not delegation.active(self.clock.now())
            or "@" not in delegation.subject
        ):
            return
        if await self.digests.notices(delegation_id, PROVIDER):
            return
        user = await self.directory.user_for(delegation.subject)
        if user is None:
            return
        payload = render_expiring_dm(delegation, format_duration(self._extension(delegation)))
        await self._note(delegation_id, "expiring", await self.api.post(user, payload))

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
        pages = render_slack_digest(digest_card(digest, statuses))
        posted = {n.kind: n for n in await self.digests.notices(digest_id, PROVIDER)}
        address: str | None = digest.recipient.address
        if digest.recipient.kind == "person":
            address = await self.directory.user_for(digest.recipient.address)
        for number, page in enumerate(pages):
            ref = posted.get(f"digest:{number}")
            if ref is not None:
                await self.api.call("chat.update", channel=ref.channel, ts=ref.ts, **page)
            elif address is None:
                log.warning("digest %s: nobody to send it to", digest_id)
                return
            else:
                await self._note(digest_id, f"digest:{number}", await self.api.post(address, page))

    async def _note(self, key: str, kind: str, posted: dict[str, Any]) -> None:
        await self.digests.add_notice(
            key, kind, PROVIDER, str(posted["channel"]), str(posted["ts"])
        )


def _kind(said: list[ChatMessage], provider: str) -> list[ChatMessage]:
    return [m for m in said if m.provider == provider]


def _is_reminder(message: ChatMessage) -> bool:
    return message.provider.startswith(f"{PROVIDER}:reminder:")
