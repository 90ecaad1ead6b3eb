"""The scheduler's notices as Slack renders and sends them (a :class:`bot.notices.NoticeSink`).

The rules (who is told what, when, and only once) are :mod:`bot.notices`'; this is Block Kit
and ``chat.postMessage`` / ``chat.update`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from approvals import Delegation
from bot.cards import Card, render_slack
from bot.cards.digest import DigestCard, render_slack_digest
from bot.cards.notices import (
    render_escalation_note,
    render_expiring_dm,
    render_idle_owner_notice,
    render_reminder,
)
from bot.cards.text import format_duration
from bot.notices import Page
from bot.slack.client import SlackApi
from bot.slack.sink import SlackDirectory
from store import ChatMessage, ChatNotice

__all__ = ["SlackNoticeSink"]


class SlackNoticeSink:
    provider = "slack"

    def __init__(self, api: SlackApi, directory: SlackDirectory) -> None:
        self.api, self.directory = api, directory

    async def address_of(self, email: str) -> str | None:
        return await self.directory.user_for(email)

    async def post_card(self, channel: str, card: Card) -> tuple[str, str]:
        return _ref(await self.api.post(channel, render_slack(card)))

    async def remind(
        self, thread: ChatMessage, card: Card, step: int, of: int, now: datetime
    ) -> str:
        payload = render_reminder(card, step, of, now)
        return str((await self.api.post(thread.channel, payload, thread_ts=thread.ts))["ts"])

    async def escalation_note(self, thread: ChatMessage, card: Card, where: list[str]) -> str:
        payload = render_escalation_note(card, where)
        return str((await self.api.post(thread.channel, payload, thread_ts=thread.ts))["ts"])

    async def idle_owner_notice(self, address: str, delegation: Delegation) -> tuple[str, str]:
        return _ref(await self.api.post(address, render_idle_owner_notice(delegation)))

    async def expiring(
        self, address: str, delegation: Delegation, extension: timedelta
    ) -> tuple[str, str]:
        payload = render_expiring_dm(delegation, format_duration(extension))
        return _ref(await self.api.post(address, payload))

    def digest_pages(self, card: DigestCard) -> Sequence[Page]:
        return render_slack_digest(card)

    async def post_page(self, address: str, page: Page) -> tuple[str, str]:
        return _ref(await self.api.post(address, page))

    async def update_page(self, ref: ChatNotice, page: Page) -> None:
        await self.api.call("chat.update", channel=ref.channel, ts=ref.ts, **page)


def _ref(posted: dict[str, object]) -> tuple[str, str]:
    return str(posted["channel"]), str(posted["ts"])
