"""Delivery's Slack side: post, redraw, reply in the thread, DM (see :mod:`bot.delivery`)."""

from __future__ import annotations

import time
from collections import OrderedDict

from approvals import Decision, Delegation, Identity, IdentityKind
from bot.cards import Card, render_slack, render_slack_dm, render_slack_thread_reply
from bot.errors import UnknownPerson
from bot.people import People
from bot.slack.client import SlackApi
from bot.slack.views import revoked_dm
from store import ChatMessage

__all__ = ["SlackDirectory", "SlackSink"]


PROFILE_TTL_S = 300.0  # how long Slack's answer about a user's profile is reused
PROFILE_CACHE_SIZE = 10_000


class SlackDirectory:
    """Slack users ↔ people, strictly (see :mod:`bot.people`).

    What ``users.info`` said of a user (their profile's e-mail, whether they are an active
    person) is reused for ``PROFILE_TTL_S``, so a click does not wait for Slack. Only Slack's
    answer is cached, never who the person is in Airlock: ``[[people]]`` is consulted on every
    click (an entry naming the Slack id wins over the profile at once), and the gateway's API
    checks the approver's revocation, groups and policy on every decision. A Slack account
    deactivated or re-addressed meanwhile is seen within ``PROFILE_TTL_S``."""

    def __init__(self, api: SlackApi, people: People) -> None:
        self.api, self.people = api, people
        self._profiles: OrderedDict[str, tuple[float, str | None, bool]] = OrderedDict()

    async def email_for(self, user_id: str) -> str:
        """The e-mail of the person behind Slack user ``user_id``; UnknownPerson if unclear."""
        named = self.people.by_slack_id(user_id)
        if named is not None:
            return named
        email, real = await self._profile(user_id)
        if not real:
            raise UnknownPerson("bots and deactivated Slack users cannot act in Airlock")
        return self.people.by_profile(user_id, email)

    async def _profile(self, user_id: str) -> tuple[str | None, bool]:
        now = time.monotonic()
        cached = self._profiles.get(user_id)
        if cached is not None and now - cached[0] < PROFILE_TTL_S:
            return cached[1], cached[2]
        email, real = await self.api.profile_email(user_id)
        self._profiles[user_id] = (now, email, real)
        self._profiles.move_to_end(user_id)
        while len(self._profiles) > PROFILE_CACHE_SIZE:
            self._profiles.popitem(last=False)
        return email, real

    async def identity_for(self, user_id: str) -> Identity:
        return self.people.identity(await self.email_for(user_id))

    async def user_for(self, email: str) -> str | None:
        """The Slack user to DM for a person's e-mail, if there is one."""
        return self.people.slack_id(email) or await self.api.user_by_email(email)


class SlackSink:
    provider = "slack"

    def __init__(self, api: SlackApi, directory: SlackDirectory) -> None:
        self.api, self.directory = api, directory

    async def post_card(self, channel: str, card: Card) -> tuple[str, str]:
        posted = await self.api.post(channel, render_slack(card))
        return str(posted["channel"]), str(posted["ts"])

    async def update_card(self, ref: ChatMessage, card: Card) -> None:
        await self.api.call("chat.update", channel=ref.channel, ts=ref.ts, **render_slack(card))

    async def reply(self, ref: ChatMessage, card: Card, decision: Decision | None) -> str:
        payload = render_slack_thread_reply(card, decision)
        posted = await self.api.post(ref.channel, payload, thread_ts=ref.ts)
        return str(posted["ts"])

    async def direct(self, person: Identity, card: Card) -> tuple[str, str] | None:
        email = person.email or (person.subject if "@" in person.subject else None)
        if person.kind is not IdentityKind.PERSON or email is None:
            return None
        return await self._dm(email, render_slack_dm(card))

    async def revoked(self, delegation: Delegation) -> tuple[str, str] | None:
        if "@" not in delegation.subject:
            return None
        return await self._dm(delegation.subject, revoked_dm(delegation))

    async def _dm(self, email: str, payload: dict[str, object]) -> tuple[str, str] | None:
        user = await self.directory.user_for(email)
        if user is None:
            return None
        posted = await self.api.post(user, dict(payload))
        return str(posted["channel"]), str(posted["ts"])
