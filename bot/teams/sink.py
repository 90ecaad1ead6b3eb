"""Teams' side of delivery and notices (:class:`bot.delivery.ChatSink` and
:class:`bot.notices.NoticeSink`): rendering and Bot Connector calls only; the rules are the
provider-neutral loop's.

A card opens a new conversation in the connection's channel (a Teams channel id); its
reference is (conversation id, activity id), like Slack's (channel, ts). Replies go into that
conversation (the card's thread), redraws are a PUT of the activity. People are reached in the
bot's personal conversation with them, which needs their Teams id: ``[[people]] teams_id``
(the Bot Connector cannot look a user up by e-mail), so a person without one gets no DM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from approvals import Connection, Decision, Delegation, Identity, IdentityKind
from approvals.subjects import canonical
from bot.cards import Card
from bot.cards import teams_messages as msg
from bot.cards.digest import DigestCard
from bot.cards.teams import card_activity, render_teams
from bot.cards.teams_digest import render_teams_digest
from bot.errors import ChatError, UnknownPerson
from bot.notices import Page
from bot.people import People
from bot.teams.client import BotConnector
from store import ChatMessage, ChatNotice

__all__ = ["TeamsDirectory", "TeamsNoticeSink", "TeamsSink"]

_BOT = "28:"  # Bot Framework ids of bots; people are 29:
_NOT_MEMBERS = frozenset({"guest", "anonymous"})  # TeamsChannelAccount.userRole
_PERSON = "user:"  # an address_of() answer: a Teams user to reach in a personal conversation


class TeamsDirectory:
    """Teams users ↔ people, strictly (see :mod:`bot.people`)."""

    def __init__(
        self, connector: BotConnector, people: People, connections: Mapping[str, Connection]
    ) -> None:
        self.connector, self.people, self.connections = connector, people, connections

    async def email_for(self, user: Mapping[str, Any], conversation: str) -> str:
        """The e-mail of the person behind an activity's ``from``; UnknownPerson if unclear, for
        a bot, or (known only from the roster) for a guest or anonymous user."""
        ids = (str(user.get("id") or ""), str(user.get("aadObjectId") or ""))
        if not ids[0] or ids[0].startswith(_BOT):
            raise UnknownPerson("the activity names no Teams user (bots cannot act in Airlock)")
        named = self.people.by_teams_id(*ids)
        if named is not None:
            return named
        try:
            member = await self.connector.member(conversation, ids[0])
        except ChatError as exc:
            raise UnknownPerson(f"Teams' roster does not list you ({exc.code})") from exc
        if member.get("userRole") in _NOT_MEMBERS:
            raise UnknownPerson("guests and anonymous Teams users cannot act in Airlock")
        email = member.get("email") or member.get("userPrincipalName")
        return self.people.by_roster(ids, str(email) if email else None)

    async def identity_for(self, user: Mapping[str, Any], conversation: str) -> Identity:
        return self.people.identity(await self.email_for(user, conversation))

    def approvers(self, connection: str) -> tuple[str, ...]:
        """The Teams ids of everyone who may approve on ``connection``, when every one of them
        is known ([[people]] teams_id); () when any is not (then everyone sees the buttons)."""
        conn = self.connections.get(connection)
        if conn is None:
            return ()
        ids: list[str] = []
        for person in self.people.entries:
            who = Identity(canonical(person.email), groups=person.groups, email=person.email)
            if conn.approvers.admits(who):
                if not person.teams_id:
                    return ()
                ids.append(person.teams_id)
        named = {canonical(p.email) for p in self.people.entries}
        if any(i not in named for i in conn.approvers.identities):
            return ()
        return tuple(sorted(set(ids)))

    def card(self, card: Card, **options: Any) -> dict[str, Any]:
        """The card as everyone (or, with ``for_approver``, an approver) sees it."""
        adaptive = render_teams(card, approvers=self.approvers(card.connection), **options)
        return card_activity(adaptive, f"{card.title} for {card.requester_chain}")


class _Poster:
    def __init__(self, connector: BotConnector, directory: TeamsDirectory) -> None:
        self.connector, self.directory = connector, directory

    async def address_of(self, email: str) -> str | None:
        user = self.directory.people.teams_id(email)
        return _PERSON + user if user else None

    async def post(self, address: str, activity: dict[str, Any]) -> tuple[str, str]:
        """Post to a channel (a new conversation) or to a person (``user:`` address)."""
        if address.startswith(_PERSON):
            conversation = await self.connector.create_personal(address[len(_PERSON) :])
            return conversation, await self.connector.send(conversation, activity)
        return await self.connector.create_in_channel(address, activity)

    async def post_card(self, channel: str, card: Card) -> tuple[str, str]:
        return await self.post(channel, self.directory.card(card))


class TeamsSink(_Poster):
    provider = "teams"

    async def update_card(self, ref: ChatMessage, card: Card) -> None:
        await self.connector.update(ref.channel, ref.ts, self.directory.card(card))

    async def reply(self, ref: ChatMessage, card: Card, decision: Decision | None) -> str:
        return await self.connector.send(ref.channel, msg.thread_reply(card, decision))

    async def direct(self, person: Identity, card: Card) -> tuple[str, str] | None:
        email = person.email or (person.subject if "@" in person.subject else None)
        if person.kind is not IdentityKind.PERSON or email is None:
            return None
        return await self._dm(email, msg.requester_dm(card))

    async def revoked(self, delegation: Delegation) -> tuple[str, str] | None:
        if "@" not in delegation.subject:
            return None
        return await self._dm(delegation.subject, msg.revoked_dm(delegation))

    async def _dm(self, email: str, activity: dict[str, Any]) -> tuple[str, str] | None:
        address = await self.address_of(email)
        return await self.post(address, activity) if address is not None else None


class TeamsNoticeSink(_Poster):
    provider = "teams"

    async def remind(
        self, thread: ChatMessage, card: Card, step: int, of: int, now: datetime
    ) -> str:
        return await self.connector.send(thread.channel, msg.reminder(card, step, of, now))

    async def escalation_note(self, thread: ChatMessage, card: Card, where: list[str]) -> str:
        return await self.connector.send(thread.channel, msg.escalation_note(card, where))

    async def idle_owner_notice(self, address: str, delegation: Delegation) -> tuple[str, str]:
        return await self.post(address, msg.idle_owner_notice(delegation))

    async def expiring(
        self, address: str, delegation: Delegation, extension: timedelta
    ) -> tuple[str, str]:
        return await self.post(address, msg.expiring_card(delegation, extension))

    def digest_pages(self, card: DigestCard) -> Sequence[Page]:
        return render_teams_digest(card)

    async def post_page(self, address: str, page: Page) -> tuple[str, str]:
        return await self.post(address, page)

    async def update_page(self, ref: ChatNotice, page: Page) -> None:
        await self.connector.update(ref.channel, ref.ts, page)
