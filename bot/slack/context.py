"""What every Slack handler needs, and how refusals are explained to the person privately."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from approvals import Clock, Connection
from bot.api import AirlockApi
from bot.cards.text import escape_short
from bot.delivery import MessageLog
from bot.errors import BotError, refusal
from bot.queries import ReviewReader
from bot.slack.client import SlackApi
from bot.slack.sink import SlackDirectory

__all__ = ["Reader", "SlackContext", "explain"]

log = logging.getLogger("bot.slack")


class Reader(ReviewReader, MessageLog, Protocol):
    """The store reads the Slack handlers make (``store.SqlRepository`` implements them)."""


def explain(exc: BotError) -> str:
    """A private, plain explanation of why nothing changed, with the API's code and message."""
    code, lead = refusal(exc)
    return f"⚠️ {lead} {escape_short(exc.message, 1500)} (`{code}`)"


@dataclass(frozen=True)
class SlackContext:
    api: AirlockApi
    slack: SlackApi
    directory: SlackDirectory
    store: Reader
    connections: Mapping[str, Connection]
    clock: Clock

    async def tell(self, channel: str | None, user: str, text: str) -> None:
        """Say ``text`` to ``user`` only: ephemeral in ``channel``, else in a DM."""
        try:
            if channel is not None and not channel.startswith("D"):
                await self.slack.ephemeral(channel, user, text)
            else:
                await self.slack.post(user, {"text": text})
        except BotError as exc:
            log.warning("could not tell %s: %s", user, exc)

    async def card_channel(self, review_id: str) -> str | None:
        """The channel a review's card is in (where to answer about it)."""
        refs = await self.store.list_chat_messages(review_id)
        return next((r.channel for r in refs if r.provider == "slack"), None)
